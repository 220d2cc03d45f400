"""Safe file writes: nothing is half-written, widened or silently overwritten.

Every file certdeck writes goes through :func:`atomic_write`: the data lands in a temporary
file in the target's folder, created with its final permissions, is flushed to disk and only
then takes the target's name.  A crash leaves either the old file or the new one, never a mix.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import secrets
from pathlib import Path

__all__ = ["atomic_write", "ensure_private_dir", "free_name"]

# link() fails with these on filesystems without hard links (vfat, exfat, some FUSE and
# network mounts); renameat2(RENAME_NOREPLACE) still gives a race-free "create only" there.
_NO_HARD_LINKS = frozenset({errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS})
# Filesystems that cannot fsync a folder say so with these; the data itself is already synced.
_NO_DIR_FSYNC = frozenset({errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EBADF})
_AT_FDCWD = -100
_RENAME_NOREPLACE = 1
_TEMP_ATTEMPTS = 100


def atomic_write(path: Path, data: bytes, *, mode: int = 0o644, overwrite: bool = False) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, nothing else.

    The temporary file is created with ``mode`` already applied (never wider), and the final
    file has exactly ``mode`` whatever the umask.  A symlink at ``path`` counts as an existing
    file and is replaced, not followed.

    Args:
        path: The file to write; its folder must exist.
        data: The complete new content.
        mode: Permission bits of the written file, e.g. ``0o600`` for private keys.
        overwrite: Replace an existing file. When false, an existing ``path`` is left
            untouched and :class:`FileExistsError` is raised.

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is false.
        OSError: Anything the file system refuses; the temporary file is removed.
    """
    folder = path.parent
    fd, temp = _create_temp(folder, path.name, mode)
    try:
        try:
            # The umask may have narrowed the creation mode; set exactly what was asked for.
            os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        if overwrite:
            os.replace(temp, path)
        else:
            _rename_no_replace(temp, path)
        _fsync_folder(folder)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink(missing_ok=True)
        raise


def free_name(path: Path) -> Path:
    """Return ``path`` if nothing is there, else the first free ``name-1.ext``, ``name-2.ext``, ….

    Only the last suffix is kept apart: ``site.tar.gz`` becomes ``site.tar-1.gz``.  A name can
    be taken between this check and a write; write with ``atomic_write(overwrite=False)`` and
    ask again on :class:`FileExistsError`.
    """
    if not _taken(path):
        return path
    stem, suffix = path.stem, path.suffix
    number = 1
    while True:
        candidate = path.with_name(f"{stem}-{number}{suffix}")
        if not _taken(candidate):
            return candidate
        number += 1


def ensure_private_dir(path: Path) -> None:
    """Create ``path`` and its missing parents (like ``mkdir -p``) with mode 0700.

    Folders that already exist keep their permissions.

    Raises:
        FileExistsError: ``path`` or one of its parents exists and is not a folder.
        OSError: A folder cannot be created.
    """
    missing: list[Path] = []
    current = path
    while not current.is_dir():
        if current.exists() or current.is_symlink():
            raise FileExistsError(errno.EEXIST, "exists and is not a folder", str(current))
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, 0o700)
        except FileExistsError:
            # Created meanwhile by someone else: theirs to set up, as long as it is a folder.
            if not folder.is_dir():
                raise
            continue
        # mkdir applies the umask, which may have removed bits the owner needs.
        os.chmod(folder, 0o700)


def _taken(path: Path) -> bool:
    # A dangling symlink also occupies the name.
    return os.path.lexists(path)


def _create_temp(folder: Path, name: str, mode: int) -> tuple[int, Path]:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0)
    for _ in range(_TEMP_ATTEMPTS):
        # Shortened so that long names stay within the 255-byte limit of a file name.
        temp = folder / f".{name[:200]}.{secrets.token_hex(6)}.tmp"
        try:
            # The mode applies from creation on, so the content is never readable by others.
            return os.open(temp, flags, mode), temp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary file name", str(folder))


def _rename_no_replace(source: Path, target: Path) -> None:
    """Give ``source`` the name ``target``, failing with FileExistsError if ``target`` exists."""
    try:
        os.link(source, target)
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno not in _NO_HARD_LINKS or not _renameat2_noreplace(source, target):
            raise
        return
    source.unlink()


def _renameat2_noreplace(source: Path, target: Path) -> bool:
    """Rename with RENAME_NOREPLACE; False when the C library or file system cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    result = renameat2(
        _AT_FDCWD, os.fsencode(source), _AT_FDCWD, os.fsencode(target), _RENAME_NOREPLACE
    )
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS):
        return False
    raise OSError(code, os.strerror(code), str(target))


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in _NO_DIR_FSYNC:
            raise
    finally:
        os.close(fd)
