"""Revocation checks from the TUI (key R): the column, the findings, the details, the
notifications, rescans, and that nothing but the local test server is ever contacted."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.x509 import ocsp
from textual.app import App, ComposeResult

from core.revocation import (
    Fetch,
    HttpRequest,
    HttpResponse,
    check_revocation,
    local_crl_checks,
    with_revocation_findings,
)
from core.scan import scan
from core.scope import ALL
from core.settings import ConsumerSetting, Settings
from tests.certgen import Made, ec_key
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
)
from tests.tui.harness import (
    HOST,
    NOW,
    SETTINGS_IN_TREE,
    lines,
    main_screen,
    scanned,
    screen_text,
    table,
    until,
)
from tests.tui.wizards import record_notes
from tui.app import CertdeckApp
from tui.display import Catalog, SortKey, revocation_summary
from tui.widgets.details import NOT_CHECKED, DetailsView

DASH = "\N{EN DASH}"
"""What the revocation column shows for trust anchors and self-signed certificates."""
REVOKED_ON = datetime(2026, 10, 1, 8, 30, tzinfo=UTC)
APP_FOLDER = "/etc/ssl/app"
LOCAL_CRL = "/etc/ssl/crl/revocation-test-root.crl"
FAKE_BASE = "http://pki.demo.example"
"""Where the certificates of the tests without a live server point (never resolved)."""


# -- a small machine whose certificates name CRL and OCSP URLs ---------------------------


@dataclass
class RevocationTree:
    """A machine tree: a trusted test root, an intermediate and four leaves a declared
    consumer uses, a local copy of the root's CRL, and what the CA's servers answer."""

    root: Path
    pki: TestPKI
    intermediate: Made
    leaves: dict[str, Made]
    crls: dict[str, bytes]
    """DER CRLs by URL path."""
    responder: Responder
    settings: Settings

    def sha(self, name: str) -> str:
        """The fingerprint of ``root``, ``intermediate`` or a leaf."""
        if name == "root":
            return self.pki.root.sha256
        if name == "intermediate":
            return self.intermediate.sha256
        return self.leaves[name].sha256

    def serve(self, server: RevocationServer) -> None:
        """Put the CRLs and the OCSP responder on the test server."""
        for path, body in self.crls.items():
            server.static(path, body)
        server.ocsp("/ocsp", self.responder)

    def fetch(self, base: str) -> Fetch:
        """A fetch that answers for ``base`` URLs from memory, as the CA's servers would."""

        def fetch(request: HttpRequest) -> HttpResponse:
            path = request.url.removeprefix(base)
            if path == "/ocsp" and request.body is not None:
                return HttpResponse(200, self.responder.answer(request.body))
            if path in self.crls:
                return HttpResponse(200, self.crls[path])
            return HttpResponse(404, error="HTTP 404 Not Found")

        return fetch


def revocation_tree(folder: Path, base: str) -> RevocationTree:
    """Write the tree under ``folder/root``; the certificates' URLs start with ``base``."""
    pki = TestPKI()
    intermediate = pki.leaf("Revocation Test Intermediate", ca=True)
    crl, ocsp_url = [f"{base}/root.crl"], [f"{base}/ocsp"]
    leaves = {
        "good": pki.leaf("good.example.test", crl=crl, ocsp_urls=ocsp_url),
        "revoked": pki.leaf("revoked.example.test", crl=crl, ocsp_urls=ocsp_url),
        "unreachable": pki.leaf(
            "unreachable.example.test", issuer=intermediate, crl=[f"{base}/missing.crl"]
        ),
        "none": pki.leaf("none.example.test", issuer=intermediate),
    }
    revoked = leaves["revoked"].cert.serial_number
    root_crl = make_crl(pki.root, [Revoked(revoked, REVOKED_ON, x509.ReasonFlags.key_compromise)])
    responder = Responder(
        pki.root,
        {
            leaves["good"].cert.serial_number: GOOD,
            revoked: Answer(
                ocsp.OCSPCertStatus.REVOKED, REVOKED_ON, x509.ReasonFlags.key_compromise
            ),
        },
    )
    root = folder / "root"
    files: dict[str, bytes] = {
        "/usr/local/share/ca-certificates/revocation-test-root.crt": pki.root.pem,
        f"{APP_FOLDER}/intermediate.pem": intermediate.pem,
        LOCAL_CRL: pem(root_crl),
    }
    for name, made in leaves.items():
        files[f"{APP_FOLDER}/{name}.pem"] = made.pem
    for path, data in files.items():
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    consumer = ConsumerSetting(
        name="app", files=tuple(f"{APP_FOLDER}/{name}.pem" for name in leaves)
    )
    return RevocationTree(
        root=root,
        pki=pki,
        intermediate=intermediate,
        leaves=leaves,
        crls={"/root.crl": der(root_crl)},
        responder=responder,
        settings=Settings(consumers=(consumer,)),
    )


def revocation_app(tree: RevocationTree, **options: Any) -> CertdeckApp:
    """The app on the tree with the fixed clock (the current folder must be the root)."""
    app = CertdeckApp(
        root=tree.root,
        now=NOW,
        settings=tree.settings,
        settings_path=SETTINGS_IN_TREE,
        host_name=HOST,
        demo=True,
        **options,
    )
    app.animation_level = "none"
    return app


# -- fixtures ----------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def network() -> Iterator[Network]:
    """Every test runs guarded: only the test server (once started) is reachable, and no
    name is looked up."""
    with guarded(Network()) as net:
        yield net


@pytest.fixture
def server(network: Network) -> Iterator[RevocationServer]:
    with RevocationServer() as srv:
        network.allowed.add(srv.address)
        yield srv


@pytest.fixture
def served(
    tmp_path: Path, server: RevocationServer, monkeypatch: pytest.MonkeyPatch
) -> RevocationTree:
    """The tree, its CA's answers on the live test server; the current folder is its root."""
    tree = revocation_tree(tmp_path, server.url(""))
    tree.serve(server)
    monkeypatch.chdir(tree.root)
    return tree


@pytest.fixture
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RevocationTree:
    """The tree with URLs of a made-up host, answered by :meth:`RevocationTree.fetch`."""
    tree = revocation_tree(tmp_path, FAKE_BASE)
    monkeypatch.chdir(tree.root)
    return tree


async def check(pilot: Any) -> None:
    """Press R and wait until the check is over and shown."""
    await pilot.press("R")
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def flat(text: str) -> str:
    """The text with line breaks and indentation collapsed, for sentences that wrap."""
    return " ".join(text.split())


def source_row(text: str, location: str) -> list[str]:
    """The words of the details' source table row of a URL or file."""
    for line in text.splitlines():
        words = line.split()
        if words and words[0] in ("CRL", "OCSP") and location in words:
            return words
    raise AssertionError(f"no source row for {location}")


def shown_revocation(app: CertdeckApp, tab: str = "required") -> dict[str, str]:
    """The revocation column of a table, by fingerprint."""
    return {row.sha256: row.revocation for row in table(app, tab).rows}


# -- tests -------------------------------------------------------------------------------


async def test_r_checks_the_required_certificates_and_shows_every_verdict(
    served: RevocationTree,
    server: RevocationServer,
    network: Network,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tree = served
    app = revocation_app(tree)
    notes = record_notes(app, monkeypatch)
    async with app.run_test(size=(160, 40)) as pilot:
        await scanned(pilot)
        required = table(app, "required")
        assert len(required.rows) == 6
        # The scan may judge by the root's CRL file; nothing covers the intermediate's leaves.
        before = shown_revocation(app)
        assert before[tree.sha("unreachable")] == before[tree.sha("none")] == ""
        # The root's CRL file on the machine already revokes one: the scan says so.
        assert before[tree.sha("revoked")] == "REVOKED"
        assert server.requests == [], "nothing is fetched before R"
        errors_before = app.catalog.counts().errors

        await check(pilot)

        first, options = notes.said[0]
        assert first.startswith(
            "Checking revocation of the 6 required certificates: this connects to the CRL "
            "and OCSP servers named in them"
        )
        assert options["title"] == "Revocation check"
        message, options = notes.said[-1]
        assert message == (
            "2 good, 1 revoked, 1 unreachable, 1 without revocation information, "
            "1 not checked (trust anchors and self-signed)."
        )
        assert options["severity"] == "error"
        assert options["title"] == "Revocation checked"
        assert shown_revocation(app) == {
            tree.sha("root"): DASH,
            tree.sha("intermediate"): "good",
            tree.sha("good"): "good",
            tree.sha("revoked"): "REVOKED",
            tree.sha("unreachable"): "unreachable",
            tree.sha("none"): "no info",
        }
        drawn = lines(required)
        assert "Revocation" in drawn[0]
        assert any("revoked.example.test" in line and "REVOKED" in line for line in drawn)
        revoked = app.catalog.records[tree.sha("revoked")]
        assert revoked.revocation == "revoked"
        assert revoked.has("revoked")
        assert app.catalog.records[tree.sha("unreachable")].has("revocation_unreachable")
        assert "revoked" in app.catalog.rows[tree.sha("revoked")].findings
        assert app.catalog.counts().errors == errors_before
        assert f"✖ {errors_before} errors" in screen_text(app)
        # One request per distinct CRL URL, one OCSP request per certificate.
        assert server.count("/root.crl") == 1
        assert server.count("/ocsp") == 2
        assert server.count("/missing.crl") == 1
    assert network.forbidden == []
    assert network.lookups == []


async def test_details_show_each_source_with_its_answer(
    served: RevocationTree, server: RevocationServer
) -> None:
    tree = served
    app = revocation_app(tree)
    async with app.run_test(size=(160, 50)) as pilot:
        await scanned(pilot)
        required = table(app, "required")
        assert required.move_to(tree.sha("unreachable"))
        await pilot.press("enter")
        await pilot.pause()
        assert NOT_CHECKED in flat(screen_text(app))

        await check(pilot)

        text = screen_text(app)
        assert NOT_CHECKED not in flat(text)
        assert "Status         ▲ unreachable: no CRL or OCSP responder gave a usable answer" in text
        assert "Checked        2026-11-27 12:00 UTC  (just now)" in text
        assert "Verified with  Revocation Test Intermediate" in text
        assert "Source URL or file Verdict HTTP Time" in flat(text)
        failed = source_row(text, server.url("/missing.crl"))
        assert failed[:4] == ["CRL", server.url("/missing.crl"), "failed", "404"]
        assert failed[5] == "ms"
        assert "HTTP 404 Not Found" in text

        await pilot.press("1")
        assert required.move_to(tree.sha("revoked"))
        await pilot.press("enter")
        await pilot.pause()
        text = screen_text(app)
        assert "Status         ✖ REVOKED: revoked on 2026-10-01 08:30 UTC (keyCompromise)" in text
        assert "Verified with  Revocation Test Root" in text
        crl = source_row(text, server.url("/root.crl"))
        assert crl[:4] == ["CRL", server.url("/root.crl"), "revoked", "200"]
        answer = source_row(text, server.url("/ocsp"))
        assert answer[:4] == ["OCSP", server.url("/ocsp"), "revoked", "200"]
        assert source_row(text, LOCAL_CRL) == ["CRL", "file", LOCAL_CRL, "revoked"]
        explanation = "revoked on 2026-10-01 08:30 UTC (keyCompromise)"
        assert sum(line.strip() == explanation for line in text.splitlines()) == 3


async def test_a_rescan_keeps_the_results(served: RevocationTree, server: RevocationServer) -> None:
    tree = served
    app = revocation_app(tree)
    async with app.run_test(size=(160, 40)) as pilot:
        await scanned(pilot)
        await check(pilot)
        before = shown_revocation(app)
        requests = len(server.requests)

        await pilot.press("r")
        await app.workers.wait_for_complete()
        await pilot.pause()

        assert app.scan_state.scans == 2
        assert app.scan_state.outcome == "finished"
        assert shown_revocation(app) == before
        assert app.catalog.records[tree.sha("revoked")].has("revoked")
        assert app.catalog.final is not None
        final = app.catalog.final.by_sha256()
        assert final[tree.sha("revoked")].revocation == "revoked"
        assert final[tree.sha("revoked")].has("revoked")
        assert len(server.requests) == requests, "a rescan does not contact the servers"


async def test_marked_certificates_are_checked_instead(
    served: RevocationTree, server: RevocationServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree = served
    app = revocation_app(tree)
    notes = record_notes(app, monkeypatch)
    async with app.run_test(size=(160, 40)) as pilot:
        await scanned(pilot)
        assert table(app, "required").move_to(tree.sha("good"))
        await pilot.press("space")
        await check(pilot)
        assert notes.said[0][0].startswith("Checking revocation of the 1 marked certificate:")
        assert notes.said[-1][0] == "1 good."
        assert notes.said[-1][1]["severity"] == "information"
        shown = shown_revocation(app)
        assert shown[tree.sha("good")] == "good"
        assert shown[tree.sha("unreachable")] == shown[tree.sha("none")] == ""
        assert tree.sha("revoked") not in app.catalog.revocation
        assert server.count("/missing.crl") == 0
        assert server.count("/ocsp") == 1


async def test_r_while_a_check_runs_says_so_and_escape_stops_it(
    offline: RevocationTree, network: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree = offline
    release = threading.Event()
    answer = tree.fetch(FAKE_BASE)
    asked: list[str] = []

    def slow(request: HttpRequest) -> HttpResponse:
        asked.append(request.url)
        release.wait(10)
        return answer(request)

    app = revocation_app(tree, revocation_fetch=slow)
    notes = record_notes(app, monkeypatch)
    try:
        async with app.run_test(size=(160, 40)) as pilot:
            await scanned(pilot)
            screen = main_screen(app)
            before = shown_revocation(app)
            await pilot.press("R")
            await until(pilot, lambda: bool(asked), "the check asks a server")
            assert screen.checking_revocation
            assert "checking revocation of 6 certificates · esc stops" in screen_text(app)
            await pilot.press("R")
            assert notes.said[-1][0].startswith("A revocation check is still running")
            # From Details, escape goes back to the table; there it stops the check.
            await pilot.press("3", "escape")
            assert screen.active_tab == "required"
            assert screen.checking_revocation
            await pilot.press("escape")
            await until(pilot, lambda: not screen.checking_revocation, "the check stops")
            assert notes.said[-1][0] == "The revocation check was stopped; nothing changed."
            assert shown_revocation(app) == before
            assert app.catalog.revocation == {}
            assert "checking revocation" not in screen_text(app)
    finally:
        release.set()
    assert network.forbidden == []


async def test_the_palette_checks_too_and_hostile_urls_stay_text(
    offline: RevocationTree, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree = offline
    hostile_url = "http://evil.example.test/[@click=app.quit]x[/]\x1b[31mred"
    hostile = issue(
        "hostile-urls.example.test",
        issuer=tree.pki.root,
        key=ec_key(790),
        serial=790,
        crl=[hostile_url, "ldap://ldap.example.test/cn=[b]CA[/b]"],
    )
    path = tree.root / "etc/ssl/other/hostile.pem"
    path.parent.mkdir(parents=True)
    path.write_bytes(hostile.pem)
    asked: list[str] = []
    answer = tree.fetch(FAKE_BASE)

    def fetch(request: HttpRequest) -> HttpResponse:
        asked.append(request.url)
        return answer(request)

    app = revocation_app(tree, revocation_fetch=fetch)
    async with app.run_test(size=(160, 50)) as pilot:
        await scanned(pilot)
        app.marked.add(hostile.sha256)
        await pilot.press("ctrl+p", *"revocation: check")
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("enter")
        await until(pilot, lambda: bool(app.catalog.revocation), "the check ran")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert asked == [], "neither URL may be fetched"
        # Only the root's CRL file on the machine could answer.
        assert app.catalog.rows[hostile.sha256].revocation == "good"
        main_screen(app).show_certificate(hostile.sha256)
        await pilot.pause()
        text = screen_text(app)
        assert "http://evil.example.test/[@click=app.quit]x[/]␛[31mred" in text
        assert "not checked: the URL holds characters no URL can hold" in text
        assert "ldap://ldap.example.test/cn=[b]CA[/b]" in text
        assert "not checked: ldap URLs are not supported" in text
        assert app.is_running


def test_revocation_sorts_revoked_first_and_the_summary_says_why(
    offline: RevocationTree,
) -> None:
    tree = offline
    inventory = asyncio.run(scan(tree.root, now=NOW, settings=tree.settings))
    catalog = Catalog()
    catalog.finish(inventory)
    version = catalog.version
    report = asyncio.run(
        check_revocation(
            inventory.certificates,
            now=NOW,
            local_crls=[(LOCAL_CRL, (tree.root / LOCAL_CRL.lstrip("/")).read_bytes())],
            issuers=inventory.certificates,
            fetch=tree.fetch(FAKE_BASE),
        )
    )

    assert catalog.apply_revocation(report) == len(inventory.certificates)

    assert catalog.version > version
    assert catalog.revocation_checked_at == NOW
    ordered = [row.revocation for row in catalog.sorted(ALL, SortKey.REVOCATION, False)]
    assert ordered == ["REVOKED", "unreachable", "no info", "good", "good", DASH]
    reverse = [row.revocation for row in catalog.sorted(ALL, SortKey.REVOCATION, True)]
    assert reverse == ordered[::-1]
    summary, severity = revocation_summary(report)
    assert summary == (
        "2 good, 1 revoked, 1 unreachable, 1 without revocation information, "
        "1 not checked (trust anchors and self-signed)"
    )
    assert severity == "error"
    # A rescan's inventory gets the kept results; a check without the revoked one is a warning.
    catalog.finish(inventory)
    assert catalog.records[tree.sha("revoked")].revocation == "revoked"
    partial = replace(
        report,
        results=tuple(r for r in report.results if r.status != "revoked"),
        time_limit_reached=True,
    )
    assert revocation_summary(partial) == (
        "2 good, 1 unreachable, 1 without revocation information, "
        "1 not checked (trust anchors and self-signed); time limit reached",
        "warning",
    )


class DetailsHost(App[None]):
    def compose(self) -> ComposeResult:
        yield DetailsView()


async def test_details_of_a_status_from_the_crl_files_alone(offline: RevocationTree) -> None:
    tree = offline
    inventory = await scan(tree.root, now=NOW, settings=tree.settings)
    local = local_crl_checks(
        inventory.certificates,
        [(LOCAL_CRL, (tree.root / LOCAL_CRL.lstrip("/")).read_bytes())],
        now=NOW,
    )
    record = with_revocation_findings(
        inventory.by_sha256()[tree.sha("revoked")], local.by_sha256()[tree.sha("revoked")]
    )
    app = DetailsHost()
    async with app.run_test(size=(120, 50)) as pilot:
        app.query_one(DetailsView).show(record, inventory, NOW)
        await pilot.pause()
        text = flat(screen_text(app))
    assert "Status ✖ REVOKED From the CRL files on this machine." in text
    assert "From the CRL files on this machine. Press R to check" in text
    assert NOT_CHECKED not in text
    assert "Source URL or file" not in text
