"""A small DER reader for the few certificate fields the inventory needs.

``cryptography`` parses and validates every certificate first; this module then reads the
fields the inventory keeps straight from the DER bytes.  Going through cryptography's object
API for every field costs six to eight times the parse itself (building ``Name`` and extension
objects); reading a handful of TLVs here costs a fraction of that.  The tests compare every
field with cryptography's own answers on real-world certificates.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple, TypeAlias

if TYPE_CHECKING:
    from cryptography.x509 import Certificate

__all__ = [
    "CertFields",
    "DerError",
    "clear_memos",
    "format_name",
    "read_certificate",
    "read_fields",
    "read_spki",
]


class DerError(ValueError):
    """The DER encoding is not what a certificate should be."""


def _tlv(buf: bytes, pos: int) -> tuple[int, int, int]:
    """Return (tag, start of value, end of value) of the TLV at ``pos``."""
    try:
        tag = buf[pos]
        if tag & 0x1F == 0x1F:  # high tag number: continuation bytes until bit 8 is clear
            while buf[pos + 1] & 0x80:
                pos += 1
            pos += 1
        first = buf[pos + 1]
    except IndexError:
        raise DerError("truncated") from None
    if first < 0x80:
        start = pos + 2
        end = start + first
    else:
        n = first & 0x7F
        if n == 0 or n > 4:
            raise DerError("unsupported length")
        start = pos + 2 + n
        end = start + int.from_bytes(buf[pos + 2 : start], "big")
    if end > len(buf):
        raise DerError("truncated")
    return tag, start, end


def _children(buf: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    # _tlv inlined: this loop runs for every TLV of every certificate.
    out = []
    pos = start
    size = len(buf)
    while pos < end:
        if pos + 1 >= size:
            raise DerError("truncated")
        tag = buf[pos]
        if tag & 0x1F == 0x1F:  # high tag number (rare): let _tlv handle it
            tag, v_start, pos = _tlv(buf, pos)
            if pos > end:
                raise DerError("truncated")
            out.append((tag, v_start, pos))
            continue
        first = buf[pos + 1]
        if first < 0x80:
            v_start = pos + 2
            pos = v_start + first
        else:
            n = first & 0x7F
            if n == 0 or n > 4:
                raise DerError("unsupported length")
            v_start = pos + 2 + n
            pos = v_start + int.from_bytes(buf[pos + 2 : v_start], "big")
        if pos > end:
            raise DerError("truncated")
        out.append((tag, v_start, pos))
    return out


# Memos keyed by raw DER: certificates from one issuer or one template repeat most of their
# bytes (issuer, name parts, algorithms, the usual extensions), so each distinct piece is
# decoded once per process.
_OID_MEMO: dict[bytes, str] = {}
_NAME_MEMO: dict[bytes, tuple[str, str]] = {}
_RDN_MEMO: dict[bytes, tuple[str, str]] = {}
_ALG_MEMO: dict[bytes, tuple[str, str, str | None]] = {}
_EXT_MEMO: dict[bytes, Any] = {}
_MEMO_LIMIT = 50_000


def clear_memos() -> None:
    """Forget the memoised OIDs, names, algorithms, extensions and key algorithms."""
    _OID_MEMO.clear()
    _NAME_MEMO.clear()
    _RDN_MEMO.clear()
    _ALG_MEMO.clear()
    _EXT_MEMO.clear()
    _SPKI_MEMO.clear()


def _oid(raw: bytes) -> str:
    memo = _OID_MEMO.get(raw)
    if memo is not None:
        return memo
    text = _decode_oid(raw)
    if len(_OID_MEMO) < _MEMO_LIMIT:
        _OID_MEMO[raw] = text
    return text


def _decode_oid(raw: bytes) -> str:
    if not raw:
        return ""
    first = raw[0]
    parts = [str(min(first // 40, 2)), str(first - 40 * min(first // 40, 2))]
    value = 0
    for b in raw[1:]:
        value = (value << 7) | (b & 0x7F)
        if not b & 0x80:
            parts.append(str(value))
            value = 0
    return ".".join(parts)


# Short names as in RFC 4514 and cryptography's ``rfc4514_string`` plus the few OpenSSL
# names sysadmins read every day (emailAddress, serialNumber …).
NAME_OIDS: dict[str, str] = {
    "2.5.4.3": "CN",
    "2.5.4.7": "L",
    "2.5.4.8": "ST",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
    "2.5.4.6": "C",
    "2.5.4.9": "STREET",
    "0.9.2342.19200300.100.1.25": "DC",
    "0.9.2342.19200300.100.1.1": "UID",
    "1.2.840.113549.1.9.1": "emailAddress",
    "2.5.4.5": "serialNumber",
    "2.5.4.4": "SN",
    "2.5.4.42": "GN",
    "2.5.4.12": "title",
    "2.5.4.97": "organizationIdentifier",
}

_STRING_DECODERS = {
    0x0C: "utf-8",
    0x13: "ascii",
    0x16: "ascii",
    0x12: "ascii",
    0x1A: "ascii",
    0x14: "latin-1",  # TeletexString: treated as Latin-1, as cryptography and OpenSSL do
    0x1E: "utf-16-be",
    0x1C: "utf-32-be",
}


_SPECIAL = re.compile(r'[\\"+,;<>\0]|^[# ]| $')


def _escape(val: str) -> str:
    # RFC 4514 section 2.4, with the same choices as cryptography's _escape_dn_value.
    if not val or not _SPECIAL.search(val):
        return val
    val = (
        val.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("+", "\\+")
        .replace(",", "\\,")
        .replace(";", "\\;")
        .replace("<", "\\<")
        .replace(">", "\\>")
        .replace("\0", "\\00")
    )
    if val[0] in ("#", " "):
        val = "\\" + val
    if val[-1] == " ":
        val = val[:-1] + "\\ "
    return val


def _decode_value(buf: bytes, tag: int, start: int, end: int) -> str | None:
    codec = _STRING_DECODERS.get(tag)
    if codec is None:
        return None
    return buf[start:end].decode(codec, errors="replace")


def format_name(raw: bytes) -> tuple[str, str]:
    """Return (RFC 4514 string, common name) of a DER-encoded Name."""
    memo = _NAME_MEMO.get(raw)
    if memo is None:
        memo = _format_name(raw)
        if len(_NAME_MEMO) >= _MEMO_LIMIT:
            _NAME_MEMO.clear()
        _NAME_MEMO[raw] = memo
    return memo


def _format_name(raw: bytes) -> tuple[str, str]:
    _, start, end = _tlv(raw, 0)
    rdns = []
    cn = ""
    for set_tag, s_start, s_end in _children(raw, start, end):
        if set_tag != 0x31:
            raise DerError("name is not a sequence of sets")
        key = raw[s_start:s_end]
        memo = _RDN_MEMO.get(key)
        if memo is None:
            memo = _format_rdn(raw, s_start, s_end)
            if len(_RDN_MEMO) >= _MEMO_LIMIT:
                _RDN_MEMO.clear()
            _RDN_MEMO[key] = memo
        rdns.append(memo[0])
        if not cn:
            cn = memo[1]
    rdns.reverse()
    return ",".join(rdns), cn


def _format_rdn(raw: bytes, start: int, end: int) -> tuple[str, str]:
    """(text, first non-empty common name or "") of one RelativeDistinguishedName."""
    # The usual RDN, one short attribute: SEQUENCE { OID, string } filling the SET.
    if end - start < 0x80 and raw[start] == 0x30 and start + 2 + raw[start + 1] == end:
        o = start + 2
        if raw[o] == 0x06 and raw[o + 1] < 0x80:
            v = o + 2 + raw[o + 1]
            if (
                v + 2 <= end
                and raw[v] & 0x1F != 0x1F  # not a multi-byte tag
                and raw[v + 1] < 0x80
                and v + 2 + raw[v + 1] == end
            ):
                oid = _oid(raw[o + 2 : v])
                value = _decode_value(raw, raw[v], v + 2, end)
                label = NAME_OIDS.get(oid, oid)
                if value is None:
                    return f"{label}=#{raw[v + 2 : end].hex()}", ""
                return f"{label}={_escape(value)}", value if oid == "2.5.4.3" else ""
    parts = []
    cn = ""
    for _, a_start, a_end in _children(raw, start, end):
        (_, o_start, o_end), (v_tag, v_start, v_end) = _children(raw, a_start, a_end)[:2]
        oid = _oid(raw[o_start:o_end])
        value = _decode_value(raw, v_tag, v_start, v_end)
        label = NAME_OIDS.get(oid, oid)
        if value is None:
            parts.append(f"{label}=#{raw[v_start:v_end].hex()}")
        else:
            parts.append(f"{label}={_escape(value)}")
            if oid == "2.5.4.3" and not cn:
                cn = value
    return "+".join(parts), cn


SIGNATURE_OIDS: dict[str, tuple[str, str | None]] = {
    "1.2.840.113549.1.1.4": ("md5WithRSAEncryption", "md5"),
    "1.2.840.113549.1.1.5": ("sha1WithRSAEncryption", "sha1"),
    "1.2.840.113549.1.1.14": ("sha224WithRSAEncryption", "sha224"),
    "1.2.840.113549.1.1.11": ("sha256WithRSAEncryption", "sha256"),
    "1.2.840.113549.1.1.12": ("sha384WithRSAEncryption", "sha384"),
    "1.2.840.113549.1.1.13": ("sha512WithRSAEncryption", "sha512"),
    "1.2.840.113549.1.1.10": ("RSASSA-PSS", None),
    "1.2.840.113549.1.1.2": ("md2WithRSAEncryption", "md2"),
    "1.3.14.3.2.29": ("sha1WithRSA", "sha1"),
    "1.2.840.10045.4.1": ("ecdsa-with-SHA1", "sha1"),
    "1.2.840.10045.4.3.1": ("ecdsa-with-SHA224", "sha224"),
    "1.2.840.10045.4.3.2": ("ecdsa-with-SHA256", "sha256"),
    "1.2.840.10045.4.3.3": ("ecdsa-with-SHA384", "sha384"),
    "1.2.840.10045.4.3.4": ("ecdsa-with-SHA512", "sha512"),
    "1.2.840.10040.4.3": ("dsa-with-sha1", "sha1"),
    "2.16.840.1.101.3.4.3.1": ("dsa-with-sha224", "sha224"),
    "2.16.840.1.101.3.4.3.2": ("dsa-with-sha256", "sha256"),
    "1.3.101.112": ("ed25519", None),
    "1.3.101.113": ("ed448", None),
}

_PSS_HASHES = {
    "1.3.14.3.2.26": "sha1",
    "2.16.840.1.101.3.4.2.1": "sha256",
    "2.16.840.1.101.3.4.2.2": "sha384",
    "2.16.840.1.101.3.4.2.3": "sha512",
    "2.16.840.1.101.3.4.2.4": "sha224",
}

_CURVES = {
    "1.2.840.10045.3.1.7": ("secp256r1", 256),
    "1.3.132.0.34": ("secp384r1", 384),
    "1.3.132.0.35": ("secp521r1", 521),
    "1.3.132.0.33": ("secp224r1", 224),
    "1.2.840.10045.3.1.1": ("secp192r1", 192),
    "1.3.132.0.10": ("secp256k1", 256),
    "1.3.36.3.3.2.8.1.1.7": ("brainpoolP256r1", 256),
    "1.3.36.3.3.2.8.1.1.11": ("brainpoolP384r1", 384),
    "1.3.36.3.3.2.8.1.1.13": ("brainpoolP512r1", 512),
}

_KEY_USAGE_BITS = (
    "digitalSignature",
    "nonRepudiation",
    "keyEncipherment",
    "dataEncipherment",
    "keyAgreement",
    "keyCertSign",
    "cRLSign",
    "encipherOnly",
    "decipherOnly",
)

EKU_NAMES: dict[str, str] = {
    "1.3.6.1.5.5.7.3.1": "serverAuth",
    "1.3.6.1.5.5.7.3.2": "clientAuth",
    "1.3.6.1.5.5.7.3.3": "codeSigning",
    "1.3.6.1.5.5.7.3.4": "emailProtection",
    "1.3.6.1.5.5.7.3.8": "timeStamping",
    "1.3.6.1.5.5.7.3.9": "OCSPSigning",
    "2.5.29.37.0": "anyExtendedKeyUsage",
    "1.3.6.1.4.1.311.20.2.2": "smartcardLogon",
    "1.3.6.1.5.2.3.5": "kerberosPKINITKDC",
    "1.3.6.1.5.5.7.3.17": "ipsecIKE",
}


class CertFields(NamedTuple):
    """The raw fields of a certificate's TBSCertificate."""

    serial: str
    signature_oid: str
    signature_algorithm: str
    signature_hash: str | None
    issuer_der: bytes
    subject_der: bytes
    not_before: datetime
    not_after: datetime
    spki_der: bytes
    key_type: str
    key_bits: int
    curve: str | None
    names: tuple[str, ...]
    is_ca: bool
    path_length: int | None
    key_usage: tuple[str, ...]
    extended_key_usage: tuple[str, ...]
    subject_key_id: str | None
    authority_key_id: str | None


def _time(buf: bytes, tag: int, start: int, end: int) -> datetime:
    text = buf[start:end].decode("ascii")
    if not text.endswith("Z"):
        raise DerError("time without Z")
    text = text[:-1].split(".")[0]
    if tag == 0x17:
        year = int(text[:2])
        text = ("19" if year >= 50 else "20") + text
    if len(text) == 12:  # no seconds (tolerated by many parsers)
        text += "00"
    return datetime(
        int(text[:4]),
        int(text[4:6]),
        int(text[6:8]),
        int(text[8:10]),
        int(text[10:12]),
        int(text[12:14]),
        tzinfo=UTC,
    )


_SPKI_MEMO: dict[bytes, tuple[str, int, str | None]] = {}


def read_spki(buf: bytes) -> tuple[str, int, str | None]:
    """Return (type, bits, curve) of a DER SubjectPublicKeyInfo."""
    # Everything but RSA's and DSA's size follows from the AlgorithmIdentifier, which
    # repeats from certificate to certificate: memoise on its bytes.
    alg = b""
    if len(buf) > 4:
        pos = 2 if buf[1] < 0x80 else 2 + (buf[1] & 0x7F)
        if pos + 1 < len(buf) and buf[pos + 1] < 0x80:
            alg = buf[pos : pos + 2 + buf[pos + 1]]
            memo = _SPKI_MEMO.get(alg)
            if memo is not None:
                return memo
    result = _read_spki(buf)
    if alg and result[0] not in ("RSA", "DSA") and len(_SPKI_MEMO) < 1000:
        _SPKI_MEMO[alg] = result
    return result


def _read_spki(buf: bytes) -> tuple[str, int, str | None]:
    _, start, end = _tlv(buf, 0)
    (_, a_start, a_end), (_, k_start, k_end) = _children(buf, start, end)[:2]
    alg = _children(buf, a_start, a_end)
    oid = _oid(buf[alg[0][1] : alg[0][2]])
    key = buf[k_start + 1 : k_end]  # skip the BIT STRING's unused-bits octet
    if oid == "1.2.840.113549.1.1.1" or oid == "1.2.840.113549.1.1.10":
        _, s_start, _ = _tlv(key, 0)
        _, m_start, m_end = _tlv(key, s_start)
        modulus = key[m_start:m_end].lstrip(b"\0")
        return "RSA", int.from_bytes(modulus, "big").bit_length(), None
    if oid == "1.2.840.10045.2.1":
        curve_oid = _oid(buf[alg[1][1] : alg[1][2]]) if len(alg) > 1 and alg[1][0] == 6 else ""
        name, bits = _CURVES.get(curve_oid, (curve_oid or "explicit", (len(key) - 1) * 4))
        return "EC", bits, name
    if oid == "1.3.101.112":
        return "Ed25519", 256, None
    if oid == "1.3.101.113":
        return "Ed448", 456, None
    if oid == "1.2.840.10040.4.1":
        bits = 0
        if len(alg) > 1:
            _, p_start, _ = alg[1]
            _, pp_start, pp_end = _tlv(buf, p_start)
            bits = int.from_bytes(buf[pp_start:pp_end], "big").bit_length()
        return "DSA", bits, None
    return oid, len(key) * 8, None


def _general_names(buf: bytes, start: int, end: int) -> list[str]:
    out = []
    for tag, v_start, v_end in _children(buf, start, end):
        value = buf[v_start:v_end]
        kind = tag & 0x1F
        if kind == 2:
            out.append("DNS:" + value.decode("utf-8", "replace"))
        elif kind == 7:
            if len(value) in (4, 16):
                out.append(f"IP:{ipaddress.ip_address(value)}")
            else:
                out.append("IP:#" + value.hex())
        elif kind == 1:
            out.append("email:" + value.decode("ascii", errors="replace"))
        elif kind == 6:
            out.append("URI:" + value.decode("ascii", errors="replace"))
        elif kind == 4:
            out.append("DirName:" + format_name(value)[0])
        elif kind == 8:
            out.append("RID:" + _oid(value))
        elif kind == 0:
            oid = _oid(value[2 : 2 + value[1]]) if len(value) > 2 else ""
            out.append("othername:" + oid)
        else:
            out.append(f"[{kind}]:" + value.hex())
    return out


def read_certificate(der: bytes, cert: Certificate | None = None) -> CertFields:
    """Read the inventory's fields from a certificate already accepted by cryptography.

    cryptography checks the structure on loading (every TLV, the extensions' OID, critical
    flag and OCTET STRING), so only the extensions' contents can still be malformed here.
    With ``cert`` (the same certificate loaded by cryptography) the validity dates come
    from it: cryptography decodes them in Rust, faster than Python here.
    """
    return CertFields._make(read_fields(der, cert))


_Fields: TypeAlias = tuple[
    str,
    str,
    str,
    str | None,
    bytes,
    bytes,
    datetime,
    datetime,
    bytes,
    str,
    int,
    str | None,
    tuple[str, ...],
    bool,
    int | None,
    tuple[str, ...],
    tuple[str, ...],
    str | None,
    str | None,
]


def read_fields(der: bytes, cert: Certificate | None = None) -> _Fields:
    """:func:`read_certificate` as a plain tuple, in :class:`CertFields` order (faster to
    make and to unpack, for the scan's hot path)."""
    # Certificate and TBSCertificate headers: almost always a two-byte length (82 xx xx).
    if der[1] == 0x82 and der[5] == 0x82:
        t_start = 8
        t_end = 8 + (der[6] << 8 | der[7])
    else:
        _, c_start, _ = _tlv(der, 0)
        _, t_start, t_end = _tlv(der, c_start)
    fields = _children(der, t_start, t_end)
    i = 1 if fields[0][0] == 0xA0 else 0
    _, s_start, s_end = fields[i]
    if s_end > s_start and der[s_start] < 0x80:
        serial = der[s_start:s_end].lstrip(b"\0").hex() or "00"
    else:  # negative (RFC 5280 forbids it, some certificates have one) or empty
        serial = format(int.from_bytes(der[s_start:s_end], "big", signed=True), "x")
        if len(serial) % 2:
            serial = "0" + serial
    # The signature algorithm outside the TBSCertificate is the one that signed it; its
    # encoding is short (below 128 bytes) unless it carries RSASSA-PSS parameters.
    length = der[t_end + 1]
    a_end = t_end + 2 + length if length < 0x80 else _tlv(der, t_end)[2]
    alg_raw = der[t_end:a_end]
    sig = _ALG_MEMO.get(alg_raw)
    if sig is None:
        _tlv(der, t_end)  # the same errors as before for a truncated encoding
        sig = _signature_algorithm(alg_raw)
        if len(_ALG_MEMO) < 1000:
            _ALG_MEMO[alg_raw] = sig
    issuer_end = fields[i + 2][2]
    validity_end = fields[i + 3][2]
    subject_end = fields[i + 4][2]
    if cert is not None:
        not_before = cert.not_valid_before_utc
        not_after = cert.not_valid_after_utc
    else:
        validity = _children(der, fields[i + 3][1], validity_end)
        not_before = _time(der, *validity[0])
        not_after = _time(der, *validity[1])
    spki_der = der[subject_end : fields[i + 5][2]]
    key_type, key_bits, curve = read_spki(spki_der)

    names: tuple[str, ...] = ()
    is_ca = False
    path_length: int | None = None
    key_usage: tuple[str, ...] = ()
    eku: tuple[str, ...] = ()
    ski: str | None = None
    aki: str | None = None
    for tag, e_start, _ in fields[i + 6 :]:
        if tag != 0xA3:
            continue
        _, l_start, l_end = _tlv(der, e_start)
        for _, x_start, x_end in _children(der, l_start, l_end):
            # Extension ::= SEQUENCE { OID, critical BOOLEAN DEFAULT FALSE, OCTET STRING }.
            # The inventory reads only id-ce extensions (2.5.29.x, OID bytes 55 1d x).
            if der[x_start + 1] != 3 or der[x_start + 2 : x_start + 4] != b"\x55\x1d":
                continue
            kind = der[x_start + 4]
            if kind not in _CE_KINDS:
                continue
            v_pos = x_start + 5
            if der[v_pos] == 0x01:  # critical: BOOLEAN TRUE, always three bytes in DER
                v_pos += 3
            if kind == _CE_SAN:
                # OCTET STRING { GeneralNames SEQUENCE }, both with short lengths mostly.
                if der[v_pos + 1] < 0x80 and der[v_pos + 2] == 0x30 and der[v_pos + 3] < 0x80:
                    g_start = v_pos + 4
                    g_end = g_start + der[v_pos + 3]
                else:
                    _, o_start, _ = _tlv(der, v_pos)
                    _, g_start, g_end = _tlv(der, o_start)
                names = tuple(_general_names(der, g_start, g_end))
                continue
            if kind == _CE_SKI:
                _, o_start, _ = _tlv(der, v_pos)
                _, k_start, k_end = _tlv(der, o_start)
                ski = der[k_start:k_end].hex()
                continue
            raw = der[x_start:x_end]
            value = _EXT_MEMO.get(raw)
            if value is None:
                _, o_start, _ = _tlv(der, v_pos)
                value = _shared_extension(kind, der, o_start)
                if len(_EXT_MEMO) >= _MEMO_LIMIT:
                    _EXT_MEMO.clear()
                _EXT_MEMO[raw] = value
            if kind == _CE_BC:
                ca, limit = value
                if ca is not None:
                    is_ca = ca
                if limit is not None:
                    path_length = limit
            elif kind == _CE_KU:
                key_usage = value
            elif kind == _CE_EKU:
                eku = value
            elif value:
                aki = value
    return (
        serial,
        sig[0],
        sig[1],
        sig[2],
        der[fields[i + 1][2] : issuer_end],  # a TLV starts where the last one ended
        der[validity_end:subject_end],
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
        eku,
        ski,
        aki,
    )


def _signature_algorithm(raw: bytes) -> tuple[str, str, str | None]:
    """(OID, name, hash) of a signature AlgorithmIdentifier."""
    _, a_start, a_end = _tlv(raw, 0)
    alg = _children(raw, a_start, a_end)
    sig_oid = _oid(raw[alg[0][1] : alg[0][2]])
    sig_name, sig_hash = SIGNATURE_OIDS.get(sig_oid, (sig_oid, None))
    if sig_oid == "1.2.840.113549.1.1.10" and len(alg) > 1:
        sig_hash = _pss_hash(raw, alg[1][1], alg[1][2])
    return sig_oid, sig_name, sig_hash


# The last byte of the id-ce OIDs the inventory reads (2.5.29.x).
_CE_SKI = 14
_CE_KU = 15
_CE_SAN = 17
_CE_BC = 19
_CE_AKI = 35
_CE_EKU = 37
_CE_KINDS = frozenset((_CE_SKI, _CE_KU, _CE_SAN, _CE_BC, _CE_AKI, _CE_EKU))


def _shared_extension(kind: int, der: bytes, start: int) -> Any:
    """The value of an extension that repeats across certificates (one template, one
    issuer): basic constraints, key usage, extended key usage, authority key identifier.

    ``start`` is where the extension's value (inside its OCTET STRING) starts.
    """
    _, v_start, v_end = _tlv(der, start)
    if kind == _CE_BC:
        ca: bool | None = None
        length: int | None = None
        for b_tag, bv_start, bv_end in _children(der, v_start, v_end):
            if b_tag == 0x01:
                ca = der[bv_start] != 0
            elif b_tag == 0x02:
                length = int.from_bytes(der[bv_start:bv_end], "big")
        return ca, length
    if kind == _CE_KU:
        bits = der[v_start + 1 : v_end]
        number = int.from_bytes(bits, "big") if bits else 0
        width = len(bits) * 8
        return tuple(
            name
            for n, name in enumerate(_KEY_USAGE_BITS)
            if n < width and number >> (width - 1 - n) & 1
        )
    if kind == _CE_EKU:
        return tuple(
            EKU_NAMES.get(o, o)
            for o in (_oid(der[a:b]) for _, a, b in _children(der, v_start, v_end))
        )
    aki = ""
    for k_tag, kv_start, kv_end in _children(der, v_start, v_end):
        if k_tag == 0x80:
            aki = der[kv_start:kv_end].hex()
    return aki


def _pss_hash(buf: bytes, start: int, end: int) -> str | None:
    # RSASSA-PSS-params: [0] hashAlgorithm (default SHA-1).
    for tag, v_start, _ in _children(buf, start, end):
        if tag == 0xA0:
            _, h_start, h_end = _tlv(buf, v_start)
            (_, o_start, o_end) = _children(buf, h_start, h_end)[0]
            return _PSS_HASHES.get(_oid(buf[o_start:o_end]))
    return "sha1"
