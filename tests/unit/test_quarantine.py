"""The quarantine: entries, listing, restore edge cases and purging by age."""

from __future__ import annotations

import errno
import os
from datetime import timedelta
from pathlib import Path

import pytest

from core.cleanup import apply_cleanup, plan_cleanup
from core.quarantine import (
    MANIFEST_NAME,
    QuarantineError,
    UnknownEntry,
    default_quarantine_directory,
    list_entries,
    plan_purge,
    plan_restore,
    purge,
    restore,
    undo_last_cleanup,
)
from core.rootfs import RootFS
from tests.certgen import NOW, make, write
from tests.maintenance_helpers import Demo, demo_tree, scan_tree, snapshot


@pytest.fixture
def demo(tmp_path: Path) -> Demo:
    return demo_tree(tmp_path)


def _clean(tmp_path: Path, name: str, when_days: int, quarantine: Path) -> str:
    """A tree with one obsolete certificate, cleaned up ``when_days`` before NOW."""
    root = tmp_path / name
    old = make(
        f"{name}.example", not_before=NOW - timedelta(days=400), not_after=NOW - timedelta(days=40)
    )
    write(root, f"/etc/ssl/{name}.pem", old.pem)
    plan = plan_cleanup(scan_tree(root), "obsolete", root=RootFS(root), quarantine=quarantine)
    return apply_cleanup(plan, now=NOW - timedelta(days=when_days)).entry_id


def test_default_folder_as_root_and_as_a_user(tmp_path: Path) -> None:
    fs = RootFS(tmp_path)
    assert default_quarantine_directory(fs, euid=0) == tmp_path / "var/lib/certdeck/quarantine"
    data = Path(os.environ["XDG_DATA_HOME"])
    assert default_quarantine_directory(fs, euid=1000) == data / "certdeck/quarantine"


def test_entries_are_listed_newest_first_per_root(tmp_path: Path) -> None:
    quarantine = tmp_path / "q"
    older = _clean(tmp_path, "alpha", 3, quarantine)
    newer = _clean(tmp_path, "beta", 1, quarantine)
    assert older != newer
    everything, problems = list_entries(quarantine)
    assert [e.id for e in everything] == [newer, older]
    assert problems == ()
    mine, _ = list_entries(quarantine, root=RootFS(tmp_path / "alpha"))
    assert [e.id for e in mine] == [older]
    assert mine[0].items[0].path == "/etc/ssl/alpha.pem"
    assert "1 file" in mine[0].describe()[0]


def test_a_damaged_manifest_is_reported_not_fatal(tmp_path: Path) -> None:
    quarantine = tmp_path / "q"
    entry = _clean(tmp_path, "alpha", 1, quarantine)
    (quarantine / "20200101-000000").mkdir()
    (quarantine / "20200101-000000" / MANIFEST_NAME).write_text("{not json")
    entries, problems = list_entries(quarantine)
    assert [e.id for e in entries] == [entry]
    assert len(problems) == 1
    assert "is damaged" in problems[0]


def test_restore_asks_for_a_known_entry_of_this_root(tmp_path: Path) -> None:
    quarantine = tmp_path / "q"
    entry = _clean(tmp_path, "alpha", 1, quarantine)
    with pytest.raises(UnknownEntry, match="no entry 20990101-000000"):
        plan_restore(quarantine, "20990101-000000", root=RootFS(tmp_path / "alpha"))
    with pytest.raises(UnknownEntry, match="not a quarantine ID"):
        plan_restore(quarantine, "../etc", root=RootFS(tmp_path / "alpha"))
    with pytest.raises(QuarantineError, match="restore it with --root"):
        plan_restore(quarantine, entry, root=RootFS(tmp_path / "other"))


def test_restore_by_id_brings_back_exact_bytes_and_mode(demo: Demo, tmp_path: Path) -> None:
    quarantine = tmp_path / "q"
    path = demo.host("/etc/ssl/localcerts/old.demo.example.crt")
    path.chmod(0o640)
    data = path.read_bytes()
    demo.rescan()
    plan = plan_cleanup(demo.inventory, "obsolete", root=demo.fs, quarantine=quarantine)
    entry = apply_cleanup(plan, now=NOW).entry_id
    assert not path.exists()
    result = restore(plan_restore(quarantine, entry, root=demo.fs), now=NOW)
    assert result.complete
    assert path.read_bytes() == data
    assert os.stat(path).st_mode & 0o7777 == 0o640


def test_an_identical_file_already_back_counts_as_restored(demo: Demo, tmp_path: Path) -> None:
    quarantine = tmp_path / "q"
    path = demo.host("/etc/ssl/localcerts/old.demo.example.crt")
    data = path.read_bytes()
    plan = plan_cleanup(demo.inventory, "obsolete", root=demo.fs, quarantine=quarantine)
    entry = apply_cleanup(plan, now=NOW).entry_id
    path.write_bytes(data)  # someone copied it back by hand
    restoring = plan_restore(quarantine, entry, root=demo.fs)
    mine = next(i for i in restoring.items if i.item.path.endswith("old.demo.example.crt"))
    assert mine.action == "already in place"
    assert restore(restoring, now=NOW).complete


def test_purge_deletes_only_entries_older_than_the_age(tmp_path: Path) -> None:
    quarantine = tmp_path / "q"
    old = _clean(tmp_path, "alpha", 10, quarantine)
    recent = _clean(tmp_path, "beta", 2, quarantine)
    plan = plan_purge(quarantine, older_than=timedelta(days=5), now=NOW)
    assert [e.id for e in plan.entries] == [old]
    assert plan.sizes[0] > 0
    assert "older than 5 days" in plan.describe()[0]
    result = purge(plan)
    assert result.deleted == (old,)
    assert [e.id for e in list_entries(quarantine)[0]] == [recent]
    assert not (quarantine / old).exists()
    # Nothing else is that old now.
    assert plan_purge(quarantine, older_than=timedelta(days=5), now=NOW).entries == ()
    assert plan_purge(quarantine, older_than=timedelta(days=5), now=NOW).describe() == [
        "Nothing in the quarantine is older than 5 days."
    ]


def test_purge_of_one_root_leaves_the_others(tmp_path: Path) -> None:
    quarantine = tmp_path / "q"
    _clean(tmp_path, "alpha", 10, quarantine)
    beta = _clean(tmp_path, "beta", 10, quarantine)
    plan = plan_purge(
        quarantine, older_than=timedelta(days=1), now=NOW, root=RootFS(tmp_path / "alpha")
    )
    purge(plan)
    assert [e.id for e in list_entries(quarantine)[0]] == [beta]


def test_restore_recreates_a_missing_folder_privately(tmp_path: Path) -> None:
    root = tmp_path / "root"
    old = make(
        "gone.example", not_before=NOW - timedelta(days=400), not_after=NOW - timedelta(days=40)
    )
    write(root, "/etc/ssl/gone/gone.pem", old.pem)
    quarantine = tmp_path / "q"
    plan = plan_cleanup(scan_tree(root), "obsolete", root=RootFS(root), quarantine=quarantine)
    apply_cleanup(plan, now=NOW)
    (root / "etc/ssl/gone").rmdir()
    before = snapshot(root)
    restoring = plan_restore(quarantine, "last", root=RootFS(root))
    assert "created again" in restoring.items[0].reason
    restore(restoring, now=NOW)
    assert (root / "etc/ssl/gone/gone.pem").read_bytes() == old.pem
    assert os.stat(root / "etc/ssl/gone").st_mode & 0o777 == 0o700
    assert snapshot(root) != before


def test_a_quarantine_on_another_file_system_copies_then_removes(
    demo: Demo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    quarantine = tmp_path / "q"
    real_link = os.link
    crossed: list[object] = []

    def link(source: object, target: object) -> None:
        # Hard links between the tree and the quarantine fail as across mount points.
        inside = [str(p).startswith(str(demo.root)) for p in (source, target)]
        if inside[0] != inside[1]:
            crossed.append(source)
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        real_link(source, target)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "link", link)
    before = snapshot(demo.root)
    plan = plan_cleanup(
        demo.inventory, "obsolete", root=demo.fs, quarantine=quarantine, with_keys=True
    )
    result = apply_cleanup(plan, now=NOW)
    key = next(i for i in result.entry.items if i.path.endswith("privkey1.pem"))
    copy = result.entry.folder / key.stored
    assert os.stat(copy).st_mode & 0o777 == 0o600
    assert os.stat(copy).st_mtime_ns == key.mtime_ns
    assert not demo.host(key.path).exists()
    moved = len(crossed)
    assert moved == 5  # every moved file was copied
    assert undo_last_cleanup(quarantine, root=demo.fs, now=NOW).complete
    assert len(crossed) == 2 * moved  # and copied back
    assert snapshot(demo.root) == before
