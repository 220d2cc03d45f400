"""Revocation checks against a real HTTP server on 127.0.0.1 serving CRLs and OCSP answers,
local CRL files, and the JSON form.  No other address is ever contacted."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509 import ocsp

from core.findings import SEVERITY
from core.model import CertificateRecord, Finding
from core.revocation import (
    CertRevocation,
    HttpRequest,
    HttpResponse,
    RevocationReport,
    SourceCheck,
    check_revocation,
    http_fetch,
    local_crl_checks,
    report_json,
    revocation_sources,
    with_revocation_findings,
)
from tests.certgen import NOW, Made, ec_key
from tests.revocation_server import (
    GOOD,
    Answer,
    Network,
    Responder,
    RevocationServer,
    Revoked,
    TestPKI,
    der,
    guarded,
    issue,
    make_crl,
    pem,
    record,
)

REVOKED_ON = datetime(2026, 10, 1, 8, 30, tzinfo=UTC)
KEY_COMPROMISE = x509.ReasonFlags.key_compromise


# -- isolation ---------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def network() -> Iterator[Network]:
    """Every test runs guarded: only the test server (and what a test allows) is reachable."""
    with guarded(Network()) as net:
        yield net


@pytest.fixture
def server(network: Network) -> Iterator[RevocationServer]:
    with RevocationServer() as srv:
        network.allowed.add(srv.address)
        yield srv


# -- a world of certificates -------------------------------------------------------------


@dataclass
class World:
    """The test PKI, its routes on the server, and one certificate per situation."""

    server: RevocationServer
    pki: TestPKI
    intermediate: Made
    leaves: dict[str, Made]
    ca_responder: Responder

    def url(self, path: str) -> str:
        return self.server.url(path)

    def records(self, *names: str) -> list[CertificateRecord]:
        """The root (a trust anchor) and the named leaves."""
        chosen = names or tuple(self.leaves)
        return [record(self.pki.root, trust_anchor=True)] + [record(self.leaves[n]) for n in chosen]

    def sha(self, leaf: str) -> str:
        return self.leaves[leaf].sha256


def _world(server: RevocationServer) -> World:
    pki = TestPKI()
    u = server.url
    leaves: dict[str, Made] = {}

    def leaf(key: str, **urls: Any) -> None:
        leaves[key] = pki.leaf(f"{key}.example.test", **urls)

    intermediate = pki.leaf("Revocation Test Intermediate", ca=True)
    leaf("good", crl=[u("/root.crl")], ocsp_urls=[u("/ocsp")])
    leaf("revoked", crl=[u("/root.crl")], ocsp_urls=[u("/ocsp")])
    leaf("unknown", ocsp_urls=[u("/ocsp")])
    leaf("stale", crl=[u("/stale.crl")])
    leaf("wrong_key", crl=[u("/wrong-key.crl")])
    leaf("delegated", ocsp_urls=[u("/ocsp-delegated")])
    leaf("rogue", ocsp_urls=[u("/ocsp-rogue")])
    leaf("missing", crl=[u("/missing.crl")])
    leaf("slow", crl=[u("/root.crl")], ocsp_urls=[u("/hang")])
    leaf(
        "ldap",
        crl=[
            "ldap://ldap.example.invalid/cn=Root,o=Test?certificateRevocationList",
            u("/root.crl"),
        ],
    )
    leaf("ldap_only", crl=["ldap://ldap.example.invalid/cn=Root"])
    leaf("none")
    for key in ("via_int", "via_int_too"):
        leaves[key] = pki.leaf(
            f"{key}.example.test",
            issuer=intermediate,
            crl=[u("/int.crl")],
            ca_issuers=[u("/int.p7c")],
        )
    leaves["orphan"] = pki.leaf("orphan.example.test", issuer=intermediate, crl=[u("/int.crl")])

    root_crl = make_crl(
        pki.root, [Revoked(leaves["revoked"].cert.serial_number, REVOKED_ON, KEY_COMPROMISE)]
    )
    server.static("/root.crl", der(root_crl))
    stale = make_crl(
        pki.root, this_update=NOW - timedelta(days=10), next_update=NOW - timedelta(days=3)
    )
    server.static("/stale.crl", pem(stale))
    server.static("/wrong-key.crl", der(make_crl(pki.root, signer=pki.other_key)))
    server.static("/int.crl", der(make_crl(intermediate)))
    p7c = pkcs7.serialize_certificates([intermediate.cert], serialization.Encoding.DER)
    server.static("/int.p7c", p7c, "application/pkcs7-mime")
    answers = {
        leaves["good"].cert.serial_number: GOOD,
        leaves["revoked"].cert.serial_number: Answer(
            ocsp.OCSPCertStatus.REVOKED, REVOKED_ON, KEY_COMPROMISE
        ),
    }
    ca_responder = Responder(pki.root, answers)
    server.ocsp("/ocsp", ca_responder)
    delegated_answers = {leaves["delegated"].cert.serial_number: GOOD}
    server.ocsp("/ocsp-delegated", Responder(pki.delegate, delegated_answers, include_signer=True))
    rogue_answers = {leaves["rogue"].cert.serial_number: GOOD}
    server.ocsp("/ocsp-rogue", Responder(pki.rogue, rogue_answers, include_signer=True))
    server.hang("/hang")
    return World(server, pki, intermediate, leaves, ca_responder)


@dataclass(frozen=True)
class Checked:
    """The world and its report, checked once for the tests of this module that read it."""

    world: World
    report: RevocationReport

    def result(self, leaf: str) -> CertRevocation:
        return self.report.by_sha256()[self.world.sha(leaf)]

    def url(self, path: str) -> str:
        return self.world.url(path)


@pytest.fixture(scope="module")
def checked() -> Checked:
    """Every certificate of the world checked with the real fetcher against the real server
    (once: the hanging responder costs a full timeout)."""
    with guarded(Network()) as net, RevocationServer() as srv:
        net.allowed.add(srv.address)
        world = _world(srv)
        report = asyncio.run(check_revocation(world.records(), now=NOW, request_timeout=1.0))
    return Checked(world, report)


def _source(result: CertRevocation, location: str) -> SourceCheck:
    return next(s for s in result.sources if s.location == location)


def _finding(result: CertRevocation, code: str) -> Finding:
    return next(f for f in result.findings if f.code == code)


# -- sources -----------------------------------------------------------------------------


def test_sources_are_read_from_the_certificate_and_hostile_urls_are_not_fetched() -> None:
    long_url = "http://crl.example.test/" + "a" * 3000
    made = issue(
        "sources.example.test",
        issuer=None,
        key=ec_key(720),
        serial=5,
        crl=[
            "http://crl.example.test/ca.crl",
            "ldap://ldap.example.test/cn=CA",
            "http://crl.example.test/ca.crl",
            "http://evil.example.test/\x1b[31mred",
            long_url,
        ],
        ocsp_urls=["https://ocsp.example.test"],
        ca_issuers=["http://crt.example.test/ca.der", "ftp://crt.example.test/ca.der"],
    )

    sources = revocation_sources(made.der)

    assert [(u.kind, u.url, u.problem) for u in sources.urls[:4]] == [
        ("crl", "http://crl.example.test/ca.crl", None),
        ("crl", "ldap://ldap.example.test/cn=CA", "not checked: ldap URLs are not supported"),
        (
            "crl",
            "http://evil.example.test/␛[31mred",
            "not checked: the URL holds characters no URL can hold",
        ),
        (
            "crl",
            "http://crl.example.test/" + "a" * 176 + "…",
            "not checked: the URL is longer than 2048 characters",
        ),
    ]
    assert [(u.url, u.problem) for u in sources.of("ocsp")] == [("https://ocsp.example.test", None)]
    assert [(u.url, u.problem) for u in sources.of("ca_issuers")] == [
        ("http://crt.example.test/ca.der", None),
        ("ftp://crt.example.test/ca.der", "not checked: ftp URLs are not supported"),
    ]
    assert sources.has_revocation_sources
    assert not revocation_sources(issue("bare", issuer=None, key=ec_key(721), serial=6).der).urls


# -- the online check against the real server --------------------------------------------


def test_good_certificate_is_good_by_crl_and_ocsp(checked: Checked) -> None:
    world = checked.world
    result = checked.result("good")

    assert result.status == "good"
    assert result.findings == ()
    assert result.checked_at == NOW
    assert result.issuer == world.pki.root.sha256
    crl = _source(result, world.url("/root.crl"))
    assert (crl.kind, crl.verdict, crl.reachable, crl.http_status, crl.error) == (
        "crl",
        "good",
        True,
        200,
        None,
    )
    assert crl.detail == "not listed; the CRL is valid until 2026-12-04 12:00 UTC"
    assert isinstance(crl.latency_ms, int)
    assert crl.latency_ms >= 0
    answer = _source(result, world.url("/ocsp"))
    assert (answer.kind, answer.verdict, answer.detail) == (
        "ocsp",
        "good",
        "good (signed by the issuer)",
    )


def test_revoked_certificate_names_source_date_and_reason(checked: Checked) -> None:
    world = checked.world
    result = checked.result("revoked")

    assert result.status == "revoked"
    assert [(f.code, f.severity, f.message) for f in result.findings] == [
        (
            "revoked",
            SEVERITY["revoked"],
            f"revoked on 2026-10-01 (keyCompromise) according to {world.url('/root.crl')}",
        )
    ]
    for location in (world.url("/root.crl"), world.url("/ocsp")):
        source = _source(result, location)
        assert (source.verdict, source.revoked_at, source.reason) == (
            "revoked",
            REVOKED_ON,
            "keyCompromise",
        )
        assert source.detail == "revoked on 2026-10-01 08:30 UTC (keyCompromise)"


def test_unknown_to_the_responder_is_a_warning(checked: Checked) -> None:
    world = checked.world
    result = checked.result("unknown")

    assert result.status == "unknown"
    assert _source(result, world.url("/ocsp")).verdict == "unknown"
    assert _finding(result, "revocation_unreachable").message == (
        "no revocation source gave a usable answer: "
        f"{world.url('/ocsp')}: the responder does not know this certificate "
        "(signed by the issuer)"
    )


def test_stale_crl_is_reported_once(checked: Checked) -> None:
    world = checked.world
    result = checked.result("stale")

    assert result.status == "unknown"
    assert _source(result, world.url("/stale.crl")).verdict == "stale"
    assert [(f.code, f.message) for f in result.findings] == [
        (
            "crl_stale",
            f"the CRL at {world.url('/stale.crl')} expired 3 d ago (next update was 2026-11-24)",
        )
    ]


def test_crl_signed_with_another_key_is_rejected(checked: Checked) -> None:
    world = checked.world
    result = checked.result("wrong_key")

    source = _source(result, world.url("/wrong-key.crl"))
    assert (source.verdict, source.error) == (
        "invalid",
        "the CRL's signature does not verify with the issuer's key",
    )
    assert result.status == "unreachable"
    assert (
        "the CRL's signature does not verify" in _finding(result, "revocation_unreachable").message
    )


def test_ocsp_answers_from_a_delegated_responder_count_and_from_a_stranger_do_not(
    checked: Checked,
) -> None:
    world = checked.world
    delegated = checked.result("delegated")
    rogue = checked.result("rogue")

    assert delegated.status == "good"
    assert _source(delegated, world.url("/ocsp-delegated")).detail == (
        "good (signed by the delegated responder CN=Revocation Test OCSP Responder)"
    )
    source = _source(rogue, world.url("/ocsp-rogue"))
    assert (source.verdict, source.error) == (
        "invalid",
        "the answer is not signed by the issuer or by a responder it authorised",
    )
    assert rogue.status == "unreachable"
    assert [f.code for f in rogue.findings] == ["revocation_unreachable"]


def test_http_error_is_reported_with_its_status(checked: Checked) -> None:
    world = checked.world
    result = checked.result("missing")

    source = _source(result, world.url("/missing.crl"))
    assert (source.verdict, source.reachable, source.http_status, source.error) == (
        "failed",
        True,
        404,
        "HTTP 404 Not Found",
    )
    assert _finding(result, "revocation_unreachable").message == (
        "no revocation source gave a usable answer: "
        f"{world.url('/missing.crl')}: HTTP 404 Not Found"
    )


def test_hanging_responder_times_out_and_the_rest_completes(checked: Checked) -> None:
    world = checked.world
    result = checked.result("slow")

    hung = _source(result, world.url("/hang"))
    assert (hung.verdict, hung.error, hung.reachable) == ("failed", "timed out after 1 s", False)
    assert result.status == "good"
    assert result.findings == ()
    assert not checked.report.time_limit_reached


def test_ldap_urls_are_not_checked_but_do_not_hide_a_good_answer(checked: Checked) -> None:
    both = checked.result("ldap")
    only = checked.result("ldap_only")

    ldap = next(s for s in both.sources if s.location.startswith("ldap:"))
    assert (ldap.verdict, ldap.error) == ("not_checked", "not checked: ldap URLs are not supported")
    assert both.status == "good"
    assert both.findings == ()
    assert only.status == "unreachable"
    assert _finding(only, "revocation_unreachable").message == (
        "no revocation source gave a usable answer: "
        "ldap://ldap.example.invalid/cn=Root: not checked: ldap URLs are not supported"
    )


def test_no_sources_and_trust_anchors(checked: Checked) -> None:
    world = checked.world
    results = checked.report.by_sha256()

    assert (results[world.sha("none")].status, results[world.sha("none")].findings) == (
        "no_sources",
        (),
    )
    assert results[world.pki.root.sha256].status == "skipped"
    assert results[world.pki.root.sha256].sources == ()


def test_missing_issuer_is_downloaded_from_the_ca_issuers_url(checked: Checked) -> None:
    world = checked.world
    result = checked.result("via_int")
    orphan = checked.result("orphan")

    assert result.status == "good"
    assert result.issuer == world.intermediate.sha256
    found = _source(result, world.url("/int.p7c"))
    assert (found.kind, found.verdict) == ("ca_issuers", "found")
    assert found.detail == "the issuer certificate CN=Revocation Test Intermediate"
    crl = _source(orphan, world.url("/int.crl"))
    assert (crl.verdict, crl.error) == (
        "not_checked",
        "issuer certificate not available: cannot verify the CRL signature",
    )
    assert orphan.status == "unreachable"


def test_each_distinct_url_is_fetched_once_and_nothing_else(checked: Checked) -> None:
    world = checked.world
    server = world.server
    for path in (
        "/root.crl",
        "/stale.crl",
        "/wrong-key.crl",
        "/int.crl",
        "/int.p7c",
        "/missing.crl",
    ):
        assert server.count(path) == 1, path
    # OCSP requests are one per certificate: good, revoked and unknown ask /ocsp.
    assert server.count("/ocsp") == 3
    assert sorted(r.serial_number for r in world.ca_responder.requests) == sorted(
        world.leaves[n].cert.serial_number for n in ("good", "revoked", "unknown")
    )
    assert {r.content_type for r in server.requests if r.method == "POST"} == {
        "application/ocsp-request"
    }
    assert {r.target for r in server.requests} == {
        "/root.crl",
        "/stale.crl",
        "/wrong-key.crl",
        "/int.crl",
        "/int.p7c",
        "/missing.crl",
        "/ocsp",
        "/ocsp-delegated",
        "/ocsp-rogue",
        "/hang",
    }
    shared = next(f for f in checked.report.fetches if f.url == world.url("/root.crl"))
    assert shared.certificates == tuple(
        sorted(world.sha(n) for n in ("good", "revoked", "slow", "ldap"))
    )
    assert (shared.reachable, shared.http_status, shared.error) == (True, 200, None)


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"serial_shift": 1}, "the answer is about another certificate"),
        ({"foreign_issuer": True}, "the answer is about another certificate"),
        (
            {"this_update": NOW + timedelta(hours=1)},
            "the answer is dated in the future (2026-11-27 13:00 UTC)",
        ),
        (
            {"this_update": NOW - timedelta(days=2), "next_update": NOW - timedelta(days=1)},
            "the answer is out of date (next update was 2026-11-26 12:00 UTC)",
        ),
    ],
    ids=["other-serial", "other-issuer", "future", "out-of-date"],
)
async def test_ocsp_answers_that_do_not_fit_are_rejected(
    server: RevocationServer, options: dict[str, Any], error: str
) -> None:
    pki = TestPKI()
    leaf = pki.leaf("x.example.test", ocsp_urls=[server.url("/ocsp")])
    server.ocsp("/ocsp", Responder(pki.root, {leaf.cert.serial_number: GOOD}, **options))

    report = await check_revocation([record(pki.root, trust_anchor=True), record(leaf)], now=NOW)

    result = report.by_sha256()[leaf.sha256]
    assert [(s.verdict, s.error) for s in result.sources] == [("invalid", error)]
    assert result.status == "unreachable"


async def test_total_time_limit_marks_unfinished_urls(server: RevocationServer) -> None:
    world = _world(server)
    report = await check_revocation(
        world.records("slow"), now=NOW, request_timeout=5.0, time_limit=0.3
    )

    result = report.by_sha256()[world.sha("slow")]
    hung = _source(result, world.url("/hang"))
    assert (hung.verdict, hung.error) == (
        "not_checked",
        "not checked: the time limit of 0.3 s was reached",
    )
    assert report.time_limit_reached


async def test_time_limit_keeps_what_finished() -> None:
    pki = TestPKI()
    leaf = pki.leaf(
        "x.example.test", crl=["http://crl.test/ca.crl"], ocsp_urls=["http://ocsp.test/"]
    )
    crl = der(make_crl(pki.root))
    release = threading.Event()

    def fetch(request: HttpRequest) -> HttpResponse:
        if request.body is not None:
            release.wait(10)
            return HttpResponse(None, error="released")
        return HttpResponse(200, crl)

    try:
        report = await check_revocation(
            [record(pki.root, trust_anchor=True), record(leaf)],
            now=NOW,
            fetch=fetch,
            time_limit=0.3,
        )
    finally:
        release.set()

    result = report.by_sha256()[leaf.sha256]
    assert _source(result, "http://crl.test/ca.crl").verdict == "good"
    assert _source(result, "http://ocsp.test/").error == (
        "not checked: the time limit of 0.3 s was reached"
    )
    assert result.status == "good"
    assert report.time_limit_reached


async def test_injected_fetch_sees_each_url_once() -> None:
    pki = TestPKI()
    leaves = [pki.leaf(f"{n}.example.test", crl=["http://crl.test/ca.crl"]) for n in range(5)]
    crl = der(make_crl(pki.root, [Revoked(leaves[2].cert.serial_number, REVOKED_ON)]))
    seen: list[str] = []
    lock = threading.Lock()

    def fetch(request: HttpRequest) -> HttpResponse:
        with lock:
            seen.append(request.url)
        assert request.max_bytes == 32 * 1024 * 1024
        return HttpResponse(200, crl)

    report = await check_revocation(
        [record(pki.root, trust_anchor=True)] + [record(m) for m in leaves], now=NOW, fetch=fetch
    )

    assert seen == ["http://crl.test/ca.crl"]
    statuses = [report.by_sha256()[m.sha256].status for m in leaves]
    assert statuses == ["good", "good", "revoked", "good", "good"]
    assert _finding(report.by_sha256()[leaves[2].sha256], "revoked").message == (
        "revoked on 2026-10-01 according to http://crl.test/ca.crl"
    )


async def test_cancelling_the_check_stops_it() -> None:
    pki = TestPKI()
    leaf = pki.leaf("x.example.test", crl=["http://crl.test/ca.crl"])
    started = threading.Event()
    release = threading.Event()

    def fetch(request: HttpRequest) -> HttpResponse:
        started.set()
        release.wait(10)
        return HttpResponse(None, error="released")

    task = asyncio.create_task(check_revocation([record(leaf)], now=NOW, fetch=fetch))
    try:
        assert await asyncio.to_thread(started.wait, 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        release.set()


# -- the default fetcher -----------------------------------------------------------------


def test_fetcher_reports_connection_refused(network: Network) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again at once: nothing listens there
    network.allowed.add(("127.0.0.1", port))

    response = http_fetch(HttpRequest(f"http://127.0.0.1:{port}/ca.crl", 1000, 5.0))

    assert (response.status, response.error) == (None, "connection refused")


async def test_dns_failure_is_reported_and_nothing_is_contacted(network: Network) -> None:
    network.expected_lookups.add("crl.example.invalid")
    pki = TestPKI()
    leaf = pki.leaf("x.example.test", crl=["http://crl.example.invalid/ca.crl"])

    report = await check_revocation([record(pki.root, trust_anchor=True), record(leaf)], now=NOW)

    source = report.by_sha256()[leaf.sha256].sources[0]
    assert (source.verdict, source.error) == (
        "failed",
        "DNS failure: the host name does not resolve",
    )
    assert network.lookups == ["crl.example.invalid"]
    assert network.forbidden == []


def test_fetcher_times_out_on_a_server_that_trickles(server: RevocationServer) -> None:
    url = server.trickle("/trickle.crl")

    response = http_fetch(HttpRequest(url, 1024 * 1024, 0.5))

    assert response.error == "timed out after 0.5 s"


def test_fetcher_refuses_oversized_answers(server: RevocationServer) -> None:
    declared = server.static("/big.crl", b"x" * 5000)
    server.routes["/unannounced.crl"] = lambda h: _close_delimited(h, b"y" * 5000)

    assert http_fetch(HttpRequest(declared, 1000, 5.0)).error == (
        "the answer is larger than 1000 bytes"
    )
    assert http_fetch(HttpRequest(server.url("/unannounced.crl"), 1000, 5.0)).error == (
        "the answer is larger than 1000 bytes"
    )
    assert http_fetch(HttpRequest(declared, 5000, 5.0)).body == b"x" * 5000


def _close_delimited(h: Any, body: bytes) -> None:
    """An HTTP/1.0 answer without Content-Length: the body ends when the connection does."""
    h.send_response(200)
    h.end_headers()
    h.wfile.write(body)


@pytest.mark.parametrize(
    "location",
    ["file:///etc/passwd", "ftp://127.0.0.1/ca.crl", "/moved.crl"],
    ids=["file", "ftp", "loop"],
)
def test_fetcher_follows_redirects_only_to_http(server: RevocationServer, location: str) -> None:
    def redirect(h: Any) -> None:
        h.send_response(302)
        h.send_header("Location", location)
        h.send_header("Content-Length", "0")
        h.end_headers()

    server.routes["/moved.crl"] = redirect
    server.static("/ca.crl", b"crl")

    response = http_fetch(HttpRequest(server.url("/moved.crl"), 1000, 5.0))

    assert response.error == (
        "the redirect was not followed (too many, or not to an http or https URL)"
    )
    assert response.body == b""
    assert server.count("/ca.crl") == 0


def test_fetcher_follows_a_redirect_to_http(server: RevocationServer) -> None:
    def redirect(h: Any) -> None:
        h.send_response(301)
        h.send_header("Location", "/ca.crl")
        h.send_header("Content-Length", "0")
        h.end_headers()

    server.routes["/moved.crl"] = redirect
    server.static("/ca.crl", b"crl")

    response = http_fetch(HttpRequest(server.url("/moved.crl"), 1000, 5.0))

    assert (response.status, response.body, response.error) == (200, b"crl", None)


async def test_requests_go_through_the_proxy_in_absolute_form(
    server: RevocationServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("http_proxy", server.url(""))
    pki = TestPKI()
    server.static("/ca.crl", der(make_crl(pki.root)))
    leaf = pki.leaf("x.example.test", crl=["http://crl.example.test/ca.crl"])

    report = await check_revocation([record(pki.root, trust_anchor=True), record(leaf)], now=NOW)

    assert report.by_sha256()[leaf.sha256].status == "good"
    assert [(r.method, r.target) for r in server.requests] == [
        ("GET", "http://crl.example.test/ca.crl")
    ]


# -- local CRL files ---------------------------------------------------------------------


@dataclass
class LocalPKI:
    pki: TestPKI
    intermediate: Made
    revoked: Made
    kept: Made
    by_intermediate: Made


def _local_pki() -> LocalPKI:
    pki = TestPKI()
    intermediate = pki.leaf("Revocation Test Intermediate", ca=True)
    return LocalPKI(
        pki,
        intermediate,
        revoked=pki.leaf("revoked.example.test"),
        kept=pki.leaf("kept.example.test"),
        by_intermediate=pki.leaf("by-int.example.test", issuer=intermediate),
    )


def _local_records(w: LocalPKI) -> list[CertificateRecord]:
    return [
        record(w.pki.root, trust_anchor=True),
        record(w.intermediate),
        record(w.revoked),
        record(w.kept),
        record(w.by_intermediate),
    ]


def _local_files(w: LocalPKI) -> list[tuple[str, bytes]]:
    root_crl = make_crl(
        w.pki.root, [Revoked(w.revoked.cert.serial_number, REVOKED_ON, KEY_COMPROMISE)]
    )
    stale_int = make_crl(
        w.intermediate, this_update=NOW - timedelta(days=40), next_update=NOW - timedelta(days=10)
    )
    stranger = issue("Unrelated CA", issuer=None, key=ec_key(730), serial=9, ca=True)
    return [
        ("/etc/ssl/crl/bundle.pem", pem(root_crl) + b"\n" + pem(stale_int)),
        ("/etc/ssl/crl/unrelated.der", der(make_crl(stranger))),
        ("/etc/ssl/crl/garbage.crl", b"\x00\x01 this is not a CRL"),
        (
            "/etc/ssl/crl/damaged.pem",
            pem(make_crl(w.pki.root)) + b"-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n",
        ),
    ]


def test_local_crl_files_apply_without_network() -> None:
    w = _local_pki()

    report = local_crl_checks(_local_records(w), _local_files(w), now=NOW)

    results = report.by_sha256()
    revoked = results[w.revoked.sha256]
    assert revoked.status == "revoked"
    assert [(f.code, f.message) for f in revoked.findings] == [
        ("revoked", "revoked on 2026-10-01 (keyCompromise) according to /etc/ssl/crl/bundle.pem")
    ]
    assert {(s.kind, s.location, s.verdict) for s in revoked.sources} == {
        ("crl-file", "/etc/ssl/crl/bundle.pem", "revoked"),
        ("crl-file", "/etc/ssl/crl/damaged.pem", "good"),
    }
    assert results[w.kept.sha256].status == "good"
    assert results[w.kept.sha256].findings == ()
    stale = results[w.by_intermediate.sha256]
    assert stale.status == "unknown"
    assert [(f.code, f.message) for f in stale.findings] == [
        (
            "crl_stale",
            "the CRL at /etc/ssl/crl/bundle.pem expired 10 d ago (next update was 2026-11-17)",
        )
    ]
    assert w.pki.root.sha256 not in results  # a trust anchor: nothing can revoke it


def test_local_crl_files_that_are_not_crls_or_cover_nothing_are_explained() -> None:
    w = _local_pki()

    report = local_crl_checks(_local_records(w), _local_files(w), now=NOW)

    assert [(u.path, u.reason) for u in report.unreadable] == [
        (
            "/etc/ssl/crl/garbage.crl",
            "not a valid certificate revocation list (malformed DER: an unexpected field)",
        ),
        (
            "/etc/ssl/crl/damaged.pem",
            "CRL 2 in the file is damaged and cannot be read (malformed DER: an unexpected field)",
        ),
    ]
    files = {(c.path, c.index): c for c in report.crl_files}
    assert set(files) == {
        ("/etc/ssl/crl/bundle.pem", 0),
        ("/etc/ssl/crl/bundle.pem", 1),
        ("/etc/ssl/crl/unrelated.der", 0),
        ("/etc/ssl/crl/damaged.pem", 0),
    }
    assert files["/etc/ssl/crl/unrelated.der", 0].problem == (
        "no certificate checked here was issued by CN=Unrelated CA"
    )
    assert files["/etc/ssl/crl/unrelated.der", 0].covers == ()
    root_crl = files["/etc/ssl/crl/bundle.pem", 0]
    assert (root_crl.problem, root_crl.entries) == (None, 1)
    assert root_crl.covers == tuple(sorted(m.sha256 for m in (w.intermediate, w.revoked, w.kept)))


def test_local_crl_needs_the_issuer_and_its_signature() -> None:
    w = _local_pki()
    forged = make_crl(
        w.pki.root, [Revoked(w.kept.cert.serial_number, REVOKED_ON)], signer=ec_key(731)
    )
    files = [
        ("/etc/ssl/crl/int.pem", pem(make_crl(w.intermediate))),
        ("/etc/ssl/crl/forged.der", der(forged)),
    ]

    # The intermediate is not among the records: its CRL cannot be verified.
    report = local_crl_checks(
        [record(w.pki.root, trust_anchor=True), record(w.kept), record(w.by_intermediate)],
        files,
        now=NOW,
    )

    # Without a network an unverifiable CRL says nothing: no status, no finding; the file
    # summaries say why each CRL applied to nothing.
    assert report.results == ()
    files_by_path = {c.path: c for c in report.crl_files}
    assert files_by_path["/etc/ssl/crl/forged.der"].problem == (
        "the CRL's signature does not verify with the issuer's key"
    )
    assert files_by_path["/etc/ssl/crl/int.pem"].problem is not None


async def test_online_check_uses_local_crls_and_revoked_wins(server: RevocationServer) -> None:
    pki = TestPKI()
    server.static("/ca.crl", der(make_crl(pki.root)))
    leaf = pki.leaf("x.example.test", crl=[server.url("/ca.crl")])
    newer = make_crl(
        pki.root,
        [Revoked(leaf.cert.serial_number, REVOKED_ON, x509.ReasonFlags.superseded)],
        this_update=NOW - timedelta(hours=1),
    )

    report = await check_revocation(
        [record(pki.root, trust_anchor=True), record(leaf)],
        now=NOW,
        local_crls=[("/etc/ssl/crl/ca.pem", pem(newer))],
    )

    result = report.by_sha256()[leaf.sha256]
    assert [(s.kind, s.verdict) for s in result.sources] == [
        ("crl-file", "revoked"),
        ("crl", "good"),
    ]
    assert result.status == "revoked"
    assert [f.message for f in result.findings] == [
        "revoked on 2026-10-01 (superseded) according to /etc/ssl/crl/ca.pem"
    ]
    assert [c.covers for c in report.crl_files] == [(leaf.sha256,)]


# -- JSON and findings -------------------------------------------------------------------


def test_json_form(checked: Checked) -> None:
    world = checked.world
    document = report_json(checked.report)

    json.dumps(document)  # plain values only
    assert document["checked_at"] == "2026-11-27T12:00:00Z"
    shas = [c["sha256"] for c in document["certificates"]]
    assert shas == sorted(shas)
    assert len(shas) == len(world.leaves) + 1
    missing = next(c for c in document["certificates"] if c["sha256"] == world.sha("missing"))
    assert missing["status"] == "unreachable"
    assert missing["checked_at"] == "2026-11-27T12:00:00Z"
    (source,) = missing["sources"]
    assert {
        k: source[k] for k in ("kind", "url", "reachable", "error", "http_status", "verdict")
    } == {
        "kind": "crl",
        "url": world.url("/missing.crl"),
        "reachable": True,
        "error": "HTTP 404 Not Found",
        "http_status": 404,
        "verdict": "failed",
    }
    assert isinstance(source["latency_ms"], int)
    revoked = next(c for c in document["certificates"] if c["sha256"] == world.sha("revoked"))
    assert [s["kind"] for s in revoked["sources"]] == ["crl", "ocsp"]
    assert revoked["sources"][0]["revoked_at"] == "2026-10-01T08:30:00Z"
    assert revoked["findings"][0]["severity"] == "error"
    statuses = {c["status"] for c in document["certificates"]}
    assert statuses == {"good", "revoked", "unknown", "unreachable", "no_sources", "skipped"}


def test_json_form_is_deterministic_and_names_files_by_path() -> None:
    w = _local_pki()
    records = _local_records(w)
    files = _local_files(w)

    first = report_json(local_crl_checks(records, files, now=NOW))
    second = report_json(local_crl_checks(records[::-1], files[::-1], now=NOW))

    assert first == second
    source = first["certificates"][0]["sources"][0]
    assert source["kind"] == "crl-file"
    assert source["path"].startswith("/etc/ssl/crl/")
    assert "url" not in source
    assert first["unreadable"][0] == {
        "path": "/etc/ssl/crl/damaged.pem",
        "reason": (
            "CRL 2 in the file is damaged and cannot be read (malformed DER: an unexpected field)"
        ),
    }


def test_new_revocation_findings_replace_the_old_ones() -> None:
    pki = TestPKI()
    leaf = record(pki.leaf("x.example.test"))
    expired = Finding("expired", SEVERITY["expired"], "expired on …")
    old = Finding("revoked", SEVERITY["revoked"], "revoked according to an old check")
    leaf = replace(leaf, findings=(old, expired))
    stale = Finding("crl_stale", SEVERITY["crl_stale"], "the CRL at … expired")
    result = CertRevocation(leaf.sha256, NOW, "unknown", findings=(stale,))

    updated = with_revocation_findings(leaf, result)

    assert updated.findings == (expired, stale)
    assert with_revocation_findings(updated, None).findings == (expired,)
    with pytest.raises(ValueError, match="another certificate"):
        with_revocation_findings(record(pki.root), result)
