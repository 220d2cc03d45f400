"""A generated, realistic fake Linux server tree for the demo, tests, screenshots and benchmarks.

:func:`build_demo_tree` writes a Debian-like machine (with a few RHEL bits) under a folder that
certdeck scans with ``--root DIR``: a system trust store, a private company CA, nginx, Apache,
haproxy, postfix, dovecot and Let's Encrypt configurations that use certificates, plus the
leftovers, oddities and broken files a real server collects.  Every certificate records the
finding codes certdeck should report for it (DESIGN.md, *Findings*), so the real analysis can
be compared with them.

The tree is deterministic: the same ``now`` gives byte-identical files, links, permissions and
modification times on every run.  Keys are derived from their labels, serial numbers are
fixed, validity periods are relative to ``now`` and every signature is deterministic (RFC 6979
ECDSA, PKCS#1 v1.5 RSA).  The encrypted PKCS#8 key and the PKCS#12 file are encoded here with
fixed salts, because cryptography always draws random salts for them.

How the expected codes follow from DESIGN.md:

* ``untrusted`` means no chain to a trust anchor, as ``core.trust`` decides: a certificate's
  own validity period is left to ``expired`` and ``not_yet_valid`` (an expired leaf of a
  trusted CA is expired, not untrusted), every issuer must be valid at the evaluation time,
  and a certificate with a SHA-1 signature is untrusted (the verifier forbids the algorithm).
  An RSA-1024 leaf key does not stop the verifier: that certificate is only ``weak_key``.
* Trust anchors (the distro bundle, its source files and the local anchors) are trusted by
  definition.  They never get ``unused``: a trust store holds many roots nothing on the machine
  names, and reporting each of them would bury the real findings.  They are not
  ``duplicate`` either, although each sits in the bundle and in its own source file: that is
  how the trust store is built.  An expired anchor is only ``expired``.
* ``duplicate`` counts the files that hold the certificate as their first (or only)
  certificate, as ``core.findings.duplicate_files`` does: an intermediate further down a
  full-chain file belongs to that chain and is not a copy, and a symbolic link is not another
  file.  Each Let's Encrypt certificate is a duplicate (certbot writes ``certN.pem`` and
  ``fullchainN.pem``), and so is its intermediate (``chain1.pem`` to ``chain3.pem``).
* Only the first certificate of a file is paired with the key a service names, so a chain's
  intermediates never get ``key_mismatch`` or ``key_missing``.
* The settings consumer ``billing-app`` sets ``check_expiry = false``: its expired certificate
  gets the note ``expiry_not_checked`` instead of ``expired``; it is self-signed, so it is
  ``untrusted`` whatever the clock says.
* The certificate inside the password-protected PKCS#12 file is not listed in
  :attr:`DemoTree.certs`: a scan cannot see it without the password (:data:`DEMO_PASSWORD`).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import ipaddress
import os
import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives import padding as sym_padding
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from core.errors import UsageError

__all__ = [
    "DEMO_PASSWORD",
    "ENCRYPTED_KEY_PATH",
    "PKCS12_PATH",
    "SETTINGS_PATH",
    "DemoCert",
    "DemoTree",
    "build_demo_tree",
]

DEMO_PASSWORD = "demo"
"""Password of the PKCS#12 file and of the encrypted private key."""
PKCS12_PATH = "/etc/ssl/private/legacy-app.p12"
ENCRYPTED_KEY_PATH = "/etc/ssl/private/backup-signing.key"
SETTINGS_PATH = "/etc/certdeck/settings.toml"

_MARKER = ".certdeck-demo"
"""File at the top of a generated tree: only such a folder may be written into again."""


@dataclass(frozen=True)
class DemoCert:
    """One certificate of the demo tree and what certdeck should say about it."""

    label: str
    """Short stable name, e.g. ``nginx-www``."""
    path: str
    """Machine path of the main file holding it; undecodable bytes appear as ``\\xNN``."""
    expected: frozenset[str]
    """Finding codes certdeck should report for it (DESIGN.md, *Findings*)."""
    required: bool
    """Used by a service (or an issuer in the chain of a used certificate)."""
    sha256: str
    """The certificate's SHA-256 fingerprint (lowercase hex), its identity in an inventory."""


@dataclass(frozen=True)
class DemoTree:
    """A generated server tree: where it is and what it holds."""

    root: Path
    settings_path: Path
    """The certdeck settings written inside the tree, at ``/etc/certdeck/settings.toml``."""
    certs: tuple[DemoCert, ...]

    def cert(self, label: str) -> DemoCert:
        """The certificate with this label (``KeyError`` when there is none)."""
        for cert in self.certs:
            if cert.label == label:
                return cert
        raise KeyError(label)


def build_demo_tree(root: Path, *, now: datetime) -> DemoTree:
    """Write the demo server tree under ``root`` and describe its certificates.

    Args:
        root: Folder standing for ``/``; created when missing.  It must be empty or hold an
            earlier demo tree, which is overwritten.
        now: Timezone-aware time the validity periods are relative to.

    Raises:
        ValueError: ``now`` has no time zone.
        UsageError: ``root`` is a file, or a non-empty folder that is not a demo tree.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    now = now.astimezone(UTC).replace(microsecond=0)
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise UsageError(f"{root} is not a folder.", title="Cannot write the demo tree")
    if root.is_dir() and any(root.iterdir()) and not (root / _MARKER).is_file():
        raise UsageError(
            f"{root} is not empty. Choose an empty or new folder for the demo server tree.",
            title="Cannot write the demo tree",
        )
    files = _Files(root, stamp=(now - timedelta(days=1)).timestamp())
    certs = _Server(files, now).build()
    files.finish()
    return DemoTree(root=root, settings_path=files.host(SETTINGS_PATH), certs=tuple(certs))


_Key = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
_DER = serialization.Encoding.DER
_PEM = serialization.Encoding.PEM

_UNUSED = "unused"

_CHAIN_FILE = "/etc/ssl/localcerts/demo-corp-issuing-ca.crt"
"""The Demo Corp intermediate on its own, where administrators keep non-anchor certificates."""

_CA_CERTIFICATES_CONF = """\
# This file lists certificates that you wish to use or to ignore to be
# installed in /etc/ssl/certs.
# update-ca-certificates(8) will update /etc/ssl/certs by reading this file.
#
# line begins with # is comment.
# line begins with ! is certificate filename to be deselected.
#
"""

_PUBLIC_ROOTS = (
    ("root-x1", "Demo Trust Root X1", "Demo Security Research Group", "US", (-3650, 5475)),
    ("root-globex", "Globex Global Root G2", "Globex Trust Services", "US", (-2900, 6200)),
    (
        "root-initech",
        "Initech Root CA 2017",
        "Initech Certification Authority",
        "GB",
        (-3300, 4000),
    ),
    (
        "root-umbrella-expired",
        "Umbrella Legacy Root CA",
        "Umbrella Trust Network",
        "US",
        (-7300, -45),
    ),
)
"""The distro's roots (label, common name, organisation, country, validity in days from now)."""


@dataclass(frozen=True)
class _Issued:
    """A generated certificate with its private key."""

    cert: x509.Certificate
    key: _Key

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(_PEM)


def _digest(label: str, size: int) -> bytes:
    return hashlib.shake_256(f"certdeck-demo:{label}".encode()).digest(size)


def _ec_key(label: str, bits: int = 256) -> ec.EllipticCurvePrivateKey:
    curve: ec.EllipticCurve = ec.SECP384R1() if bits == 384 else ec.SECP256R1()
    # One bit shorter than the curve, so the scalar is always below the group order.
    scalar = int.from_bytes(_digest(f"key/{label}", bits // 8), "big") >> 1
    return ec.derive_private_key(scalar | 1, curve)


_SMALL_PRIMES = tuple(p for p in range(3, 1000, 2) if all(p % d for d in range(3, p, 2)))


def _probably_prime(n: int) -> bool:
    if any(n % p == 0 for p in _SMALL_PRIMES):
        return n in _SMALL_PRIMES
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for base in _SMALL_PRIMES[:12]:
        x = pow(base, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


def _prime(label: str, bits: int, e: int) -> int:
    # The two top bits set make the product of two such primes exactly 2 * bits long.
    n = int.from_bytes(_digest(f"prime/{label}", bits // 8), "big") | (0b11 << (bits - 2)) | 1
    while (n - 1) % e == 0 or not _probably_prime(n):
        n += 2
    return n


@functools.cache
def _rsa_key(label: str, bits: int) -> rsa.RSAPrivateKey:
    """A deterministic RSA key; a prime search in Python, so kept small and cached."""
    e = 65537
    p, q = _prime(f"{label}/p", bits // 2, e), _prime(f"{label}/q", bits // 2, e)
    d = pow(e, -1, (p - 1) * (q - 1))
    return rsa.RSAPrivateNumbers(
        p=p,
        q=q,
        d=d,
        dmp1=rsa.rsa_crt_dmp1(d, p),
        dmq1=rsa.rsa_crt_dmq1(d, q),
        iqmp=rsa.rsa_crt_iqmp(p, q),
        public_numbers=rsa.RSAPublicNumbers(e, p * q),
    ).private_key()


def _name(cn: str, o: str | None = None, c: str | None = None) -> x509.Name:
    attributes = []
    if c is not None:
        attributes.append(x509.NameAttribute(NameOID.COUNTRY_NAME, c))
    if o is not None:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, o))
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attributes)


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _issue(
    label: str,
    subject: x509.Name,
    *,
    issuer: _Issued | None,
    key: _Key,
    now: datetime,
    valid: tuple[int, int],
    ca: bool = False,
    path_length: int | None = None,
    names: Sequence[str] = (),
) -> _Issued:
    """Sign a certificate; ``issuer=None`` makes it self-signed; ``valid`` is in days from now."""
    signer = issuer.key if issuer is not None else key
    serial = int.from_bytes(_digest(f"serial/{label}", 16), "big") >> 1
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer is not None else subject)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(now + timedelta(days=valid[0]))
        .not_valid_after(now + timedelta(days=valid[1]))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=isinstance(key, rsa.RSAPrivateKey) and not ca,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False,
        )
    if not ca or issuer is not None:
        usages = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
        builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    if names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([_general_name(n) for n in names]), critical=False
        )
    deterministic = True if isinstance(signer, ec.EllipticCurvePrivateKey) else None
    cert = builder.sign(signer, hashes.SHA256(), ecdsa_deterministic=deterministic)
    return _Issued(cert, key)


def _der(tag: int, content: bytes) -> bytes:
    size = len(content)
    if size < 0x80:
        return bytes([tag, size]) + content
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + content


def _seq(*items: bytes) -> bytes:
    return _der(0x30, b"".join(items))


def _int(value: int) -> bytes:
    return _der(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def _octets(value: bytes) -> bytes:
    return _der(0x04, value)


def _oid(dotted: str) -> bytes:
    arcs = [int(arc) for arc in dotted.split(".")]
    body = bytearray()
    for arc in (arcs[0] * 40 + arcs[1], *arcs[2:]):
        chunk = [arc & 0x7F]
        while arc > 0x7F:
            arc >>= 7
            chunk.append(0x80 | (arc & 0x7F))
        body += bytes(reversed(chunk))
    return _der(0x06, bytes(body))


def _explicit0(content: bytes) -> bytes:
    return _der(0xA0, content)


_NULL = b"\x05\x00"


def _der_content(element: bytes) -> bytes:
    """The content of one DER element (single-byte tags, as in everything built here)."""
    length = element[1]
    return element[2 + (length & 0x7F if length & 0x80 else 0) :]


def _der_split(data: bytes) -> list[bytes]:
    """The consecutive DER elements in ``data``."""
    items, i = [], 0
    while i < len(data):
        start, length, i = i, data[i + 1], i + 2
        if length & 0x80:
            count = length & 0x7F
            length, i = int.from_bytes(data[i : i + count], "big"), i + count
        i += length
        items.append(data[start:i])
    return items


def _pem(label: str, der: bytes) -> bytes:
    body = base64.b64encode(der)
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return b"\n".join(
        [f"-----BEGIN {label}-----".encode(), *lines, f"-----END {label}-----\n".encode()]
    )


def _resign_sha1(cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    """The same certificate signed with ecdsa-with-SHA1, which cryptography refuses to do."""
    tbs, _algorithm, _signature = _der_split(_der_content(cert.public_bytes(_DER)))
    fields = _der_split(_der_content(tbs))
    algorithm = _seq(_oid("1.2.840.10045.4.1"))
    fields[2] = algorithm  # after [0] version and serialNumber
    tbs = _seq(*fields)
    signature = key.sign(tbs, ec.ECDSA(hashes.SHA1(), deterministic_signing=True))
    return x509.load_der_x509_certificate(_seq(tbs, algorithm, _der(0x03, b"\0" + signature)))


_PBES2, _PBKDF2, _HMAC_SHA256 = (
    "1.2.840.113549.1.5.13",
    "1.2.840.113549.1.5.12",
    "1.2.840.113549.2.9",
)
_AES256_CBC, _SHA256 = "2.16.840.1.101.3.4.1.42", "2.16.840.1.101.3.4.2.1"
_PKCS7_DATA, _PKCS7_ENCRYPTED = "1.2.840.113549.1.7.1", "1.2.840.113549.1.7.6"
_KEY_BAG, _CERT_BAG, _X509_CERT = (
    "1.2.840.113549.1.12.10.1.2",
    "1.2.840.113549.1.12.10.1.3",
    "1.2.840.113549.1.9.22.1",
)
_FRIENDLY_NAME, _LOCAL_KEY_ID = "1.2.840.113549.1.9.20", "1.2.840.113549.1.9.21"
_ITERATIONS = 2048  # OpenSSL's default for PKCS#8 and PKCS#12


def _pbes2_encrypt(data: bytes, password: str, seed: str) -> tuple[bytes, bytes]:
    """PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC) with a fixed salt and IV.

    Returns the AlgorithmIdentifier and the ciphertext.
    """
    salt, iv = _digest(f"salt/{seed}", 16), _digest(f"iv/{seed}", 16)
    key = PBKDF2HMAC(hashes.SHA256(), 32, salt, _ITERATIONS).derive(password.encode())
    padder = sym_padding.PKCS7(128).padder()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    padded = padder.update(data) + padder.finalize()
    ciphertext = encryptor.update(padded) + encryptor.finalize()
    kdf = _seq(
        _oid(_PBKDF2), _seq(_octets(salt), _int(_ITERATIONS), _seq(_oid(_HMAC_SHA256), _NULL))
    )
    algorithm = _seq(_oid(_PBES2), _seq(kdf, _seq(_oid(_AES256_CBC), _octets(iv))))
    return algorithm, ciphertext


def _encrypted_pkcs8(key: _Key, password: str, seed: str) -> bytes:
    """EncryptedPrivateKeyInfo (DER), as ``openssl pkcs8 -topk8 -v2 aes256`` writes it."""
    plain = key.private_bytes(_DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    algorithm, ciphertext = _pbes2_encrypt(plain, password, seed)
    return _seq(algorithm, _octets(ciphertext))


def _pkcs12_mac_key(password: str, salt: bytes) -> bytes:
    """RFC 7292 B.2 key derivation (ID 3, SHA-256); a 32-byte key needs a single block."""
    v = 64

    def fill(data: bytes) -> bytes:
        size = v * -(-len(data) // v)
        return (data * (size // len(data) + 1))[:size]

    digest = hashlib.sha256(
        bytes([3]) * v + fill(salt) + fill((password + "\0").encode("utf-16-be"))
    )
    block = digest.digest()
    for _ in range(_ITERATIONS - 1):
        block = hashlib.sha256(block).digest()
    return block


def _pkcs12(issued: _Issued, password: str, friendly_name: str) -> bytes:
    """A PKCS#12 file as OpenSSL 3 writes it (AES-256 bags, SHA-256 MAC), with fixed salts."""
    attributes = _der(
        0x31,
        _seq(_oid(_FRIENDLY_NAME), _der(0x31, _der(0x1E, friendly_name.encode("utf-16-be"))))
        + _seq(_oid(_LOCAL_KEY_ID), _der(0x31, _octets(issued.cert.fingerprint(hashes.SHA1())))),
    )
    cert_value = _seq(_oid(_X509_CERT), _explicit0(_octets(issued.cert.public_bytes(_DER))))
    cert_bags = _seq(_seq(_oid(_CERT_BAG), _explicit0(cert_value), attributes))
    algorithm, ciphertext = _pbes2_encrypt(cert_bags, password, f"{friendly_name}/certs")
    encrypted_content = _seq(_oid(_PKCS7_DATA), algorithm, _der(0x80, ciphertext))
    certs_info = _seq(_oid(_PKCS7_ENCRYPTED), _explicit0(_seq(_int(0), encrypted_content)))
    shrouded = _encrypted_pkcs8(issued.key, password, f"{friendly_name}/key")
    key_bags = _seq(_seq(_oid(_KEY_BAG), _explicit0(shrouded), attributes))
    key_info = _seq(_oid(_PKCS7_DATA), _explicit0(_octets(key_bags)))
    safe = _seq(certs_info, key_info)
    salt = _digest(f"mac-salt/{friendly_name}", 16)
    mac = hmac.digest(_pkcs12_mac_key(password, salt), safe, "sha256")
    mac_data = _seq(
        _seq(_seq(_oid(_SHA256), _NULL), _octets(mac)), _octets(salt), _int(_ITERATIONS)
    )
    return _seq(_int(3), _seq(_oid(_PKCS7_DATA), _explicit0(_octets(safe))), mac_data)


_STRING_CODECS = {
    0x0C: "utf-8",
    0x13: "latin-1",
    0x14: "latin-1",
    0x16: "latin-1",
    0x1A: "latin-1",
    0x1C: "utf-32-be",
    0x1E: "utf-16-be",
}
"""The string types OpenSSL canonicalises (``ASN1_MASK_CANON``) and how to decode them."""


def _openssl_name_hash(name: x509.Name) -> str:
    """OpenSSL's ``X509_NAME_hash``: the file name of a hashed link in ``/etc/ssl/certs``.

    SHA-1 over the name's canonical encoding (every string as a UTF8String, trimmed, inner
    white space collapsed, ASCII lowercased; the RDN sets without the outer SEQUENCE), first
    four bytes read little-endian.
    """
    rdns = []
    for rdn in _der_split(_der_content(name.public_bytes())):
        entries = []
        for entry in _der_split(_der_content(rdn)):
            oid, value = _der_split(_der_content(entry))
            codec = _STRING_CODECS.get(value[0])
            if codec is not None:
                text = _der_content(value).decode(codec).encode()
                text = re.sub(rb"[ \t\n\v\f\r]+", b" ", text.strip(b" \t\n\v\f\r")).lower()
                value = _der(0x0C, text)
            entries.append(_seq(oid, value))
        rdns.append(_der(0x31, b"".join(sorted(entries))))
    digest = hashlib.sha1(b"".join(rdns), usedforsecurity=False).digest()
    return f"{int.from_bytes(digest[:4], 'little'):08x}"


def _key_pem(key: _Key, private_format: serialization.PrivateFormat | None = None) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        private_format or serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _chain(*issued: _Issued) -> bytes:
    return b"".join(i.pem for i in issued)


def _printable(path: bytes) -> str:
    """A machine path as DESIGN's JSON shows it: undecodable bytes as ``\\xNN``."""
    return path.decode("utf-8", "backslashreplace")


class _Files:
    """Writes machine paths under the root, with explicit modes (the umask does not matter)."""

    def __init__(self, root: Path, *, stamp: float) -> None:
        self.root = root
        self.stamp = stamp
        self.private_dirs: set[str] = set()

    def host(self, path: str) -> Path:
        return self.root / path.lstrip("/")

    def _prepare(self, host: bytes) -> None:
        os.makedirs(os.path.dirname(host), exist_ok=True)
        if os.path.lexists(host):
            os.unlink(host)

    def write(self, path: str | bytes, data: bytes, mode: int = 0o644) -> None:
        host = os.fsencode(self.root) + (path if isinstance(path, bytes) else os.fsencode(path))
        self._prepare(host)
        fd = os.open(host, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
        with os.fdopen(fd, "wb") as f:
            os.fchmod(fd, mode)
            f.write(data)

    def text(self, path: str, text: str, mode: int = 0o644) -> None:
        """Write a configuration file given as an indented triple-quoted string."""
        self.write(path, textwrap.dedent(text).lstrip("\n").encode(), mode)

    def link(self, path: str, target: str) -> None:
        host = os.fsencode(self.host(path))
        self._prepare(host)
        os.symlink(target, host)

    def private(self, *paths: str) -> None:
        """Folders holding private keys: mode 0700."""
        self.private_dirs.update(paths)

    def finish(self) -> None:
        """Set folder modes and one modification time on everything, links included."""
        private = {os.fsencode(self.host(p)) for p in self.private_dirs}
        top = os.fsencode(self.root)
        for folder, dirs, names in os.walk(top):
            for name in dirs + names:
                host = os.path.join(folder, name)
                if name in dirs and not os.path.islink(host):
                    os.chmod(host, 0o700 if host in private else 0o755)
                os.utime(host, (self.stamp, self.stamp), follow_symlinks=False)


class _Server:
    """The demo machine, one area at a time; each area writes files and lists certificates."""

    def __init__(self, files: _Files, now: datetime) -> None:
        self.files = files
        self.now = now
        self.certs: list[DemoCert] = []
        # Every certificate issue() made, by label, for record() to look up.
        self.made: dict[str, x509.Certificate] = {}
        self.public_roots = [
            self.issue(label, _name(cn, o, c), None, valid, ca=True)
            for label, cn, o, c, valid in _PUBLIC_ROOTS
        ]
        self.root_x1, self.globex_root = self.public_roots[0], self.public_roots[1]
        self.demo_root = self.issue(
            "demo-corp-root",
            _name("Demo Corp Root CA", "Demo Corp", "DE"),
            None,
            (-2200, 5100),
            ca=True,
        )
        self.issuing_key = _ec_key("demo-corp-issuing", 384)
        self.issuing = self.issue(
            "demo-corp-issuing",
            _name("Demo Corp Issuing CA", "Demo Corp", "DE"),
            self.demo_root,
            (-1100, 1500),
            ca=True,
            path_length=0,
            key=self.issuing_key,
        )

    def build(self) -> list[DemoCert]:
        self.files.write(f"/{_MARKER}", b"A certdeck demo server tree (certdeck --root).\n")
        self.system_files()
        self.trust_store()
        self.nginx()
        self.apache()
        self.haproxy()
        self.postfix()
        self.dovecot()
        self.letsencrypt()
        self.leftovers()
        self.odd_files()
        self.billing()
        return self.certs

    def issue(
        self,
        label: str,
        subject: x509.Name,
        issuer: _Issued | None,
        valid: tuple[int, int],
        *,
        names: Sequence[str] = (),
        key: _Key | None = None,
        ca: bool = False,
        path_length: int | None = None,
    ) -> _Issued:
        issued = _issue(
            label,
            subject,
            issuer=issuer,
            key=key if key is not None else _ec_key(label, 384 if ca else 256),
            now=self.now,
            valid=valid,
            ca=ca,
            path_length=path_length,
            names=names,
        )
        self.made[label] = issued.cert
        return issued

    def leaf(self, label: str, host: str, valid: tuple[int, int], *extra: str) -> _Issued:
        """A TLS server certificate from the Demo Corp issuing CA."""
        return self.issue(
            label, _name(host, "Demo Corp", "DE"), self.issuing, valid, names=(host, *extra)
        )

    def record(self, label: str, path: str, required: bool, *codes: str) -> None:
        """List the certificate issued under ``label`` with the findings expected for it."""
        sha256 = self.made[label].fingerprint(hashes.SHA256()).hex()
        self.certs.append(DemoCert(label, path, frozenset(codes), required, sha256))

    def system_files(self) -> None:
        f = self.files
        f.text("/etc/hostname", "demo-server\n")
        f.text(
            "/etc/hosts",
            """
            127.0.0.1\tlocalhost
            127.0.1.1\tdemo-server.demo.example\tdemo-server
            192.0.2.10\twww.demo.example demo.example

            ::1\tlocalhost ip6-localhost ip6-loopback
            """,
        )
        f.text(
            "/etc/os-release",
            """
            PRETTY_NAME="Debian GNU/Linux 13 (trixie)"
            NAME="Debian GNU/Linux"
            VERSION_ID="13"
            ID=debian
            """,
        )
        f.text(
            "/etc/ssl/openssl.cnf",
            """
            # OpenSSL configuration (shortened).
            openssl_conf = openssl_init

            [openssl_init]
            providers = provider_sect

            [provider_sect]
            default = default_sect

            [default_sect]
            activate = 1

            [req]
            distinguished_name = req_distinguished_name

            [req_distinguished_name]
            """,
        )

    def trust_store(self) -> None:
        """Debian's ca-certificates: source files, /etc/ssl/certs links, the bundle."""
        f = self.files
        links: list[tuple[str, _Issued]] = []
        for (label, cn, *_), issued in zip(_PUBLIC_ROOTS, self.public_roots, strict=True):
            name = cn.replace(" ", "_")
            source = f"/usr/share/ca-certificates/mozilla/{name}.crt"
            f.write(source, issued.pem)
            f.link(f"/etc/ssl/certs/{name}.pem", source)
            links.append((f"{name}.pem", issued))
            expired = issued.cert.not_valid_after_utc < self.now
            # Anchors are trusted, never unused and not duplicates of their bundle copy.
            self.record(label, source, issued is self.root_x1, *(["expired"] if expired else []))
        local = "/usr/local/share/ca-certificates/demo-corp-root.crt"
        f.write(local, self.demo_root.pem)
        f.link("/etc/ssl/certs/demo-corp-root.pem", local)
        links.append(("demo-corp-root.pem", self.demo_root))
        self.record("demo-corp-root", local, True)

        used: set[str] = set()
        for link, issued in links:
            digest, n = _openssl_name_hash(issued.cert.subject), 0
            while f"{digest}.{n}" in used:
                n += 1
            used.add(f"{digest}.{n}")
            f.link(f"/etc/ssl/certs/{digest}.{n}", link)
        # update-ca-certificates appends the local anchors after the distro's list.
        f.write("/etc/ssl/certs/ca-certificates.crt", _chain(*(i for _, i in links)))
        selected = "".join(f"mozilla/{cn.replace(' ', '_')}.crt\n" for _, cn, *_ in _PUBLIC_ROOTS)
        f.write("/etc/ca-certificates.conf", _CA_CERTIFICATES_CONF.encode() + selected.encode())
        f.private("/etc/ssl/private")
        f.write(_CHAIN_FILE, self.issuing.pem)
        # The root's CRL in /etc/ssl/crl covers it, and is out of date.
        self.record("demo-corp-issuing", _CHAIN_FILE, True, "crl_stale")
        f.text(
            "/etc/ssl/localcerts/README",
            """
            Certificates issued by the Demo Corp CA (https://pki.demo.example).
            Keys live in /etc/ssl/private.
            """,
        )

    def nginx(self) -> None:
        f = self.files
        f.text(
            "/etc/nginx/nginx.conf",
            """
            user www-data;
            worker_processes auto;
            pid /run/nginx.pid;
            error_log /var/log/nginx/error.log;
            include /etc/nginx/modules-enabled/*.conf;

            events {
                worker_connections 768;
            }

            http {
                sendfile on;
                tcp_nopush on;
                types_hash_max_size 2048;
                include /etc/nginx/mime.types;
                default_type application/octet-stream;

                ssl_protocols TLSv1.2 TLSv1.3;
                ssl_prefer_server_ciphers off;

                access_log /var/log/nginx/access.log;
                gzip on;

                include /etc/nginx/conf.d/*.conf;
                include /etc/nginx/sites-enabled/*;
            }
            """,
        )
        f.text(
            "/etc/nginx/mime.types",
            """
            types {
                text/html                             html htm shtml;
                text/css                              css;
                application/javascript                js;
                application/x-x509-ca-cert            der pem crt;
            }
            """,
        )
        www = self.leaf("nginx-www", "www.demo.example", (-40, 325), "demo.example", "192.0.2.10")
        f.write("/etc/nginx/ssl/www.crt", _chain(www, self.issuing))
        f.write("/etc/nginx/ssl/www.key", _key_pem(www.key), 0o600)
        self.record("nginx-www", "/etc/nginx/ssl/www.crt", True)
        commented = self.leaf("nginx-commented", "www2.demo.example", (-300, 400))
        f.write("/etc/nginx/ssl/commented.crt", commented.pem)
        self.record("nginx-commented", "/etc/nginx/ssl/commented.crt", False, _UNUSED)
        self.site(
            "www",
            """
            server {
                listen 80;
                listen [::]:80;
                server_name www.demo.example demo.example;
                return 301 https://$host$request_uri;
            }

            server {
                listen 443 ssl;
                listen [::]:443 ssl;
                http2 on;
                server_name www.demo.example demo.example;

                ssl_certificate /etc/nginx/ssl/www.crt;
                ssl_certificate_key /etc/nginx/ssl/www.key;
                # ssl_certificate /etc/nginx/ssl/commented.crt;

                root /var/www/html;
                index index.html;
            }
            """,
        )

        api = self.leaf("nginx-api", "api.demo.example", (-20, 345))
        f.write("/etc/nginx/ssl/api.crt", _chain(api, self.issuing))
        f.write("/etc/nginx/ssl/api.key", _key_pem(api.key), 0o644)  # readable by everyone
        self.record("nginx-api", "/etc/nginx/ssl/api.crt", True, "key_permissions")
        self.site(
            "api",
            """
            upstream api_backend {
                server 127.0.0.1:8080;
            }

            server {
                listen 443 ssl;
                server_name api.demo.example;
                ssl_certificate     /etc/nginx/ssl/api.crt;
                ssl_certificate_key /etc/nginx/ssl/api.key;

                location / {
                    proxy_pass http://api_backend;
                }
            }
            """,
        )

        shop = self.leaf("nginx-shop", "shop.demo.example", (-60, 305))
        f.write("/etc/nginx/ssl/shop.crt", _chain(shop, self.issuing))
        # The certificate was renewed with a new key; the configuration still names the old one.
        f.write("/etc/nginx/ssl/shop.key", _key_pem(_ec_key("nginx-shop/old-key")), 0o600)
        self.record("nginx-shop", "/etc/nginx/ssl/shop.crt", True, "key_mismatch")
        self.site(
            "shop",
            """
            server {
                listen 443 ssl;
                server_name shop.demo.example;
                ssl_certificate /etc/nginx/ssl/shop.crt;
                ssl_certificate_key /etc/nginx/ssl/shop.key;
                root /var/www/shop;
            }
            """,
        )

        old = self.leaf("nginx-old-intranet", "intranet-old.demo.example", (-200, 165))
        f.write("/etc/nginx/ssl/old-intranet.crt", _chain(old, self.issuing))
        f.write("/etc/nginx/ssl/old-intranet.key", _key_pem(old.key), 0o600)
        self.record("nginx-old-intranet", "/etc/nginx/ssl/old-intranet.crt", False, _UNUSED)
        self.site(
            "old-intranet",
            """
            # Replaced by the Apache intranet; kept for reference, not enabled.
            server {
                listen 443 ssl;
                server_name intranet-old.demo.example;
                ssl_certificate /etc/nginx/ssl/old-intranet.crt;
                ssl_certificate_key /etc/nginx/ssl/old-intranet.key;
            }
            """,
            enabled=False,
        )

    def site(self, name: str, text: str, *, enabled: bool = True) -> None:
        self.files.text(f"/etc/nginx/sites-available/{name}", text)
        if enabled:
            self.files.link(
                f"/etc/nginx/sites-enabled/{name}", f"/etc/nginx/sites-available/{name}"
            )

    def apache(self) -> None:
        f = self.files
        f.text(
            "/etc/apache2/apache2.conf",
            """
            # Apache 2 configuration (Debian layout). See /usr/share/doc/apache2/README.Debian.
            ServerRoot "/etc/apache2"
            DefaultRuntimeDir ${APACHE_RUN_DIR}
            PidFile ${APACHE_PID_FILE}
            Timeout 300
            KeepAlive On
            User ${APACHE_RUN_USER}
            Group ${APACHE_RUN_GROUP}
            HostnameLookups Off
            ErrorLog ${APACHE_LOG_DIR}/error.log
            LogLevel warn

            IncludeOptional mods-enabled/*.load
            IncludeOptional mods-enabled/*.conf
            Include ports.conf

            <Directory />
                Options FollowSymLinks
                AllowOverride None
                Require all denied
            </Directory>

            AccessFileName .htaccess
            IncludeOptional conf-enabled/*.conf
            IncludeOptional sites-enabled/*.conf
            """,
        )
        f.text(
            "/etc/apache2/ports.conf",
            """
            Listen 8081

            <IfModule ssl_module>
                Listen 8443
            </IfModule>
            """,
        )
        wildcard = self.issue(
            "apache-wildcard",
            _name("*.demo.example", "Demo Corp", "DE"),
            self.issuing,
            (-90, 640),
            names=("*.demo.example", "demo.example"),
        )
        f.write("/etc/ssl/localcerts/wildcard.demo.example.crt", wildcard.pem)
        f.write("/etc/ssl/private/wildcard.demo.example.key", _key_pem(wildcard.key), 0o600)
        self.record(
            "apache-wildcard", "/etc/ssl/localcerts/wildcard.demo.example.crt", True, "wildcard"
        )
        self.vhost(
            "portal-ssl",
            f"""
            <IfModule mod_ssl.c>
            <VirtualHost *:8443>
                ServerName portal.demo.example
                ServerAlias *.demo.example
                DocumentRoot /var/www/portal

                SSLEngine on
                SSLCertificateFile /etc/ssl/localcerts/wildcard.demo.example.crt
                SSLCertificateKeyFile "/etc/ssl/private/wildcard.demo.example.key"
                SSLCertificateChainFile {_CHAIN_FILE}
            </VirtualHost>
            </IfModule>
            """,
        )
        intranet = self.leaf("apache-intranet", "intranet.demo.example", (-30, 700))
        f.write("/etc/ssl/localcerts/intranet.demo.example.crt", intranet.pem)
        # Its key, /etc/ssl/private/intranet.demo.example.key, was never copied to this server.
        self.record(
            "apache-intranet", "/etc/ssl/localcerts/intranet.demo.example.crt", True, "key_missing"
        )
        self.vhost(
            "intranet-ssl",
            """
            <VirtualHost *:8443>
                ServerName intranet.demo.example
                DocumentRoot /var/www/intranet
                SSLEngine on
                SSLCertificateFile      /etc/ssl/localcerts/intranet.demo.example.crt
                SSLCertificateKeyFile   /etc/ssl/private/intranet.demo.example.key
            </VirtualHost>
            """,
        )
        self.vhost(
            "000-default",
            """
            <VirtualHost *:8081>
                ServerAdmin webmaster@demo.example
                DocumentRoot /var/www/html
            </VirtualHost>
            """,
        )

    def vhost(self, name: str, text: str) -> None:
        self.files.text(f"/etc/apache2/sites-available/{name}.conf", text)
        # a2ensite links relatively.
        self.files.link(
            f"/etc/apache2/sites-enabled/{name}.conf", f"../sites-available/{name}.conf"
        )

    def haproxy(self) -> None:
        f = self.files
        f.text(
            "/etc/haproxy/haproxy.cfg",
            """
            global
                log /dev/log local0
                chroot /var/lib/haproxy
                user haproxy
                group haproxy
                daemon
                ca-base /etc/ssl/certs
                crt-base /etc/haproxy/certs
                ssl-default-bind-options ssl-min-ver TLSv1.2

            defaults
                log global
                mode http
                option httplog
                timeout connect 5s
                timeout client 50s
                timeout server 50s

            frontend https-in
                bind :80
                bind :443 ssl crt /etc/haproxy/certs/ alpn h2,http/1.1
                http-request redirect scheme https unless { ssl_fc }
                default_backend app

            backend app
                balance roundrobin
                server app1 10.0.2.11:8443 ssl ca-file /etc/ssl/certs/demo-corp-root.pem check
                server app2 10.0.2.12:8443 ssl ca-file /etc/ssl/certs/demo-corp-root.pem check
            """,
        )
        f.private("/etc/haproxy/certs")
        for label, host in (
            ("haproxy-lb", "lb.demo.example"),
            ("haproxy-status", "status.demo.example"),
        ):
            issued = self.leaf(label, host, (-15, 350))
            path = f"/etc/haproxy/certs/{host}.pem"
            f.write(path, _chain(issued, self.issuing) + _key_pem(issued.key), 0o600)
            self.record(label, path, True)

    def postfix(self) -> None:
        f = self.files
        mail = self.leaf("postfix-mail", "mail.demo.example", (-353, 12))
        f.write("/etc/postfix/tls/mail.demo.example.crt", _chain(mail, self.issuing))
        f.write("/etc/postfix/tls/mail.demo.example.key", _key_pem(mail.key), 0o600)
        self.record("postfix-mail", "/etc/postfix/tls/mail.demo.example.crt", True, "expiring")
        smtp = self.leaf("postfix-submission", "smtp.demo.example", (-100, 600))
        f.write("/etc/postfix/tls/smtp.demo.example.crt", _chain(smtp, self.issuing))
        f.write("/etc/postfix/tls/smtp.demo.example.key", _key_pem(smtp.key), 0o600)
        # Revoked by the CA (in its CRL in /etc/ssl/crl), but postfix still serves it.
        self.record("postfix-submission", "/etc/postfix/tls/smtp.demo.example.crt", True, "revoked")
        f.text(
            "/etc/postfix/main.cf",
            """
            # See /usr/share/postfix/main.cf.dist for a commented, more complete version
            smtpd_banner = $myhostname ESMTP $mail_name (Debian/GNU)
            biff = no
            append_dot_mydomain = no
            readme_directory = no
            compatibility_level = 3.6

            # TLS parameters
            smtpd_tls_cert_file = /etc/postfix/tls/mail.demo.example.crt
            smtpd_tls_key_file = /etc/postfix/tls/mail.demo.example.key
            smtpd_tls_CAfile = /etc/ssl/certs/demo-corp-root.pem
            smtpd_tls_security_level = may
            smtp_tls_security_level = may
            smtp_tls_session_cache_database = btree:${data_directory}/smtp_scache

            myhostname = mail.demo.example
            alias_maps = hash:/etc/aliases
            mydestination = $myhostname, demo.example, localhost
            relayhost =
            mynetworks = 127.0.0.0/8 [::ffff:127.0.0.0]/104 [::1]/128
            inet_interfaces = all
            """,
        )
        f.text(
            "/etc/postfix/master.cf",
            """
            # service type  private unpriv  chroot  wakeup  maxproc command + args
            smtp      inet  n       -       y       -       -       smtpd
            submission inet n       -       y       -       -       smtpd
              -o syslog_name=postfix/submission
              -o smtpd_tls_security_level=encrypt
              -o smtpd_tls_cert_file=/etc/postfix/tls/smtp.demo.example.crt
              -o smtpd_tls_key_file=/etc/postfix/tls/smtp.demo.example.key
              -o smtpd_sasl_auth_enable=yes
            #smtps     inet  n       -       y       -       -       smtpd
            #  -o syslog_name=postfix/smtps
            #  -o smtpd_tls_wrappermode=yes
            pickup    unix  n       -       y       60      1       pickup
            cleanup   unix  n       -       y       -       0       cleanup
            qmgr      unix  n       -       n       300     1       qmgr
            """,
        )

    def dovecot(self) -> None:
        f = self.files
        # Made at installation, like Debian's snakeoil certificate.
        cert = self.issue(
            "dovecot",
            _name("imap.demo.example", "Dovecot mail server"),
            None,
            (-400, 3250),
            names=("imap.demo.example",),
        )
        f.private("/etc/dovecot/private")
        f.write("/etc/dovecot/private/dovecot.pem", cert.pem)
        key = _key_pem(cert.key, serialization.PrivateFormat.TraditionalOpenSSL)
        f.write("/etc/dovecot/private/dovecot.key", key, 0o600)
        self.record("dovecot", "/etc/dovecot/private/dovecot.pem", True, "self_signed", "untrusted")
        f.text(
            "/etc/dovecot/dovecot.conf",
            """
            ## Dovecot configuration file
            !include_try /usr/share/dovecot/protocols.d/*.protocol
            listen = *, ::
            dict {
            }
            !include conf.d/*.conf
            !include_try local.conf
            """,
        )
        f.text(
            "/etc/dovecot/conf.d/10-ssl.conf",
            """
            ##
            ## SSL settings
            ##
            ssl = required
            ssl_cert = </etc/dovecot/private/dovecot.pem
            ssl_key = </etc/dovecot/private/dovecot.key
            ssl_min_protocol = TLSv1.2
            """,
        )
        f.text(
            "/etc/dovecot/conf.d/10-mail.conf",
            """
            mail_location = mbox:~/mail:INBOX=/var/mail/%u
            namespace inbox {
              inbox = yes
            }
            """,
        )

    def letsencrypt(self) -> None:
        """certbot's archive (three renewals) and live links; nginx serves the newest."""
        f = self.files
        e11 = self.issue(
            "le-e11",
            _name("E11", "Demo Encrypt", "US"),
            self.root_x1,
            (-700, 400),
            ca=True,
            path_length=0,
        )
        archive = "/etc/letsencrypt/archive/blog.demo.example"
        live = "/etc/letsencrypt/live/blog.demo.example"
        f.private("/etc/letsencrypt/archive", "/etc/letsencrypt/live")
        versions = {
            1: (
                (-140, -50),
                ("expired", "superseded", "duplicate", _UNUSED, "obsolete"),
            ),
            2: ((-50, 40), ("superseded", "duplicate", _UNUSED, "obsolete")),
            3: ((-5, 85), ("duplicate",)),
        }
        for n, (valid, codes) in versions.items():
            label = f"le-blog-{n}"
            cert = self.issue(
                label, _name("blog.demo.example"), e11, valid, names=("blog.demo.example",)
            )
            f.write(f"{archive}/cert{n}.pem", cert.pem)
            f.write(f"{archive}/chain{n}.pem", e11.pem)
            f.write(f"{archive}/fullchain{n}.pem", _chain(cert, e11))
            f.write(f"{archive}/privkey{n}.pem", _key_pem(cert.key), 0o600)
            self.record(label, f"{archive}/cert{n}.pem", n == 3, *codes)
        self.record("le-e11", f"{archive}/chain3.pem", True, "duplicate")
        for part in ("cert", "chain", "fullchain", "privkey"):
            f.link(f"{live}/{part}.pem", f"../../archive/blog.demo.example/{part}3.pem")
        f.text(
            f"{live}/README",
            """
            This directory contains your keys and certificates.

            `privkey.pem`  : the private key for your certificate.
            `fullchain.pem`: the certificate file used in most server software.
            `chain.pem`    : used for OCSP stapling in Nginx >=1.3.7.
            `cert.pem`     : will break many server configurations, and should not be used
                             without reading further documentation (see link below).
            """,
        )
        f.text(
            "/etc/letsencrypt/renewal/blog.demo.example.conf",
            f"""
            # renew_before_expiry = 30 days
            version = 2.11.0
            archive_dir = {archive}
            cert = {live}/cert.pem
            privkey = {live}/privkey.pem
            chain = {live}/chain.pem
            fullchain = {live}/fullchain.pem

            # Options used in the renewal process
            [renewalparams]
            account = 4f2c1b0e9d8a7c6b5a4f3e2d1c0b9a88
            authenticator = nginx
            installer = nginx
            server = https://acme.demo.example/directory
            key_type = ecdsa
            """,
        )
        f.text(
            "/etc/nginx/conf.d/blog.conf",
            f"""
            server {{
                listen 443 ssl;
                server_name blog.demo.example;
                ssl_certificate {live}/fullchain.pem;
                ssl_certificate_key {live}/privkey.pem;
                root /var/www/blog;
            }}
            """,
        )

    def leftovers(self) -> None:
        """Certificates nothing uses, each showing one problem."""
        f = self.files
        local = "/etc/ssl/localcerts"

        old = self.leaf("expired-old", "old.demo.example", (-565, -200))
        f.write(f"{local}/old.demo.example.crt", old.pem)
        self.record(
            "expired-old",
            f"{local}/old.demo.example.crt",
            False,
            "expired",
            _UNUSED,
            "obsolete",
        )

        future = self.leaf("not-yet-valid", "future.demo.example", (10, 375))
        f.write(f"{local}/future.demo.example.crt", future.pem)
        self.record(
            "not-yet-valid",
            f"{local}/future.demo.example.crt",
            False,
            "not_yet_valid",
            _UNUSED,
        )

        # Its issuer is nowhere on this machine: only its name and key are needed to sign.
        vendor_ca = self.issue(
            "unknown-ca/issuer",
            _name("Acme Appliance Device CA", "Acme Appliances Ltd", "NL"),
            None,
            (-1000, 3000),
            ca=True,
        )
        appliance = self.issue(
            "unknown-ca",
            _name("appliance.vendor.example", "Acme Appliances Ltd", "NL"),
            vendor_ca,
            (-100, 900),
            names=("appliance.vendor.example",),
        )
        f.write(f"{local}/appliance.vendor.example.crt", appliance.pem)
        self.record(
            "unknown-ca", f"{local}/appliance.vendor.example.crt", False, "untrusted", _UNUSED
        )

        sha1 = self.leaf("sha1", "legacy-sha1.demo.example", (-50, 315))
        sha1_cert = self.made["sha1"] = _resign_sha1(sha1.cert, self.issuing_key)
        f.write(f"{local}/legacy-sha1.demo.example.crt", sha1_cert.public_bytes(_PEM))
        self.record(
            "sha1",
            f"{local}/legacy-sha1.demo.example.crt",
            False,
            "weak_signature",
            "untrusted",
            _UNUSED,
        )

        weak = self.issue(
            "rsa-1024",
            _name("weak-rsa.demo.example", "Demo Corp", "DE"),
            self.issuing,
            (-70, 295),
            names=("weak-rsa.demo.example",),
            key=_rsa_key("rsa-1024", 1024),
        )
        f.write(f"{local}/weak-rsa.demo.example.crt", weak.pem)
        self.record("rsa-1024", f"{local}/weak-rsa.demo.example.crt", False, "weak_key", _UNUSED)

        git = self.leaf("duplicate", "git.demo.example", (-80, 285))
        f.write(f"{local}/git.demo.example.crt", git.pem)
        f.write("/etc/gitlab/ssl/git.demo.example.crt", git.pem)
        self.record("duplicate", f"{local}/git.demo.example.crt", False, "duplicate", _UNUSED)

        hostile = self.issue(
            "hostile",
            x509.Name(
                [
                    x509.NameAttribute(NameOID.COUNTRY_NAME, "DE"),
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "\x1b[31mEvil\x1b[0m"),
                    x509.NameAttribute(
                        NameOID.COMMON_NAME, "[bold red]Legit[/] [@click=app.quit]x[/]"
                    ),
                ]
            ),
            self.issuing,
            (-10, 355),
            names=("legit.demo.example",),
        )
        f.write(f"{local}/legit.demo.example.crt", hostile.pem)
        self.record("hostile", f"{local}/legit.demo.example.crt", False, _UNUSED)

        localhost = self.issue(
            "rhel-localhost",
            _name("localhost.localdomain", "Unspecified", "XX"),
            None,
            (-900, 2750),
            names=("localhost.localdomain",),
        )
        # mod_ssl's certificate from an earlier RHEL-style installation.
        f.private("/etc/pki/tls/private")
        f.write("/etc/pki/tls/certs/localhost.crt", localhost.pem)
        f.write("/etc/pki/tls/private/localhost.key", _key_pem(localhost.key), 0o600)
        self.record(
            "rhel-localhost",
            "/etc/pki/tls/certs/localhost.crt",
            False,
            "self_signed",
            "untrusted",
            _UNUSED,
        )

    def odd_files(self) -> None:
        """Certificates in unusual encodings and files that are not certificates at all."""
        f, now = self.files, self.now
        local = "/etc/ssl/localcerts"

        printer = self.leaf("der", "printer.demo.example", (-120, 610))
        f.write(f"{local}/printer.demo.example.der", printer.cert.public_bytes(_DER))
        self.record("der", f"{local}/printer.demo.example.der", False, _UNUSED)

        partner_ca = self.issue(
            "p7b-intermediate",
            _name("Globex TLS Issuing CA 2024", "Globex Trust Services", "US"),
            self.globex_root,
            (-700, 1400),
            ca=True,
            path_length=0,
        )
        partner = self.issue(
            "p7b-partner",
            _name("partner.globex.example", "Globex Corporation", "US"),
            partner_ca,
            (-30, 365),
            names=("partner.globex.example",),
        )
        p7b = f"{local}/globex-partner-chain.p7b"
        f.write(p7b, pkcs7.serialize_certificates([partner.cert, partner_ca.cert], _DER))
        self.record("p7b-partner", p7b, False, _UNUSED)
        self.record("p7b-intermediate", p7b, False, _UNUSED)

        cafe = self.leaf("non-utf8-name", "cafe.demo.example", (-25, 340))
        name = f"{local}/caf".encode() + b"\xe9.demo.example.crt"  # Latin-1, not UTF-8
        f.write(name, cafe.pem)
        self.record("non-utf8-name", _printable(name), False, _UNUSED)

        legacy = self.leaf("legacy-label", "legacy.demo.example", (-45, 320))
        text = legacy.pem.replace(b"CERTIFICATE-----", b"X509 CERTIFICATE-----")
        f.write(f"{local}/legacy-label.pem", text.replace(b"\n", b"\r\n"))
        self.record("legacy-label", f"{local}/legacy-label.pem", False, _UNUSED)

        pem_lines = printer.pem.splitlines(keepends=True)
        f.write(f"{local}/truncated.pem", b"".join(pem_lines[:6]))
        f.write(
            f"{local}/bad-base64.pem",
            b"-----BEGIN CERTIFICATE-----\n"
            b"MIIBszCCAVmgAwIBAgIU!!not*base64??\n"
            b"@@@@ this was pasted from an e-mail @@@@\n"
            b"-----END CERTIFICATE-----\n",
        )
        f.write(f"{local}/empty.pem", b"")
        f.write(f"{local}/garbage.crt", _digest("garbage", 733))

        csr_key = _ec_key("newserver")
        csr = (
            x509.CertificateSigningRequestBuilder()
            .subject_name(_name("newserver.demo.example", "Demo Corp", "DE"))
            .add_extension(
                x509.SubjectAlternativeName([x509.DNSName("newserver.demo.example")]),
                critical=False,
            )
            .sign(csr_key, hashes.SHA256(), ecdsa_deterministic=True)
        )
        f.write(f"{local}/newserver.demo.example.csr", csr.public_bytes(_PEM))
        f.write("/etc/ssl/private/newserver.demo.example.key", _key_pem(csr_key), 0o600)

        revoked = (
            x509.RevokedCertificateBuilder()
            # A laptop certificate that left with its owner; it is not on this server.
            .serial_number(int.from_bytes(_digest("serial/revoked-laptop", 16), "big") >> 1)
            .revocation_date(now - timedelta(days=33))
            .build()
        )
        compromised = (
            x509.RevokedCertificateBuilder()
            .serial_number(self.made["postfix-submission"].serial_number)
            .revocation_date(now - timedelta(days=3))
            .add_extension(x509.CRLReason(x509.ReasonFlags.key_compromise), critical=False)
            .build()
        )
        crl = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.issuing.cert.subject)
            .last_update(now - timedelta(days=1))
            .next_update(now + timedelta(days=6))
            .add_revoked_certificate(revoked)
            .add_revoked_certificate(compromised)
            .add_extension(x509.CRLNumber(417), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.issuing_key.public_key()),
                critical=False,
            )
            .sign(self.issuing_key, hashes.SHA256(), ecdsa_deterministic=True)
        )
        f.write("/etc/ssl/crl/demo-corp-issuing-ca.crl", crl.public_bytes(_PEM))
        # The root's CRL, which nobody has fetched for weeks: past its next update.
        stale = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.demo_root.cert.subject)
            .last_update(now - timedelta(days=45))
            .next_update(now - timedelta(days=15))
            .add_extension(x509.CRLNumber(12), critical=False)
            .sign(self.demo_root.key, hashes.SHA256(), ecdsa_deterministic=True)
        )
        f.write(
            "/etc/ssl/crl/demo-corp-root-ca.crl", stale.public_bytes(serialization.Encoding.DER)
        )

        signing = _ec_key("backup-signing")
        f.write(
            ENCRYPTED_KEY_PATH,
            _pem(
                "ENCRYPTED PRIVATE KEY", _encrypted_pkcs8(signing, DEMO_PASSWORD, "backup-signing")
            ),
            0o600,
        )

        legacy_app = self.leaf("legacy-app", "legacy-app.demo.example", (-200, 530))
        f.write(PKCS12_PATH, _pkcs12(legacy_app, DEMO_PASSWORD, "legacy-app"), 0o600)

    def billing(self) -> None:
        """An application's key pair declared in the certdeck settings."""
        f = self.files
        master = self.issue(
            "billing-master",
            _name("Billing Master Key", "Demo Corp Billing", "DE"),
            None,
            (-1500, -30),
        )
        f.private("/opt/billing/keys")
        path = "/opt/billing/keys/master.pem"
        f.write(path, master.pem + _key_pem(master.key), 0o600)
        # Expired, but billing-app never checks expiry (check_expiry = false): a note only.
        self.record("billing-master", path, True, "self_signed", "untrusted", "expiry_not_checked")
        f.text(
            "/opt/billing/billing.ini",
            """
            [signing]
            key_file = /opt/billing/keys/master.pem
            """,
        )
        f.text(
            SETTINGS_PATH,
            """
            # certdeck settings for demo-server.

            [scan]
            paths = ["/opt/billing"]

            # The billing application signs invoices with this key pair. The certificate only
            # carries the public key, so its dates do not matter.
            [[consumers]]
            name = "billing-app"
            files = ["/opt/billing/keys/master.pem"]
            role = "master key"
            check_expiry = false
            """,
        )
