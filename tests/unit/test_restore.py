"""Restoring backups: into an empty root (a server move), over an existing tree, and the
refusals: differing files, folders in the way, links in folders, changes after the preview."""

from __future__ import annotations

import hashlib
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from core.backup import BackedUpFile, BackupContents, read_backup
from core.quarantine import list_entries, plan_restore, restore
from core.restore import BackupRestoreResult, plan_backup_restore, restore_backup
from core.rootfs import RootFS
from tests.certgen import NOW
from tests.maintenance_helpers import (
    Demo,
    backed_up_demo,
    password_file,
    scan_tree,
    snapshot,
)
from tui.cli import main

PASSWORD = b"correct horse battery staple"
WWW_KEY = "/etc/nginx/ssl/www.key"
WWW_CRT = "/etc/nginx/ssl/www.crt"


@pytest.fixture(autouse=True)
def _isolated_state(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("state")))


@pytest.fixture(scope="module")
def backed_up(tmp_path_factory: pytest.TempPathFactory) -> tuple[Demo, Path]:
    """The demo tree and one verified backup of it (made once: backups take a moment)."""
    return backed_up_demo(tmp_path_factory.mktemp("source"), PASSWORD)


@pytest.fixture
def contents(backed_up: tuple[Demo, Path]) -> BackupContents:
    return read_backup(backed_up[1], PASSWORD)


def _restore_all(
    contents: BackupContents, root: Path, *, replace_files: bool = False
) -> BackupRestoreResult:
    plan = plan_backup_restore(contents, root=RootFS(root))
    return restore_backup(
        plan, quarantine=root.parent / "quarantine", now=NOW, replace_files=replace_files
    )


def _entry(path: Path) -> tuple[str, int, str]:
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        return "link", 0, os.readlink(path)
    return "file", stat.S_IMODE(st.st_mode), hashlib.sha256(path.read_bytes()).hexdigest()


def test_restore_into_an_empty_root_reproduces_every_file(
    backed_up: tuple[Demo, Path], contents: BackupContents, tmp_path: Path
) -> None:
    demo, _ = backed_up
    new = tmp_path / "new"
    new.mkdir()
    plan = plan_backup_restore(contents, root=RootFS(new))
    restorable = [s for s in plan.steps if s.action != "skip"]
    assert {s.action for s in restorable} == {"write", "link"}
    # Only the distribution's own trust store is left for the new system to bring.
    assert all(s.file.distribution for s in plan.steps if s.action == "skip")
    result = restore_backup(plan, quarantine=tmp_path / "q", now=NOW)
    assert result.complete, result.left
    assert len(result.written) == len(restorable)
    for step in restorable:
        source, copy = demo.host(step.file.raw_path), new / step.file.raw_path.lstrip("/")
        assert _entry(copy) == _entry(source), step.target
        if step.file.kind == "file":
            assert os.stat(copy).st_mtime_ns == os.stat(source).st_mtime_ns

    # The new machine has the same certificates in use, each with its key.
    moved = scan_tree(new, demo.settings)
    old = {r.sha256: r for r in demo.inventory.certificates}
    required = {sha for sha, r in old.items() if r.required and not r.trust_anchor}
    keyed = {r.sha256 for r in moved.certificates if r.private_key is not None}
    assert required - {r.sha256 for r in moved.certificates} == set()
    assert {sha for sha in required if old[sha].private_key is not None} <= keyed
    assert not (tmp_path / "q").exists(), "nothing was replaced, so no quarantine entry"


def test_a_second_restore_finds_everything_in_place(
    contents: BackupContents, tmp_path: Path
) -> None:
    new = tmp_path / "new"
    new.mkdir()
    _restore_all(contents, new)
    before = snapshot(new)
    plan = plan_backup_restore(contents, root=RootFS(new))
    assert {s.action for s in plan.steps} == {"in place", "skip"}
    assert not plan.writes
    assert not plan.replacements
    result = restore_backup(plan, quarantine=tmp_path / "q", now=NOW)
    assert result.complete
    assert not result.written
    assert snapshot(new) == before


def test_a_dry_plan_changes_nothing_and_says_where_everything_goes(
    contents: BackupContents, tmp_path: Path
) -> None:
    new = tmp_path / "new"
    new.mkdir()
    plan = plan_backup_restore(contents, root=RootFS(new))
    text = "\n".join(plan.describe())
    assert f"{WWW_KEY}: write (0600, " in text
    assert "/etc/letsencrypt/live/blog.demo.example/cert.pem: link to " in text
    assert "new folders (mode 0755, with their parents): /etc/dovecot/private" in text
    assert "run update-ca-certificates afterwards" in text
    assert os.listdir(new) == []


def test_a_differing_file_is_replaced_only_when_confirmed_and_can_be_put_back(
    contents: BackupContents, tmp_path: Path
) -> None:
    new = tmp_path / "new"
    new.mkdir()
    _restore_all(contents, new)
    key = new / WWW_KEY.lstrip("/")
    original = key.read_bytes()
    key.write_bytes(b"a key from somewhere else\n")
    key.chmod(0o640)

    plan = plan_backup_restore(contents, root=RootFS(new))
    [step] = plan.replacements
    assert step.target == WWW_KEY
    assert step.reason == "different content"
    assert "DIFFERS: replace (different content)" in step.describe()
    refused = restore_backup(plan, quarantine=tmp_path / "q", now=NOW)
    assert refused.left == ((WWW_KEY, "differs (different content); not confirmed"),)
    assert key.read_bytes() == b"a key from somewhere else\n"

    plan = plan_backup_restore(contents, root=RootFS(new))
    result = restore_backup(plan, quarantine=tmp_path / "q", now=NOW, replace_files=True)
    assert result.complete
    assert result.replaced == (WWW_KEY,)
    assert key.read_bytes() == original
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert result.quarantine is not None
    assert any("certdeck quarantine restore" in line for line in result.describe())

    # The replaced key is in the quarantine and comes back from there.
    [entry], _ = list_entries(tmp_path / "q", root=RootFS(new))
    assert entry.items[0].path == WWW_KEY
    back = restore(plan_restore(tmp_path / "q", entry.id, root=RootFS(new)), now=NOW)
    assert back.complete
    assert key.read_bytes() == b"a key from somewhere else\n"


def test_same_content_with_another_mode_is_fixed_without_asking(
    contents: BackupContents, tmp_path: Path
) -> None:
    new = tmp_path / "new"
    new.mkdir()
    _restore_all(contents, new)
    key = new / WWW_KEY.lstrip("/")
    key.chmod(0o644)
    plan = plan_backup_restore(contents, root=RootFS(new))
    [step] = [s for s in plan.steps if s.action == "fix mode"]
    assert "mode 0644 → 0600" in step.describe()
    assert not plan.replacements
    result = restore_backup(plan, quarantine=tmp_path / "q", now=NOW)
    assert result.fixed == (WWW_KEY,)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_links_in_folders_are_followed_inside_the_root(
    contents: BackupContents, tmp_path: Path
) -> None:
    new = tmp_path / "new"
    (new / "srv/nginx-conf").mkdir(parents=True)
    (new / "etc").mkdir()
    # An absolute link means the root's /srv, never the host's.
    (new / "etc/nginx").symlink_to("/srv/nginx-conf")
    _restore_all(contents, new)
    assert (new / "srv/nginx-conf/ssl/www.crt").is_file()
    assert not Path("/srv/nginx-conf/ssl/www.crt").exists()
    plan = plan_backup_restore(contents, root=RootFS(new))
    assert next(s for s in plan.steps if s.file.path == WWW_CRT).target == (
        "/srv/nginx-conf/ssl/www.crt"
    )


def test_things_in_the_way_are_skipped_with_the_reason(
    contents: BackupContents, tmp_path: Path
) -> None:
    new = tmp_path / "new"
    (new / "etc").mkdir(parents=True)
    (new / "etc/nginx").write_text("not a folder\n")
    (new / "etc/ssl/private" / "wildcard.demo.example.key").mkdir(parents=True)
    plan = plan_backup_restore(contents, root=RootFS(new))
    by_path = {s.file.path: s for s in plan.steps}
    assert by_path[WWW_CRT].action == "skip"
    assert by_path[WWW_CRT].reason == "/etc/nginx is in the way: it is a file, not a folder"
    assert by_path["/etc/ssl/private/wildcard.demo.example.key"].action == "skip"
    assert (
        by_path["/etc/ssl/private/wildcard.demo.example.key"].reason
        == "a folder or special file is in the way"
    )
    result = restore_backup(plan, quarantine=tmp_path / "q", now=NOW)
    assert (new / "etc/nginx").read_text() == "not a folder\n"
    assert result.written


def test_a_file_that_appears_after_the_preview_is_not_overwritten(
    contents: BackupContents, tmp_path: Path
) -> None:
    new = tmp_path / "new"
    new.mkdir()
    plan = plan_backup_restore(contents, root=RootFS(new))
    late = new / WWW_KEY.lstrip("/")
    late.parent.mkdir(parents=True)
    late.write_bytes(b"written meanwhile\n")
    result = restore_backup(plan, quarantine=tmp_path / "q", now=NOW, replace_files=True)
    assert (WWW_KEY, "it changed since the preview; left as it is") in result.left
    assert late.read_bytes() == b"written meanwhile\n"
    assert not result.complete


def test_owners_are_matched_by_name_on_the_new_machine(
    contents: BackupContents, tmp_path: Path
) -> None:
    new = tmp_path / "new"
    (new / "etc").mkdir(parents=True)
    owner = contents.files[0]
    (new / "etc/passwd").write_text(f"{owner.owner}:x:4321:4321::/:/bin/false\n")
    (new / "etc/group").write_text(f"{owner.group}:x:4322:\n")
    plan = plan_backup_restore(contents, root=RootFS(new), euid=4321)
    step = plan.steps[0]
    assert (step.uid, step.gid) == (4321, 4322)
    assert not any("not running as root" in w for w in plan.warnings)
    other = plan_backup_restore(contents, root=RootFS(new), euid=1000)
    assert any("not running as root" in w for w in other.warnings)


def test_settings_are_restored_only_when_asked_and_never_over_a_differing_file(
    contents: BackupContents, tmp_path: Path
) -> None:
    new = tmp_path / "new"
    new.mkdir()
    target = tmp_path / "config" / "settings.toml"
    plan = plan_backup_restore(contents, root=RootFS(new), settings_target=target)
    assert plan.settings_action == "write"
    restore_backup(plan, quarantine=tmp_path / "q", now=NOW)
    assert target.read_bytes() == contents.settings
    assert stat.S_IMODE(target.stat().st_mode) == 0o600

    target.write_text("# mine\n")
    plan = plan_backup_restore(contents, root=RootFS(new), settings_target=target)
    assert plan.settings_action == "aside"
    result = restore_backup(plan, quarantine=tmp_path / "q", now=NOW)
    assert target.read_text() == "# mine\n"
    assert result.settings_written == f"{target}.restored"
    assert Path(f"{target}.restored").read_bytes() == contents.settings


# The command line ------------------------------------------------------------------------------


def test_certdeck_restore_dry_run_then_restore_then_differing(
    backed_up: tuple[Demo, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, archive = backed_up
    secret = password_file(tmp_path)
    new = tmp_path / "new"
    new.mkdir()
    base = ["restore", str(archive), "--root", str(new), "--password-file", str(secret)]
    base += ["--quarantine", str(tmp_path / "q")]

    assert main([*base, "--dry-run"]) == 0
    _, err = capsys.readouterr()
    assert "33 to write; 6 skipped" in err
    assert os.listdir(new) == []

    assert main([*base, "--yes"]) == 0
    _, err = capsys.readouterr()
    assert "Restored 33 file(s), replaced 0" in err

    (new / WWW_KEY.lstrip("/")).write_text("changed\n")
    assert main([*base, "--yes"]) == 2
    _, err = capsys.readouterr()
    assert "1 file not restored (see above); --replace replaces differing files" in err
    assert main([*base, "--yes", "--replace"]) == 0
    _, err = capsys.readouterr()
    assert f"  replaced {WWW_KEY}" in err
    assert main([*base, "--yes"]) == 0
    assert "Everything is already in place; nothing was changed." in capsys.readouterr().err


def test_certdeck_restore_with_a_wrong_password_changes_nothing(
    backed_up: tuple[Demo, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, archive = backed_up
    wrong = password_file(tmp_path, b"not the password at all")
    new = tmp_path / "new"
    new.mkdir()
    code = main(["restore", str(archive), "--root", str(new), "--password-file", str(wrong)])
    assert code == 2
    assert "the password does not open the private keys" in capsys.readouterr().err
    assert os.listdir(new) == []


# Killed half-way ---------------------------------------------------------------------------------

_KILLED = """
import os, signal, sys
from dataclasses import replace
from pathlib import Path
sys.path.insert(0, {project!r})
import core.fsutil, core.quarantine
from core.backup import plan_backup, read_backup, write_backup
from core.restore import BackupRestoreResult, plan_backup_restore, restore_backup
from core.rootfs import RootFS
from core.settings import BackupSettings
from tests.certgen import NOW
from tests.maintenance_helpers import demo_tree

def kill_at(module, name, after):
    real = getattr(module, name)
    calls = []
    def wrapped(*args, **kwargs):
        calls.append(1)
        if len(calls) == after:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(*args, **kwargs)
    setattr(module, name, wrapped)

what, target, after = {what!r}, Path({target!r}), {after}
if what == "backup":
    demo = demo_tree(Path({source!r}))
    settings = replace(demo.settings, backup=BackupSettings(keep=1))
    plan = plan_backup(
        demo.inventory, root=demo.fs, settings=settings,
        settings_path=demo.tree.settings_path, now=NOW, destination=target,
    )
    # Killed right before the archive's data is synced: written, not yet renamed.
    kill_at(core.fsutil.os, "fsync", after)
    write_backup(plan, {password!r})
else:
    contents = read_backup(Path({source!r}), {password!r})
    plan = plan_backup_restore(contents, root=RootFS(target))
    kill_at(core.quarantine.os, "fsync", after)
    restore_backup(plan, quarantine=target.parent / "q", now=NOW, replace_files=True)
"""


def _run_killed(what: str, source: Path, target: Path, after: int) -> None:
    code = _KILLED.format(
        project=str(Path(__file__).parents[2]),
        what=what,
        source=str(source),
        target=str(target),
        after=after,
        password=PASSWORD,
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, check=False)
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()


def test_a_killed_backup_leaves_no_archive_and_keeps_the_old_ones(
    backed_up: tuple[Demo, Path], tmp_path: Path
) -> None:
    _, archive = backed_up
    folder = tmp_path / "backups"
    folder.mkdir(mode=0o700)
    old = folder / archive.name.replace("120000", "060000")
    old.write_bytes(archive.read_bytes())
    _run_killed("backup", tmp_path / "source", folder, 1)
    # The old archive (beyond backup.keep = 1) is still there: retention runs only after a
    # verified new archive; the new one never got its name.
    assert [p.name for p in folder.iterdir() if not p.name.startswith(".")] == [old.name]
    assert read_backup(old, PASSWORD).keys == 11


@pytest.mark.parametrize("after", [6, 13, 30])
def test_a_killed_restore_leaves_every_file_old_or_new_and_can_be_run_again(
    contents: BackupContents, backed_up: tuple[Demo, Path], tmp_path: Path, after: int
) -> None:
    _, archive = backed_up
    new = tmp_path / "new"
    new.mkdir()
    _run_killed("restore", archive, new, after)
    wanted = {f.raw_path.lstrip("/"): f for f in contents.files if not f.distribution}
    present = [p for p in new.rglob("*") if p.is_file() and not p.is_symlink()]
    assert present, "the restore got under way"
    for path in present:
        rel = str(path.relative_to(new))
        if path.name.startswith("."):
            continue  # a temporary file that never got its name
        assert path.read_bytes() == wanted[rel].data, rel
    result = _restore_all(contents, new)
    assert isinstance(result, BackupRestoreResult)
    assert result.complete
    for rel, file in wanted.items():
        assert _entry(new / rel) == _entry_of(file), rel


def _entry_of(file: BackedUpFile) -> tuple[str, int, str]:
    if file.kind == "symlink":
        return "link", 0, file.link_target or ""
    return "file", file.mode, hashlib.sha256(file.data or b"").hexdigest()
