"""Facts about the machine under the root that several file operations record.

The host name comes from the root's ``/etc/hostname`` (so a copy of a server's files names
that server), owners are shown by name where the names are known, and certdeck's own state
(the quarantine, the record of the last backup) lives in ``/var/lib/certdeck`` under the root
when running as root, in the user's data or state folder otherwise.
"""

from __future__ import annotations

import grp
import os
import pwd
import socket
from pathlib import Path

import platformdirs

from core.rootfs import RootFS

__all__ = [
    "SYSTEM_STATE_DIRECTORY",
    "group_name",
    "host_name",
    "is_root",
    "owner_name",
    "state_directory",
]

SYSTEM_STATE_DIRECTORY = "/var/lib/certdeck"
"""certdeck's state on the machine (as root): the quarantine and the last backup's record."""

_MAX_HOSTNAME = 253


def is_root(euid: int | None = None) -> bool:
    """Whether certdeck runs with root rights (``euid`` overrides the process's own)."""
    return (os.geteuid() if euid is None else euid) == 0


def host_name(root: RootFS) -> str:
    """The machine's host name: ``/etc/hostname`` under the root, else this host's name.

    Under a root other than ``/`` without ``/etc/hostname``, the root folder's name stands in:
    the files are a copy of another machine, not this one.
    """
    try:
        with open(root.host("/etc/hostname"), "rb") as handle:
            text = handle.read(_MAX_HOSTNAME + 1).decode("utf-8", "replace")
    except OSError:
        text = ""
    for line in text.splitlines():
        name = line.split("#", 1)[0].strip()
        if name:
            return name[:_MAX_HOSTNAME]
    if root.root == "/":
        return socket.gethostname() or "localhost"
    return os.path.basename(root.root) or "localhost"


def owner_name(uid: int) -> str:
    """The user name of ``uid``, or the number as text when the name is unknown."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def group_name(gid: int) -> str:
    """The group name of ``gid``, or the number as text when the name is unknown."""
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def state_directory(root: RootFS, *, euid: int | None = None) -> Path:
    """Where certdeck keeps its state on this host.

    ``/var/lib/certdeck`` under the root as root, else the user's state folder (which is the
    same for every ``--root``: records kept there carry the root they belong to).
    """
    if is_root(euid):
        return Path(root.host(SYSTEM_STATE_DIRECTORY))
    return platformdirs.user_state_path("certdeck")
