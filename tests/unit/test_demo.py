"""The generated demo server tree: deterministic, complete, and its expectations consistent."""

from __future__ import annotations

import os
import stat
import tomllib
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12
from cryptography.x509.oid import NameOID
from cryptography.x509.verification import (
    ClientVerifier,
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from core.demo import (
    DEMO_PASSWORD,
    ENCRYPTED_KEY_PATH,
    PKCS12_PATH,
    DemoTree,
    build_demo_tree,
)
from core.errors import UsageError

NOW = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)
TRUST_STORE = (
    "/etc/ssl/certs/",
    "/usr/share/ca-certificates/",
    "/usr/local/share/ca-certificates/",
)
SERVICE_CODES = {"key_mismatch", "key_missing", "key_permissions"}
"""Codes that depend on service configuration, checked by the scenario tests below."""


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> DemoTree:
    return build_demo_tree(tmp_path_factory.mktemp("demo") / "root", now=NOW)


def host(tree: DemoTree, path: str) -> Path:
    return tree.root / path.lstrip("/")


def load_all(data: bytes) -> list[x509.Certificate]:
    """The certificates in a PEM, DER or PKCS#7 file; [] for anything else."""
    loaders = (
        x509.load_pem_x509_certificates,
        lambda d: [x509.load_der_x509_certificate(d)],
        pkcs7.load_der_pkcs7_certificates,
    )
    for loader in loaders:
        try:
            return list(loader(data))
        except ValueError:
            continue
    return []


def cert_at(tree: DemoTree, path: str) -> x509.Certificate:
    return load_all(host(tree, path).read_bytes())[0]


@dataclass(frozen=True)
class Entry:
    """One file, folder or link of a tree, with everything determinism covers."""

    kind: str
    mode: int
    mtime_ns: int
    target: bytes = b""
    data: bytes = b""


def walk(root: Path) -> dict[bytes, Entry]:
    """Every entry under root, by relative bytes name (so undecodable names too)."""
    entries: dict[bytes, Entry] = {}
    top = os.fsencode(root)
    for folder, dirs, names in os.walk(top):
        for name in dirs + names:
            path = os.path.join(folder, name)
            info = os.lstat(path)
            mode, mtime = stat.S_IMODE(info.st_mode), info.st_mtime_ns
            if stat.S_ISLNK(info.st_mode):
                entry = Entry("link", 0, mtime, target=os.readlink(path))
            elif stat.S_ISDIR(info.st_mode):
                entry = Entry("dir", mode, mtime)
            else:
                with open(path, "rb") as f:
                    entry = Entry("file", mode, mtime, data=f.read())
            entries[os.path.relpath(path, top)] = entry
    return entries


def test_same_now_gives_identical_trees(tmp_path: Path) -> None:
    first = build_demo_tree(tmp_path / "a", now=NOW)
    second = build_demo_tree(tmp_path / "b", now=NOW)
    a, b = walk(first.root), walk(second.root)
    assert len(a) > 150
    assert a.keys() == b.keys()
    for rel, entry in a.items():
        assert entry == b[rel], rel
    assert first.certs == second.certs


def test_building_again_into_a_demo_tree_rewrites_it(tmp_path: Path) -> None:
    before = walk(build_demo_tree(tmp_path, now=NOW).root)
    assert walk(build_demo_tree(tmp_path, now=NOW).root) == before


def test_validity_follows_now(tmp_path: Path) -> None:
    later = NOW + timedelta(days=400, seconds=7)
    moved = build_demo_tree(tmp_path, now=later)
    mail = cert_at(moved, moved.cert("postfix-mail").path)
    assert mail.not_valid_after_utc == later + timedelta(days=12)


def test_naive_now_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        build_demo_tree(tmp_path, now=datetime(2026, 11, 27))


def test_a_folder_with_other_files_is_not_touched(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(UsageError, match="not empty"):
        build_demo_tree(tmp_path, now=NOW)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_expectations_follow_from_the_certificates(tree: DemoTree) -> None:
    """Re-derive every certificate-only code from the bytes on disk and compare.

    Trust uses cryptography's verifier at NOW with every certificate found as a possible
    intermediate.  Copies are regular files holding the certificate first: links are not
    copies, and neither are the chain certificates after a file's own certificate.
    """
    stored: defaultdict[str, set[str]] = defaultdict(set)
    copies: defaultdict[str, set[str]] = defaultdict(set)
    found: dict[str, x509.Certificate] = {}
    for rel, entry in walk(tree.root).items():
        if entry.kind == "file":
            path = "/" + rel.decode("utf-8", "backslashreplace")
            for index, cert in enumerate(load_all(entry.data)):
                fingerprint = cert.fingerprint(hashes.SHA256()).hex()
                stored[fingerprint].add(path)
                if index == 0:
                    copies[fingerprint].add(path)
                found[fingerprint] = cert
    # Everything on disk is described (the PKCS#12 file is encrypted, so not seen here).
    assert {c.sha256 for c in tree.certs} == found.keys()
    assert len({c.label for c in tree.certs}) == len(tree.certs)

    anchors = {fp for fp, paths in stored.items() if all(p.startswith(TRUST_STORE) for p in paths)}
    assert len(anchors) == 5

    def verifier(at: datetime) -> ClientVerifier:
        return (
            PolicyBuilder()
            .store(Store([found[fp] for fp in anchors]))
            .time(at)
            .extension_policies(
                ee_policy=ExtensionPolicy.permit_all(),
                ca_policy=ExtensionPolicy.webpki_defaults_ca(),
            )
            .build_client_verifier()
        )

    others = [cert for fp, cert in found.items() if fp not in anchors]
    crls = [
        load_crl((tree.root / "etc/ssl/crl" / name).read_bytes())
        for name in sorted(os.listdir(tree.root / "etc/ssl/crl"))
    ]

    for demo in tree.certs:
        cert = found[demo.sha256]
        assert demo.path in stored[demo.sha256], demo.label
        codes: set[str] = set()
        if cert.not_valid_after_utc < NOW:
            codes.add("expired")
        elif cert.not_valid_after_utc <= NOW + timedelta(days=30):
            codes.add("expiring")
        if cert.not_valid_before_utc > NOW:
            codes.add("not_yet_valid")
        key = cert.public_key()
        if (isinstance(key, rsa.RSAPublicKey) and key.key_size < 2048) or isinstance(
            key, dsa.DSAPublicKey
        ):
            codes.add("weak_key")
        if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.key_size < 256:
            codes.add("weak_key")
        if any(n.startswith("*.") for n in load_names(cert)):
            codes.add("wildcard")
        if demo.sha256 not in anchors:
            if isinstance(cert.signature_hash_algorithm, hashes.SHA1 | hashes.MD5):
                codes.add("weak_signature")
            # A certificate's own validity is the expired/not_yet_valid findings' business:
            # trust is judged at the evaluation time moved into its validity period.
            at = min(max(NOW, cert.not_valid_before_utc), cert.not_valid_after_utc)
            try:
                verifier(at).verify(cert, others)
            except VerificationError:
                codes.add("untrusted")
            if cert.subject == cert.issuer:
                try:
                    cert.verify_directly_issued_by(cert)
                    codes.add("self_signed")
                except (ValueError, TypeError, InvalidSignature):
                    pass
            if len(copies[demo.sha256]) > 1:
                codes.add("duplicate")
            if any(
                other.subject == cert.subject
                and load_names(other) == load_names(cert)
                and other.not_valid_before_utc > cert.not_valid_before_utc
                for other in others
            ):
                codes.add("superseded")
            if not demo.required:
                codes.add("unused")
                if codes & {"expired", "superseded"}:
                    codes.add("obsolete")
        if cert.subject != cert.issuer:  # nothing can revoke a self-signed certificate
            codes |= crl_codes(cert, crls, list(found.values()))
        if demo.label == "billing-master":
            codes -= {"expired", "expiring"}  # check_expiry = false in the settings
            codes.add("expiry_not_checked")
        assert codes == demo.expected - SERVICE_CODES, demo.label
        assert not (demo.required and "unused" in demo.expected), demo.label


def load_crl(data: bytes) -> x509.CertificateRevocationList:
    if data.startswith(b"-----BEGIN"):
        return x509.load_pem_x509_crl(data)
    return x509.load_der_x509_crl(data)


def signs(crl: x509.CertificateRevocationList, issuer: x509.Certificate) -> bool:
    key = issuer.public_key()
    return isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey) and (
        crl.is_signature_valid(key)
    )


def issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def crl_codes(
    cert: x509.Certificate,
    crls: list[x509.CertificateRevocationList],
    certs: list[x509.Certificate],
) -> set[str]:
    """``revoked``/``crl_stale`` from the CRLs signed by the certificate's real issuer."""
    codes: set[str] = set()
    for crl in crls:
        if crl.issuer != cert.issuer:
            continue
        signers = [c for c in certs if c.subject == crl.issuer and signs(crl, c)]
        if not any(issued_by(cert, c) for c in signers):
            continue
        if crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None:
            codes.add("revoked")
        elif crl.next_update_utc is not None and crl.next_update_utc < NOW:
            codes.add("crl_stale")
    return codes


def load_names(cert: x509.Certificate) -> set[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    return {str(n.value) for n in san}


def test_every_finding_code_is_shown(tree: DemoTree) -> None:
    shown = set().union(*(c.expected for c in tree.certs))
    assert shown == {
        "expiry_not_checked",
        "expired",
        "not_yet_valid",
        "expiring",
        "untrusted",
        "self_signed",
        "key_mismatch",
        "key_missing",
        "key_permissions",
        "weak_key",
        "weak_signature",
        "wildcard",
        "superseded",
        "duplicate",
        "unused",
        "obsolete",
        "revoked",
        "crl_stale",
    }


def test_hostile_subject_is_kept_verbatim(tree: DemoTree) -> None:
    cert = cert_at(tree, tree.cert("hostile").path)
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    org = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value
    assert cn == "[bold red]Legit[/] [@click=app.quit]x[/]"
    assert org == "\x1b[31mEvil\x1b[0m"


def test_weak_key_and_sha1_signature(tree: DemoTree) -> None:
    weak = cert_at(tree, tree.cert("rsa-1024").path).public_key()
    assert isinstance(weak, rsa.RSAPublicKey)
    assert weak.key_size == 1024
    sha1 = cert_at(tree, tree.cert("sha1").path)
    issuing = cert_at(tree, tree.cert("demo-corp-issuing").path)
    assert isinstance(sha1.signature_hash_algorithm, hashes.SHA1)
    assert sha1.issuer == issuing.subject
    issuer_key = issuing.public_key()
    assert isinstance(issuer_key, ec.EllipticCurvePublicKey)
    issuer_key.verify(sha1.signature, sha1.tbs_certificate_bytes, ec.ECDSA(hashes.SHA1()))


def test_www_names_and_wildcard(tree: DemoTree) -> None:
    assert load_names(cert_at(tree, "/etc/nginx/ssl/www.crt")) == {
        "www.demo.example",
        "demo.example",
        "192.0.2.10",
    }
    assert "*.demo.example" in load_names(cert_at(tree, tree.cert("apache-wildcard").path))


def test_mail_certificate_expires_in_twelve_days(tree: DemoTree) -> None:
    mail = cert_at(tree, "/etc/postfix/tls/mail.demo.example.crt")
    assert mail.not_valid_after_utc - NOW == timedelta(days=12)


def public_der(key: object) -> bytes:
    assert isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey)
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def private_key_at(tree: DemoTree, path: str) -> object:
    return serialization.load_pem_private_key(host(tree, path).read_bytes(), None).public_key()


def test_keys_match_except_shop(tree: DemoTree) -> None:
    for cert, key in (
        ("/etc/nginx/ssl/www.crt", "/etc/nginx/ssl/www.key"),
        ("/etc/nginx/ssl/api.crt", "/etc/nginx/ssl/api.key"),
        (
            "/etc/letsencrypt/live/blog.demo.example/fullchain.pem",
            "/etc/letsencrypt/live/blog.demo.example/privkey.pem",
        ),
        ("/etc/dovecot/private/dovecot.pem", "/etc/dovecot/private/dovecot.key"),
        ("/etc/haproxy/certs/lb.demo.example.pem", "/etc/haproxy/certs/lb.demo.example.pem"),
    ):
        assert public_der(cert_at(tree, cert).public_key()) == public_der(private_key_at(tree, key))
    shop = public_der(cert_at(tree, "/etc/nginx/ssl/shop.crt").public_key())
    assert shop != public_der(private_key_at(tree, "/etc/nginx/ssl/shop.key"))
    assert "ssl_certificate_key /etc/nginx/ssl/shop.key;" in read(
        tree, "/etc/nginx/sites-available/shop"
    )


def read(tree: DemoTree, path: str) -> str:
    return host(tree, path).read_text()


def test_private_key_files_are_private_except_api(tree: DemoTree) -> None:
    loose = []
    keys = 0
    for rel, entry in walk(tree.root).items():
        if entry.kind == "file" and (b"PRIVATE KEY-----" in entry.data or rel.endswith(b".p12")):
            keys += 1
            if entry.mode != 0o600:
                loose.append((rel.decode(), oct(entry.mode)))
    assert keys >= 15
    assert loose == [("etc/nginx/ssl/api.key", "0o644")]
    for folder in ("/etc/ssl/private", "/etc/dovecot/private", "/opt/billing/keys"):
        assert stat.S_IMODE(host(tree, folder).stat().st_mode) == 0o700


def test_non_utf8_file_name(tree: DemoTree) -> None:
    folder = os.fsencode(host(tree, "/etc/ssl/localcerts"))
    name = b"caf\xe9.demo.example.crt"
    assert name in os.listdir(folder)
    with open(os.path.join(folder, name), "rb") as f:
        cert = load_all(f.read())[0]
    assert cert.fingerprint(hashes.SHA256()).hex() == tree.cert("non-utf8-name").sha256
    assert tree.cert("non-utf8-name").path == "/etc/ssl/localcerts/caf\\xe9.demo.example.crt"


def test_nginx_layout(tree: DemoTree) -> None:
    conf = read(tree, "/etc/nginx/nginx.conf")
    assert "include /etc/nginx/conf.d/*.conf;" in conf
    assert "include /etc/nginx/sites-enabled/*;" in conf
    enabled = sorted(p.name for p in host(tree, "/etc/nginx/sites-enabled").iterdir())
    assert enabled == ["api", "shop", "www"]
    assert (
        os.readlink(host(tree, "/etc/nginx/sites-enabled/www")) == "/etc/nginx/sites-available/www"
    )
    assert host(tree, "/etc/nginx/sites-available/old-intranet").is_file()
    assert "# ssl_certificate /etc/nginx/ssl/commented.crt;" in read(
        tree, "/etc/nginx/sites-available/www"
    )
    assert host(tree, "/etc/nginx/ssl/commented.crt").is_file()
    assert not tree.cert("nginx-old-intranet").required
    assert not tree.cert("nginx-commented").required


def test_services_reference_their_files(tree: DemoTree) -> None:
    portal = read(tree, "/etc/apache2/sites-available/portal-ssl.conf")
    assert 'SSLCertificateKeyFile "/etc/ssl/private/wildcard.demo.example.key"' in portal
    assert "SSLCertificateChainFile /etc/ssl/localcerts/demo-corp-issuing-ca.crt" in portal
    intranet = read(tree, "/etc/apache2/sites-available/intranet-ssl.conf")
    assert "/etc/ssl/private/intranet.demo.example.key" in intranet
    assert not host(tree, "/etc/ssl/private/intranet.demo.example.key").exists()
    assert "IncludeOptional sites-enabled/*.conf" in read(tree, "/etc/apache2/apache2.conf")
    haproxy = read(tree, "/etc/haproxy/haproxy.cfg")
    assert "bind :443 ssl crt /etc/haproxy/certs/" in haproxy
    assert "ca-file /etc/ssl/certs/demo-corp-root.pem" in haproxy
    assert len(load_all(host(tree, "/etc/haproxy/certs/lb.demo.example.pem").read_bytes())) == 2
    assert "-o smtpd_tls_cert_file=/etc/postfix/tls/smtp.demo.example.crt" in read(
        tree, "/etc/postfix/master.cf"
    )
    assert "ssl_cert = </etc/dovecot/private/dovecot.pem" in read(
        tree, "/etc/dovecot/conf.d/10-ssl.conf"
    )


def test_letsencrypt_live_links_point_at_the_newest_version(tree: DemoTree) -> None:
    live = host(tree, "/etc/letsencrypt/live/blog.demo.example")
    for part in ("cert", "chain", "fullchain", "privkey"):
        target = os.readlink(live / f"{part}.pem")
        assert target == f"../../archive/blog.demo.example/{part}3.pem"
    newest = cert_at(tree, "/etc/letsencrypt/live/blog.demo.example/cert.pem")
    assert newest.fingerprint(hashes.SHA256()).hex() == tree.cert("le-blog-3").sha256
    conf = read(tree, "/etc/nginx/conf.d/blog.conf")
    assert "/etc/letsencrypt/live/blog.demo.example/fullchain.pem" in conf


def test_trust_store_links_and_bundle(tree: DemoTree) -> None:
    certs = host(tree, "/etc/ssl/certs")
    # Known answer from `openssl x509 -hash` for C=DE, O=Demo Corp, CN=Demo Corp Root CA.
    assert os.readlink(certs / "58257a9e.0") == "demo-corp-root.pem"
    target = os.readlink(certs / "demo-corp-root.pem")
    assert target == "/usr/local/share/ca-certificates/demo-corp-root.crt"
    hashed = [p for p in certs.iterdir() if p.name.endswith(".0")]
    assert len(hashed) == 5
    for link in hashed:
        source = host(tree, os.readlink(certs / os.readlink(link)))
        assert source.is_file()
    bundle = load_all((certs / "ca-certificates.crt").read_bytes())
    anchors = {c.sha256 for c in tree.certs if c.path.startswith(TRUST_STORE[1:])}
    assert {c.fingerprint(hashes.SHA256()).hex() for c in bundle} == anchors
    expired = [c for c in bundle if c.not_valid_after_utc < NOW]
    assert len(expired) == 1


def test_password_protected_files(tree: DemoTree) -> None:
    data = host(tree, PKCS12_PATH).read_bytes()
    key, cert, _chain = pkcs12.load_key_and_certificates(data, DEMO_PASSWORD.encode())
    assert cert is not None
    assert key is not None
    assert public_der(cert.public_key()) == public_der(key.public_key())
    with pytest.raises(ValueError, match="password"):
        pkcs12.load_key_and_certificates(data, b"wrong")
    pem = host(tree, ENCRYPTED_KEY_PATH).read_bytes()
    assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----\n")
    serialization.load_pem_private_key(pem, DEMO_PASSWORD.encode())
    with pytest.raises(TypeError):
        serialization.load_pem_private_key(pem, None)


def test_files_that_are_not_certificates(tree: DemoTree) -> None:
    local = host(tree, "/etc/ssl/localcerts")
    truncated = (local / "truncated.pem").read_bytes()
    assert truncated.startswith(b"-----BEGIN CERTIFICATE-----")
    assert b"-----END" not in truncated
    for name in ("truncated.pem", "bad-base64.pem", "empty.pem", "garbage.crt"):
        assert load_all((local / name).read_bytes()) == [], name
    assert (local / "empty.pem").stat().st_size == 0
    csr = (local / "newserver.demo.example.csr").read_bytes()
    assert csr.startswith(b"-----BEGIN CERTIFICATE REQUEST-----")
    assert x509.load_pem_x509_csr(csr).is_signature_valid
    crl = x509.load_pem_x509_crl(host(tree, "/etc/ssl/crl/demo-corp-issuing-ca.crl").read_bytes())
    assert len(list(crl)) == 2
    stale = x509.load_der_x509_crl(host(tree, "/etc/ssl/crl/demo-corp-root-ca.crl").read_bytes())
    assert stale.next_update_utc is not None
    assert stale.next_update_utc < NOW
    assert len(load_all((local / "globex-partner-chain.p7b").read_bytes())) == 2
    der = (local / "printer.demo.example.der").read_bytes()
    assert x509.load_der_x509_certificate(der)


def test_legacy_label_with_crlf(tree: DemoTree) -> None:
    data = host(tree, "/etc/ssl/localcerts/legacy-label.pem").read_bytes()
    assert data.startswith(b"-----BEGIN X509 CERTIFICATE-----\r\n")
    assert data.count(b"\r\n") == data.count(b"\n")
    assert len(x509.load_pem_x509_certificates(data)) == 1


def test_settings_declare_the_billing_consumer(tree: DemoTree) -> None:
    assert tree.settings_path == host(tree, "/etc/certdeck/settings.toml")
    settings = tomllib.loads(tree.settings_path.read_text())
    assert settings["scan"] == {"paths": ["/opt/billing"]}
    assert settings["consumers"] == [
        {
            "name": "billing-app",
            "files": ["/opt/billing/keys/master.pem"],
            "role": "master key",
            "check_expiry": False,
        }
    ]
    master = cert_at(tree, "/opt/billing/keys/master.pem")
    assert master.not_valid_after_utc < NOW
    assert tree.cert("billing-master").required


def test_configuration_files_are_not_indented(tree: DemoTree) -> None:
    for rel, entry in walk(tree.root).items():
        if entry.kind == "file" and entry.data[:1].isspace():
            pytest.fail(f"{rel!r} starts with white space")
    selected = read(tree, "/etc/ca-certificates.conf").splitlines()
    assert all(line.startswith(("#", "mozilla/")) for line in selected)
