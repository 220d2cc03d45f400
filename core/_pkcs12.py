"""The outer structure of a PKCS#12 file, read without its password (pure, bytes in).

OpenSSL, and so cryptography, reports a wrong password, damaged content and an encryption
algorithm it cannot use with one message ("Invalid password or PKCS12 data").  A user needs
to know which of the three it is, so this module reads what is readable without the password
(RFC 7292): the integrity MAC with its salt and iteration count, and the algorithms that
protect the certificate and key bags.  :func:`mac_matches` then checks a password against
the MAC alone, which tells a wrong password apart from everything else.

The reader accepts BER (indefinite lengths, constructed strings): old Java and Windows tools
write PKCS#12 files that way.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
from typing import NamedTuple

__all__ = [
    "MAX_MAC_ITERATIONS",
    "Pkcs12Algorithm",
    "Pkcs12FormatError",
    "Pkcs12Structure",
    "looks_like_pkcs12",
    "mac_matches",
    "read_structure",
]

MAX_MAC_ITERATIONS = 1_000_000
"""MACs with more iterations are not checked here (a hostile file could ask for billions)."""

_DATA = "1.2.840.113549.1.7.1"
_SIGNED = "1.2.840.113549.1.7.2"
_ENVELOPED = "1.2.840.113549.1.7.3"
_ENCRYPTED = "1.2.840.113549.1.7.6"
_SHROUDED_KEY_BAG = "1.2.840.113549.1.12.10.1.2"
_PBES2 = "1.2.840.113549.1.5.13"
_PBKDF2 = "1.2.840.113549.1.5.12"
_PBMAC1 = "1.2.840.113549.1.5.14"

_MAC_HASHES = {
    "1.3.14.3.2.26": "sha1",
    "2.16.840.1.101.3.4.2.4": "sha224",
    "2.16.840.1.101.3.4.2.1": "sha256",
    "2.16.840.1.101.3.4.2.2": "sha384",
    "2.16.840.1.101.3.4.2.3": "sha512",
    "2.16.840.1.101.3.4.2.5": "sha512_224",
    "2.16.840.1.101.3.4.2.6": "sha512_256",
    "1.2.840.113549.2.5": "md5",
}
_HASH_LABEL = {
    "sha1": "SHA-1",
    "sha224": "SHA-224",
    "sha256": "SHA-256",
    "sha384": "SHA-384",
    "sha512": "SHA-512",
    "sha512_224": "SHA-512/224",
    "sha512_256": "SHA-512/256",
    "md5": "MD5",
}

# (label, legacy): legacy algorithms need OpenSSL 3's legacy provider, which many systems
# (and cryptography built with CRYPTOGRAPHY_OPENSSL_NO_LEGACY) do not load.
_PBE = {
    "1.2.840.113549.1.12.1.1": ("RC4-128 (PKCS#12 PBE, SHA-1)", True),
    "1.2.840.113549.1.12.1.2": ("RC4-40 (PKCS#12 PBE, SHA-1)", True),
    "1.2.840.113549.1.12.1.3": ("3DES (PKCS#12 PBE, SHA-1)", False),
    "1.2.840.113549.1.12.1.4": ("2-key 3DES (PKCS#12 PBE, SHA-1)", False),
    "1.2.840.113549.1.12.1.5": ("RC2-128 (PKCS#12 PBE, SHA-1)", True),
    "1.2.840.113549.1.12.1.6": ("RC2-40 (PKCS#12 PBE, SHA-1)", True),
    "1.2.840.113549.1.5.1": ("DES (PBES1, MD2)", True),
    "1.2.840.113549.1.5.3": ("DES (PBES1, MD5)", True),
    "1.2.840.113549.1.5.4": ("RC2 (PBES1, MD2)", True),
    "1.2.840.113549.1.5.6": ("RC2 (PBES1, MD5)", True),
    "1.2.840.113549.1.5.10": ("DES (PBES1, SHA-1)", True),
    "1.2.840.113549.1.5.11": ("RC2 (PBES1, SHA-1)", True),
}
_PBES2_CIPHERS = {
    "2.16.840.1.101.3.4.1.2": ("AES-128-CBC", False),
    "2.16.840.1.101.3.4.1.22": ("AES-192-CBC", False),
    "2.16.840.1.101.3.4.1.42": ("AES-256-CBC", False),
    "1.2.840.113549.3.7": ("3DES-CBC", False),
    "1.3.14.3.2.7": ("DES-CBC", True),
    "1.2.840.113549.3.2": ("RC2-CBC", True),
}
_PRFS = {
    "1.2.840.113549.2.7": "HMAC-SHA1",
    "1.2.840.113549.2.8": "HMAC-SHA224",
    "1.2.840.113549.2.9": "HMAC-SHA256",
    "1.2.840.113549.2.10": "HMAC-SHA384",
    "1.2.840.113549.2.11": "HMAC-SHA512",
}


class Pkcs12FormatError(ValueError):
    """The data is not a PKCS#12 file, or its outer structure is damaged."""


class Pkcs12Algorithm(NamedTuple):
    """An algorithm that protects part of a PKCS#12 file."""

    protects: str
    """``certificates``, ``private key`` or ``content``."""
    oid: str
    label: str
    """In words, e.g. ``AES-256-CBC (PBES2, PBKDF2-HMAC-SHA256), 20000 iterations``."""
    legacy: bool
    """Needs OpenSSL's legacy provider (RC2, RC4, DES): OpenSSL 3 refuses it by default."""
    known: bool
    """Whether certdeck recognises the algorithm at all."""


class Pkcs12Structure(NamedTuple):
    """What a PKCS#12 file reveals without its password."""

    mac_oid: str | None
    """Algorithm of the integrity MAC; ``None`` when the file has no MAC."""
    mac_salt: bytes
    mac_iterations: int
    mac_digest: bytes
    auth_safe: bytes
    """The bytes the MAC covers."""
    algorithms: tuple[Pkcs12Algorithm, ...]

    @property
    def mac_label(self) -> str:
        """The integrity protection in words."""
        if self.mac_oid is None:
            return "none (the file has no integrity MAC)"
        if self.mac_oid == _PBMAC1:
            return "PBMAC1"
        name = _MAC_HASHES.get(self.mac_oid)
        label = f"HMAC-{_HASH_LABEL[name]}" if name else f"unknown algorithm {self.mac_oid}"
        return f"{label}, {_iterations(self.mac_iterations)}"


class _Elem(NamedTuple):
    tag: int
    start: int
    end: int
    """End of the content (exclusive)."""
    next: int
    """Where the following element starts."""


def _element(data: bytes, pos: int, limit: int, depth: int = 0) -> _Elem:
    if depth > 40:
        raise Pkcs12FormatError("nested too deeply")
    if pos + 2 > limit:
        raise Pkcs12FormatError("the data ends too early")
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise Pkcs12FormatError("unexpected high tag number")
    first = data[pos + 1]
    pos += 2
    if first == 0x80:
        if not tag & 0x20:
            raise Pkcs12FormatError("indefinite length on a primitive value")
        child = pos
        while True:
            if child + 2 > limit:
                raise Pkcs12FormatError("the data ends too early")
            if data[child] == 0 and data[child + 1] == 0:
                return _Elem(tag, pos, child, child + 2)
            child = _element(data, child, limit, depth + 1).next
    if first & 0x80:
        count = first & 0x7F
        if count > 4 or pos + count > limit:
            raise Pkcs12FormatError("invalid length")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    else:
        length = first
    end = pos + length
    if end > limit:
        raise Pkcs12FormatError("the data ends too early")
    return _Elem(tag, pos, end, end)


def _children(data: bytes, elem: _Elem, depth: int = 0) -> list[_Elem]:
    if not elem.tag & 0x20:
        raise Pkcs12FormatError("expected a constructed value")
    items: list[_Elem] = []
    pos = elem.start
    while pos < elem.end:
        child = _element(data, pos, elem.end, depth + 1)
        items.append(child)
        pos = child.next
    return items


def _octets(data: bytes, elem: _Elem, depth: int = 0) -> bytes:
    """An OCTET STRING's content; BER may split it into constructed segments."""
    if elem.tag & 0x1F != 0x04:
        raise Pkcs12FormatError("expected an OCTET STRING")
    if not elem.tag & 0x20:
        return data[elem.start : elem.end]
    return b"".join(_octets(data, c, depth + 1) for c in _children(data, elem, depth))


def _oid(data: bytes, elem: _Elem) -> str:
    if elem.tag != 0x06 or elem.end == elem.start:
        raise Pkcs12FormatError("expected an object identifier")
    arcs: list[int] = []
    value = 0
    for byte in data[elem.start : elem.end]:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    first = min(arcs[0] // 40, 2)
    return ".".join(str(a) for a in [first, arcs[0] - 40 * first, *arcs[1:]])


def _integer(data: bytes, elem: _Elem) -> int:
    if elem.tag != 0x02 or elem.end == elem.start:
        raise Pkcs12FormatError("expected an INTEGER")
    return int.from_bytes(data[elem.start : elem.end], "big", signed=True)


def _explicit0(data: bytes, elem: _Elem) -> _Elem:
    if elem.tag != 0xA0:
        raise Pkcs12FormatError("expected a [0] field")
    inner = _children(data, elem)
    if len(inner) != 1:
        raise Pkcs12FormatError("expected one value in a [0] field")
    return inner[0]


def _content_info(data: bytes, elem: _Elem) -> tuple[str, _Elem | None]:
    fields = _children(data, elem)
    if not fields:
        raise Pkcs12FormatError("empty ContentInfo")
    content = _explicit0(data, fields[1]) if len(fields) > 1 else None
    return _oid(data, fields[0]), content


_PFX_START = bytes.fromhex("02010330")
_DATA_OID_DER = bytes.fromhex("06092a864886f70d010701")


def looks_like_pkcs12(data: bytes) -> bool:
    """Whether the data starts like a PKCS#12 file, even if it is cut short later.

    ``PFX ::= SEQUENCE { version INTEGER (3), authSafe ContentInfo (data) … }``.
    """
    if len(data) < 2 or data[0] != 0x30:
        return False
    first = data[1]
    header = 2 if first <= 0x80 else 2 + (first & 0x7F)
    head = data[header : header + 4]
    if head != _PFX_START:
        return False
    pos = header + 4
    first = data[pos] if pos < len(data) else 0
    pos += 1 if first <= 0x80 else 1 + (first & 0x7F)
    return data[pos : pos + len(_DATA_OID_DER)] == _DATA_OID_DER


def read_structure(data: bytes) -> Pkcs12Structure:
    """Read the parts of a PKCS#12 file that need no password.

    Raises:
        Pkcs12FormatError: the data is not PKCS#12, or its structure is damaged.
    """
    try:
        return _read(data)
    except (IndexError, UnicodeError) as exc:  # defensive: any malformed offset
        raise Pkcs12FormatError(f"malformed structure ({exc})") from None


def _read(data: bytes) -> Pkcs12Structure:
    pfx = _element(data, 0, len(data))
    if pfx.tag != 0x30:
        raise Pkcs12FormatError("it does not start with a DER SEQUENCE")
    fields = _children(data, pfx)
    if len(fields) < 2 or _integer(data, fields[0]) != 3:
        raise Pkcs12FormatError("it is not a version 3 PFX structure")
    kind, content = _content_info(data, fields[1])
    if kind == _SIGNED:
        raise Pkcs12FormatError("it uses public-key integrity mode (signed), not a password")
    if kind != _DATA or content is None:
        raise Pkcs12FormatError(f"unexpected content type {kind}")
    auth_safe = _octets(data, content)
    mac_oid: str | None = None
    salt = digest = b""
    iterations = 1
    if len(fields) > 2:
        mac_fields = _children(data, fields[2])
        digest_info = _children(data, mac_fields[0])
        mac_oid = _oid(data, _children(data, digest_info[0])[0])
        digest = _octets(data, digest_info[1])
        salt = _octets(data, mac_fields[1])
        if len(mac_fields) > 2:
            iterations = _integer(data, mac_fields[2])
    algorithms: list[Pkcs12Algorithm] = []
    inner = auth_safe
    for info in _children(inner, _element(inner, 0, len(inner))):
        kind, content = _content_info(inner, info)
        if kind == _DATA and content is not None:
            algorithms += _bag_algorithms(_octets(inner, content))
        elif kind == _ENCRYPTED and content is not None:
            encrypted = _children(inner, content)
            eci = _children(inner, encrypted[1])
            algorithms.append(_algorithm(inner, eci[1], "certificates"))
        elif kind == _ENVELOPED:
            label = "public-key encryption (envelopedData)"
            algorithms.append(Pkcs12Algorithm("content", kind, label, True, False))
        else:
            algorithms.append(
                Pkcs12Algorithm("content", kind, f"unknown content type {kind}", False, False)
            )
    return Pkcs12Structure(mac_oid, salt, iterations, digest, auth_safe, tuple(algorithms))


def _bag_algorithms(contents: bytes) -> list[Pkcs12Algorithm]:
    found: list[Pkcs12Algorithm] = []
    bags = _element(contents, 0, len(contents))
    for bag in _children(contents, bags):
        fields = _children(contents, bag)
        if _oid(contents, fields[0]) == _SHROUDED_KEY_BAG:
            encrypted_key = _explicit0(contents, fields[1])
            algorithm = _children(contents, encrypted_key)[0]
            found.append(_algorithm(contents, algorithm, "private key"))
    return found


def _algorithm(data: bytes, elem: _Elem, protects: str) -> Pkcs12Algorithm:
    fields = _children(data, elem)
    oid = _oid(data, fields[0])
    if oid in _PBE:
        label, legacy = _PBE[oid]
        params = _children(data, fields[1]) if len(fields) > 1 else []
        if len(params) > 1:
            label += f", {_iterations(_integer(data, params[1]))}"
        return Pkcs12Algorithm(protects, oid, label, legacy, True)
    if oid == _PBES2 and len(fields) > 1:
        kdf, scheme = _children(data, fields[1])[:2]
        kdf_fields = _children(data, kdf)
        scheme_oid = _oid(data, _children(data, scheme)[0])
        cipher, legacy = _PBES2_CIPHERS.get(scheme_oid, (f"unknown cipher {scheme_oid}", True))
        known = scheme_oid in _PBES2_CIPHERS
        if _oid(data, kdf_fields[0]) != _PBKDF2:
            return Pkcs12Algorithm(protects, oid, f"{cipher} (PBES2, unknown KDF)", True, False)
        params = _children(data, kdf_fields[1])
        prf = "HMAC-SHA1"
        for param in params[2:]:
            if param.tag == 0x30:
                prf_oid = _oid(data, _children(data, param)[0])
                prf = _PRFS.get(prf_oid, f"unknown PRF {prf_oid}")
                known = known and prf_oid in _PRFS
        label = f"{cipher} (PBES2, PBKDF2-{prf}), {_iterations(_integer(data, params[1]))}"
        return Pkcs12Algorithm(protects, oid, label, legacy, known)
    return Pkcs12Algorithm(protects, oid, f"unknown algorithm {oid}", False, False)


def _kdf(name: str, password: bytes, salt: bytes, iterations: int, size: int) -> bytes:
    """RFC 7292 appendix B.2 key derivation with ID 3 (MAC key)."""
    u = hashlib.new(name).digest_size
    v = hashlib.new(name).block_size

    def fill(value: bytes) -> bytes:
        if not value:
            return b""
        total = v * -(-len(value) // v)
        return (value * (total // len(value) + 1))[:total]

    diversifier = bytes([3]) * v
    block = bytearray(fill(salt) + fill(password))
    out = b""
    while True:
        a = hashlib.new(name, diversifier + bytes(block)).digest()
        for _ in range(iterations - 1):
            a = hashlib.new(name, a).digest()
        out += a
        if len(out) >= size:
            return out[:size]
        b = int.from_bytes((a * (v // u + 1))[:v], "big")
        for j in range(0, len(block), v):
            chunk = (int.from_bytes(block[j : j + v], "big") + b + 1) % (1 << (8 * v))
            block[j : j + v] = chunk.to_bytes(v, "big")


def _bmp_forms(password: bytes) -> list[bytes]:
    """The ways PKCS#12 tools have turned a password into the KDF's BMPString input."""
    forms: list[bytes] = []
    with contextlib.suppress(UnicodeDecodeError):
        forms.append(password.decode("utf-8").encode("utf-16-be") + b"\0\0")
    # OpenSSL before 1.1.0 widened each byte, whatever the encoding.
    widened = b"".join(b"\0" + bytes([c]) for c in password) + b"\0\0"
    if widened not in forms:
        forms.append(widened)
    if not password:
        forms.append(b"")  # no password at all, which OpenSSL also tries for an empty one
    return forms


def mac_matches(structure: Pkcs12Structure, password: bytes | None) -> bool | None:
    """Whether the password opens the file's integrity MAC.

    Returns ``None`` when the MAC cannot be checked here: the file has none, it uses an
    algorithm not known here (PBMAC1), or its iteration count is unreasonably high.
    """
    name = _MAC_HASHES.get(structure.mac_oid or "")
    if name is None or not 1 <= structure.mac_iterations <= MAX_MAC_ITERATIONS:
        return None
    try:
        size = hashlib.new(name).digest_size
    except ValueError:  # a hash this Python's OpenSSL does not offer
        return None
    for form in _bmp_forms(password or b""):
        key = _kdf(name, form, structure.mac_salt, structure.mac_iterations, size)
        mac = hmac.digest(key, structure.auth_safe, name)
        if hmac.compare_digest(mac, structure.mac_digest):
            return True
    return False


def _iterations(count: int) -> str:
    return "1 iteration" if count == 1 else f"{count} iterations"
