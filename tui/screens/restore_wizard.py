"""The restore wizard (``B``, restore a backup): the archive, its password, the plan, the result.

Reading, planning and restoring are :func:`core.backup.read_backup`,
:func:`core.restore.plan_backup_restore` and :func:`core.restore.restore_backup`, as
``certdeck restore`` uses them.  The archive is picked from the backup folder or typed; it is
verified completely (every hash, every key) before the plan is shown.  Files that differ from
the backup are replaced only when the box in the plan is ticked, and then the current ones go
to the quarantine first.  The password is never shown, logged or passed to a worker as an
argument.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.widget import Widget
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from core.backup import BackupArchive, BackupContents, list_backups, read_backup
from core.errors import CertdeckError, UsageError
from core.passwords import read_password_file
from core.restore import BackupRestorePlan, BackupRestoreResult, plan_backup_restore, restore_backup
from core.rootfs import RootFS
from core.text import visible
from core.transfer import shown_path
from tui.screens.wizard import StepInfo, WizardScreen, WizardStep
from tui.widgets.file_picker import display_path, typed_path
from tui.widgets.password_field import PasswordField
from tui.widgets.report_view import ReportView
from tui.widgets.toggle import Toggle

__all__ = ["RestoreOutcome", "RestoreWizard"]

_OPEN = "restore-open"
_WRITE = "restore-write"


@dataclass(frozen=True, slots=True)
class RestoreOutcome:
    """What the restore wizard did."""

    result: BackupRestoreResult


def _size(size: int) -> str:
    return f"{size / 1024:.0f} KiB" if size < 1024 * 1024 else f"{size / 1024 / 1024:.1f} MiB"


class RestoreWizard(WizardScreen[RestoreOutcome]):
    """Put the files of a verified backup back in place (also: move to a new server)."""

    TITLE_TEXT = "Restore a backup"
    STEPS: ClassVar[dict[str, StepInfo]] = {
        "archive": StepInfo(
            "Which backup",
            "↑↓ choose · ⏎ next · esc cancel",
            back=False,
        ),
        "password": StepInfo(
            "Password of the backup",
            "⏎ open and verify · ⌫ back · esc cancel",
            next_label="Open",
        ),
        "plan": StepInfo(
            "What will be written where",
            "␣ toggle · ↑↓ scroll · ⏎ restore · ⌫ back · esc cancel",
            next_label="Restore",
        ),
        "summary": StepInfo("Restored", "⏎ close · ↑↓ scroll", "Close", back=False),
    }
    WRITE_GROUP = _WRITE

    def __init__(
        self,
        *,
        root: RootFS,
        backups: Path,
        quarantine: Path,
        password_file: Path | None = None,
        now: datetime | None = None,
    ) -> None:
        """Args:
        root: The machine's root: files go back under it.
        backups: The backup folder whose archives are offered (``backup.directory``).
        quarantine: Where differing files go before they are replaced.
        password_file: ``backup.password_file``, when set: no password is asked.
        now: The time recorded in the quarantine (default: the app's clock).
        """
        super().__init__()
        self.root = root
        self.backups = backups
        self.quarantine = quarantine
        self.password_file = password_file
        self.now = now
        self.archives: tuple[BackupArchive, ...] = list_backups(backups)
        self.archive: Path | None = None
        self.plan: BackupRestorePlan | None = None

    def compose_steps(self) -> Iterable[Widget]:
        where = visible(shown_path(self.backups, self.root))
        if self.archives:
            intro = f"Backups in {where}, newest first; or type the path of another archive."
        else:
            intro = f"There are no backups in {where}; type the path of an archive."
        yield WizardStep(
            Static(Text(intro), classes="wizard-text"),
            OptionList(*self._options(), id="archive-list"),
            Input(placeholder="/path/to/certdeck-backup-….tar", id="archive-path"),
            id="archive",
        )
        yield WizardStep(
            Static(
                Text(
                    "The archive is verified completely (every file's SHA-256, every key "
                    "decrypts) before anything is planned."
                ),
                classes="wizard-text",
            ),
            PasswordField(id="backup-password"),
            id="password",
        )
        yield WizardStep(
            ReportView(id="plan-report"),
            Toggle(
                "Also replace the files that differ from the backup (the current ones go to "
                "the quarantine, from where u puts them back)",
                id="replace-files",
            ),
            id="plan",
        )
        yield WizardStep(ReportView(id="summary-report"), id="summary")

    def _options(self) -> list[Option]:
        return [
            Option(
                Text(
                    f"{a.created:%Y-%m-%d %H:%M}Z  {visible(a.host)}  {_size(a.size)}  "
                    f"{visible(a.path.name)}"
                ),
                id=str(number),
            )
            for number, a in enumerate(self.archives)
        ]

    def steps_ahead(self) -> list[str]:
        steps = list(self.STEPS)
        if self.password_file is not None:
            steps.remove("password")
        return steps

    def enter_step(self, step: str) -> None:
        if step == "archive" and not self.archives:
            self.query_one("#archive-list", OptionList).display = False

    @on(OptionList.OptionSelected, "#archive-list")
    def _archive_chosen(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.action_next()

    def _chosen_archive(self) -> Path | None:
        typed = typed_path(self.query_one("#archive-path", Input).value)
        if typed is not None:
            return typed
        options = self.query_one("#archive-list", OptionList)
        index = options.highlighted
        if index is None or not self.archives:
            return None
        return self.archives[index].path

    def next_step(self) -> None:
        if self.step == "archive":
            archive = self._chosen_archive()
            if archive is None:
                self.say("Choose a backup, or type the path of an archive.", "error")
                return
            if not archive.is_file():
                self.say(f"{display_path(archive)} is not a file.", "error")
                return
            self.archive = archive
            if self.password_file is None:
                self.go("password")
            else:
                self._start_open()
        elif self.step == "password":
            field = self.query_one("#backup-password", PasswordField)
            if not field.password:
                self.say("Type the password the backup was written with.", "error")
                return
            self._start_open()
        elif self.step == "plan":
            if self.plan is not None:
                self._start_restore(self.plan)
        elif self.step == "summary":
            self.dismiss(self.outcome)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """``enter`` in a field goes on, as it does elsewhere in the step."""
        event.stop()
        self.action_next()

    def _start_open(self) -> None:
        if self.run_step_work(_OPEN):
            self.say("Opening and verifying the archive…")
            self._open()

    def _start_restore(self, plan: BackupRestorePlan) -> None:
        replace_files = self.query_one("#replace-files", Toggle).value
        if not plan.writes and not (replace_files and plan.replacements):
            self.say("Nothing to restore: everything is in place or left as it is.", "warning")
            return
        if self.run_step_work(_WRITE):
            self.cancel_write.clear()
            self.say("Restoring…")
            self._restore(plan, replace_files)

    @work(exclusive=True, group=_OPEN, exit_on_error=False, description="restore: open")
    async def _open(self) -> BackupRestorePlan:
        # The password is read here, not passed in: worker arguments end up in descriptions.
        archive = self.archive
        if archive is None:
            raise UsageError("no archive was chosen")
        if self.password_file is not None:
            password = await asyncio.to_thread(read_password_file, self.password_file)
        else:
            password = self.query_one("#backup-password", PasswordField).password
        contents: BackupContents = await asyncio.to_thread(read_backup, archive, password)
        return await asyncio.to_thread(plan_backup_restore, contents, root=self.root)

    @work(exclusive=True, group=_WRITE, exit_on_error=False, description="restore")
    async def _restore(self, plan: BackupRestorePlan, replace_files: bool) -> BackupRestoreResult:
        return await asyncio.to_thread(
            restore_backup,
            plan,
            quarantine=self.quarantine,
            now=self.certdeck.clock(self.now),
            replace_files=replace_files,
            cancelled=self.cancel_write.is_set,
        )

    def work_done(self, group: str, result: object) -> None:
        if group == _OPEN and isinstance(result, BackupRestorePlan):
            self.plan = result
            self.query_one("#backup-password", PasswordField).clear()
            toggle = self.query_one("#replace-files", Toggle)
            toggle.value = False
            toggle.display = bool(result.replacements)
            self.go("plan")
            view = self.query_one("#plan-report", ReportView)
            self.call_later(view.show, [*result.contents.describe(), *result.describe()])
            count = len(result.writes)
            differing = len(result.replacements)
            note = f"; {differing} differ and stay unless ticked below" if differing else ""
            if count or differing:
                self.say(f"⏎ restores {count} file{'s' if count != 1 else ''}{note}.")
            else:
                self.say("Everything in the backup is already in place; esc closes.", "success")
        elif group == _WRITE and isinstance(result, BackupRestoreResult):
            self.outcome = RestoreOutcome(result)
            view = self.query_one("#summary-report", ReportView)
            self.call_later(view.show, result.describe())
            self.go("summary")
            if result.complete:
                self.say("Done: every file of the backup is in place.", "success")
            else:
                self.say(f"{len(result.left)} file(s) were not restored; see the list.", "warning")

    def work_failed(self, group: str, error: CertdeckError) -> None:
        prefix = "Nothing was restored. " if group == _OPEN else ""
        self.say(f"{prefix}{error.title}: {error.message}", "error")
        if group == _OPEN and self.password_file is None:
            field = self.query_one("#backup-password", PasswordField)
            field.clear()
            field.focus_first()

    def action_cancel(self) -> None:
        """Close; while restoring, stop after the current file (what is restored stays)."""
        if self.busy == self.WRITE_GROUP:
            self.cancel_write.set()
            self.say("Stopping after the current file; what is restored stays.", "warning")
            return
        super().action_cancel()
