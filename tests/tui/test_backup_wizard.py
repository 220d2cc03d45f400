"""The backup wizard, pushed on the app and walked by keys: plan, password, write, summary."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.worker import Worker

from core.backup import WrongBackupPassword, last_backup_run, read_backup
from core.demo import DemoTree
from core.rootfs import RootFS
from core.settings import Settings, with_value
from tests.tui.harness import SETTINGS_IN_TREE, demo_app, scanned, screen_text, until
from tests.tui.wizards import at_step, closed, report, type_text
from tui.app import CertdeckApp
from tui.screens.backup_wizard import BackupOutcome, BackupWizard
from tui.screens.wizard import WizardScreen

PASSWORD = "Correct-Horse-42"
ARCHIVE = "certdeck-backup-demo-server-20261127-120000.tar"


def archives(folder: Path) -> list[Path]:
    """The files in the backup folder (none when it does not exist)."""
    return sorted(folder.iterdir()) if folder.exists() else []


def wizard_for(
    app: CertdeckApp, folder: Path, record: Path, settings: Settings | None = None
) -> BackupWizard:
    """The wizard as the main screen builds it, on the scanned inventory."""
    return BackupWizard(
        app.catalog.inventory(app.root, app.now),
        root=RootFS(app.root),
        settings=settings or app.settings,
        settings_path=SETTINGS_IN_TREE,
        destination=folder,
        run_record=record,
    )


async def push(pilot: Pilot[Any], screen: WizardScreen[Any]) -> Worker[Any]:
    """Push a wizard with ``push_screen_wait`` from a worker, as the main screen does."""
    app = pilot.app

    async def wait() -> Any:
        return await app.push_screen_wait(screen)

    worker: Worker[Any] = app.run_worker(wait(), exit_on_error=False)
    await until(pilot, lambda: app.screen is screen, "the wizard opens")
    await until(pilot, lambda: screen.busy is None, "the plan is ready")
    await pilot.pause()
    return worker


async def to_password(pilot: Pilot[Any], wizard: BackupWizard) -> Worker[Any]:
    """Open the wizard, check the plan, reach the password step."""
    worker = await push(pilot, wizard)
    await report(pilot, wizard, "plan-report")
    await pilot.press("enter")
    await at_step(pilot, wizard, "password")
    return worker


async def test_back_up_now_writes_a_verified_archive(tree: DemoTree, tmp_path: Path) -> None:
    folder, record = tmp_path / "backups", tmp_path / "last-backup.json"
    app = demo_app(tree)
    async with app.run_test(size=(80, 24)) as pilot:
        await scanned(pilot)
        wizard = wizard_for(app, folder, record)
        worker = await push(pilot, wizard)
        plan = await report(pilot, wizard, "plan-report")
        assert plan.startswith("Back up 31 files (22 certificates, 11 private keys)")
        assert f"/{ARCHIVE} (will be created) (tar, mode 0600):" in plan
        assert "/etc/nginx/ssl/www.key  (private key (stored encrypted)" in plan
        assert "Step 1 of 3" in screen_text(app)
        assert archives(folder) == [], "the plan writes nothing"
        await pilot.press("enter")
        await at_step(pilot, wizard, "password")
        await type_text(pilot, PASSWORD)
        await pilot.press("enter")
        await type_text(pilot, PASSWORD)
        assert PASSWORD not in screen_text(app)
        await pilot.press("enter")
        await at_step(pilot, wizard, "summary")
        summary = await report(pilot, wizard, "summary-report")
        first = summary.splitlines()[0]
        assert first.startswith("Wrote ")
        assert f"/{ARCHIVE} (" in first
        assert "Verified: every member's SHA-256 matches, all 11 keys decrypt" in summary
        assert wizard.message == "Done: the archive is written and verified."
        assert PASSWORD not in screen_text(app)
        await pilot.press("enter")
        await closed(pilot)
        await until(pilot, lambda: worker.is_finished, "the wizard returns")
        outcome = worker.result
        assert isinstance(outcome, BackupOutcome)
    [archive] = archives(folder)
    assert archive.name == ARCHIVE
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    assert outcome.result.archive == archive
    contents = read_backup(archive, PASSWORD.encode())
    assert contents.keys == 11
    with pytest.raises(WrongBackupPassword):
        read_backup(archive, b"wrong")
    run = last_backup_run(record)
    assert run is not None
    assert run.ok
    assert run.keys == 11
    assert PASSWORD not in record.read_text()


async def test_empty_or_differing_passwords_are_refused(tree: DemoTree, tmp_path: Path) -> None:
    folder = tmp_path / "backups"
    app = demo_app(tree)
    async with app.run_test(size=(80, 24)) as pilot:
        await scanned(pilot)
        wizard = wizard_for(app, folder, tmp_path / "run.json")
        await to_password(pilot, wizard)
        await pilot.press("enter", "enter")
        assert wizard.step == "password"
        assert wizard.message == "Type a password: it protects what is written."
        await pilot.press("up")
        await type_text(pilot, PASSWORD)
        await pilot.press("enter")
        await type_text(pilot, PASSWORD + "x")
        await pilot.press("enter")
        assert wizard.step == "password"
        assert wizard.message == "The two entries differ: type the same password twice."
        await pilot.press("backspace", "enter")  # the same password now: it is written
        await at_step(pilot, wizard, "summary")
    assert len(archives(folder)) == 1


@pytest.mark.parametrize("step", ["plan", "password"])
async def test_escape_writes_nothing(tree: DemoTree, tmp_path: Path, step: str) -> None:
    folder, record = tmp_path / "backups", tmp_path / "run.json"
    app = demo_app(tree)
    async with app.run_test(size=(80, 24)) as pilot:
        await scanned(pilot)
        wizard = wizard_for(app, folder, record)
        if step == "plan":
            worker = await push(pilot, wizard)
        else:
            worker = await to_password(pilot, wizard)
            await type_text(pilot, PASSWORD)
        await pilot.press("escape")
        await closed(pilot)
        await until(pilot, lambda: worker.is_finished, "the wizard returns")
        assert worker.result is None
    assert archives(folder) == []
    assert not record.exists()


async def test_the_password_file_from_the_settings_replaces_the_prompt(
    tree: DemoTree, tmp_path: Path
) -> None:
    folder, record = tmp_path / "backups", tmp_path / "run.json"
    secret = tree.root / "etc/certdeck/backup.pass"
    secret.write_text(PASSWORD + "\n")
    secret.chmod(0o644)
    app = demo_app(tree)
    async with app.run_test(size=(80, 24)) as pilot:
        await scanned(pilot)
        settings = with_value(app.settings, "backup", "password_file", "/etc/certdeck/backup.pass")
        wizard = wizard_for(app, folder, record, settings)
        await push(pilot, wizard)
        assert "Step 1 of 2" in screen_text(app), "no password step"
        assert "the password comes from" in wizard.message
        await pilot.press("enter")
        await until(pilot, lambda: "group or others" in wizard.message, "the refusal")
        assert wizard.step == "plan"
        assert wizard.message.startswith("Nothing was written. ")
        assert archives(folder) == []
        failed = last_backup_run(record)
        assert failed is not None
        assert not failed.ok
        secret.chmod(0o600)
        await pilot.press("enter")
        await at_step(pilot, wizard, "summary")
        assert PASSWORD not in screen_text(app)
    [archive] = archives(folder)
    assert read_backup(archive, PASSWORD.encode()).keys == 11


async def test_a_folder_that_cannot_be_used_is_explained(tree: DemoTree, tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("x")
    app = demo_app(tree)
    async with app.run_test(size=(80, 24)) as pilot:
        await scanned(pilot)
        wizard = wizard_for(app, blocked, tmp_path / "run.json")
        await push(pilot, wizard)
        assert "exists and is not a folder" in wizard.message
        await pilot.press("enter")
        assert wizard.step == "plan", "no plan: nothing to go on with"
    assert blocked.read_text() == "x"
