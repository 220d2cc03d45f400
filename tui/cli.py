"""The ``certdeck`` command line: the TUI by default, subcommands for scripts.

Textual is imported only when the full-screen app starts, so ``certdeck scan`` stays fast.
Exit codes: 0 success, 1 findings asked about with ``--fail-on``, 2 usage or input errors.
Messages go to stderr, data to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from core.errors import CertdeckError, UsageError
from core.findings import SEVERITY, relative_time
from core.model import CertificateRecord, Inventory, Severity
from core.report import inventory_json
from core.settings import Settings, default_settings_path, load_settings
from core.text import visible

__all__ = ["main", "parse_at"]

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2

_SYMBOL = {Severity.ERROR: "✖", Severity.WARNING: "▲", Severity.INFO: "•", None: "✔"}


def parse_at(text: str) -> datetime:
    """An evaluation time from ``--at``: a date or an ISO 8601 time; no zone means UTC."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(
            f"--at {text!r} is not a date or time; use e.g. 2027-01-01 or 2027-01-01T12:00Z"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--root",
        metavar="DIR",
        default=argparse.SUPPRESS,
        help="treat DIR as the machine's / (a copy of a server's files); default /",
    )
    parser.add_argument(
        "--at",
        metavar="TIME",
        default=argparse.SUPPRESS,
        help="evaluate at TIME instead of now, e.g. 2027-01-01 (what will have expired)",
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        default=argparse.SUPPRESS,
        help="settings file (default: $CERTDECK_CONFIG or the user's config folder)",
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        default=argparse.SUPPRESS,
        help="run on a generated demo server tree that shows every finding",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used for ``--help`` text in the README)."""
    parser = argparse.ArgumentParser(
        prog="certdeck",
        description="Keyboard-driven certificate manager for Linux servers.",
    )
    _common(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    scan = sub.add_parser(
        "scan",
        help="list every certificate and private key (a table, or JSON with --json)",
        description="Inventory every certificate on the machine.",
    )
    _common(scan)
    scan.add_argument("--json", action="store_true", help="print the JSON document")
    scan.add_argument(
        "--fail-on",
        metavar="CODES",
        default="",
        help="exit 1 when any of these finding codes (comma-separated) is present, "
        "e.g. expired,untrusted",
    )
    return parser


def _settings(args: argparse.Namespace) -> tuple[Settings, Path]:
    path = Path(args.config) if getattr(args, "config", None) else default_settings_path()
    return load_settings(path), path


def _fail_codes(text: str) -> set[str]:
    codes = {c.strip() for c in text.split(",") if c.strip()}
    unknown = sorted(codes - set(SEVERITY))
    if unknown:
        raise UsageError(
            f"--fail-on: unknown finding code {', '.join(unknown)}; "
            f"known codes: {', '.join(SEVERITY)}"
        )
    return codes


class _Demo:
    """A demo server tree in a temporary folder, removed afterwards."""

    def __init__(self, now: datetime) -> None:
        from core.demo import build_demo_tree

        self.folder = tempfile.mkdtemp(prefix="certdeck-demo-")
        self.tree = build_demo_tree(Path(self.folder) / "root", now=now)

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def _target(args: argparse.Namespace, now: datetime) -> tuple[str, Settings, Path, _Demo | None]:
    demo: _Demo | None = None
    if getattr(args, "demo", False):
        if getattr(args, "root", None):
            raise UsageError("--demo and --root cannot be used together")
        demo = _Demo(now)
        root = str(demo.tree.root)
        config = getattr(args, "config", None)
        path = Path(config) if config else demo.tree.settings_path
        return root, load_settings(path), path, demo
    root = getattr(args, "root", "/")
    if not os.path.isdir(root):
        raise UsageError(f"--root {root}: not a folder")
    settings, path = _settings(args)
    return root, settings, path, None


def _scan(root: str, settings: Settings, path: Path, now: datetime) -> Inventory:
    from core.scan import scan

    return asyncio.run(scan(root, now=now, settings=settings, settings_path=path))


def _row(r: CertificateRecord, now: datetime) -> list[str]:
    c = r.cert
    # The file itself rather than a link to it (the trust store's hashed names).
    shown = sorted(r.locations, key=lambda loc: (loc.symlink_to is not None, loc.path))
    first = shown[0].path if shown else ""
    more = f" (+{len(r.locations) - 1})" if len(r.locations) > 1 else ""
    return [
        _SYMBOL[r.worst],
        visible(c.display_name),
        f"{c.not_after:%Y-%m-%d} ({relative_time(c.not_after, now)})",
        c.role,
        ",".join(f.code for f in r.findings),
        visible(first) + more,
    ]


def print_table(inv: Inventory, out: TextIO) -> None:
    """A readable table of the inventory for a terminal or a pager."""
    now = inv.evaluated_at
    header = ["", "NAME", "EXPIRES", "TYPE", "FINDINGS", "LOCATION"]
    rows = [_row(r, now) for r in inv.certificates]
    width = shutil.get_terminal_size((160, 24)).columns
    caps = [1, 40, 26, 16, 40, max(20, width - 130)]
    widths = [
        min(cap, max(len(h), *(len(row[i]) for row in rows))) if rows else len(h)
        for i, (h, cap) in enumerate(zip(header, caps, strict=True))
    ]

    def fmt(cells: Sequence[str]) -> str:
        parts = []
        for cell, w in zip(cells, widths, strict=True):
            parts.append(cell if len(cell) <= w else cell[: w - 1] + "…")
        return "  ".join(p.ljust(w) for p, w in zip(parts, widths, strict=True)).rstrip()

    out.write(fmt(header) + "\n")
    for row in rows:
        out.write(fmt(row) + "\n")
    errors = sum(r.worst is Severity.ERROR for r in inv.certificates)
    warnings = sum(r.worst is Severity.WARNING for r in inv.certificates)
    out.write(
        f"\n{len(inv.certificates)} certificates in {inv.files_scanned} files; "
        f"{errors} with errors, {warnings} with warnings; "
        f"{len(inv.unreadable)} unreadable\n"
    )
    for u in inv.unreadable:
        out.write(f"  unreadable: {visible(u.path)}: {visible(u.reason)}\n")


def _run_scan(args: argparse.Namespace) -> int:
    now = parse_at(args.at) if getattr(args, "at", None) else datetime.now(UTC)
    codes = _fail_codes(getattr(args, "fail_on", ""))
    root, settings, path, demo = _target(args, now)
    try:
        inv = _scan(root, settings, path, now)
    finally:
        if demo is not None:
            demo.close()
    if getattr(args, "json", False):
        sys.stdout.buffer.write(inventory_json(inv).encode("utf-8"))
        sys.stdout.flush()
    else:
        print_table(inv, sys.stdout)
    if codes:
        hits = [r for r in inv.certificates if any(f.code in codes for f in r.findings)]
        if hits:
            print(
                f"certdeck: {len(hits)} certificate(s) with {', '.join(sorted(codes))}",
                file=sys.stderr,
            )
            return EXIT_FINDINGS
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``certdeck`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "scan":
            return _run_scan(args)
        # No subcommand: the full-screen app. Textual is imported only here, so that
        # `certdeck scan` does not pay for it.
        now = parse_at(args.at) if getattr(args, "at", None) else None
        config = getattr(args, "config", None)
        demo: _Demo | None = None
        if getattr(args, "demo", False):
            if getattr(args, "root", None):
                raise UsageError("--demo and --root cannot be used together")
            demo = _Demo(now or datetime.now(UTC))
            root = str(demo.tree.root)
            path = Path(config) if config else demo.tree.settings_path
        else:
            root = getattr(args, "root", "/")
            if not os.path.isdir(root):
                raise UsageError(f"--root {root}: not a folder")
            path = Path(config) if config else default_settings_path()
        if not (sys.stdin.isatty() and sys.stdout.isatty()):
            raise UsageError(
                "the full-screen app needs a terminal; use `certdeck scan` (or --json) in "
                "scripts and pipes"
            )
        try:
            from tui.app import CertdeckApp

            app = CertdeckApp(
                root=root,
                now=now,
                settings_path=path,
                demo=demo is not None,
                host_name="demo-server" if demo is not None else None,
            )
            app.run()
        finally:
            if demo is not None:
                demo.close()
        return app.return_code or EXIT_OK
    except CertdeckError as exc:
        print(f"certdeck: {exc.title}: {exc.message}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
