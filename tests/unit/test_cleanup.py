"""Clean-up: what is offered, what is refused, what changes, and that undo restores it all."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

import core.quarantine
from core.cleanup import (
    ChangedSincePreview,
    CleanupFailed,
    NothingToClean,
    apply_cleanup,
    cleanup_candidates,
    plan_cleanup,
)
from core.configtest import ConfigTest, config_tests, run_config_test
from core.errors import UsageError
from core.model import Consumer
from core.quarantine import MANIFEST_NAME, list_entries, plan_undo, restore
from core.rootfs import RootFS
from tests.certgen import NOW, ec_key, make, write
from tests.maintenance_helpers import Demo, demo_tree, scan_tree, snapshot

LE = "/etc/letsencrypt/archive/blog.demo.example"


@pytest.fixture
def demo(tmp_path: Path) -> Demo:
    return demo_tree(tmp_path)


@pytest.fixture
def quarantine(tmp_path: Path) -> Path:
    return tmp_path / "quarantine"


# What is offered ---------------------------------------------------------------------------


def test_obsolete_certificates_are_offered_preselected(demo: Demo) -> None:
    offered = cleanup_candidates(demo.inventory)
    assert {c.sha256 for c in offered} == {
        demo.sha("le-blog-1"),
        demo.sha("le-blog-2"),
        demo.sha("expired-old"),
    }
    assert all(c.preselected and c.kind == "obsolete" and not c.warning for c in offered)
    old = next(c for c in offered if c.sha256 == demo.sha("expired-old"))
    assert old.paths == ("/etc/ssl/localcerts/old.demo.example.crt",)
    assert any("expired" in reason for reason in old.reasons)


def test_other_unused_certificates_only_on_request_with_a_warning(demo: Demo) -> None:
    offered = cleanup_candidates(demo.inventory, include_unused=True)
    unused = [c for c in offered if c.kind == "unused"]
    assert demo.sha("nginx-commented") in {c.sha256 for c in unused}
    assert all(not c.preselected and "not obsolete" in c.warning for c in unused)
    # Obsolete ones come first; nothing required and no trust anchor is ever offered.
    assert [c.kind for c in offered[:3]] == ["obsolete"] * 3
    records = demo.inventory.by_sha256()
    assert not any(records[c.sha256].required or records[c.sha256].trust_anchor for c in offered)


# The demo tree end to end -------------------------------------------------------------------


def test_demo_clean_up_changes_exactly_the_expected_files(demo: Demo, quarantine: Path) -> None:
    root = demo.root
    before = snapshot(root)
    required = {
        r.sha256: {loc.path for loc in r.locations}
        for r in demo.inventory.certificates
        if r.required
    }
    originals = {
        p: demo.host(p).read_bytes()
        for p in (f"{LE}/fullchain1.pem", f"{LE}/fullchain2.pem", f"{LE}/chain1.pem")
    }
    plan = plan_cleanup(demo.inventory, "obsolete", root=demo.fs, quarantine=quarantine)
    assert [(c.action, c.path) for c in plan.changes] == [
        ("move", f"{LE}/cert1.pem"),
        ("move", f"{LE}/cert2.pem"),
        ("rewrite", f"{LE}/fullchain1.pem"),
        ("rewrite", f"{LE}/fullchain2.pem"),
        ("move", "/etc/ssl/localcerts/old.demo.example.crt"),
    ]
    assert set(plan.selected) == {demo.sha(x) for x in ("le-blog-1", "le-blog-2", "expired-old")}
    assert plan.refusals == ()
    # Without "with keys" the now-unused keys stay, and the preview says so.
    assert any(f"{LE}/privkey1.pem" in note and "--with-keys" in note for note in plan.notes)
    text = "\n".join(plan.describe())
    assert "keeps:   E11" in text
    assert "into the quarantine" in text

    result = apply_cleanup(plan, now=NOW)

    after = snapshot(root)
    changed = {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)}
    assert changed == {
        f"{LE.lstrip('/')}/{name}"
        for name in ("cert1.pem", "cert2.pem", "fullchain1.pem", "fullchain2.pem")
    } | {"etc/ssl/localcerts/old.demo.example.crt"}
    # Rewritten bundles keep every other byte: here, exactly the intermediate's PEM.
    assert demo.host(f"{LE}/fullchain1.pem").read_bytes() == originals[f"{LE}/chain1.pem"]
    assert demo.host(f"{LE}/fullchain2.pem").read_bytes() == originals[f"{LE}/chain1.pem"]
    assert after[f"{LE.lstrip('/')}/fullchain1.pem"][1] == 0o644
    # The originals are in the quarantine, as they were.
    entry = result.entry
    stored = {i.path: entry.folder / i.stored for i in entry.items}
    assert stored[f"{LE}/fullchain1.pem"].read_bytes() == originals[f"{LE}/fullchain1.pem"]
    assert result.entry_id == entry.id == "20261127-120000"
    assert entry.state == "complete"

    # Every required certificate is still where it was; every file a service uses is intact.
    rescanned = demo.rescan()
    by = rescanned.by_sha256()
    for sha, locations in required.items():
        assert by[sha].required
        assert {loc.path for loc in by[sha].locations} == locations
    for consumer in rescanned.consumers:
        for path in consumer.files:
            rel = path.lstrip("/")
            if rel in before:
                assert after[rel] == before[rel]
    assert demo.sha("le-blog-1") not in by
    assert demo.sha("expired-old") not in by


def test_manifest_records_path_mode_owner_hash_time_and_reason(
    demo: Demo, quarantine: Path
) -> None:
    old = demo.host("/etc/ssl/localcerts/old.demo.example.crt").read_bytes()
    plan = plan_cleanup(
        demo.inventory, "obsolete", root=demo.fs, quarantine=quarantine, with_keys=True
    )
    result = apply_cleanup(plan, now=NOW)
    folder = quarantine / result.entry_id
    assert stat.S_IMODE(os.stat(quarantine).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    manifest = json.loads((folder / MANIFEST_NAME).read_text())
    assert manifest["state"] == "complete"
    assert manifest["root"] == str(demo.root)
    assert manifest["host"] == "demo-server"
    items = {i["path"]: i for i in manifest["items"]}
    item = items["/etc/ssl/localcerts/old.demo.example.crt"]
    assert item["action"] == "moved"
    assert item["mode"] == "0644"
    assert item["owner"] == "root" or item["uid"] == os.getuid()
    assert item["sha256"] == hashlib.sha256(old).hexdigest()
    assert item["time"] == "2026-11-27T12:00:00Z"
    assert item["reason"] == "obsolete (expired)"
    assert item["certificates"] == [{"sha256": demo.sha("expired-old"), "name": "old.demo.example"}]
    key = items[f"{LE}/privkey1.pem"]
    assert key["private_key"] is True
    assert key["mode"] == "0600"
    assert "private key of blog.demo.example" in key["reason"]
    # The quarantined key keeps its private mode.
    assert stat.S_IMODE(os.stat(folder / key["stored"]).st_mode) == 0o600
    rewritten = items[f"{LE}/fullchain1.pem"]
    assert rewritten["action"] == "rewritten"
    fullchain = demo.host(f"{LE}/fullchain1.pem").read_bytes()
    assert rewritten["new_sha256"] == hashlib.sha256(fullchain).hexdigest()


def test_undo_restores_the_tree_byte_for_byte(demo: Demo, quarantine: Path) -> None:
    before = snapshot(demo.root)
    plan = plan_cleanup(
        demo.inventory, "obsolete", root=demo.fs, quarantine=quarantine, with_keys=True
    )
    assert {c.path for c in plan.changes} >= {f"{LE}/privkey1.pem", f"{LE}/privkey2.pem"}
    apply_cleanup(plan, now=NOW)
    assert snapshot(demo.root) != before

    undo = plan_undo(quarantine, root=demo.fs)
    assert len(undo.actions) == len(plan.changes)
    result = restore(undo, now=NOW + timedelta(minutes=5))

    assert result.complete
    assert snapshot(demo.root) == before  # content, modes and modification times
    entries, _ = list_entries(quarantine)
    assert entries[0].state == "restored"
    with pytest.raises(UsageError, match="there is no clean-up to undo"):
        plan_undo(quarantine, root=demo.fs)


def test_restore_never_overwrites_a_file_that_changed_since(demo: Demo, quarantine: Path) -> None:
    plan = plan_cleanup(demo.inventory, "obsolete", root=demo.fs, quarantine=quarantine)
    result = apply_cleanup(plan, now=NOW)
    moved = demo.host("/etc/ssl/localcerts/old.demo.example.crt")
    moved.write_bytes(b"someone put a new file here\n")
    rewritten = demo.host(f"{LE}/fullchain2.pem")
    rewritten.write_bytes(rewritten.read_bytes() + b"# edited by hand\n")

    undo = plan_undo(quarantine, root=demo.fs)
    refused = {i.item.path: i.reason for i in undo.refused}
    assert set(refused) == {"/etc/ssl/localcerts/old.demo.example.crt", f"{LE}/fullchain2.pem"}
    assert "not overwritten" in refused["/etc/ssl/localcerts/old.demo.example.crt"]
    assert "no longer the file certdeck wrote" in refused[f"{LE}/fullchain2.pem"]
    done = restore(undo, now=NOW)

    assert moved.read_bytes() == b"someone put a new file here\n"
    assert rewritten.read_bytes().endswith(b"# edited by hand\n")
    assert {i.path for i in done.restored} == {
        f"{LE}/cert1.pem",
        f"{LE}/cert2.pem",
        f"{LE}/fullchain1.pem",
    }
    assert done.entry.state == "partly restored"
    assert any("left as it is" in line for line in done.describe())
    # The quarantined copies are still there; once the way is clear, they come back.
    moved.unlink()
    again = restore(plan_undo(quarantine, root=demo.fs), now=NOW)
    assert [i.path for i in again.restored] == ["/etc/ssl/localcerts/old.demo.example.crt"]
    assert moved.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    assert result.entry_id == again.entry.id


# Refusals ---------------------------------------------------------------------------------


def test_required_certificates_are_refused_naming_their_consumers(
    demo: Demo, quarantine: Path
) -> None:
    before = snapshot(demo.root)
    plan = plan_cleanup(
        demo.inventory,
        [demo.sha("nginx-www"), demo.sha("root-x1")[:12]],
        root=demo.fs,
        quarantine=quarantine,
    )
    assert plan.nothing_to_do
    reasons = {r.name: r.reason for r in plan.refusals}
    assert reasons["www.demo.example"] == (
        "required: used by nginx (/etc/nginx/sites-enabled/www:14)"
    )
    assert reasons["Demo Trust Root X1"] == (
        "required: an issuer in the chain of blog.demo.example (nginx "
        "(/etc/nginx/conf.d/blog.conf:4)), E11 (nginx (/etc/nginx/conf.d/blog.conf:4))"
    )
    with pytest.raises(NothingToClean):
        apply_cleanup(plan, now=NOW)
    assert snapshot(demo.root) == before
    assert not quarantine.exists()


def test_trust_store_entries_are_refused_naming_the_store(demo: Demo, quarantine: Path) -> None:
    plan = plan_cleanup(
        demo.inventory, [demo.sha("root-umbrella-expired")], root=demo.fs, quarantine=quarantine
    )
    assert plan.nothing_to_do
    (refusal,) = plan.refusals
    assert "trust anchor in system trust bundle" in refusal.reason


def test_unused_but_valid_certificates_need_include_unused(demo: Demo, quarantine: Path) -> None:
    sha = demo.sha("nginx-commented")
    plan = plan_cleanup(demo.inventory, [sha], root=demo.fs, quarantine=quarantine)
    assert plan.nothing_to_do
    assert "--include-unused" in plan.refusals[0].reason

    plan = plan_cleanup(
        demo.inventory, [sha], root=demo.fs, quarantine=quarantine, include_unused=True
    )
    assert [(c.action, c.path) for c in plan.changes] == [("move", "/etc/nginx/ssl/commented.crt")]
    assert any("not obsolete" in w for w in plan.warnings)


def test_unknown_or_ambiguous_fingerprints_are_usage_errors(demo: Demo, quarantine: Path) -> None:
    with pytest.raises(UsageError, match="no certificate has the fingerprint"):
        plan_cleanup(demo.inventory, ["00" * 8], root=demo.fs, quarantine=quarantine)
    with pytest.raises(UsageError, match="not a SHA-256 fingerprint"):
        plan_cleanup(demo.inventory, ["abc"], root=demo.fs, quarantine=quarantine)
    with pytest.raises(NothingToClean):
        plan_cleanup(demo.inventory, [], root=demo.fs, quarantine=quarantine)


# Files of every shape ------------------------------------------------------------------------


def test_bundle_rewrite_keeps_every_other_byte(tmp_path: Path) -> None:
    root = tmp_path / "root"
    old = make("old.example", not_after=NOW - timedelta(days=5))
    keep = make("keep.example")
    new = make("old.example", not_before=NOW - timedelta(days=1))
    old_block = old.pem.replace(b"\n", b"\r\n")
    data = (
        b"# company bundle\r\n"
        b"subject=CN = keep.example\r\n" + keep.pem.replace(b"\n", b"\r\n") + b"\r\n"
        b"subject=CN = old.example\r\n" + old_block + b"trailing words\r\n"
    )
    write(root, "/etc/ssl/bundle.pem", data, mode=0o640)
    write(root, "/etc/ssl/new.pem", new.pem)
    inventory = scan_tree(root)
    plan = plan_cleanup(inventory, "obsolete", root=RootFS(root), quarantine=tmp_path / "q")
    (change,) = plan.changes
    assert change.action == "rewrite"
    assert change.kept == ((keep.sha256, "keep.example"),)
    apply_cleanup(plan, now=NOW)
    bundle = root / "etc/ssl/bundle.pem"
    assert bundle.read_bytes() == data.replace(old_block, b"")
    assert stat.S_IMODE(os.stat(bundle).st_mode) == 0o640
    restore(plan_undo(tmp_path / "q", root=RootFS(root)), now=NOW)
    assert bundle.read_bytes() == data


def test_a_link_to_a_moved_file_moves_with_it(tmp_path: Path) -> None:
    root = tmp_path / "root"
    old = make("old.example", not_after=NOW - timedelta(days=5))
    write(root, "/etc/ssl/old/old.pem", old.pem)
    (root / "etc/ssl/current.pem").symlink_to("old/old.pem")
    before = snapshot(root)
    inventory = scan_tree(root)
    plan = plan_cleanup(inventory, "obsolete", root=RootFS(root), quarantine=tmp_path / "q")
    assert [(c.action, c.path) for c in plan.changes] == [
        ("move", "/etc/ssl/old/old.pem"),
        ("move link", "/etc/ssl/current.pem"),
    ]
    apply_cleanup(plan, now=NOW)
    assert not os.path.lexists(root / "etc/ssl/current.pem")
    restore(plan_undo(tmp_path / "q", root=RootFS(root)), now=NOW)
    assert snapshot(root) == before
    assert os.readlink(root / "etc/ssl/current.pem") == "old/old.pem"


def test_a_key_that_a_service_still_uses_stays(tmp_path: Path) -> None:
    root = tmp_path / "root"
    key = ec_key(77)
    old = make("site.example", key=key, not_after=NOW - timedelta(days=3), serial=1)
    new = make("site.example", key=key, not_before=NOW - timedelta(days=2), serial=2)
    write(root, "/etc/ssl/old/site.pem", old.pem)
    write(root, "/etc/nginx/ssl/site.pem", new.pem)
    write(root, "/etc/nginx/ssl/site.key", new.key_pem, mode=0o600)
    write(
        root,
        "/etc/nginx/nginx.conf",
        textwrap.dedent(
            """
            http {
                server {
                    listen 443 ssl;
                    ssl_certificate /etc/nginx/ssl/site.pem;
                    ssl_certificate_key /etc/nginx/ssl/site.key;
                }
            }
            """
        ).encode(),
    )
    inventory = scan_tree(root)
    plan = plan_cleanup(
        inventory, "obsolete", root=RootFS(root), quarantine=tmp_path / "q", with_keys=True
    )
    assert [c.path for c in plan.changes] == ["/etc/ssl/old/site.pem"]


def test_a_combined_file_keeps_its_key_unless_asked(tmp_path: Path) -> None:
    root = tmp_path / "root"
    old = make("combined.example", not_after=NOW - timedelta(days=3), serial=1)
    make_new = make("combined.example", key=ec_key(5), not_before=NOW - timedelta(days=1), serial=2)
    write(root, "/etc/ssl/combined.pem", old.pem + old.key_pem, mode=0o600)
    write(root, "/etc/ssl/new.pem", make_new.pem)
    inventory = scan_tree(root)
    fs = RootFS(root)
    plan = plan_cleanup(inventory, "obsolete", root=fs, quarantine=tmp_path / "q")
    (change,) = plan.changes
    assert (change.action, change.private_key) == ("rewrite", True)
    assert change.new_data == old.key_pem
    plan = plan_cleanup(inventory, "obsolete", root=fs, quarantine=tmp_path / "q", with_keys=True)
    (change,) = plan.changes
    assert (change.action, change.private_key) == ("move", True)


# Safety ---------------------------------------------------------------------------------------


def test_a_file_changed_after_the_preview_stops_everything(demo: Demo, quarantine: Path) -> None:
    plan = plan_cleanup(demo.inventory, "obsolete", root=demo.fs, quarantine=quarantine)
    target = demo.host(f"{LE}/fullchain2.pem")
    target.write_bytes(target.read_bytes() + b"\n")
    before = snapshot(demo.root)
    with pytest.raises(ChangedSincePreview, match=r"fullchain2\.pem"):
        apply_cleanup(plan, now=NOW)
    assert snapshot(demo.root) == before
    assert list_entries(quarantine) == ((), ())


def test_a_failing_step_puts_back_what_was_done(
    demo: Demo, quarantine: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = snapshot(demo.root)
    plan = plan_cleanup(demo.inventory, "obsolete", root=demo.fs, quarantine=quarantine)
    real = core.quarantine.replace_file
    calls: list[Path] = []

    def failing(path: Path, data: bytes, **kwargs: object) -> None:
        calls.append(path)
        if path == demo.host(f"{LE}/fullchain2.pem"):
            raise OSError(28, "No space left on device", str(path))
        real(path, data, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(core.quarantine, "replace_file", failing)
    with pytest.raises(CleanupFailed, match="No space left on device; nothing was changed"):
        apply_cleanup(plan, now=NOW)
    assert snapshot(demo.root) == before
    assert list_entries(quarantine)[0] == ()


_KILLED_RUN = """
import os, signal, sys
from pathlib import Path
sys.path.insert(0, {project!r})
import core.quarantine as q
from core.cleanup import apply_cleanup, plan_cleanup
from core.rootfs import RootFS
from tests.certgen import NOW
from tests.maintenance_helpers import scan_tree
from core.settings import load_settings

root = Path({root!r})
settings_path = root / "etc/certdeck/settings.toml"
inventory = scan_tree(root, load_settings(settings_path), settings_path)
plan = plan_cleanup(
    inventory, "obsolete", root=RootFS(root), quarantine=Path({quarantine!r}), with_keys=True
)
real = q._move_file
moves = []

def move(source, target, st):
    real(source, target, st)
    moves.append(source)
    if len(moves) == {after}:
        os.kill(os.getpid(), signal.SIGKILL)

q._move_file = move
apply_cleanup(plan, now=NOW)
"""


@pytest.mark.parametrize("after", [1, 3])
def test_a_killed_clean_up_loses_nothing_and_restores(
    demo: Demo, quarantine: Path, after: int
) -> None:
    before = snapshot(demo.root)
    code = _KILLED_RUN.format(
        project=str(Path(__file__).parents[2]),
        root=str(demo.root),
        quarantine=str(quarantine),
        after=after,
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, check=False)
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()
    (entry,), _ = list_entries(quarantine)
    assert entry.state == "incomplete"
    # Every file is in its place or in the quarantine, never lost and never half-written.
    for item in entry.items:
        here = demo.host(item.path)
        kept = entry.folder / item.stored
        assert here.exists() or kept.exists()
    result = restore(plan_undo(quarantine, root=demo.fs), now=NOW)
    assert not result.refused
    assert snapshot(demo.root) == before


# Configuration checks ---------------------------------------------------------------------------


def test_config_checks_are_offered_only_on_the_machine_itself(demo: Demo) -> None:
    installed = {
        "nginx": "/usr/sbin/nginx",
        "apache2ctl": "/usr/sbin/apache2ctl",
        "haproxy": "/usr/sbin/haproxy",
        "doveconf": "/usr/bin/doveconf",
    }

    def which(name: str) -> str | None:
        return installed.get(name)

    consumers = demo.inventory.consumers
    assert config_tests(consumers, demo.fs, which=which) == ()  # under --root: never
    tests = config_tests(consumers, RootFS("/"), which=which)
    assert [t.command for t in tests] == [
        "/usr/sbin/nginx -t",
        "/usr/sbin/apache2ctl configtest",
        "/usr/sbin/haproxy -c -f /etc/haproxy/haproxy.cfg",
        "/usr/bin/doveconf -n",
    ]  # postfix is not installed in this fake
    assert not tests[-1].show_stdout
    only_nginx = (Consumer("nginx", "/etc/nginx/nginx.conf", 1, ()),)
    assert [t.service for t in config_tests(only_nginx, RootFS("/"), which=which)] == ["nginx"]


def test_a_config_check_captures_its_output_and_status() -> None:
    test = ConfigTest("demo", ("sh", "-c", "echo checked; echo broken >&2; exit 3"))
    result = run_config_test(test)
    assert (result.returncode, result.ok) == (3, False)
    assert result.output == "checked\nbroken"
    assert result.describe()[0] == (
        "$ sh -c 'echo checked; echo broken >&2; exit 3': FAILED (exit status 3)"
    )
    quiet = run_config_test(ConfigTest("demo", ("sh", "-c", "echo secret=1"), show_stdout=False))
    assert "secret" not in quiet.output
    missing = run_config_test(ConfigTest("demo", ("/nonexistent/binary",)))
    assert missing.returncode is None
