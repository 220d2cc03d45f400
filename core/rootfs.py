"""Machine paths resolved under a root folder.

Every path the core touches is a *machine path* (absolute, as seen on the server) resolved
under a root (``/`` normally, a fake server tree for ``--root``).  Symbolic links are followed
the way a ``chroot`` would: an absolute target starts again at the root and ``..`` never climbs
above it, so nothing reached through a link can escape the root.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat

__all__ = ["MAX_SYMLINKS", "RootFS", "SymlinkLoop", "printable_path"]

MAX_SYMLINKS = 40
"""Links followed while resolving one path before giving up (Linux's own limit)."""


class SymlinkLoop(OSError):
    """Too many symbolic links while resolving a path."""

    def __init__(self, path: str) -> None:
        super().__init__(errno.ELOOP, "symbolic link loop", path)


def printable_path(path: str) -> str:
    """A file name as text: bytes that are not UTF-8 appear as ``\\xNN``."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return path


class RootFS:
    """Resolve machine paths under a root folder."""

    def __init__(self, root: str | os.PathLike[str] = "/") -> None:
        self.root = os.path.abspath(os.fspath(root))
        self._prefix = "" if self.root == "/" else self.root

    def host(self, machine_path: str) -> str:
        """The host path of a machine path, without following links."""
        return self._prefix + posixpath.normpath("/" + machine_path).replace("//", "/")

    def machine(self, host_path: str) -> str:
        """The machine path of a host path inside the root."""
        if not self._prefix:
            return host_path
        rel = host_path[len(self._prefix) :]
        return rel or "/"

    def resolve(self, machine_path: str) -> str:
        """Resolve every symbolic link of a machine path under the root.

        Returns the machine path of the final target (which may not exist when only the last
        component is missing).

        Raises:
            SymlinkLoop: more than :data:`MAX_SYMLINKS` links were followed.
            FileNotFoundError: a folder on the way does not exist.
        """
        pending = [p for p in machine_path.split("/") if p][::-1]
        parts: list[str] = []
        hops = 0
        while pending:
            name = pending.pop()
            if name == ".":
                continue
            if name == "..":
                if parts:
                    parts.pop()
                continue
            candidate = self._prefix + "/" + "/".join([*parts, name])
            try:
                st = os.lstat(candidate)
            except FileNotFoundError:
                if pending:
                    raise
                parts.append(name)
                break
            if stat.S_ISLNK(st.st_mode):
                hops += 1
                if hops > MAX_SYMLINKS:
                    raise SymlinkLoop(machine_path)
                target = os.readlink(candidate)
                if target.startswith("/"):
                    parts = []
                pending.extend([p for p in target.split("/") if p][::-1])
            else:
                parts.append(name)
        return "/" + "/".join(parts)

    def exists(self, machine_path: str) -> bool:
        """Whether the path exists, following links under the root."""
        try:
            return os.path.exists(self.host(self.resolve(machine_path)))
        except OSError:
            return False
