"""The backup wizard (``b``, back up now): the plan, the password, then the archive is written,
read back and verified, and the retention applied.

Planning and writing are :func:`core.backup.plan_backup` and :func:`core.backup.write_backup`,
as ``certdeck backup`` uses them.  The password is typed twice, unless
``backup.password_file`` names a file, which is then read (and refused when others can read
it).  The password is never shown, logged or passed to a worker as an argument.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.widget import Widget
from textual.widgets import Button, Input, Static

from core.backup import (
    BackupPlan,
    BackupResult,
    BackupRun,
    backup_password_file,
    plan_backup,
    record_backup_run,
    write_backup,
)
from core.errors import CertdeckError
from core.model import Inventory
from core.passwords import read_password_file
from core.rootfs import RootFS
from core.settings import Settings
from core.text import visible
from tui.screens.wizard import StepInfo, WizardScreen, WizardStep
from tui.widgets.password_field import PasswordField
from tui.widgets.report_view import ReportView

__all__ = ["BackupOutcome", "BackupWizard"]

_PLAN = "backup-plan"
_WRITE = "backup-write"


@dataclass(frozen=True, slots=True)
class BackupOutcome:
    """What the backup wizard wrote and verified."""

    result: BackupResult


class BackupWizard(WizardScreen[BackupOutcome]):
    """Back up every required certificate, chain and key now, into one verified archive."""

    TITLE_TEXT = "Back up now"
    STEPS: ClassVar[dict[str, StepInfo]] = {
        "plan": StepInfo(
            "What goes into the backup",
            "⏎ next · ↑↓ scroll · esc cancel",
            back=False,
        ),
        "password": StepInfo(
            "Password of the private keys",
            "↑↓ field · ⏎ write · ⌫ back · esc cancel",
            next_label="Write",
        ),
        "summary": StepInfo("Written and verified", "⏎ close · ↑↓ scroll", "Close", back=False),
    }
    WRITE_GROUP = _WRITE

    def __init__(
        self,
        inventory: Inventory,
        *,
        root: RootFS,
        settings: Settings,
        settings_path: Path,
        destination: Path | None = None,
        run_record: Path | None = None,
        now: datetime | None = None,
    ) -> None:
        """Args:
        inventory: The scan (what the services need).
        root: The machine's root.
        settings: ``backup.directory``, ``backup.keep`` and ``backup.password_file``.
        settings_path: certdeck's settings file (it goes into the backup).
        destination: The folder for the archive (default: ``backup.directory``).
        run_record: Where the outcome of the run is recorded for the Settings tab
            (:func:`core.backup.backup_run_path`); ``None`` records nothing.
        now: The backup's time (default: the app's clock).
        """
        super().__init__()
        self.inventory = inventory
        self.root = root
        self.settings = settings
        self.settings_path = settings_path
        self.destination = destination
        self.run_record = run_record
        self.now = now
        self.password_file = backup_password_file(settings, root)
        self.plan: BackupPlan | None = None

    def compose_steps(self) -> Iterable[Widget]:
        yield WizardStep(ReportView(id="plan-report"), id="plan")
        yield WizardStep(
            Static(
                Text(
                    "The private keys in the archive are encrypted with this password. A "
                    "restore needs it; certdeck does not keep it."
                ),
                classes="wizard-text",
            ),
            PasswordField(confirm=True, placeholder="at least 12 characters", id="new-password"),
            id="password",
        )
        yield WizardStep(ReportView(id="summary-report"), id="summary")

    def on_mount(self) -> None:
        super().on_mount()
        if self.run_step_work(_PLAN):
            self.say("Planning…")
            self._plan()

    def steps_ahead(self) -> list[str]:
        steps = list(self.STEPS)
        if self.password_file is not None:
            steps.remove("password")
        return steps

    def next_step(self) -> None:
        if self.step == "plan":
            if self.plan is None:
                return
            if self.password_file is None:
                self.go("password")
            else:
                self._start_write(self.plan)
        elif self.step == "password":
            field = self.query_one("#new-password", PasswordField)
            problem = field.problem(allow_empty=False)
            if problem is not None:
                self.say(problem, "error")
                return
            if self.plan is not None:
                self._start_write(self.plan)
        elif self.step == "summary":
            self.dismiss(self.outcome)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """``enter`` in the repeat field goes on, as it does elsewhere in the step."""
        event.stop()
        self.action_next()

    def _start_write(self, plan: BackupPlan) -> None:
        if self.run_step_work(_WRITE):
            self.cancel_write.clear()
            self.say("Writing and verifying…")
            self._write(plan)

    @work(exclusive=True, group=_PLAN, exit_on_error=False, description="backup plan")
    async def _plan(self) -> BackupPlan:
        return await asyncio.to_thread(
            plan_backup,
            self.inventory,
            root=self.root,
            settings=self.settings,
            settings_path=self.settings_path,
            now=self.certdeck.clock(self.now),
            destination=self.destination,
        )

    @work(exclusive=True, group=_WRITE, exit_on_error=False, description="backup")
    async def _write(self, plan: BackupPlan) -> BackupResult:
        # The password is read here, not passed in: worker arguments end up in descriptions.
        try:
            if self.password_file is not None:
                password = await asyncio.to_thread(read_password_file, self.password_file)
            else:
                password = self.query_one("#new-password", PasswordField).password
            result = await asyncio.to_thread(
                write_backup, plan, password, cancelled=self.cancel_write.is_set
            )
        except CertdeckError as exc:
            if exc.title != "Cancelled":
                await self._record(BackupRun(self.certdeck.clock(self.now), False, exc.message))
            raise
        warnings = len(result.warnings)
        note = f"; {warnings} warning{'s' if warnings != 1 else ''}" if warnings else ""
        await self._record(
            BackupRun(
                self.certdeck.clock(self.now),
                True,
                "written and verified" + note,
                archive=result.shown,
                files=result.files,
                keys=result.keys,
                removed=result.removed,
            )
        )
        return result

    async def _record(self, run: BackupRun) -> None:
        if self.run_record is None:
            return
        try:
            await asyncio.to_thread(record_backup_run, run, self.run_record)
        except OSError as exc:
            self.certdeck.notify(
                f"The run could not be recorded: {visible(str(exc.strerror or exc))}",
                title="Backup",
                severity="warning",
                markup=False,
            )

    def work_done(self, group: str, result: object) -> None:
        if group == _PLAN and isinstance(result, BackupPlan):
            self.plan = result
            view = self.query_one("#plan-report", ReportView)
            self.call_later(view.show, result.describe())
            if self.password_file is not None:
                where = visible(self.settings.backup.password_file)
                self.say(f"⏎ writes the archive; the password comes from {where}.")
                self.query_one("#wizard-next", Button).label = "Write"
            else:
                self.say("⏎ asks for the password; esc writes nothing.")
        elif group == _WRITE and isinstance(result, BackupResult):
            self.outcome = BackupOutcome(result)
            self.query_one("#new-password", PasswordField).clear()
            view = self.query_one("#summary-report", ReportView)
            self.call_later(view.show, result.describe())
            self.go("summary")
            self.say("Done: the archive is written and verified.", "success")

    def work_failed(self, group: str, error: CertdeckError) -> None:
        if group == _WRITE and self.cancel_write.is_set():
            self.dismiss(None)
            return
        prefix = "Nothing was written. " if group == _WRITE else ""
        self.say(f"{prefix}{error.title}: {error.message}", "error")
