"""Revocation checking: CRLs and OCSP, online and from local CRL files.

A certificate can be withdrawn before it expires; its issuer then lists it in a certificate
revocation list (CRL) or answers "revoked" through an OCSP responder.  This module finds out,
for the certificates it is given, what those sources say.

Pure inside, I/O at the edge:

- :func:`revocation_sources` reads the CRL distribution points and the authority information
  access (OCSP responders, CA-issuer certificates) from a certificate's DER.
- :func:`local_crl_checks` applies CRL files found on the machine, with no network.
- :func:`check_revocation` is the only part that opens connections, and only when called: it
  fetches every distinct URL once, with bounded concurrency, a per-request timeout and a total
  time limit, and judges the answers with the same pure functions.  The blocking HTTP runs in
  threads through a :data:`Fetch` callable; :func:`http_fetch` is the default and honours the
  usual ``http_proxy``/``https_proxy``/``no_proxy`` variables (urllib's proxy handler).

URLs come from certificates and are hostile: only ``http`` and ``https`` URLs of bounded length
and printable ASCII are fetched; everything shown passes through :func:`core.text.visible`.
The module never reads the clock: the check time is the ``now`` passed in (latencies are
measured with a monotonic clock).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import http.client
import re
import socket
import ssl
import threading
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeAlias, TypeVar
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPublicKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509 import ocsp
from cryptography.x509.base import InvalidVersion
from cryptography.x509.oid import (
    AuthorityInformationAccessOID,
    ExtendedKeyUsageOID,
    SignatureAlgorithmOID,
)

from core import __version__
from core.findings import SEVERITY, relative_time, sort_findings
from core.model import CertificateRecord, CrlFile, Finding, Inventory, Unreadable
from core.parse import error_reason, signed_by
from core.report import iso
from core.text import visible

__all__ = [
    "CRL_MAX_BYTES",
    "REVOCATION_CODES",
    "SMALL_MAX_BYTES",
    "CertRevocation",
    "CrlFileCheck",
    "Fetch",
    "HttpRequest",
    "HttpResponse",
    "RevocationReport",
    "RevocationSources",
    "SourceCheck",
    "SourceKind",
    "SourceUrl",
    "Status",
    "UrlFetch",
    "Verdict",
    "apply_local_crls",
    "check_revocation",
    "http_fetch",
    "local_crl_checks",
    "read_crl_files",
    "report_json",
    "revocation_sources",
    "with_revocation_findings",
]

SourceKind: TypeAlias = Literal["crl", "ocsp", "ca_issuers", "crl-file"]
"""Where a verdict comes from: a CRL URL, an OCSP responder, a CA-issuer URL, a local file."""

Verdict: TypeAlias = Literal[
    "good",
    "revoked",
    "unknown",
    "stale",
    "invalid",
    "failed",
    "not_checked",
    "found",
    "not_needed",
]
"""What one source said about one certificate.

``good``/``revoked``/``unknown``: a verified answer.  ``stale``: a verified CRL that does not
list the certificate but is past its next update.  ``invalid``: an answer that cannot be
trusted (bad signature, another issuer, not parseable …).  ``failed``: the fetch failed.
``not_checked``: not attempted (unsupported URL, time limit, no issuer certificate).
``found``/``not_needed``: for CA-issuer URLs, whether the issuer certificate came from there.
"""

Status: TypeAlias = Literal["good", "revoked", "unknown", "unreachable", "no_sources", "skipped"]
"""A certificate's overall revocation status."""

REVOCATION_CODES = frozenset({"revoked", "revocation_unreachable", "crl_stale"})
"""The finding codes this module owns (replaced as a whole by :func:`with_revocation_findings`)."""

CRL_MAX_BYTES = 32 * 1024 * 1024
"""The largest CRL downloaded; the biggest public CRLs are a few MiB."""
SMALL_MAX_BYTES = 1024 * 1024
"""The largest OCSP answer or issuer certificate downloaded."""

_T = TypeVar("_T")
_UNREADABLE = (
    ValueError,
    TypeError,
    UnsupportedAlgorithm,
    x509.UnsupportedGeneralNameType,
    x509.DuplicateExtension,
)
"""What cryptography raises for parts of a certificate it loaded but cannot read."""
_MAX_URL = 2048
_MAX_URLS_PER_KIND = 8  # a hostile certificate could list thousands
_MAX_REDIRECTS = 4
_SKEW = timedelta(minutes=5)  # clocks of responders and of this machine differ a little
_CHUNK = 65536
_KIND_ORDER: dict[str, int] = {"crl-file": 0, "crl": 1, "ocsp": 2, "ca_issuers": 3}
_REVOCATION_KINDS = frozenset({"crl", "ocsp", "crl-file"})
_ANSWERS = frozenset({"good", "revoked", "unknown", "stale"})
"""Verdicts that say something about the certificate (the others: no usable answer)."""
_PEM_CRL = re.compile(rb"-----BEGIN X509 CRL-----.+?-----END X509 CRL-----", re.DOTALL)
_NOT_SUPPORTED_NAME = "not checked: only URL distribution points are supported"
_BAD_REDIRECT = "the redirect was not followed (too many, or not to an http or https URL)"

# -- sources -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SourceUrl:
    """One URL named by a certificate."""

    kind: SourceKind
    url: str
    """Printable; shortened when overlong (then ``problem`` says so)."""
    problem: str | None = None
    """Why it is not fetched (``not checked: ldap URLs are not supported``); None: fetchable."""


@dataclass(frozen=True, slots=True)
class RevocationSources:
    """The revocation information a certificate carries."""

    urls: tuple[SourceUrl, ...] = ()

    def of(self, kind: SourceKind) -> tuple[SourceUrl, ...]:
        """The URLs of one kind, in the certificate's order."""
        return tuple(u for u in self.urls if u.kind == kind)

    @property
    def has_revocation_sources(self) -> bool:
        """Whether it names a CRL or an OCSP responder (CA-issuer URLs alone do not count)."""
        return any(u.kind in _REVOCATION_KINDS for u in self.urls)


def _url_problem(url: str) -> str | None:
    """Why a URL from a certificate must not be fetched, or None when it may."""
    if len(url) > _MAX_URL:
        return f"not checked: the URL is longer than {_MAX_URL} characters"
    if not url.isascii() or any(c.isspace() or not c.isprintable() for c in url):
        return "not checked: the URL holds characters no URL can hold"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError for a bad port
    except ValueError:
        return "not checked: not a valid URL"
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        label = scheme[:20] if scheme else "relative"
        return f"not checked: {label} URLs are not supported"
    if not parts.hostname:
        return "not checked: the URL names no host"
    return None


def _source_url(kind: SourceKind, url: str) -> SourceUrl:
    shown = visible(url[:200]) + "…" if len(url) > _MAX_URL else visible(url)
    return SourceUrl(kind, shown, _url_problem(url))


def _crl_urls(cert: x509.Certificate) -> list[SourceUrl]:
    try:
        points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    except x509.ExtensionNotFound:
        return []
    except _UNREADABLE:
        return [SourceUrl("crl", "(unreadable extension)", "not checked: malformed extension")]
    out: list[SourceUrl] = []
    for point in points:
        names = point.full_name or []
        uris = [n.value for n in names if isinstance(n, x509.UniformResourceIdentifier)]
        if not uris and (names or point.relative_name is not None):
            out.append(SourceUrl("crl", "(directory name)", _NOT_SUPPORTED_NAME))
        out.extend(_source_url("crl", u) for u in uris)
    return out


def _aia_urls(cert: x509.Certificate) -> list[SourceUrl]:
    try:
        access = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except x509.ExtensionNotFound:
        return []
    except _UNREADABLE:
        return [SourceUrl("ocsp", "(unreadable extension)", "not checked: malformed extension")]
    out: list[SourceUrl] = []
    for desc in access:
        if not isinstance(desc.access_location, x509.UniformResourceIdentifier):
            continue
        if desc.access_method == AuthorityInformationAccessOID.OCSP:
            out.append(_source_url("ocsp", desc.access_location.value))
        elif desc.access_method == AuthorityInformationAccessOID.CA_ISSUERS:
            out.append(_source_url("ca_issuers", desc.access_location.value))
    return out


def _sources_of(cert: x509.Certificate) -> RevocationSources:
    found = _crl_urls(cert) + _aia_urls(cert)
    kept: list[SourceUrl] = []
    seen: set[tuple[str, str]] = set()
    count: dict[str, int] = {}
    for u in found:
        if (u.kind, u.url) in seen or count.get(u.kind, 0) >= _MAX_URLS_PER_KIND:
            continue
        seen.add((u.kind, u.url))
        count[u.kind] = count.get(u.kind, 0) + 1
        kept.append(u)
    return RevocationSources(tuple(kept))


def revocation_sources(der: bytes) -> RevocationSources:
    """The CRL, OCSP and CA-issuer URLs of a DER certificate (duplicates removed).

    At most eight URLs of each kind are kept.  Raises ValueError when the DER is not a
    certificate.
    """
    return _sources_of(x509.load_der_x509_certificate(der))


# -- fetching ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """One HTTP request of a revocation check: a GET, or a POST when ``body`` is given."""

    url: str
    max_bytes: int
    timeout: float
    """Seconds for the whole exchange, however slowly the server sends."""
    body: bytes | None = None
    content_type: str | None = None
    accept: str = "*/*"


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """What a fetch gave: the body, or the reason in words why there is none."""

    status: int | None
    body: bytes = b""
    error: str | None = None
    """``timed out after 5 s``, ``connection refused``, ``HTTP 404 Not Found`` …"""


Fetch: TypeAlias = Callable[[HttpRequest], HttpResponse]
"""A blocking fetch, run in a worker thread; failures are returned as ``error``, not raised."""


class _Watch:
    """The sockets of one request, shut down when the request's time is up.

    A server that trickles bytes never trips a socket timeout (every read returns something),
    so a timer shuts the connection down instead, which wakes the blocked read.  A duplicate
    descriptor is kept because wrapping a socket in TLS detaches the original object.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._dups: list[socket.socket] = []
        self.expired = False

    def connect(
        self,
        address: tuple[str, int],
        timeout: float | None = None,
        source_address: tuple[str, int] | None = None,
    ) -> socket.socket:
        """``socket.create_connection``, remembering the new socket."""
        sock = socket.create_connection(address, timeout, source_address)
        dup = sock.dup()
        with self._lock:
            self._dups.append(dup)
            if self.expired:
                _shutdown(dup)
        return sock

    def expire(self) -> None:
        """Mark the request as out of time and cut its connections."""
        with self._lock:
            self.expired = True
            for dup in self._dups:
                _shutdown(dup)

    def close(self) -> None:
        """Release the duplicate descriptors."""
        with self._lock:
            for dup in self._dups:
                dup.close()
            self._dups.clear()


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


class _HTTPConnection(http.client.HTTPConnection):
    """An HTTP connection whose socket the request's :class:`_Watch` can cut."""

    def __init__(self, host: str, *args: Any, watch: _Watch | None = None, **kw: Any) -> None:
        super().__init__(host, *args, **kw)
        if watch is not None:
            self._create_connection = watch.connect


class _HTTPSConnection(http.client.HTTPSConnection):
    """An HTTPS connection whose socket the request's :class:`_Watch` can cut."""

    def __init__(self, host: str, *args: Any, watch: _Watch | None = None, **kw: Any) -> None:
        super().__init__(host, *args, **kw)
        if watch is not None:
            self._create_connection = watch.connect


class _HTTPHandler(urllib.request.HTTPHandler):
    """Opens http URLs with a :class:`_HTTPConnection`."""

    def __init__(self, watch: _Watch) -> None:
        super().__init__()
        self._watch = watch

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_HTTPConnection, req, watch=self._watch)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    """Opens https URLs with a :class:`_HTTPSConnection` that verifies the server."""

    def __init__(self, watch: _Watch) -> None:
        super().__init__()
        self._watch = watch

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_HTTPSConnection, req, context=_tls_context(), watch=self._watch)


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One verifying client context (loading the system CAs for every request is slow)."""
    return ssl.create_default_context()


class _RedirectHandler(urllib.request.HTTPRedirectHandler):
    """Follows a few redirects, to http and https URLs only (never ftp or file)."""

    max_redirections = _MAX_REDIRECTS

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: Any,
        code: int,
        msg: str,
        headers: Any,
        newurl: str,
    ) -> urllib.request.Request | None:
        if _url_problem(newurl) is not None:
            raise urllib.error.URLError(_BAD_REDIRECT)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _opener(watch: _Watch) -> urllib.request.OpenerDirector:
    """An opener for http and https only, with proxies from the environment."""
    opener = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.ProxyHandler(),
        urllib.request.UnknownHandler(),
        _HTTPHandler(watch),
        _HTTPSHandler(watch),
        urllib.request.HTTPDefaultErrorHandler(),
        _RedirectHandler(),
        urllib.request.HTTPErrorProcessor(),
    ):
        opener.add_handler(handler)
    return opener


def _size(n: int) -> str:
    if n % (1024 * 1024) == 0:
        return f"{n // (1024 * 1024)} MiB"
    if n % 1024 == 0:
        return f"{n // 1024} KiB"
    return f"{n} bytes"


def _timed_out(timeout: float) -> str:
    return f"timed out after {timeout:g} s"


def _describe(exc: BaseException, timeout: float) -> str:
    """A failed request's reason in a sysadmin's words."""
    reason: object = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, socket.gaierror):
        return "DNS failure: the host name does not resolve"
    if isinstance(reason, TimeoutError):
        return _timed_out(timeout)
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, http.client.RemoteDisconnected):
        return "the server closed the connection without answering"
    if isinstance(reason, ConnectionResetError):
        return "the connection was reset"
    if isinstance(reason, ssl.SSLCertVerificationError):
        return f"the server's TLS certificate is not trusted ({reason.verify_message})"
    if isinstance(reason, ssl.SSLError):
        return f"TLS error: {reason.reason or reason}"
    if isinstance(reason, http.client.HTTPException):
        return "the server's answer is not valid HTTP"
    if isinstance(reason, OSError) and reason.strerror:
        return visible(reason.strerror[:1].lower() + reason.strerror[1:120])
    return visible(str(reason)[:120]) or type(reason).__name__


def _read_body(resp: http.client.HTTPResponse, max_bytes: int, watch: _Watch) -> bytes | str:
    """The body, or the reason it cannot be had; reads in chunks so the deadline is checked."""
    declared = resp.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        return f"the answer is larger than {_size(max_bytes)}"
    chunks: list[bytes] = []
    total = 0
    while chunk := resp.read1(_CHUNK):
        total += len(chunk)
        if total > max_bytes:
            return f"the answer is larger than {_size(max_bytes)}"
        chunks.append(chunk)
        if watch.expired:
            raise TimeoutError
    if watch.expired:
        raise TimeoutError
    if resp.length:  # fewer bytes than Content-Length announced
        return "the connection closed before the whole answer arrived"
    return b"".join(chunks)


def _exchange(request: HttpRequest, watch: _Watch) -> HttpResponse:
    headers = {"User-Agent": f"certdeck/{__version__}", "Accept": request.accept}
    if request.content_type:
        headers["Content-Type"] = request.content_type
    req = urllib.request.Request(
        request.url,
        data=request.body,
        headers=headers,
        method="POST" if request.body is not None else "GET",
    )
    try:
        resp = _opener(watch).open(req, timeout=request.timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        if 300 <= exc.code < 400:  # loops and redirects to file: URLs end here
            return HttpResponse(exc.code, error=_BAD_REDIRECT)
        return HttpResponse(exc.code, error=f"HTTP {exc.code} {visible(str(exc.reason)[:80])}")
    with resp:
        if not isinstance(resp, http.client.HTTPResponse):
            return HttpResponse(None, error="not an HTTP answer")
        body = _read_body(resp, request.max_bytes, watch)
        if isinstance(body, str):
            return HttpResponse(resp.status, error=body)
        return HttpResponse(resp.status, body)


def http_fetch(request: HttpRequest) -> HttpResponse:
    """Fetch one URL with urllib (blocking; proxies from the environment).

    The whole exchange (connection, TLS, headers, body) is bounded by ``request.timeout``,
    also against a server that sends one byte at a time.  Only http and https are spoken,
    redirects are followed to http and https URLs only, and every failure is returned in
    words rather than raised.
    """
    watch = _Watch()
    timer = threading.Timer(request.timeout, watch.expire)
    timer.daemon = True
    timer.start()
    try:
        return _exchange(request, watch)
    except Exception as exc:  # whatever a hostile server provokes is data
        if watch.expired:
            return HttpResponse(None, error=_timed_out(request.timeout))
        return HttpResponse(None, error=_describe(exc, request.timeout))
    finally:
        timer.cancel()
        watch.close()


# -- results -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SourceCheck:
    """One source (URL or file) as it applied to one certificate."""

    kind: SourceKind
    location: str
    """The URL or the file path, printable."""
    verdict: Verdict
    detail: str = ""
    """What the answer said, in words (for answers)."""
    error: str | None = None
    """Why there is no usable answer, in words (for the other verdicts)."""
    reachable: bool | None = None
    """None when nothing was fetched (local files, URLs not checked)."""
    http_status: int | None = None
    latency_ms: int | None = None
    revoked_at: datetime | None = None
    reason: str | None = None
    """The revocation reason (``keyCompromise`` …) when the source gives one."""
    this_update: datetime | None = None
    next_update: datetime | None = None

    @property
    def explanation(self) -> str:
        """The error when there is one, else the detail."""
        return self.error or self.detail


@dataclass(frozen=True, slots=True)
class CertRevocation:
    """The revocation status of one certificate and what it rests on."""

    sha256: str
    checked_at: datetime
    status: Status
    sources: tuple[SourceCheck, ...] = ()
    findings: tuple[Finding, ...] = ()
    issuer: str | None = None
    """SHA-256 of the issuer certificate used to verify the answers, when one was found."""


@dataclass(frozen=True, slots=True)
class UrlFetch:
    """One distinct HTTP request made during a check."""

    kind: SourceKind
    url: str
    reachable: bool
    http_status: int | None
    latency_ms: int | None
    error: str | None
    size: int
    """Bytes received."""
    certificates: tuple[str, ...]
    """SHA-256 of the certificates that needed it."""


@dataclass(frozen=True, slots=True)
class CrlFileCheck:
    """A local CRL (one of possibly several in a file) and what it applied to."""

    path: str
    index: int
    """Position of the CRL within the file (0-based)."""
    issuer: str
    entries: int
    this_update: datetime
    next_update: datetime | None
    covers: tuple[str, ...]
    """SHA-256 of the certificates it was verified for and applied to."""
    problem: str | None = None
    """Why it applied to nothing, in words."""


@dataclass(frozen=True, slots=True)
class RevocationReport:
    """The outcome of a revocation check."""

    checked_at: datetime
    results: tuple[CertRevocation, ...]
    """One per certificate, sorted by fingerprint."""
    fetches: tuple[UrlFetch, ...] = ()
    crl_files: tuple[CrlFileCheck, ...] = ()
    unreadable: tuple[Unreadable, ...] = ()
    """Local CRL files (or CRLs within them) that could not be parsed."""
    time_limit_reached: bool = False

    def by_sha256(self) -> dict[str, CertRevocation]:
        """Results keyed by certificate fingerprint."""
        return {r.sha256: r for r in self.results}


# -- certificates and issuers ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Issuer:
    """The certificate whose key verifies a certificate's CRLs and OCSP answers."""

    sha256: str
    cert: x509.Certificate
    url: str | None = None
    """The CA-issuer URL it was downloaded from; None when it is on this machine."""


def _issuer_key(cert: x509.Certificate) -> CertificateIssuerPublicKeyTypes | None:
    """The certificate's public key when it is of a kind that can sign, else None."""
    key = cert.public_key()
    if isinstance(
        key,
        rsa.RSAPublicKey
        | ec.EllipticCurvePublicKey
        | dsa.DSAPublicKey
        | ed25519.Ed25519PublicKey
        | ed448.Ed448PublicKey,
    ):
        return key
    return None


def _issued(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Whether ``issuer`` names and signed ``cert`` (SHA-1 signatures allowed)."""
    if cert.issuer != issuer.subject:
        return False
    key = _issuer_key(issuer)
    return key is not None and signed_by(cert, key)


class _Certs:
    """The records' certificates as ``cryptography`` objects (loaded once) by subject."""

    def __init__(self, records: Iterable[CertificateRecord]) -> None:
        self._records: dict[str, CertificateRecord] = {}
        self._by_subject: dict[bytes, list[str]] = {}
        self._loaded: dict[str, x509.Certificate | None] = {}
        for r in records:
            if r.sha256 in self._records:
                continue
            self._records[r.sha256] = r
            self._by_subject.setdefault(r.cert.subject_der, []).append(r.sha256)

    def load(self, sha256: str) -> x509.Certificate | None:
        """The certificate, or None when cryptography rejects it."""
        if sha256 not in self._loaded:
            try:
                cert = x509.load_der_x509_certificate(self._records[sha256].cert.der)
            except ValueError:
                cert = None
            self._loaded[sha256] = cert
        return self._loaded[sha256]

    def issuer_of(self, record: CertificateRecord, cert: x509.Certificate) -> _Issuer | None:
        """The issuer among the records: its subject matches and its key made the signature."""
        candidates = list(self._by_subject.get(record.cert.issuer_der, ()))
        if len(record.chain) > 1 and record.chain[1] in candidates:
            candidates.remove(record.chain[1])
            candidates.insert(0, record.chain[1])
        for sha in candidates:
            issuer = self.load(sha)
            if issuer is not None and sha != record.sha256 and _issued(cert, issuer):
                return _Issuer(sha, issuer)
        return None


def _certificates_in(data: bytes) -> list[x509.Certificate]:
    """Certificates in a CA-issuer answer: DER, PEM or PKCS#7 (DER or PEM)."""
    loaders: tuple[Callable[[bytes], list[x509.Certificate]], ...] = (
        lambda d: [x509.load_der_x509_certificate(d)],
        pkcs7.load_der_pkcs7_certificates,
        x509.load_pem_x509_certificates,
        pkcs7.load_pem_pkcs7_certificates,
    )
    for load in loaders:
        try:
            return load(data)
        except (ValueError, UnsupportedAlgorithm):
            continue
    return []


def _issuer_in(data: bytes, cert: x509.Certificate, url: str) -> _Issuer | str:
    """The issuer of ``cert`` among downloaded certificates, or why it is not there."""
    found = _certificates_in(data)
    if not found:
        return "the answer holds no certificate (DER, PEM or PKCS#7)"
    for candidate in found:
        if _issued(cert, candidate):
            sha = candidate.fingerprint(hashes.SHA256()).hex()
            return _Issuer(sha, candidate, url)
    return f"none of the {len(found)} certificates served here issued this certificate"


# -- judging CRLs ------------------------------------------------------------------------


def _day(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%d")


def _when(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _quietly(function: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
    """Call ``function`` with cryptography's deprecation warnings about malformed but
    accepted certificates silenced: they are the machine's files, not the caller's code."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        return function(*args, **kwargs)


def _reason(exc: Exception) -> str:
    """cryptography's message (ASN.1 errors in words), printable and short."""
    return visible(error_reason(exc))[:200]


def _load_crl(blob: bytes, *, pem: bool) -> x509.CertificateRevocationList:
    """One CRL, with the fields every check reads parsed now, so that a damaged CRL fails
    here (ValueError) and not in the middle of a check."""
    try:
        crl = x509.load_pem_x509_crl(blob) if pem else x509.load_der_x509_crl(blob)
        crl.issuer.rfc4514_string()
        _ = (crl.last_update_utc, crl.next_update_utc, crl.signature_hash_algorithm)
        crl.extensions  # noqa: B018 -- parsed for its errors
    except (ValueError, TypeError, InvalidVersion, UnsupportedAlgorithm) as exc:
        raise ValueError(str(exc)) from None
    return crl


def _load_crls(data: bytes) -> tuple[list[x509.CertificateRevocationList], list[str]]:
    """The CRLs in PEM (one or more) or DER data, and a reason for each part that failed."""
    blocks = _PEM_CRL.findall(data)
    if not blocks:
        try:
            return [_load_crl(data, pem=False)], []
        except ValueError as exc:
            return [], [f"not a valid certificate revocation list ({_reason(exc)})"]
    crls: list[x509.CertificateRevocationList] = []
    errors: list[str] = []
    for i, block in enumerate(blocks):
        try:
            crls.append(_load_crl(block, pem=True))
        except ValueError as exc:
            errors.append(f"CRL {i + 1} in the file is damaged and cannot be read ({_reason(exc)})")
    return crls, errors


def _entry_reason(entry: x509.RevokedCertificate) -> str | None:
    try:
        ext = entry.extensions.get_extension_for_class(x509.CRLReason)
    except (x509.ExtensionNotFound, ValueError):
        return None
    return str(ext.value.reason.value)


def _scope_problem(crl: x509.CertificateRevocationList, cert: x509.Certificate) -> str | None:
    """Why a CRL by the right issuer still does not speak for this certificate."""
    try:
        idp = crl.extensions.get_extension_for_class(x509.IssuingDistributionPoint).value
    except (x509.ExtensionNotFound, ValueError):
        idp = None
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except (x509.ExtensionNotFound, ValueError):
        is_ca = False
    if idp is not None and idp.only_contains_ca_certs and not is_ca:
        return "the CRL covers only CA certificates"
    if idp is not None and idp.only_contains_user_certs and is_ca:
        return "the CRL covers only end-entity certificates"
    if idp is not None and idp.indirect_crl:
        return "indirect CRLs are not supported"
    try:
        crl.extensions.get_extension_for_class(x509.DeltaCRLIndicator)
    except (x509.ExtensionNotFound, ValueError):
        return None
    return "delta CRLs are not supported"


class _CrlJudge:
    """Judges CRLs for certificates, verifying each CRL's signature once per issuer."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self._signatures: dict[tuple[int, str], bool] = {}

    def signature_ok(self, crl: x509.CertificateRevocationList, issuer: _Issuer) -> bool:
        """Whether the issuer's key signed the CRL (memoised: big CRLs are slow to hash)."""
        memo = (id(crl), issuer.sha256)
        if memo not in self._signatures:
            key = _issuer_key(issuer.cert)
            try:
                ok = key is not None and crl.is_signature_valid(key)
            except (ValueError, TypeError, UnsupportedAlgorithm):
                ok = False
            self._signatures[memo] = ok
        return self._signatures[memo]

    def judge(
        self,
        base: SourceCheck,
        crl: x509.CertificateRevocationList,
        cert: x509.Certificate,
        issuer: _Issuer | None,
    ) -> SourceCheck:
        """The verdict of one CRL on one certificate (``base`` carries kind and fetch facts)."""
        entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
        if issuer is None:
            listed = " (it lists this certificate as revoked)" if entry is not None else ""
            error = "issuer certificate not available: cannot verify the CRL signature" + listed
            return replace(base, verdict="not_checked", error=error)
        if not self.signature_ok(crl, issuer):
            error = "the CRL's signature does not verify with the issuer's key"
            return replace(base, verdict="invalid", error=error)
        this_update, next_update = crl.last_update_utc, crl.next_update_utc
        base = replace(base, this_update=this_update, next_update=next_update)
        if this_update > self.now + _SKEW:
            error = f"the CRL is dated in the future ({_when(this_update)})"
            return replace(base, verdict="invalid", error=error)
        if entry is not None:
            return _revoked(base, entry.revocation_date_utc, _entry_reason(entry))
        scope = _scope_problem(crl, cert)
        if scope is not None:
            return replace(base, verdict="invalid", error=scope)
        if next_update is not None and next_update < self.now:
            detail = f"not listed, but the CRL expired on {_when(next_update)}"
            return replace(base, verdict="stale", detail=detail)
        until = f"valid until {_when(next_update)}" if next_update else "no next-update time"
        return replace(base, verdict="good", detail=f"not listed; the CRL is {until}")


def _revoked(base: SourceCheck, when: datetime | None, reason: str | None) -> SourceCheck:
    detail = "revoked" + (f" on {_when(when)}" if when else "") + (f" ({reason})" if reason else "")
    return replace(base, verdict="revoked", detail=detail, revoked_at=when, reason=reason)


def _crl_for(
    crls: Sequence[x509.CertificateRevocationList], cert: x509.Certificate
) -> x509.CertificateRevocationList | str:
    """The downloaded CRL issued under the certificate's issuer name, or why there is none."""
    for crl in crls:
        if crl.issuer == cert.issuer:
            return crl
    if not crls:
        return "not a certificate revocation list"
    named = visible(crls[0].issuer.rfc4514_string()[:200])
    ours = visible(cert.issuer.rfc4514_string()[:200])
    return f"the CRL was issued by {named}, not by the certificate's issuer {ours}"


# -- judging OCSP ------------------------------------------------------------------------

_OCSP_STATUS_WORDS = {
    ocsp.OCSPResponseStatus.MALFORMED_REQUEST: "the request is malformed",
    ocsp.OCSPResponseStatus.INTERNAL_ERROR: "an internal error",
    ocsp.OCSPResponseStatus.TRY_LATER: "try later",
    ocsp.OCSPResponseStatus.SIG_REQUIRED: "a signed request is required",
    ocsp.OCSPResponseStatus.UNAUTHORIZED: "not authorised for this certificate",
}


def _ocsp_request(cert: x509.Certificate, issuer: x509.Certificate) -> bytes:
    """A DER OCSP request for one certificate with a SHA-1 certificate ID (what responders
    universally accept)."""
    builder = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1())
    return builder.build().public_bytes(serialization.Encoding.DER)


def _cert_id(
    cert: x509.Certificate, issuer: x509.Certificate, algorithm: hashes.HashAlgorithm
) -> tuple[bytes, bytes] | None:
    """The issuer name and key hashes of a certificate ID with ``algorithm``."""
    try:
        req = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, algorithm).build()
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return None
    return req.issuer_name_hash, req.issuer_key_hash


def _signature_valid(key: CertificateIssuerPublicKeyTypes, resp: ocsp.OCSPResponse) -> bool:
    """Whether ``key`` made the OCSP response's signature."""
    data, sig = resp.tbs_response_bytes, resp.signature
    try:
        digest = resp.signature_hash_algorithm
        if isinstance(key, rsa.RSAPublicKey) and digest is not None:
            if resp.signature_algorithm_oid == SignatureAlgorithmOID.RSASSA_PSS:
                pss = padding.PSS(mgf=padding.MGF1(digest), salt_length=padding.PSS.AUTO)
                key.verify(sig, data, pss, digest)
            else:
                key.verify(sig, data, padding.PKCS1v15(), digest)
        elif isinstance(key, ec.EllipticCurvePublicKey) and digest is not None:
            key.verify(sig, data, ec.ECDSA(digest))
        elif isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
            key.verify(sig, data)
        elif isinstance(key, dsa.DSAPublicKey) and digest is not None:
            key.verify(sig, data, digest)
        else:
            return False
    except (InvalidSignature, UnsupportedAlgorithm, ValueError, TypeError):
        return False
    return True


def _may_sign_ocsp(delegate: x509.Certificate, issuer: x509.Certificate, now: datetime) -> bool:
    """Whether the issuer authorised ``delegate`` to answer OCSP for it (RFC 6960 4.2.2.2)."""
    if not delegate.not_valid_before_utc <= now <= delegate.not_valid_after_utc:
        return False
    try:
        usage = delegate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except (x509.ExtensionNotFound, ValueError):
        return False
    return ExtendedKeyUsageOID.OCSP_SIGNING in usage and _issued(delegate, issuer)


def _ocsp_signer(resp: ocsp.OCSPResponse, issuer: x509.Certificate, now: datetime) -> str | None:
    """Who validly signed the response (``the issuer`` or the delegate's name), or None."""
    key = _issuer_key(issuer)
    if key is not None and _signature_valid(key, resp):
        return "the issuer"
    for delegate in resp.certificates:
        delegate_key = _issuer_key(delegate)
        if (
            delegate_key is not None
            and _may_sign_ocsp(delegate, issuer, now)
            and _signature_valid(delegate_key, resp)
        ):
            return "the delegated responder " + visible(delegate.subject.rfc4514_string()[:200])
    return None


def _single_for(
    resp: ocsp.OCSPResponse, cert: x509.Certificate, issuer: x509.Certificate
) -> ocsp.OCSPSingleResponse | None:
    """The single response about exactly this certificate (serial and issuer hashes)."""
    for single in resp.responses:
        if single.serial_number != cert.serial_number:
            continue
        ids = _cert_id(cert, issuer, single.hash_algorithm)
        if ids == (single.issuer_name_hash, single.issuer_key_hash):
            return single
    return None


def _ocsp_judge(
    base: SourceCheck, body: bytes, cert: x509.Certificate, issuer: _Issuer, now: datetime
) -> SourceCheck:
    """The verdict of an OCSP answer on one certificate."""
    try:
        resp = ocsp.load_der_ocsp_response(body)
    except ValueError:
        return replace(base, verdict="invalid", error="the answer is not an OCSP response")
    if resp.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        words = _OCSP_STATUS_WORDS.get(resp.response_status, "an error")
        return replace(base, verdict="invalid", error=f"the responder answered: {words}")
    signer = _ocsp_signer(resp, issuer.cert, now)
    if signer is None:
        error = "the answer is not signed by the issuer or by a responder it authorised"
        return replace(base, verdict="invalid", error=error)
    single = _single_for(resp, cert, issuer.cert)
    if single is None:
        return replace(base, verdict="invalid", error="the answer is about another certificate")
    base = replace(base, this_update=single.this_update_utc, next_update=single.next_update_utc)
    if single.this_update_utc > now + _SKEW:
        error = f"the answer is dated in the future ({_when(single.this_update_utc)})"
        return replace(base, verdict="invalid", error=error)
    status = single.certificate_status
    if status == ocsp.OCSPCertStatus.REVOKED:
        reason = single.revocation_reason.value if single.revocation_reason else None
        return _revoked(base, single.revocation_time_utc, reason)
    if single.next_update_utc is not None and single.next_update_utc < now:
        error = f"the answer is out of date (next update was {_when(single.next_update_utc)})"
        return replace(base, verdict="invalid", error=error)
    if status == ocsp.OCSPCertStatus.UNKNOWN:
        detail = f"the responder does not know this certificate (signed by {signer})"
        return replace(base, verdict="unknown", detail=detail)
    return replace(base, verdict="good", detail=f"good (signed by {signer})")


# -- local CRL files ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _LocalCrl:
    path: str
    index: int
    crl: x509.CertificateRevocationList
    issuer_der: bytes
    """The CRL's issuer name in DER, compared with certificates' issuer names as bytes."""


def _parse_local(
    files: Sequence[tuple[str, bytes]],
) -> tuple[list[_LocalCrl], list[Unreadable]]:
    """Every CRL in the files; the files (or parts) that are not CRLs, with the reason."""
    crls: list[_LocalCrl] = []
    unreadable: list[Unreadable] = []
    for path, data in files:
        shown = visible(path)
        found, errors = _load_crls(data)
        crls.extend(
            _LocalCrl(shown, i, crl, crl.issuer.public_bytes()) for i, crl in enumerate(found)
        )
        unreadable.extend(Unreadable(shown, reason) for reason in errors)
    return crls, unreadable


_LocalUse: TypeAlias = tuple[_LocalCrl, str, SourceCheck]
"""A local CRL, the certificate it was judged for, and the verdict."""


def _local_checks(
    local: Sequence[_LocalCrl],
    sha256: str,
    cert: x509.Certificate,
    issuer: _Issuer | None,
    judge: _CrlJudge,
) -> list[_LocalUse]:
    """The verdicts of the local CRLs (issued under this certificate's issuer name)."""
    out: list[_LocalUse] = []
    for item in local:
        base = SourceCheck("crl-file", item.path, "not_checked")
        try:
            check = judge.judge(base, item.crl, cert, issuer)
        except _UNREADABLE as exc:
            check = replace(
                base, verdict="invalid", error=f"the certificate cannot be looked up: {exc}"
            )
        out.append((item, sha256, check))
    return out


def _file_summaries(
    local: Sequence[_LocalCrl],
    checked: Iterable[CertificateRecord],
    uses: Iterable[_LocalUse],
) -> tuple[CrlFileCheck, ...]:
    """What each local CRL applied to, and why it applied to nothing when it did not."""
    issuers = {record.cert.issuer_der for record in checked}
    by_crl: dict[int, list[tuple[str, SourceCheck]]] = {id(item): [] for item in local}
    for item, sha256, check in uses:
        by_crl[id(item)].append((sha256, check))
    return tuple(
        _file_summary(item, by_crl[id(item)], item.issuer_der in issuers) for item in local
    )


def _file_summary(
    item: _LocalCrl, uses: list[tuple[str, SourceCheck]], named: bool
) -> CrlFileCheck:
    """One local CRL's summary; ``named``: some certificate checked names its issuer."""
    verified = [(sha, s) for sha, s in uses if s.this_update is not None]
    issuer = visible(item.crl.issuer.rfc4514_string()[:200])
    problem = None
    if not named:
        problem = f"no certificate checked here was issued by {issuer}"
    elif not verified:
        problem = next((s.error for _, s in uses if s.error), "it applies to no certificate")
    return CrlFileCheck(
        path=item.path,
        index=item.index,
        issuer=issuer,
        entries=len(item.crl),
        this_update=item.crl.last_update_utc,
        next_update=item.crl.next_update_utc,
        covers=tuple(sorted({sha for sha, _ in verified})),
        problem=problem,
    )


# -- verdicts and findings ---------------------------------------------------------------


def _status(sources: Sequence[SourceCheck]) -> Status:
    """The certificate's status: a revoked verdict from any valid source wins."""
    relevant = [s for s in sources if s.kind in _REVOCATION_KINDS]
    if not relevant:
        return "no_sources"
    verdicts = {s.verdict for s in relevant}
    if "revoked" in verdicts:
        return "revoked"
    if "good" in verdicts:
        return "good"
    if verdicts & {"unknown", "stale"}:
        return "unknown"
    return "unreachable"


def _findings(
    sources: Sequence[SourceCheck], status: Status, now: datetime, *, online: bool
) -> tuple[Finding, ...]:
    """``revoked``, ``crl_stale`` and (online) ``revocation_unreachable`` findings."""
    out: list[Finding] = []
    revoked = next((s for s in sources if s.verdict == "revoked"), None)
    if revoked is not None:
        when = f" on {_day(revoked.revoked_at)}" if revoked.revoked_at else ""
        why = f" ({revoked.reason})" if revoked.reason else ""
        message = f"revoked{when}{why} according to {revoked.location}"
        out.append(Finding("revoked", SEVERITY["revoked"], message))
    stale: list[SourceCheck] = []
    for s in sources:
        expired = s.next_update
        if s.kind in ("crl", "crl-file") and s.verdict in ("stale", "revoked") and expired:
            if expired >= now:
                continue
            stale.append(s)
            message = (
                f"the CRL at {s.location} expired {relative_time(expired, now)} "
                f"(next update was {_day(expired)})"
            )
            out.append(Finding("crl_stale", SEVERITY["crl_stale"], message))
    relevant = [s for s in sources if s.kind in _REVOCATION_KINDS]
    # A certificate whose only sources are stale CRLs has one problem, already reported.
    if online and status in ("unknown", "unreachable") and len(stale) < len(relevant):
        out.append(_unreachable([s for s in relevant if s not in stale]))
    return sort_findings(out)


def _unreachable(sources: Sequence[SourceCheck]) -> Finding:
    parts = [f"{s.location}: {s.explanation}" for s in sources[:3]]
    if len(sources) > 3:
        parts.append(f"and {len(sources) - 3} more")
    message = "no revocation source gave a usable answer: " + "; ".join(parts)
    return Finding("revocation_unreachable", SEVERITY["revocation_unreachable"], message)


def _sorted_sources(sources: Iterable[SourceCheck]) -> tuple[SourceCheck, ...]:
    return tuple(sorted(sources, key=lambda s: (_KIND_ORDER[s.kind], s.location)))


def _result(
    sha256: str,
    now: datetime,
    sources: Iterable[SourceCheck],
    issuer: _Issuer | None,
    *,
    online: bool,
) -> CertRevocation:
    ordered = _sorted_sources(sources)
    status = _status(ordered)
    findings = _findings(ordered, status, now, online=online)
    return CertRevocation(sha256, now, status, ordered, findings, issuer.sha256 if issuer else None)


def _skipped(record: CertificateRecord) -> bool:
    """Trust anchors and self-signed certificates: nothing can revoke them."""
    return record.trust_anchor or record.cert.self_signed


def _check_now(now: datetime) -> None:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")


def local_crl_checks(
    records: Sequence[CertificateRecord],
    crls: Sequence[tuple[str, bytes]],
    *,
    now: datetime,
    issuers: Iterable[CertificateRecord] = (),
) -> RevocationReport:
    """Apply local CRL files (path, bytes; PEM with one or more CRLs, or DER) to the records.

    No network.  A CRL applies to a certificate when it is issued under the certificate's
    issuer name and its signature verifies with that issuer's key; the issuer is looked up
    among ``records`` and ``issuers`` (the whole inventory, say).  Results are given for the
    certificates a CRL names, with ``revoked`` and ``crl_stale`` findings; files that are not
    CRLs are listed as unreadable with the reason.
    """
    _check_now(now)
    local, unreadable = _parse_local(crls)
    # Only certificates issued under a CRL's issuer name can get a verdict: the others are
    # not even loaded (an inventory has thousands, a machine a handful of CRLs).
    named = {item.issuer_der for item in local}
    covered = [r for r in records if r.cert.issuer_der in named]
    plans, _ = _plans(covered, _Certs([*records, *issuers]), local, now)
    judge = _CrlJudge(now)
    results: list[CertRevocation] = []
    uses: list[_LocalUse] = []
    for plan in plans:
        mine = _local_checks(plan.local, plan.sha256, plan.cert, plan.issuer, judge)
        # A CRL that cannot be verified for a certificate says nothing about it: without a
        # network there is no other source, so the certificate stays unchecked.
        if any(check.verdict in _ANSWERS for _, _, check in mine):
            sources = [check for _, _, check in mine]
            results.append(_result(plan.sha256, now, sources, plan.issuer, online=False))
        uses += mine
    return RevocationReport(
        checked_at=now,
        results=tuple(sorted(results, key=lambda r: r.sha256)),
        crl_files=_file_summaries(local, (p.record for p in plans), uses),
        unreadable=tuple(unreadable),
    )


# -- the online check --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Fetched:
    """A finished fetch and how long it took."""

    response: HttpResponse
    latency_ms: int

    @property
    def error(self) -> str | None:
        """Why there is no usable body (an HTTP error status counts), or None."""
        r = self.response
        if r.error:
            return r.error
        if r.status is not None and not 200 <= r.status < 300:
            return f"HTTP {r.status}"
        return None


def _timed(fetch: Fetch, request: HttpRequest) -> _Fetched:
    """Run one fetch in a worker thread and measure how long it took."""
    start = time.monotonic()
    try:
        response = fetch(request)
    except OSError as exc:
        response = HttpResponse(None, error=_describe(exc, request.timeout))
    return _Fetched(response, round((time.monotonic() - start) * 1000))


_Key: TypeAlias = tuple[str, bytes | None]


class _Session:
    """Starts each distinct request once, at most ``concurrency`` at a time."""

    def __init__(self, fetch: Fetch, concurrency: int, timeout: float) -> None:
        self._fetch = fetch
        self._timeout = timeout
        self._executor = ThreadPoolExecutor(concurrency, thread_name_prefix="revocation")
        self._semaphore = asyncio.Semaphore(concurrency)
        self._tasks: dict[_Key, asyncio.Task[_Fetched]] = {}
        self._kinds: dict[_Key, SourceKind] = {}
        self._users: dict[_Key, set[str]] = {}

    def start(
        self, kind: SourceKind, url: str, sha256: str, body: bytes | None = None
    ) -> asyncio.Task[_Fetched]:
        """The task fetching this URL (and body), started on first use."""
        key = (url, body)
        self._users.setdefault(key, set()).add(sha256)
        task = self._tasks.get(key)
        if task is None:
            request = HttpRequest(
                url,
                max_bytes=CRL_MAX_BYTES if kind == "crl" else SMALL_MAX_BYTES,
                timeout=self._timeout,
                body=body,
                content_type="application/ocsp-request" if body is not None else None,
                accept=_ACCEPT[kind],
            )
            task = asyncio.ensure_future(self._run(request))
            self._tasks[key] = task
            self._kinds[key] = kind
        return task

    async def _run(self, request: HttpRequest) -> _Fetched:
        async with self._semaphore:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, _timed, self._fetch, request)

    def result(self, url: str, body: bytes | None = None) -> _Fetched | None:
        """The finished fetch, or None when it did not finish (or never started)."""
        task = self._tasks.get((url, body))
        if task is None or not task.done() or task.cancelled():
            return None
        return task.result()

    def summaries(self, unfinished: str) -> tuple[UrlFetch, ...]:
        """One line per request made, finished or not (``unfinished`` says why not)."""
        out: list[UrlFetch] = []
        for key in self._tasks:
            fetched = self.result(*key)
            users = tuple(sorted(self._users[key]))
            if fetched is None:
                kind = self._kinds[key]
                out.append(UrlFetch(kind, key[0], False, None, None, unfinished, 0, users))
                continue
            error = fetched.error
            out.append(
                UrlFetch(
                    kind=self._kinds[key],
                    url=key[0],
                    reachable=fetched.response.status is not None,
                    http_status=fetched.response.status,
                    latency_ms=fetched.latency_ms,
                    error=error,
                    size=len(fetched.response.body),
                    certificates=users,
                )
            )
        return tuple(sorted(out, key=lambda f: (_KIND_ORDER[f.kind], f.url, f.certificates)))

    async def close(self) -> None:
        """Cancel what is still running; threads already fetching end at their timeout."""
        pending = [t for t in self._tasks.values() if not t.done()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        self._executor.shutdown(wait=False, cancel_futures=True)


_ACCEPT: dict[SourceKind, str] = {
    "crl": "application/pkix-crl, */*",
    "ocsp": "application/ocsp-response",
    "ca_issuers": "application/pkix-cert, application/pkcs7-mime, */*",
    "crl-file": "*/*",
}


@dataclass
class _Plan:
    """One certificate to check and what has been learnt about it so far."""

    record: CertificateRecord
    cert: x509.Certificate
    sources: RevocationSources
    local: list[_LocalCrl]
    issuer: _Issuer | None
    ocsp_bodies: dict[str, bytes] = field(default_factory=dict)
    issuer_notes: dict[str, str] = field(default_factory=dict)
    issuer_searched: bool = False
    """The search for the issuer ended (it may still have failed)."""

    @property
    def sha256(self) -> str:
        return self.record.sha256

    @property
    def needs_issuer(self) -> bool:
        """Whether any source can be judged only with the issuer's certificate."""
        fetchable = any(u.problem is None for u in self.sources.urls if u.kind in _REVOCATION_KINDS)
        return fetchable or bool(self.local)


def _fetchable(plan: _Plan, kind: SourceKind) -> list[str]:
    return [u.url for u in plan.sources.of(kind) if u.problem is None]


async def _download_issuer(plan: _Plan, session: _Session) -> _Issuer | None:
    """Fetch the CA-issuer URLs one after the other until one serves the issuer."""
    for url in _fetchable(plan, "ca_issuers"):
        fetched = await session.start("ca_issuers", url, plan.sha256)
        if fetched.error is not None:
            continue
        found = _issuer_in(fetched.response.body, plan.cert, url)
        if isinstance(found, _Issuer):
            return found
        plan.issuer_notes[url] = found
    return None


async def _drive(plan: _Plan, session: _Session) -> None:
    """Start the fetches one certificate needs and wait for them."""
    waits = [session.start("crl", url, plan.sha256) for url in _fetchable(plan, "crl")]
    if plan.issuer is None and plan.needs_issuer:
        plan.issuer = await _download_issuer(plan, session)
    plan.issuer_searched = True
    if plan.issuer is not None:
        for url in _fetchable(plan, "ocsp"):
            try:
                body = _ocsp_request(plan.cert, plan.issuer.cert)
            except (ValueError, TypeError, UnsupportedAlgorithm):
                break
            plan.ocsp_bodies[url] = body
            waits.append(session.start("ocsp", url, plan.sha256, body))
    if waits:
        await asyncio.wait(waits)


@dataclass(frozen=True, slots=True)
class _Context:
    """What judging needs besides the plan: the finished fetches and the time."""

    session: _Session
    judge: _CrlJudge
    now: datetime
    not_finished: str
    parsed: dict[str, list[x509.CertificateRevocationList]] = field(default_factory=dict)

    def crls(self, url: str, body: bytes) -> list[x509.CertificateRevocationList]:
        """The CRLs of a downloaded answer, parsed once per URL."""
        if url not in self.parsed:
            self.parsed[url] = _load_crls(body)[0]
        return self.parsed[url]


def _fetch_base(kind: SourceKind, url: str, fetched: _Fetched | None, ctx: _Context) -> SourceCheck:
    """A source's fetch facts, with a ``failed``/``not_checked`` verdict until judged."""
    if fetched is None:
        return SourceCheck(kind, url, "not_checked", error=ctx.not_finished)
    response = fetched.response
    error = fetched.error
    return SourceCheck(
        kind,
        url,
        "failed" if error else "not_checked",
        error=error,
        reachable=response.status is not None,
        http_status=response.status,
        latency_ms=fetched.latency_ms,
    )


def _crl_source(plan: _Plan, url: str, ctx: _Context) -> SourceCheck:
    fetched = ctx.session.result(url)
    base = _fetch_base("crl", url, fetched, ctx)
    if fetched is None or base.error:
        return base
    base = replace(base, error=None)
    crl = _crl_for(ctx.crls(url, fetched.response.body), plan.cert)
    if isinstance(crl, str):
        return replace(base, verdict="invalid", error=crl)
    if plan.issuer is None and not plan.issuer_searched:
        return replace(base, error=ctx.not_finished)
    return ctx.judge.judge(base, crl, plan.cert, plan.issuer)


def _ocsp_source(plan: _Plan, url: str, ctx: _Context) -> SourceCheck:
    if plan.issuer is None:
        error = ctx.not_finished
        if plan.issuer_searched:
            error = "issuer certificate not available: cannot ask the OCSP responder"
        return SourceCheck("ocsp", url, "not_checked", error=error)
    body = plan.ocsp_bodies.get(url)
    if body is None and plan.issuer_searched:
        error = "not checked: no OCSP request can be built for this certificate"
        return SourceCheck("ocsp", url, "not_checked", error=error)
    fetched = ctx.session.result(url, body) if body is not None else None
    base = _fetch_base("ocsp", url, fetched, ctx)
    if fetched is None or base.error:
        return base
    body = fetched.response.body
    return _ocsp_judge(replace(base, error=None), body, plan.cert, plan.issuer, ctx.now)


def _issuer_source(plan: _Plan, url: str, ctx: _Context) -> SourceCheck:
    issuer = plan.issuer
    if issuer is not None and issuer.url == url:
        fetched = ctx.session.result(url)
        base = _fetch_base("ca_issuers", url, fetched, ctx)
        subject = visible(issuer.cert.subject.rfc4514_string()[:200])
        return replace(base, verdict="found", detail=f"the issuer certificate {subject}")
    if url in plan.issuer_notes:
        base = _fetch_base("ca_issuers", url, ctx.session.result(url), ctx)
        return replace(base, verdict="invalid", error=plan.issuer_notes[url])
    fetched = ctx.session.result(url)
    if fetched is not None and fetched.error:
        return _fetch_base("ca_issuers", url, fetched, ctx)
    if issuer is None and plan.needs_issuer:
        return SourceCheck("ca_issuers", url, "not_checked", error=ctx.not_finished)
    detail = "the issuer certificate is on this machine" if issuer else "not needed"
    if issuer is not None and issuer.url is not None:
        detail = "the issuer certificate was found at another URL"
    return SourceCheck("ca_issuers", url, "not_needed", detail=detail)


def _url_sources(plan: _Plan, ctx: _Context) -> list[SourceCheck]:
    """The verdict of every URL the certificate names."""
    out: list[SourceCheck] = []
    for u in plan.sources.urls:
        if u.problem is not None:
            out.append(SourceCheck(u.kind, u.url, "not_checked", error=u.problem))
        elif u.kind == "crl":
            out.append(_crl_source(plan, u.url, ctx))
        elif u.kind == "ocsp":
            out.append(_ocsp_source(plan, u.url, ctx))
        else:
            out.append(_issuer_source(plan, u.url, ctx))
    return out


def _evaluate(
    plans: Sequence[_Plan], ctx: _Context
) -> tuple[list[CertRevocation], list[_LocalUse]]:
    """Judge every certificate from the finished fetches (pure apart from parsing cost)."""
    out: list[CertRevocation] = []
    uses: list[_LocalUse] = []
    for plan in plans:
        mine = _local_checks(plan.local, plan.sha256, plan.cert, plan.issuer, ctx.judge)
        try:
            online = _url_sources(plan, ctx)
        except _UNREADABLE:
            continue  # a certificate cryptography cannot fully read is left unchecked
        sources = online + [check for _, _, check in mine]
        out.append(_result(plan.sha256, ctx.now, sources, plan.issuer, online=True))
        uses += mine
    return out, uses


def _plans(
    records: Sequence[CertificateRecord],
    certs: _Certs,
    local: Sequence[_LocalCrl],
    now: datetime,
) -> tuple[list[_Plan], list[CertRevocation]]:
    """What to check per certificate; the skipped certificates' results right away."""
    plans: list[_Plan] = []
    skipped: list[CertRevocation] = []
    seen: set[str] = set()
    for record in records:
        if record.sha256 in seen:
            continue
        seen.add(record.sha256)
        cert = certs.load(record.sha256)
        if cert is None:
            continue
        if _skipped(record):
            skipped.append(CertRevocation(record.sha256, now, "skipped"))
            continue
        mine = [item for item in local if item.issuer_der == record.cert.issuer_der]
        try:
            issuer = certs.issuer_of(record, cert)
            plans.append(_Plan(record, cert, _sources_of(cert), mine, issuer))
        except _UNREADABLE:
            # cryptography loads the certificate but cannot read some part of it: it
            # cannot be checked, and the others still are.
            continue
    return plans, skipped


async def _run_all(plans: Sequence[_Plan], session: _Session, time_limit: float) -> bool:
    """Drive every certificate's fetches; True when the time limit cut some short."""
    if not plans:
        return False
    drivers = [asyncio.ensure_future(_drive(plan, session)) for plan in plans]
    try:
        done, pending = await asyncio.wait(drivers, timeout=time_limit)
    finally:
        for task in drivers:
            task.cancel()
        await asyncio.gather(*drivers, return_exceptions=True)
    for task in done:
        task.result()  # a programming error in a driver must not pass silently
    return bool(pending)


async def check_revocation(
    records: Sequence[CertificateRecord],
    *,
    now: datetime,
    local_crls: Sequence[tuple[str, bytes]] = (),
    issuers: Iterable[CertificateRecord] = (),
    fetch: Fetch | None = None,
    concurrency: int = 8,
    request_timeout: float = 5.0,
    time_limit: float = 30.0,
) -> RevocationReport:
    """Check the records against their CRLs and OCSP responders and the local CRL files.

    This opens network connections (through the proxy the environment names, if any).
    Each distinct URL is fetched once however many certificates name it; OCSP requests are
    one per certificate.  At most ``concurrency`` requests run at a time, each bounded by
    ``request_timeout`` seconds; what has not finished after ``time_limit`` seconds is reported as
    not checked.  Issuers are looked up among ``records`` and ``issuers`` and downloaded from
    the CA-issuer URL when missing.  Trust anchors and self-signed certificates are skipped.
    Cancelling the call cancels the outstanding requests.

    Args:
        records: The certificates to check.
        now: The check time, used for every validity judgement and stamped on the results.
        local_crls: CRL files as (path as seen on the machine, bytes).
        issuers: More certificates that may be issuers (not checked themselves).
        fetch: The blocking fetch to run in threads; :func:`http_fetch` by default.
    """
    _check_now(now)
    if concurrency < 1 or request_timeout <= 0 or time_limit <= 0:
        raise ValueError("concurrency, request_timeout and time_limit must be positive")
    # Parsing big CRLs and verifying thousands of issuer signatures takes a while: keep the
    # event loop (and the UI) free.
    local, unreadable = await asyncio.to_thread(_quietly, _parse_local, local_crls)
    certs = _Certs([*records, *issuers])
    plans, skipped = await asyncio.to_thread(_quietly, _plans, records, certs, local, now)
    session = _Session(fetch or http_fetch, concurrency, request_timeout)
    try:
        limited = await _run_all(plans, session, time_limit)
    finally:
        await session.close()
    ctx = _Context(
        session,
        _CrlJudge(now),
        now,
        f"not checked: the time limit of {time_limit:g} s was reached",
    )
    checked, uses = await asyncio.to_thread(_quietly, _evaluate, plans, ctx)
    return RevocationReport(
        checked_at=now,
        results=tuple(sorted([*checked, *skipped], key=lambda r: r.sha256)),
        fetches=session.summaries(ctx.not_finished),
        crl_files=_file_summaries(local, (p.record for p in plans), uses),
        unreadable=tuple(unreadable),
        time_limit_reached=limited,
    )


# -- local CRL files ---------------------------------------------------------------------


def read_crl_files(
    files: Sequence[CrlFile],
) -> tuple[list[tuple[str, bytes]], list[Unreadable]]:
    """The content of the CRL files the scan found, as ``(path, bytes)`` pairs for
    :func:`local_crl_checks` and :func:`check_revocation`; files that cannot be read or are
    larger than :data:`CRL_MAX_BYTES` are returned with the reason instead (blocking I/O)."""
    read: list[tuple[str, bytes]] = []
    failed: list[Unreadable] = []
    for crl in files:
        try:
            with open(crl.os_path or crl.path, "rb") as handle:
                data = handle.read(CRL_MAX_BYTES + 1)
        except OSError as exc:
            failed.append(Unreadable(crl.path, f"cannot be read: {exc.strerror or exc}"))
            continue
        if len(data) > CRL_MAX_BYTES:
            failed.append(Unreadable(crl.path, f"larger than {_size(CRL_MAX_BYTES)}"))
            continue
        read.append((crl.path, data))
    return read, failed


def apply_local_crls(inventory: Inventory) -> Inventory:
    """The inventory with the verdicts of the CRL files the scan found (no network).

    The certificates a verified CRL covers get its ``revoked`` or ``crl_stale`` findings and
    a revocation status; CRL files that cannot be read or parsed join the unreadable files.
    Blocking (reads the files): run it in a thread.
    """
    if not inventory.crl_files:
        return inventory
    crls, failed = read_crl_files(inventory.crl_files)
    report = _quietly(local_crl_checks, inventory.certificates, crls, now=inventory.evaluated_at)
    results = report.by_sha256()
    certificates = tuple(
        with_revocation_findings(r, results[r.sha256]) if r.sha256 in results else r
        for r in inventory.certificates
    )
    known = {(u.path, u.reason) for u in inventory.unreadable}
    extra = [u for u in (*failed, *report.unreadable) if (u.path, u.reason) not in known]
    unreadable = tuple(sorted((*inventory.unreadable, *extra), key=lambda u: (u.path, u.reason)))
    return replace(inventory, certificates=certificates, unreadable=unreadable)


# -- using the results -------------------------------------------------------------------


def with_revocation_findings(
    record: CertificateRecord, result: CertRevocation | None
) -> CertificateRecord:
    """The record with its revocation findings and status replaced by the result's (removed
    for None).

    Earlier ``revoked``, ``revocation_unreachable`` and ``crl_stale`` findings are dropped so
    that a new check never leaves an old verdict behind.
    """
    if result is not None and result.sha256 != record.sha256:
        raise ValueError("the result is for another certificate")
    kept = [f for f in record.findings if f.code not in REVOCATION_CODES]
    new = result.findings if result is not None else ()
    status = result.status if result is not None else ""
    return replace(record, findings=sort_findings([*kept, *new]), revocation=status)


def _time(when: datetime | None) -> str | None:
    return iso(when) if when is not None else None


def _source_json(s: SourceCheck) -> dict[str, Any]:
    where = "path" if s.kind == "crl-file" else "url"
    return {
        "kind": s.kind,
        where: s.location,
        "reachable": s.reachable,
        "error": s.error,
        "http_status": s.http_status,
        "latency_ms": s.latency_ms,
        "verdict": s.verdict,
        "detail": s.detail,
        "revoked_at": _time(s.revoked_at),
        "reason": s.reason,
        "this_update": _time(s.this_update),
        "next_update": _time(s.next_update),
    }


def _result_json(r: CertRevocation) -> dict[str, Any]:
    return {
        "sha256": r.sha256,
        "checked_at": iso(r.checked_at),
        "status": r.status,
        "issuer": r.issuer,
        "sources": [_source_json(s) for s in _sorted_sources(r.sources)],
        "findings": [
            {"code": f.code, "severity": str(f.severity), "message": f.message} for f in r.findings
        ],
    }


def _fetch_json(f: UrlFetch) -> dict[str, Any]:
    return {
        "kind": f.kind,
        "url": f.url,
        "reachable": f.reachable,
        "http_status": f.http_status,
        "latency_ms": f.latency_ms,
        "error": f.error,
        "size": f.size,
        "certificates": list(f.certificates),
    }


def _crl_file_json(c: CrlFileCheck) -> dict[str, Any]:
    return {
        "path": c.path,
        "index": c.index,
        "issuer": c.issuer,
        "entries": c.entries,
        "this_update": iso(c.this_update),
        "next_update": _time(c.next_update),
        "covers": list(c.covers),
        "problem": c.problem,
    }


def report_json(report: RevocationReport) -> dict[str, Any]:
    """The report as plain, JSON-ready values in a deterministic order.

    ``certificates`` are sorted by fingerprint and their sources by kind (CRL files, CRLs,
    OCSP, CA issuers) and location; times are ISO 8601 in UTC with a ``Z``.
    """
    return {
        "version": 1,
        "checked_at": iso(report.checked_at),
        "time_limit_reached": report.time_limit_reached,
        "certificates": [_result_json(r) for r in sorted(report.results, key=lambda r: r.sha256)],
        "fetches": [_fetch_json(f) for f in report.fetches],
        "crl_files": [
            _crl_file_json(c) for c in sorted(report.crl_files, key=lambda c: (c.path, c.index))
        ],
        "unreadable": [
            {"path": u.path, "reason": u.reason}
            for u in sorted(report.unreadable, key=lambda u: (u.path, u.reason))
        ],
    }
