"""Atomic writes, free names and private folders."""

from __future__ import annotations

import ctypes
import errno
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from core.fsutil import atomic_write, ensure_private_dir, free_name


@contextmanager
def umask(value: int) -> Iterator[None]:
    previous = os.umask(value)
    try:
        yield
    finally:
        os.umask(previous)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_atomic_write_writes_content_with_default_mode(tmp_path: Path) -> None:
    target = tmp_path / "server.crt"

    atomic_write(target, b"-----BEGIN CERTIFICATE-----\n")

    assert target.read_bytes() == b"-----BEGIN CERTIFICATE-----\n"
    assert mode_of(target) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["server.crt"]


def test_private_key_is_0600_from_creation_on_even_with_open_umask(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    modes_at_creation: list[int] = []
    real_open = os.open

    def spying_open(path: os.PathLike[str] | str, flags: int, mode: int = 0o777) -> int:
        fd = real_open(path, flags, mode)
        if flags & os.O_CREAT:
            modes_at_creation.append(stat.S_IMODE(os.fstat(fd).st_mode))
        return fd

    monkeypatch.setattr(os, "open", spying_open)
    target = tmp_path / "server.key"

    with umask(0):
        atomic_write(target, b"secret", mode=0o600)

    assert modes_at_creation == [0o600]
    assert mode_of(target) == 0o600
    assert target.read_bytes() == b"secret"


def test_requested_mode_wins_over_a_narrow_umask(tmp_path: Path) -> None:
    target = tmp_path / "ca.crt"

    with umask(0o077):
        atomic_write(target, b"cert", mode=0o644)

    assert mode_of(target) == 0o644


def test_without_overwrite_an_existing_file_is_kept(tmp_path: Path) -> None:
    target = tmp_path / "server.crt"
    target.write_bytes(b"old")

    with pytest.raises(FileExistsError):
        atomic_write(target, b"new")

    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["server.crt"]


def test_without_overwrite_a_dangling_symlink_is_not_followed(tmp_path: Path) -> None:
    target = tmp_path / "server.crt"
    target.symlink_to(tmp_path / "elsewhere.crt")

    with pytest.raises(FileExistsError):
        atomic_write(target, b"new")

    assert not (tmp_path / "elsewhere.crt").exists()


def test_overwrite_replaces_content_and_mode(tmp_path: Path) -> None:
    target = tmp_path / "server.key"
    target.write_bytes(b"old")
    target.chmod(0o644)

    atomic_write(target, b"new", mode=0o600, overwrite=True)

    assert target.read_bytes() == b"new"
    assert mode_of(target) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["server.key"]


def test_failed_fsync_leaves_no_temporary_file_and_no_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_fsync(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    target = tmp_path / "server.crt"

    with pytest.raises(OSError, match="Input/output error"):
        atomic_write(target, b"data")

    assert list(tmp_path.iterdir()) == []


def test_failed_replace_keeps_old_content_and_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "bundle.pem"
    target.write_bytes(b"old bundle")

    def failing_replace(
        source: os.PathLike[str] | str, destination: os.PathLike[str] | str
    ) -> None:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(os, "replace", failing_replace)

    with pytest.raises(PermissionError):
        atomic_write(target, b"new bundle", overwrite=True)

    assert target.read_bytes() == b"old bundle"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle.pem"]


def _has_renameat2() -> bool:
    try:
        ctypes.CDLL(None).renameat2  # noqa: B018
    except (OSError, AttributeError):
        return False
    return True


@pytest.mark.skipif(not _has_renameat2(), reason="C library without renameat2")
def test_without_hard_links_writes_still_refuse_to_overwrite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # vfat and exfat (USB sticks) refuse link() with EPERM.
    def no_link(source: os.PathLike[str] | str, destination: os.PathLike[str] | str) -> None:
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_link)
    fresh = tmp_path / "export.p12"
    taken = tmp_path / "taken.p12"
    taken.write_bytes(b"old")

    atomic_write(fresh, b"pkcs12", mode=0o600)
    with pytest.raises(FileExistsError):
        atomic_write(taken, b"new")

    assert fresh.read_bytes() == b"pkcs12"
    assert mode_of(fresh) == 0o600
    assert taken.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export.p12", "taken.p12"]


def test_missing_folder_is_an_error_not_created(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        atomic_write(tmp_path / "missing" / "a.crt", b"x")

    assert not (tmp_path / "missing").exists()


def test_free_name_returns_the_path_itself_when_free(tmp_path: Path) -> None:
    assert free_name(tmp_path / "server.crt") == tmp_path / "server.crt"


def test_free_name_counts_up_before_the_suffix(tmp_path: Path) -> None:
    (tmp_path / "server.crt").write_bytes(b"")
    assert free_name(tmp_path / "server.crt") == tmp_path / "server-1.crt"

    (tmp_path / "server-1.crt").write_bytes(b"")
    (tmp_path / "server-2.crt").write_bytes(b"")
    assert free_name(tmp_path / "server.crt") == tmp_path / "server-3.crt"


def test_free_name_treats_dangling_symlinks_and_folders_as_taken(tmp_path: Path) -> None:
    (tmp_path / "ca").symlink_to(tmp_path / "nowhere")
    (tmp_path / "ca-1").mkdir()

    assert free_name(tmp_path / "ca") == tmp_path / "ca-2"


def test_ensure_private_dir_creates_missing_folders_0700(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    target = tmp_path / "a" / "b" / "c"

    with umask(0o022):
        ensure_private_dir(target)

    assert target.is_dir()
    assert [mode_of(p) for p in (tmp_path / "a", tmp_path / "a" / "b", target)] == [0o700] * 3
    assert mode_of(tmp_path) == 0o755


def test_ensure_private_dir_is_not_widened_by_umask_zero(tmp_path: Path) -> None:
    with umask(0):
        ensure_private_dir(tmp_path / "keys")

    assert mode_of(tmp_path / "keys") == 0o700


def test_ensure_private_dir_leaves_existing_folders_alone(tmp_path: Path) -> None:
    existing = tmp_path / "shared"
    existing.mkdir()
    existing.chmod(0o755)

    ensure_private_dir(existing)
    ensure_private_dir(existing / "private")

    assert mode_of(existing) == 0o755
    assert mode_of(existing / "private") == 0o700


def test_ensure_private_dir_refuses_a_file_in_the_way(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"")

    with pytest.raises(FileExistsError):
        ensure_private_dir(tmp_path / "file" / "sub")


def test_very_long_file_names_can_be_written(tmp_path: Path) -> None:
    target = tmp_path / ("a" * 250 + ".pem")

    atomic_write(target, b"x")

    assert target.read_bytes() == b"x"
