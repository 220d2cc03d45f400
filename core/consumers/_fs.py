"""How the parsers see a machine's files: :class:`ConfigFS` and its two implementations.

Every path a parser handles is a *machine path*: absolute, ``/``-separated, as seen on the
server.  :class:`LocalFS` maps machine paths onto a folder that stands for the machine's root
(``/`` on the machine itself, a fake server tree in tests and demos); :class:`MemoryFS` holds
a few files in a dictionary.  This module is the only one in the package that touches disk.
"""

from __future__ import annotations

import errno
import fnmatch
import os
import posixpath
import re
import stat
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Protocol

__all__ = ["MAX_CONFIG_BYTES", "ConfigFS", "LocalFS", "MemoryFS", "normalise"]

MAX_CONFIG_BYTES = 8 * 1024 * 1024
"""Configuration files larger than this are refused: no real one comes close."""

_MAX_SYMLINKS = 40  # the kernel's own limit (MAXSYMLINKS)
_MAX_GLOB_CANDIDATES = 100_000  # keeps `include /*/*/*/*` from walking a whole disk
_MAGIC = re.compile(r"[*?[]")


class ConfigFS(Protocol):
    """Read access to a machine's configuration files, by machine path."""

    def read_text(self, path: str) -> str:
        """The file's text (undecodable bytes replaced); raises :class:`OSError`."""
        ...

    def glob(self, pattern: str) -> list[str]:
        """Sorted machine paths matching a shell glob; ``[]`` when none match."""
        ...

    def is_dir(self, path: str) -> bool:
        """Whether the path is a folder (after following symlinks)."""
        ...

    def is_file(self, path: str) -> bool:
        """Whether the path is a regular file (after following symlinks)."""
        ...

    def list_dir(self, path: str) -> list[str]:
        """Sorted machine paths of the folder's entries; raises :class:`OSError`."""
        ...


def normalise(path: str) -> str:
    """An absolute, normalised machine path (``posixpath.normpath``, one leading slash)."""
    path = posixpath.normpath("/" + path)
    return "/" + path.lstrip("/")


def _glob(
    pattern: str,
    list_dir: Callable[[str], list[str]],
    exists: Callable[[str], bool],
) -> list[str]:
    """Shell-glob ``pattern`` one component at a time, like glob(3).

    A wildcard never matches a leading dot unless the pattern component starts with one.
    """
    parts = [part for part in normalise(pattern).split("/") if part]
    found = ["/"]
    for part in parts:
        if not _MAGIC.search(part):
            found = [posixpath.join(base, part) for base in found]
            continue
        matched: list[str] = []
        for base in found:
            try:
                entries = list_dir(base)
            except OSError:
                continue
            for entry in entries:
                name = posixpath.basename(entry)
                if name.startswith(".") and not part.startswith("."):
                    continue
                if fnmatch.fnmatchcase(name, part):
                    matched.append(entry)
            if len(matched) > _MAX_GLOB_CANDIDATES:
                break
        found = matched
        if not found:
            return []
    return sorted(path for path in found if exists(path))


def _decode(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


class LocalFS:
    """A real folder treated as the machine's root.

    Machine paths map to ``root/…``.  Symlinks are resolved the way the machine would see
    them, but under ``root``: an absolute link target starts again at ``root`` and ``..``
    stops at ``root``, so no path ever leads outside it.
    """

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).resolve()

    def resolve(self, path: str) -> Path:
        """The host path that ``path`` names on the machine, every symlink followed under root.

        Components that do not exist are appended as they are.  Raises :class:`OSError`
        (``ELOOP``) on too many symlinks.
        """
        if "\0" in path:
            raise OSError(errno.EINVAL, "path holds a NUL character", path)
        try:
            path.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            raise OSError(errno.EINVAL, "path is not encodable", path) from None
        pending = deque(normalise(path).split("/"))
        resolved: list[str] = []
        links = 0
        while pending:
            name = pending.popleft()
            if name in ("", "."):
                continue
            if name == "..":
                if resolved:
                    resolved.pop()
                continue
            host = os.path.join(self.root, *resolved, name)
            try:
                is_link = stat.S_ISLNK(os.lstat(host).st_mode)
            except OSError:
                is_link = False
            if not is_link:
                resolved.append(name)
                continue
            links += 1
            if links > _MAX_SYMLINKS:
                raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
            target = os.readlink(host)
            if target.startswith("/"):
                resolved.clear()
            pending.extendleft(reversed(target.split("/")))
        return self.root.joinpath(*resolved)

    def read_text(self, path: str) -> str:
        """The file's text; refuses folders, devices, FIFOs and files over 8 MiB."""
        try:
            host = self.resolve(path)
            # O_NONBLOCK: opening a FIFO must not wait for a writer; O_NOFOLLOW: the path was
            # resolved under root, so a symlink here means it changed since.
            flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC
            fd = os.open(host, flags)
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror, path) from None
        try:
            info = os.fstat(fd)
            if stat.S_ISDIR(info.st_mode):
                raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
            if not stat.S_ISREG(info.st_mode):
                raise OSError(errno.EINVAL, "not a regular file", path)
            if info.st_size > MAX_CONFIG_BYTES:
                raise OSError(errno.EFBIG, "larger than 8 MiB", path)
            chunks: list[bytes] = []
            size = 0
            while size <= MAX_CONFIG_BYTES:
                chunk = os.read(fd, 1024 * 1024)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
            if size > MAX_CONFIG_BYTES:
                raise OSError(errno.EFBIG, "larger than 8 MiB", path)
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror, path) from None
        finally:
            os.close(fd)
        return _decode(b"".join(chunks))

    def glob(self, pattern: str) -> list[str]:
        """Sorted machine paths matching ``pattern``."""
        return _glob(pattern, self.list_dir, self._lexists)

    def is_dir(self, path: str) -> bool:
        """Whether ``path`` is a folder on the machine."""
        try:
            return self.resolve(path).is_dir()
        except OSError:
            return False

    def is_file(self, path: str) -> bool:
        """Whether ``path`` is a regular file on the machine."""
        try:
            return self.resolve(path).is_file()
        except OSError:
            return False

    def list_dir(self, path: str) -> list[str]:
        """Sorted machine paths of the entries of the folder ``path``."""
        base = normalise(path)
        try:
            names = os.listdir(self.resolve(base))
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror, path) from None
        return sorted(posixpath.join(base, name) for name in names)

    def _lexists(self, path: str) -> bool:
        # A dangling symlink matches a glob, as with glob(3); reading it then fails.
        parent, name = posixpath.split(normalise(path))
        try:
            os.lstat(self.resolve(parent) / name)
        except (OSError, ValueError):
            return False
        return True


class MemoryFS:
    """A machine whose files are held in a mapping of machine path to contents.

    Folders are implied by the files' paths (and may be added with ``dirs``).  A value that
    is an :class:`OSError` is a file that exists but raises that error when read.
    """

    def __init__(
        self,
        files: Mapping[str, str | bytes | OSError],
        *,
        dirs: Iterable[str] = (),
    ) -> None:
        self._files = {normalise(path): content for path, content in files.items()}
        self._dirs = {"/"}
        for path in [*self._files, *(normalise(d) for d in dirs)]:
            self._dirs.update(_parents(path))
        self._dirs.update(normalise(d) for d in dirs)

    def read_text(self, path: str) -> str:
        """The file's text; raises like a real file system."""
        path = normalise(path)
        content = self._files.get(path)
        if content is None:
            if path in self._dirs:
                raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), path)
        if isinstance(content, OSError):
            raise content
        if isinstance(content, bytes):
            return _decode(content)
        return content

    def glob(self, pattern: str) -> list[str]:
        """Sorted machine paths matching ``pattern``."""
        return _glob(pattern, self.list_dir, self._exists)

    def is_dir(self, path: str) -> bool:
        """Whether ``path`` is a folder."""
        return normalise(path) in self._dirs

    def is_file(self, path: str) -> bool:
        """Whether ``path`` is a file."""
        return normalise(path) in self._files

    def list_dir(self, path: str) -> list[str]:
        """Sorted machine paths of the folder's entries."""
        base = normalise(path)
        if base not in self._dirs:
            if base in self._files:
                raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), path)
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), path)
        return sorted(
            entry
            for entry in [*self._files, *self._dirs]
            if entry != "/" and posixpath.dirname(entry) == base
        )

    def _exists(self, path: str) -> bool:
        path = normalise(path)
        return path in self._files or path in self._dirs


def _parents(path: str) -> Iterable[str]:
    parent = posixpath.dirname(path)
    while parent != "/":
        yield parent
        parent = posixpath.dirname(parent)
