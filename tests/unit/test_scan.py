"""The scan over a server tree: stores, locations, links, bad input, keys, streaming."""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import socket
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from core.model import Inventory, StoreKind
from core.scan import (
    CertificatesFound,
    FilesUnreadable,
    ScanFinished,
    Scanner,
    ScanProgress,
    StoreDiscovered,
    scan,
)
from core.settings import ScanSettings, Settings, TrustSettings
from tests.certgen import NOW, ec_key, make, write


def run(root: Path, settings: Settings | None = None, parallel: str = "thread") -> Inventory:
    return asyncio.run(scan(root, now=NOW, settings=settings, parallel=parallel))


def by_cn(inv: Inventory) -> dict[str, object]:
    return {r.cert.common_name: r for r in inv.certificates}


def test_trust_store_bundle_links_and_anchor_folder(tmp_path: Path) -> None:
    roots = [make(f"Root {i}", ca=True) for i in range(3)]
    write(tmp_path, "/etc/ssl/certs/ca-certificates.crt", b"".join(r.pem for r in roots))
    write(tmp_path, "/usr/share/ca-certificates/mozilla/Root_0.crt", roots[0].pem)
    certs = tmp_path / "etc/ssl/certs"
    (certs / "Root_0.pem").symlink_to("/usr/share/ca-certificates/mozilla/Root_0.crt")
    (certs / "1a2b3c4d.0").symlink_to("Root_0.pem")
    local = make("Local Root", ca=True)
    write(tmp_path, "/usr/local/share/ca-certificates/local.crt", local.pem)

    inv = run(tmp_path)

    assert len(inv.certificates) == 4  # the links add locations, never records
    stores = {s.path: s.kind for s in inv.stores}
    assert stores["/etc/ssl/certs/ca-certificates.crt"] is StoreKind.TRUST
    assert stores["/usr/local/share/ca-certificates"] is StoreKind.TRUST
    root0 = next(r for r in inv.certificates if r.sha256 == roots[0].sha256)
    assert [(loc.path, loc.index, loc.symlink_to) for loc in root0.locations] == [
        ("/etc/ssl/certs/1a2b3c4d.0", 0, "/usr/share/ca-certificates/mozilla/Root_0.crt"),
        ("/etc/ssl/certs/Root_0.pem", 0, "/usr/share/ca-certificates/mozilla/Root_0.crt"),
        ("/etc/ssl/certs/ca-certificates.crt", 0, None),
    ]
    assert root0.trust_anchor
    assert not root0.has("self_signed")  # an anchor is never self_signed
    assert not root0.has("duplicate")  # the distribution's own copies are not duplicates
    anchor = next(r for r in inv.certificates if r.sha256 == local.sha256)
    assert anchor.trust_anchor


def test_absolute_symlink_resolves_under_root_and_never_escapes(tmp_path: Path) -> None:
    inside = make("inside.example")
    write(tmp_path, "/srv/tls/inside.pem", inside.pem)
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "inside.pem").symlink_to("/srv/tls/inside.pem")
    # Climbing above the root stays at the root: this points at the host's trust bundle.
    (etc / "escape.pem").symlink_to("../../../../../../etc/ssl/certs/ca-certificates.crt")
    (etc / "escape-abs.pem").symlink_to("/etc/ssl/certs/ca-certificates.crt")
    inv = run(tmp_path)
    assert [r.sha256 for r in inv.certificates] == [inside.sha256]
    (loc,) = inv.certificates[0].locations
    assert (loc.path, loc.symlink_to) == ("/etc/inside.pem", "/srv/tls/inside.pem")
    assert {u.path for u in inv.unreadable} == {"/etc/escape.pem", "/etc/escape-abs.pem"}
    assert {u.reason for u in inv.unreadable} == {"broken symbolic link: the target does not exist"}


def test_symlink_loops_are_reported_not_followed_forever(tmp_path: Path) -> None:
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "a.pem").symlink_to("b.pem")
    (etc / "b.pem").symlink_to("a.pem")
    (etc / "loop").symlink_to("/etc")  # a folder link back to its parent
    good = make("good.example")
    write(tmp_path, "/etc/good.pem", good.pem)
    inv = asyncio.run(asyncio.wait_for(scan(tmp_path, now=NOW, parallel="thread"), 30))
    assert [r.sha256 for r in inv.certificates] == [good.sha256]
    assert len(inv.certificates[0].locations) == 1
    reasons = {u.path: u.reason for u in inv.unreadable}
    assert reasons == {"/etc/a.pem": "symbolic link loop", "/etc/b.pem": "symbolic link loop"}


def test_unreadable_folder_is_reported_and_the_scan_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = make("good.example")
    write(tmp_path, "/etc/ok/good.pem", good.pem)
    write(tmp_path, "/etc/secret/hidden.pem", make("hidden.example").pem)
    secret = str(tmp_path / "etc" / "secret")
    if os.geteuid() == 0:
        # root reads everything; simulate the kernel's answer for an unprivileged user.
        real_open = os.open

        def open_(path: str, flags: int, *args: object, **kwargs: object) -> int:
            if path == secret and flags & os.O_DIRECTORY and not flags & getattr(os, "O_PATH", 0):
                raise PermissionError(13, "Permission denied", path)
            return real_open(path, flags, *args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(os, "open", open_)
    else:
        os.chmod(secret, 0)
    try:
        inv = run(tmp_path)
    finally:
        os.chmod(secret, 0o755)
    assert [r.sha256 for r in inv.certificates] == [good.sha256]
    assert [(u.path, u.reason) for u in inv.unreadable] == [
        ("/etc/secret", "permission denied: the folder cannot be listed")
    ]


def test_large_files_special_files_and_non_utf8_names(tmp_path: Path) -> None:
    small = Settings(scan=ScanSettings(max_file_size=4096))
    big = make("big.example")
    big_file = write(tmp_path, "/etc/big.pem", big.pem + b"#" * 5000)
    big_kib = big_file.stat().st_size / 1024
    write(tmp_path, "/etc/big.img", b"\0" * 5000)  # large but not certificate material
    os.mkfifo(tmp_path / "etc" / "fifo.pem")
    sock = socket.socket(socket.AF_UNIX)
    sock_path = tmp_path / "etc" / "s.sock"
    sock.bind(str(sock_path))
    odd = make("odd-name.example")
    with open(os.fsencode(tmp_path / "etc") + b"/caf\xe9.pem", "wb") as fh:
        fh.write(odd.pem)

    async def twice() -> tuple[Inventory, Inventory]:
        # The first scan leaves the checks to the workers that read the files, a rescan
        # makes them while walking: the same answers either way.
        with Scanner(tmp_path, settings=small, parallel="thread") as scanner:
            first = await scanner.scan(now=NOW)
            return first, await scanner.scan(now=NOW)

    try:
        scans = asyncio.run(asyncio.wait_for(twice(), 30))
    finally:
        sock.close()
    for inv in scans:
        reasons = {u.path: u.reason for u in inv.unreadable}
        assert reasons == {
            "/etc/big.pem": (
                f"skipped: {big_kib:.1f} KiB is larger than scan.max_file_size (4.0 KiB)"
            ),
            "/etc/fifo.pem": "not a regular file (named pipe); not read",
            "/etc/s.sock": "not a regular file (socket); not read",
        }
        (record,) = inv.certificates
        assert record.sha256 == odd.sha256
        assert record.locations[0].path == "/etc/caf\\xe9.pem"
        assert inv.files_scanned == 1  # the files left out are not counted


def test_private_keys_pair_by_public_key_with_mode_and_encryption(tmp_path: Path) -> None:
    leaf = make("keyed.example", key=ec_key(21))
    write(tmp_path, "/etc/app/tls/cert.pem", leaf.pem)
    write(tmp_path, "/etc/app/private/the-key", leaf.key_pem, mode=0o640)
    locked = make("locked.example", key=ec_key(22))
    write(tmp_path, "/etc/app/tls/locked.pem", locked.pem)
    encrypted = ec_key(22).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pw"),
    )
    write(tmp_path, "/etc/app/tls/locked.key", encrypted, mode=0o600)
    inv = run(tmp_path)
    records = {r.cert.common_name: r for r in inv.certificates}
    key = records["keyed.example"].private_key
    assert key is not None
    assert (key.path, key.mode, key.encrypted, key.format) == (
        "/etc/app/private/the-key",
        "0640",
        False,
        "pkcs8",
    )
    # An encrypted key cannot be paired by content; it is listed among the keys.
    assert records["locked.example"].private_key is None
    assert [(k.path, k.encrypted) for k in inv.private_keys if k.encrypted] == [
        ("/etc/app/tls/locked.key", True)
    ]


def test_basic_findings(tmp_path: Path) -> None:
    ca = make("Findings CA", ca=True)
    cases = {
        "expired.example": make("expired.example", issuer=ca, not_after=NOW - timedelta(days=1)),
        "future.example": make("future.example", issuer=ca, not_before=NOW + timedelta(days=3)),
        "soon.example": make("soon.example", issuer=ca, not_after=NOW + timedelta(days=12)),
        "wild.example": make("wild.example", issuer=ca, sans=("*.wild.example",)),
        "self.example": make("self.example"),
        "fine.example": make("fine.example", issuer=ca),
    }
    for cn, made in cases.items():
        write(tmp_path, f"/etc/ssl/{cn}.pem", made.pem)
    write(tmp_path, "/etc/ssl/certs/ca-certificates.crt", ca.pem)  # a trust anchor
    write(tmp_path, "/etc/ssl/copy/fine.pem", cases["fine.example"].pem)
    inv = run(tmp_path)
    codes = {r.cert.common_name: {f.code for f in r.findings} for r in inv.certificates}
    # Nothing uses these certificates (no service configuration): all are "unused".
    assert codes == {
        "expired.example": {"expired", "unused", "obsolete"},  # never also "expiring"
        "future.example": {"not_yet_valid", "unused"},
        "soon.example": {"expiring", "unused"},
        "wild.example": {"wildcard", "unused"},
        "self.example": {"self_signed", "untrusted", "unused"},
        "fine.example": {"duplicate", "unused"},
        "Findings CA": set(),
    }
    soon = next(r for r in inv.certificates if r.cert.common_name == "soon.example")
    assert soon.findings[0].code == "expiring"
    assert soon.findings[0].message.startswith("expires on ")
    dup = next(r for r in inv.certificates if r.cert.common_name == "fine.example")
    assert "/etc/ssl/copy/fine.pem" in dup.findings[0].message


def test_weak_key_finding(tmp_path: Path) -> None:
    from tests.certgen import rsa_key

    weak = make("weak.example", key=rsa_key(1024))
    write(tmp_path, "/etc/weak.pem", weak.pem)
    (record,) = run(tmp_path).certificates
    assert [(f.code, f.message) for f in record.findings if f.code == "weak_key"] == [
        ("weak_key", "RSA key of 1024 bits; at least 2048 bits are needed")
    ]


def test_settings_paths_exclude_and_anchors(tmp_path: Path) -> None:
    extra = make("extra.example")
    write(tmp_path, "/opt/app/tls/extra.pem", extra.pem)
    write(tmp_path, "/etc/ssl/old/old.pem", make("old.example").pem)
    anchor = make("Pinned Root", ca=True)
    write(tmp_path, "/opt/anchors/pinned.pem", anchor.pem)
    settings = Settings(
        scan=ScanSettings(paths=("/opt/app", "/opt/missing"), exclude=("/etc/ssl/old",)),
        trust=TrustSettings(anchors=("/opt/anchors/pinned.pem",)),
    )
    inv = run(tmp_path, settings)
    names = {r.cert.common_name: r for r in inv.certificates}
    assert set(names) == {"extra.example", "Pinned Root"}
    assert names["Pinned Root"].trust_anchor
    assert not names["Pinned Root"].has("self_signed")
    assert [(u.path, u.reason) for u in inv.unreadable] == [("/opt/missing", "does not exist")]


def test_events_stream_then_finish(tmp_path: Path) -> None:
    for i in range(30):
        write(tmp_path, f"/etc/many/c{i}.pem", make(f"c{i}.example").pem)

    async def collect() -> list[object]:
        scanner = Scanner(tmp_path, parallel="thread")
        try:
            return [e async for e in scanner.events(now=NOW)]
        finally:
            scanner.close()

    events = asyncio.run(collect())
    assert isinstance(events[0], StoreDiscovered)
    assert isinstance(events[-1], ScanFinished)
    streamed = {r.sha256 for e in events if isinstance(e, CertificatesFound) for r in e.records}
    assert streamed == {r.sha256 for r in events[-1].inventory.certificates}
    progress = [e for e in events if isinstance(e, ScanProgress)]
    assert progress[-1].files_done == progress[-1].files_seen == 30
    assert not progress[-1].walking
    assert not any(isinstance(e, FilesUnreadable) for e in events)


def test_rescan_reuses_unchanged_files_and_sees_changes(tmp_path: Path) -> None:
    a, b = make("a.example"), make("b.example")
    write(tmp_path, "/etc/a.pem", a.pem)
    path = write(tmp_path, "/etc/b.pem", b.pem)

    async def twice() -> tuple[Inventory, Inventory, Inventory]:
        scanner = Scanner(tmp_path, parallel="thread")
        try:
            first = await scanner.scan(now=NOW)
            second = await scanner.scan(now=NOW)
            c = make("c.example")
            path.write_bytes(c.pem)
            os.utime(path, ns=(1, 1))  # a different mtime even on coarse clocks
            third = await scanner.scan(now=NOW)
            return first, second, third
        finally:
            scanner.close()

    first, second, third = asyncio.run(twice())
    assert first.certificates == second.certificates
    assert {r.cert.common_name for r in third.certificates} == {"a.example", "c.example"}


def test_rescan_with_a_later_time_updates_time_findings(tmp_path: Path) -> None:
    soon = make("soon.example", not_after=NOW + timedelta(days=40))
    write(tmp_path, "/etc/soon.pem", soon.pem)

    async def twice() -> tuple[Inventory, Inventory]:
        scanner = Scanner(tmp_path, parallel="thread")
        try:
            return (
                await scanner.scan(now=NOW),
                await scanner.scan(now=NOW + timedelta(days=20)),
            )
        finally:
            scanner.close()

    before, after = asyncio.run(twice())
    assert not before.certificates[0].has("expiring")
    assert after.certificates[0].has("expiring")


def test_cancelling_the_stream_stops_the_scan(tmp_path: Path) -> None:
    for i in range(200):
        write(tmp_path, f"/etc/many/d{i % 10}/c{i}.pem", make(f"c{i}.example").pem)

    async def cancel_early() -> int:
        scanner = Scanner(tmp_path, parallel="thread")
        seen = 0
        try:
            events = scanner.events(now=NOW)
            async for event in events:
                seen += 1
                if isinstance(event, CertificatesFound):
                    break
            await events.aclose()  # type: ignore[attr-defined]
        finally:
            scanner.close()
        return seen

    assert asyncio.run(asyncio.wait_for(cancel_early(), 30)) >= 2


def test_process_pool_gives_the_same_inventory(tmp_path: Path) -> None:
    for i in range(40):
        write(tmp_path, f"/etc/p/c{i}.pem", make(f"p{i}.example").pem)
    threaded = run(tmp_path, parallel="thread")
    pooled = run(tmp_path, parallel="process")
    assert [r.sha256 for r in pooled.certificates] == [r.sha256 for r in threaded.certificates]
    assert pooled.certificates == threaded.certificates


def test_parse_cache_lets_a_new_scanner_skip_unchanged_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import core.scan as scan_module

    for i in range(5):
        write(tmp_path / "root", f"/etc/c{i}.pem", make(f"cached{i}.example").pem)
    cache = tmp_path / "cache" / "parsed.pickle"
    parsed: list[str] = []
    real = scan_module._parse_files

    def counting(
        items: list[tuple[str, str, bool, int | None]], checks: object = None
    ) -> list[object]:
        parsed.extend(name for _, name, _, _ in items)
        return real(items, checks)  # type: ignore[arg-type, return-value]

    monkeypatch.setattr(scan_module, "_parse_files", counting)

    def once() -> Inventory:
        return asyncio.run(scan(tmp_path / "root", now=NOW, parallel="thread", cache_path=cache))

    first = once()
    assert len(parsed) == 5
    assert cache.stat().st_mode & 0o777 == 0o600
    second = once()  # a new scanner, as in a new run of certdeck
    assert len(parsed) == 5  # nothing parsed again
    assert second.certificates == first.certificates
    write(tmp_path / "root", "/etc/c0.pem", make("changed.example").pem)
    third = once()
    assert parsed[5:] == ["c0.pem"]
    assert "changed.example" in {r.cert.common_name for r in third.certificates}


def test_a_cache_others_could_write_or_garbage_is_ignored(tmp_path: Path) -> None:
    from core.scan import load_parse_cache, save_parse_cache

    cache = tmp_path / "parsed.pickle"
    entries = {"/etc/x.pem": "remembered"}
    save_parse_cache(cache, "/", entries)  # type: ignore[arg-type]
    assert load_parse_cache(cache, "/") == entries  # type: ignore[comparison-overlap]
    assert load_parse_cache(cache, "/srv/other") == {}  # another root's cache
    cache.chmod(0o666)
    assert load_parse_cache(cache, "/") == {}  # writable by others: not trusted
    cache.chmod(0o600)
    cache.write_bytes(b"not a pickle")
    assert load_parse_cache(cache, "/") == {}


def _crl_pem(issuer_cn: str = "CRL Issuer") -> bytes:
    ca = make(issuer_cn, ca=True)
    return (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.cert.subject)
        .last_update(NOW)
        .next_update(NOW + timedelta(days=7))
        .sign(ca.key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
    )


def _der_of(pem: bytes) -> bytes:
    return base64.b64decode(b"".join(pem.splitlines()[1:-1]))


def test_revocation_lists_are_listed_by_path_and_never_unreadable(tmp_path: Path) -> None:
    crl = _crl_pem()
    both = make("with-crl.example")
    write(tmp_path, "/etc/ssl/crl/ca.crl.pem", crl)
    write(tmp_path, "/etc/pki/revoked.crl", _der_of(crl))  # DER, a name the scan ignores
    write(tmp_path, "/etc/app/chain-and-crl.pem", both.pem + crl)
    write(tmp_path, "/etc/app/nginx.conf", b"server { listen 443 ssl; }\n")
    (tmp_path / "etc/ssl/crl/5a1b2c3d.r0").symlink_to("ca.crl.pem")

    for parallel in ("thread", "process"):
        inv = run(tmp_path, parallel=parallel)
        assert [(c.path, c.os_path) for c in inv.crl_files] == [
            ("/etc/app/chain-and-crl.pem", str(tmp_path / "etc/app/chain-and-crl.pem")),
            ("/etc/pki/revoked.crl", str(tmp_path / "etc/pki/revoked.crl")),
            ("/etc/ssl/crl/5a1b2c3d.r0", str(tmp_path / "etc/ssl/crl/ca.crl.pem")),
            ("/etc/ssl/crl/ca.crl.pem", str(tmp_path / "etc/ssl/crl/ca.crl.pem")),
        ]
        assert inv.unreadable == ()
        assert [r.sha256 for r in inv.certificates] == [both.sha256]  # the file yields both


def test_revocation_lists_follow_rescans_and_the_parse_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import core.scan as scan_module

    root = tmp_path / "root"
    first_crl = write(root, "/etc/ssl/crl/one.crl", _der_of(_crl_pem("One CA")))
    write(root, "/etc/ssl/certs/leaf.pem", make("leaf.example").pem)
    cache = tmp_path / "cache" / "parsed.pickle"

    async def scans() -> list[Inventory]:
        out = []
        with Scanner(root, parallel="thread", cache_path=cache) as scanner:
            out.append(await scanner.scan(now=NOW))
            out.append(await scanner.scan(now=NOW))  # nothing changed
            write(root, "/etc/ssl/crl/two.crl.pem", _crl_pem("Two CA"))
            out.append(await scanner.scan(now=NOW))  # a list added
            first_crl.unlink()
            out.append(await scanner.scan(now=NOW))  # a list removed

        def nothing_to_parse(items: list[object], checks: object = None) -> list[object]:
            assert items == []
            return []

        monkeypatch.setattr(scan_module, "_parse_files", nothing_to_parse)
        with Scanner(root, parallel="thread", cache_path=cache) as scanner:
            out.append(await scanner.scan(now=NOW))  # a new run, from the parse cache
        return out

    first, same, added, removed, cached = (
        [c.path for c in inv.crl_files] for inv in asyncio.run(scans())
    )
    assert first == same == ["/etc/ssl/crl/one.crl"]
    assert added == ["/etc/ssl/crl/one.crl", "/etc/ssl/crl/two.crl.pem"]
    assert removed == cached == ["/etc/ssl/crl/two.crl.pem"]


def test_a_stopped_scan_leaves_the_worker_processes_ready_for_the_next(tmp_path: Path) -> None:
    made = [make(f"w{i}.example") for i in range(3)]
    for i in range(300):
        write(tmp_path, f"/etc/many/d{i % 6}/c{i}.pem", made[i % 3].pem)

    async def stop_then_scan() -> Inventory:
        with Scanner(tmp_path, parallel="process") as scanner:
            events = scanner.events(now=NOW)
            async for event in events:
                if isinstance(event, CertificatesFound):
                    break  # batches are still being parsed: their answers must not leak
            await events.aclose()  # type: ignore[attr-defined]
            return await scanner.scan(now=NOW)

    inv = asyncio.run(asyncio.wait_for(stop_then_scan(), 60))
    assert sorted(r.sha256 for r in inv.certificates) == sorted(m.sha256 for m in made)
    assert sum(len(r.locations) for r in inv.certificates) == 300
    assert inv.files_scanned == 300


def test_a_worker_process_that_dies_fails_the_scan_instead_of_hanging(tmp_path: Path) -> None:
    for i in range(50):
        write(tmp_path, f"/etc/p/c{i}.pem", make(f"dies{i}.example").pem)

    async def scan_with_dead_workers() -> None:
        with Scanner(tmp_path, parallel="process") as scanner:
            scanner._start_pool()
            assert scanner._pool_ready is not None
            pool = await asyncio.wrap_future(scanner._pool_ready)
            for worker in pool.workers:
                pid = worker.process.pid
                assert pid is not None
                os.kill(pid, signal.SIGKILL)
                worker.process.join(10)
            await scanner.scan(now=NOW)

    with pytest.raises(RuntimeError, match="worker process"):
        asyncio.run(asyncio.wait_for(scan_with_dead_workers(), 60))
