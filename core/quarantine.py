"""The quarantine: where clean-ups put files instead of deleting them, and how they come back.

Each clean-up is one *entry*: a folder named after its time (``20261127-120000``) with a
``manifest.json`` and a ``files/`` folder.  The manifest records, for every file, its machine
path, mode, owner, SHA-256, the time and the reason, and how it was changed:

- ``moved``: the whole file (or symbolic link) was moved into ``files/``;
- ``rewritten``: the file was rewritten without some certificates; its original is kept in
  ``files/`` and the manifest also records the SHA-256 of the rewritten file.

Restoring puts each file back exactly (bytes, mode, owner, modification time), but never over
a file that changed since: a moved file's path must still be free, a rewritten file must still
be the one certdeck wrote.  Otherwise the file is left alone, the quarantined copy stays, and
the restore says so.  Undo is the restore of the newest clean-up that is not restored yet.

Order of work, so that a crash at any point loses nothing: the manifest is written before the
first file moves; a file is moved by ``rename`` (or copied, synced and only then removed on
another file system); a rewritten file's original is stored before the file is replaced
atomically.  A crashed clean-up leaves an ``incomplete`` entry that restores like any other.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import shutil
import stat
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import platformdirs

from core.errors import CertdeckError, UsageError
from core.fsutil import _create_temp, _fsync_folder, atomic_write, ensure_private_dir
from core.machine import SYSTEM_STATE_DIRECTORY, group_name, is_root, owner_name
from core.rootfs import RootFS, printable_path
from core.text import visible

__all__ = [
    "MANIFEST_NAME",
    "MANIFEST_VERSION",
    "EntryState",
    "ItemAction",
    "PurgePlan",
    "PurgeResult",
    "QuarantineEntry",
    "QuarantineError",
    "QuarantinedFile",
    "RestoreItem",
    "RestorePlan",
    "RestoreResult",
    "UnknownEntry",
    "default_quarantine_directory",
    "file_sha256",
    "list_entries",
    "load_entry",
    "plan_purge",
    "plan_restore",
    "plan_undo",
    "purge",
    "restore",
    "undo_last_cleanup",
]

MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1
_FILES = "files"
_ID = re.compile(r"\d{8}-\d{6}(?:-\d+)?")
_MAX_FILE = 64 * 1024 * 1024
"""Files larger than this are not certificate material; nothing certdeck moves is this big."""

EntryState = Literal["incomplete", "complete", "partly restored", "restored"]
ItemAction = Literal["moved", "rewritten"]


class QuarantineError(CertdeckError):
    """The quarantine cannot be used as asked."""

    title = "Quarantine"


class UnknownEntry(UsageError):
    """No quarantine entry has the given ID."""

    title = "Unknown quarantine entry"


def default_quarantine_directory(root: RootFS, *, euid: int | None = None) -> Path:
    """Where clean-ups put files: ``/var/lib/certdeck/quarantine`` under the root as root,
    ``quarantine`` in the user's data folder otherwise."""
    if is_root(euid):
        return Path(root.host(f"{SYSTEM_STATE_DIRECTORY}/quarantine"))
    return platformdirs.user_data_path("certdeck") / "quarantine"


def file_sha256(data: bytes) -> str:
    """The SHA-256 of some bytes, as lowercase hex."""
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True, slots=True)
class QuarantinedFile:
    """One file of a quarantine entry, as its manifest records it."""

    number: int
    path: str
    """Machine path, printable (undecodable bytes as ``\\xNN``)."""
    raw_path: str
    """Machine path as the operating system spells it (for file operations only)."""
    kind: Literal["file", "symlink"]
    action: ItemAction
    stored: str
    """Where the original is kept, relative to the entry folder."""
    mode: int
    uid: int
    gid: int
    owner: str
    group: str
    size: int
    sha256: str
    """SHA-256 of the original file (of the link's target text for a symbolic link)."""
    mtime_ns: int
    time: datetime
    reason: str
    new_sha256: str | None = None
    """For ``rewritten`` files: the SHA-256 of what certdeck wrote in its place."""
    link_target: str | None = None
    certificates: tuple[tuple[str, str], ...] = ()
    """(SHA-256, display name) of the certificates removed with this change."""
    private_key: bool = False
    """The file holds a private key."""
    restored: datetime | None = None

    def describe(self) -> str:
        """One line, safe for a terminal."""
        what = "link" if self.kind == "symlink" else "file"
        how = "rewritten; original kept" if self.action == "rewritten" else "moved"
        state = f", restored {_stamp(self.restored)}" if self.restored else ""
        return (
            f"{visible(self.path)}  ({what}, {how}, mode {self.mode:04o}, "
            f"{visible(self.owner)}:{visible(self.group)}{state})"
        )


@dataclass(frozen=True, slots=True)
class QuarantineEntry:
    """One clean-up in the quarantine."""

    id: str
    folder: Path
    created: datetime
    reason: str
    root: str
    """The ``--root`` (host path) the files belong to; ``/`` for this machine."""
    host: str
    state: EntryState
    items: tuple[QuarantinedFile, ...]
    certdeck_version: str = ""

    @property
    def restorable(self) -> tuple[QuarantinedFile, ...]:
        """The files not restored yet."""
        return tuple(i for i in self.items if i.restored is None)

    def size(self) -> int:
        """Bytes the entry takes in the quarantine (its files and manifest)."""
        total = 0
        for path in _walk_files(self.folder):
            with contextlib.suppress(OSError):
                total += os.lstat(path).st_size
        return total

    def describe(self, *, files: bool = False) -> list[str]:
        """A summary line (and one line per file), safe for a terminal."""
        count = len(self.items)
        where = "" if self.root == "/" else f", root {visible(self.root)}"
        lines = [
            f"{self.id}  {_stamp(self.created)}  {self.state}  "
            f"{count} file{'s' if count != 1 else ''}  {visible(self.reason)}{where}"
        ]
        if files:
            lines += ["    " + item.describe() for item in self.items]
        return lines


def _stamp(when: datetime | None) -> str:
    if when is None:
        return ""
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(text: object) -> datetime:
    if not isinstance(text, str):
        raise ValueError("time is not text")
    value = text[:-1] + "+00:00" if text.endswith("Z") else text
    when = datetime.fromisoformat(value)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when


# Manifest encoding ---------------------------------------------------------------------------


def _raw_to_json(raw: str) -> dict[str, str]:
    shown = printable_path(raw)
    if shown == raw:
        return {"path": raw}
    return {"path": shown, "path_hex": os.fsencode(raw).hex()}


def _item_json(item: QuarantinedFile) -> dict[str, Any]:
    data: dict[str, Any] = {"number": item.number, **_raw_to_json(item.raw_path)}
    data.update(
        kind=item.kind,
        action=item.action,
        stored=item.stored,
        mode=f"{item.mode:04o}",
        uid=item.uid,
        gid=item.gid,
        owner=item.owner,
        group=item.group,
        size=item.size,
        sha256=item.sha256,
        mtime_ns=item.mtime_ns,
        time=_iso(item.time),
        reason=item.reason,
        new_sha256=item.new_sha256,
        link_target=item.link_target,
        certificates=[{"sha256": sha, "name": name} for sha, name in item.certificates],
        private_key=item.private_key,
        restored=_iso(item.restored) if item.restored else None,
    )
    return data


def _item_from(data: dict[str, Any]) -> QuarantinedFile:
    raw = os.fsdecode(bytes.fromhex(data["path_hex"])) if data.get("path_hex") else data["path"]
    kind = data["kind"]
    action = data["action"]
    if kind not in ("file", "symlink") or action not in ("moved", "rewritten"):
        raise ValueError("unknown kind or action")
    stored = str(data["stored"])
    if stored.startswith("/") or ".." in stored.split("/"):
        raise ValueError("stored path leaves the entry")
    return QuarantinedFile(
        number=int(data["number"]),
        path=str(data["path"]),
        raw_path=str(raw),
        kind=kind,
        action=action,
        stored=stored,
        mode=int(data["mode"], 8),
        uid=int(data["uid"]),
        gid=int(data["gid"]),
        owner=str(data["owner"]),
        group=str(data["group"]),
        size=int(data["size"]),
        sha256=str(data["sha256"]),
        mtime_ns=int(data["mtime_ns"]),
        time=_parse_time(data["time"]),
        reason=str(data["reason"]),
        new_sha256=data.get("new_sha256"),
        link_target=data.get("link_target"),
        certificates=tuple((str(c["sha256"]), str(c["name"])) for c in data["certificates"]),
        private_key=bool(data.get("private_key", False)),
        restored=_parse_time(data["restored"]) if data.get("restored") else None,
    )


def _entry_json(entry: QuarantineEntry) -> bytes:
    doc = {
        "version": MANIFEST_VERSION,
        "id": entry.id,
        "created": _iso(entry.created),
        "reason": entry.reason,
        "root": entry.root,
        "host": entry.host,
        "certdeck_version": entry.certdeck_version,
        "state": entry.state,
        "items": [_item_json(i) for i in entry.items],
    }
    return (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _write_manifest(entry: QuarantineEntry) -> None:
    atomic_write(entry.folder / MANIFEST_NAME, _entry_json(entry), mode=0o600, overwrite=True)


def load_entry(folder: Path) -> QuarantineEntry:
    """Read one entry's manifest.

    Raises:
        QuarantineError: the manifest is missing or damaged.
    """
    try:
        doc = json.loads((folder / MANIFEST_NAME).read_bytes())
        if doc.get("version") != MANIFEST_VERSION:
            raise ValueError(f"unknown manifest version {doc.get('version')!r}")
        state = doc["state"]
        if state not in ("incomplete", "complete", "partly restored", "restored"):
            raise ValueError(f"unknown state {state!r}")
        return QuarantineEntry(
            id=str(doc["id"]),
            folder=folder,
            created=_parse_time(doc["created"]),
            reason=str(doc["reason"]),
            root=str(doc["root"]),
            host=str(doc["host"]),
            state=state,
            items=tuple(_item_from(i) for i in doc["items"]),
            certdeck_version=str(doc.get("certdeck_version", "")),
        )
    except FileNotFoundError:
        raise QuarantineError(f"{visible(str(folder))} has no {MANIFEST_NAME}") from None
    except OSError as exc:
        raise QuarantineError(
            f"cannot read {visible(str(folder / MANIFEST_NAME))}: {exc.strerror or exc}"
        ) from None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise QuarantineError(
            f"the manifest {visible(str(folder / MANIFEST_NAME))} is damaged: {exc}"
        ) from None


def list_entries(
    directory: Path, *, root: RootFS | None = None
) -> tuple[tuple[QuarantineEntry, ...], tuple[str, ...]]:
    """Every entry in the quarantine, newest first, and the problems met reading it.

    Args:
        directory: The quarantine folder (missing: no entries).
        root: Only entries of this root; ``None`` for all of them.
    """
    try:
        names = sorted(os.listdir(directory), reverse=True)
    except FileNotFoundError:
        return (), ()
    except OSError as exc:
        return (), (f"cannot list {visible(str(directory))}: {exc.strerror or exc}",)
    entries: list[QuarantineEntry] = []
    problems: list[str] = []
    for name in names:
        if not _ID.fullmatch(name):
            continue
        try:
            entry = load_entry(directory / name)
        except QuarantineError as exc:
            problems.append(exc.message)
            continue
        if root is None or entry.root == root.root:
            entries.append(entry)
    entries.sort(key=lambda e: (e.created, e.id), reverse=True)
    return tuple(entries), tuple(problems)


def _find(directory: Path, entry_id: str, root: RootFS) -> QuarantineEntry:
    wanted = entry_id.strip()
    entries, _ = list_entries(directory)
    if wanted == "last":
        mine = [e for e in entries if e.root == root.root and e.restorable]
        if not mine:
            raise UnknownEntry("there is no clean-up to undo: the quarantine holds nothing left")
        return mine[0]
    if not _ID.fullmatch(wanted):
        raise UnknownEntry(
            f"{visible(wanted)!r} is not a quarantine ID (like 20261127-120000); "
            "see certdeck quarantine list"
        )
    for entry in entries:
        if entry.id == wanted:
            if entry.root != root.root:
                raise QuarantineError(
                    f"the entry {wanted} holds files of the root {visible(entry.root)}; "
                    f"restore it with --root {visible(entry.root)}"
                )
            return entry
    raise UnknownEntry(f"the quarantine has no entry {wanted}; see certdeck quarantine list")


# Writing entries (used by the clean-up) -------------------------------------------------------


class EntryWriter:
    """Creates one entry and moves or rewrites files into it, recording each in its manifest.

    The manifest is rewritten (atomically) after every change, so an interrupted clean-up
    leaves an entry that says what happened so far.
    """

    def __init__(
        self,
        directory: Path,
        *,
        root: RootFS,
        now: datetime,
        reason: str,
        host: str,
        version: str,
    ) -> None:
        ensure_private_dir(directory)
        base = now.astimezone(UTC).strftime("%Y%m%d-%H%M%S")
        number = 1
        while True:
            name = base if number == 1 else f"{base}-{number}"
            folder = directory / name
            try:
                os.mkdir(folder, 0o700)
                break
            except FileExistsError:
                number += 1
        os.chmod(folder, 0o700)
        os.mkdir(folder / _FILES, 0o700)
        os.chmod(folder / _FILES, 0o700)
        self.root = root
        self.now = now
        self.entry = QuarantineEntry(
            id=name,
            folder=folder,
            created=now,
            reason=reason,
            root=root.root,
            host=host,
            state="incomplete",
            items=(),
            certdeck_version=version,
        )
        _write_manifest(self.entry)

    def _stored_name(self, raw_path: str) -> str:
        base = os.path.basename(raw_path) or "file"
        safe = re.sub(r"[^\w.@+=,-]", "_", printable_path(base))[:100] or "file"
        return f"{_FILES}/{len(self.entry.items) + 1:04d}-{safe}"

    def _add(self, item: QuarantinedFile) -> None:
        self.entry = replace(self.entry, items=(*self.entry.items, item))
        _write_manifest(self.entry)

    def move(
        self,
        raw_path: str,
        *,
        reason: str,
        expected_sha256: str,
        certificates: Sequence[tuple[str, str]] = (),
        private_key: bool = False,
    ) -> QuarantinedFile:
        """Move a file or symbolic link into the entry.

        Raises:
            QuarantineError: it changed since it was planned (SHA-256 differs); untouched.
            OSError: the file system refused; the file is where it was.
        """
        host = Path(self.root.host(raw_path))
        st = os.lstat(host)
        stored = self._stored_name(raw_path)
        target = self.entry.folder / stored
        link: str | None = None
        if stat.S_ISLNK(st.st_mode):
            link = os.readlink(host)
            digest = file_sha256(os.fsencode(link))
            kind: Literal["file", "symlink"] = "symlink"
        else:
            digest = file_sha256(_read(host))
            kind = "file"
        if digest != expected_sha256:
            raise QuarantineError(
                f"{visible(printable_path(raw_path))} changed since the preview; it was left "
                "as it is"
            )
        item = QuarantinedFile(
            number=len(self.entry.items) + 1,
            path=printable_path(raw_path),
            raw_path=raw_path,
            kind=kind,
            action="moved",
            stored=stored,
            mode=stat.S_IMODE(st.st_mode),
            uid=st.st_uid,
            gid=st.st_gid,
            owner=owner_name(st.st_uid),
            group=group_name(st.st_gid),
            size=st.st_size,
            sha256=digest,
            mtime_ns=st.st_mtime_ns,
            time=self.now,
            reason=reason,
            link_target=link,
            certificates=tuple(certificates),
            private_key=private_key,
        )
        # Recorded first: a crash after the move still finds the file in the manifest.
        self._add(item)
        if link is not None:
            os.symlink(link, target)
            _fsync_folder(target.parent)
            os.unlink(host)
            _fsync_folder(host.parent)
        else:
            _move_file(host, target, st)
        return item

    def rewrite(
        self,
        raw_path: str,
        new_data: bytes,
        *,
        reason: str,
        expected_sha256: str,
        certificates: Sequence[tuple[str, str]] = (),
        private_key: bool = False,
        mode: int | None = None,
        owner: tuple[int, int] | None = None,
        mtime_ns: int | None = None,
    ) -> QuarantinedFile:
        """Keep a copy of a file in the entry, then replace the file with ``new_data``.

        The new file keeps the old one's mode and owner unless ``mode`` and ``owner``
        (uid, gid) are given; it is written atomically, with them already set.

        Raises:
            QuarantineError: it changed since it was planned; untouched.
            OSError: the file system refused; the file is as it was.
        """
        host = Path(self.root.host(raw_path))
        st = os.stat(host, follow_symlinks=False)
        if not stat.S_ISREG(st.st_mode):
            raise QuarantineError(f"{visible(printable_path(raw_path))} is not a regular file")
        data = _read(host)
        digest = file_sha256(data)
        if digest != expected_sha256:
            raise QuarantineError(
                f"{visible(printable_path(raw_path))} changed since the preview; it was left "
                "as it is"
            )
        stored = self._stored_name(raw_path)
        target = self.entry.folder / stored
        _write_copy(target, data, st)
        item = QuarantinedFile(
            number=len(self.entry.items) + 1,
            path=printable_path(raw_path),
            raw_path=raw_path,
            kind="file",
            action="rewritten",
            stored=stored,
            mode=stat.S_IMODE(st.st_mode),
            uid=st.st_uid,
            gid=st.st_gid,
            owner=owner_name(st.st_uid),
            group=group_name(st.st_gid),
            size=st.st_size,
            sha256=digest,
            mtime_ns=st.st_mtime_ns,
            time=self.now,
            reason=reason,
            new_sha256=file_sha256(new_data),
            certificates=tuple(certificates),
            private_key=private_key,
        )
        self._add(item)
        uid, gid = owner if owner is not None else (st.st_uid, st.st_gid)
        replace_file(
            host,
            new_data,
            mode=stat.S_IMODE(st.st_mode) if mode is None else mode,
            uid=uid,
            gid=gid,
            mtime_ns=mtime_ns,
        )
        return item

    def finish(self) -> QuarantineEntry:
        """Mark the entry complete."""
        self.entry = replace(self.entry, state="complete")
        _write_manifest(self.entry)
        return self.entry

    def discard_if_empty(self) -> bool:
        """Remove the entry when every file went back (a rolled-back clean-up)."""
        entry = load_entry(self.entry.folder)
        if any(i.restored is None for i in entry.items):
            return False
        if any(True for _ in _walk_files(self.entry.folder / _FILES)):
            return False
        shutil.rmtree(self.entry.folder)
        return True


# Low-level file moves ----------------------------------------------------------------------


def _read(path: Path) -> bytes:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    try:
        info = os.fstat(fd)
        if info.st_size > _MAX_FILE:
            raise QuarantineError(f"{visible(str(path))} is too large to be certificate material")
        chunks = []
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _set_owner_and_time(fd: int, uid: int, gid: int, mtime_ns: int | None) -> None:
    # Only root can give a file to someone else; others keep what they can (their own files).
    with contextlib.suppress(PermissionError):
        os.fchown(fd, uid, gid)
    if mtime_ns is not None:
        os.utime(fd, ns=(mtime_ns, mtime_ns))


def replace_file(
    path: Path,
    data: bytes,
    *,
    mode: int,
    uid: int,
    gid: int,
    mtime_ns: int | None = None,
    overwrite: bool = True,
) -> None:
    """Write ``data`` to ``path`` atomically with this mode, owner and modification time.

    Like :func:`core.fsutil.atomic_write`, and the temporary file also gets the owner (and
    time) before it takes the name, so a service never sees the file with the wrong owner.

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is false.
    """
    folder = path.parent
    fd, temp = _create_temp(folder, path.name, mode)
    try:
        try:
            os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            _set_owner_and_time(fd, uid, gid, None)
            # chown clears set-id bits: set the mode again afterwards.
            os.fchmod(fd, mode)
            os.fsync(fd)
            if mtime_ns is not None:
                os.utime(fd, ns=(mtime_ns, mtime_ns))
        finally:
            os.close(fd)
        if overwrite:
            os.replace(temp, path)
        else:
            os.link(temp, path)
            temp.unlink()
        _fsync_folder(folder)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink(missing_ok=True)
        raise


def _write_copy(target: Path, data: bytes, st: os.stat_result) -> None:
    replace_file(
        target,
        data,
        mode=stat.S_IMODE(st.st_mode),
        uid=st.st_uid,
        gid=st.st_gid,
        mtime_ns=st.st_mtime_ns,
        overwrite=False,
    )


def _move_file(source: Path, target: Path, st: os.stat_result) -> None:
    """Move a regular file to a new name; across file systems: copy, sync, then remove."""
    try:
        os.link(source, target)
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EOPNOTSUPP, errno.EMLINK):
            raise
        data = _read(source)
        _write_copy(target, data, st)
        if file_sha256(_read(target)) != file_sha256(data):
            target.unlink()
            raise OSError(errno.EIO, "the copy differs from the original", str(target)) from None
    else:
        _fsync_folder(target.parent)
    source.unlink()
    _fsync_folder(source.parent)


def _walk_files(folder: Path) -> Iterator[Path]:
    for top, dirs, names in os.walk(folder):
        dirs.sort()
        for name in sorted(names):
            yield Path(top) / name


def _current_digest(path: Path) -> tuple[str, str | None]:
    """What is at a path now: ``("missing"|"file"|"symlink"|"other", sha256 or None)``."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return "missing", None
    except OSError:
        return "other", None
    if stat.S_ISLNK(st.st_mode):
        return "symlink", file_sha256(os.fsencode(os.readlink(path)))
    if stat.S_ISREG(st.st_mode):
        try:
            return "file", file_sha256(_read(path))
        except (OSError, QuarantineError):
            return "other", None
    return "other", None


# Restore ---------------------------------------------------------------------------------------


RestoreAction = Literal["move back", "put original back", "recreate link", "already in place"]


@dataclass(frozen=True, slots=True)
class RestoreItem:
    """What a restore does with one quarantined file, or why it leaves it."""

    item: QuarantinedFile
    action: RestoreAction | None
    """``None``: refused, see ``reason``."""
    reason: str = ""

    def describe(self) -> str:
        """One line, safe for a terminal."""
        if self.action is None:
            return f"{visible(self.item.path)}: left as it is: {visible(self.reason)}"
        note = f" ({visible(self.reason)})" if self.reason else ""
        return f"{visible(self.item.path)}: {self.action}{note}"


@dataclass(frozen=True, slots=True)
class RestorePlan:
    """What restoring one entry will do, before anything changes."""

    entry: QuarantineEntry
    items: tuple[RestoreItem, ...]
    root: RootFS = field(repr=False, compare=False)

    @property
    def actions(self) -> tuple[RestoreItem, ...]:
        """The files that will be restored."""
        return tuple(i for i in self.items if i.action not in (None, "already in place"))

    @property
    def refused(self) -> tuple[RestoreItem, ...]:
        """The files that stay in the quarantine, with the reason."""
        return tuple(i for i in self.items if i.action is None)

    def describe(self) -> list[str]:
        """The preview as lines of text, safe for a terminal."""
        count = len(self.actions)
        lines = [
            f"Restore {count} file{'s' if count != 1 else ''} from the quarantine entry "
            f"{self.entry.id} ({visible(self.entry.reason)}, {_stamp(self.entry.created)}):"
        ]
        lines += ["  " + i.describe() for i in self.items]
        return lines


@dataclass(frozen=True, slots=True)
class RestoreResult:
    """What a restore did."""

    entry: QuarantineEntry
    restored: tuple[QuarantinedFile, ...]
    refused: tuple[RestoreItem, ...]

    @property
    def complete(self) -> bool:
        """Every file of the entry is back."""
        return not self.refused

    def describe(self) -> list[str]:
        """The summary as lines of text, safe for a terminal."""
        count = len(self.restored)
        lines = [f"Restored {count} file{'s' if count != 1 else ''} from {self.entry.id}:"]
        lines += [f"  {visible(i.path)}" for i in self.restored]
        if self.refused:
            lines.append(
                f"{len(self.refused)} file(s) stay in the quarantine "
                f"({visible(str(self.entry.folder))}):"
            )
            lines += ["  " + r.describe() for r in self.refused]
        return lines


def plan_restore(directory: Path, entry_id: str, *, root: RootFS) -> RestorePlan:
    """Plan the restore of one entry (``"last"``: the newest one with files left).

    Raises:
        UnknownEntry: no such entry.
        QuarantineError: the entry belongs to another root, or its manifest is damaged.
    """
    entry = _find(directory, entry_id, root)
    items = tuple(_plan_item(entry, item, root) for item in entry.restorable)
    return RestorePlan(entry, items, root)


def plan_undo(directory: Path, *, root: RootFS) -> RestorePlan:
    """Plan the undo of the last clean-up: the restore of its entry."""
    return plan_restore(directory, "last", root=root)


def undo_last_cleanup(directory: Path, *, root: RootFS, now: datetime) -> RestoreResult:
    """Undo the last clean-up of this root in one call (:func:`plan_undo`, :func:`restore`).

    Raises:
        UnknownEntry: there is nothing to undo.
    """
    return restore(plan_undo(directory, root=root), now=now)


def _plan_item(entry: QuarantineEntry, item: QuarantinedFile, root: RootFS) -> RestoreItem:
    stored = entry.folder / item.stored
    here = Path(root.host(item.raw_path))
    kind, digest = _current_digest(here)
    have_copy = os.path.lexists(stored)
    if item.kind == "symlink":
        if kind == "symlink" and digest == item.sha256:
            return RestoreItem(item, "already in place")
        if kind != "missing":
            return RestoreItem(item, None, "something else is there now; it is not replaced")
        return RestoreItem(item, "recreate link", f"pointing to {item.link_target}")
    if item.action == "moved":
        if kind == "file" and digest == item.sha256:
            return RestoreItem(item, "already in place")
        if not have_copy:
            return RestoreItem(item, None, f"the quarantined copy {item.stored} is missing")
        if kind != "missing":
            return RestoreItem(
                item,
                None,
                "a different file is there now (created or changed since the clean-up); it is "
                "not overwritten",
            )
        if not here.parent.is_dir():
            return RestoreItem(item, "move back", "its folder is created again (mode 0700)")
        return RestoreItem(item, "move back")
    # Rewritten: the file must still be what certdeck wrote.
    if kind == "file" and digest == item.sha256:
        return RestoreItem(item, "already in place")
    if not have_copy:
        return RestoreItem(item, None, f"the quarantined original {item.stored} is missing")
    if kind == "missing":
        return RestoreItem(item, "put original back", "the rewritten file was removed since")
    if kind == "file" and digest == item.new_sha256:
        return RestoreItem(item, "put original back")
    return RestoreItem(
        item,
        None,
        "it changed since the clean-up (it is no longer the file certdeck wrote); it is not "
        "overwritten",
    )


def restore(plan: RestorePlan, *, now: datetime) -> RestoreResult:
    """Restore the planned files; files that changed since the plan are left and reported.

    Raises:
        QuarantineError: the manifest cannot be updated (the files already put back stay).
    """
    entry = load_entry(plan.entry.folder)
    by_number = {i.number: i for i in entry.items}
    done: list[QuarantinedFile] = []
    refused: list[RestoreItem] = list(plan.refused)
    for planned in plan.items:
        if planned.action is None:
            continue
        # Planned a moment ago; look again right before changing anything.
        fresh = _plan_item(entry, planned.item, plan.root)
        if fresh.action != planned.action:
            if fresh.action is None:
                refused.append(fresh)
                continue
            planned = fresh
        try:
            _restore_item(entry, planned, plan.root)
        except OSError as exc:
            refused.append(RestoreItem(planned.item, None, exc.strerror or str(exc)))
            continue
        back = replace(planned.item, restored=now)
        by_number[back.number] = back
        done.append(back)
        entry = replace(entry, items=tuple(by_number[n] for n in sorted(by_number)))
        _write_manifest(entry)
    left = [i for i in entry.items if i.restored is None]
    state: EntryState = "restored" if not left else "partly restored" if done else entry.state
    if state != entry.state:
        entry = replace(entry, state=state)
        _write_manifest(entry)
    return RestoreResult(entry, tuple(done), tuple(refused))


def _restore_item(entry: QuarantineEntry, planned: RestoreItem, root: RootFS) -> None:
    item = planned.item
    stored = entry.folder / item.stored
    host = Path(root.host(item.raw_path))
    if planned.action == "already in place":
        # The very same content is back at its place: the quarantined copy adds nothing.
        with contextlib.suppress(FileNotFoundError):
            stored.unlink()
        return
    if not host.parent.is_dir():
        ensure_private_dir(host.parent)
    if planned.action == "recreate link":
        os.symlink(item.link_target or "", host)
        _fsync_folder(host.parent)
        with contextlib.suppress(FileNotFoundError):
            stored.unlink()
        return
    if planned.action == "move back":
        try:
            # link() never replaces: a file that appeared meanwhile stays untouched.
            os.link(stored, host)
        except FileExistsError:
            raise
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EOPNOTSUPP, errno.EMLINK):
                raise
            replace_file(
                host,
                _read(stored),
                mode=item.mode,
                uid=item.uid,
                gid=item.gid,
                mtime_ns=item.mtime_ns,
                overwrite=False,
            )
        _fsync_folder(host.parent)
        stored.unlink()
        _fsync_folder(stored.parent)
        return
    data = _read(stored)
    if file_sha256(data) != item.sha256:
        raise OSError(errno.EIO, "the quarantined original is damaged (SHA-256 differs)")
    replace_file(
        host,
        data,
        mode=item.mode,
        uid=item.uid,
        gid=item.gid,
        mtime_ns=item.mtime_ns,
        overwrite=True,
    )
    stored.unlink()
    _fsync_folder(stored.parent)


# Purge -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PurgePlan:
    """The entries a purge deletes for good."""

    directory: Path
    older_than: timedelta
    entries: tuple[QuarantineEntry, ...]
    sizes: tuple[int, ...]
    cutoff: datetime

    def describe(self) -> list[str]:
        """The preview as lines of text, safe for a terminal."""
        if not self.entries:
            return [f"Nothing in the quarantine is older than {self.older_than.days} days."]
        total = sum(self.sizes)
        count = len(self.entries)
        lines = [
            f"Delete {count} quarantine entr{'ies' if count != 1 else 'y'} older than "
            f"{self.older_than.days} days for good ({total} bytes):"
        ]
        for entry, size in zip(self.entries, self.sizes, strict=True):
            head, *files = entry.describe(files=True)
            lines += [f"  {head}  ({size} bytes)", *("  " + line for line in files)]
        return lines


@dataclass(frozen=True, slots=True)
class PurgeResult:
    """What a purge deleted."""

    deleted: tuple[str, ...]
    failed: tuple[str, ...] = ()

    def describe(self) -> list[str]:
        """The summary as lines of text, safe for a terminal."""
        count = len(self.deleted)
        lines = [f"Deleted {count} quarantine entr{'ies' if count != 1 else 'y'}."]
        lines += [f"  {entry_id}" for entry_id in self.deleted]
        lines += [f"could not delete: {visible(f)}" for f in self.failed]
        return lines


def plan_purge(
    directory: Path, *, older_than: timedelta, now: datetime, root: RootFS | None = None
) -> PurgePlan:
    """The entries created before ``now - older_than`` (of this root, or all)."""
    if older_than < timedelta(0):
        raise UsageError("--older-than must be 0 days or more")
    entries, _ = list_entries(directory, root=root)
    cutoff = now - older_than
    old = tuple(e for e in entries if e.created < cutoff)
    return PurgePlan(directory, older_than, old, tuple(e.size() for e in old), cutoff)


def purge(plan: PurgePlan, *, cancelled: Callable[[], bool] | None = None) -> PurgeResult:
    """Delete the planned entries (this is the one place certdeck deletes for good)."""
    deleted: list[str] = []
    failed: list[str] = []
    for entry in plan.entries:
        if cancelled is not None and cancelled():
            break
        # Renamed first, so that an interrupted delete never leaves a half entry that looks
        # restorable.
        doomed = entry.folder.with_name(f".{entry.id}.purging")
        try:
            os.rename(entry.folder, doomed)
            shutil.rmtree(doomed)
        except OSError as exc:
            failed.append(f"{entry.id}: {exc.strerror or exc}")
            continue
        deleted.append(entry.id)
    return PurgeResult(tuple(deleted), tuple(failed))
