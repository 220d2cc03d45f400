"""Start-up and key response of the full-screen app.

Usage: ``python benchmarks/startup_bench.py [--n 10000] [--rows 100000] [--tree DIR]``

1. Runs ``certdeck --demo`` and ``certdeck --root TREE`` (a generated tree of N certificates,
   see ``scan_bench.py``) in a pseudo-terminal of 120x40 with ``TERM=xterm-256color`` and
   prints, from the moment the process is started:

   - first bytes: the first output (terminal set-up sequences);
   - first paint: the first output holding the header (``certdeck``), i.e. the first frame;
   - first row: the first certificate name in the output stream.

   On the generated tree nothing is required (no service uses a certificate), so ``2`` is
   typed at start to show the All tab, as a user would.  The tree is started cold (an empty
   parse cache) and warm (the cache the previous run left, as on a second start).

2. Headless, with ROWS synthetic certificates loaded, the time from a key press to the end
   of the repaint it causes, for moving the cursor, a filter keystroke and a sort; the best
   and the median of several presses.

Targets: first paint ≤ 0.8 s, first row ≤ 1.2 s, key ≤ 100 ms.  Not a test: nothing is
asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import os
import select
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.scan_bench import ANCHOR, FORMAT, generate
from core.model import (
    CertFacts,
    CertificateRecord,
    Finding,
    Inventory,
    KeyFacts,
    Location,
    Severity,
    Store,
    StoreKind,
)

COLUMNS, LINES = 120, 40
NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)
CERTDECK = Path(sys.executable).parent / "certdeck"


@dataclass
class Startup:
    """When the first output, the first frame and the first certificate row arrived."""

    first_bytes: float | None = None
    first_paint: float | None = None
    first_row: float | None = None


def run_in_pty(
    argv: Sequence[str],
    row_marker: bytes,
    keys: bytes = b"",
    timeout: float = 30.0,
    cache: Path | None = None,
) -> Startup:
    """Start ``argv`` in a pseudo-terminal and time its first output, frame and row."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", LINES, COLUMNS, 0, 0))
    # Typed keys must not come back as output before the app switches the echo off.
    attrs = termios.tcgetattr(slave)
    attrs[3] &= ~termios.ECHO
    termios.tcsetattr(slave, termios.TCSANOW, attrs)
    env = dict(os.environ, TERM="xterm-256color", COLUMNS=str(COLUMNS), LINES=str(LINES))
    env.pop("TEXTUAL", None)
    if cache is not None:
        # The app keeps what it parsed in the user's cache folder: use a private one.
        env["XDG_CACHE_HOME"] = str(cache)
    start = time.perf_counter()
    proc = subprocess.Popen(
        list(argv), stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True
    )
    os.close(slave)
    if keys:
        os.write(master, keys)
    result = Startup()
    seen = b""
    try:
        while time.perf_counter() - start < timeout and result.first_row is None:
            ready, _, _ = select.select([master], [], [], 0.05)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            now = time.perf_counter() - start
            if result.first_bytes is None:
                result.first_bytes = now
            # Markers may be split between reads: keep a little of the previous chunk.
            seen = seen[-64:] + chunk
            if result.first_paint is None and b"certdeck" in seen:
                result.first_paint = now
            if result.first_row is None and row_marker in seen:
                result.first_row = now
    finally:
        os.write(master, b"q")
        try:
            deadline = time.perf_counter() + 10
            while proc.poll() is None and time.perf_counter() < deadline:
                ready, _, _ = select.select([master], [], [], 0.1)
                if ready:
                    try:
                        os.read(master, 65536)
                    except OSError:
                        break
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        finally:
            os.close(master)
    return result


def best_of(results: Sequence[Startup]) -> Startup:
    """The best time of each kind over several runs."""

    def best(field: str) -> float | None:
        values = [getattr(r, field) for r in results if getattr(r, field) is not None]
        return min(values) if values else None

    return Startup(best("first_bytes"), best("first_paint"), best("first_row"))


def _fmt(value: float | None) -> str:
    return "   —   " if value is None else f"{value:6.3f} s"


def report(name: str, startup: Startup) -> None:
    """One line per run."""
    print(
        f"{name:<24} first bytes {_fmt(startup.first_bytes)}   "
        f"first paint {_fmt(startup.first_paint)}   first row {_fmt(startup.first_row)}"
    )


def bench_tree(n: int, tree: Path | None) -> tuple[Path, Path]:
    """The generated tree of N certificates and a settings file that scans only it."""
    root = tree or Path(tempfile.gettempdir()) / f"certdeck-bench-{n}"
    marker = root / ".complete"
    if not marker.exists() or marker.read_text() != f"{n}/{FORMAT}":
        print(f"generating {n} certificates under {root} …", flush=True)
        generate(root, n)
    settings = root.parent / f"certdeck-bench-{n}-settings.toml"
    settings.write_text(
        f'[scan]\ndefault_locations = false\npaths = ["/etc/bench"]\n\n'
        f'[trust]\nanchors = ["{ANCHOR}"]\n',
        encoding="utf-8",
    )
    return root, settings


def synthetic_records(count: int) -> list[CertificateRecord]:
    """Records that look real enough for the table (no cryptography involved)."""
    records = []
    expired = Finding("expired", Severity.ERROR, "expired")
    expiring = Finding("expiring", Severity.WARNING, "expires soon")
    for i in range(count):
        sha = f"{i:064x}"
        name = f"host{i:06d}.example.org"
        facts = CertFacts(
            sha256=sha,
            sha1=sha[:40],
            der=b"",
            subject=f"CN={name},O=Example",
            issuer=f"CN=Example Issuing CA {i % 7},O=Example",
            common_name=name,
            serial=f"{i:x}",
            not_before=NOW - timedelta(days=100),
            not_after=NOW + timedelta(days=(i * 7919) % 900 - 100),
            names=(f"DNS:{name}", f"DNS:www.{name}"),
            key=KeyFacts("EC", 256, "secp256r1"),
            public_key_sha256=sha,
            signature_algorithm="ecdsa-with-SHA256",
            signature_hash="sha256",
            is_ca=False,
            path_length=None,
            self_issued=False,
            self_signed=False,
            key_usage=("digitalSignature",),
            extended_key_usage=("serverAuth",),
            subject_key_id=None,
            authority_key_id=None,
            subject_der=b"",
            issuer_der=b"",
            role="TLS server",
        )
        findings = (expired,) if i % 50 == 0 else (expiring,) if i % 20 == 0 else ()
        location = Location("/etc", f"/etc/ssl/d{i % 100:02d}/{name}.pem", 0, "pem")
        records.append(CertificateRecord(cert=facts, locations=(location,), findings=findings))
    return records


async def key_times(count: int, presses: int = 7) -> dict[str, list[float]]:
    """Milliseconds from a key press to the end of its repaint, with COUNT rows loaded."""
    from textual import events
    from textual._compositor import CompositorUpdate

    from core.scan import CertificatesFound, ScanFinished, Scanner
    from tui.app import CertdeckApp

    records = synthetic_records(count)
    inventory = Inventory(
        root="/",
        evaluated_at=NOW,
        stores=(Store("/etc", StoreKind.DIRECTORY, "/etc"),),
        certificates=tuple(records),
        unreadable=(),
        files_scanned=count,
    )

    class Loaded(Scanner):
        async def events(self, *, now: datetime, stream_records: bool = True) -> Any:
            for i in range(0, count, 5000):
                yield CertificatesFound(tuple(records[i : i + 5000]))
            yield ScanFinished(inventory)

    folder = tempfile.mkdtemp(prefix="certdeck-keys-")
    try:
        app = CertdeckApp(
            root=folder,
            now=NOW,
            settings_path=Path(folder) / "settings.toml",
            host_name="bench",
            scanner=Loaded(folder, parallel="thread"),
        )
        app.animation_level = "none"
        writes: list[float] = []
        results: dict[str, list[float]] = {"move": [], "filter": [], "sort": []}
        async with app.run_test(size=(COLUMNS, LINES)) as pilot:
            while app.scan_state.scans == 0:
                await pilot.pause()
            await app.workers.wait_for_complete()
            await pilot.pause()
            driver = app._driver
            assert driver is not None
            original = app._display

            def timed_display(screen: Any, renderable: Any) -> None:
                # Headless apps skip encoding the frame for the terminal: do it here, so the
                # time includes everything a real terminal session would do.
                if isinstance(renderable, CompositorUpdate):
                    renderable.render_segments(app.console)
                writes.append(time.perf_counter())
                original(screen, renderable)

            app._display = timed_display  # type: ignore[method-assign]

            async def press(key: str, char: str | None) -> float:
                await asyncio.sleep(0.3)
                writes.clear()
                start = time.perf_counter()
                driver.send_message(events.Key(key, char))
                await asyncio.sleep(0.4)
                if not writes:
                    return float("nan")
                return (writes[-1] - start) * 1000

            await pilot.press("2")
            await pilot.pause()
            for _ in range(presses):
                results["move"].append(await press("j", "j"))
            await pilot.press("slash")
            for char in "host0012"[:presses]:
                results["filter"].append(await press(char, char))
            await pilot.press("escape")
            await pilot.pause()
            for _ in range(presses):
                results["sort"].append(await press("o", "o"))
            rows = len(app.catalog.rows)
        print(f"headless, {rows:,} certificates loaded, {COLUMNS}x{LINES}:")
        return results
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10000, help="certificates in the tree")
    parser.add_argument("--rows", type=int, default=100000, help="rows for the key timings")
    parser.add_argument("--tree", type=Path, help="where to keep the generated tree")
    parser.add_argument("--runs", type=int, default=3, help="start-ups of each kind")
    args = parser.parse_args()

    root, settings = bench_tree(args.n, args.tree)
    print(f"start-up in a {COLUMNS}x{LINES} pseudo-terminal (best of {args.runs} runs):")
    cache = Path(tempfile.mkdtemp(prefix="certdeck-bench-cache-"))
    try:
        demo = [
            run_in_pty([str(CERTDECK), "--demo"], b"demo.example", cache=cache)
            for _ in range(args.runs)
        ]
        report("certdeck --demo", best_of(demo))
        argv = [str(CERTDECK), "--root", str(root), "--config", str(settings)]
        # Nothing on the generated tree is required: "2" shows the All tab, as a user would.
        runs = []
        for _ in range(args.runs):
            shutil.rmtree(cache, ignore_errors=True)
            runs.append(run_in_pty(argv, b"bench.example", b"2", cache=cache))
        report(f"--root {args.n:,}, cold", best_of(runs))
        # The parse cache of the last run is kept: the next start-ups parse nothing.
        warm = [run_in_pty(argv, b"bench.example", b"2", cache=cache) for _ in range(args.runs)]
        report(f"--root {args.n:,}, warm", best_of(warm))
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    times = asyncio.run(key_times(args.rows))
    for name, values in times.items():
        print(
            f"  {name:<7} best {min(values):6.1f} ms   median {statistics.median(values):6.1f} ms"
            f"   ({len(values)} presses)"
        )
    print("targets: first paint ≤ 0.8 s, first row ≤ 1.2 s, key ≤ 100 ms")


if __name__ == "__main__":
    main()
