"""The clean-up wizard and the undo screen, pushed on the app and walked by keys."""

from __future__ import annotations

import dataclasses
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.worker import Worker

from core import cleanup
from core.configtest import ConfigTest, ConfigTestResult
from core.demo import DemoTree
from core.rootfs import RootFS
from tests.tui.harness import SETTINGS_IN_TREE, demo_app, scanned, screen_text, until
from tests.tui.wizards import at_step, closed, report
from tui.app import CertdeckApp
from tui.screens.cleanup_wizard import (
    CleanupOutcome,
    CleanupWizard,
    UndoCleanupScreen,
    quarantine_folder,
)
from tui.screens.wizard import WizardScreen
from tui.widgets.toggle import Toggle

OLD = "etc/ssl/localcerts/old.demo.example.crt"
CERT1 = "etc/letsencrypt/archive/blog.demo.example/cert1.pem"
FULLCHAIN1 = "etc/letsencrypt/archive/blog.demo.example/fullchain1.pem"
Tree = dict[str, tuple[str, int, bytes]]


def snapshot(root: Path) -> Tree:
    """Every file and link under a root: kind, mode and content (or link text)."""
    seen: Tree = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            info = path.lstat()
            key = str(path.relative_to(root))
            if stat.S_ISLNK(info.st_mode):
                seen[key] = ("link", 0, os.fsencode(os.readlink(path)))
            elif stat.S_ISREG(info.st_mode):
                seen[key] = ("file", stat.S_IMODE(info.st_mode), path.read_bytes())
            else:
                seen[key] = ("dir", stat.S_IMODE(info.st_mode), b"")
    return seen


def entries(quarantine: Path) -> list[Path]:
    """The entries in the quarantine folder (none when it does not exist)."""
    return sorted(p for p in quarantine.iterdir() if p.is_dir()) if quarantine.exists() else []


def wizard_for(app: CertdeckApp, selection: str, quarantine: Path) -> CleanupWizard:
    """The wizard as the main screen builds it, on the scanned inventory."""
    return CleanupWizard(
        app.catalog.inventory(app.root, app.now),
        root=RootFS(app.root),
        settings=app.settings,
        settings_path=SETTINGS_IN_TREE,
        selection=selection,
        quarantine=quarantine,
    )


async def push(pilot: Pilot[Any], screen: WizardScreen[Any]) -> Worker[Any]:
    """Push a wizard with ``push_screen_wait`` from a worker, as the main screen does."""
    app = pilot.app

    async def wait() -> Any:
        return await app.push_screen_wait(screen)

    worker: Worker[Any] = app.run_worker(wait(), exit_on_error=False)
    await until(pilot, lambda: app.screen is screen, "the wizard opens")
    await until(pilot, lambda: screen.busy is None, "the wizard settles")
    await pilot.pause()
    return worker


def sha_of(app: CertdeckApp, name: str) -> str:
    """The fingerprint of the certificate with a display name."""
    inventory = app.catalog.inventory(app.root, app.now)
    return next(r.sha256 for r in inventory.certificates if r.cert.display_name == name)


async def test_obsolete_clean_up_then_undo_restores_the_tree(
    tree: DemoTree, tmp_path: Path
) -> None:
    quarantine = tmp_path / "quarantine"
    before = snapshot(tree.root)
    app = demo_app(tree)
    async with app.run_test(size=(80, 24)) as pilot:
        await scanned(pilot)
        wizard = wizard_for(app, "obsolete", quarantine)
        worker = await push(pilot, wizard)
        await at_step(pilot, wizard, "choose")
        ticked = [t for t in wizard.query(Toggle) if t.value]
        assert len(ticked) == 3, "the obsolete certificates are ticked"
        assert "also offer unused certificates" in screen_text(app)
        await pilot.press("enter")
        await at_step(pilot, wizard, "preview")
        preview = await report(pilot, wizard, "preview-report")
        assert f"move      /{OLD}  (mode 0644, owner root)" in preview
        assert f"move      /{CERT1}" in preview
        assert f"rewrite   /{FULLCHAIN1}" in preview
        assert snapshot(tree.root) == before, "the preview changes nothing"
        assert entries(quarantine) == []
        await pilot.press("enter")
        await at_step(pilot, wizard, "summary")
        summary = await report(pilot, wizard, "summary-report")
        outcome = wizard.outcome
        assert isinstance(outcome, CleanupOutcome)
        entry_id = outcome.result.entry_id
        assert f"Undo with: certdeck quarantine restore {entry_id}" in summary
        assert wizard.message.startswith(f"Done: quarantine entry {entry_id}")
        assert not (tree.root / OLD).exists()
        assert not (tree.root / CERT1).exists()
        assert (tree.root / FULLCHAIN1).read_bytes() != before[FULLCHAIN1][2]
        assert (tree.root / FULLCHAIN1).read_bytes().count(b"BEGIN CERTIFICATE") == 1
        assert [p.name for p in entries(quarantine)] == [entry_id]
        await pilot.press("enter")
        await closed(pilot)
        await until(pilot, lambda: worker.is_finished, "the wizard returns")
        assert worker.result is outcome

        undo = UndoCleanupScreen(root=RootFS(app.root), quarantine=quarantine)
        undo_worker = await push(pilot, undo)
        preview = await report(pilot, undo, "undo-preview")
        assert f"from the quarantine entry {entry_id}" in preview
        assert f"/{OLD}: move back" in preview
        assert f"/{FULLCHAIN1}: put original back" in preview
        assert not (tree.root / OLD).exists(), "the preview restores nothing"
        await pilot.press("enter")
        await at_step(pilot, undo, "summary")
        assert undo.message == f"Done: every file of {entry_id} is back."
        await pilot.press("enter")
        await closed(pilot)
        await until(pilot, lambda: undo_worker.is_finished, "the undo screen returns")
    assert snapshot(tree.root) == before, "byte for byte, with the modes"


@pytest.mark.parametrize("step", ["choose", "preview"])
async def test_escape_changes_nothing(tree: DemoTree, tmp_path: Path, step: str) -> None:
    quarantine = tmp_path / "quarantine"
    before = snapshot(tree.root)
    app = demo_app(tree)
    async with app.run_test(size=(80, 24)) as pilot:
        await scanned(pilot)
        wizard = wizard_for(app, "obsolete", quarantine)
        worker = await push(pilot, wizard)
        if step == "preview":
            await pilot.press("enter")
            await at_step(pilot, wizard, "preview")
            await report(pilot, wizard, "preview-report")
        await pilot.press("escape")
        await closed(pilot)
        await until(pilot, lambda: worker.is_finished, "the wizard returns")
        assert worker.result is None
    assert snapshot(tree.root) == before
    assert entries(quarantine) == []


async def test_unticking_everything_is_refused(tree: DemoTree, tmp_path: Path) -> None:
    app = demo_app(tree)
    async with app.run_test(size=(80, 24)) as pilot:
        await scanned(pilot)
        wizard = wizard_for(app, "obsolete", tmp_path / "quarantine")
        await push(pilot, wizard)
        await pilot.press("space", "down", "space", "down", "space")
        assert not any(t.value for t in wizard.query(Toggle))
        await pilot.press("enter")
        assert wizard.step == "choose"
        assert wizard.message == "Tick at least one certificate (␣), or esc to leave."


async def test_unused_ones_only_on_request_with_the_stronger_warning(
    tree: DemoTree, tmp_path: Path
) -> None:
    app = demo_app(tree)
    async with app.run_test(size=(80, 24)) as pilot:
        await scanned(pilot)
        wizard = wizard_for(app, "obsolete", tmp_path / "quarantine")
        await push(pilot, wizard)
        unused = [t for t in wizard.query(Toggle) if t.has_class("-unused")]
        assert unused
        assert not any(t.display for t in unused)
        assert "unused but not obsolete" not in screen_text(app)
        include = wizard.query_one("#include-unused", Toggle)
        include.focus()
        await pilot.press("space")
        assert all(t.display and not t.value for t in unused), "shown, never pre-ticked"
        assert wizard.query_one("#unused-warning").display


async def test_d_on_an_unused_row_ticks_it_and_warns(tree: DemoTree, tmp_path: Path) -> None:
    quarantine = tmp_path / "quarantine"
    app = demo_app(tree)
    async with app.run_test(size=(80, 24)) as pilot:
        await scanned(pilot)
        sha = sha_of(app, "appliance.vendor.example")
        wizard = wizard_for(app, sha, quarantine)
        await push(pilot, wizard)
        assert wizard.query_one("#include-unused", Toggle).value
        assert [t.id for t in wizard.query(Toggle) if t.value and t.id != "include-unused"] == [
            f"candidate-{sha}"
        ]
        assert wizard.query_one("#unused-warning").display
        await pilot.press("enter")
        await at_step(pilot, wizard, "preview")
        preview = await report(pilot, wizard, "preview-report")
        assert "reason: unused, chosen to be cleaned up" in preview
        await pilot.press("enter")
        await at_step(pilot, wizard, "summary")
    assert not (tree.root / "etc/ssl/localcerts/appliance.vendor.example.crt").exists()
    assert len(entries(quarantine)) == 1


async def test_d_on_a_required_row_shows_the_refusal_and_changes_nothing(
    tree: DemoTree, tmp_path: Path
) -> None:
    quarantine = tmp_path / "quarantine"
    before = snapshot(tree.root)
    app = demo_app(tree)
    async with app.run_test(size=(80, 24)) as pilot:
        await scanned(pilot)
        wizard = wizard_for(app, sha_of(app, "www.demo.example"), quarantine)
        await push(pilot, wizard)
        assert wizard.step == "preview", "nothing to choose: straight to the reasons"
        preview = await report(pilot, wizard, "preview-report")
        assert "Nothing to clean up: no file would change." in preview
        assert "www.demo.example" in preview
        assert "required: used by nginx (/etc/nginx/sites-enabled/www:14)" in preview
        await pilot.press("enter")
        assert wizard.step == "preview"
        assert wizard.message == "Nothing would change. ⌫ goes back, esc closes."
    assert snapshot(tree.root) == before
    assert entries(quarantine) == []


async def test_hostile_names_are_shown_as_text(tree: DemoTree, tmp_path: Path) -> None:
    app = demo_app(tree)
    async with app.run_test(size=(100, 40)) as pilot:
        await scanned(pilot)
        wizard = wizard_for(app, "obsolete", tmp_path / "quarantine")
        await push(pilot, wizard)
        wizard.query_one("#include-unused", Toggle).value = True
        await pilot.pause()
        hostile = next(t for t in wizard.query(Toggle) if "Legit" in str(t.label))
        hostile.focus()
        await pilot.pause()
        assert "[bold red]Legit[/] [@click=app.quit]x[/]" in screen_text(app)


async def test_config_checks_are_shown_and_run_only_when_confirmed(
    tree: DemoTree, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    check = ConfigTest("nginx", ("/usr/sbin/nginx", "-t"))
    ran: list[ConfigTest] = []

    def plan_with_check(*args: Any, **kwargs: Any) -> cleanup.CleanupPlan:
        return dataclasses.replace(cleanup.plan_cleanup(*args, **kwargs), config_tests=(check,))

    def run(test: ConfigTest) -> ConfigTestResult:
        ran.append(test)
        return ConfigTestResult(test, 1, "nginx: [emerg] cannot load certificate")

    monkeypatch.setattr("tui.screens.cleanup_wizard.plan_cleanup", plan_with_check)
    monkeypatch.setattr("tui.screens.cleanup_wizard.run_config_test", run)
    app = demo_app(tree)
    async with app.run_test(size=(80, 24)) as pilot:
        await scanned(pilot)
        wizard = wizard_for(app, "obsolete", tmp_path / "quarantine")
        worker = await push(pilot, wizard)
        await pilot.press("enter")
        await at_step(pilot, wizard, "preview")
        await pilot.press("enter")
        await at_step(pilot, wizard, "summary")
        assert "⏎ offers the configuration checks" in wizard.message
        await pilot.press("enter")
        await at_step(pilot, wizard, "checks")
        shown = await report(pilot, wizard, "checks-report")
        assert "$ /usr/sbin/nginx -t" in shown
        assert ran == [], "shown, not run"
        await pilot.press("enter")
        await until(pilot, lambda: wizard.checks_run, "the checks ran")
        assert ran == [check]
        view_text = await report(pilot, wizard, "checks-report")
        assert "$ /usr/sbin/nginx -t: FAILED (exit status 1)" in view_text
        assert "nginx: [emerg] cannot load certificate" in screen_text(app)
        assert wizard.message == "1 check did not pass."
        await pilot.press("enter")
        await closed(pilot)
        await until(pilot, lambda: worker.is_finished, "the wizard returns")
        outcome = worker.result
        assert isinstance(outcome, CleanupOutcome)
        assert [c.returncode for c in outcome.checks] == [1]


async def test_a_file_changed_since_the_preview_stops_the_clean_up(
    tree: DemoTree, tmp_path: Path
) -> None:
    quarantine = tmp_path / "quarantine"
    app = demo_app(tree)
    async with app.run_test(size=(80, 24)) as pilot:
        await scanned(pilot)
        wizard = wizard_for(app, "obsolete", quarantine)
        await push(pilot, wizard)
        await pilot.press("enter")
        await at_step(pilot, wizard, "preview")
        (tree.root / OLD).write_bytes(b"changed")
        await pilot.press("enter")
        await until(pilot, lambda: "changed since" in wizard.message, "the refusal")
        assert wizard.step == "preview"
        assert wizard.message.startswith("Changed since the preview: nothing was changed")
    assert (tree.root / CERT1).exists()
    assert entries(quarantine) == []


async def test_undo_with_nothing_to_undo_says_so(tree: DemoTree, tmp_path: Path) -> None:
    app = demo_app(tree)
    async with app.run_test(size=(80, 24)) as pilot:
        await scanned(pilot)
        undo = UndoCleanupScreen(root=RootFS(app.root), quarantine=tmp_path / "quarantine")
        worker = await push(pilot, undo)
        await until(pilot, lambda: "Nothing to undo" in undo.message, "the message")
        await pilot.press("enter")
        assert undo.step == "preview"
        await pilot.press("escape")
        await closed(pilot)
        await until(pilot, lambda: worker.is_finished, "the screen returns")
        assert worker.result is None


def test_the_demo_quarantine_stays_inside_the_tree(tree: DemoTree) -> None:
    root = RootFS(str(tree.root))
    assert quarantine_folder(root, demo=True) == tree.root / "var/lib/certdeck/quarantine"
