"""The trust wizard walked by keys on the demo tree: add, remove, deselect, root rights."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from textual.pilot import Pilot

from core.demo import DemoTree
from core.model import CertFacts
from core.rootfs import RootFS
from core.truststore import CommandOutcome
from tests.tui.harness import NOW, demo_app, scanned, screen_text
from tests.tui.wizards import at_step, closed, report
from tui.app import CertdeckApp
from tui.screens.trust_wizard import TrustOutcome, TrustWizard

ANCHORS = "usr/local/share/ca-certificates"


class Runner:
    """Records the commands instead of running them."""

    def __init__(self) -> None:
        self.ran: list[list[str]] = []

    def __call__(self, argv: Sequence[str]) -> CommandOutcome:
        self.ran.append(list(argv))
        return CommandOutcome(0, "")


def facts(app: CertdeckApp, tree: DemoTree, label: str) -> CertFacts:
    """The facts of a demo certificate, from the app's inventory."""
    inventory = app.catalog.inventory(app.root, app.now)
    return inventory.by_sha256()[tree.cert(label).sha256].cert


async def open_trust(
    pilot: Pilot[Any], tree: DemoTree, label: str, results: list[Any], **options: Any
) -> TrustWizard:
    """Push the wizard for a demo certificate (as ``t`` does) and wait for its first step."""
    app = pilot.app
    assert isinstance(app, CertdeckApp)
    wizard = TrustWizard(facts(app, tree, label), root=RootFS(str(tree.root)), now=NOW, **options)
    await app.push_screen(wizard, results.append)
    await at_step(pilot, wizard, "action")
    return wizard


async def test_add_writes_the_file_and_shows_the_commands(tree: DemoTree) -> None:
    app = demo_app(tree)
    runner = Runner()
    results: list[Any] = []
    async with app.run_test(size=(80, 24)) as pilot:
        await scanned(pilot)
        wizard = await open_trust(pilot, tree, "demo-corp-issuing", results, runner=runner)
        shown = screen_text(app)
        assert "Debian/Ubuntu (update-ca-certificates)" in shown
        assert "only the files change; the commands are shown" in shown
        await pilot.press("enter")
        await at_step(pilot, wizard, "preview")
        preview = await report(pilot, wizard, "preview-report")
        assert f"write /{ANCHORS}/certdeck-" in preview
        assert "Then run on the machine itself (not run under --root):" in preview
        assert "update-ca-certificates" in preview
        assert not list((tree.root / ANCHORS).glob("certdeck-*")), "the preview changes nothing"
        await pilot.press("enter")
        await at_step(pilot, wizard, "summary")
        summary = await report(pilot, wizard, "summary-report")
        assert "Run on the machine itself to finish:" in summary
        await pilot.press("enter")
        await closed(pilot)
    [outcome] = results
    assert isinstance(outcome, TrustOutcome)
    [written] = list((tree.root / ANCHORS).glob("certdeck-*.crt"))
    assert written.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    assert runner.ran == [], "under a root folder the commands are not run"


async def test_remove_an_administrators_anchor(tree: DemoTree) -> None:
    app = demo_app(tree)
    results: list[Any] = []
    anchor = tree.root / ANCHORS / "demo-corp-root.crt"
    assert anchor.exists()
    async with app.run_test(size=(80, 24)) as pilot:
        await scanned(pilot)
        wizard = await open_trust(pilot, tree, "demo-corp-root", results)
        await pilot.press("down", "enter")
        await at_step(pilot, wizard, "preview")
        preview = await report(pilot, wizard, "preview-report")
        assert f"remove /{ANCHORS}/demo-corp-root.crt" in preview
        assert "update-ca-certificates --fresh" in preview
        await pilot.press("enter")
        await at_step(pilot, wizard, "summary")
        await pilot.press("enter")
        await closed(pilot)
    assert isinstance(results[0], TrustOutcome)
    assert not anchor.exists()


async def test_distribution_root_warns_and_cancel_changes_nothing(tree: DemoTree) -> None:
    app = demo_app(tree)
    results: list[Any] = []
    conf = tree.root / "etc/ca-certificates.conf"
    before = conf.read_bytes() if conf.exists() else None
    async with app.run_test(size=(80, 24)) as pilot:
        await scanned(pilot)
        wizard = await open_trust(pilot, tree, "root-x1", results)
        await pilot.press("down", "enter")
        await at_step(pilot, wizard, "deselect")
        assert "is a root the distribution ships" in screen_text(app)
        await pilot.press("enter")
        await at_step(pilot, wizard, "preview")
        preview = await report(pilot, wizard, "preview-report")
        assert "Stop trusting the distribution root" in preview
        await pilot.press("escape")
        await closed(pilot)
    assert results == [None]
    assert (conf.read_bytes() if conf.exists() else None) == before
    assert (tree.root / "usr/share/ca-certificates/mozilla/Demo_Trust_Root_X1.crt").exists()


async def test_missing_root_rights_are_explained(tree: DemoTree) -> None:
    app = demo_app(tree)
    runner = Runner()
    results: list[Any] = []
    async with app.run_test(size=(80, 24)) as pilot:
        await scanned(pilot)
        wizard = await open_trust(
            pilot, tree, "demo-corp-issuing", results, runner=runner, euid=1000, execute=True
        )
        await pilot.press("enter")
        await at_step(pilot, wizard, "preview")
        assert "Root rights needed" in wizard.message
        await pilot.press("enter")
        await pilot.pause()
        assert wizard.step == "preview"
        assert "start certdeck with sudo" in wizard.message
        await pilot.press("escape")
        await closed(pilot)
    assert results == [None]
    assert runner.ran == []
    assert not list((tree.root / ANCHORS).glob("certdeck-*"))
