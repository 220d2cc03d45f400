"""What export and import share: safe file names, planned files and all-or-nothing writes.

A plan lists every file before anything is written; :func:`write_files` then writes them one
by one with :func:`core.fsutil.atomic_write` and, when one of them fails (disk full, permission
denied, cancelled), removes the files it already wrote and the folders it created, so the
destination is left exactly as it was.  Existing files are never replaced: a name that is
taken gets the next free ``name-1.ext``.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from core.errors import CertdeckError
from core.fsutil import atomic_write, ensure_private_dir
from core.rootfs import RootFS, printable_path
from core.text import visible

__all__ = [
    "DestinationError",
    "FileEntry",
    "FileKind",
    "NameAllocator",
    "PlannedFile",
    "WriteCancelled",
    "WriteFailed",
    "WrittenFile",
    "check_destination",
    "open_folder_note",
    "renamed_note",
    "safe_stem",
    "shown_path",
    "write_files",
    "written_summary",
]

FileKind = Literal["pkcs12", "certificates", "key", "bundle"]
"""``bundle`` is a PEM file with certificates and private keys together."""

_MAX_STEM_BYTES = 100
"""Leaves room for ``-NN.ext`` and the temporary file's prefix within 255 bytes."""
_RENAME_ATTEMPTS = 100


class DestinationError(CertdeckError):
    """The destination folder cannot be used."""

    title = "Destination problem"


class WriteFailed(CertdeckError):
    """A file could not be written; everything written before it was removed again."""

    title = "Write failed"


class WriteCancelled(CertdeckError):
    """The write was cancelled; nothing was written."""

    title = "Cancelled"


@dataclass(frozen=True, slots=True)
class FileEntry:
    """One certificate inside a planned file."""

    sha256: str
    name: str
    """The certificate's display name (certificate text: hostile, show with care)."""
    role: str
    """``certificate``, ``chain`` (an issuer) or ``root``."""


@dataclass(frozen=True, slots=True)
class PlannedFile:
    """A file a plan will write."""

    path: Path
    """Where it is written on this host."""
    shown: str
    """The path as shown to the user (a machine path under ``--root``)."""
    kind: FileKind
    mode: int
    certificates: tuple[FileEntry, ...] = ()
    key: str | None = None
    """Where the private key in the file comes from, or ``None`` without a key."""
    notes: tuple[str, ...] = ()
    """Remarks about this file, e.g. that a wanted name was taken."""

    def describe(self) -> list[str]:
        """The file and what goes in, as lines of text safe for a terminal."""
        lines = [f"{visible(self.shown)}  ({_KIND_LABEL[self.kind]}, mode {self.mode:04o})"]
        for entry in self.certificates:
            lines.append(f"    {entry.role}: {visible(entry.name)}  {entry.sha256[:16]}…")
        if self.key is not None:
            lines.append(f"    private key: {visible(self.key)}")
        lines += [f"    note: {visible(note)}" for note in self.notes]
        return lines


_KIND_LABEL: dict[FileKind, str] = {
    "pkcs12": "PKCS#12",
    "certificates": "PEM certificates",
    "key": "PEM private key",
    "bundle": "PEM certificates and private keys",
}


@dataclass(frozen=True, slots=True)
class WrittenFile:
    """A file that was written."""

    path: Path
    shown: str
    kind: FileKind
    mode: int
    certificates: tuple[FileEntry, ...]
    key: bool
    renamed: bool = False
    """The planned name was taken meanwhile and the next free name was used."""

    def describe(self) -> str:
        """One line for a summary, safe for a terminal."""
        parts = []
        if self.certificates:
            count = len(self.certificates)
            parts.append(f"{count} certificate{'s' if count != 1 else ''}")
        if self.key:
            parts.append("private key")
        what = " and ".join(parts) or "empty"
        return f"{visible(self.shown)}  ({_KIND_LABEL[self.kind]}: {what}, mode {self.mode:04o})"


_UNSAFE = re.compile(r"[^\w.@+=,-]+")
_DROPPED = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def safe_stem(text: str, fallback: str) -> str:
    """A file name (without extension) derived from certificate text.

    Slashes, control and invisible characters, shell-special characters and leading dots or
    dashes cannot survive; a wildcard ``*`` becomes ``star``.  Returns ``fallback`` when
    nothing usable is left.
    """
    text = unicodedata.normalize("NFC", text).replace("*", "star")
    kept = "".join(c for c in text if unicodedata.category(c) not in _DROPPED)
    stem = _UNSAFE.sub("_", kept).strip("._-")
    raw = stem.encode("utf-8")[:_MAX_STEM_BYTES]
    stem = raw.decode("utf-8", "ignore").rstrip("._-")
    return stem or fallback


def shown_path(path: Path, root: RootFS | None = None) -> str:
    """How a host path is shown: as a machine path when it lies inside ``--root``."""
    text = os.fspath(path)
    if root is not None and root.root != "/":
        inside = text == root.root or text.startswith(root.root + "/")
        if inside:
            text = root.machine(text)
    return printable_path(text)


class NameAllocator:
    """Chooses free file names in one folder, also among the names planned so far."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.taken: set[str] = set()

    def allocate(self, stem: str, suffixes: Sequence[str]) -> tuple[str, str | None]:
        """A stem for which every ``stem + suffix`` is free.

        Returns the stem and, when it differs from the wanted one, why: ``"exists"`` (a file
        in the folder has the name) or ``"planned"`` (another file of this plan has it).
        """
        number = 0
        reason: str | None = None
        while True:
            candidate = stem if number == 0 else f"{stem}-{number}"
            names = [candidate + suffix for suffix in suffixes]
            exists = any(os.path.lexists(self.folder / name) for name in names)
            planned = any(name in self.taken for name in names)
            if not exists and not planned:
                self.taken.update(names)
                return candidate, reason
            if reason is None:
                reason = "exists" if exists else "planned"
            number += 1


def renamed_note(wanted: str, used: str, reason: str | None) -> tuple[str, ...]:
    """The note shown when a file gets another name than the wanted one."""
    if reason is None:
        return ()
    if reason == "exists":
        return (f"{wanted} already exists and is left untouched; writing {used} instead",)
    return (f"another file of this plan is named {wanted}; writing {used} instead",)


def check_destination(folder: Path, root: RootFS | None = None) -> bool:
    """Check that files can be written into ``folder``; return whether it must be created.

    Raises:
        DestinationError: it is not a folder, or this user cannot write there.
    """
    shown = shown_path(folder, root)
    current = folder
    missing = False
    while not current.is_dir():
        if os.path.lexists(current):
            raise DestinationError(
                f"{visible(shown_path(current, root))} exists and is not a folder; "
                "choose another destination"
            )
        missing = True
        if current.parent == current:
            break
        current = current.parent
    if not os.access(current, os.W_OK | os.X_OK):
        where = shown if current == folder else visible(shown_path(current, root))
        raise DestinationError(
            f"cannot write to {visible(where)}: permission denied; choose another folder "
            "or run certdeck with the rights to write there (e.g. as root)"
        )
    return missing


def open_folder_note(folder: Path, root: RootFS | None = None) -> tuple[str, ...]:
    """A note when an existing folder that will receive private keys is open to others."""
    try:
        mode = stat.S_IMODE(os.stat(folder).st_mode)
    except OSError:
        return ()
    if not mode & 0o077:
        return ()
    return (
        f"the folder {shown_path(folder, root)} is accessible by others (mode {mode:04o}); "
        "the key files themselves are written with mode 0600",
    )


def write_files(
    folder: Path,
    files: Sequence[tuple[PlannedFile, bytes]],
    *,
    private: bool,
    root: RootFS | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> tuple[WrittenFile, ...]:
    """Write every file, or none of them.

    Args:
        folder: The destination; missing folders are created (mode 0700 when ``private``).
        files: The planned files and their complete contents.
        private: The files hold private keys.
        root: For showing paths.
        cancelled: Asked before each file; when it returns true, the files written so far
            are removed and :class:`WriteCancelled` is raised.

    Raises:
        WriteFailed: A file or folder could not be written; nothing written stays behind.
        WriteCancelled: ``cancelled`` returned true.
    """
    created = _create_folder(folder, private, root)
    written: list[WrittenFile] = []
    try:
        for planned, data in files:
            if cancelled is not None and cancelled():
                raise WriteCancelled("cancelled before all files were written; nothing was kept")
            path = _write_new(planned.path, data, planned.mode, planned.shown, root)
            written.append(
                WrittenFile(
                    path=path,
                    shown=shown_path(path, root),
                    kind=planned.kind,
                    mode=planned.mode,
                    certificates=planned.certificates,
                    key=planned.key is not None,
                    renamed=path != planned.path,
                )
            )
    except BaseException:
        left = _roll_back([w.path for w in written], created)
        if left:
            # Rare: a file just written cannot be removed again. Say so rather than hide it.
            raise WriteFailed(
                "the write failed and these files could not be removed again: "
                + ", ".join(visible(shown_path(p, root)) for p in left)
            ) from None
        raise
    return tuple(written)


def _write_new(path: Path, data: bytes, mode: int, shown: str, root: RootFS | None) -> Path:
    for _ in range(_RENAME_ATTEMPTS):
        try:
            atomic_write(path, data, mode=mode)
            return path
        except FileExistsError:
            # Someone took the name after planning: never replace, take the next free one.
            path = _next_name(path)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise WriteFailed(
                f"could not write {visible(shown)}: {reason}; nothing was written and the "
                f"folder {visible(shown_path(path.parent, root))} is as it was"
            ) from exc
    raise WriteFailed(f"could not find a free name for {visible(shown)}")


def _next_name(path: Path) -> Path:
    match = re.fullmatch(r"(.*)-(\d+)", path.stem)
    stem, number = (match.group(1), int(match.group(2))) if match else (path.stem, 0)
    candidate = path
    while os.path.lexists(candidate):
        number += 1
        candidate = path.with_name(f"{stem}-{number}{path.suffix}")
    return candidate


def _create_folder(folder: Path, private: bool, root: RootFS | None) -> list[Path]:
    missing: list[Path] = []
    current = folder
    while not current.is_dir():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    try:
        if private:
            ensure_private_dir(folder)
        else:
            for item in reversed(missing):
                os.mkdir(item, 0o755)
    except OSError as exc:
        _roll_back([], missing)
        reason = exc.strerror or str(exc)
        raise WriteFailed(
            f"could not create the folder {visible(shown_path(folder, root))}: {reason}"
        ) from exc
    return missing


def _roll_back(paths: Sequence[Path], folders: Sequence[Path]) -> list[Path]:
    """Remove what this write created; return the files that could not be removed."""
    left: list[Path] = []
    for path in reversed(paths):
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        except OSError:
            left.append(path)
    for folder in folders:  # deepest first, as collected
        with contextlib.suppress(OSError):
            folder.rmdir()
    return left


def written_summary(destination: str, files: Sequence[WrittenFile]) -> list[str]:
    """ "Wrote N files to FOLDER:" and one line per file, safe for a terminal."""
    count = len(files)
    lines = [f"Wrote {count} file{'s' if count != 1 else ''} to {visible(destination)}:"]
    lines += ["  " + f.describe() for f in files]
    return lines
