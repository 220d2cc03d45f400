"""Import certificates and private keys from a file: PKCS#12, PEM, DER or PKCS#7.

Steps a wizard (or ``certdeck import``) walks through:

1. :func:`read_import_file` reads the file (size-limited), :func:`inspect_import` detects the
   format from the content and previews what is inside.  A PKCS#12 file, or a PEM file with
   an encrypted key, comes back ``locked``.
2. :func:`open_import` opens it with a password.  The three ways that can fail are told
   apart: :class:`WrongPassword` (ask again), :class:`NotPkcs12` (damaged or not PKCS#12) and
   :class:`UnsupportedAlgorithm` (e.g. RC2-40 that OpenSSL 3 refuses without its legacy
   provider).  The password is checked against the file's MAC independently of OpenSSL.
3. :func:`plan_import` lists the files to write: per chain a ``name.pem`` (leaf first) and a
   ``name.key`` (mode 0600, in a 0700 folder, optionally re-encrypted).  Certificates and
   keys already on the machine are skipped with a note; taken names get free ones.
4. :func:`write_import` writes them all or none.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm as _CryptoUnsupported
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.utils import CryptographyDeprecationWarning

from core import _der
from core._pkcs12 import (
    Pkcs12FormatError,
    Pkcs12Structure,
    looks_like_pkcs12,
    mac_matches,
    read_structure,
)
from core.errors import CertdeckError, UsageError
from core.model import CertFacts, Inventory, KeyFacts
from core.parse import cert_facts, parse_bytes
from core.passwords import PasswordError
from core.rootfs import RootFS
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
    "MAX_IMPORT_SIZE",
    "SYSTEM_IMPORT_DIRECTORY",
    "ImportCertificate",
    "ImportFileError",
    "ImportKey",
    "ImportPlan",
    "ImportPreview",
    "ImportResult",
    "NotPkcs12",
    "StillLocked",
    "UnrecognisedFile",
    "UnsupportedAlgorithm",
    "WrongPassword",
    "import_directory",
    "inspect_import",
    "open_import",
    "plan_import",
    "read_import_file",
    "write_import",
]

SYSTEM_IMPORT_DIRECTORY = "/etc/ssl/certdeck"
"""Where imports go by default when certdeck runs as root (a machine path)."""

MAX_IMPORT_SIZE = 10 * 1024 * 1024
"""Larger files are refused: no certificate file is that big."""

_KEY_BLOCK = re.compile(
    rb"-----BEGIN ((?:ENCRYPTED |RSA |EC |DSA )?PRIVATE KEY)-----\r?\n.*?-----END \1-----",
    re.DOTALL,
)
_CONVERT_HINT = (
    "convert it where it opens, e.g. with OpenSSL 3: "
    "openssl pkcs12 -legacy -in OLD.p12 -nodes -out tmp.pem && "
    "openssl pkcs12 -export -in tmp.pem -out NEW.p12 && shred -u tmp.pem"
)


class ImportFileError(CertdeckError):
    """The file to import cannot be read."""

    title = "Cannot read the file"


class NotPkcs12(CertdeckError):
    """The file is not PKCS#12, or it is damaged."""

    title = "Not a PKCS#12 file"


class UnrecognisedFile(NotPkcs12):
    """The file holds no certificate or key certdeck recognises (PKCS#12 or other)."""

    title = "Not a certificate file"


class WrongPassword(CertdeckError):
    """The password does not open the file (the user can try again)."""

    title = "Wrong password"


class UnsupportedAlgorithm(CertdeckError):
    """The file uses an algorithm this system cannot decrypt."""

    title = "Unsupported encryption"


class StillLocked(UsageError):
    """A locked preview was planned before it was opened with its password."""


@dataclass(frozen=True, slots=True)
class ImportCertificate:
    """A certificate in the file."""

    facts: CertFacts
    friendly_name: str | None = None
    """The name stored with it in a PKCS#12 file (hostile text)."""
    present: tuple[str, ...] = ()
    """Machine paths where this certificate already is on the machine."""

    @property
    def sha256(self) -> str:
        """The certificate's identity."""
        return self.facts.sha256

    @property
    def already_present(self) -> bool:
        """Whether the machine already holds it."""
        return bool(self.present)


@dataclass(frozen=True, slots=True)
class ImportKey:
    """A private key in the file (the key material itself is never shown)."""

    public_key_sha256: str | None
    """``None`` while the key is still encrypted."""
    key: KeyFacts | None = None
    encrypted: bool = False
    """Still encrypted: the file needs :func:`open_import`."""
    matches: str | None = None
    """SHA-256 of the certificate in the file this key belongs to."""
    present: tuple[str, ...] = ()
    """Machine paths where the same key already is."""
    material: PrivateKeyTypes | None = field(default=None, repr=False, compare=False)

    def describe(self) -> str:
        """The key in words, e.g. ``EC 256 bits (secp256r1)``."""
        if self.key is None:
            return "encrypted private key"
        curve = f" ({self.key.curve})" if self.key.curve else ""
        return f"{self.key.type} {self.key.bits} bits{curve}"


@dataclass(frozen=True, slots=True)
class ImportPreview:
    """What a file holds, as far as can be seen (everything, once unlocked)."""

    name: str
    """The file's name as given (hostile text)."""
    format: str
    """``pkcs12``, ``pem``, ``der`` or ``pkcs7``."""
    locked: bool
    """A password is needed: call :func:`open_import`."""
    certificates: tuple[ImportCertificate, ...] = ()
    """Chain order: each leaf, then its issuers, then the next leaf."""
    keys: tuple[ImportKey, ...] = ()
    chains: tuple[tuple[str, ...], ...] = ()
    """Fingerprints per chain, leaf first; a certificate can be in several chains."""
    protection: tuple[str, ...] = ()
    """How a PKCS#12 file is protected, in words (integrity MAC, encryption of the bags)."""
    problems: tuple[str, ...] = ()
    """Parts of the file that could not be read."""

    @property
    def lock_reason(self) -> str:
        """What the password is for, for the prompt."""
        if not self.locked:
            return ""
        if self.format == "pkcs12":
            return "the PKCS#12 file is password-protected"
        return "the private key in the file is encrypted"

    def certificate(self, sha256: str) -> ImportCertificate:
        """The certificate with this fingerprint."""
        return next(c for c in self.certificates if c.sha256 == sha256)

    def describe(self) -> list[str]:
        """The preview as lines of text, safe for a terminal."""
        label = {"pkcs12": "PKCS#12", "pem": "PEM", "der": "DER", "pkcs7": "PKCS#7"}
        lines = [f"{visible(self.name)}: {label.get(self.format, self.format)}"]
        lines += [f"  {visible(p)}" for p in self.protection]
        if self.locked:
            lines.append(f"  locked: {self.lock_reason}")
        if self.certificates:
            lines.append("Certificates (chain order):")
        for number, cert in enumerate(self.certificates, 1):
            f = cert.facts
            lines.append(f"  {number}. {f.role}: {visible(f.display_name)}")
            lines.append(f"     subject: {visible(f.subject)}")
            lines.append(f"     issuer:  {visible(f.issuer)}")
            lines.append(f"     valid:   {f.not_before:%Y-%m-%d} to {f.not_after:%Y-%m-%d}")
            lines.append(f"     sha256:  {f.sha256}")
            if cert.friendly_name:
                lines.append(f"     friendly name: {visible(cert.friendly_name)}")
            if cert.present:
                lines.append(f"     already on this machine: {visible(cert.present[0])}")
        numbers = {c.sha256: n for n, c in enumerate(self.certificates, 1)}
        for key in self.keys:
            if key.matches:
                belongs = f"matches certificate {numbers[key.matches]}"
            elif key.encrypted:
                belongs = "encrypted: which certificate it matches shows once opened"
            else:
                belongs = "matches none of the certificates"
            lines.append(f"Private key: {key.describe()}, {belongs}")
            if key.present:
                lines.append(f"  already on this machine: {visible(key.present[0])}")
        lines += [f"problem: {visible(p)}" for p in self.problems]
        return lines


@dataclass(frozen=True, slots=True)
class ImportPlan:
    """Every file an import will write, before anything is written."""

    destination: Path
    shown_destination: str
    create_destination: bool
    files: tuple[PlannedFile, ...]
    notes: tuple[str, ...] = ()
    """Skipped certificates and keys (already present) and other remarks."""
    imported: tuple[str, ...] = ()
    """Fingerprints of the certificates that will be written."""
    contents: tuple[bytes, ...] = field(default=(), repr=False, compare=False)
    """The bytes of each file (private keys among them), aligned with ``files``."""
    root: RootFS | None = field(default=None, repr=False, compare=False)

    @property
    def nothing_to_write(self) -> bool:
        """Everything in the file is already on the machine."""
        return not self.files

    @property
    def has_keys(self) -> bool:
        """Some file holds a private key."""
        return any(f.key is not None for f in self.files)

    def describe(self) -> list[str]:
        """The plan as lines of text, safe for a terminal."""
        if not self.files:
            lines = ["Nothing to write: everything in the file is already on this machine."]
        else:
            created = " (will be created)" if self.create_destination else ""
            lines = [f"Write to {visible(self.shown_destination)}{created}:"]
            for planned in self.files:
                lines += ["  " + line for line in planned.describe()]
        lines += [f"note: {visible(n)}" for n in self.notes]
        return lines


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What an import wrote."""

    destination: str
    files: tuple[WrittenFile, ...]
    notes: tuple[str, ...] = ()
    imported: tuple[str, ...] = ()
    """Fingerprints of the certificates written (to highlight after the rescan)."""

    def describe(self) -> list[str]:
        """The summary as lines of text, safe for a terminal."""
        lines = written_summary(self.destination, self.files)
        lines += [f"note: {visible(n)}" for n in self.notes]
        return lines


def import_directory(settings: Settings, root: RootFS, *, euid: int | None = None) -> Path:
    """Where imports go on this host: ``import.directory``, else the default.

    The default is ``/etc/ssl/certdeck`` (under the root) when running as root, else
    ``imported`` in the user's data folder.
    """
    if settings.import_.directory:
        return Path(root.host(settings.import_.directory))
    uid = os.geteuid() if euid is None else euid
    if uid == 0:
        return Path(root.host(SYSTEM_IMPORT_DIRECTORY))
    return platformdirs.user_data_path("certdeck") / "imported"


def read_import_file(path: Path, *, max_size: int = MAX_IMPORT_SIZE) -> bytes:
    """The content of the file to import.

    Raises:
        ImportFileError: it is missing, unreadable, not a regular file or too large.
    """
    shown = visible(os.fspath(path))
    try:
        with open(path, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise ImportFileError(f"{shown} is not a regular file")
            data = handle.read(max_size + 1)
    except FileNotFoundError:
        raise ImportFileError(f"{shown} does not exist") from None
    except IsADirectoryError:
        raise ImportFileError(f"{shown} is a folder; choose a certificate file") from None
    except PermissionError:
        raise ImportFileError(
            f"cannot read {shown}: permission denied (run certdeck as a user who can read it)"
        ) from None
    except OSError as exc:
        raise ImportFileError(f"cannot read {shown}: {exc.strerror or exc}") from None
    if len(data) > max_size:
        raise ImportFileError(
            f"{shown} is larger than {max_size // (1024 * 1024)} MiB; that is no certificate file"
        )
    return data


def inspect_import(
    data: bytes, name: str = "", *, inventory: Inventory | None = None
) -> ImportPreview:
    """Detect the format from the content and preview what the file holds.

    Raises:
        UnrecognisedFile: no certificate or key in it.
        NotPkcs12: it starts like PKCS#12 but its structure is damaged.
    """
    shown = name or "the file"
    parsed = parse_bytes(data, name=name or "import.pem")
    if parsed.pkcs12 or looks_like_pkcs12(data):
        structure = _structure(data, shown)
        protection = _protection(structure)
        return ImportPreview(name=name, format="pkcs12", locked=True, protection=protection)
    if not parsed.certs and not parsed.keys:
        if parsed.problems:
            raise UnrecognisedFile(f"{visible(shown)}: {parsed.problems[0]}")
        raise UnrecognisedFile(
            f"{visible(shown)} holds no certificate or private key: it is neither PEM, DER, "
            "PKCS#7 nor PKCS#12"
        )
    facts = [found.facts for found in parsed.certs]
    fmt = parsed.certs[0].format if parsed.certs else ("pem" if b"-----BEGIN " in data else "der")
    keys, problems = _plain_keys(data, None)
    return _preview(
        name, fmt, facts, {}, keys, inventory, problems=tuple(parsed.problems) + problems
    )


def open_import(
    data: bytes, password: bytes | None, *, name: str = "", inventory: Inventory | None = None
) -> ImportPreview:
    """Open a locked file with its password and preview everything in it.

    Files that need no password come back as :func:`inspect_import` sees them.

    Raises:
        WrongPassword: the password is wrong (ask again).
        NotPkcs12: damaged, or not PKCS#12 / certificate material at all.
        UnsupportedAlgorithm: the file's encryption cannot be decrypted on this system.
        UnrecognisedFile: no certificate or key in it.
    """
    shown = name or "the file"
    parsed = parse_bytes(data, name=name or "import.p12")
    if not (parsed.pkcs12 or looks_like_pkcs12(data)):
        preview = inspect_import(data, name, inventory=inventory)
        if not preview.locked:
            return preview
        keys, problems = _plain_keys(data, password if password is not None else b"")
        seen = [c.facts for c in preview.certificates]
        return _preview(name, preview.format, seen, {}, keys, inventory, problems=problems)
    structure = _structure(data, shown)
    try:
        bundle = _load_pkcs12(data, password)
    except UnicodeDecodeError:
        raise WrongPassword(
            "the password is not valid UTF-8 text, so it cannot be this file's password; "
            "check the keyboard layout and try again"
        ) from None
    except _CryptoUnsupported as exc:
        raise UnsupportedAlgorithm(
            f"{visible(shown)} holds a key of a type this system cannot use ({exc})"
        ) from None
    except ValueError as exc:
        raise _explain(structure, password, str(exc), shown) from None
    facts: list[CertFacts] = []
    names: dict[str, str] = {}
    members = ([bundle.cert] if bundle.cert else []) + list(bundle.additional_certs)
    for member in members:
        der = member.certificate.public_bytes(serialization.Encoding.DER)
        fact = cert_facts(der, member.certificate)
        facts.append(fact)
        if member.friendly_name:
            names[fact.sha256] = member.friendly_name.decode("utf-8", "replace")
    keys = [_key_info(bundle.key)] if bundle.key is not None else []
    preview = _preview(
        name, "pkcs12", facts, names, keys, inventory, protection=_protection(structure)
    )
    if not preview.certificates and not preview.keys:
        raise UnrecognisedFile(f"{visible(shown)} opened, but it holds no certificate or key")
    return preview


def _structure(data: bytes, shown: str) -> Pkcs12Structure:
    try:
        return read_structure(data)
    except Pkcs12FormatError as exc:
        raise NotPkcs12(
            f"{visible(shown)} starts like a PKCS#12 file but cannot be read: {exc}; "
            "it may be damaged or truncated (copy it again, in binary mode)"
        ) from None


def _protection(structure: Pkcs12Structure) -> tuple[str, ...]:
    lines = [f"integrity: {structure.mac_label}"]
    lines += [f"{a.protects}: {a.label}" for a in structure.algorithms]
    return tuple(lines)


def _load_pkcs12(data: bytes, password: bytes | None) -> pkcs12.PKCS12KeyAndCertificates:
    with warnings.catch_warnings():
        # BER-encoded files (old Java and Windows tools) load with a warning; they are fine.
        warnings.filterwarnings(
            "ignore", message="PKCS#12 bundle could not be parsed as DER", category=UserWarning
        )
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        return pkcs12.load_pkcs12(data, password)


def _explain(
    structure: Pkcs12Structure, password: bytes | None, reason: str, shown: str
) -> CertdeckError:
    """Why OpenSSL refused the file: its one message covers three different problems."""
    if "deserialize" in reason:
        return NotPkcs12(
            f"{visible(shown)} is not a valid PKCS#12 file: OpenSSL cannot read its structure "
            "(damaged or truncated?)"
        )
    verdict = mac_matches(structure, password)
    odd = [a for a in structure.algorithms if a.legacy or not a.known]
    if verdict is False:
        return WrongPassword(
            f"The password is wrong for {visible(shown)}. Passwords are case-sensitive; "
            "an empty password is possible too. Try again."
        )
    if odd:
        labels = "; ".join(f"{a.protects}: {a.label}" for a in odd)
        unknown = any(not a.known for a in odd)
        hint = (
            "certdeck does not know this algorithm"
            if unknown
            else "this system's OpenSSL does not decrypt it (OpenSSL 3 keeps RC2, RC4 and DES "
            "in its legacy provider)"
        )
        right = "The password is right, but " if verdict else ""
        return UnsupportedAlgorithm(
            f"{right}{visible(shown)} is encrypted with an old algorithm ({labels}): {hint}; "
            f"{_CONVERT_HINT}"
        )
    if verdict:
        return NotPkcs12(
            f"The password is right, but the content of {visible(shown)} cannot be decrypted: "
            "the file is damaged"
        )
    return WrongPassword(
        f"The password is wrong for {visible(shown)}, or the file is damaged "
        f"(its integrity check, {structure.mac_label}, cannot be verified here). Try again."
    )


def _key_info(key: PrivateKeyTypes) -> ImportKey:
    spki = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    kind, bits, curve = _der.read_spki(spki)
    return ImportKey(
        public_key_sha256=hashlib.sha256(spki).hexdigest(),
        key=KeyFacts(kind, bits, curve),
        material=key,
    )


def _plain_keys(data: bytes, password: bytes | None) -> tuple[list[ImportKey], tuple[str, ...]]:
    """The private keys of a PEM or DER file; encrypted ones stay locked without a password.

    Raises:
        WrongPassword, UnsupportedAlgorithm: only when a password is given.
    """
    if b"-----BEGIN " in data:
        blocks = [(m.group(0), True) for m in _KEY_BLOCK.finditer(data)]
    elif data[:1] == b"\x30":
        blocks = [(data, False)]
    else:
        blocks = []
    keys: list[ImportKey] = []
    problems: list[str] = []
    for block, pem in blocks:
        load = serialization.load_pem_private_key if pem else serialization.load_der_private_key
        try:
            keys.append(_key_info(load(block, None)))
            continue
        except TypeError:  # encrypted
            pass
        except (ValueError, _CryptoUnsupported) as exc:
            if pem:
                problems.append(f"a private key could not be read: {exc}")
            continue
        if password is None:
            keys.append(ImportKey(None, encrypted=True))
            continue
        try:
            keys.append(_key_info(load(block, password or None)))
        except (TypeError, ValueError):
            raise WrongPassword(
                "The password is wrong for the encrypted private key. Passwords are "
                "case-sensitive. Try again."
            ) from None
        except _CryptoUnsupported as exc:
            raise UnsupportedAlgorithm(
                f"the private key is encrypted with an algorithm this system cannot use ({exc})"
            ) from None
    return keys, tuple(problems)


def _preview(
    name: str,
    fmt: str,
    facts: Sequence[CertFacts],
    friendly: dict[str, str],
    keys: Sequence[ImportKey],
    inventory: Inventory | None,
    *,
    protection: tuple[str, ...] = (),
    problems: tuple[str, ...] = (),
) -> ImportPreview:
    unique = list({f.sha256: f for f in facts}.values())
    key_spkis = {k.public_key_sha256 for k in keys if k.public_key_sha256}
    chains = _chains(unique, key_spkis)
    ordered: list[str] = []
    for chain in chains:
        ordered += [sha for sha in chain if sha not in ordered]
    by = {f.sha256: f for f in unique}
    records = inventory.by_sha256() if inventory is not None else {}
    inventory_keys: dict[str, list[str]] = {}
    if inventory is not None:
        for info in inventory.private_keys:
            if info.public_key_sha256:
                inventory_keys.setdefault(info.public_key_sha256, []).append(info.path)
    certificates = tuple(
        ImportCertificate(
            facts=by[sha],
            friendly_name=friendly.get(sha),
            present=tuple(loc.path for loc in records[sha].locations) if sha in records else (),
        )
        for sha in ordered
    )
    finished: list[ImportKey] = []
    for key in keys:
        if key.public_key_sha256 is None:
            finished.append(key)
            continue
        owner = next((s for s in ordered if by[s].public_key_sha256 == key.public_key_sha256), None)
        finished.append(
            ImportKey(
                public_key_sha256=key.public_key_sha256,
                key=key.key,
                matches=owner,
                present=tuple(inventory_keys.get(key.public_key_sha256, ())),
                material=key.material,
            )
        )
    return ImportPreview(
        name=name,
        format=fmt,
        locked=any(k.encrypted for k in finished),
        certificates=certificates,
        keys=tuple(finished),
        chains=tuple(tuple(c) for c in chains),
        protection=protection,
        problems=problems,
    )


def _chains(facts: Sequence[CertFacts], key_spkis: set[str]) -> list[list[str]]:
    """Group certificates into chains, leaf first; leaves with a key in the file come first."""
    by_subject: dict[bytes, list[CertFacts]] = {}
    for f in facts:
        by_subject.setdefault(f.subject_der, []).append(f)

    def issuer(f: CertFacts) -> CertFacts | None:
        if f.self_issued:
            return None
        candidates = [c for c in by_subject.get(f.issuer_der, []) if c.sha256 != f.sha256]
        if f.authority_key_id:
            candidates = [c for c in candidates if c.subject_key_id in (None, f.authority_key_id)]
        return candidates[0] if candidates else None

    issuers = {i.sha256 for f in facts if (i := issuer(f)) is not None}
    position = {f.sha256: n for n, f in enumerate(facts)}
    leaves = sorted(
        (f for f in facts if f.sha256 not in issuers),
        key=lambda f: (f.public_key_sha256 not in key_spkis, position[f.sha256]),
    )
    chains: list[list[str]] = []
    placed: set[str] = set()
    for leaf in leaves:
        chain = [leaf.sha256]
        current: CertFacts | None = leaf
        while current is not None and (up := issuer(current)) is not None:
            if up.sha256 in chain:
                break
            chain.append(up.sha256)
            current = up
        chains.append(chain)
        placed.update(chain)
    for f in facts:  # certificates in an issuer loop: each on its own
        if f.sha256 not in placed:
            chains.append([f.sha256])
            placed.add(f.sha256)
    return chains


def plan_import(
    preview: ImportPreview,
    destination: Path,
    *,
    reencrypt_password: bytes | None = None,
    root: RootFS | None = None,
) -> ImportPlan:
    """Plan the files an import writes.

    Args:
        preview: An unlocked preview (from :func:`inspect_import` or :func:`open_import`).
        destination: The folder on this host to write into (created when missing, mode 0700
            when it receives a key).
        reencrypt_password: Encrypt the written keys with this password (PKCS#8, the best
            available encryption); ``None`` writes them unencrypted, mode 0600.
        root: For showing machine paths under ``--root``.

    Raises:
        StillLocked: the preview still needs its password.
        DestinationError: the destination is not a folder or not writable.
    """
    if preview.locked:
        raise StillLocked(f"{preview.lock_reason}: open it with its password first")
    if reencrypt_password is not None and not reencrypt_password:
        raise PasswordError("the new password for the private key must not be empty")
    folder = Path(os.path.abspath(destination))
    create = check_destination(folder, root)
    names = NameAllocator(folder)
    fallback = safe_stem(Path(preview.name).stem if preview.name else "", "imported")
    planned: list[PlannedFile] = []
    contents: list[bytes] = []
    notes: list[str] = []
    noted: set[str] = set()
    written: list[str] = []
    keys_by_owner: dict[str, list[ImportKey]] = {}
    loose: list[ImportKey] = []
    for key in preview.keys:
        if key.present:
            notes.append(
                f"the private key ({key.describe()}) is already on this machine at "
                f"{key.present[0]}; it is not written again"
            )
            continue
        owner = next((c for c in preview.chains if key.matches in c), None)
        if owner is None:
            loose.append(key)
        else:
            keys_by_owner.setdefault(owner[0], []).append(key)
    for chain in preview.chains:
        certs = [preview.certificate(sha) for sha in chain]
        for cert in certs:
            if cert.present and cert.sha256 not in noted:
                noted.add(cert.sha256)
                notes.append(
                    f"{cert.facts.display_name} is already on this machine at {cert.present[0]}; "
                    "it is not written again"
                )
        new = [c for c in certs if not c.present and c.sha256 not in written]
        keys = keys_by_owner.get(chain[0], [])
        if not new and not keys:
            continue
        stem = safe_stem(certs[0].facts.display_name, fallback)
        suffixes = ([".pem"] if new else []) + [".key"] * bool(keys)
        used, reason = names.allocate(stem, suffixes)
        if new:
            path = folder / f"{used}.pem"
            entries = tuple(
                FileEntry(
                    c.sha256,
                    c.facts.display_name,
                    "certificate" if n == 0 else "root" if c.facts.self_issued else "chain",
                )
                for n, c in enumerate(new)
            )
            planned.append(
                PlannedFile(
                    path=path,
                    shown=shown_path(path, root),
                    kind="certificates",
                    mode=0o644,
                    certificates=entries,
                    notes=renamed_note(f"{stem}.pem", f"{used}.pem", reason),
                )
            )
            contents.append(b"".join(_pem(c.facts.der) for c in new))
            written += [c.sha256 for c in new]
        for number, key in enumerate(keys):
            key_stem = used if number == 0 else names.allocate(used, [".key"])[0]
            _plan_key(planned, contents, key, folder / f"{key_stem}.key", reencrypt_password, root)
    for key in loose:
        key_stem, _ = names.allocate(fallback, [".key"])
        _plan_key(planned, contents, key, folder / f"{key_stem}.key", reencrypt_password, root)
        notes.append(f"the private key ({key.describe()}) matches none of the certificates")
    if any(f.key is not None for f in planned) and not create:
        notes += open_folder_note(folder, root)
    return ImportPlan(
        destination=folder,
        shown_destination=shown_path(folder, root),
        create_destination=create,
        files=tuple(planned),
        notes=tuple(notes),
        imported=tuple(written),
        contents=tuple(contents),
        root=root,
    )


def _plan_key(
    planned: list[PlannedFile],
    contents: list[bytes],
    key: ImportKey,
    path: Path,
    password: bytes | None,
    root: RootFS | None,
) -> None:
    if key.material is None:
        raise StillLocked("the private key is still encrypted: open the file with its password")
    encryption: serialization.KeySerializationEncryption
    if password:
        encryption = serialization.BestAvailableEncryption(password)
        note = "encrypted with the new password"
    else:
        encryption = serialization.NoEncryption()
        note = "unencrypted, readable by its owner only"
    planned.append(
        PlannedFile(
            path=path,
            shown=shown_path(path, root),
            kind="key",
            mode=0o600,
            key=f"{key.describe()} from the imported file",
            notes=(note,),
        )
    )
    contents.append(
        key.material.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        )
    )


def _pem(der: bytes) -> bytes:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        cert = x509.load_der_x509_certificate(der)
    return cert.public_bytes(serialization.Encoding.PEM)


def write_import(plan: ImportPlan, *, cancelled: Callable[[], bool] | None = None) -> ImportResult:
    """Write the planned files: all of them, or none.

    Raises:
        WriteFailed, WriteCancelled: nothing was written (see :mod:`core.transfer`).
    """
    written = write_files(
        plan.destination,
        list(zip(plan.files, plan.contents, strict=True)),
        private=plan.has_keys,
        root=plan.root,
        cancelled=cancelled,
    )
    return ImportResult(plan.shown_destination, written, plan.notes, plan.imported)
