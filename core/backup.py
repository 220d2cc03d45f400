"""Backups: one tar archive per run with every required certificate, its chain and its keys.

The archive is a plain POSIX tar (no compression: certificates are small and encrypted keys do
not compress), readable with ``tar`` anywhere, laid out as::

    certdeck-backup-HOST-20261127-120000/
        manifest.json                        what is inside, and how to put it back
        files/etc/nginx/ssl/www.crt          certificate files, byte for byte
        keys/etc/nginx/ssl/www.key.encrypted.pem
                                             each private key as password-encrypted PKCS#8
        settings/settings.toml               certdeck's settings

Private keys never enter the archive in the clear: every key block of every file is taken out
and stored as PKCS#8 encrypted with the backup password (PBES2: AES-256-CBC, PBKDF2-HMAC-
SHA256), which ``openssl pkey -in KEY -passin file:PASSWORDFILE`` reads by hand.  What is left
of a file (its certificates, comments) is stored as it is, with the key blocks' positions in
the manifest, so that the original file can be put together again byte for byte.  The
manifest records for every file its machine path, mode, owner, SHA-256, the certificates and
services that use it, and the host name, time and certdeck version of the backup.

After writing, the archive is read back from disk and verified: every member's SHA-256, every
key decrypts with the password, every file reassembles to its recorded SHA-256.  Only then are
old archives beyond ``backup.keep`` removed.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import os
import re
import stat
import tarfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import platformdirs
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from core import __version__
from core.errors import CertdeckError
from core.fsutil import atomic_write, ensure_private_dir
from core.machine import group_name, host_name, is_root, owner_name, state_directory
from core.model import Inventory
from core.parse import _pem_blocks, parse_bytes
from core.passwords import PasswordError
from core.rootfs import RootFS, printable_path
from core.settings import Settings
from core.stores import TRUST_BUNDLES
from core.text import visible
from core.transfer import check_destination, open_folder_note, safe_stem, shown_path

__all__ = [
    "ARCHIVE_PREFIX",
    "KEY_ENCRYPTION",
    "SYSTEM_BACKUP_DIRECTORY",
    "BackedUpFile",
    "BackupArchive",
    "BackupContents",
    "BackupDamaged",
    "BackupError",
    "BackupItem",
    "BackupPlan",
    "BackupResult",
    "BackupRun",
    "NotABackup",
    "WrongBackupPassword",
    "backup_directory",
    "backup_password_file",
    "backup_run_path",
    "last_backup_run",
    "list_backups",
    "plan_backup",
    "read_backup",
    "record_backup_run",
    "retention_victims",
    "write_backup",
]

SYSTEM_BACKUP_DIRECTORY = "/var/backups/certdeck"
"""Where backups go as root when ``backup.directory`` is empty (under the root)."""
ARCHIVE_PREFIX = "certdeck-backup-"
KEY_ENCRYPTION = "PKCS#8, PBES2: AES-256-CBC with PBKDF2-HMAC-SHA256"
FORMAT = "certdeck-backup"
VERSION = 1

_MAX_FILE = 64 * 1024 * 1024
_MAX_ARCHIVE = 1024 * 1024 * 1024
_ARCHIVE_NAME = re.compile(
    r"certdeck-backup-(?P<host>.+)-(?P<stamp>\d{8}-\d{6})(?:-(?P<n>\d+))?\.tar"
)
_KEY_LABELS = {
    b"PRIVATE KEY": "pkcs8",
    b"RSA PRIVATE KEY": "traditional",
    b"EC PRIVATE KEY": "traditional",
    b"DSA PRIVATE KEY": "traditional",
}
_FORMATS = {
    "pkcs8": serialization.PrivateFormat.PKCS8,
    "traditional": serialization.PrivateFormat.TraditionalOpenSSL,
}
_DISTRIBUTION_PREFIXES = ("/usr/share/", "/etc/ssl/certs/", "/etc/pki/ca-trust/extracted/")


class BackupError(CertdeckError):
    """A backup cannot be written or read."""

    title = "Backup problem"


class NotABackup(BackupError):
    """The file is not a certdeck backup."""


class BackupDamaged(BackupError):
    """The archive does not match its manifest: it was damaged or changed."""

    title = "Backup damaged"


class WrongBackupPassword(PasswordError):
    """The password does not open the backup's private keys."""


# Where things are ----------------------------------------------------------------------------


def backup_directory(settings: Settings, root: RootFS, *, euid: int | None = None) -> Path:
    """Where backups go on this host: ``backup.directory`` (a machine path), else the default.

    The default is ``/var/backups/certdeck`` under the root as root, else ``backups`` in the
    user's data folder.
    """
    if settings.backup.directory:
        return Path(root.host(settings.backup.directory))
    if is_root(euid):
        return Path(root.host(SYSTEM_BACKUP_DIRECTORY))
    return platformdirs.user_data_path("certdeck") / "backups"


def backup_password_file(settings: Settings, root: RootFS) -> Path | None:
    """The file from ``backup.password_file`` on this host, or ``None`` when unset."""
    name = settings.backup.password_file
    return Path(root.host(name)) if name else None


# Planning ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BackupItem:
    """A file (or symbolic link) that goes into the backup."""

    path: str
    """Machine path, printable."""
    kind: Literal["file", "symlink"]
    why: str
    """Why it is in the backup, e.g. ``used by nginx (/etc/nginx/…:14)``."""
    certificates: tuple[tuple[str, str], ...] = ()
    """(SHA-256, name) of the certificates in the file, as the scan found them."""
    keys: int = 0
    """Private keys the scan found in the file (stored encrypted)."""
    link_target: str | None = None
    distribution: bool = False
    """Maintained by the distribution (the trust bundle and its links)."""
    raw_path: str = field(default="", repr=False, compare=False)

    def describe(self) -> str:
        """One line, safe for a terminal."""
        if self.kind == "symlink":
            return f"{visible(self.path)} -> {visible(self.link_target or '')}  (link)"
        parts = []
        if self.certificates:
            count = len(self.certificates)
            parts.append(f"{count} certificate{'s' if count != 1 else ''}")
        if self.keys:
            parts.append("private key" if self.keys == 1 else f"{self.keys} private keys")
            parts[-1] += " (stored encrypted)"
        if self.distribution:
            parts.append("maintained by the distribution")
        what = ", ".join(parts) or "file"
        return f"{visible(self.path)}  ({what}; {visible(self.why)})"


@dataclass(frozen=True, slots=True)
class BackupPlan:
    """What a backup will hold and where it goes, before anything is written."""

    destination: Path
    shown_destination: str
    create_destination: bool
    archive: Path
    """The archive to write (a free name in the destination)."""
    host: str
    created: datetime
    items: tuple[BackupItem, ...]
    settings_file: Path | None
    """certdeck's settings file on this host, when it exists."""
    keep: int
    retention: tuple[Path, ...]
    """Older archives of this host that will be removed after the new one is verified."""
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    root: RootFS = field(default_factory=RootFS, repr=False, compare=False)
    manifest_extra: dict[str, dict[str, Any]] = field(
        default_factory=dict, repr=False, compare=False
    )
    """Per machine path: certificates and consumers for the manifest."""

    @property
    def key_count(self) -> int:
        """Private keys the scan found in the planned files."""
        return sum(i.keys for i in self.items)

    def describe(self) -> list[str]:
        """The preview as lines of text, safe for a terminal."""
        files = [i for i in self.items if i.kind == "file"]
        certs = {sha for i in self.items for sha, _ in i.certificates}
        created = " (will be created)" if self.create_destination else ""
        lines = [
            f"Back up {len(files)} files ({len(certs)} certificates, {self.key_count} private "
            f"keys){' and the certdeck settings' if self.settings_file else ''} of "
            f"{visible(self.host)}",
            f"to {visible(shown_path(self.archive, self.root))}{created} (tar, mode 0600):",
        ]
        lines += ["  " + i.describe() for i in self.items]
        if self.settings_file is not None:
            lines.append(f"  settings: {visible(shown_path(self.settings_file, self.root))}")
        lines.append(
            f"Private keys are stored as {KEY_ENCRYPTION}, encrypted with the backup password; "
            "the archive is read back and verified after writing."
        )
        if self.retention:
            lines.append(
                f"Then only the newest {self.keep} backups of {visible(self.host)} are kept; "
                "removed afterwards:"
            )
            lines += [f"  {visible(p.name)}" for p in self.retention]
        lines += [f"warning: {visible(w)}" for w in self.warnings]
        lines += [f"note: {visible(n)}" for n in self.notes]
        return lines


def _is_distribution(path: str) -> bool:
    return path in TRUST_BUNDLES or path.startswith(_DISTRIBUTION_PREFIXES)


class _Collector:
    """Gathers the files of a backup: each link and the file it leads to, once."""

    def __init__(self, root: RootFS) -> None:
        self.root = root
        self.items: dict[str, BackupItem] = {}
        self.notes: list[str] = []
        self.why: dict[str, list[str]] = {}

    def add(self, machine: str, why: str, *, hops: int = 0) -> None:
        host = self.root.host(machine)
        if machine in self.items:
            self.why[machine].append(why)
            return
        try:
            st = os.lstat(host)
        except FileNotFoundError:
            self.notes.append(f"{printable_path(machine)} ({why}) does not exist")
            return
        except OSError as exc:
            self.notes.append(f"{printable_path(machine)}: {exc.strerror or exc}")
            return
        if stat.S_ISLNK(st.st_mode):
            if hops > 40:
                self.notes.append(f"{printable_path(machine)}: symbolic link loop")
                return
            target = os.readlink(host)
            self.items[machine] = BackupItem(
                printable_path(machine),
                "symlink",
                why,
                link_target=target,
                distribution=_is_distribution(machine),
                raw_path=machine,
            )
            self.why[machine] = [why]
            try:
                # One hop at a time: every link on the way is recorded too.
                parent = self.root.resolve(os.path.dirname(machine))
                following = os.path.normpath(
                    target if target.startswith("/") else f"{parent}/{target}"
                )
            except OSError:
                return
            self.add(following, why, hops=hops + 1)
            return
        if stat.S_ISDIR(st.st_mode):
            return
        if not stat.S_ISREG(st.st_mode):
            self.notes.append(f"{printable_path(machine)} is not a regular file; left out")
            return
        self.items[machine] = BackupItem(
            printable_path(machine),
            "file",
            why,
            distribution=_is_distribution(machine),
            raw_path=machine,
        )
        self.why[machine] = [why]


def _archive_name(host: str, created: datetime) -> str:
    stamp = created.astimezone(UTC).strftime("%Y%m%d-%H%M%S")
    return f"{ARCHIVE_PREFIX}{safe_stem(host, 'host')}-{stamp}.tar"


def _free_archive(folder: Path, name: str) -> Path:
    path = folder / name
    number = 2
    while os.path.lexists(path):
        path = folder / name.replace(".tar", f"-{number}.tar")
        number += 1
    return path


def plan_backup(
    inventory: Inventory,
    *,
    root: RootFS,
    settings: Settings,
    settings_path: Path | None,
    now: datetime,
    destination: Path | None = None,
    host: str | None = None,
    euid: int | None = None,
) -> BackupPlan:
    """Plan a backup of everything the machine's services need.

    In the backup: every file holding a required certificate (so every chain), every file a
    service names, every private key of a required certificate (links on the way are kept as
    links), and certdeck's settings file.

    Args:
        inventory: The scan.
        root: The machine's root.
        settings: For ``backup.directory`` and ``backup.keep``.
        settings_path: certdeck's settings file (in the backup when it exists).
        now: The backup's time (its name and manifest).
        destination: The folder on this host; default :func:`backup_directory`.
        host: The host name recorded; default :func:`core.machine.host_name`.

    Raises:
        DestinationError: the destination is not a folder or not writable.
    """
    folder = Path(os.path.abspath(destination or backup_directory(settings, root, euid=euid)))
    create = check_destination(folder, root)
    host = host or host_name(root)
    collector = _Collector(root)
    required = [r for r in inventory.certificates if r.required]
    for record in required:
        for loc in record.locations:
            why = f"holds the required certificate {record.cert.display_name}"
            if loc.symlink_to is not None and printable_path(loc.path) == loc.path:
                collector.add(loc.path, why)
            else:
                collector.add(root.machine(loc.os_path or root.host(loc.path)), why)
    for consumer in inventory.consumers:
        for path in consumer.files:
            collector.add(path, f"used by {consumer.name} ({consumer.config}:{consumer.line})")
    public = {r.cert.public_key_sha256: r.cert.display_name for r in required}
    keys_per_file: dict[str, int] = {}
    for key in inventory.private_keys:
        real = root.machine(key.os_path or root.host(key.path))
        # A key reached through a link is the same key as in the file the link leads to.
        if key.path == printable_path(real):
            keys_per_file[real] = keys_per_file.get(real, 0) + 1
        if key.public_key_sha256 in public:
            why = f"the private key of {public[key.public_key_sha256]}"
            if printable_path(key.path) == key.path and key.path != real:
                collector.add(key.path, why)
            collector.add(real, why)
    # Certificates and consumers of every file, for the preview and the manifest.
    certs: dict[str, list[tuple[str, str, bool]]] = {}
    for record in inventory.certificates:
        for loc in record.locations:
            real = root.machine(loc.os_path or root.host(loc.path))
            entry = (record.sha256, record.cert.display_name, record.required)
            if entry not in certs.setdefault(real, []):
                certs[real].append(entry)
    consumers: dict[str, list[dict[str, Any]]] = {}
    for consumer in inventory.consumers:
        for path in consumer.files:
            try:
                real = root.resolve(path)
            except OSError:
                real = path
            use = {"consumer": consumer.name, "config": consumer.config, "line": consumer.line}
            for name in dict.fromkeys((path, real)):
                if use not in consumers.setdefault(name, []):
                    consumers[name].append(use)
    items: list[BackupItem] = []
    extra: dict[str, dict[str, Any]] = {}
    for machine, item in collector.items.items():
        why = "; ".join(dict.fromkeys(collector.why[machine]))
        held = certs.get(machine, [])
        items.append(
            BackupItem(
                item.path,
                item.kind,
                why,
                certificates=tuple((sha, name) for sha, name, _ in held)
                if item.kind == "file"
                else (),
                keys=keys_per_file.get(machine, 0) if item.kind == "file" else 0,
                link_target=item.link_target,
                distribution=item.distribution,
                raw_path=machine,
            )
        )
        extra[machine] = {
            "certificates": [
                {"sha256": sha, "name": name, "required": req} for sha, name, req in held
            ]
            if item.kind == "file"
            else [],
            "consumers": consumers.get(machine, []),
            "why": why,
        }
    items.sort(key=lambda i: i.raw_path)
    settings_file = settings_path if settings_path is not None and settings_path.is_file() else None
    archive = _free_archive(folder, _archive_name(host, now))
    keep = settings.backup.keep
    existing = [b.path for b in list_backups(folder, host=host)]
    retention = tuple(existing[max(keep - 1, 0) :])
    warnings: list[str] = []
    notes = list(dict.fromkeys(collector.notes))
    if not required:
        warnings.append("no certificate is required (no service uses one): the backup is small")
    if not create:
        notes += open_folder_note(folder, root)
    return BackupPlan(
        destination=folder,
        shown_destination=shown_path(folder, root),
        create_destination=create,
        archive=archive,
        host=host,
        created=now,
        items=tuple(items),
        settings_file=settings_file,
        keep=keep,
        retention=retention,
        warnings=tuple(warnings),
        notes=tuple(notes),
        root=root,
        manifest_extra=extra,
    )


# Writing ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BackupArchive:
    """A backup archive in a folder, known by its name."""

    path: Path
    host: str
    created: datetime
    size: int


def list_backups(folder: Path, *, host: str | None = None) -> tuple[BackupArchive, ...]:
    """certdeck's archives in a folder (of one host, or all), newest first."""
    try:
        names = os.listdir(folder)
    except OSError:
        return ()
    found: list[tuple[tuple[str, int], BackupArchive]] = []
    wanted = safe_stem(host, "host") if host is not None else None
    for name in names:
        match = _ARCHIVE_NAME.fullmatch(name)
        if match is None or (wanted is not None and match["host"] != wanted):
            continue
        path = folder / name
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if not stat.S_ISREG(st.st_mode):
            continue
        created = datetime.strptime(match["stamp"], "%Y%m%d-%H%M%S").replace(tzinfo=UTC)
        order = (match["stamp"], int(match["n"] or 1))
        found.append((order, BackupArchive(path, match["host"], created, st.st_size)))
    found.sort(key=lambda item: item[0], reverse=True)
    return tuple(archive for _, archive in found)


def retention_victims(folder: Path, *, host: str, keep: int) -> tuple[Path, ...]:
    """The archives of ``host`` beyond the newest ``keep`` (the ones retention removes)."""
    return tuple(b.path for b in list_backups(folder, host=host)[keep:])


@dataclass(frozen=True, slots=True)
class BackupResult:
    """What a backup wrote, what verification said and what retention removed."""

    archive: Path
    shown: str
    size: int
    files: int
    links: int
    keys: int
    certificates: int
    verified: BackupContents
    removed: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    def describe(self) -> list[str]:
        """The summary as lines of text, safe for a terminal."""
        lines = [
            f"Wrote {visible(self.shown)} ({self.size} bytes, mode 0600): {self.files} files, "
            f"{self.links} links, {self.certificates} certificates, {self.keys} private keys "
            "(encrypted).",
            f"Verified: every member's SHA-256 matches, all {self.keys} keys decrypt with the "
            f"password, {self.verified.exact} of {self.files} files reassemble byte for byte.",
        ]
        if self.removed:
            lines.append(f"Removed {len(self.removed)} older backup(s) (retention):")
            lines += [f"  {visible(name)}" for name in self.removed]
        lines += [f"warning: {visible(w)}" for w in self.warnings]
        return lines


@dataclass(slots=True)
class _Member:
    name: str
    data: bytes


def _key_member_name(prefix: str, path: str, number: int, total: int) -> str:
    suffix = ".encrypted.pem" if total == 1 else f".{number}.encrypted.pem"
    return f"{prefix}/keys{path}{suffix}"


def _render_key(
    key: PrivateKeyTypes, fmt: str, encoding: str, newline: str, *, strip: bool = True
) -> bytes:
    if encoding == "der":
        return key.private_bytes(
            serialization.Encoding.DER, _FORMATS[fmt], serialization.NoEncryption()
        )
    text = key.private_bytes(
        serialization.Encoding.PEM, _FORMATS[fmt], serialization.NoEncryption()
    )
    if strip:
        text = text.rstrip(b"\n")
    if newline == "crlf":
        text = text.replace(b"\n", b"\r\n")
    return text


def _public_sha(key: PrivateKeyTypes) -> str:
    spki = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(spki).hexdigest()


class _Unprotectable(Exception):
    """A key certdeck cannot read, so cannot encrypt: the file stays out of the backup."""


_SplitKey = tuple[int, PrivateKeyTypes, str, str, str, bool]
"""Offset in the template, key, format, encoding, newline, and whether it renders exactly."""


def _split_keys(data: bytes) -> tuple[bytes, list[_SplitKey]]:
    """The file without its plain key blocks, and each key with how to put it back.

    Returns the template and, per key: offset in the template, key, format, encoding,
    newline, and whether rendering it reproduces the original bytes.
    """
    if b"-----BEGIN " not in data:
        parsed = parse_bytes(data)
        if not parsed.keys or parsed.certs:
            return data, []
        try:
            key = serialization.load_der_private_key(data, None)
        except TypeError:
            return data, []  # an encrypted DER key: stored as it is
        except Exception as exc:
            raise _Unprotectable(str(exc)) from None
        for fmt in ("pkcs8", "traditional"):
            with contextlib.suppress(ValueError):
                if _render_key(key, fmt, "der", "lf") == data:
                    return b"", [(0, key, fmt, "der", "lf", True)]
        return b"", [(0, key, "pkcs8", "der", "lf", False)]
    template = bytearray()
    keys: list[_SplitKey] = []
    pos = 0
    for start, label, body in _pem_blocks(data):
        if body is None or label not in _KEY_LABELS:
            continue
        if b"Proc-Type:" in body and b"ENCRYPTED" in body:
            continue  # encrypted with its own password: stored as it is
        end = start + 11 + len(label) + 5 + len(body) + 9 + len(label) + 5
        block = data[start:end]
        try:
            key = serialization.load_pem_private_key(block, None)
        except Exception as exc:
            raise _Unprotectable(str(exc)) from None
        newline = "crlf" if b"\r\n" in block else "lf"
        fmt = _KEY_LABELS[label]
        exact = False
        with contextlib.suppress(ValueError):
            exact = _render_key(key, fmt, "pem", newline) == block
        template += data[pos:start]
        keys.append((len(template), key, fmt, "pem", newline, exact))
        pos = end
    template += data[pos:]
    return bytes(template), keys


def _reassemble(template: bytes, keys: Sequence[tuple[int, bytes]]) -> bytes:
    out = bytearray()
    pos = 0
    for offset, rendered in sorted(keys, key=lambda k: k[0]):
        out += template[pos:offset]
        out += rendered
        pos = offset
    out += template[pos:]
    return bytes(out)


def _raw_json(raw: str) -> dict[str, str]:
    shown = printable_path(raw)
    if shown == raw:
        return {"path": raw}
    return {"path": shown, "path_hex": os.fsencode(raw).hex()}


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _read_limited(path: Path) -> tuple[bytes, os.stat_result]:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    try:
        st = os.fstat(fd)
        if st.st_size > _MAX_FILE:
            raise OSError(f"larger than {_MAX_FILE} bytes")
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks), st
    finally:
        os.close(fd)


def write_backup(
    plan: BackupPlan,
    password: bytes,
    *,
    cancelled: Callable[[], bool] | None = None,
) -> BackupResult:
    """Write the archive, read it back and verify it, then apply the retention.

    Args:
        plan: From :func:`plan_backup`.
        password: Encrypts the private keys; must not be empty.
        cancelled: Asked between files; true stops before anything is written.

    Raises:
        PasswordError: the password is empty.
        BackupError: the archive cannot be written, or fails verification (it is then
            removed again); nothing older is removed.
    """
    if not password:
        raise PasswordError("a backup needs a password of at least one character")
    encryption = serialization.BestAvailableEncryption(password)
    prefix = plan.archive.name.removesuffix(".tar")
    members: list[_Member] = []
    entries: list[dict[str, Any]] = []
    warnings = list(plan.warnings)
    counts = {"files": 0, "links": 0, "keys": 0}
    certificates: set[str] = set()
    for item in plan.items:
        if cancelled is not None and cancelled():
            raise BackupError("cancelled; nothing was written", title="Cancelled")
        extra = plan.manifest_extra.get(item.raw_path, {})
        host = Path(plan.root.host(item.raw_path))
        base: dict[str, Any] = {**_raw_json(item.raw_path), "kind": item.kind}
        try:
            if item.kind == "symlink":
                st = os.lstat(host)
                target = os.readlink(host)
                base.update(target=target)
                data = b""
            else:
                data, st = _read_limited(host)
        except OSError as exc:
            warnings.append(
                f"{item.path} could not be read ({exc.strerror or exc}); not in the backup"
            )
            continue
        base.update(
            mode=f"{stat.S_IMODE(st.st_mode):04o}",
            uid=st.st_uid,
            gid=st.st_gid,
            owner=owner_name(st.st_uid),
            group=group_name(st.st_gid),
            mtime_ns=st.st_mtime_ns,
            distribution=item.distribution,
            why=extra.get("why", item.why),
            consumers=extra.get("consumers", []),
        )
        if item.kind == "symlink":
            counts["links"] += 1
            entries.append(base)
            continue
        try:
            template, keys = _split_keys(data)
        except _Unprotectable as exc:
            warnings.append(
                f"{item.path} holds a private key certdeck cannot read ({exc}); the file is not "
                "in the backup (keys never go into it unencrypted)"
            )
            continue
        key_entries = []
        for number, (offset, key, fmt, encoding, newline, exact) in enumerate(keys, 1):
            member = _key_member_name(prefix, item.path, number, len(keys))
            blob = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
            )
            members.append(_Member(member, blob))
            key_entries.append(
                {
                    "member": member,
                    "member_sha256": hashlib.sha256(blob).hexdigest(),
                    "offset": offset,
                    "format": fmt,
                    "encoding": encoding,
                    "newline": newline,
                    "public_key_sha256": _public_sha(key),
                    "exact": exact,
                }
            )
        counts["keys"] += len(keys)
        counts["files"] += 1
        file_entry = {
            **base,
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "exact": all(k["exact"] for k in key_entries),
            "certificates": extra.get("certificates", []),
            "keys": key_entries,
        }
        certificates.update(c["sha256"] for c in file_entry["certificates"])
        if keys and not template.strip():
            file_entry["template_b64"] = base64.b64encode(template).decode("ascii")
        else:
            member = f"{prefix}/files{item.path}"
            members.append(_Member(member, template))
            file_entry["member"] = member
            file_entry["member_sha256"] = hashlib.sha256(template).hexdigest()
        if not file_entry["exact"]:
            warnings.append(
                f"{item.path}: a private key's encoding is unusual; a restore writes the same "
                "key in the standard encoding (the file's bytes will differ)"
            )
        entries.append(file_entry)
    settings_entry: dict[str, Any] | None = None
    if plan.settings_file is not None:
        try:
            settings_data, st = _read_limited(plan.settings_file)
        except OSError as exc:
            warnings.append(f"the settings file could not be read ({exc.strerror or exc})")
        else:
            member = f"{prefix}/settings/settings.toml"
            members.append(_Member(member, settings_data))
            settings_entry = {
                "member": member,
                "member_sha256": hashlib.sha256(settings_data).hexdigest(),
                "path": shown_path(plan.settings_file, plan.root),
                "mode": f"{stat.S_IMODE(st.st_mode):04o}",
            }
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "certdeck_version": __version__,
        "host": plan.host,
        "created": _iso(plan.created),
        "root": plan.root.root,
        "key_encryption": KEY_ENCRYPTION,
        "files": entries,
        "settings": settings_entry,
        "warnings": warnings,
    }
    manifest_data = (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    archive_bytes = _tar(
        [_Member(f"{prefix}/manifest.json", manifest_data), *members], plan.created
    )
    archive = _write_archive(plan, archive_bytes)
    try:
        verified = read_backup(archive, password)
    except BackupError as exc:
        with contextlib.suppress(OSError):
            archive.unlink()
        raise BackupError(
            f"the archive failed verification and was removed: {exc.message}"
        ) from None
    removed: list[str] = []
    for victim in retention_victims(plan.destination, host=plan.host, keep=plan.keep):
        if victim == archive:
            continue
        try:
            victim.unlink()
            removed.append(victim.name)
        except OSError as exc:
            warnings.append(f"could not remove the old backup {victim.name}: {exc.strerror or exc}")
    return BackupResult(
        archive=archive,
        shown=shown_path(archive, plan.root),
        size=len(archive_bytes),
        files=counts["files"],
        links=counts["links"],
        keys=counts["keys"],
        certificates=len(certificates),
        verified=verified,
        removed=tuple(removed),
        warnings=tuple(warnings),
    )


def _tar(members: Sequence[_Member], created: datetime) -> bytes:
    buffer = io.BytesIO()
    stamp = int(created.timestamp())
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for member in members:
            info = tarfile.TarInfo(member.name)
            info.size = len(member.data)
            # Whoever unpacks the archive by hand gets private files, whatever the originals.
            info.mode = 0o600
            info.mtime = stamp
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(member.data))
    return buffer.getvalue()


def _write_archive(plan: BackupPlan, data: bytes) -> Path:
    try:
        ensure_private_dir(plan.destination)
    except OSError as exc:
        raise BackupError(
            f"could not create {visible(plan.shown_destination)}: {exc.strerror or exc}"
        ) from None
    path = plan.archive
    for _ in range(100):
        try:
            atomic_write(path, data, mode=0o600)
            return path
        except FileExistsError:
            path = _free_archive(plan.destination, plan.archive.name)
        except OSError as exc:
            raise BackupError(
                f"could not write {visible(shown_path(path, plan.root))}: {exc.strerror or exc}"
            ) from None
    raise BackupError("no free archive name in the backup folder")


# Reading and verifying --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BackedUpFile:
    """One file (or link) of a verified backup, with its content put together again."""

    path: str
    raw_path: str = field(repr=False)
    kind: Literal["file", "symlink"]
    mode: int
    uid: int
    gid: int
    owner: str
    group: str
    mtime_ns: int
    sha256: str = ""
    data: bytes | None = field(default=None, repr=False)
    """The original content (``None`` for a link); keys decrypted, so handle with care."""
    link_target: str | None = None
    exact: bool = True
    """``data`` is byte for byte the original (else: same keys, standard encoding)."""
    keys: int = 0
    certificates: tuple[tuple[str, str], ...] = ()
    consumers: tuple[str, ...] = ()
    distribution: bool = False


@dataclass(frozen=True, slots=True)
class BackupContents:
    """A backup that passed verification, with every file ready to be written back."""

    path: Path
    host: str
    created: datetime
    certdeck_version: str
    root: str
    files: tuple[BackedUpFile, ...]
    settings: bytes | None = field(default=None, repr=False)
    settings_path: str | None = None
    warnings: tuple[str, ...] = ()

    @property
    def keys(self) -> int:
        """How many private keys decrypted."""
        return sum(f.keys for f in self.files)

    @property
    def exact(self) -> int:
        """How many files reassemble byte for byte."""
        return sum(f.kind == "file" and f.exact for f in self.files)

    def describe(self) -> list[str]:
        """The verification report as lines of text, safe for a terminal."""
        files = [f for f in self.files if f.kind == "file"]
        links = len(self.files) - len(files)
        certs = {sha for f in files for sha, _ in f.certificates}
        lines = [
            f"{visible(str(self.path))}: a certdeck backup of {visible(self.host)} from "
            f"{self.created:%Y-%m-%d %H:%M:%SZ} (certdeck {visible(self.certdeck_version)})",
            f"OK: {len(files)} files, {links} links, {len(certs)} certificates, {self.keys} "
            "private keys; every member's SHA-256 matches the manifest, every key decrypts, "
            f"{self.exact} of {len(files)} files reassemble byte for byte",
        ]
        if self.settings is not None:
            lines.append(f"settings: {visible(self.settings_path or '')}")
        lines += [f"warning: {visible(w)}" for w in self.warnings]
        return lines


def _members(path: Path) -> tuple[dict[str, bytes], str]:
    """Every regular member of the archive, checked for safe names and sizes."""
    shown = visible(str(path))
    try:
        size = os.path.getsize(path)
    except OSError as exc:
        raise NotABackup(f"cannot read {shown}: {exc.strerror or exc}") from None
    if size > _MAX_ARCHIVE:
        raise NotABackup(f"{shown} is larger than any certdeck backup")
    members: dict[str, bytes] = {}
    last = "(the start)"
    try:
        with tarfile.open(path, mode="r:*") as tar:
            while True:
                try:
                    info = tar.next()
                except tarfile.TarError as exc:
                    raise BackupDamaged(
                        f"{shown} is damaged after the member {visible(last)}: {exc}"
                    ) from None
                if info is None:
                    break
                name = info.name
                if not info.isreg():
                    raise BackupDamaged(f"{shown} holds {visible(name)}, which is not a file")
                parts = name.split("/")
                if name.startswith("/") or ".." in parts or name in members:
                    raise BackupDamaged(f"{shown} holds an unexpected member {visible(name)}")
                if info.size > _MAX_FILE:
                    raise BackupDamaged(f"the member {visible(name)} is too large")
                handle = tar.extractfile(info)
                if handle is None:
                    raise BackupDamaged(f"the member {visible(name)} cannot be read")
                try:
                    members[name] = handle.read()
                except (OSError, EOFError, tarfile.TarError) as exc:
                    raise BackupDamaged(
                        f"the member {visible(name)} of {shown} is damaged: {exc}"
                    ) from None
                last = name
    except tarfile.ReadError as exc:
        if not members:
            raise NotABackup(f"{shown} is not a tar archive") from None
        raise BackupDamaged(f"{shown} is damaged after the member {visible(last)}: {exc}") from None
    except OSError as exc:
        raise NotABackup(f"cannot read {shown}: {exc.strerror or exc}") from None
    manifests = [n for n in members if n.count("/") == 1 and n.endswith("/manifest.json")]
    if len(manifests) != 1:
        raise NotABackup(f"{shown} is not a certdeck backup (no manifest.json)")
    return members, manifests[0].split("/")[0]


def _checked(members: dict[str, bytes], name: object, digest: object, used: set[str]) -> bytes:
    if not isinstance(name, str) or name not in members:
        raise BackupDamaged(f"the member {visible(str(name))} is missing from the archive")
    data = members[name]
    if hashlib.sha256(data).hexdigest() != digest:
        raise BackupDamaged(
            f"the member {visible(name)} is damaged: its SHA-256 differs from the manifest"
        )
    used.add(name)
    return data


def _load_key(blob: bytes, password: bytes, member: str) -> PrivateKeyTypes:
    try:
        return serialization.load_pem_private_key(blob, password)
    except (ValueError, TypeError) as exc:
        if "password" in str(exc).lower() or "decrypt" in str(exc).lower():
            raise WrongBackupPassword(
                f"the password does not open the private keys of this backup ({visible(member)}); "
                "nothing was changed"
            ) from None
        raise BackupDamaged(f"the key {visible(member)} cannot be read: {exc}") from None


def read_backup(path: Path, password: bytes) -> BackupContents:
    """Open a backup, verify everything and put every file together again (in memory).

    Checks that every member matches the SHA-256 in the manifest, that every key decrypts
    with the password and matches its recorded public key, and that every file reassembles
    to its recorded SHA-256.

    Raises:
        NotABackup: not a tar archive, or no certdeck manifest.
        BackupDamaged: a member is missing, extra or changed (the message names it).
        WrongBackupPassword: the password does not decrypt the keys.
    """
    members, prefix = _members(path)
    used: set[str] = {f"{prefix}/manifest.json"}
    try:
        manifest = json.loads(members[f"{prefix}/manifest.json"])
        if manifest.get("format") != FORMAT:
            raise NotABackup(f"{visible(str(path))} is not a certdeck backup")
        if manifest.get("version") != VERSION:
            raise NotABackup(
                f"{visible(str(path))} is a backup format version {manifest.get('version')!r} "
                "this certdeck does not know; use a newer certdeck"
            )
        created = datetime.fromisoformat(str(manifest["created"]).replace("Z", "+00:00"))
        files = [_read_entry(e, members, used, password) for e in manifest["files"]]
        settings = None
        settings_path = None
        if manifest.get("settings"):
            entry = manifest["settings"]
            settings = _checked(members, entry["member"], entry["member_sha256"], used)
            settings_path = str(entry.get("path", ""))
        extra = sorted(set(members) - used)
        if extra:
            raise BackupDamaged(
                f"the archive holds members its manifest does not list: {visible(extra[0])}"
            )
        return BackupContents(
            path=path,
            host=str(manifest["host"]),
            created=created,
            certdeck_version=str(manifest.get("certdeck_version", "")),
            root=str(manifest.get("root", "/")),
            files=tuple(files),
            settings=settings,
            settings_path=settings_path,
            warnings=tuple(str(w) for w in manifest.get("warnings", [])),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        if isinstance(exc, CertdeckError):
            raise
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else repr(exc)
        raise BackupDamaged(
            f"the member {visible(prefix)}/manifest.json of {visible(str(path))} is damaged: "
            f"{reason}"
        ) from None


def _read_entry(
    entry: dict[str, Any], members: dict[str, bytes], used: set[str], password: bytes
) -> BackedUpFile:
    raw = os.fsdecode(bytes.fromhex(entry["path_hex"])) if entry.get("path_hex") else entry["path"]
    common: dict[str, Any] = {
        "path": str(entry["path"]),
        "raw_path": str(raw),
        "mode": int(entry["mode"], 8),
        "uid": int(entry["uid"]),
        "gid": int(entry["gid"]),
        "owner": str(entry["owner"]),
        "group": str(entry["group"]),
        "mtime_ns": int(entry["mtime_ns"]),
        "consumers": tuple(
            f"{c['consumer']} ({c['config']}:{c['line']})" for c in entry.get("consumers", [])
        ),
        "distribution": bool(entry.get("distribution", False)),
    }
    if entry["kind"] == "symlink":
        return BackedUpFile(kind="symlink", link_target=str(entry["target"]), **common)
    if entry["kind"] != "file":
        raise ValueError(f"unknown kind {entry['kind']!r}")
    if "member" in entry:
        template = _checked(members, entry["member"], entry["member_sha256"], used)
    else:
        template = base64.b64decode(entry["template_b64"], validate=True)
    rendered: list[tuple[int, bytes]] = []
    for key_entry in entry["keys"]:
        member = key_entry["member"]
        blob = _checked(members, member, key_entry["member_sha256"], used)
        key = _load_key(blob, password, member)
        if _public_sha(key) != key_entry["public_key_sha256"]:
            raise BackupDamaged(f"the key {visible(member)} is not the key the manifest names")
        fmt, encoding, newline = key_entry["format"], key_entry["encoding"], key_entry["newline"]
        if fmt not in _FORMATS or encoding not in ("pem", "der") or newline not in ("lf", "crlf"):
            raise ValueError(f"unknown key encoding in {member}")
        rendered.append((int(key_entry["offset"]), _render_key(key, fmt, encoding, newline)))
    data = _reassemble(template, rendered)
    exact = bool(entry.get("exact", True))
    if exact and hashlib.sha256(data).hexdigest() != entry["sha256"]:
        raise BackupDamaged(
            f"{visible(str(entry['path']))} does not reassemble to its recorded SHA-256"
        )
    return BackedUpFile(
        kind="file",
        sha256=str(entry["sha256"]),
        data=data,
        exact=exact,
        keys=len(rendered),
        certificates=tuple((str(c["sha256"]), str(c["name"])) for c in entry["certificates"]),
        **common,
    )


# The record of the last run (for the Settings tab) ------------------------------------------------


@dataclass(frozen=True, slots=True)
class BackupRun:
    """How the last backup went."""

    time: datetime
    ok: bool
    message: str
    archive: str | None = None
    files: int = 0
    keys: int = 0
    removed: tuple[str, ...] = ()

    def describe(self) -> str:
        """One line, safe for a terminal."""
        verdict = "OK" if self.ok else "FAILED"
        where = f" {visible(self.archive)}" if self.archive else ""
        return f"{self.time:%Y-%m-%d %H:%M:%SZ} {verdict}{where}: {visible(self.message)}"


def backup_run_path(root: RootFS, *, euid: int | None = None) -> Path:
    """Where the record of the last backup run is kept for this root."""
    folder = state_directory(root, euid=euid)
    if is_root(euid) or root.root == "/":
        return folder / "last-backup.json"
    tag = hashlib.sha256(os.fsencode(root.root)).hexdigest()[:12]
    return folder / f"last-backup-{tag}.json"


def record_backup_run(run: BackupRun, path: Path) -> None:
    """Keep the record of a run (atomically; the folder is created private)."""
    doc = {
        "time": _iso(run.time),
        "ok": run.ok,
        "message": run.message,
        "archive": run.archive,
        "files": run.files,
        "keys": run.keys,
        "removed": list(run.removed),
    }
    ensure_private_dir(path.parent)
    atomic_write(
        path, (json.dumps(doc, indent=2) + "\n").encode("utf-8"), mode=0o600, overwrite=True
    )


def last_backup_run(path: Path) -> BackupRun | None:
    """The record of the last run, or ``None`` when there is none (or it is unreadable)."""
    try:
        doc = json.loads(path.read_bytes())
        return BackupRun(
            time=datetime.fromisoformat(str(doc["time"]).replace("Z", "+00:00")),
            ok=bool(doc["ok"]),
            message=str(doc["message"]),
            archive=doc.get("archive"),
            files=int(doc.get("files", 0)),
            keys=int(doc.get("keys", 0)),
            removed=tuple(str(n) for n in doc.get("removed", [])),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
