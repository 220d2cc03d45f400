"""Probe: real TLS servers on 127.0.0.1 serving good and broken chains; verdicts and reasons."""

from __future__ import annotations

import asyncio
import shutil
import socket
import ssl
import subprocess
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from core.errors import UsageError
from core.model import Severity
from core.parse import cert_facts
from core.probe import (
    ProbeFailed,
    ProbeResult,
    ServedChain,
    fetch_chain,
    judge,
    name_matches,
    parse_target,
    plan_save_chain,
    probe,
    write_chain,
)
from core.scan import scan
from core.settings import Settings
from tests.certgen import NOW, Made, make, write
from tests.tlsserver import serve

OPENSSL = shutil.which("openssl")


@pytest.fixture(autouse=True)
def only_loopback(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Every connection a test opens is recorded; anything but 127.0.0.1 fails the test."""
    opened: list[tuple[str, int]] = []
    real = socket.create_connection

    def guarded(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        opened.append(address)
        assert address[0] == "127.0.0.1", f"the test tried to reach {address}"
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", guarded)
    return opened


class PKI:
    """A root, an intermediate and a server certificate for localhost and 127.0.0.1."""

    def __init__(self) -> None:
        self.root = make("Probe Root CA", ca=True, days=3650, serial=1)
        self.inter = make("Probe Issuing CA", ca=True, issuer=self.root, days=1800, serial=2)
        self.leaf = make("localhost", issuer=self.inter, sans=("localhost", "127.0.0.1"), serial=3)

    def facts(self, made: Made) -> Any:
        return cert_facts(made.der)


@pytest.fixture(scope="module")
def pki() -> PKI:
    return PKI()


def served(tmp_path: Path, chain: list[Made], name: str | None = "localhost") -> ServedChain:
    with serve(tmp_path / "srv", chain) as server:
        target = parse_target(f"127.0.0.1:{server.port}", servername=name)
        return fetch_chain(target, timeout=5)


def codes(result: ProbeResult) -> set[str]:
    return {p.code for p in result.problems}


def test_good_chain_is_trusted(tmp_path: Path, pki: PKI, only_loopback: list[Any]) -> None:
    chain = served(tmp_path, [pki.leaf, pki.inter])
    assert chain.complete
    assert [cert_facts(d).sha256 for d in chain.certificates] == [pki.leaf.sha256, pki.inter.sha256]
    assert chain.protocol in ("TLSv1.2", "TLSv1.3")
    assert chain.cipher
    assert chain.cipher_bits >= 128
    result = judge(chain, anchors=[pki.facts(pki.root)], now=NOW)
    assert result.trusted
    assert result.verdict == "trusted"
    assert result.trust_chain == (pki.leaf.sha256, pki.inter.sha256, pki.root.sha256)
    assert result.name_matches
    assert not [p for p in result.problems if p.severity is not Severity.INFO]
    assert result.root_candidate() is None
    assert {address[0] for address in only_loopback} == {"127.0.0.1"}


def test_ca_not_an_anchor_is_untrusted_with_the_reason(tmp_path: Path, pki: PKI) -> None:
    chain = served(tmp_path, [pki.leaf, pki.inter, pki.root])
    result = judge(chain, anchors=[], now=NOW)
    assert not result.trusted
    assert result.verdict == "This connection is not trusted!"
    problem = next(p for p in result.problems if p.code == "unknown_issuer")
    assert "CN=Probe Root CA" in problem.message
    assert "not in this machine's trust store" in problem.message
    candidate = result.root_candidate()
    assert candidate is not None
    assert candidate.sha256 == pki.root.sha256


def test_self_signed_server(tmp_path: Path) -> None:
    own = make("selfie.test", sans=("selfie.test",))
    result = judge(served(tmp_path, [own], "selfie.test"), anchors=[], now=NOW)
    assert not result.trusted
    assert "self_signed" in codes(result)
    candidate = result.root_candidate()
    assert candidate is not None
    assert candidate.sha256 == own.sha256
    # Once the machine trusts it, it is trusted.
    assert judge(
        served(tmp_path, [own], "selfie.test"), anchors=[cert_facts(own.der)], now=NOW
    ).trusted


def test_missing_intermediate(tmp_path: Path, pki: PKI) -> None:
    chain = served(tmp_path, [pki.leaf])
    anchors = [pki.facts(pki.root)]
    unknown = judge(chain, anchors=anchors, now=NOW)
    assert not unknown.trusted
    assert "unknown_issuer" in codes(unknown)
    assert "CN=Probe Issuing CA" in next(p.message for p in unknown.problems)
    # The intermediate is on this machine: the diagnosis is sharper.
    incomplete = judge(chain, anchors=anchors, now=NOW, known=[pki.facts(pki.inter)])
    assert not incomplete.trusted
    problem = next(p for p in incomplete.problems if p.code == "incomplete_chain")
    assert "does not send the intermediate CA CN=Probe Issuing CA" in problem.message


def test_expired_certificate(tmp_path: Path, pki: PKI) -> None:
    old = make(
        "localhost",
        issuer=pki.inter,
        sans=("localhost",),
        not_before=NOW - timedelta(days=400),
        not_after=NOW - timedelta(days=5),
        serial=4,
    )
    result = judge(served(tmp_path, [old, pki.inter]), anchors=[pki.facts(pki.root)], now=NOW)
    assert not result.trusted
    assert [p.code for p in result.problems if p.severity is Severity.ERROR] == ["expired"]
    assert "expired on 2026-11-22" in result.problems[0].message


def test_name_mismatch(tmp_path: Path, pki: PKI) -> None:
    result = judge(
        served(tmp_path, [pki.leaf, pki.inter], "www.other.test"),
        anchors=[pki.facts(pki.root)],
        now=NOW,
    )
    assert not result.trusted
    assert not result.name_matches
    problem = next(p for p in result.problems if p.code == "name_mismatch")
    assert "not valid for www.other.test" in problem.message
    assert "DNS:localhost" in problem.message
    # The chain itself is fine: only the name is wrong.
    assert result.trust_chain


def test_address_is_checked_against_ip_names(tmp_path: Path, pki: PKI) -> None:
    result = judge(
        served(tmp_path, [pki.leaf, pki.inter], None), anchors=[pki.facts(pki.root)], now=NOW
    )
    assert result.target.checked_name == "127.0.0.1"
    assert result.trusted


def test_wrong_order_is_a_warning(tmp_path: Path, pki: PKI) -> None:
    result = judge(
        served(tmp_path, [pki.leaf, pki.root, pki.inter]), anchors=[pki.facts(pki.root)], now=NOW
    )
    assert result.trusted
    assert "wrong_order" in codes(result)


def test_expiring_and_old_protocol_are_warnings(pki: PKI) -> None:
    soon = make("localhost", issuer=pki.inter, sans=("localhost",), days=15, serial=5)
    chain = ServedChain(
        parse_target("localhost:443"),
        "127.0.0.1",
        "TLSv1",
        "AES128-SHA",
        128,
        (soon.der, pki.inter.der),
    )
    result = judge(chain, anchors=[pki.facts(pki.root)], now=NOW)
    assert result.trusted
    assert {"expiring", "old_tls"} <= codes(result)


def test_expired_intermediate(pki: PKI) -> None:
    old_inter = make(
        "Probe Issuing CA",
        ca=True,
        issuer=pki.root,
        key=pki.inter.key,
        not_before=NOW - timedelta(days=900),
        not_after=NOW - timedelta(days=1),
        serial=7,
    )
    chain = ServedChain(
        parse_target("localhost"), "127.0.0.1", "TLSv1.3", "X", 256, (pki.leaf.der, old_inter.der)
    )
    result = judge(chain, anchors=[pki.facts(pki.root)], now=NOW)
    assert not result.trusted
    problem = next(p for p in result.problems if p.code == "expired")
    assert "expired link in the chain" in problem.message


def test_client_certificate_served_by_a_server(pki: PKI) -> None:
    leaf = pki.leaf.cert
    builder = (
        x509.CertificateBuilder()
        .subject_name(leaf.subject)
        .issuer_name(pki.inter.cert.subject)
        .public_key(leaf.public_key())
        .serial_number(9)
        .not_valid_before(leaf.not_valid_before_utc)
        .not_valid_after(leaf.not_valid_after_utc)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    )
    client = builder.sign(pki.inter.key, hashes.SHA256())
    der = client.public_bytes(serialization.Encoding.DER)
    chain = ServedChain(
        parse_target("localhost"), "127.0.0.1", "TLSv1.3", "X", 256, (der, pki.inter.der)
    )
    result = judge(chain, anchors=[pki.facts(pki.root)], now=NOW)
    assert not result.trusted
    assert [p.code for p in result.problems if p.severity is Severity.ERROR] == ["wrong_purpose"]


def test_renewed_but_not_reloaded(tmp_path: Path, pki: PKI) -> None:
    root = tmp_path / "root"
    renewed = make(
        "localhost",
        issuer=pki.inter,
        sans=("localhost", "127.0.0.1"),
        not_before=NOW - timedelta(days=1),
        serial=6,
    )
    write(root, "/etc/ssl/site.pem", renewed.pem + pki.inter.pem)
    write(root, "/etc/ssl/site.key", renewed.key_pem, 0o600)
    write(
        root,
        "/etc/nginx/nginx.conf",
        b"http { server { listen 443 ssl; server_name localhost;\n"
        b"ssl_certificate /etc/ssl/site.pem;\nssl_certificate_key /etc/ssl/site.key; } }\n",
    )
    write(root, "/usr/local/share/ca-certificates/root.crt", pki.root.pem)
    inventory = asyncio.run(scan(root, now=NOW, settings=Settings()))
    anchors = [r.cert for r in inventory.certificates if r.trust_anchor]
    # The service still serves the certificate from before the renewal.
    stale = judge(
        served(tmp_path, [pki.leaf, pki.inter]), anchors=anchors, now=NOW, inventory=inventory
    )
    assert stale.trusted
    problem = next(p for p in stale.problems if p.code == "not_reloaded")
    assert "/etc/ssl/site.pem" in problem.message
    assert "nginx" in problem.message
    assert [d.path for d in stale.disk if d.newer] == ["/etc/ssl/site.pem"]
    # After the reload it serves what is on disk.
    fresh = judge(
        served(tmp_path, [renewed, pki.inter]), anchors=anchors, now=NOW, inventory=inventory
    )
    assert "same_as_disk" in codes(fresh)
    assert [d.same for d in fresh.disk] == [True]


def test_starttls_smtp(tmp_path: Path, pki: PKI) -> None:
    with serve(tmp_path / "srv", [pki.leaf, pki.inter], starttls="smtp") as server:
        target = parse_target(f"127.0.0.1:{server.port}", servername="localhost", starttls="smtp")
        result = probe(target, anchors=[pki.facts(pki.root)], now=NOW, timeout=5)
    assert result.trusted
    assert len(result.chain) == 2


def test_starttls_postgres(tmp_path: Path, pki: PKI) -> None:
    with serve(tmp_path / "srv", [pki.leaf, pki.inter], starttls="postgres") as server:
        target = parse_target(f"127.0.0.1:{server.port}", starttls="postgres")
        result = probe(target, anchors=[pki.facts(pki.root)], now=NOW, timeout=5)
    assert result.trusted


def test_smtp_without_starttls_is_a_clear_error(tmp_path: Path) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def talk() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.sendall(b"220 old.invalid ESMTP\r\n")
            conn.recv(100)
            conn.sendall(b"250 old.invalid\r\n")
            conn.recv(100)

    thread = threading.Thread(target=talk)
    thread.start()
    try:
        with pytest.raises(ProbeFailed, match="does not offer STARTTLS"):
            fetch_chain(parse_target(f"127.0.0.1:{port}", starttls="smtp"), timeout=5)
    finally:
        thread.join(5)
        listener.close()


def test_refused_connection(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        port = sock.getsockname()[1]
    with pytest.raises(ProbeFailed, match=r"could not connect to 127\.0\.0\.1"):
        fetch_chain(parse_target(f"127.0.0.1:{port}"), timeout=2)


def test_not_tls(tmp_path: Path) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def garbage() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n" * 20)

    thread = threading.Thread(target=garbage)
    thread.start()
    try:
        with pytest.raises(ProbeFailed, match=r"TLS handshake .* failed"):
            fetch_chain(parse_target(f"127.0.0.1:{port}"), timeout=5)
    finally:
        thread.join(5)
        listener.close()


@pytest.mark.skipif(OPENSSL is None, reason="openssl is not installed")
def test_openssl_s_server(tmp_path: Path, pki: PKI) -> None:
    assert OPENSSL is not None
    cert = write(tmp_path, "/leaf.pem", pki.leaf.pem)
    key = write(tmp_path, "/leaf.key", pki.leaf.key_pem, 0o600)
    chain = write(tmp_path, "/chain.pem", pki.inter.pem)
    with socket.create_server(("127.0.0.1", 0)) as sock:
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [
            OPENSSL, "s_server", "-quiet", "-accept", f"127.0.0.1:{port}",
            "-cert", str(cert), "-key", str(key), "-cert_chain", str(chain),
        ],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        target = parse_target(f"127.0.0.1:{port}", servername="localhost")
        result = probe(target, anchors=[pki.facts(pki.root)], now=NOW, timeout=5)
    finally:
        server.terminate()
        server.wait(10)
        assert server.stdin is not None
        server.stdin.close()
    assert result.trusted
    assert [c.sha256 for c in result.chain] == [pki.leaf.sha256, pki.inter.sha256]


def test_old_tls_server_is_reported(tmp_path: Path, pki: PKI) -> None:
    try:
        server = serve(
            tmp_path / "srv", [pki.leaf, pki.inter], maximum_version=ssl.TLSVersion.TLSv1_1
        )
    except ssl.SSLError:
        pytest.skip("this OpenSSL cannot serve TLS 1.1")
    with server:
        target = parse_target(f"127.0.0.1:{server.port}", servername="localhost")
        try:
            result = probe(target, anchors=[pki.facts(pki.root)], now=NOW, timeout=5)
        except ProbeFailed:
            pytest.skip("this OpenSSL refuses TLS 1.1 altogether")
    assert result.protocol == "TLSv1.1"
    assert "old_tls" in codes(result)


def test_save_chain(tmp_path: Path, pki: PKI) -> None:
    result = judge(served(tmp_path, [pki.leaf, pki.inter]), anchors=[], now=NOW)
    folder = tmp_path / "out"
    (folder).mkdir()
    (folder / "localhost-chain.pem").write_bytes(b"keep me")
    plan = plan_save_chain(result, destination=folder)
    assert plan.file.path.name == "localhost-chain-1.pem"
    written = write_chain(plan)
    assert (folder / "localhost-chain.pem").read_bytes() == b"keep me"
    saved = x509.load_pem_x509_certificates(written.path.read_bytes())
    assert [c.fingerprint(hashes.SHA256()).hex() for c in saved] == [
        pki.leaf.sha256,
        pki.inter.sha256,
    ]


@pytest.mark.parametrize(
    ("text", "host", "port", "sni"),
    [
        ("example.org", "example.org", 443, "example.org"),
        ("example.org:8443", "example.org", 8443, "example.org"),
        ("192.0.2.1:993", "192.0.2.1", 993, None),
        ("[2001:db8::1]:8443", "2001:db8::1", 8443, None),
        ("2001:db8::1", "2001:db8::1", 443, None),
    ],
)
def test_parse_target(text: str, host: str, port: int, sni: str | None) -> None:
    target = parse_target(text)
    assert (target.host, target.port, target.sni) == (host, port, sni)


def test_parse_target_defaults_and_errors() -> None:
    assert parse_target("mail.example.org", starttls="smtp").port == 25
    assert parse_target("db", starttls="postgres").port == 5432
    assert parse_target("10.0.0.1", servername="db.example.org").sni == "db.example.org"
    for bad in ("", "host:0", "host:http", "[::1", "a b"):
        with pytest.raises(UsageError):
            parse_target(bad)


def test_name_matching() -> None:
    names = ("DNS:*.example.org", "DNS:example.org", "IP:192.0.2.1", "DNS:10.0.0.1")
    assert name_matches(names, "www.example.org")
    assert name_matches(names, "EXAMPLE.org.")
    assert not name_matches(names, "a.b.example.org")  # one label only
    assert not name_matches(names, "example.com")
    assert name_matches(names, "192.0.2.1")
    assert not name_matches(names, "10.0.0.1")  # addresses match IP entries only
