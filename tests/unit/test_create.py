"""Creating server certificates and local CAs: names, keys, validity, chains, files."""

from __future__ import annotations

import ipaddress
import shutil
import socket
import ssl
import stat
import subprocess
from collections import namedtuple
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from core.create import (
    FOREVER,
    KEY_TYPES,
    CALoadError,
    CARequest,
    CreatePlan,
    InvalidName,
    IssuingCA,
    KeyType,
    ServerRequest,
    Validity,
    ca_request_defaults,
    load_issuing_ca,
    normalise_dns_name,
    plan_ca,
    plan_server_certificate,
    server_request_defaults,
    split_names,
    write_created,
)
from core.hostinfo import HostInfo, host_info
from core.parse import cert_facts
from core.rootfs import RootFS
from core.trust import TrustEvaluator
from tests.certgen import NOW, make
from tests.tlsserver import TLSServer

OPENSSL = shutil.which("openssl")
Addr = namedtuple("Addr", "family address netmask broadcast ptp")

INTERFACES = {
    "lo": [
        Addr(socket.AF_INET, "127.0.0.1", "255.0.0.0", None, None),
        Addr(socket.AF_INET6, "::1", None, None, None),
        Addr(psutil.AF_LINK, "00:00:00:00:00:00", None, None, None),
    ],
    "eth0": [
        Addr(socket.AF_INET, "192.0.2.10", "255.255.255.0", None, None),
        Addr(socket.AF_INET6, "2001:db8:0:0::10", None, None, None),
        Addr(socket.AF_INET6, "fe80::1%eth0", None, None, None),
        Addr(psutil.AF_LINK, "02:00:00:00:00:01", None, None, None),
    ],
    "eth1": [Addr(socket.AF_INET, "10.1.2.3", "255.0.0.0", None, None)],
}
ALL_IPS = ("127.0.0.1", "::1", "192.0.2.10", "2001:db8::10", "fe80::1", "10.1.2.3")


@pytest.fixture
def info(monkeypatch: pytest.MonkeyPatch) -> HostInfo:
    monkeypatch.setattr(psutil, "net_if_addrs", lambda: INTERFACES)
    return host_info(hostname="web1", fqdn=lambda name: f"{name}.example.org")


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def sans(cert: x509.Certificate) -> tuple[list[str], list[str]]:
    ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return (
        ext.get_values_for_type(x509.DNSName),
        [str(ip) for ip in ext.get_values_for_type(x509.IPAddress)],
    )


def create(request: ServerRequest, folder: Path, **kwargs: Any) -> tuple[CreatePlan, Path]:
    plan = plan_server_certificate(request, destination=folder, now=NOW, **kwargs)
    result = write_created(plan)
    return plan, result.files[0].path


def test_host_info_from_psutil(info: HostInfo) -> None:
    assert info.hostname == "web1"
    assert info.fqdn == "web1.example.org"
    assert info.names == ("web1.example.org", "web1")
    assert info.ips == ALL_IPS
    kinds = {a.address: a.kind for a in info.addresses}
    assert kinds["127.0.0.1"] == "loopback"
    assert kinds["fe80::1"] == "link-local"
    assert kinds["10.1.2.3"] == "private"
    assert [a.interface for a in info.addresses if a.address == "fe80::1"] == ["eth0"]


def test_host_info_without_a_fully_qualified_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(psutil, "net_if_addrs", lambda: {})
    found = host_info(hostname="box", fqdn=lambda name: "localhost")
    assert found.names == ("box",)
    assert found.ips == ()


def test_form_defaults_hold_every_name_and_address(info: HostInfo) -> None:
    request = server_request_defaults(info)
    assert request.dns_names == ("web1.example.org", "web1")
    assert request.ip_addresses == ALL_IPS
    assert request.key_type == "ec-p256"
    assert ca_request_defaults(info).common_name == "certdeck CA web1.example.org"


def test_self_signed_server_certificate(tmp_path: Path, info: HostInfo) -> None:
    folder = tmp_path / "out"
    plan, path = create(server_request_defaults(info), folder)
    cert = load(path)
    dns, ips = sans(cert)
    assert dns == ["web1.example.org", "web1"]
    assert ips == list(ALL_IPS)
    assert cert.subject == cert.issuer
    assert cert.subject.rfc4514_string() == "CN=web1.example.org"
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert cert_facts(cert.public_bytes(serialization.Encoding.DER)).self_signed
    assert sorted(p.name for p in folder.iterdir()) == [
        "web1.example.org.crt",
        "web1.example.org.key",
    ]
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / "web1.example.org.key").stat().st_mode) == 0o600
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    key = serialization.load_pem_private_key((folder / "web1.example.org.key").read_bytes(), None)
    assert key.public_key() == cert.public_key()
    assert (
        plan.certificate.sha256 == cert_facts(cert.public_bytes(serialization.Encoding.DER)).sha256
    )
    text = "\n".join(plan.describe())
    assert "IP:192.0.2.10" in text
    assert "self-signed" in text


@pytest.mark.parametrize(
    ("key_type", "kind", "size"),
    [
        ("ec-p256", ec.EllipticCurvePublicKey, 256),
        ("ec-p384", ec.EllipticCurvePublicKey, 384),
        ("rsa-2048", rsa.RSAPublicKey, 2048),
        ("rsa-3072", rsa.RSAPublicKey, 3072),
        ("rsa-4096", rsa.RSAPublicKey, 4096),
    ],
)
def test_key_types(tmp_path: Path, key_type: KeyType, kind: type, size: int) -> None:
    assert key_type in KEY_TYPES
    _, path = create(ServerRequest(("k.example",), (), key_type=key_type), tmp_path)
    key = load(path).public_key()
    assert isinstance(key, kind)
    assert isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey)
    assert key.key_size == size
    usage = load(path).extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_encipherment == (kind is rsa.RSAPublicKey)


@pytest.mark.parametrize(
    ("validity", "days"), [("90d", 90), ("1y", 365), ("2y", 730), ("10y", 3652)]
)
def test_validity_presets(tmp_path: Path, validity: Validity, days: int) -> None:
    _, path = create(ServerRequest(("v.example",), (), validity=validity), tmp_path)
    cert = load(path)
    assert cert.not_valid_before_utc == NOW - timedelta(hours=1)
    assert cert.not_valid_after_utc == NOW + timedelta(days=days)


def test_no_well_defined_expiration(tmp_path: Path) -> None:
    plan, path = create(ServerRequest(("forever.example",), (), validity="forever"), tmp_path)
    cert = load(path)
    assert cert.not_valid_after_utc == datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC) == FOREVER
    # RFC 5280 §4.1.2.5: GeneralizedTime 99991231235959Z (tag 0x18, 15 bytes).
    assert b"\x18\x0f99991231235959Z" in cert.tbs_certificate_bytes
    assert any("825 days" in w for w in plan.warnings)
    assert "no well-defined expiration" in "\n".join(plan.describe())


def test_ips_as_dns_and_extra_names(tmp_path: Path) -> None:
    dns, ips = split_names(["extra.example, 198.51.100.7", "[2001:db8::7] Bücher.example"])
    assert dns == ("extra.example", "xn--bcher-kva.example")
    assert ips == ("198.51.100.7", "2001:db8::7")
    _, path = create(ServerRequest(dns, ips, ips_as_dns=True), tmp_path)
    names, addresses = sans(load(path))
    assert names == ["extra.example", "xn--bcher-kva.example", "198.51.100.7", "2001:db8::7"]
    assert addresses == ["198.51.100.7", "2001:db8::7"]


def test_only_addresses(tmp_path: Path) -> None:
    _, path = create(ServerRequest((), ("192.0.2.1",)), tmp_path)
    cert = load(path)
    assert cert.subject.rfc4514_string() == "CN=192.0.2.1"
    assert sans(cert) == ([], ["192.0.2.1"])


def test_wildcard_is_accepted_with_the_warning(tmp_path: Path) -> None:
    plan, path = create(ServerRequest(("*.Example.org", "example.org"), ()), tmp_path)
    assert sans(load(path))[0] == ["*.example.org", "example.org"]
    assert [f.code for f in plan.findings] == ["wildcard"]
    assert any("wildcard name *.example.org" in w for w in plan.warnings)
    assert path.name == "star.example.org.crt"


@pytest.mark.parametrize(
    "name", ["", "under_score.example", "a.*.example", "w*.example", "*.org", "-x.example", "a b"]
)
def test_invalid_names(name: str) -> None:
    with pytest.raises(InvalidName):
        normalise_dns_name(name)


def test_no_names_at_all(tmp_path: Path) -> None:
    with pytest.raises(InvalidName, match="at least one"):
        plan_server_certificate(ServerRequest((), ()), destination=tmp_path, now=NOW)
    with pytest.raises(InvalidName, match="not an IP address"):
        plan_server_certificate(
            ServerRequest(("a.example",), ("1.2.3",)), destination=tmp_path, now=NOW
        )


def make_ca(
    folder: Path, password: bytes | None = None, validity: Validity = "10y"
) -> tuple[Path, Path]:
    plan = plan_ca(
        CARequest("Test Local CA", organization="Example", validity=validity),
        destination=folder,
        now=NOW,
        key_password=password,
    )
    written = write_created(plan)
    return written.files[0].path, written.files[1].path


def issuing(cert: Path, key: Path, password: bytes | None = None) -> IssuingCA:
    return load_issuing_ca(cert.read_bytes(), key.read_bytes(), now=NOW, password=password)


def test_local_ca(tmp_path: Path) -> None:
    cert_path, key_path = make_ca(tmp_path / "ca")
    cert = load(cert_path)
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert constraints.ca
    assert constraints.path_length == 0
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert cert.subject.rfc4514_string() == "CN=Test Local CA,O=Example"


def test_ca_issued_certificate_chains_to_the_ca(tmp_path: Path, info: HostInfo) -> None:
    ca_cert, ca_key = make_ca(tmp_path / "ca")
    out = tmp_path / "out"
    plan, path = create(server_request_defaults(info), out, issuer=issuing(ca_cert, ca_key))
    assert sorted(p.name for p in out.iterdir()) == [
        "web1.example.org-chain.pem",
        "web1.example.org.crt",
        "web1.example.org.key",
    ]
    assert (out / "web1.example.org-chain.pem").read_bytes() == ca_cert.read_bytes()
    leaf = cert_facts(load(path).public_bytes(serialization.Encoding.DER))
    ca = cert_facts(load(ca_cert).public_bytes(serialization.Encoding.DER))
    verdict = TrustEvaluator([leaf, ca], {ca.sha256}, now=NOW).verdict(leaf.sha256)
    assert verdict.trusted
    assert verdict.chain == (leaf.sha256, ca.sha256)
    assert leaf.authority_key_id == ca.subject_key_id
    assert plan.issuer == "CN=Test Local CA,O=Example"


def test_intermediate_ca_gets_a_full_chain_file(tmp_path: Path) -> None:
    root = make("Top Root", ca=True, days=3650, serial=1)
    inter = make("Sub CA", ca=True, issuer=root, days=3000, serial=2)
    issuer = load_issuing_ca(inter.pem + root.pem, inter.key_pem, now=NOW)
    create(ServerRequest(("svc.example",), ()), tmp_path, issuer=issuer)
    full = x509.load_pem_x509_certificates((tmp_path / "svc.example-fullchain.pem").read_bytes())
    assert [c.subject.rfc4514_string() for c in full] == ["CN=svc.example", "CN=Sub CA"]
    chain = x509.load_pem_x509_certificates((tmp_path / "svc.example-chain.pem").read_bytes())
    assert [c.subject.rfc4514_string() for c in chain] == ["CN=Sub CA", "CN=Top Root"]


def test_existing_files_are_never_replaced(tmp_path: Path) -> None:
    (tmp_path / "keep.example.key").write_bytes(b"old key")
    plan = plan_server_certificate(
        ServerRequest(("keep.example",), ()), destination=tmp_path, now=NOW
    )
    assert [f.path.name for f in plan.files] == ["keep.example-1.crt", "keep.example-1.key"]
    assert "already exists" in "\n".join(plan.describe())
    # A name taken between the preview and the write is not replaced either.
    (tmp_path / "keep.example-1.key").write_bytes(b"raced")
    written = write_created(plan)
    assert (tmp_path / "keep.example.key").read_bytes() == b"old key"
    assert (tmp_path / "keep.example-1.key").read_bytes() == b"raced"
    assert [f.path.name for f in written.files] == ["keep.example-1.crt", "keep.example-2.key"]
    assert stat.S_IMODE((tmp_path / "keep.example-2.key").stat().st_mode) == 0o600


def test_paths_are_shown_under_the_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    folder = root / "etc/ssl/certdeck"
    plan = plan_server_certificate(
        ServerRequest(("a.example",), ()), destination=folder, now=NOW, root=RootFS(root)
    )
    assert plan.files[0].shown == "/etc/ssl/certdeck/a.example.crt"
    assert plan.create_destination


def test_encrypted_keys_and_loading_the_ca(tmp_path: Path) -> None:
    cert_path, key_path = make_ca(tmp_path, password=b"s3cret")
    assert b"ENCRYPTED PRIVATE KEY" in key_path.read_bytes()
    with pytest.raises(CALoadError, match="encrypted") as locked:
        issuing(cert_path, key_path)
    assert locked.value.title == "Password needed"
    with pytest.raises(CALoadError, match="does not open") as wrong:
        issuing(cert_path, key_path, b"nope")
    assert wrong.value.title == "Wrong password"
    assert issuing(cert_path, key_path, b"s3cret").facts.is_ca


def test_unusable_cas(tmp_path: Path) -> None:
    ca_cert, _ = make_ca(tmp_path / "a")
    _, other_key = make_ca(tmp_path / "b")
    with pytest.raises(CALoadError, match="does not belong"):
        issuing(ca_cert, other_key)
    leaf = make("leaf.example", sans=("leaf.example",))
    with pytest.raises(CALoadError, match="not a CA"):
        load_issuing_ca(leaf.pem, leaf.key_pem, now=NOW)
    with pytest.raises(CALoadError, match="not valid now"):
        load_issuing_ca(
            ca_cert.read_bytes(),
            (tmp_path / "a/Test_Local_CA.key").read_bytes(),
            now=NOW + timedelta(days=4000),
        )


def test_outliving_the_ca_is_a_warning(tmp_path: Path) -> None:
    ca_cert, ca_key = make_ca(tmp_path / "ca", validity="1y")
    plan = plan_server_certificate(
        ServerRequest(("long.example",), (), validity="2y"),
        destination=tmp_path / "out",
        now=NOW,
        issuer=issuing(ca_cert, ca_key),
    )
    assert any("outlives its CA" in w for w in plan.warnings)


def handshake(port: int, ca_file: Path, name: str) -> None:
    context = ssl.create_default_context(cafile=str(ca_file))
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as sock,
        context.wrap_socket(sock, server_hostname=name) as tls,
    ):
        assert tls.version() in ("TLSv1.2", "TLSv1.3")


def test_created_certificate_works_in_real_handshakes(tmp_path: Path, info: HostInfo) -> None:
    """Every name and address validates for TLS against the CA (Python's ssl, OpenSSL)."""
    # The clients check the validity against the real clock.
    now = datetime.now(UTC)
    ca_plan = plan_ca(CARequest("Handshake CA"), destination=tmp_path / "ca", now=now)
    ca_files = write_created(ca_plan).files
    ca_cert, ca_key = ca_files[0].path, ca_files[1].path
    issuer = load_issuing_ca(ca_cert.read_bytes(), ca_key.read_bytes(), now=now)
    defaults = server_request_defaults(info)
    request = ServerRequest(defaults.dns_names, defaults.ip_addresses, validity="forever")
    out = tmp_path / "out"
    plan = plan_server_certificate(request, destination=out, now=now, issuer=issuer)
    path = write_created(plan).files[0].path
    names = [*request.dns_names, *request.ip_addresses]
    key = (out / "web1.example.org.key").read_bytes()
    with TLSServer(tmp_path / "srv", path.read_bytes(), key) as server:
        for name in names:
            handshake(server.port, ca_cert, name)
        with pytest.raises(ssl.SSLCertVerificationError):
            handshake(server.port, ca_cert, "other.example.org")
    if OPENSSL is None:
        return
    for name in names:
        flag = "-verify_ip" if _is_ip(name) else "-verify_hostname"
        done = subprocess.run(
            [
                OPENSSL,
                "verify",
                "-CAfile",
                str(ca_cert),
                "-purpose",
                "sslserver",
                flag,
                name,
                str(path),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.strip().endswith(": OK")
    shown = subprocess.run(
        [OPENSSL, "x509", "-in", str(path), "-noout", "-enddate"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert shown.stdout.strip() == "notAfter=Dec 31 23:59:59 9999 GMT"


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
