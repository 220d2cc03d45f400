"""Recognising certificates and keys by content."""

from __future__ import annotations

import base64
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cryptography_vectors
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12
from cryptography.x509.oid import NameOID

from core import _der
from core.parse import open_pkcs12, parse_bytes
from tests.certgen import NOW, ec_key, make, name, rsa_key

VECTORS = Path(cryptography_vectors.__file__).parent


def test_pem_bundle_with_text_around_and_crlf() -> None:
    a, b = make("a.example"), make("b.example")
    data = b"Bag Attributes: junk\r\n" + a.pem.replace(b"\n", b"\r\n") + b"\nnotes\n" + b.pem
    parsed = parse_bytes(data, name="bundle.pem")
    assert [c.facts.sha256 for c in parsed.certs] == [a.sha256, b.sha256]
    assert [c.position for c in parsed.certs] == [0, 1]
    assert {c.format for c in parsed.certs} == {"pem"}
    assert parsed.problems == ()


def test_legacy_x509_certificate_label() -> None:
    a = make("legacy.example")
    pem = a.pem.replace(b"CERTIFICATE-----", b"X509 CERTIFICATE-----")
    parsed = parse_bytes(pem, name="legacy")
    assert [c.facts.sha256 for c in parsed.certs] == [a.sha256]


def test_openssl_trusted_certificate_label_drops_trust_settings() -> None:
    a = make("trusted.example")
    aux = bytes.fromhex("300a300806062b0601050507")  # trust settings after the certificate
    body = base64.encodebytes(a.der + aux)
    pem = b"-----BEGIN TRUSTED CERTIFICATE-----\n" + body + b"-----END TRUSTED CERTIFICATE-----\n"
    assert [c.facts.sha256 for c in parse_bytes(pem).certs] == [a.sha256]


def test_der_certificate_by_content_whatever_the_name() -> None:
    a = make("der.example")
    parsed = parse_bytes(a.der, name="no-extension")
    assert [(c.facts.sha256, c.format) for c in parsed.certs] == [(a.sha256, "der")]


def test_pkcs7_pem_and_der() -> None:
    a, b = make("p7a.example"), make("p7b.example")
    der = pkcs7.serialize_certificates([a.cert, b.cert], serialization.Encoding.DER)
    pem = pkcs7.serialize_certificates([a.cert, b.cert], serialization.Encoding.PEM)
    for data in (der, pem):
        parsed = parse_bytes(data, name="bundle.p7b")
        assert sorted(c.facts.sha256 for c in parsed.certs) == sorted([a.sha256, b.sha256])
        assert {c.format for c in parsed.certs} == {"pkcs7"}


@pytest.mark.parametrize(
    ("fmt", "label", "expected"),
    [
        (serialization.PrivateFormat.PKCS8, b"PRIVATE KEY", "pkcs8"),
        (serialization.PrivateFormat.TraditionalOpenSSL, b"EC PRIVATE KEY", "sec1"),
    ],
)
def test_ec_private_keys_pair_by_public_key(
    fmt: serialization.PrivateFormat, label: bytes, expected: str
) -> None:
    a = make("keyed.example", key=ec_key(7))
    pem = ec_key(7).private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())
    assert label in pem
    parsed = parse_bytes(pem, name="x.key")
    (key,) = parsed.keys
    assert key.format == expected
    assert not key.encrypted
    cert = parse_bytes(a.pem).certs[0].facts
    assert key.public_key_sha256 == cert.public_key_sha256


def test_rsa_pkcs1_key_and_combined_pem() -> None:
    key = rsa_key(2048)
    a = make("combined.example", key=key)
    pkcs1 = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    parsed = parse_bytes(a.pem + pkcs1, name="haproxy.pem")
    assert parsed.keys[0].format == "pkcs1"
    assert parsed.keys[0].public_key_sha256 == parsed.certs[0].facts.public_key_sha256


def test_encrypted_keys_are_recorded_never_decrypted() -> None:
    key = ec_key(8)
    pkcs8 = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    )
    legacy = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.BestAvailableEncryption(b"secret"),
    )
    assert b"Proc-Type: 4,ENCRYPTED" in legacy
    for data, fmt in ((pkcs8, "pkcs8-encrypted"), (legacy, "sec1-encrypted")):
        (found,) = parse_bytes(data, name="k.key").keys
        assert found.encrypted
        assert found.format == fmt
        assert found.public_key_sha256 is None


def test_pkcs12_is_a_locked_container_until_a_password_is_given() -> None:
    a = make("p12.example", key=ec_key(9))
    data = pkcs12.serialize_key_and_certificates(
        b"friendly",
        ec_key(9),
        a.cert,
        None,
        serialization.BestAvailableEncryption(b"pw"),
    )
    parsed = parse_bytes(data, name="anything.bin")
    assert parsed.pkcs12
    assert parsed.certs == ()
    assert parsed.problems == ()
    opened = open_pkcs12(data, b"pw")
    assert [c.facts.sha256 for c in opened.certs] == [a.sha256]
    assert opened.keys[0].public_key_sha256 == opened.certs[0].facts.public_key_sha256
    with pytest.raises(ValueError, match=r"(?i)password|mac"):
        open_pkcs12(data, b"wrong")


def _csr() -> bytes:
    return (
        x509.CertificateSigningRequestBuilder()
        .subject_name(name("csr.example"))
        .sign(ec_key(3), hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
    )


def _crl() -> bytes:
    ca = make("crl ca", ca=True)
    return (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.cert.subject)
        .last_update(NOW)
        .next_update(NOW + timedelta(days=7))
        .sign(ca.key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
    )


@pytest.mark.parametrize(
    ("data", "filename"),
    [
        (b"server {\n  listen 443 ssl;\n}\n", "nginx.conf"),
        (b"This is a dummy root certificate file.\n", "root.crt"),
        (b"\x7fELF\x02\x01\x01" + bytes(200), "ls"),
        (b"", "empty.conf"),
        (b"-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n", "k"),
    ],
)
def test_files_without_certificate_material_are_ignored(data: bytes, filename: str) -> None:
    assert parse_bytes(data, name=filename) == parse_bytes(b"")
    assert not parse_bytes(data, name=filename).relevant


def test_csr_and_public_key_are_ignored_silently() -> None:
    pub = (
        ec_key(4)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    for data in (_csr(), pub):
        assert not parse_bytes(data, name="thing.pem").relevant
        der = base64.b64decode(b"".join(data.splitlines()[1:-1]))
        assert not parse_bytes(der, name="thing.der").relevant


def test_revocation_lists_are_recognised_by_shape_pem_and_der() -> None:
    pem = _crl()
    der = base64.b64decode(b"".join(pem.splitlines()[1:-1]))
    for data, filename in ((pem, "ca.crl.pem"), (der, "ca.crl"), (der + b"\n", "no-suffix")):
        parsed = parse_bytes(data, name=filename)
        assert parsed.crl
        assert (parsed.certs, parsed.keys, parsed.problems) == ((), (), ())
        assert parsed.relevant
    # Real-world lists: version 1 without the version field, GeneralizedTime, many entries.
    for name_ in ("crl_empty_no_sequence.der", "crl_almost_10k.pem", "crl_ian_aia_aki.pem"):
        assert parse_bytes((VECTORS / "x509" / "custom" / name_).read_bytes()).crl, name_


def test_a_file_with_certificates_and_a_revocation_list_yields_both() -> None:
    a = make("with-crl.example")
    parsed = parse_bytes(a.pem + _crl() + a.key_pem, name="everything.pem")
    assert parsed.crl
    assert [c.facts.sha256 for c in parsed.certs] == [a.sha256]
    assert len(parsed.keys) == 1
    assert parsed.problems == ()


def test_only_complete_revocation_lists_count() -> None:
    pem = _crl()
    truncated = pem[: len(pem) // 2]
    assert parse_bytes(truncated, name="cut.crl") == parse_bytes(b"")  # neither list nor problem
    # A certificate, a request and a bare sequence are not revocation lists.
    a = make("not-a-crl.example")
    request = base64.b64decode(b"".join(_csr().splitlines()[1:-1]))
    for data in (a.der, request, bytes.fromhex("3006020101020102")):
        assert not parse_bytes(data, name="x.der").crl


def test_enveloped_pkcs7_is_a_problem_not_a_crash() -> None:
    data = (VECTORS / "pkcs7" / "enveloped.pem").read_bytes()
    (problem,) = parse_bytes(data, name="enveloped.pem").problems
    assert problem.startswith("PKCS7 block at line 1: not a valid PKCS#7 bundle (")


def test_der_with_a_trailing_newline_or_zero_bytes_in_the_signature() -> None:
    a = make("trailing.example")
    assert [c.facts.sha256 for c in parse_bytes(a.der + b"\n", name="t.der").certs] == [a.sha256]
    # Real DER may itself end in 0x00 or 0x0a bytes; they must not be stripped.
    pkits = VECTORS / "x509" / "PKITS_data" / "certs" / "InvalidDNnameConstraintsTest20EE.crt"
    assert len(parse_bytes(pkits.read_bytes(), name=pkits.name).certs) == 1


def test_truncated_pem_names_the_block_and_line() -> None:
    a = make("trunc.example")
    data = b"# header\n" + a.pem[: len(a.pem) // 2]
    parsed = parse_bytes(data, name="trunc.pem")
    assert parsed.certs == ()
    assert parsed.problems == (
        "CERTIFICATE block at line 2 has no matching END line (truncated file?)",
    )


def test_one_bad_block_does_not_hide_the_good_ones() -> None:
    good = make("good.example")
    bad = b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"
    parsed = parse_bytes(good.pem + bad, name="mixed.pem")
    assert [c.facts.sha256 for c in parsed.certs] == [good.sha256]
    (problem,) = parsed.problems
    assert problem.startswith("CERTIFICATE block at line ")
    assert "not a valid certificate" in problem


def test_garbage_with_certificate_name_is_reported() -> None:
    assert parse_bytes(bytes(range(256)) * 4, name="random.crt").problems == (
        "neither PEM text nor a DER certificate, PKCS#7, PKCS#12 or key",
    )
    assert parse_bytes(b"", name="empty.pem").problems == ("empty file",)
    # A certificate's shape that cryptography refuses is reported, with its reason.
    version_7 = (VECTORS / "x509" / "custom" / "invalid_version.pem").read_bytes()
    (reason,) = parse_bytes(version_7, name="v7.pem").problems
    assert reason == (
        "CERTIFICATE block at line 1: not a valid certificate (7 is not a valid X509 version)"
    )
    # Other DER objects (a bare SEQUENCE here, requests and CRLs below) are not ours.
    assert not parse_bytes(bytes.fromhex("3006020101020102"), name="thing.der").relevant


def test_facts_of_a_typical_server_certificate() -> None:
    ca = make("Example CA", ca=True, key=rsa_key(2048))
    leaf = make(
        "www.example.org",
        issuer=ca,
        sans=("www.example.org", "10.0.0.1", "2001:db8::1"),
        serial=0x1234,
    )
    f = parse_bytes(leaf.pem).certs[0].facts
    assert f.subject == "CN=www.example.org"
    assert f.issuer == "CN=Example CA"
    assert f.common_name == "www.example.org"
    assert f.serial == "1234"
    assert f.names == ("DNS:www.example.org", "IP:10.0.0.1", "IP:2001:db8::1")
    assert (f.key.type, f.key.bits, f.key.curve) == ("EC", 256, "secp256r1")
    assert f.signature_algorithm == "sha256WithRSAEncryption"
    assert f.signature_hash == "sha256"
    assert not f.is_ca
    assert not f.self_signed
    assert f.role == "TLS server"
    assert f.extended_key_usage == ("serverAuth",)
    assert f.not_after == leaf.cert.not_valid_after_utc
    ca_facts = parse_bytes(ca.pem).certs[0].facts
    assert ca_facts.is_ca
    assert ca_facts.self_signed
    assert ca_facts.role == "root CA"
    assert (ca_facts.key.type, ca_facts.key.bits) == ("RSA", 2048)


def test_self_signed_with_sha1_is_still_recognised_as_self_signed() -> None:
    # A real root from the Spanish ACCV, self-signed with SHA-1 (cryptography cannot make one).
    facts = parse_bytes((VECTORS / "x509" / "accvraiz1.pem").read_bytes()).certs[0].facts
    assert facts.signature_hash == "sha1"
    assert facts.self_signed
    assert facts.role == "root CA"


def test_hostile_subject_is_kept_exactly() -> None:
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "\x1b[31mEvil\x1b[0m"),
            x509.NameAttribute(NameOID.COMMON_NAME, "[bold red]Legit[/] [@click=app.quit]x[/]"),
        ]
    )
    a = make("hostile", subject=subject)
    f = parse_bytes(a.pem).certs[0].facts
    assert f.common_name == "[bold red]Legit[/] [@click=app.quit]x[/]"
    assert f.subject == "CN=[bold red]Legit[/] [@click=app.quit]x[/],O=\x1b[31mEvil\x1b[0m"


def _vector_certificates() -> list[x509.Certificate]:
    out: list[x509.Certificate] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for path in sorted((VECTORS / "x509").rglob("*")):
            if not path.is_file():
                continue
            data = path.read_bytes()
            try:
                if b"-----BEGIN CERTIFICATE" in data:
                    out.extend(x509.load_pem_x509_certificates(data))
                elif data[:1] == b"\x30":
                    out.append(x509.load_der_x509_certificate(data))
            except (ValueError, x509.InvalidVersion):
                continue
    return out


def test_der_fields_match_cryptography_on_real_world_certificates() -> None:
    certs = _vector_certificates()
    assert len(certs) > 300
    overrides = {x509.ObjectIdentifier(k): v for k, v in _der.NAME_OIDS.items()}
    compared = 0
    for cert in certs:
        der = cert.public_bytes(serialization.Encoding.DER)
        try:
            fields = _der.read_certificate(der)
            subject = cert.subject.rfc4514_string(overrides)
            issuer = cert.issuer.rfc4514_string(overrides)
            serial = cert.serial_number
        except Exception:  # cryptography itself refuses to decode a field: nothing to compare
            continue
        if "+" not in subject:  # multi-valued RDN order is a set in cryptography
            assert _der.format_name(fields.subject_der)[0] == subject
        if "+" not in issuer:
            assert _der.format_name(fields.issuer_der)[0] == issuer
        assert int(fields.serial, 16) == serial
        assert fields.not_before == cert.not_valid_before_utc
        assert fields.not_after == cert.not_valid_after_utc
        assert fields.signature_oid == cert.signature_algorithm_oid.dotted_string
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                extensions = cert.extensions
            bc = extensions.get_extension_for_class(x509.BasicConstraints).value
            assert fields.is_ca == bc.ca
            san = extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            dns = ["DNS:" + d for d in san.get_values_for_type(x509.DNSName)]
            assert [n for n in fields.names if n.startswith("DNS:")] == dns
        except Exception:  # the oracle cannot read this extension: nothing to compare
            pass
        compared += 1
    assert compared > 300


def test_parse_never_raises_on_mutated_input() -> None:
    a = make("fuzz.example", sans=("fuzz.example",))
    der = a.der
    for i in range(0, len(der), 3):
        for value in (0x00, 0xFF, der[i] ^ 0x80):
            mutated = der[:i] + bytes([value]) + der[i + 1 :]
            parse_bytes(mutated, name="m.der")
            parse_bytes(mutated[: i + 1], name="m.der")


def test_not_yet_valid_dates_and_generalized_time() -> None:
    far = make(
        "forever.example",
        not_before=datetime(2026, 1, 1, tzinfo=UTC),
        not_after=datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC),
    )
    f = parse_bytes(far.der).certs[0].facts
    assert f.not_after == datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
