"""The inventory's records: plain, immutable values (no ``cryptography`` objects kept).

A :class:`CertificateRecord` is one certificate, identified by its SHA-256 fingerprint, with
every place it was found.  The facts that come from the certificate alone live in
:class:`CertFacts` (computed once per distinct DER encoding); what comes from the machine
(locations, private key, consumers, findings) is added around it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

__all__ = [
    "CertFacts",
    "CertificateRecord",
    "Consumer",
    "CrlFile",
    "Finding",
    "Inventory",
    "KeyFacts",
    "Location",
    "PrivateKeyInfo",
    "Severity",
    "Store",
    "StoreKind",
    "Unreadable",
    "UsedBy",
]


class Severity(enum.StrEnum):
    """How much a finding matters; ordered from worst to least."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        """0 for errors, 1 for warnings, 2 for info (sorts worst first)."""
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}


class StoreKind(enum.StrEnum):
    """The kinds of places certificates live in (DESIGN.md, *Store*)."""

    TRUST = "trust"
    DIRECTORY = "directory"
    BUNDLE = "bundle"
    PKCS12 = "pkcs12"


@dataclass(frozen=True, slots=True)
class Store:
    """A place certificates live: a folder tree, a bundle file, the trust store, a PKCS#12."""

    name: str
    kind: StoreKind
    path: str
    """The path as seen on the machine (relative to the root, starting with ``/``)."""


@dataclass(frozen=True, slots=True)
class Location:
    """One place a certificate was found."""

    store: str
    """Name of the :class:`Store` the file belongs to."""
    path: str
    """Path as seen on the machine, printable: undecodable bytes appear as ``\\xNN``."""
    index: int
    """Position of the certificate among the certificates of the file (0-based)."""
    format: str
    """``pem``, ``der``, ``pkcs7`` or ``pkcs12``."""
    symlink_to: str | None = None
    """Where the path points when it is a symbolic link (as seen on the machine)."""
    os_path: str = field(default="", compare=False, repr=False)
    """The real file name on this host (under the root), for later file operations."""


class KeyFacts(NamedTuple):
    """A public key's algorithm and strength."""

    type: str
    """``RSA``, ``EC``, ``DSA``, ``Ed25519``, ``Ed448`` or the algorithm's OID."""
    bits: int
    curve: str | None = None


@dataclass(frozen=True, slots=True)
class PrivateKeyInfo:
    """A private key file that matches a certificate (or is at least known)."""

    path: str
    mode: str
    """Permission bits as four octal digits, e.g. ``0600``."""
    encrypted: bool
    format: str
    """``pkcs8``, ``pkcs1``, ``sec1``, ``pkcs8-encrypted``, ``der`` …"""
    owner: str = ""
    public_key_sha256: str | None = None
    """SHA-256 of the SubjectPublicKeyInfo; ``None`` when encrypted (not readable)."""
    os_path: str = field(default="", compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Finding:
    """Something worth knowing about a certificate, with a stable code."""

    code: str
    severity: Severity
    message: str


@dataclass(frozen=True, slots=True)
class UsedBy:
    """A service configuration line (or a declared requirement) that uses a certificate."""

    consumer: str
    config: str
    line: int
    role: str = ""


class CertFacts(NamedTuple):
    """Everything that follows from one certificate's DER encoding alone.

    A named tuple rather than a dataclass: worker processes send thousands of these to the
    scanner, and tuples pickle several times faster than slotted dataclasses.
    """

    sha256: str
    sha1: str
    der: bytes
    subject: str
    issuer: str
    common_name: str
    serial: str
    not_before: datetime
    not_after: datetime
    names: tuple[str, ...]
    key: KeyFacts
    public_key_sha256: str
    """SHA-256 of the SubjectPublicKeyInfo, to pair private keys with certificates."""
    signature_algorithm: str
    signature_hash: str | None
    """``md5``, ``sha1``, ``sha256`` … when known; used for ``weak_signature``."""
    is_ca: bool
    path_length: int | None
    self_issued: bool
    """Subject equals issuer (names only; see ``self_signed`` on the record)."""
    self_signed: bool
    """Self-issued and its signature verifies with its own public key."""
    key_usage: tuple[str, ...]
    extended_key_usage: tuple[str, ...]
    subject_key_id: str | None
    authority_key_id: str | None
    subject_der: bytes
    issuer_der: bytes
    role: str
    """What the certificate is for, in words: ``root CA``, ``TLS server`` …"""

    @property
    def display_name(self) -> str:
        """The name a person recognises: the common name, else the first SAN, else subject."""
        if self.common_name:
            return self.common_name
        if self.names:
            return self.names[0].partition(":")[2]
        return self.subject or self.sha256[:16]


@dataclass(frozen=True, slots=True)
class CertificateRecord:
    """One certificate on the machine: its facts, where it lives and what certdeck found."""

    cert: CertFacts
    locations: tuple[Location, ...]
    private_key: PrivateKeyInfo | None = None
    findings: tuple[Finding, ...] = ()
    required: bool = False
    used_by: tuple[UsedBy, ...] = ()
    trust_anchor: bool = False
    """Found in the system trust store (or declared an anchor in the settings)."""
    chain: tuple[str, ...] = ()
    """SHA-256 fingerprints from this certificate to its trust anchor, when one was found."""
    revocation: str = ""
    """The revocation status once checked (``good``, ``revoked``, ``unknown``,
    ``unreachable``, ``no_sources``, ``skipped``; see :mod:`core.revocation`), else empty."""

    @property
    def sha256(self) -> str:
        """The certificate's identity."""
        return self.cert.sha256

    @property
    def worst(self) -> Severity | None:
        """The most severe finding's severity, or ``None`` without findings."""
        if not self.findings:
            return None
        return min((f.severity for f in self.findings), key=lambda s: s.rank)

    def has(self, code: str) -> bool:
        """Whether a finding with this code is present."""
        return any(f.code == code for f in self.findings)


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A file or folder that could not be read or parsed, with the reason in words."""

    path: str
    reason: str


@dataclass(frozen=True, slots=True)
class Consumer:
    """One service context (an nginx server block, an Apache virtual host, a postfix
    service …) or a requirement declared in the settings, and the files it uses."""

    name: str
    """The service (``nginx``, ``apache``, ``haproxy``, ``postfix``, ``dovecot``) or the
    name given in the settings."""
    config: str
    """The configuration file of its first directive (the settings file when declared)."""
    line: int
    files: tuple[str, ...]
    """Machine paths of the certificate, chain, CA and key files it uses."""
    problems: tuple[str, ...] = ()
    """What is wrong with its files: missing, unreadable, key not matching …"""
    role: str = ""
    """A label from the settings such as "database key", shown in type and used-by."""
    check_expiry: bool = True
    """False when the application deliberately never checks the expiry (settings)."""


@dataclass(frozen=True, slots=True)
class CrlFile:
    """A certificate revocation list found by the scan (PEM or DER), used for the
    certificates it covers without any network access."""

    path: str
    """The path as seen on the machine."""
    os_path: str = field(default="", compare=False, repr=False)
    """Where the file is read from (under the scan's root)."""


@dataclass(frozen=True, slots=True)
class Inventory:
    """The finished result of a scan."""

    root: str
    evaluated_at: datetime
    stores: tuple[Store, ...]
    certificates: tuple[CertificateRecord, ...]
    unreadable: tuple[Unreadable, ...]
    private_keys: tuple[PrivateKeyInfo, ...] = ()
    files_scanned: int = 0
    consumers: tuple[Consumer, ...] = ()
    crl_files: tuple[CrlFile, ...] = ()

    def by_sha256(self) -> dict[str, CertificateRecord]:
        """Records keyed by fingerprint."""
        return {r.sha256: r for r in self.certificates}
