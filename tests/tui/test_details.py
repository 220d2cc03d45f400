"""The details view: every section of a certificate, hostile text shown verbatim, copying PEM."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.widgets import Static

from core.demo import DemoTree, build_demo_tree
from core.findings import SEVERITY, relative_time
from core.model import CertificateRecord, Inventory
from core.scan import scan
from core.settings import load_settings
from core.text import visible
from tui.widgets.details import DetailsView, finding_advice, pem

NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)
HOSTILE_CN = "[bold red]Legit[/] [@click=app.quit]x[/]"
EXTRA_CODES = ("revoked", "revocation_unreachable", "crl_stale")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[DemoTree, Inventory]:
    tree = build_demo_tree(tmp_path_factory.mktemp("demo") / "root", now=NOW)
    settings = load_settings(tree.settings_path)
    inventory = asyncio.run(scan(tree.root, now=NOW, settings=settings, parallel="thread"))
    return tree, inventory


@pytest.fixture
def inventory(demo: tuple[DemoTree, Inventory]) -> Inventory:
    return demo[1]


def record_of(demo: tuple[DemoTree, Inventory], label: str) -> CertificateRecord:
    tree, inventory = demo
    return inventory.by_sha256()[tree.cert(label).sha256]


class Host(App[None]):
    def __init__(self) -> None:
        super().__init__()
        # Scrolling jumps instead of gliding, so each key press is measured at once.
        self.animation_level = "none"

    def compose(self) -> ComposeResult:
        yield DetailsView()


class Recorder:
    """Stands in for ``App.copy_to_clipboard`` and ``App.notify``."""

    def __init__(self) -> None:
        self.copied: list[str] = []
        self.notes: list[tuple[str, dict[str, Any]]] = []

    def copy(self, text: str) -> None:
        self.copied.append(text)

    def notify(self, message: str, **options: Any) -> None:
        self.notes.append((message, options))


def shown(view: DetailsView) -> str:
    """Every line of the details as the terminal draws them, including lines scrolled away."""
    body = view.query_one("#details-body", Static)
    size = body.outer_size
    lines = body.render_lines(Region(0, 0, size.width, size.height))
    return "\n".join(line.text.rstrip() for line in lines)


def flat(text: str) -> str:
    """The text with line breaks and indentation collapsed, for sentences that wrap."""
    return " ".join(text.split())


async def test_without_a_certificate_a_hint_is_shown_and_c_copies_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = Host()
    recorder = Recorder()
    monkeypatch.setattr(app, "copy_to_clipboard", recorder.copy)
    async with app.run_test(size=(100, 40)) as pilot:
        view = app.query_one(DetailsView)
        view.focus()
        await pilot.pause()
        assert "Highlight a certificate and press enter" in shown(view)
        await pilot.press("c")
        assert recorder.copied == []
        assert app.is_running


async def test_every_section_of_a_used_certificate(
    demo: tuple[DemoTree, Inventory], inventory: Inventory
) -> None:
    record = record_of(demo, "nginx-www")
    cert = record.cert
    assert record.used_by, "the demo's www certificate is used by nginx"
    assert record.private_key is not None
    app = Host()
    async with app.run_test(size=(100, 40)) as pilot:
        view = app.query_one(DetailsView)
        view.show(record, inventory, NOW)
        await pilot.pause()
        text = shown(view)
    headings = [
        "Summary",
        "Findings",
        "Revocation",
        "Chain",
        "Used by",
        "Locations",
        "Private key",
        "Extensions",
        "Fingerprints",
        "PEM",
    ]
    positions = [text.find(f" {heading}  ─") for heading in headings]
    assert -1 not in positions, text
    assert positions == sorted(positions)
    lines = text.splitlines()
    assert f"Subject       {cert.subject}" in lines
    assert f"Issuer        {cert.issuer}" in lines
    assert f"Type          {cert.role}" in lines
    assert f"Serial        {cert.serial}" in lines
    assert "Trust anchor  no" in lines
    assert f"Valid until   {cert.not_after:%Y-%m-%d %H:%M} UTC" in text
    assert f"(expires {relative_time(cert.not_after, NOW)})" in text
    assert f"Key           EC, {cert.key.bits} bits, curve {cert.key.curve}" in lines
    assert "No findings" in text
    # The demo's CRL file of the issuing CA covers it: the scan judged it without a network.
    assert "Status ✔ good" in flat(text)
    assert "From the CRL files on this machine. Press R to check" in flat(text)
    # The chain as a tree: the leaf, its issuing CA, the root it is anchored at.
    names = [inventory.by_sha256()[sha].cert.display_name for sha in record.chain]
    assert len(names) == 3
    assert f"✔ {names[0]} · TLS server" in lines
    assert f"└── ▲ {names[1]} · intermediate CA · crl_stale" in lines
    assert f"    └── ✔ {names[2]} · root CA · trust anchor" in lines
    for use in record.used_by:
        assert f"{use.consumer}  {use.config}:{use.line}" in text
    for location in record.locations:
        assert location.path in lines
        assert f"  store {location.store} · index {location.index} · {location.format}" in lines
    key = record.private_key
    assert f"Path       {key.path}" in lines
    assert f"Mode       {key.mode}" in lines
    assert "Encrypted  no" in lines
    for name in cert.names:
        assert name in text
    assert "Extended use   serverAuth, clientAuth" in lines
    assert "Constraints    CA: no" in lines
    pairs = [cert.sha256[i : i + 2].upper() for i in range(0, 64, 2)]
    assert f"SHA-256  {':'.join(pairs[:16])}" in lines
    assert f"         {':'.join(pairs[16:])}" in lines
    for pem_line in pem(record).splitlines():
        assert pem_line in lines


async def test_findings_carry_their_message_and_advice(
    demo: tuple[DemoTree, Inventory], inventory: Inventory
) -> None:
    record = record_of(demo, "rsa-1024")
    assert record.findings
    app = Host()
    async with app.run_test(size=(100, 40)) as pilot:
        view = app.query_one(DetailsView)
        view.show(record, inventory, NOW)
        await pilot.pause()
        text = flat(shown(view))
    for finding in record.findings:
        symbol = {"error": "✖", "warning": "▲", "info": "•"}[finding.severity]
        assert f"{symbol} {finding.code} {flat(finding.message)}" in text
        assert flat(finding_advice(finding.code)) in text
    assert "No findings" not in text


async def test_a_link_missing_from_the_inventory_is_shown_by_fingerprint(
    demo: tuple[DemoTree, Inventory], inventory: Inventory
) -> None:
    record = record_of(demo, "nginx-www")
    unknown = hashlib.sha256(b"not scanned").hexdigest()
    record = dataclasses.replace(record, chain=(record.sha256, record.chain[1], unknown))
    app = Host()
    async with app.run_test(size=(100, 40)) as pilot:
        view = app.query_one(DetailsView)
        view.show(record, inventory, NOW)
        await pilot.pause()
        lines = shown(view).splitlines()
    assert "    └── ? not in the inventory, SHA-256" in lines
    assert f"        {unknown}" in lines


async def test_without_a_chain_the_issuer_and_the_reason_are_shown(
    demo: tuple[DemoTree, Inventory], inventory: Inventory
) -> None:
    untrusted = record_of(demo, "rhel-localhost")
    assert untrusted.has("untrusted")
    assert not untrusted.chain
    reason = next(f.message for f in untrusted.findings if f.code == "untrusted")
    unevaluated = dataclasses.replace(record_of(demo, "nginx-www"), chain=(), findings=())
    app = Host()
    async with app.run_test(size=(100, 40)) as pilot:
        view = app.query_one(DetailsView)
        view.show(untrusted, inventory, NOW)
        await pilot.pause()
        text = flat(shown(view))
        assert f"└── issued by {untrusted.cert.issuer}" in text
        assert f"No chain to a trust anchor was found: {flat(reason)}" in text
        view.show(unevaluated, inventory, NOW)
        await pilot.pause()
        text = flat(shown(view))
        assert f"└── issued by {unevaluated.cert.issuer}" in text
        assert "The chain was not evaluated." in text
        assert "No chain to a trust anchor was found" not in text


async def test_hostile_certificate_is_shown_verbatim_and_nothing_runs(
    demo: tuple[DemoTree, Inventory], inventory: Inventory, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = record_of(demo, "hostile")
    assert record.cert.common_name == HOSTILE_CN
    app = Host()
    recorder = Recorder()
    monkeypatch.setattr(app, "copy_to_clipboard", recorder.copy)
    monkeypatch.setattr(app, "notify", recorder.notify)
    async with app.run_test(size=(100, 40)) as pilot:
        view = app.query_one(DetailsView)
        view.focus()
        view.show(record, inventory, NOW)
        await pilot.pause()
        text = shown(view)
        lines = text.splitlines()
        assert lines[0].endswith(f" {HOSTILE_CN}")
        assert f"Name          {HOSTILE_CN}" in lines
        assert f"Subject       CN={HOSTILE_CN},O=␛[31mEvil␛[0m,C=DE" in lines
        assert "\x1b" not in text
        # Click where "[@click=app.quit]x" is drawn: it is text, not a link.
        column = lines[0].index("x[/]")
        await pilot.click(DetailsView, offset=(1 + column, 0))
        await pilot.press("c")
        await pilot.pause()
        assert app.is_running
        assert app.return_code is None
    assert recorder.copied == [pem(record)]
    # The notification shows the name as text too, not as markup.
    assert [(message, options["markup"]) for message, options in recorder.notes] == [
        (f"PEM of {HOSTILE_CN} copied", False)
    ]


async def test_c_copies_exactly_the_pem(
    demo: tuple[DemoTree, Inventory], inventory: Inventory, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = record_of(demo, "nginx-www")
    app = Host()
    recorder = Recorder()
    monkeypatch.setattr(app, "copy_to_clipboard", recorder.copy)
    monkeypatch.setattr(app, "notify", recorder.notify)
    async with app.run_test(size=(100, 40)) as pilot:
        view = app.query_one(DetailsView)
        view.focus()
        view.show(record, inventory, NOW)
        await pilot.pause()
        await pilot.press("c")
        await pilot.pause()
    assert recorder.copied == [pem(record)]
    assert [message for message, _ in recorder.notes] == [
        f"PEM of {visible(record.cert.display_name)} copied"
    ]


def test_pem_is_the_certificate(demo: tuple[DemoTree, Inventory]) -> None:
    record = record_of(demo, "nginx-www")
    text = pem(record)
    assert text.startswith("-----BEGIN CERTIFICATE-----\n")
    assert text.endswith("-----END CERTIFICATE-----\n")
    assert all(len(line) <= 64 for line in text.splitlines())
    loaded = x509.load_pem_x509_certificate(text.encode("ascii"))
    assert loaded.fingerprint(hashes.SHA256()).hex() == record.sha256


async def test_keys_scroll_the_details(
    demo: tuple[DemoTree, Inventory], inventory: Inventory
) -> None:
    record = record_of(demo, "nginx-www")
    other = record_of(demo, "rsa-1024")
    app = Host()
    async with app.run_test(size=(100, 24)) as pilot:
        view = app.query_one(DetailsView)
        view.focus()
        view.show(record, inventory, NOW)
        await pilot.pause()
        assert view.max_scroll_y > 0
        await pilot.press("down")
        assert view.scroll_y == 1
        await pilot.press("pagedown")
        assert view.scroll_y > 1
        await pilot.press("end")
        assert view.scroll_y == view.max_scroll_y
        # A rescan shows the same certificate again: the reader keeps their place.
        view.show(record, inventory, NOW)
        await pilot.pause()
        assert view.scroll_y == view.max_scroll_y
        await pilot.press("home")
        assert view.scroll_y == 0
        await pilot.press("pagedown")
        # Another certificate starts at its top.
        view.show(other, inventory, NOW)
        await pilot.pause()
        assert view.scroll_y == 0


async def test_back_to_no_certificate_and_a_theme_change(
    demo: tuple[DemoTree, Inventory], inventory: Inventory, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = record_of(demo, "nginx-www")
    app = Host()
    recorder = Recorder()
    monkeypatch.setattr(app, "copy_to_clipboard", recorder.copy)
    async with app.run_test(size=(100, 40)) as pilot:
        view = app.query_one(DetailsView)
        view.focus()
        view.show(record, inventory, NOW)
        await pilot.pause()
        app.theme = "textual-light"
        await pilot.pause()
        assert "Fingerprints" in shown(view)
        view.show(None, inventory, NOW)
        await pilot.pause()
        assert "Highlight a certificate and press enter" in shown(view)
        assert "Fingerprints" not in shown(view)
        await pilot.press("c")
    assert recorder.copied == []


async def test_reads_at_80_columns(demo: tuple[DemoTree, Inventory], inventory: Inventory) -> None:
    record = record_of(demo, "nginx-www")
    app = Host()
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(DetailsView)
        view.show(record, inventory, NOW)
        await pilot.pause()
        lines = shown(view).splitlines()
    pairs = [record.cert.sha256[i : i + 2].upper() for i in range(0, 64, 2)]
    # Fingerprints and PEM lines are never broken in the middle at 80 columns.
    assert f"SHA-256  {':'.join(pairs[:16])}" in lines
    for pem_line in pem(record).splitlines():
        assert pem_line in lines
    assert max(len(line) for line in lines) <= 78


def test_every_finding_code_has_its_own_advice() -> None:
    codes = list(dict.fromkeys([*SEVERITY, *EXTRA_CODES]))
    generic = finding_advice("no_such_code")
    advice = [finding_advice(code) for code in codes]
    assert generic
    assert generic not in advice
    assert len(set(advice)) == len(codes)
    for sentence in advice:
        assert sentence.endswith(".")
        assert ". " not in sentence, "one sentence each"
