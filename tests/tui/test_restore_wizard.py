"""The restore wizard, pushed on the app and walked by keys: archive, password, plan, summary."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.worker import Worker

from core.backup import BackupRun, backup_run_path, record_backup_run
from core.demo import DemoTree
from core.rootfs import RootFS
from tests.certgen import NOW
from tests.maintenance_helpers import backed_up_demo
from tests.tui.harness import demo_app, lines, scanned, screen_text, until
from tests.tui.wizards import at_step, closed, report, type_text
from tui.app import CertdeckApp
from tui.screens.restore_wizard import RestoreOutcome, RestoreWizard
from tui.widgets.toggle import Toggle

PASSWORD = "Correct-Horse-42"
WWW_KEY = "etc/nginx/ssl/www.key"


@pytest.fixture(scope="module")
def backups(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with one verified backup of a demo tree."""
    _, archive = backed_up_demo(tmp_path_factory.mktemp("source"), PASSWORD.encode())
    return archive.parent


def wizard_for(new: Path, backups: Path, quarantine: Path) -> RestoreWizard:
    return RestoreWizard(root=RootFS(new), backups=backups, quarantine=quarantine, now=NOW)


async def push(pilot: Pilot[Any], screen: RestoreWizard) -> Worker[Any]:
    app = pilot.app

    async def wait() -> Any:
        return await app.push_screen_wait(screen)

    worker: Worker[Any] = app.run_worker(wait(), exit_on_error=False)
    await until(pilot, lambda: app.screen is screen, "the wizard opens")
    await pilot.pause()
    return worker


async def to_plan(pilot: Pilot[Any], wizard: RestoreWizard, password: str = PASSWORD) -> str:
    await pilot.press("enter")
    await at_step(pilot, wizard, "password")
    await type_text(pilot, password)
    await pilot.press("enter")
    await at_step(pilot, wizard, "plan")
    return await report(pilot, wizard, "plan-report")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def test_restore_into_an_empty_root(tree: DemoTree, tmp_path: Path, backups: Path) -> None:
    new = tmp_path / "new"
    new.mkdir()
    app: CertdeckApp = demo_app(tree)
    async with app.run_test(size=(100, 30)) as pilot:
        await scanned(pilot)
        wizard = wizard_for(new, backups, tmp_path / "q")
        worker = await push(pilot, wizard)
        text = screen_text(app)
        assert "Step 1 of 4 · Which backup" in text
        assert "2026-11-27 12:00Z  demo-server" in text
        plan = await to_plan(pilot, wizard)
        assert PASSWORD not in screen_text(app)
        assert "33 to write; 6 skipped" in plan
        assert "/etc/nginx/ssl/www.key: write (0600, " in plan
        assert not wizard.query_one("#replace-files", Toggle).display, "nothing differs"
        assert os.listdir(new) == [], "the plan writes nothing"
        await pilot.press("enter")
        await at_step(pilot, wizard, "summary")
        summary = await report(pilot, wizard, "summary-report")
        assert summary.startswith("Restored 33 file(s), replaced 0")
        assert wizard.message == "Done: every file of the backup is in place."
        await pilot.press("enter")
        await closed(pilot)
        await until(pilot, lambda: worker.is_finished, "the wizard returns")
        assert isinstance(worker.result, RestoreOutcome)
    assert digest(new / WWW_KEY) == digest(tree.root / WWW_KEY)


async def test_a_wrong_password_is_said_and_can_be_typed_again(
    tree: DemoTree, tmp_path: Path, backups: Path
) -> None:
    new = tmp_path / "new"
    new.mkdir()
    app = demo_app(tree)
    async with app.run_test(size=(100, 30)) as pilot:
        await scanned(pilot)
        wizard = wizard_for(new, backups, tmp_path / "q")
        await push(pilot, wizard)
        await pilot.press("enter")
        await at_step(pilot, wizard, "password")
        await type_text(pilot, "not-it")
        await pilot.press("enter")
        await until(pilot, lambda: "does not open" in wizard.message, "the refusal")
        assert wizard.step == "password"
        assert wizard.message.startswith("Nothing was restored. ")
        await type_text(pilot, PASSWORD)
        await pilot.press("enter")
        await at_step(pilot, wizard, "plan")
    assert os.listdir(new) == []


async def test_differing_files_are_replaced_only_when_ticked(
    tree: DemoTree, tmp_path: Path, backups: Path
) -> None:
    new = tmp_path / "new"
    (new / WWW_KEY).parent.mkdir(parents=True)
    (new / WWW_KEY).write_text("another key\n")
    app = demo_app(tree)
    async with app.run_test(size=(100, 30)) as pilot:
        await scanned(pilot)
        wizard = wizard_for(new, backups, tmp_path / "q")
        await push(pilot, wizard)
        plan = await to_plan(pilot, wizard)
        assert "/etc/nginx/ssl/www.key: DIFFERS: replace (different content)" in plan
        assert "; 1 differ and stay unless ticked below" in wizard.message
        toggle = wizard.query_one("#replace-files", Toggle)
        assert toggle.display
        toggle.focus()
        await pilot.press("space")
        assert toggle.value
        await pilot.press("enter")
        await at_step(pilot, wizard, "summary")
        summary = await report(pilot, wizard, "summary-report")
        assert "  replaced /etc/nginx/ssl/www.key" in summary
        assert "certdeck quarantine restore" in summary
    assert digest(new / WWW_KEY) == digest(tree.root / WWW_KEY)
    [entry] = os.listdir(tmp_path / "q")
    assert (tmp_path / "q" / entry / "manifest.json").is_file()


async def test_escape_on_the_plan_writes_nothing(
    tree: DemoTree, tmp_path: Path, backups: Path
) -> None:
    new = tmp_path / "new"
    new.mkdir()
    app = demo_app(tree)
    async with app.run_test(size=(100, 30)) as pilot:
        await scanned(pilot)
        wizard = wizard_for(new, backups, tmp_path / "q")
        worker = await push(pilot, wizard)
        await to_plan(pilot, wizard)
        await pilot.press("escape")
        await closed(pilot)
        await until(pilot, lambda: worker.is_finished, "the wizard returns")
        assert worker.result is None
    assert os.listdir(new) == []


async def test_a_typed_path_that_is_not_a_file_is_refused(tree: DemoTree, tmp_path: Path) -> None:
    app = demo_app(tree)
    async with app.run_test(size=(100, 30)) as pilot:
        await scanned(pilot)
        wizard = wizard_for(tmp_path, tmp_path / "no-backups", tmp_path / "q")
        await push(pilot, wizard)
        assert "There are no backups in" in screen_text(app)
        await type_text(pilot, str(tmp_path / "missing.tar"))
        await pilot.press("enter")
        assert wizard.step == "archive"
        assert wizard.message.endswith("missing.tar is not a file.")


async def test_the_settings_tab_shows_the_schedule_and_the_last_backup(
    tree: DemoTree, tmp_path: Path
) -> None:
    app = demo_app(tree)
    record_backup_run(
        BackupRun(NOW, False, "the folder is full"), backup_run_path(RootFS(tree.root))
    )
    async with app.run_test(size=(100, 30)) as pilot:
        await scanned(pilot)
        await pilot.press("4")
        status = app.screen.query_one("#backup-status")
        await until(pilot, lambda: "schedule:" in "\n".join(lines(status)), "the status")
        text = "\n".join(lines(status))
        assert "schedule: not scheduled" in text
        assert "newest: none" in text
        assert "last run: 2026-11-27 12:00:00Z FAILED: the folder is full" in text


async def test_a_backup_already_in_place_has_nothing_to_restore(
    tree: DemoTree, tmp_path: Path, backups: Path
) -> None:
    new = tmp_path / "new"
    new.mkdir()
    app = demo_app(tree)
    async with app.run_test(size=(100, 30)) as pilot:
        await scanned(pilot)
        first = wizard_for(new, backups, tmp_path / "q")
        await push(pilot, first)
        await to_plan(pilot, first)
        await pilot.press("enter")
        await at_step(pilot, first, "summary")
        await pilot.press("enter")
        await closed(pilot)
        again = wizard_for(new, backups, tmp_path / "q")
        await push(pilot, again)
        plan = await to_plan(pilot, again)
        assert "33 already in place; 6 skipped" in plan
        assert again.message == "Everything in the backup is already in place; esc closes."
        await pilot.press("enter")
        assert again.step == "plan"
        assert again.message == "Nothing to restore: everything is in place or left as it is."
