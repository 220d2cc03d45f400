"""Build test certificates and keys with exactly the properties a test needs."""

from __future__ import annotations

import ipaddress
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)

_EC_KEYS: dict[int, ec.EllipticCurvePrivateKey] = {}
_RSA_KEYS: dict[tuple[int, int], rsa.RSAPrivateKey] = {}


def ec_key(n: int = 1) -> ec.EllipticCurvePrivateKey:
    """A deterministic P-256 key, different for each ``n``."""
    if n not in _EC_KEYS:
        _EC_KEYS[n] = ec.derive_private_key(0x1000 + n, ec.SECP256R1())
    return _EC_KEYS[n]


def rsa_key(bits: int = 2048, n: int = 1) -> rsa.RSAPrivateKey:
    """An RSA key, generated once per (bits, n) for the whole test run."""
    if (bits, n) not in _RSA_KEYS:
        _RSA_KEYS[bits, n] = rsa.generate_private_key(65537, bits)
    return _RSA_KEYS[bits, n]


def name(cn: str, **extra: str) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if "o" in extra:
        attrs.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, extra["o"]))
    return x509.Name(attrs)


@dataclass
class Made:
    cert: x509.Certificate
    key: CertificateIssuerPrivateKeyTypes

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    @property
    def sha256(self) -> str:
        return self.cert.fingerprint(hashes.SHA256()).hex()


def make(
    cn: str,
    *,
    issuer: Made | None = None,
    key: CertificateIssuerPrivateKeyTypes | None = None,
    ca: bool = False,
    sans: tuple[str, ...] = (),
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    days: int = 365,
    digest: hashes.HashAlgorithm | None = None,
    subject: x509.Name | None = None,
    serial: int = 1000,
    server: bool = True,
) -> Made:
    """A certificate: self-signed unless ``issuer`` is given; valid around NOW by default."""
    key = key or ec_key(zlib.crc32(cn.encode()) % 1000)
    subj = subject or name(cn)
    nb = not_before or NOW - timedelta(days=10)
    na = not_after or nb + timedelta(days=days)
    signer_key = issuer.key if issuer else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(subj)
        .issuer_name(issuer.cert.subject if issuer else subj)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(nb)
        .not_valid_after(na)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if sans:
        general: list[x509.GeneralName] = []
        for s in sans:
            try:
                general.append(x509.IPAddress(ipaddress.ip_address(s)))
            except ValueError:
                general.append(x509.DNSName(s))
        builder = builder.add_extension(x509.SubjectAlternativeName(general), critical=False)
    if not ca and server:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
    if digest is None and isinstance(signer_key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        digest = hashes.SHA256()
    cert = builder.sign(signer_key, digest)  # type: ignore[arg-type]
    return Made(cert, key)


def write(root: Path, machine_path: str, data: bytes, mode: int = 0o644) -> Path:
    """Write a file at a machine path under ``root``."""
    path = root / machine_path.lstrip("/")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(mode)
    return path
