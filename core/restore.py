"""Restore a verified backup: put every file back at its path under a root, with its mode.

This is also how a server's certificates move to a new machine: back up on the old one,
copy the archive, restore on the new one (``certdeck restore FILE``).

A restore is planned first (:func:`plan_backup_restore`) and shows, for every file of the
backup, what will happen to it:

- ``write``: nothing is there yet; the file is written (atomically, with its mode, owner and
  modification time), missing folders are created (mode 0755);
- ``link``: the symbolic link is created;
- ``in place``: the same content is already there with the same mode and owner;
- ``fix mode``: the same content is there, but its mode or owner differ: they are set;
- ``replace``: a *different* file (or link) is there.  It is replaced only when the restore is
  told so (``--replace``, or the confirmation of the wizard), and then the current file goes
  to the quarantine first, where ``certdeck quarantine restore`` (or ``u``) brings it back;
- ``skip``: left alone, with the reason (a folder is in the way, a distribution file …).

Owners are matched by name: on another machine ``www-data`` may have another number, so the
names recorded in the backup are looked up in the root's ``/etc/passwd`` and ``/etc/group``,
and the recorded numbers are used only for names that do not exist there.  Only root can give
files to other users; the plan says so when it runs as someone else.

Every write is atomic and every replaced file is in the quarantine before it is replaced, so
an interrupted restore leaves each file either as it was or as it is in the backup.  Right
before a file changes, it is looked at again: a file that changed since the preview is left
alone and reported.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import posixpath
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Literal

from core import __version__
from core.backup import BackedUpFile, BackupContents
from core.errors import UsageError
from core.fsutil import _fsync_folder, atomic_write, free_name
from core.machine import host_name, is_root
from core.quarantine import (
    EntryWriter,
    QuarantineEntry,
    QuarantineError,
    _current_digest,
    replace_file,
)
from core.rootfs import RootFS, SymlinkLoop, printable_path
from core.text import visible

__all__ = [
    "BackupRestorePlan",
    "BackupRestoreResult",
    "RestoreStep",
    "StepAction",
    "plan_backup_restore",
    "restore_backup",
]

StepAction = Literal["write", "link", "in place", "fix mode", "replace", "skip"]
_FOLDER_MODE = 0o755
_ANCHOR_FOLDERS = {
    "/usr/local/share/ca-certificates/": "update-ca-certificates",
    "/etc/pki/ca-trust/source/anchors/": "update-ca-trust",
    "/etc/pki/trust/anchors/": "update-ca-certificates",
}
"""Local anchor folders, and the command that builds the trust store from them."""


@dataclass(frozen=True, slots=True)
class RestoreStep:
    """What restoring one file of the backup does, as planned."""

    file: BackedUpFile = field(repr=False)
    action: StepAction
    target: str
    """The machine path that will be written (links in its folders resolved under the root),
    printable."""
    raw_target: str = ""
    """The same path as the file system spells it."""
    reason: str = ""
    """Why it is skipped, or what differs."""
    current: str | None = None
    """The SHA-256 of what is at the target now (of the link's text for a link)."""
    uid: int = -1
    gid: int = -1
    folders: tuple[str, ...] = ()
    """Folders that do not exist yet and will be created (machine paths, outermost first)."""

    @property
    def changes(self) -> bool:
        """Whether this step changes anything on disk (when carried out)."""
        return self.action not in ("in place", "skip")

    def describe(self) -> str:
        """One line, safe for a terminal."""
        path = visible(self.target)
        mode = f"{self.file.mode:04o}"
        owner = visible(f"{self.file.owner}:{self.file.group}")
        if self.action == "write":
            what = f"write ({mode}, {owner})"
            if self.file.kind == "file" and not self.file.exact:
                what += "; same keys, re-encoded"
        elif self.action == "link":
            what = f"link to {visible(self.file.link_target or '')}"
        elif self.action == "in place":
            what = "already in place"
        elif self.action == "fix mode":
            what = f"same content; set {visible(self.reason)}"
        elif self.action == "replace":
            what = (
                f"DIFFERS: replace ({visible(self.reason)}); the current one goes to the quarantine"
            )
        else:
            what = f"skipped: {visible(self.reason)}"
        return f"{path}: {what}"


@dataclass(frozen=True, slots=True)
class BackupRestorePlan:
    """What restoring a backup under a root will do, before anything changes."""

    contents: BackupContents = field(repr=False)
    root: RootFS = field(repr=False)
    steps: tuple[RestoreStep, ...]
    warnings: tuple[str, ...] = ()
    settings_target: Path | None = None
    """Where certdeck's settings from the backup go (``None``: not restored)."""
    settings_action: Literal["write", "in place", "aside", "none"] = "none"

    def count(self, action: StepAction) -> int:
        """How many files get this action."""
        return sum(s.action == action for s in self.steps)

    @property
    def replacements(self) -> tuple[RestoreStep, ...]:
        """The differing files that need a confirmation."""
        return tuple(s for s in self.steps if s.action == "replace")

    @property
    def writes(self) -> tuple[RestoreStep, ...]:
        """The files that change without needing a confirmation."""
        return tuple(s for s in self.steps if s.changes and s.action != "replace")

    def describe(self) -> list[str]:
        """The preview as lines of text, safe for a terminal."""
        contents = self.contents
        files = [s for s in self.steps if s.file.kind == "file"]
        lines = [
            f"Restore {visible(str(contents.path))}: a backup of {visible(contents.host)} from "
            f"{contents.created:%Y-%m-%d %H:%M:%SZ} ({len(files)} files, "
            f"{len(self.steps) - len(files)} links, {contents.keys} private keys), "
            f"into the root {visible(self.root.root)}:",
        ]
        summary = [
            (self.count("write") + self.count("link"), "to write"),
            (self.count("fix mode"), "to fix the mode or owner of"),
            (self.count("replace"), "differing (replaced only when confirmed)"),
            (self.count("in place"), "already in place"),
            (self.count("skip"), "skipped"),
        ]
        lines.append("  " + "; ".join(f"{n} {what}" for n, what in summary if n))
        folders = {f for s in self.steps for f in s.folders}
        # The innermost folders say it all: their parents are created on the way.
        inner = sorted(f for f in folders if not any(o.startswith(f + "/") for o in folders))
        if inner:
            made = ", ".join(map(visible, inner))
            lines.append(f"  new folders (mode {_FOLDER_MODE:04o}, with their parents): {made}")
        lines += ["  " + s.describe() for s in self.steps]
        if self.settings_target is not None:
            where = visible(str(self.settings_target))
            lines.append(
                {
                    "write": f"  certdeck settings: write {where}",
                    "in place": f"  certdeck settings: {where} is already the same",
                    "aside": f"  certdeck settings: {where} differs and is kept; the backup's "
                    "settings are written next to it (.restored)",
                    "none": "  certdeck settings: the backup holds none",
                }[self.settings_action]
            )
        lines += [f"warning: {visible(w)}" for w in self.warnings]
        return lines


@dataclass(frozen=True, slots=True)
class BackupRestoreResult:
    """What a restore did."""

    plan: BackupRestorePlan = field(repr=False)
    written: tuple[str, ...]
    replaced: tuple[str, ...]
    fixed: tuple[str, ...]
    in_place: int
    left: tuple[tuple[str, str], ...]
    """Files not restored, with the reason (differing ones not confirmed, errors …)."""
    folders: tuple[str, ...] = ()
    quarantine: QuarantineEntry | None = None
    settings_written: str | None = None

    @property
    def complete(self) -> bool:
        """Every file of the backup (apart from the planned skips) is in place now."""
        return not self.left

    def describe(self) -> list[str]:
        """The summary as lines of text, safe for a terminal."""
        lines = [
            f"Restored {len(self.written)} file(s), replaced {len(self.replaced)}, fixed the "
            f"mode or owner of {len(self.fixed)}; {self.in_place} already in place."
        ]
        lines += [f"  wrote {visible(p)}" for p in self.written]
        lines += [f"  replaced {visible(p)}" for p in self.replaced]
        lines += [f"  set mode/owner of {visible(p)}" for p in self.fixed]
        lines += [f"  created folder {visible(p)}" for p in self.folders]
        if self.quarantine is not None:
            lines.append(
                f"The replaced files are in the quarantine entry {self.quarantine.id} "
                f"({visible(str(self.quarantine.folder))}); certdeck quarantine restore "
                f"{self.quarantine.id} puts them back."
            )
        if self.settings_written:
            lines.append(f"  certdeck settings written to {visible(self.settings_written)}")
        if self.left:
            lines.append(f"{len(self.left)} file(s) were not restored:")
            lines += [f"  {visible(p)}: {visible(why)}" for p, why in self.left]
        return lines


# Owners ------------------------------------------------------------------------------------------


def _id_table(root: RootFS, name: str) -> dict[str, int]:
    """Names to numbers from the root's ``/etc/passwd`` or ``/etc/group``."""
    table: dict[str, int] = {}
    with contextlib.suppress(OSError), open(root.host(f"/etc/{name}"), "rb") as handle:
        for raw in handle.read(4 * 1024 * 1024).splitlines():
            fields = raw.decode("utf-8", "replace").split(":")
            if len(fields) >= 3 and fields[2].isdigit():
                table.setdefault(fields[0], int(fields[2]))
    return table


@dataclass(frozen=True, slots=True)
class _Owners:
    users: dict[str, int]
    groups: dict[str, int]

    @classmethod
    def of(cls, root: RootFS) -> _Owners:
        return cls(_id_table(root, "passwd"), _id_table(root, "group"))

    def ids(self, file: BackedUpFile) -> tuple[int, int]:
        """The owner's numbers on this machine (by name; the recorded number otherwise)."""
        return self.users.get(file.owner, file.uid), self.groups.get(file.group, file.gid)


# Planning ----------------------------------------------------------------------------------------


class _Blocked(Exception):
    """The target's folder cannot be used (the message says why)."""


def _place(root: RootFS, raw_path: str) -> tuple[str, tuple[str, ...]]:
    """The target machine path (links in its folders resolved under the root) and the folders
    that are missing on the way, outermost first."""
    path = posixpath.normpath("/" + raw_path)
    parent, name = posixpath.split(path)
    if not name:
        raise _Blocked("not a file path")
    resolved = "/"
    parts = [p for p in parent.split("/") if p]
    for number, part in enumerate(parts):
        candidate = posixpath.join(resolved, part)
        try:
            st = os.lstat(root.host(candidate))
        except FileNotFoundError:
            missing = [candidate]
            for rest in parts[number + 1 :]:
                missing.append(posixpath.join(missing[-1], rest))
            return posixpath.join(missing[-1], name), tuple(missing)
        except OSError as exc:
            raise _Blocked(f"the folder {candidate} cannot be read: {exc.strerror}") from None
        if stat.S_ISLNK(st.st_mode):
            try:
                candidate = root.resolve(candidate)
            except (FileNotFoundError, SymlinkLoop):
                raise _Blocked(f"{candidate} is a link to a folder that does not exist") from None
            if not os.path.isdir(root.host(candidate)):
                raise _Blocked(f"{candidate} is not a folder")
        elif not stat.S_ISDIR(st.st_mode):
            raise _Blocked(f"{candidate} is in the way: it is a file, not a folder")
        resolved = candidate
    return posixpath.join(resolved, name), ()


def _mode_reason(st: os.stat_result, file: BackedUpFile, uid: int, gid: int) -> str:
    differences = []
    if stat.S_IMODE(st.st_mode) != file.mode:
        differences.append(f"mode {stat.S_IMODE(st.st_mode):04o} → {file.mode:04o}")
    if (st.st_uid, st.st_gid) != (uid, gid):
        differences.append(f"owner {st.st_uid}:{st.st_gid} → {file.owner}:{file.group}")
    return ", ".join(differences)


def _plan_step(
    file: BackedUpFile, root: RootFS, owners: _Owners, *, include_distribution: bool
) -> RestoreStep:
    uid, gid = owners.ids(file)
    shown = printable_path(file.raw_path)
    if file.distribution and not include_distribution:
        return RestoreStep(
            file,
            "skip",
            shown,
            file.raw_path,
            "managed by the distribution (its packages and update-ca-certificates rebuild "
            "it); --include-distribution restores it",
        )
    try:
        target, folders = _place(root, file.raw_path)
    except _Blocked as exc:
        return RestoreStep(file, "skip", shown, file.raw_path, str(exc))
    step = RestoreStep(
        file, "skip", printable_path(target), target, uid=uid, gid=gid, folders=folders
    )
    host = root.host(target)
    kind, digest = _current_digest(Path(host))
    if file.kind == "symlink":
        wanted = hashlib.sha256(os.fsencode(file.link_target or "")).hexdigest()
        if kind == "missing":
            return replace(step, action="link")
        if kind == "symlink" and digest == wanted:
            return replace(step, action="in place")
        if kind == "symlink":
            return replace(step, action="replace", current=digest, reason="a link to elsewhere")
        if kind == "file":
            return replace(step, action="replace", current=digest, reason="a file, not a link")
        return replace(step, reason="a folder or special file is in the way")
    data = file.data or b""
    wanted_digests = {file.sha256, hashlib.sha256(data).hexdigest()}
    if kind == "missing":
        return replace(step, action="write")
    if kind == "symlink":
        return replace(step, action="replace", current=digest, reason="a link, not a file")
    if kind != "file":
        return replace(step, reason="a folder or special file is in the way")
    if digest not in wanted_digests:
        return replace(step, action="replace", current=digest, reason="different content")
    st = os.lstat(host)
    reason = _mode_reason(st, file, uid, gid)
    if not reason:
        return replace(step, action="in place", current=digest)
    return replace(step, action="fix mode", current=digest, reason=reason)


def plan_backup_restore(
    contents: BackupContents,
    *,
    root: RootFS,
    include_distribution: bool = False,
    settings_target: Path | None = None,
    euid: int | None = None,
) -> BackupRestorePlan:
    """Plan the restore of a verified backup (from :func:`core.backup.read_backup`) under
    ``root``; ``settings_target`` also restores certdeck's settings to that file."""
    owners = _Owners.of(root)
    steps = tuple(
        _plan_step(f, root, owners, include_distribution=include_distribution)
        for f in contents.files
    )
    warnings: list[str] = []
    me = os.geteuid() if euid is None else euid
    if not is_root(euid) and any(s.changes and s.uid != me for s in steps):
        warnings.append(
            "not running as root: restored files will belong to you, not to their recorded owners"
        )
    anchors = sorted(
        {
            command
            for s in steps
            if s.changes
            for prefix, command in _ANCHOR_FOLDERS.items()
            if s.target.startswith(prefix)
        }
    )
    for command in anchors:
        warnings.append(
            f"local trust anchors are restored: run {command} afterwards so that the system "
            "trust store includes them"
        )
    if contents.host != host_name(root):
        warnings.append(
            f"the backup comes from {contents.host}; this is {host_name(root)} (a server move)"
        )
    settings_action: Literal["write", "in place", "aside", "none"] = "none"
    if settings_target is not None and contents.settings is not None:
        try:
            current = settings_target.read_bytes()
        except FileNotFoundError:
            settings_action = "write"
        except OSError as exc:
            raise UsageError(
                f"cannot read {visible(str(settings_target))}: {exc.strerror or exc}"
            ) from None
        else:
            settings_action = "in place" if current == contents.settings else "aside"
    return BackupRestorePlan(
        contents,
        root,
        steps,
        tuple(warnings),
        settings_target if contents.settings is not None else None,
        settings_action,
    )


# Restoring ---------------------------------------------------------------------------------------


def _make_folders(root: RootFS, folders: Sequence[str]) -> list[str]:
    made = []
    for folder in folders:
        host = root.host(folder)
        try:
            os.mkdir(host, _FOLDER_MODE)
        except FileExistsError:
            if not os.path.isdir(host):
                raise
            continue
        os.chmod(host, _FOLDER_MODE)
        _fsync_folder(Path(host).parent)
        made.append(folder)
    return made


def _set_mode(host: str, file: BackedUpFile, uid: int, gid: int) -> None:
    fd = os.open(host, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    try:
        with contextlib.suppress(PermissionError):
            os.fchown(fd, uid, gid)
        # chown clears set-id bits: the mode is set afterwards.
        os.fchmod(fd, file.mode)
        os.fsync(fd)
    finally:
        os.close(fd)


class _Run:
    """One restore in progress."""

    def __init__(
        self, plan: BackupRestorePlan, *, quarantine: Path, now: datetime, replace_files: bool
    ) -> None:
        self.plan = plan
        self.root = plan.root
        self.quarantine = quarantine
        self.now = now
        self.replace_files = replace_files
        self.writer: EntryWriter | None = None
        self.written: list[str] = []
        self.replaced: list[str] = []
        self.fixed: list[str] = []
        self.folders: list[str] = []
        self.left: list[tuple[str, str]] = []
        self.in_place = 0
        self.owners = _Owners.of(plan.root)

    def entry(self) -> EntryWriter:
        if self.writer is None:
            contents = self.plan.contents
            self.writer = EntryWriter(
                self.quarantine,
                root=self.root,
                now=self.now,
                reason=f"replaced by the restore of {contents.path.name}",
                host=host_name(self.root),
                version=__version__,
            )
        return self.writer

    def put(self, step: RestoreStep) -> None:
        file, host = step.file, self.root.host(step.raw_target)
        self.folders += _make_folders(self.root, step.folders)
        if file.kind == "symlink":
            os.symlink(file.link_target or "", host)
            _fsync_folder(Path(host).parent)
        else:
            replace_file(
                Path(host),
                file.data or b"",
                mode=file.mode,
                uid=step.uid,
                gid=step.gid,
                mtime_ns=file.mtime_ns,
                overwrite=False,
            )

    def carry_out(self, planned: RestoreStep) -> None:
        # Planned a moment ago: look again right before changing anything.
        step = _plan_step(planned.file, self.root, self.owners, include_distribution=True)
        if planned.action == "skip":
            return
        if step.action != planned.action or step.current != planned.current:
            if step.action == "in place":
                self.in_place += 1
            else:
                self.left.append((planned.target, "it changed since the preview; left as it is"))
            return
        if step.action == "in place":
            self.in_place += 1
        elif step.action in ("write", "link"):
            self.put(step)
            self.written.append(step.target)
        elif step.action == "fix mode":
            _set_mode(self.root.host(step.raw_target), step.file, step.uid, step.gid)
            self.fixed.append(step.target)
        elif step.action == "replace":
            if not self.replace_files:
                self.left.append((step.target, f"differs ({step.reason}); not confirmed"))
                return
            self.swap(step)
            self.replaced.append(step.target)

    def swap(self, step: RestoreStep) -> None:
        """Replace a differing file: the current one goes to the quarantine first."""
        writer = self.entry()
        file = step.file
        raw = step.raw_target
        reason = f"replaced by the restore of {self.plan.contents.path.name}"
        host = self.root.host(raw)
        if file.kind == "file" and not os.path.islink(host):
            writer.rewrite(
                raw,
                file.data or b"",
                reason=reason,
                expected_sha256=step.current or "",
                certificates=file.certificates,
                private_key=file.keys > 0,
                mode=file.mode,
                owner=(step.uid, step.gid),
                mtime_ns=file.mtime_ns,
            )
        else:
            writer.move(raw, reason=reason, expected_sha256=step.current or "")
            self.put(replace(step, folders=()))

    def settings(self) -> str | None:
        plan = self.plan
        target, data = plan.settings_target, plan.contents.settings
        if target is None or data is None or plan.settings_action in ("in place", "none"):
            return None
        if plan.settings_action == "aside":
            target = free_name(target.with_name(target.name + ".restored"))
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(target, data, mode=0o600, overwrite=False)
        return str(target)


def restore_backup(
    plan: BackupRestorePlan,
    *,
    quarantine: Path,
    now: datetime,
    replace_files: bool = False,
    cancelled: Callable[[], bool] | None = None,
) -> BackupRestoreResult:
    """Carry out a restore plan.

    Differing files are replaced only with ``replace_files`` (the current ones go to a new
    quarantine entry in ``quarantine`` first); otherwise they are left and reported.  A file
    that changed since the plan, or that the file system refuses, is left and reported; the
    others go on.  ``cancelled`` is asked between files: what is written stays, and the rest
    is reported as not restored.
    """
    run = _Run(plan, quarantine=quarantine, now=now, replace_files=replace_files)
    stopped = False
    for step in plan.steps:
        if step.action == "skip":
            continue
        if stopped or (cancelled is not None and cancelled()):
            stopped = True
            run.left.append((step.target, "cancelled before it was restored"))
            continue
        try:
            run.carry_out(step)
        except (OSError, QuarantineError) as exc:
            why = exc.message if isinstance(exc, QuarantineError) else (exc.strerror or str(exc))
            run.left.append((step.target, why))
    settings_written = None
    try:
        settings_written = run.settings()
    except OSError as exc:
        run.left.append((str(plan.settings_target), exc.strerror or str(exc)))
    entry = run.writer.finish() if run.writer is not None else None
    return BackupRestoreResult(
        plan,
        tuple(run.written),
        tuple(run.replaced),
        tuple(run.fixed),
        run.in_place,
        tuple(run.left),
        tuple(run.folders),
        entry,
        settings_written,
    )
