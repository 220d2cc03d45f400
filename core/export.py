"""Export certificates (with their chains and keys) as PKCS#12 or PEM files.

Two steps, so that a wizard and the command line can show everything before anything is
written:

1. :func:`plan_export` picks the certificates, their chains and the private keys certdeck can
   read, and lists every file with a free name (an existing file is never replaced).
2. :func:`write_export` builds the files with the password and writes them all or none
   (:func:`core.transfer.write_files`); the :class:`ExportResult` says what was written.

PKCS#12 files are encrypted either the modern way (AES-256-CBC with PBKDF2-HMAC-SHA256 and a
SHA-256 MAC; OpenSSL 3 and current systems) or the legacy way (3DES with a SHA-1 MAC; old
Windows, Java and appliances).  A PKCS#12 file written here holds at most one private key:
when one file is asked for several certificates with keys, the first certificate's key is
included, the others' keys are not, and the plan says so (export one file per certificate
to include every key).
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeAlias

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.utils import CryptographyDeprecationWarning

from core.errors import CertdeckError, UsageError
from core.model import CertificateRecord, Inventory
from core.passwords import PasswordError
from core.rootfs import RootFS
from core.scope import Scope, UnknownCertificate, records_by_fingerprints, records_in_scope
from core.settings import Settings
from core.text import visible
from core.transfer import (
    FileEntry,
    NameAllocator,
    PlannedFile,
    WrittenFile,
    check_destination,
    open_folder_note,
    renamed_note,
    safe_stem,
    shown_path,
    write_files,
    written_summary,
)

__all__ = [
    "LEGACY_KDF_ROUNDS",
    "MODERN_KDF_ROUNDS",
    "ExportFormat",
    "ExportPlan",
    "ExportResult",
    "NothingSelected",
    "PasswordRequired",
    "Selection",
    "UnknownCertificate",
    "encryption_label",
    "export_directory",
    "plan_export",
    "select_records",
    "write_export",
]

ExportFormat: TypeAlias = Literal["p12", "pem"]
Selection: TypeAlias = Literal["required", "all"] | Scope | Sequence[str]
"""``"required"``, ``"all"``, a :class:`~core.scope.Scope`, or SHA-256 fingerprints (the
highlighted or marked rows; unique prefixes of at least 8 hex digits are accepted)."""

MODERN_KDF_ROUNDS = 100_000
"""PBKDF2-HMAC-SHA256 iterations of modern files (OpenSSL 3 writes 2048; more is slower to
attack and still opens in well under a second)."""
LEGACY_KDF_ROUNDS = 2048
"""Iterations of legacy files: what OpenSSL 1.x and Windows write, so old readers cope."""

_MAX_KEY_FILE = 1024 * 1024
_PKCS12_KEYS = (
    rsa.RSAPrivateKey,
    dsa.DSAPrivateKey,
    ec.EllipticCurvePrivateKey,
    ed25519.Ed25519PrivateKey,
    ed448.Ed448PrivateKey,
)
_KEY_BLOCK = re.compile(
    rb"-----BEGIN ((?:RSA |EC |DSA )?PRIVATE KEY)-----\r?\n.*?-----END \1-----", re.DOTALL
)


class NothingSelected(UsageError):
    """The selection holds no certificate."""

    title = "Nothing to export"


class PasswordRequired(PasswordError):
    """A PKCS#12 export was asked for without a usable password."""


def export_directory(settings: Settings, root: RootFS) -> Path | None:
    """The folder from ``export.directory`` on this host, or ``None`` when unset (ask)."""
    folder = settings.export.directory
    return Path(root.host(folder)) if folder else None


def encryption_label(legacy: bool) -> str:
    """The PKCS#12 encryption in words."""
    if legacy:
        return "legacy: 3DES, SHA-1 MAC, for old importers"
    return "modern: AES-256-CBC, PBKDF2-HMAC-SHA256, SHA-256 MAC"


def select_records(inventory: Inventory, selection: Selection) -> list[CertificateRecord]:
    """The certificates a selection stands for, in inventory order (fingerprints: as given).

    Raises:
        NothingSelected: the selection is empty.
        UnknownCertificate: a fingerprint matches no certificate, or several.
    """
    if isinstance(selection, Scope):
        records = records_in_scope(inventory.certificates, selection)
        what = f"the scope {selection.label} holds no certificate"
    elif selection == "required":
        records = [r for r in inventory.certificates if r.required]
        what = "no certificate is required (no service uses one)"
    elif selection == "all":
        records = list(inventory.certificates)
        what = "the inventory is empty"
    elif isinstance(selection, str):
        raise UsageError(f"unknown selection {selection!r}: use required, all or fingerprints")
    else:
        records = records_by_fingerprints(inventory, selection)
        what = "no fingerprint was given"
    if not records:
        raise NothingSelected(f"nothing to export: {what}")
    return records


@dataclass(frozen=True, slots=True)
class _Key:
    source: str
    """Machine path of the key file."""
    key: PrivateKeyTypes = field(repr=False)


@dataclass(frozen=True, slots=True)
class _Content:
    """How to build one planned file."""

    certs: tuple[tuple[bytes, bytes | None], ...]
    """DER and friendly name of each certificate; the key (if any) belongs to the first."""
    keys: tuple[PrivateKeyTypes, ...] = field(default=(), repr=False)


@dataclass(frozen=True, slots=True)
class ExportPlan:
    """Every file an export will write, before anything is written."""

    format: ExportFormat
    legacy: bool
    destination: Path
    shown_destination: str
    create_destination: bool
    """The destination folder does not exist yet and will be created."""
    files: tuple[PlannedFile, ...]
    selected: tuple[str, ...]
    """Fingerprints of the selected certificates, in order."""
    warnings: tuple[str, ...] = ()
    """What the user must know before confirming (unencrypted keys, weak encryption)."""
    notes: tuple[str, ...] = ()
    """Certificates whose key cannot be included, and why."""
    contents: tuple[_Content, ...] = field(default=(), repr=False, compare=False)
    """How to build each file (certificates and key material), aligned with ``files``."""
    root: RootFS | None = field(default=None, repr=False, compare=False)

    @property
    def needs_password(self) -> bool:
        """PKCS#12 files are always password-protected."""
        return self.format == "p12"

    @property
    def has_keys(self) -> bool:
        """Some file holds a private key (the folder is then created with mode 0700)."""
        return any(f.key is not None for f in self.files)

    def describe(self) -> list[str]:
        """The preview as lines of text, safe for a terminal."""
        count = len(self.selected)
        what = "PKCS#12" if self.format == "p12" else "PEM"
        if self.format == "p12":
            what += f" ({encryption_label(self.legacy)})"
        created = " (will be created)" if self.create_destination else ""
        lines = [
            f"Export {count} certificate{'s' if count != 1 else ''} as {what}",
            f"to {visible(self.shown_destination)}{created}:",
        ]
        for planned in self.files:
            lines += ["  " + line for line in planned.describe()]
        lines += [f"warning: {visible(w)}" for w in self.warnings]
        lines += [f"note: {visible(n)}" for n in self.notes]
        return lines


@dataclass(frozen=True, slots=True)
class ExportResult:
    """What an export wrote."""

    destination: str
    files: tuple[WrittenFile, ...]
    warnings: tuple[str, ...] = ()

    def describe(self) -> list[str]:
        """The summary as lines of text, safe for a terminal."""
        lines = written_summary(self.destination, self.files)
        lines += [f"warning: {visible(w)}" for w in self.warnings]
        return lines


def plan_export(
    inventory: Inventory,
    selection: Selection,
    *,
    fmt: ExportFormat,
    one_file: bool,
    destination: Path,
    root: RootFS,
    with_keys: bool | None = None,
    include_root: bool = False,
    legacy: bool = False,
    file_name: str | None = None,
) -> ExportPlan:
    """Plan an export: which files, with which certificates and keys, under which names.

    Args:
        inventory: The scan result the selection refers to.
        selection: See :data:`Selection`.
        fmt: ``p12`` (password-protected PKCS#12) or ``pem``.
        one_file: One file for all certificates instead of one per certificate.
        destination: The folder on this host to write into (created when missing).
        root: The machine's root, to read key files and show machine paths.
        with_keys: Include private keys certdeck can read. ``None`` means the format's
            default: yes for PKCS#12, no for PEM (where keys are written unencrypted).
        include_root: Include the self-signed root at the end of each chain.
        legacy: PKCS#12 with 3DES and a SHA-1 MAC instead of AES-256 and SHA-256.
        file_name: The name (without extension) of the single file when ``one_file``;
            default: the certificate's name, or ``certdeck-export`` for several.

    Raises:
        NothingSelected, UnknownCertificate: the selection is empty or unknown.
        DestinationError: the destination is not a folder or not writable.
    """
    if fmt not in ("p12", "pem"):
        raise UsageError(f"unknown export format {fmt!r}: use p12 or pem")
    records = select_records(inventory, selection)
    folder = Path(os.path.abspath(destination))
    create = check_destination(folder, root)
    include_keys = (fmt == "p12") if with_keys is None else with_keys
    index = _Index(inventory)
    notes: list[str] = []
    keys: dict[str, _Key] = {}
    keyless: list[str] = []
    if include_keys:
        for record in records:
            found, why = _load_key(record, root)
            if found is not None:
                keys[record.sha256] = found
            elif why is None:
                # CA certificates rarely have their key on a server: not worth a note each.
                if not record.cert.is_ca:
                    keyless.append(record.cert.display_name)
            else:
                notes.append(f"{record.cert.display_name}: {why}")
    if keyless:
        notes.insert(0, f"no private key was found on this machine for: {', '.join(keyless)}")
    chains = {r.sha256: index.chain(r, include_root) for r in records}
    names = NameAllocator(folder)
    if one_file:
        built = [_one_file(records, chains, keys, fmt, folder, names, root, file_name)]
    else:
        built = []
        for record in records:
            built += _files_for(record, chains[record.sha256], keys, fmt, folder, names, root)
    files = tuple(f for f, _ in built)
    warnings_: list[str] = []
    if fmt == "pem" and any(f.key is not None for f in files):
        warnings_.append(
            "private keys will be written unencrypted (mode 0600): anyone who can read these "
            "files can impersonate the certificates' owners"
        )
    if fmt == "p12" and legacy:
        warnings_.append(
            "legacy encryption (3DES, SHA-1 MAC) is weak; use it only for importers that "
            "cannot open modern files"
        )
    if any(f.key is not None for f in files) and not create:
        notes += open_folder_note(folder, root)
    return ExportPlan(
        format=fmt,
        legacy=legacy,
        destination=folder,
        shown_destination=shown_path(folder, root),
        create_destination=create,
        files=files,
        selected=tuple(r.sha256 for r in records),
        warnings=tuple(warnings_),
        notes=tuple(notes),
        contents=tuple(c for _, c in built),
        root=root,
    )


class _Index:
    """Issuer look-ups for certificates without a verified chain."""

    def __init__(self, inventory: Inventory) -> None:
        self.by = inventory.by_sha256()
        self.by_subject: dict[bytes, list[CertificateRecord]] = {}
        for record in inventory.certificates:
            self.by_subject.setdefault(record.cert.subject_der, []).append(record)

    def chain(self, record: CertificateRecord, include_root: bool) -> list[CertificateRecord]:
        """The issuers of a certificate up to its root (the root only when asked for)."""
        if record.chain:
            issuers = [self.by[sha] for sha in record.chain[1:] if sha in self.by]
        else:
            issuers = self._walk(record)
        if not include_root:
            while issuers and issuers[-1].cert.self_issued:
                issuers.pop()
        return issuers

    def _walk(self, record: CertificateRecord) -> list[CertificateRecord]:
        # Untrusted certificates have no verified chain; follow names (and key ids) instead,
        # so that the intermediates still travel with the certificate.
        issuers: list[CertificateRecord] = []
        seen = {record.sha256}
        current = record
        while not current.cert.self_issued and len(issuers) < 10:
            candidates = [
                c
                for c in self.by_subject.get(current.cert.issuer_der, [])
                if c.sha256 not in seen and c.cert.is_ca
            ]
            aki = current.cert.authority_key_id
            if aki:
                candidates = [c for c in candidates if c.cert.subject_key_id in (None, aki)]
            if not candidates:
                break
            current = max(candidates, key=lambda c: c.cert.not_after)
            seen.add(current.sha256)
            issuers.append(current)
        return issuers


def _load_key(record: CertificateRecord, root: RootFS) -> tuple[_Key | None, str | None]:
    """The certificate's private key, or why it cannot be included (``None``: no key known)."""
    info = record.private_key
    if info is None:
        return None, None
    if info.encrypted:
        return None, f"its private key {info.path} is encrypted; certdeck does not decrypt keys"
    host = info.os_path or root.host(info.path)
    try:
        with open(host, "rb") as handle:
            data = handle.read(_MAX_KEY_FILE + 1)
    except PermissionError:
        return None, (
            f"its private key {info.path} is not readable by this user "
            "(run certdeck as root to include it)"
        )
    except OSError as exc:
        return None, f"its private key {info.path} cannot be read: {exc.strerror or exc}"
    key = _matching_key(data, record.cert.public_key_sha256)
    if key is None:
        return None, f"{info.path} no longer holds its private key (changed since the scan?)"
    return _Key(info.path, key), None


def _matching_key(data: bytes, public_key_sha256: str) -> PrivateKeyTypes | None:
    if b"-----BEGIN " in data:
        candidates = [m.group(0) for m in _KEY_BLOCK.finditer(data)]
        load: Callable[[bytes], PrivateKeyTypes] = _load_pem_key
    else:
        candidates = [data]
        load = _load_der_key
    for candidate in candidates:
        try:
            key = load(candidate)
        except Exception:  # not this block: encrypted, malformed or unsupported
            continue
        spki = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        if hashlib.sha256(spki).hexdigest() == public_key_sha256:
            return key
    return None


def _load_pem_key(data: bytes) -> PrivateKeyTypes:
    return serialization.load_pem_private_key(data, None)


def _load_der_key(data: bytes) -> PrivateKeyTypes:
    return serialization.load_der_private_key(data, None)


def _friendly(record: CertificateRecord) -> bytes | None:
    name = "".join(
        c for c in record.cert.display_name if unicodedata.category(c) not in ("Cc", "Cf", "Cs")
    )
    return name.encode("utf-8") if name else None


def _entries(
    record: CertificateRecord, chain: Sequence[CertificateRecord]
) -> list[tuple[FileEntry, CertificateRecord]]:
    items = [(FileEntry(record.sha256, record.cert.display_name, "certificate"), record)]
    for issuer in chain:
        role = "root" if issuer.cert.self_issued else "chain"
        items.append((FileEntry(issuer.sha256, issuer.cert.display_name, role), issuer))
    return items


def _files_for(
    record: CertificateRecord,
    chain: Sequence[CertificateRecord],
    keys: dict[str, _Key],
    fmt: ExportFormat,
    folder: Path,
    names: NameAllocator,
    root: RootFS,
) -> list[tuple[PlannedFile, _Content]]:
    stem = safe_stem(record.cert.display_name, "certificate")
    items = _entries(record, chain)
    entries = tuple(e for e, _ in items)
    certs = tuple((r.cert.der, _friendly(r)) for _, r in items)
    key = keys.get(record.sha256)
    if fmt == "p12":
        used, reason = names.allocate(stem, [".p12"])
        path = folder / f"{used}.p12"
        planned = PlannedFile(
            path=path,
            shown=shown_path(path, root),
            kind="pkcs12",
            mode=0o600,
            certificates=entries,
            key=key.source if key else None,
            notes=renamed_note(f"{stem}.p12", f"{used}.p12", reason),
        )
        return [(planned, _Content(certs, (key.key,) if key else ()))]
    suffixes = [".pem", ".key"] if key else [".pem"]
    used, reason = names.allocate(stem, suffixes)
    cert_path = folder / f"{used}.pem"
    out = [
        (
            PlannedFile(
                path=cert_path,
                shown=shown_path(cert_path, root),
                kind="certificates",
                mode=0o644,
                certificates=entries,
                notes=renamed_note(f"{stem}.pem", f"{used}.pem", reason),
            ),
            _Content(certs),
        )
    ]
    if key:
        key_path = folder / f"{used}.key"
        out.append(
            (
                PlannedFile(
                    path=key_path,
                    shown=shown_path(key_path, root),
                    kind="key",
                    mode=0o600,
                    key=key.source,
                    notes=(f"the private key of {record.cert.display_name}, unencrypted",),
                ),
                _Content((), (key.key,)),
            )
        )
    return out


def _one_file(
    records: Sequence[CertificateRecord],
    chains: dict[str, list[CertificateRecord]],
    keys: dict[str, _Key],
    fmt: ExportFormat,
    folder: Path,
    names: NameAllocator,
    root: RootFS,
    file_name: str | None,
) -> tuple[PlannedFile, _Content]:
    if file_name:
        stem = safe_stem(file_name, "certdeck-export")
    elif len(records) == 1:
        stem = safe_stem(records[0].cert.display_name, "certificate")
    else:
        stem = "certdeck-export"
    ordered = list(records)
    notes: list[str] = []
    included: list[_Key] = []
    if fmt == "p12":
        # One key per PKCS#12 file here: its certificate goes first, as the file's main entry.
        with_key = [r for r in records if r.sha256 in keys]
        if with_key:
            first = with_key[0]
            ordered.remove(first)
            ordered.insert(0, first)
            included.append(keys[first.sha256])
            if len(with_key) > 1:
                others = ", ".join(r.cert.display_name for r in with_key[1:])
                notes.append(
                    f"only the private key of {first.cert.display_name} is included (a PKCS#12 "
                    f"file written by certdeck holds one key); not included: {others}; export "
                    "one file per certificate to include every key"
                )
    else:
        included = [keys[r.sha256] for r in records if r.sha256 in keys]
    seen: set[str] = set()
    items: list[tuple[FileEntry, CertificateRecord]] = []
    selected = {r.sha256 for r in records}
    for record in ordered:
        for entry, member in _entries(record, chains[record.sha256]):
            if member.sha256 in seen or (entry.role != "certificate" and member.sha256 in selected):
                continue
            seen.add(member.sha256)
            items.append((entry, member))
    suffix = ".p12" if fmt == "p12" else ".pem"
    used, reason = names.allocate(stem, [suffix])
    path = folder / f"{used}{suffix}"
    kind: Literal["pkcs12", "certificates", "bundle"]
    if fmt == "p12":
        kind, mode = "pkcs12", 0o600
    elif included:
        kind, mode = "bundle", 0o600
        notes.append("the private keys follow the certificates in the same file, unencrypted")
    else:
        kind, mode = "certificates", 0o644
    planned = PlannedFile(
        path=path,
        shown=shown_path(path, root),
        kind=kind,
        mode=mode,
        certificates=tuple(e for e, _ in items),
        key=", ".join(k.source for k in included) if included else None,
        notes=renamed_note(f"{stem}{suffix}", f"{used}{suffix}", reason) + tuple(notes),
    )
    content = _Content(
        tuple((r.cert.der, _friendly(r)) for _, r in items), tuple(k.key for k in included)
    )
    return planned, content


def write_export(
    plan: ExportPlan,
    password: bytes | None,
    *,
    cancelled: Callable[[], bool] | None = None,
) -> ExportResult:
    """Write the planned files: all of them, or none.

    Args:
        plan: From :func:`plan_export`.
        password: The PKCS#12 password (required, non-empty); ignored for PEM.
        cancelled: Asked before each file; true stops and removes what was written.

    Raises:
        PasswordRequired: a PKCS#12 export without a usable password.
        WriteFailed, WriteCancelled: nothing was written (see :mod:`core.transfer`).
    """
    encryption: serialization.KeySerializationEncryption | None = None
    if plan.format == "p12":
        encryption = _encryption(password, legacy=plan.legacy)
    data = [_render(plan.format, content, encryption) for content in plan.contents]
    written = write_files(
        plan.destination,
        list(zip(plan.files, data, strict=True)),
        private=plan.has_keys,
        root=plan.root,
        cancelled=cancelled,
    )
    return ExportResult(plan.shown_destination, written, plan.warnings)


def _encryption(
    password: bytes | None, *, legacy: bool
) -> serialization.KeySerializationEncryption:
    if not password:
        raise PasswordRequired("a PKCS#12 export needs a password of at least one character")
    try:
        password.decode("utf-8")
    except UnicodeDecodeError:
        # PKCS#12 passwords are Unicode text; other bytes would open nowhere else.
        raise PasswordRequired("the password is not valid UTF-8 text") from None
    builder = serialization.PrivateFormat.PKCS12.encryption_builder()
    if legacy:
        builder = (
            builder.kdf_rounds(LEGACY_KDF_ROUNDS)
            .key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC)
            .hmac_hash(hashes.SHA1())
        )
    else:
        builder = (
            builder.kdf_rounds(MODERN_KDF_ROUNDS)
            .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
            .hmac_hash(hashes.SHA256())
        )
    return builder.build(password)


def _certificate(der: bytes) -> x509.Certificate:
    with warnings.catch_warnings():
        # Certificates with small RFC 5280 violations still export as they are.
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        return x509.load_der_x509_certificate(der)


def _render(
    fmt: ExportFormat,
    content: _Content,
    encryption: serialization.KeySerializationEncryption | None,
) -> bytes:
    if fmt == "p12":
        if encryption is None:
            raise PasswordRequired("a PKCS#12 export needs a password")
        certs = [(_certificate(der), name) for der, name in content.certs]
        key = content.keys[0] if content.keys else None
        if key is not None and not isinstance(key, _PKCS12_KEYS):
            raise CertdeckError("this kind of private key cannot be stored in a PKCS#12 file")
        main_cert, main_name = certs[0] if certs else (None, None)
        cas = [pkcs12.PKCS12Certificate(cert, name) for cert, name in certs[1:]]
        return pkcs12.serialize_key_and_certificates(
            main_name, key, main_cert, cas or None, encryption
        )
    parts = [_certificate(der).public_bytes(serialization.Encoding.PEM) for der, _ in content.certs]
    parts += [
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        for key in content.keys
    ]
    return b"".join(parts)
