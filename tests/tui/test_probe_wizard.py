"""The probe wizard walked by keys against real TLS servers on 127.0.0.1."""

from __future__ import annotations

import socket
import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from textual.pilot import Pilot

from core.demo import DemoTree
from core.parse import cert_facts
from core.rootfs import RootFS
from tests.certgen import make
from tests.tlsserver import serve
from tests.tui.harness import NOW, demo_app, scanned, screen_text, until
from tests.tui.wizards import at_step, closed, replace_text, report, type_text
from tui.screens.probe_wizard import ProbeOutcome, ProbeWizard
from tui.screens.trust_wizard import TrustWizard

ANCHORS = "usr/local/share/ca-certificates"


@pytest.fixture(autouse=True)
def only_loopback(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Every connection is recorded; anything but 127.0.0.1 fails the test."""
    opened: list[tuple[str, int]] = []
    real = socket.create_connection

    def guarded(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        opened.append(address)
        assert address[0] == "127.0.0.1", f"the test tried to reach {address}"
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", guarded)
    return opened


async def open_probe(
    pilot: Pilot[Any], tree: DemoTree, results: list[Any], **options: Any
) -> ProbeWizard:
    """Push the wizard (as ``P`` does) and wait for its first step."""
    wizard = ProbeWizard(None, root=RootFS(str(tree.root)), now=NOW, timeout=5, **options)
    await pilot.app.push_screen(wizard, results.append)
    await at_step(pilot, wizard, "target")
    return wizard


async def test_self_signed_server_then_save_and_trust(
    tree: DemoTree, tmp_path: Path, only_loopback: list[Any]
) -> None:
    own = make("selfie.test", sans=("selfie.test", "127.0.0.1"))
    app = demo_app(tree)
    results: list[Any] = []
    folder = tmp_path / "chains"
    with serve(tmp_path / "srv", [own]) as server:
        async with app.run_test(size=(80, 24)) as pilot:
            await scanned(pilot)
            wizard = await open_probe(pilot, tree, results, anchors=[])
            await type_text(pilot, f"127.0.0.1:{server.port}")
            assert server.connections == 0, "typing connects nowhere"
            await pilot.press("enter")
            await at_step(pilot, wizard, "result")
            text = await report(pilot, wizard, "result-report")
            assert "Verdict: This connection is not trusted!" in text
            assert "self_signed" in text
            assert "0: CN=selfie.test" in text
            assert "Verdict: This connection is not trusted!" in wizard.message
            assert "s save chain" in screen_text(app)

            await pilot.press("s")
            await at_step(pilot, wizard, "save")
            await replace_text(pilot, str(folder))
            await pilot.press("enter")
            await at_step(pilot, wizard, "save-preview")
            assert "Save the served chain" in await report(pilot, wizard, "save-report")
            assert not folder.exists(), "the preview writes nothing"
            await pilot.press("enter")
            await at_step(pilot, wizard, "result")
            assert "Saved the chain as" in wizard.message

            await pilot.press("t")
            await until(pilot, lambda: isinstance(app.screen, TrustWizard), "trust wizard")
            trust = app.screen
            assert isinstance(trust, TrustWizard)
            await at_step(pilot, trust, "action")
            await pilot.press("enter")
            await at_step(pilot, trust, "preview")
            await pilot.press("enter")
            await at_step(pilot, trust, "summary")
            await pilot.press("enter")
            await until(pilot, lambda: app.screen is wizard, "back at the probe")
            assert "The trust store was changed" in wizard.message
            await pilot.press("enter")
            await closed(pilot)
    [outcome] = results
    assert isinstance(outcome, ProbeOutcome)
    assert not outcome.result.trusted
    assert outcome.saved is not None
    assert outcome.trusted is not None
    [saved] = list(folder.iterdir())
    assert stat.S_IMODE(saved.stat().st_mode) == 0o644
    [cert] = x509.load_pem_x509_certificates(saved.read_bytes())
    assert cert == own.cert
    [anchor] = list((tree.root / ANCHORS).glob("certdeck-*.crt"))
    assert x509.load_pem_x509_certificate(anchor.read_bytes()) == own.cert
    assert {address[0] for address in only_loopback} == {"127.0.0.1"}


async def test_trusted_chain_and_name_check(tree: DemoTree, tmp_path: Path) -> None:
    root = make("Probe Root CA", ca=True, days=3650, serial=1)
    leaf = make("localhost", issuer=root, sans=("localhost", "127.0.0.1"), serial=3)
    app = demo_app(tree)
    results: list[Any] = []
    with serve(tmp_path / "srv", [leaf]) as server:
        async with app.run_test(size=(80, 24)) as pilot:
            await scanned(pilot)
            wizard = await open_probe(
                pilot, tree, results, anchors=[cert_facts(root.der)], target="127.0.0.1"
            )
            await replace_text(pilot, f"127.0.0.1:{server.port}")
            await pilot.press("enter")
            await at_step(pilot, wizard, "result")
            assert "Verdict: trusted" in await report(pilot, wizard, "result-report")
            await pilot.press("t")
            await pilot.pause()
            assert "Nothing to trust: the connection is trusted already." in wizard.message
            await pilot.press("escape")
            await closed(pilot)
    [outcome] = results
    assert isinstance(outcome, ProbeOutcome)
    assert outcome.result.trusted
    assert outcome.saved is None


async def test_bad_target_and_cancel_connect_nowhere(
    tree: DemoTree, tmp_path: Path, only_loopback: list[Any]
) -> None:
    app = demo_app(tree)
    results: list[Any] = []
    async with app.run_test(size=(80, 24)) as pilot:
        await scanned(pilot)
        wizard = await open_probe(pilot, tree, results)
        await type_text(pilot, "127.0.0.1:99999")
        await pilot.press("enter")
        await pilot.pause()
        assert wizard.step == "target"
        assert "is not a port number" in wizard.message
        await pilot.press("escape")
        await closed(pilot)
    assert results == [None]
    assert only_loopback == []
