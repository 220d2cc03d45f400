"""Create TLS server certificates and the local CA that issues them.

The wizard and the command line go through the same three steps:

1. A request with defaults: :func:`server_request_defaults` fills in this machine's names
   and every interface address (:mod:`core.hostinfo`); :func:`ca_request_defaults` names a
   CA after the machine.  Both are plain frozen values a form can edit.
2. :func:`plan_server_certificate` / :func:`plan_ca` check the request, generate the key,
   build and sign the certificate and list every file with a free name: the preview shows
   exactly what will be written, fingerprint included.
3. :func:`write_created` writes the files all or none (:func:`core.transfer.write_files`):
   certificates 0644, private keys 0600, a missing folder 0700.  Nothing is ever replaced.

The "no well-defined expiration" validity is notAfter 9999-12-31T23:59:59Z (RFC 5280
§4.1.2.5), which cryptography encodes as a GeneralizedTime as the RFC requires.
"""

from __future__ import annotations

import ipaddress
import os
import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, TypeAlias

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    PrivateKeyTypes,
)
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from core.errors import CertdeckError, UsageError
from core.findings import basic_findings
from core.hostinfo import HostInfo
from core.model import CertFacts, Finding
from core.parse import cert_facts
from core.report import iso
from core.rootfs import RootFS
from core.text import visible
from core.transfer import (
    FileEntry,
    FileKind,
    NameAllocator,
    PlannedFile,
    WrittenFile,
    check_destination,
    open_folder_note,
    renamed_note,
    safe_stem,
    shown_path,
    write_files,
)

__all__ = [
    "FOREVER",
    "KEY_TYPES",
    "VALIDITY_PRESETS",
    "CALoadError",
    "CARequest",
    "CreatePlan",
    "CreateResult",
    "InvalidName",
    "IssuingCA",
    "KeyType",
    "ServerRequest",
    "Validity",
    "ca_request_defaults",
    "load_issuing_ca",
    "normalise_dns_name",
    "plan_ca",
    "plan_server_certificate",
    "server_request_defaults",
    "split_names",
    "write_created",
]

KeyType: TypeAlias = Literal["ec-p256", "ec-p384", "rsa-2048", "rsa-3072", "rsa-4096"]
Validity: TypeAlias = Literal["90d", "1y", "2y", "10y", "forever"]

KEY_TYPES: dict[KeyType, str] = {
    "ec-p256": "ECDSA P-256",
    "ec-p384": "ECDSA P-384",
    "rsa-2048": "RSA 2048",
    "rsa-3072": "RSA 3072",
    "rsa-4096": "RSA 4096",
}
"""The key types on offer, in the order a form lists them; ECDSA P-256 is the default."""

FOREVER = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
"""notAfter of a certificate with no well-defined expiration date (RFC 5280 §4.1.2.5)."""

VALIDITY_PRESETS: dict[Validity, tuple[str, timedelta | None]] = {
    "90d": ("90 days", timedelta(days=90)),
    "1y": ("1 year", timedelta(days=365)),
    "2y": ("2 years", timedelta(days=730)),
    "10y": ("10 years", timedelta(days=3652)),
    "forever": ("no well-defined expiration (9999-12-31)", None),
}
"""Validity presets: label and length (``None``: :data:`FOREVER`)."""

_BACKDATE = timedelta(hours=1)
"""notBefore lies this far in the past, so clients with a slightly slow clock accept it."""
_APPLE_MAX_DAYS = 825
"""Apple platforms reject TLS server certificates valid longer than this
(https://support.apple.com/HT210176)."""
_MAX_CN = 64
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
_MAX_CA_FILE = 1024 * 1024


class InvalidName(UsageError):
    """A name or address in the request is not usable in a certificate."""

    title = "Invalid name"


class CALoadError(CertdeckError):
    """The issuing CA's certificate or key cannot be used."""

    title = "CA problem"


@dataclass(frozen=True, slots=True)
class ServerRequest:
    """The server certificate form's values."""

    dns_names: tuple[str, ...]
    """Host names, wildcards (``*.example.org``) allowed, in the order shown."""
    ip_addresses: tuple[str, ...]
    ips_as_dns: bool = False
    """Also add every address as a DNS name, for old clients that match only DNS names."""
    common_name: str = ""
    """Empty: the first DNS name (or address)."""
    key_type: KeyType = "ec-p256"
    validity: Validity = "1y"
    file_name: str = ""
    """File name without extension; empty: derived from the common name."""


@dataclass(frozen=True, slots=True)
class CARequest:
    """The local CA form's values."""

    common_name: str
    organization: str = ""
    key_type: KeyType = "ec-p256"
    validity: Validity = "10y"
    file_name: str = ""


@dataclass(frozen=True, slots=True)
class IssuingCA:
    """A CA certificate with its private key, ready to issue server certificates."""

    facts: CertFacts
    source: str
    """Where the CA certificate came from, as shown to the user."""
    certificate: x509.Certificate = field(repr=False, compare=False)
    key: CertificateIssuerPrivateKeyTypes = field(repr=False, compare=False)
    chain: tuple[x509.Certificate, ...] = field(default=(), repr=False, compare=False)
    """The CA's own issuers, as found after it in its certificate file."""


@dataclass(frozen=True, slots=True)
class CreatePlan:
    """Every file a creation will write, and the certificate it creates."""

    kind: Literal["server", "ca"]
    certificate: CertFacts
    """The new certificate (already signed): what the preview shows."""
    issuer: str
    """``self-signed`` or the issuing CA's subject."""
    key_type: KeyType
    validity: Validity
    destination: Path
    shown_destination: str
    create_destination: bool
    files: tuple[PlannedFile, ...]
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    findings: tuple[Finding, ...] = ()
    """Findings the new certificate will have (``wildcard``, ``weak_key``), also in
    ``warnings``."""
    key_encrypted: bool = False
    contents: tuple[bytes, ...] = field(default=(), repr=False, compare=False)
    """The bytes of each file (the private key among them), aligned with ``files``."""
    root: RootFS | None = field(default=None, repr=False, compare=False)

    def describe(self) -> list[str]:
        """The preview as lines of text, safe for a terminal."""
        c = self.certificate
        what = "server certificate" if self.kind == "server" else "CA certificate"
        created = " (will be created)" if self.create_destination else ""
        forever = c.not_after == FOREVER
        until = f"{c.not_after:%Y-%m-%d %H:%M:%S} UTC" + (
            " (no well-defined expiration)" if forever else ""
        )
        lines = [
            f"Create a {what}",
            f"  subject:  {visible(c.subject) or '(empty)'}",
        ]
        if c.names:
            lines.append(f"  names:    {visible(', '.join(c.names))}")
        lines += [
            f"  key:      {KEY_TYPES[self.key_type]}",
            f"  valid:    {c.not_before:%Y-%m-%d %H:%M:%S} UTC to {until}",
            f"  issuer:   {visible(self.issuer)}",
            f"  SHA-256:  {c.sha256}",
            f"into {visible(self.shown_destination)}{created}:",
        ]
        for planned in self.files:
            lines += ["  " + line for line in planned.describe()]
        lines += [f"warning: {visible(w)}" for w in self.warnings]
        lines += [f"note: {visible(n)}" for n in self.notes]
        return lines


@dataclass(frozen=True, slots=True)
class CreateResult:
    """What a creation wrote."""

    kind: Literal["server", "ca"]
    certificate: CertFacts
    destination: str
    files: tuple[WrittenFile, ...]
    warnings: tuple[str, ...] = ()

    def describe(self) -> list[str]:
        """The summary as lines of text, safe for a terminal."""
        what = "server certificate" if self.kind == "server" else "CA"
        count = len(self.files)
        lines = [
            f"Created the {what} {visible(self.certificate.display_name)} "
            f"(SHA-256 {self.certificate.sha256[:16]}…);",
            f"wrote {count} file{'s' if count != 1 else ''} to {visible(self.destination)}:",
        ]
        lines += ["  " + f.describe() for f in self.files]
        lines += [f"warning: {visible(w)}" for w in self.warnings]
        return lines

    def as_dict(self) -> dict[str, Any]:
        """The result as JSON-ready values."""
        c = self.certificate
        return {
            "version": 1,
            "kind": self.kind,
            "sha256": c.sha256,
            "subject": c.subject,
            "issuer": c.issuer,
            "names": list(c.names),
            "not_before": iso(c.not_before),
            "not_after": iso(c.not_after),
            "key": {"type": c.key.type, "bits": c.key.bits}
            | ({"curve": c.key.curve} if c.key.curve else {}),
            "files": [
                {"path": f.shown, "kind": f.kind, "mode": f"{f.mode:04o}"} for f in self.files
            ],
            "warnings": list(self.warnings),
        }


# -- names -------------------------------------------------------------------------------


def normalise_dns_name(text: str) -> str:
    """A DNS name as it goes into a certificate: lower case, A-labels, no final dot.

    A wildcard is allowed as the whole left-most label of a name with at least two more
    labels (``*.example.org``).

    Raises:
        InvalidName: not a usable host name.
    """
    name = text.strip().rstrip(".").lower()
    shown = visible(text.strip())
    if not name:
        raise InvalidName("an empty name cannot go into a certificate")
    wildcard = name.startswith("*.")
    body = name[2:] if wildcard else name
    if "*" in body:
        raise InvalidName(
            f"{shown}: a wildcard is allowed only as the whole left-most label, e.g. *.example.org"
        )
    try:
        ascii_name = body.encode("idna").decode("ascii")
    except UnicodeError:
        raise InvalidName(f"{shown} is not a valid host name") from None
    labels = ascii_name.split(".")
    if len(ascii_name) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise InvalidName(
            f"{shown} is not a valid host name: use letters, digits, hyphens and dots "
            "(no spaces or underscores), at most 63 characters between dots"
        )
    if wildcard and len(labels) < 2:
        raise InvalidName(f"{shown}: a wildcard needs at least two labels after it")
    return ("*." if wildcard else "") + ascii_name


def split_names(values: Iterable[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Sort free-form entries (commas and blanks separate them) into DNS names and addresses.

    Returns the normalised DNS names and the addresses, each once, in the order given.

    Raises:
        InvalidName: an entry is neither an IP address nor a usable host name.
    """
    dns: list[str] = []
    ips: list[str] = []
    for value in values:
        for word in re.split(r"[\s,]+", value):
            if not word:
                continue
            try:
                ip = ipaddress.ip_address(word.strip("[]").partition("%")[0])
            except ValueError:
                name = normalise_dns_name(word)
                if name not in dns:
                    dns.append(name)
                continue
            if ip.compressed not in ips:
                ips.append(ip.compressed)
    return tuple(dns), tuple(ips)


# -- defaults ----------------------------------------------------------------------------


def server_request_defaults(info: HostInfo) -> ServerRequest:
    """The form pre-filled with the host name, the fully qualified name and every address."""
    dns: list[str] = []
    for name in info.names:
        try:
            normalised = normalise_dns_name(name)
        except InvalidName:
            continue  # a host name no certificate can hold: leave it to the user
        if normalised not in dns:
            dns.append(normalised)
    return ServerRequest(dns_names=tuple(dns), ip_addresses=info.ips)


def ca_request_defaults(info: HostInfo) -> CARequest:
    """A local CA named after this machine."""
    return CARequest(common_name=f"certdeck CA {info.fqdn or info.hostname}"[:_MAX_CN])


# -- keys and signing --------------------------------------------------------------------


def _new_key(key_type: KeyType) -> CertificateIssuerPrivateKeyTypes:
    if key_type == "ec-p256":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "ec-p384":
        return ec.generate_private_key(ec.SECP384R1())
    if key_type in ("rsa-2048", "rsa-3072", "rsa-4096"):
        return rsa.generate_private_key(65537, int(key_type.removeprefix("rsa-")))
    raise UsageError(f"unknown key type {key_type!r}: use one of {', '.join(KEY_TYPES)}")


def _digest(key: CertificateIssuerPrivateKeyTypes) -> hashes.HashAlgorithm | None:
    if isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
        return None
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size >= 384:
        return hashes.SHA384()
    return hashes.SHA256()


def _validity(validity: Validity, now: datetime) -> tuple[datetime, datetime]:
    if validity not in VALIDITY_PRESETS:
        raise UsageError(f"unknown validity {validity!r}: use one of {', '.join(VALIDITY_PRESETS)}")
    start = now.astimezone(UTC).replace(microsecond=0)
    length = VALIDITY_PRESETS[validity][1]
    end = FOREVER if length is None else start + length
    return start - _BACKDATE, end


def _key_pem(key: PrivateKeyTypes, password: bytes | None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _facts(cert: x509.Certificate) -> CertFacts:
    return cert_facts(cert.public_bytes(serialization.Encoding.DER), cert)


# -- the issuing CA ----------------------------------------------------------------------


def _load_certificates(data: bytes, shown: str) -> list[x509.Certificate]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        try:
            if b"-----BEGIN CERTIFICATE-----" in data:
                return x509.load_pem_x509_certificates(data)
            return [x509.load_der_x509_certificate(data)]
        except ValueError:
            raise CALoadError(
                f"{shown} holds no readable certificate; give the CA certificate "
                "(PEM or DER) that `certdeck create ca` wrote"
            ) from None


def _load_key(data: bytes, password: bytes | None, shown: str) -> PrivateKeyTypes:
    loader = (
        serialization.load_pem_private_key
        if b"-----BEGIN" in data
        else serialization.load_der_private_key
    )
    try:
        return loader(data, password)
    except TypeError:
        if password is None:
            raise CALoadError(
                f"the CA key {shown} is encrypted: give its password "
                "(--ca-password-file FILE or CERTDECK_PASSWORD)",
                title="Password needed",
            ) from None
        raise CALoadError(f"the CA key {shown} is not encrypted; give no password") from None
    except ValueError:
        if password is not None:
            raise CALoadError(
                f"the password does not open the CA key {shown}, or it is no private key",
                title="Wrong password",
            ) from None
        raise CALoadError(f"{shown} holds no readable private key") from None
    except Exception as exc:  # unsupported algorithms
        raise CALoadError(f"the CA key {shown} cannot be used: {exc}") from None


def _spki(key: Any) -> bytes:
    data: bytes = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return data


def load_issuing_ca(
    cert_data: bytes,
    key_data: bytes,
    *,
    now: datetime,
    password: bytes | None = None,
    cert_name: str = "the CA certificate",
    key_name: str = "the CA key",
) -> IssuingCA:
    """Load a CA certificate (its file may carry the CA's own issuers after it) and its key.

    Raises:
        CALoadError: unreadable, wrong or missing password, the key does not belong to any
            certificate of the file, the certificate is no CA, or it is not valid at ``now``.
    """
    if len(cert_data) > _MAX_CA_FILE or len(key_data) > _MAX_CA_FILE:
        raise CALoadError("the CA files are too large to be a certificate and a key")
    certs = _load_certificates(cert_data, visible(cert_name))
    key = _load_key(key_data, password, visible(key_name))
    if not isinstance(
        key,
        rsa.RSAPrivateKey
        | ec.EllipticCurvePrivateKey
        | ed25519.Ed25519PrivateKey
        | ed448.Ed448PrivateKey,
    ):
        raise CALoadError(f"{visible(key_name)}: this kind of key cannot sign certificates")
    mine = _spki(key.public_key())
    position = next(
        (i for i, c in enumerate(certs) if _spki(c.public_key()) == mine),
        None,
    )
    if position is None:
        raise CALoadError(
            f"{visible(key_name)} does not belong to the certificate in {visible(cert_name)}; "
            "give the key file that was created with this CA"
        )
    cert = certs[position]
    facts = _facts(cert)
    if not facts.is_ca:
        raise CALoadError(
            f"{visible(facts.display_name)} is not a CA certificate (basicConstraints); "
            "create one with `certdeck create ca`"
        )
    if facts.key_usage and "keyCertSign" not in facts.key_usage:
        raise CALoadError(
            f"the key usage of {visible(facts.display_name)} does not allow signing certificates"
        )
    if not facts.not_before <= now <= facts.not_after:
        when = f"{facts.not_after:%Y-%m-%d}" if now > facts.not_after else "later"
        raise CALoadError(
            f"the CA {visible(facts.display_name)} is not valid now (valid until {when}); "
            "create a new CA with `certdeck create ca`"
        )
    chain = tuple(c for i, c in enumerate(certs) if i != position)
    return IssuingCA(facts, cert_name, cert, key, chain)


# -- plans -------------------------------------------------------------------------------


def _names(request: ServerRequest) -> tuple[list[str], list[str]]:
    dns: list[str] = []
    for name in request.dns_names:
        normalised = normalise_dns_name(name)
        if normalised not in dns:
            dns.append(normalised)
    ips: list[str] = []
    for text in request.ip_addresses:
        try:
            ip = ipaddress.ip_address(text.strip().strip("[]").partition("%")[0])
        except ValueError:
            raise InvalidName(f"{visible(text)} is not an IP address") from None
        if ip.compressed not in ips:
            ips.append(ip.compressed)
    if not dns and not ips:
        raise InvalidName("give at least one host name or IP address for the certificate")
    return dns, ips


def _subject(common_name: str, organization: str = "") -> x509.Name:
    attrs: list[x509.NameAttribute[str]] = []
    if organization:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    if common_name:
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


def _check_cn(common_name: str) -> None:
    if len(common_name) > _MAX_CN:
        raise InvalidName(
            f"the common name has {len(common_name)} characters; at most {_MAX_CN} are allowed"
        )
    if any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in common_name):
        raise InvalidName("the common name must not contain control characters")


def plan_server_certificate(
    request: ServerRequest,
    *,
    destination: Path,
    now: datetime,
    root: RootFS | None = None,
    issuer: IssuingCA | None = None,
    key_password: bytes | None = None,
) -> CreatePlan:
    """Generate the key, sign the certificate and list the files to write.

    Args:
        request: The form's values.
        destination: The folder on this host to write into (created, mode 0700, if missing).
        now: The creation time (notBefore is an hour earlier).
        root: For showing paths under ``--root``.
        issuer: The local CA that signs it; ``None`` makes it self-signed.
        key_password: Encrypt the private key with this password; ``None`` writes it
            unencrypted (what services need to start unattended).

    Raises:
        InvalidName: a name or address is unusable, or there is none.
        DestinationError: the destination is not a writable folder.
    """
    if request.key_type not in KEY_TYPES:
        raise UsageError(f"unknown key type {request.key_type!r}: use {', '.join(KEY_TYPES)}")
    dns, ips = _names(request)
    common_name = request.common_name.strip() or next(
        (n for n in dns if len(n) <= _MAX_CN), ips[0] if ips else ""
    )
    _check_cn(common_name)
    not_before, not_after = _validity(request.validity, now)
    folder = Path(os.path.abspath(destination))
    create = check_destination(folder, root)
    key = _new_key(request.key_type)
    general: list[x509.GeneralName] = [x509.DNSName(n) for n in dns]
    general += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    if request.ips_as_dns:
        general += [x509.DNSName(ip) for ip in ips if ip not in dns]
    subject = _subject(common_name)
    signer_key: CertificateIssuerPrivateKeyTypes = key if issuer is None else issuer.key
    issuer_name = subject if issuer is None else issuer.certificate.subject
    usage_encipher = isinstance(key, rsa.RSAPrivateKey)  # RSA key exchange in TLS 1.2
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=usage_encipher,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        # An empty subject makes the names the only identity: RFC 5280 then wants it critical.
        .add_extension(x509.SubjectAlternativeName(general), critical=not common_name)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if issuer is not None:
        builder = builder.add_extension(_authority_key_id(issuer.certificate), critical=False)
    cert = builder.sign(signer_key, _digest(signer_key))  # type: ignore[arg-type]
    facts = _facts(cert)
    findings = _findings(facts, now)
    warnings_ = [f"{f.message} (finding: {f.code})" for f in findings]
    notes: list[str] = []
    if issuer is None:
        notes.append(
            "self-signed: clients trust it only once it is installed in their trust store "
            "(certdeck trust export writes it with instructions for each client system)"
        )
    else:
        if not_after > issuer.facts.not_after:
            warnings_.append(
                f"the certificate outlives its CA, which expires on "
                f"{issuer.facts.not_after:%Y-%m-%d}: clients stop trusting it then"
            )
        notes.append(
            f"issued by {issuer.facts.subject}: clients that trust this CA trust the "
            "certificate (certdeck trust add / trust export for the CA)"
        )
    if request.validity in ("10y", "forever"):
        warnings_.append(
            f"macOS and iOS reject TLS server certificates valid for more than "
            f"{_APPLE_MAX_DAYS} days; choose 2 years or less for Apple clients"
        )
    stem_source = request.file_name.strip() or common_name or (dns or ips)[0]
    stem = safe_stem(stem_source, "server")
    above = (issuer.certificate, *issuer.chain) if issuer is not None else ()
    intermediates = [c for c in above if c.subject != c.issuer]
    names = NameAllocator(folder)
    suffixes = [".crt", ".key"]
    if above:
        suffixes.append("-chain.pem")
    if intermediates:
        suffixes.append("-fullchain.pem")
    used, reason = names.allocate(stem, suffixes)
    leaf_entry = FileEntry(facts.sha256, facts.display_name, "certificate")
    chain_entries = tuple(
        FileEntry(f.sha256, f.display_name, "root" if f.self_issued else "chain")
        for f in (_facts(c) for c in above)
    )
    items: list[tuple[PlannedFile, bytes]] = [
        _planned(folder, f"{used}.crt", "certificates", 0o644, root, (leaf_entry,), _pem(cert))
    ]
    if above:
        items.append(
            _planned(
                folder,
                f"{used}-chain.pem",
                "certificates",
                0o644,
                root,
                chain_entries,
                b"".join(_pem(c) for c in above),
                notes=("the issuing CA and its issuers: the CA file clients need",),
            )
        )
    if intermediates:
        items.append(
            _planned(
                folder,
                f"{used}-fullchain.pem",
                "certificates",
                0o644,
                root,
                (leaf_entry, *chain_entries[: len(intermediates)]),
                _pem(cert) + b"".join(_pem(c) for c in intermediates),
                notes=("what the server sends: the certificate and the intermediate CAs",),
            )
        )
    key_note = "encrypted with a password" if key_password else "unencrypted"
    items.append(
        _planned(
            folder,
            f"{used}.key",
            "key",
            0o600,
            root,
            (),
            _key_pem(key, key_password),
            key=f"new {KEY_TYPES[request.key_type]} key",
            notes=(f"the private key, {key_note}",),
        )
    )
    if reason is not None:
        first = items[0][0]
        items[0] = (
            _with_notes(first, renamed_note(f"{stem}.crt", f"{used}.crt", reason)),
            items[0][1],
        )
    if not create:
        notes += open_folder_note(folder, root)
    return CreatePlan(
        kind="server",
        certificate=facts,
        issuer="self-signed" if issuer is None else issuer.facts.subject,
        key_type=request.key_type,
        validity=request.validity,
        destination=folder,
        shown_destination=shown_path(folder, root),
        create_destination=create,
        files=tuple(p for p, _ in items),
        warnings=tuple(warnings_),
        notes=tuple(notes),
        findings=findings,
        key_encrypted=bool(key_password),
        contents=tuple(d for _, d in items),
        root=root,
    )


def plan_ca(
    request: CARequest,
    *,
    destination: Path,
    now: datetime,
    root: RootFS | None = None,
    key_password: bytes | None = None,
) -> CreatePlan:
    """Generate a local root CA (certificate and key) and list the files to write.

    The CA may sign end-entity certificates only (path length 0), so a leaked server key
    cannot be turned into another CA.

    Raises:
        InvalidName: the name is empty or too long.
        DestinationError: the destination is not a writable folder.
    """
    common_name = request.common_name.strip()
    if not common_name:
        raise InvalidName("give the CA a name (its common name)")
    _check_cn(common_name)
    _check_cn(request.organization.strip())
    not_before, not_after = _validity(request.validity, now)
    folder = Path(os.path.abspath(destination))
    create = check_destination(folder, root)
    key = _new_key(request.key_type)
    subject = _subject(common_name, request.organization.strip())
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, _digest(key))  # type: ignore[arg-type]
    )
    facts = _facts(cert)
    stem = safe_stem(request.file_name.strip() or common_name, "ca")
    names = NameAllocator(folder)
    used, reason = names.allocate(stem, [".crt", ".key"])
    key_note = "encrypted with a password" if key_password else "unencrypted"
    items = [
        _planned(
            folder,
            f"{used}.crt",
            "certificates",
            0o644,
            root,
            (FileEntry(facts.sha256, facts.display_name, "root"),),
            _pem(cert),
            notes=(
                *renamed_note(f"{stem}.crt", f"{used}.crt", reason),
                "the CA certificate: install it in the clients' trust stores",
            ),
        ),
        _planned(
            folder,
            f"{used}.key",
            "key",
            0o600,
            root,
            (),
            _key_pem(key, key_password),
            key=f"new {KEY_TYPES[request.key_type]} key",
            notes=(f"the CA's private key, {key_note}: whoever has it can issue certificates",),
        ),
    ]
    warnings_: list[str] = []
    if not key_password:
        warnings_.append(
            "the CA key is written unencrypted; keep it off servers that do not issue "
            "certificates, or encrypt it with a password"
        )
    notes = ["issue server certificates with it: certdeck create server --ca CERT --ca-key KEY"]
    if not create:
        notes += open_folder_note(folder, root)
    return CreatePlan(
        kind="ca",
        certificate=facts,
        issuer="self-signed",
        key_type=request.key_type,
        validity=request.validity,
        destination=folder,
        shown_destination=shown_path(folder, root),
        create_destination=create,
        files=tuple(p for p, _ in items),
        warnings=tuple(warnings_),
        notes=tuple(notes),
        key_encrypted=bool(key_password),
        contents=tuple(d for _, d in items),
        root=root,
    )


def _authority_key_id(ca: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    try:
        ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    except x509.ExtensionNotFound:
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(
            ca.public_key()  # type: ignore[arg-type]
        )
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def _findings(facts: CertFacts, now: datetime) -> tuple[Finding, ...]:
    found = basic_findings(
        facts,
        (),
        now=now,
        expiring_days=0,
        min_rsa_bits=2048,
        min_ec_bits=256,
        trust_anchor=False,
        trust_stores=set(),
    )
    return tuple(f for f in found if f.code in ("wildcard", "weak_key"))


def _planned(
    folder: Path,
    name: str,
    kind: FileKind,
    mode: int,
    root: RootFS | None,
    entries: Sequence[FileEntry],
    data: bytes,
    *,
    key: str | None = None,
    notes: tuple[str, ...] = (),
) -> tuple[PlannedFile, bytes]:
    path = folder / name
    planned = PlannedFile(
        path=path,
        shown=shown_path(path, root),
        kind=kind,
        mode=mode,
        certificates=tuple(entries),
        key=key,
        notes=notes,
    )
    return planned, data


def _with_notes(planned: PlannedFile, notes: tuple[str, ...]) -> PlannedFile:
    return PlannedFile(
        path=planned.path,
        shown=planned.shown,
        kind=planned.kind,
        mode=planned.mode,
        certificates=planned.certificates,
        key=planned.key,
        notes=notes + planned.notes,
    )


def write_created(plan: CreatePlan) -> CreateResult:
    """Write the planned files: all of them, or none; existing files are never replaced.

    Raises:
        WriteFailed: nothing was written (see :mod:`core.transfer`).
    """
    written = write_files(
        plan.destination,
        list(zip(plan.files, plan.contents, strict=True)),
        private=True,
        root=plan.root,
    )
    return CreateResult(
        kind=plan.kind,
        certificate=plan.certificate,
        destination=plan.shown_destination,
        files=written,
        warnings=plan.warnings,
    )
