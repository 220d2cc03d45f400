"""A test CA with CRLs and OCSP answers, and a real HTTP server on 127.0.0.1 serving them.

The server logs every request exactly as received (an absolute URL when it was reached as a
proxy) and keeps hanging and trickling handlers from blocking its shutdown.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID

from core.model import CertificateRecord, Location
from core.parse import cert_facts
from tests.certgen import NOW, Made, ec_key, name

# -- certificates, CRLs and OCSP answers -------------------------------------------------


def issue(
    cn: str,
    *,
    issuer: Made | None,
    key: ec.EllipticCurvePrivateKey,
    serial: int,
    ca: bool = False,
    crl: Sequence[str] = (),
    ocsp_urls: Sequence[str] = (),
    ca_issuers: Sequence[str] = (),
    ocsp_signing: bool = False,
    subject: x509.Name | None = None,
) -> Made:
    """A certificate valid around NOW with the given CRL and AIA URLs (self-signed without
    an issuer)."""
    subj = subject or name(cn)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subj)
        .issuer_name(issuer.cert.subject if issuer else subj)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(NOW - timedelta(days=30))
        .not_valid_after(NOW + timedelta(days=335))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if crl:
        point = x509.DistributionPoint(
            [x509.UniformResourceIdentifier(u) for u in crl], None, None, None
        )
        builder = builder.add_extension(x509.CRLDistributionPoints([point]), critical=False)
    access = [
        x509.AccessDescription(
            AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(u)
        )
        for u in ocsp_urls
    ] + [
        x509.AccessDescription(
            AuthorityInformationAccessOID.CA_ISSUERS, x509.UniformResourceIdentifier(u)
        )
        for u in ca_issuers
    ]
    if access:
        builder = builder.add_extension(x509.AuthorityInformationAccess(access), critical=False)
    if ocsp_signing:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), critical=False
        )
    signer = issuer.key if issuer else key
    assert isinstance(signer, ec.EllipticCurvePrivateKey)
    return Made(builder.sign(signer, hashes.SHA256()), key)


def record(made: Made, *, trust_anchor: bool = False) -> CertificateRecord:
    """The inventory record of a test certificate."""
    facts = cert_facts(made.der)
    location = Location("test", f"/etc/ssl/{made.sha256[:8]}.pem", 0, "pem")
    return CertificateRecord(facts, (location,), trust_anchor=trust_anchor)


@dataclass(frozen=True)
class Revoked:
    """A CRL entry: when and why."""

    serial: int
    when: datetime
    reason: x509.ReasonFlags | None = None


def make_crl(
    issuer: Made,
    revoked: Sequence[Revoked] = (),
    *,
    this_update: datetime | None = None,
    next_update: datetime | None = None,
    signer: ec.EllipticCurvePrivateKey | None = None,
) -> x509.CertificateRevocationList:
    """A CRL by ``issuer`` (signed with ``signer`` instead when given), fresh around NOW."""
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.cert.subject)
        .last_update(this_update or NOW - timedelta(days=1))
        .next_update(next_update or NOW + timedelta(days=7))
    )
    for entry in revoked:
        extensions: list[x509.Extension[x509.ExtensionType]] = []
        if entry.reason is not None:
            reason = x509.CRLReason(entry.reason)
            extensions.append(x509.Extension(reason.oid, False, reason))
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder(entry.serial, entry.when, extensions).build()
        )
    key = signer or issuer.key
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return builder.sign(key, hashes.SHA256())


def der(crl: x509.CertificateRevocationList) -> bytes:
    return crl.public_bytes(serialization.Encoding.DER)


def pem(crl: x509.CertificateRevocationList) -> bytes:
    return crl.public_bytes(serialization.Encoding.PEM)


@dataclass(frozen=True)
class Answer:
    """What an OCSP responder says about one serial."""

    status: ocsp.OCSPCertStatus
    revoked_at: datetime | None = None
    reason: x509.ReasonFlags | None = None


GOOD = Answer(ocsp.OCSPCertStatus.GOOD)
UNKNOWN = Answer(ocsp.OCSPCertStatus.UNKNOWN)


@dataclass
class Responder:
    """An OCSP responder for one issuer: answers per serial, signed by ``signer``."""

    signer: Made
    answers: dict[int, Answer]
    include_signer: bool = False
    """Send the signer's certificate along (a delegated responder must)."""
    this_update: datetime = NOW - timedelta(hours=1)
    next_update: datetime | None = NOW + timedelta(days=1)
    serial_shift: int = 0
    """Answer about another serial than the one asked for (a broken responder)."""
    foreign_issuer: bool = False
    """Answer under another issuer's key hash (a broken responder)."""
    requests: list[ocsp.OCSPRequest] = field(default_factory=list)

    def answer(self, body: bytes) -> bytes:
        """The DER response to a DER request (UNKNOWN for serials it was not told about)."""
        req = ocsp.load_der_ocsp_request(body)
        self.requests.append(req)
        said = self.answers.get(req.serial_number, UNKNOWN)
        key_hash = bytes(20) if self.foreign_issuer else req.issuer_key_hash
        builder = (
            ocsp.OCSPResponseBuilder()
            .add_response_by_hash(
                req.issuer_name_hash,
                key_hash,
                req.serial_number + self.serial_shift,
                req.hash_algorithm,
                said.status,
                self.this_update,
                self.next_update,
                said.revoked_at,
                said.reason if said.revoked_at else None,
            )
            .responder_id(ocsp.OCSPResponderEncoding.HASH, self.signer.cert)
        )
        if self.include_signer:
            builder = builder.certificates([self.signer.cert])
        key = self.signer.key
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


# -- the server --------------------------------------------------------------------------


@dataclass(frozen=True)
class Logged:
    """One request as the server received it."""

    method: str
    target: str
    """The request target: ``/ca.crl``, or ``http://host/ca.crl`` through a proxy."""
    content_type: str | None


Route = Callable[["_Handler"], None]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        owner = self.server.owner
        owner.log(Logged(self.command, self.path, self.headers.get("Content-Type")))
        route = owner.routes.get(urlsplit(self.path).path)
        if route is None:
            self.send_error(404, "Not Found")
            return
        with contextlib.suppress(OSError):
            route(self)

    def body(self) -> bytes:
        """The request body (by Content-Length)."""
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length)

    def reply(self, body: bytes, content_type: str = "application/octet-stream") -> None:
        """A complete 200 answer."""
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test reads :attr:`RevocationServer.requests` instead."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog of 5 drops connections when the checker opens eight at
    # once, and the client's SYN retry then takes a whole second.
    request_queue_size = 64
    owner: RevocationServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away (timed out) is expected here; no traceback."""


class RevocationServer:
    """An HTTP server on 127.0.0.1 (ephemeral port) serving routes by path.

    Use as a context manager.  ``requests`` lists every request received, in order.
    """

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[Logged] = []
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        self.port = int(self._httpd.server_address[1])
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        self._httpd.serve_forever(poll_interval=0.05)  # a quick shutdown keeps tests fast

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    def url(self, path: str) -> str:
        """The URL of a path on this server."""
        return f"http://127.0.0.1:{self.port}{path}"

    def log(self, entry: Logged) -> None:
        with self._lock:
            self.requests.append(entry)

    def count(self, path: str) -> int:
        """How many requests asked for this path (however the target was written)."""
        with self._lock:
            return sum(1 for r in self.requests if urlsplit(r.target).path == path)

    def __enter__(self) -> RevocationServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stopping.set()  # releases hanging and trickling handlers
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=10)

    # routes

    def static(self, path: str, body: bytes, content_type: str = "application/pkix-crl") -> str:
        """Serve fixed bytes; returns the URL."""
        self.routes[path] = lambda h: h.reply(body, content_type)
        return self.url(path)

    def ocsp(self, path: str, responder: Responder) -> str:
        """An OCSP responder that accepts only POSTed ``application/ocsp-request``."""

        def route(h: _Handler) -> None:
            if h.command != "POST" or h.headers.get("Content-Type") != "application/ocsp-request":
                h.send_error(415, "Unsupported Media Type")
                return
            h.reply(responder.answer(h.body()), "application/ocsp-response")

        self.routes[path] = route
        return self.url(path)

    def hang(self, path: str, seconds: float = 30.0) -> str:
        """Accept the request and answer nothing until ``seconds`` pass or the server stops."""

        def route(h: _Handler) -> None:
            self.stopping.wait(seconds)

        self.routes[path] = route
        return self.url(path)

    def trickle(self, path: str, size: int = 40, interval: float = 0.05) -> str:
        """Announce ``size`` bytes, then send one byte per ``interval`` (never silent long
        enough for a socket timeout)."""

        def route(h: _Handler) -> None:
            h.send_response(200)
            h.send_header("Content-Length", str(size))
            h.end_headers()
            h.wfile.flush()
            for _ in range(size):
                if self.stopping.wait(interval):
                    return
                h.wfile.write(b"\0")
                h.wfile.flush()

        self.routes[path] = route
        return self.url(path)


# -- a PKI to check ----------------------------------------------------------------------


class TestPKI:
    """A root CA (a trust anchor), an intermediate, a delegated OCSP responder and a rogue
    certificate that copies the root's name with another key."""

    __test__ = False  # not a test class, despite the name

    def __init__(self) -> None:
        self.root = issue("Revocation Test Root", issuer=None, key=ec_key(701), serial=1, ca=True)
        self.other_key = ec_key(702)
        self.rogue = issue(
            "Revocation Test Root",
            issuer=None,
            key=self.other_key,
            serial=2,
            ca=True,
            ocsp_signing=True,
        )
        self.delegate = issue(
            "Revocation Test OCSP Responder",
            issuer=self.root,
            key=ec_key(703),
            serial=3,
            ocsp_signing=True,
        )
        self._serial = 1000

    def leaf(
        self,
        cn: str,
        *,
        issuer: Made | None = None,
        crl: Sequence[str] = (),
        ocsp_urls: Sequence[str] = (),
        ca_issuers: Sequence[str] = (),
        ca: bool = False,
    ) -> Made:
        """A certificate by the root (or ``issuer``) with a fresh serial and these URLs."""
        self._serial += 1
        return issue(
            cn,
            issuer=issuer or self.root,
            key=ec_key(800 + self._serial % 100),
            serial=self._serial,
            ca=ca,
            crl=crl,
            ocsp_urls=ocsp_urls,
            ca_issuers=ca_issuers,
        )


# -- isolation ---------------------------------------------------------------------------

_PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


@dataclass
class Network:
    """What the code under test tried to reach; only ``allowed`` addresses get through."""

    allowed: set[tuple[str, int]] = field(default_factory=set)
    forbidden: list[Any] = field(default_factory=list)
    lookups: list[str] = field(default_factory=list)
    expected_lookups: set[str] = field(default_factory=set)


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


@contextlib.contextmanager
def guarded(net: Network) -> Iterator[Network]:
    """Connections to anything but ``net.allowed`` and name lookups fail while inside, and
    fail the test on leaving; the proxy variables of the machine running the tests are
    removed."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_create = socket.create_connection
    real_getaddrinfo = socket.getaddrinfo

    def check(address: Any) -> None:
        if tuple(address[:2]) not in net.allowed:
            net.forbidden.append(address)
            raise PermissionError(f"the test forbids connecting to {address}")

    def connect(self: socket.socket, address: Any) -> None:
        check(address)
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        check(address)
        return real_connect_ex(self, address)

    def create_connection(address: tuple[str, int], *args: Any, **kw: Any) -> socket.socket:
        if _is_address(address[0]):  # names are checked once resolved (getaddrinfo)
            check(address)
        return real_create(address, *args, **kw)

    def getaddrinfo(host: Any, *args: Any, **kw: Any) -> Any:
        if host != "127.0.0.1":
            net.lookups.append(str(host))
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real_getaddrinfo(host, *args, **kw)

    with pytest.MonkeyPatch.context() as mp:
        for variable in _PROXY_VARIABLES:
            mp.delenv(variable, raising=False)
            mp.delenv(variable.upper(), raising=False)
        mp.setattr(socket.socket, "connect", connect)
        mp.setattr(socket.socket, "connect_ex", connect_ex)
        mp.setattr(socket, "create_connection", create_connection)
        mp.setattr(socket, "getaddrinfo", getaddrinfo)
        yield net
    assert net.forbidden == [], f"tried to connect to {net.forbidden}"
    assert set(net.lookups) <= net.expected_lookups, f"looked up {net.lookups}"
