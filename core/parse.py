"""Recognise certificates and private keys by content (pure functions, bytes in).

:func:`parse_bytes` takes the bytes of one file and returns what is inside: certificates
(PEM, DER, PKCS#7), private keys (PKCS#1, PKCS#8, SEC1, encrypted ones recorded as encrypted
and never decrypted), whether the file is a PKCS#12 container (locked until a password is
supplied through :func:`open_pkcs12`) and whether it holds a certificate revocation list.
Files that hold nothing of this are ignored; material that fails to parse comes back as a
problem with a specific reason.
"""

from __future__ import annotations

import binascii
import contextlib
import hashlib
import re
import warnings
from collections.abc import Iterator
from typing import NamedTuple

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12
from cryptography.utils import CryptographyDeprecationWarning

from core import _der
from core.model import CertFacts, KeyFacts

__all__ = [
    "CERT_LIKE_SUFFIXES",
    "FoundCert",
    "FoundKey",
    "ParsedFile",
    "cert_facts",
    "clear_memos",
    "error_reason",
    "open_pkcs12",
    "parse_bytes",
    "quiet_warnings",
    "signed_by",
]

CERT_LIKE_SUFFIXES = (
    ".pem",
    ".crt",
    ".cer",
    ".der",
    ".p7b",
    ".p7c",
    ".p12",
    ".pfx",
    ".key",
    ".ca-bundle",
)
"""File name endings that make a file *look like* certificate material.

Content alone decides what a file holds; the name only decides whether a file that holds
nothing recognisable is worth reporting as unreadable rather than ignored.
"""


class FoundCert(NamedTuple):
    """A certificate inside a file."""

    facts: CertFacts
    position: int
    """0-based among the certificates of the file (``index`` is taken by ``tuple``)."""
    format: str


class FoundKey(NamedTuple):
    """A private key inside a file."""

    format: str
    encrypted: bool
    public_key_sha256: str | None
    key: KeyFacts | None = None


class ParsedFile(NamedTuple):
    """What one file holds; ``problems`` lists the parts that could not be read."""

    certs: tuple[FoundCert, ...] = ()
    keys: tuple[FoundKey, ...] = ()
    pkcs12: bool = False
    problems: tuple[str, ...] = ()
    crl: bool = False
    """The file holds a certificate revocation list (recognised by its shape, not parsed)."""

    @property
    def relevant(self) -> bool:
        """Whether the file holds anything the inventory keeps or reports."""
        return bool(self.certs or self.keys or self.pkcs12 or self.problems or self.crl)


_PEM_LABEL = re.compile(rb"[A-Z0-9 #]{1,64}")


def _pem_blocks(data: bytes) -> Iterator[tuple[int, bytes, bytes | None]]:
    """(offset, label, body) of each PEM block; body is None when the END line is missing.

    A hand-written scan rather than one regular expression: it is several times faster on
    the common one-certificate file, and a truncated block followed by a complete one
    reports the first and still yields the second.
    """
    pos = data.find(b"-----BEGIN ")
    while pos >= 0:
        label_start = pos + 11
        label_end = data.find(b"-----", label_start, label_start + 70)
        label = data[label_start:label_end] if label_end > 0 else b""
        if label_end < 0 or (label not in _KNOWN_LABELS and not _PEM_LABEL.fullmatch(label)):
            pos = data.find(b"-----BEGIN ", label_start)
            continue
        body_start = label_end + 5
        end = data.find(b"-----END " + label + b"-----", body_start)
        if end < 0:
            yield pos, label, None
            pos = data.find(b"-----BEGIN ", body_start)
            continue
        following = data.find(b"-----BEGIN ", body_start, end)
        if following >= 0:
            yield pos, label, None
            pos = following
            continue
        yield pos, label, data[body_start:end]
        pos = data.find(b"-----BEGIN ", end)


_CERT_LABELS = {b"CERTIFICATE", b"X509 CERTIFICATE", b"TRUSTED CERTIFICATE"}
_CRL_LABEL = b"X509 CRL"
_PKCS7_LABELS = {b"PKCS7", b"PKCS #7 SIGNED DATA", b"CMS"}
_KEY_LABELS = {
    b"PRIVATE KEY": "pkcs8",
    b"RSA PRIVATE KEY": "pkcs1",
    b"EC PRIVATE KEY": "sec1",
    b"DSA PRIVATE KEY": "dsa",
    b"ENCRYPTED PRIVATE KEY": "pkcs8-encrypted",
}
_RELEVANT_LABELS = _CERT_LABELS | _PKCS7_LABELS | set(_KEY_LABELS)
_KNOWN_LABELS = _RELEVANT_LABELS | {_CRL_LABEL, b"CERTIFICATE REQUEST", b"PUBLIC KEY"}

# A per-process memo: the same certificate is often stored in several files (the trust bundle
# and its one-file-per-certificate copies), and its facts only depend on its bytes.
_FACTS_MEMO: dict[bytes, CertFacts] = {}
_MEMO_LIMIT = 200_000


def clear_memos() -> None:
    """Forget every memoised certificate, name and key fact (as a new process would)."""
    _FACTS_MEMO.clear()
    _KEY_FACTS.clear()
    _der.clear_memos()


def cert_facts(der: bytes, cert: x509.Certificate | None = None) -> CertFacts:
    """Facts of one DER certificate; raises ValueError when cryptography rejects it."""
    digest = hashlib.sha256(der).digest()
    memo = _FACTS_MEMO.get(digest)
    if memo is not None:
        return memo
    if cert is None:
        cert = _load_der(der)
    return _new_facts(der, digest, cert)


def _new_facts(der: bytes, digest: bytes, cert: x509.Certificate) -> CertFacts:
    (
        serial,
        _,
        signature_algorithm,
        signature_hash,
        issuer_der,
        subject_der,
        not_before,
        not_after,
        spki_der,
        key_type,
        key_bits,
        curve,
        names,
        is_ca,
        path_length,
        key_usage,
        extended_key_usage,
        subject_key_id,
        authority_key_id,
    ) = _der.read_fields(der, cert)
    subject, cn = _der.format_name(subject_der)
    self_issued = issuer_der == subject_der
    issuer = subject if self_issued else _der.format_name(issuer_der)[0]
    self_signed = False
    if self_issued:
        try:
            self_signed = signed_by(cert, cert.public_key())
        except Exception:  # a key type cryptography cannot use (GOST …): cannot tell
            self_signed = False
    key = (key_type, key_bits, curve)
    key_facts = _KEY_FACTS.get(key)
    if key_facts is None:
        key_facts = _KEY_FACTS[key] = KeyFacts(*key)
    # Positional: this runs once per certificate and keywords cost twice as much.
    facts = CertFacts(
        digest.hex(),
        hashlib.sha1(der, usedforsecurity=False).hexdigest(),
        der,
        subject,
        issuer,
        cn,
        serial,
        not_before,
        not_after,
        names,
        key_facts,
        hashlib.sha256(spki_der).hexdigest(),
        signature_algorithm,
        signature_hash,
        is_ca,
        path_length,
        self_issued,
        self_signed,
        key_usage,
        extended_key_usage,
        subject_key_id,
        authority_key_id,
        subject_der,
        issuer_der,
        _role(is_ca, self_issued, extended_key_usage, names, key_usage),
    )
    if len(_FACTS_MEMO) >= _MEMO_LIMIT:
        _FACTS_MEMO.clear()
    _FACTS_MEMO[digest] = facts
    return facts


_KEY_FACTS: dict[tuple[str, int, str | None], KeyFacts] = {}
"""One :class:`KeyFacts` per distinct key kind, shared by the certificates that have it."""


def signed_by(cert: x509.Certificate, issuer_key: PublicKeyTypes) -> bool:
    """Whether ``issuer_key`` made the certificate's signature.

    Unlike ``verify_directly_issued_by`` this accepts the MD5 and SHA-1 signatures old roots
    and intermediates still carry: judging them is the ``weak_signature`` finding's job.
    """
    sig = cert.signature
    tbs = cert.tbs_certificate_bytes
    try:
        params = cert.signature_algorithm_parameters
        digest = cert.signature_hash_algorithm
        if isinstance(issuer_key, rsa.RSAPublicKey):
            if not isinstance(params, padding.PSS | padding.PKCS1v15) or digest is None:
                return False
            issuer_key.verify(sig, tbs, params, digest)
        elif isinstance(issuer_key, ec.EllipticCurvePublicKey):
            if not isinstance(params, ec.ECDSA):
                return False
            issuer_key.verify(sig, tbs, params)
        elif isinstance(issuer_key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
            issuer_key.verify(sig, tbs)
        elif isinstance(issuer_key, dsa.DSAPublicKey):
            if digest is None:
                return False
            issuer_key.verify(sig, tbs, digest)
        else:
            return False
    except Exception:  # InvalidSignature, UnsupportedAlgorithm, malformed parameters
        return False
    return True


def _role(
    is_ca: bool,
    self_issued: bool,
    extended_key_usage: tuple[str, ...],
    names: tuple[str, ...],
    key_usage: tuple[str, ...],
) -> str:
    if is_ca:
        return "root CA" if self_issued else "intermediate CA"
    eku = set(extended_key_usage)
    if "serverAuth" in eku:
        return "TLS server"
    if "clientAuth" in eku:
        return "TLS client"
    if "codeSigning" in eku:
        return "code signing"
    if "emailProtection" in eku:
        return "S/MIME"
    if "OCSPSigning" in eku:
        return "OCSP responder"
    if "timeStamping" in eku:
        return "time stamping"
    if not eku and any(n.startswith(("DNS:", "IP:")) for n in names):
        return "TLS server"
    if "keyCertSign" in key_usage:
        return "CA (no basic constraints)"
    return "end entity"


_QUIET = False
"""Set in worker processes, whose warning filters ignore cryptography's deprecations once
for all (``catch_warnings`` per certificate costs more than parsing it)."""


def quiet_warnings() -> None:
    """Ignore cryptography's deprecation warnings in this process (for worker processes)."""
    global _QUIET
    warnings.simplefilter("ignore", CryptographyDeprecationWarning)
    _QUIET = True


def _load_der(der: bytes) -> x509.Certificate:
    # Negative serial numbers and similar RFC 5280 violations still load, with a deprecation
    # warning; the inventory keeps them.
    if _QUIET:
        return x509.load_der_x509_certificate(der)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        return x509.load_der_x509_certificate(der)


def _load_cert(der: bytes) -> tuple[CertFacts | None, str | None]:
    digest = hashlib.sha256(der).digest()
    memo = _FACTS_MEMO.get(digest)
    if memo is not None:  # the same bytes were accepted before
        return memo, None
    try:
        cert = x509.load_der_x509_certificate(der) if _QUIET else _load_der(der)
        return _new_facts(der, digest, cert), None
    except Exception as exc:  # ValueError, InvalidVersion, DerError: all mean "not valid"
        return None, error_reason(exc)


_ASN1_KINDS = {
    "ShortData": "the data ends too early",
    "ExtraData": "unexpected data after the end",
    "InvalidValue": "an invalid value",
    "UnexpectedTag": "an unexpected field",
    "EncodedDefault": "a default value is encoded, which DER forbids",
    "InvalidLength": "an invalid length",
    "InvalidTag": "an invalid tag",
    "IntegerOverflow": "a number too large",
    "InvalidSetOrdering": "a set out of order, which DER forbids",
}
_PARSE_ERROR = re.compile(r"ParseError \{ kind: (\w+).*?(?:location: \[([^\]]*)\])?")


def error_reason(exc: BaseException) -> str:
    """cryptography's error text, with its ASN.1 parse errors put into words."""
    text = (str(exc) or type(exc).__name__).replace("\n", " ")
    m = _PARSE_ERROR.search(text)
    if m is None:
        return text
    kind = _ASN1_KINDS.get(m.group(1), m.group(1))
    where = ""
    if m.group(2):
        fields = re.findall(r'"([^"]+)"', m.group(2))
        if fields:
            where = f" in {fields[-1]}"
    return f"malformed DER: {kind}{where}"


def _line_of(data: bytes, pos: int) -> int:
    return data.count(b"\n", 0, pos) + 1


def _key_from_der(der: bytes, fmt: str) -> FoundKey:
    key = serialization.load_der_private_key(der, None, unsafe_skip_rsa_key_validation=True)
    spki = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    kind, bits, curve = _der.read_spki(spki)
    return FoundKey(fmt, False, hashlib.sha256(spki).hexdigest(), KeyFacts(kind, bits, curve))


_BEGIN_CERT = b"-----BEGIN CERTIFICATE-----"
_END_CERT = b"-----END CERTIFICATE-----"


def _parse_pem(data: bytes) -> ParsedFile:
    if data.startswith(_BEGIN_CERT) and data.count(b"-----BEGIN ") == 1:
        # The most common file by far, one certificate alone: what the loop below would do.
        end = data.find(_END_CERT, len(_BEGIN_CERT))
        body = data[len(_BEGIN_CERT) : end]
        if end > 0 and b":" not in body:
            try:
                der = binascii.a2b_base64(body)
            except binascii.Error:
                pass  # the loop below words the problem
            else:
                facts, error = _load_cert(der)
                if facts is None:
                    problem = (
                        f"{_where(data, 0, b'CERTIFICATE')}: not a valid certificate ({error})"
                    )
                    return ParsedFile(problems=(problem,))
                return ParsedFile((FoundCert(facts, 0, "pem"),))
    certs: list[FoundCert] = []
    keys: list[FoundKey] = []
    problems: list[str] = []
    crl = False
    for start, label, block in _pem_blocks(data):
        if label not in _RELEVANT_LABELS:
            if label == _CRL_LABEL and block is not None:
                crl = True
            continue
        if block is None:
            problems.append(
                f"{_where(data, start, label)} has no matching END line (truncated file?)"
            )
            continue
        body = block
        if b":" in body:  # RFC 1421 headers (Proc-Type, DEK-Info) before the base64
            body = b"\n".join(line for line in body.splitlines() if b":" not in line)
        try:
            der = binascii.a2b_base64(body)
        except binascii.Error as exc:
            problems.append(f"{_where(data, start, label)}: invalid base64 ({exc})")
            continue
        if label in _CERT_LABELS:
            if label == b"TRUSTED CERTIFICATE":
                # OpenSSL's trusted format: the certificate followed by its trust settings.
                with contextlib.suppress(_der.DerError):
                    der = der[: _der._tlv(der, 0)[2]]
            facts, error = _load_cert(der)
            if facts is None:
                problems.append(f"{_where(data, start, label)}: not a valid certificate ({error})")
            else:
                certs.append(FoundCert(facts, len(certs), "pem"))
        elif label in _PKCS7_LABELS:
            try:
                found = _pkcs7(der)
            except Exception as exc:  # ValueError; UnsupportedAlgorithm for enveloped data
                problems.append(
                    f"{_where(data, start, label)}: not a valid PKCS#7 bundle ({error_reason(exc)})"
                )
                continue
            certs.extend(FoundCert(f, len(certs) + i, "pkcs7") for i, f in enumerate(found))
        else:
            fmt = _KEY_LABELS[label]
            encrypted_header = b"Proc-Type:" in block and b"ENCRYPTED" in block
            if fmt == "pkcs8-encrypted" or encrypted_header:
                keys.append(
                    FoundKey(fmt if fmt.endswith("encrypted") else f"{fmt}-encrypted", True, None)
                )
                continue
            try:
                keys.append(_key_from_der(der, fmt))
            except (ValueError, TypeError, binascii.Error) as exc:
                problems.append(
                    f"{_where(data, start, label)}: not a valid private key ({error_reason(exc)})"
                )
            except Exception as exc:  # cryptography's UnsupportedAlgorithm
                problems.append(
                    f"{_where(data, start, label)}: unsupported private key ({error_reason(exc)})"
                )
    return ParsedFile(tuple(certs), tuple(keys), False, tuple(problems), crl)


def _where(data: bytes, start: int, label: bytes) -> str:
    return f"{label.decode()} block at line {_line_of(data, start)}"


def _pkcs7(der: bytes) -> list[CertFacts]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = pkcs7.load_der_pkcs7_certificates(der)
    from cryptography.hazmat.primitives.serialization import Encoding

    return [cert_facts(c.public_bytes(Encoding.DER), c) for c in loaded]


_OID_DATA = bytes.fromhex("06092a864886f70d010701")  # 1.2.840.113549.1.7.1 pkcs7-data
_OID_SIGNED = bytes.fromhex("06092a864886f70d010702")  # 1.2.840.113549.1.7.2 signedData


def _looks_like_pkcs12(data: bytes) -> bool:
    """PFX ::= SEQUENCE { version INTEGER (3), authSafe ContentInfo (data), macData? }."""
    try:
        start = _content_start(data)
        if start < 0:
            return False
        version = _der._tlv(data, start)
        if version[0] != 0x02 or data[version[1] : version[2]] != b"\x03":
            return False
        tag, c_start, _ = _der._tlv(data, version[2])
        return tag == 0x30 and data[c_start : c_start + len(_OID_DATA)] == _OID_DATA
    except _der.DerError:
        return False


def _content_start(data: bytes) -> int:
    """Where the outer SEQUENCE's content starts (BER indefinite length allowed: PKCS#7)."""
    if len(data) < 2 or data[0] != 0x30:
        return -1
    if data[1] == 0x80:
        return 2
    try:
        return _der._tlv(data, 0)[1]
    except _der.DerError:
        return -1


def _looks_like_pkcs7(data: bytes) -> bool:
    start = _content_start(data)
    return start >= 0 and data[start : start + len(_OID_SIGNED)] == _OID_SIGNED


def _parse_der(data: bytes, suffix_hint: bool) -> ParsedFile:
    if _looks_like_pkcs7(data):
        try:
            found = _pkcs7(data)
        except Exception as exc:  # ValueError; UnsupportedAlgorithm
            return ParsedFile(problems=(f"not a valid PKCS#7 bundle ({error_reason(exc)})",))
        return ParsedFile(certs=tuple(FoundCert(f, i, "pkcs7") for i, f in enumerate(found)))
    if _looks_like_pkcs12(data):
        return ParsedFile(pkcs12=True)
    try:
        outer_end = _der._tlv(data, 0)[2]
    except _der.DerError:
        outer_end = -1
    # Some tools pad DER files with a newline; anything else after the object is not DER.
    if outer_end < 0 or data[outer_end:].strip(b"\r\n\0 "):
        reason = _garbage_reason(data) if suffix_hint else None
        return ParsedFile(problems=(reason,)) if reason else ParsedFile()
    data = data[:outer_end]
    facts, error = _load_cert(data)
    if facts is not None:
        return ParsedFile(certs=(FoundCert(facts, 0, "der"),))
    if _looks_like_crl(data):
        return ParsedFile(crl=True)
    if _looks_like_certificate(data):
        return ParsedFile(problems=(f"not a valid certificate ({error})",))
    try:
        return ParsedFile(keys=(_key_from_der(data, "der"),))
    except TypeError:  # "Password was not given but private key is encrypted"
        return ParsedFile(keys=(FoundKey("der-encrypted", True, None),))
    except Exception:
        pass
    return ParsedFile()


def _looks_like_certificate(data: bytes) -> bool:
    """Certificate ::= SEQUENCE { tbs SEQUENCE { [0] version?, serial INTEGER, alg SEQUENCE,
    issuer SEQUENCE, validity SEQUENCE { time, time } … }, … }: other DER objects (requests,
    revocation lists, OCSP messages) have a different shape and are not reported."""
    try:
        _, start, _ = _der._tlv(data, 0)
        _, t_start, t_end = _der._tlv(data, start)
        fields = _der._children(data, t_start, t_end)
        i = 1 if fields and fields[0][0] == 0xA0 else 0
        tags = [f[0] for f in fields[i : i + 5]]
        if tags[:4] != [0x02, 0x30, 0x30, 0x30]:
            return False
        validity = _der._children(data, fields[i + 3][1], fields[i + 3][2])
        return [v[0] in (0x17, 0x18) for v in validity] == [True, True]
    except (_der.DerError, IndexError):
        return False


def _looks_like_crl(data: bytes) -> bool:
    """CertificateList ::= SEQUENCE { tbsCertList SEQUENCE { version INTEGER OPTIONAL,
    signature AlgorithmIdentifier, issuer Name, thisUpdate Time, … }, signatureAlgorithm
    SEQUENCE, signature BIT STRING }.

    Only the shape is checked: a certificate has a SEQUENCE (its validity) where a revocation
    list has its thisUpdate time, and a request has no time at all.
    """
    try:
        _, start, end = _der._tlv(data, 0)
        outer = _der._children(data, start, end)
        if [tag for tag, _, _ in outer] != [0x30, 0x30, 0x03]:
            return False
        fields = _der._children(data, outer[0][1], outer[0][2])
        i = 1 if fields and fields[0][0] == 0x02 else 0
        tags = [tag for tag, _, _ in fields[i : i + 3]]
        return tags == [0x30, 0x30, 0x17] or tags == [0x30, 0x30, 0x18]
    except _der.DerError:
        return False


def _garbage_reason(data: bytes) -> str | None:
    """Why a file with a certificate-like name holds nothing usable (None: plain text)."""
    if not data.strip():
        return "empty file"
    if _is_text(data[:4096]):
        return None  # notes and placeholders (postgresql-common's dummy root.crt)
    return "neither PEM text nor a DER certificate, PKCS#7, PKCS#12 or key"


def _is_text(head: bytes) -> bool:
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(c.isprintable() or c in "\t\r\n\f" for c in text)


def parse_bytes(data: bytes, *, name: str = "") -> ParsedFile:
    """Recognise the certificates and keys in one file's bytes.

    Args:
        data: the file's content.
        name: the file's name; only used to decide whether unrecognisable content is worth
            reporting (a ``.crt`` full of garbage is, a ``.conf`` is not).
    """
    if b"-----BEGIN " in data:
        return _parse_pem(data)
    suffix_hint = name.lower().endswith(CERT_LIKE_SUFFIXES)
    if data[:1] == b"\x30":
        return _parse_der(data, suffix_hint)
    reason = _garbage_reason(data) if suffix_hint else None
    return ParsedFile(problems=(reason,)) if reason else ParsedFile()


def open_pkcs12(data: bytes, password: bytes | None) -> ParsedFile:
    """Open a PKCS#12 container with its password.

    Raises:
        ValueError: the password is wrong or the data is not PKCS#12.
    """
    bundle = pkcs12.load_pkcs12(data, password)
    certs: list[FoundCert] = []
    keys: list[FoundKey] = []
    members = ([bundle.cert] if bundle.cert else []) + list(bundle.additional_certs)
    for member in members:
        der = member.certificate.public_bytes(serialization.Encoding.DER)
        certs.append(FoundCert(cert_facts(der, member.certificate), len(certs), "pkcs12"))
    if bundle.key is not None:
        spki = bundle.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        kind, bits, curve = _der.read_spki(spki)
        keys.append(
            FoundKey("pkcs12", False, hashlib.sha256(spki).hexdigest(), KeyFacts(kind, bits, curve))
        )
    return ParsedFile(tuple(certs), tuple(keys), True, ())
