"""The export wizard: which certificates, PKCS#12 or PEM, the password, the folder, a preview
of every file, then the files are written (all or none) and listed.

Planning and writing are :func:`core.export.plan_export` and :func:`core.export.write_export`,
as ``certdeck export`` uses them; this screen only asks the questions.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import Input, Label, OptionList, RadioSet, Static
from textual.widgets.option_list import Option

from core.errors import CertdeckError, SettingsError
from core.export import (
    ExportFormat,
    ExportPlan,
    ExportResult,
    Selection,
    export_directory,
    plan_export,
    write_export,
)
from core.model import Inventory
from core.rootfs import RootFS
from core.scope import Scope, ScopeKind, records_in_scope
from core.settings import Settings, save_settings, with_value
from core.text import visible
from core.transfer import WriteCancelled
from tui.screens.wizard import (
    StepInfo,
    WizardScreen,
    WizardStep,
    machine_folder,
)
from tui.widgets.choice_set import ChoiceSet
from tui.widgets.file_picker import display_path, typed_path
from tui.widgets.password_field import PasswordField
from tui.widgets.report_view import ReportView
from tui.widgets.toggle import Toggle

__all__ = ["ExportOutcome", "ExportWizard"]

_PLAN = "export-plan"
_WRITE = "export-write"


@dataclass(frozen=True, slots=True)
class ExportOutcome:
    """What the export wizard wrote."""

    result: ExportResult
    settings: Settings | None = None
    """The settings as saved, when the folder was remembered as ``export.directory``."""


@dataclass(frozen=True, slots=True)
class _Written:
    result: ExportResult
    settings: Settings | None
    settings_note: str | None


class ExportWizard(WizardScreen[ExportOutcome]):
    """Export certificates as password-protected PKCS#12 or as PEM files.

    Args:
        inventory: The certificates the selection refers to.
        root: The machine's root (keys are read and paths shown under it).
        settings: The settings in use (export defaults, the folder to remember).
        settings_path: Where the settings are saved when the folder is remembered.
        highlighted: Fingerprint of the highlighted certificate.
        marked: Fingerprints of the marked certificates.
        scope: The scope the tables show.
    """

    TITLE_TEXT = "Export certificates"
    STEPS: ClassVar[dict[str, StepInfo]] = {
        "what": StepInfo("What to export", "↑↓ move · ⏎ choose · esc cancel", back=False),
        "options": StepInfo(
            "Format and contents", "←→ choose · ␣ switch · ↑↓ field · ⏎ next · esc cancel"
        ),
        "password": StepInfo("Password of the PKCS#12 files", "↑↓ field · ⏎ next · esc cancel"),
        "folder": StepInfo("Destination folder", "⏎ preview · tab fields · esc cancel"),
        "preview": StepInfo(
            "Preview: nothing is written yet",
            "⏎ write · ↑↓ scroll · ⌫ back · esc cancel",
            next_label="Write",
        ),
        "summary": StepInfo("Written", "⏎ close · ↑↓ scroll", next_label="Close", back=False),
    }
    WRITE_GROUP = _WRITE

    def __init__(
        self,
        inventory: Inventory,
        *,
        root: RootFS,
        settings: Settings,
        settings_path: Path,
        highlighted: str | None = None,
        marked: Iterable[str] = (),
        scope: Scope | None = None,
    ) -> None:
        super().__init__()
        self.inventory = inventory
        self.root = root
        self.settings = settings
        self.settings_path = settings_path
        by_sha = inventory.by_sha256()
        self.highlighted = by_sha.get(highlighted) if highlighted else None
        wanted = set(marked)
        self.marked = [r.sha256 for r in inventory.certificates if r.sha256 in wanted]
        self.scope = scope if scope is not None else Scope()
        self.required = sum(r.required for r in inventory.certificates)
        self.in_scope = len(records_in_scope(inventory.certificates, self.scope))
        self.selection: Selection | None = None
        self.plan: ExportPlan | None = None
        self.default_folder = export_directory(settings, root)

    def compose_steps(self) -> Iterable[Widget]:
        settings = self.settings.export
        yield WizardStep(
            Static(Text("Which certificates go into the export?"), classes="wizard-text"),
            OptionList(*self._what_options(), id="what-list"),
            id="what",
        )
        yield WizardStep(
            Horizontal(
                Label(Text("Format"), classes="wizard-label"),
                ChoiceSet(
                    [("p12", "PKCS#12 (.p12, password)"), ("pem", "PEM (text)")],
                    "p12",
                    id="format",
                ),
                classes="wizard-row",
            ),
            Horizontal(
                Label(Text("Files"), classes="wizard-label"),
                ChoiceSet(
                    [("each", "one per certificate"), ("one", "one for all")],
                    "each" if settings.one_file_per_certificate else "one",
                    id="files",
                ),
                classes="wizard-row",
            ),
            Horizontal(
                Label(Text("Encryption"), classes="wizard-label"),
                ChoiceSet(
                    [("modern", "modern (AES-256)"), ("legacy", "legacy (3DES, old importers)")],
                    "legacy" if settings.pkcs12_encryption == "legacy" else "modern",
                    id="encryption",
                ),
                classes="wizard-row",
                id="encryption-row",
            ),
            Toggle("include the private keys certdeck can read", True, id="keys"),
            Toggle("include the root certificate at the end of each chain", id="root"),
            Static(Text(""), id="options-hint", classes="wizard-hint"),
            id="options",
        )
        yield WizardStep(
            Static(
                Text(
                    "The PKCS#12 files are encrypted with this password. Whoever imports them "
                    "needs it; certdeck does not keep it."
                ),
                classes="wizard-text",
            ),
            PasswordField(confirm=True, placeholder="at least 12 characters", id="new-password"),
            id="password",
        )
        folder = display_path(self.default_folder) if self.default_folder else ""
        yield WizardStep(
            Static(Text(self._folder_text()), classes="wizard-text"),
            Horizontal(
                Label(Text("Folder"), classes="wizard-label"),
                Input(
                    folder,
                    compact=True,
                    placeholder="e.g. ~/certificates (created when missing)",
                    id="folder-path",
                    classes="wizard-field",
                ),
                classes="wizard-row",
            ),
            Toggle("remember this folder (export.directory in the settings)", id="remember"),
            id="folder",
        )
        yield WizardStep(ReportView(id="preview-report"), id="preview")
        yield WizardStep(ReportView(id="summary-report"), id="summary")

    def _folder_text(self) -> str:
        if self.default_folder is None:
            return (
                "Where should the files go? No export folder is set yet (export.directory). "
                "Existing files are never replaced: a taken name gets a free one."
            )
        return (
            "The files go into the export folder from the settings, or type another one. "
            "Existing files are never replaced: a taken name gets a free one."
        )

    def _what_options(self) -> list[Option]:
        def count(n: int, what: str) -> str:
            return f"{n} {what}{'s' if n != 1 else ''}"

        options: list[Option] = []
        if self.highlighted is not None:
            name = visible(self.highlighted.cert.display_name)
            options.append(Option(Text(f"The highlighted certificate: {name}"), id="highlighted"))
        else:
            options.append(
                Option(Text("The highlighted certificate: none"), id="highlighted", disabled=True)
            )
        marked = len(self.marked)
        options.append(
            Option(
                Text(
                    f"The {count(marked, 'marked certificate')}"
                    if marked
                    else "The marked certificates: none (space marks rows in the tables)"
                ),
                id="marked",
                disabled=not marked,
            )
        )
        options.append(
            Option(
                Text(
                    f"All required certificates: {self.required}"
                    if self.required
                    else "All required certificates: none (no service uses one)"
                ),
                id="required",
                disabled=not self.required,
            )
        )
        if self.scope.kind is ScopeKind.ALL:
            label = f"Every certificate on the machine: {self.in_scope}"
        else:
            label = (
                f"Everything in the current scope ({visible(self.scope.label)}): {self.in_scope}"
            )
        options.append(Option(Text(label), id="scope", disabled=not self.in_scope))
        return options

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#remember", Toggle).display = self.default_folder is None
        self._options_changed()
        options = self.query_one("#what-list", OptionList)
        first = "marked" if self.marked else "highlighted"
        ids = ["highlighted", "marked", "required", "scope"]
        enabled = [i for i in ids if not options.get_option(i).disabled]
        if not enabled:
            self.say(
                "There is no certificate to export yet: wait for the scan, or rescan.", "warning"
            )
            return
        options.highlighted = ids.index(first if first in enabled else enabled[0])

    @property
    def format(self) -> ExportFormat:
        """The chosen format."""
        return "pem" if self.query_one("#format", ChoiceSet).value == "pem" else "p12"

    def steps_ahead(self) -> list[str]:
        steps = list(self.STEPS)
        if self.format == "pem":
            steps.remove("password")
        return steps

    @on(OptionList.OptionSelected, "#what-list")
    def _what_chosen(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self._choose(event.option.id or "")

    def _choose(self, what: str) -> None:
        selection: Selection
        if what == "highlighted" and self.highlighted is not None:
            selection = [self.highlighted.sha256]
        elif what == "marked" and self.marked:
            selection = list(self.marked)
        elif what == "required" and self.required:
            selection = "required"
        elif what == "scope" and self.in_scope:
            selection = self.scope
        else:
            self.say("Choose one of the lines that are not greyed out.", "warning")
            return
        self.selection = selection
        self.go("options")

    @on(RadioSet.Changed)
    def _choice_changed(self, event: RadioSet.Changed) -> None:
        event.stop()
        if event.radio_set.id == "format":
            keys = self.query_one("#keys", Toggle)
            # Keys travel inside PKCS#12 by default; in PEM they are unencrypted: opt in.
            keys.value = self.format == "p12"
        self._options_changed()

    @on(Toggle.Changed)
    def _toggle_changed(self, event: Toggle.Changed) -> None:
        event.stop()
        self._options_changed()

    def _options_changed(self) -> None:
        p12 = self.format == "p12"
        self.show_progress()
        self.query_one("#encryption-row").display = p12
        keys = self.query_one("#keys", Toggle)
        keys.label = Text(
            "include the private keys certdeck can read"
            if p12
            else "include the private keys, unencrypted"
        )
        hint = Text()
        if p12:
            hint.append(
                "PKCS#12 files are protected by a password (next step). A private key goes in "
                "when certdeck can read it; the chain goes along, its root only when chosen."
            )
            if self.query_one("#encryption", ChoiceSet).value == "legacy":
                hint.append(
                    "\n▲ Legacy encryption (3DES, SHA-1 MAC) is weak: only for importers that "
                    "cannot open modern files.",
                    style="bold",
                )
        else:
            hint.append(
                "PEM files hold the certificate and its chain as text; the root only when chosen."
            )
            if keys.value:
                hint.append(
                    "\n▲ The private keys are written unencrypted (mode 0600): anyone who can "
                    "read the files can impersonate the certificates' owners.",
                    style="bold",
                )
        self.query_one("#options-hint", Static).update(hint)

    def next_step(self) -> None:
        step = self.step
        if step == "what":
            options = self.query_one("#what-list", OptionList)
            option = options.highlighted_option
            self._choose((option.id or "") if option is not None else "")
        elif step == "options":
            self.go("password" if self.format == "p12" else "folder")
        elif step == "password":
            field = self.query_one("#new-password", PasswordField)
            problem = field.problem(allow_empty=False)
            if problem is not None:
                self.say(problem, "error")
                return
            self.go("folder")
        elif step == "folder":
            self._start_plan()
        elif step == "preview":
            if self.plan is not None and self.run_step_work(_WRITE):
                self.cancel_write.clear()
                self.say("Writing…")
                self._write(self.plan)
        elif step == "summary":
            self.dismiss(self.outcome)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """``enter`` in a field goes on, as it does elsewhere in the step."""
        event.stop()
        self.action_next()

    def _start_plan(self) -> None:
        folder = typed_path(self.query_one("#folder-path", Input).value)
        if folder is None:
            self.say("Type the folder to write into.", "error")
            return
        if self.query_one("#remember", Toggle).value and machine_folder(folder, self.root) is None:
            self.say(
                f"{display_path(folder)} is outside this machine's root, so it cannot be saved "
                "as export.directory: switch off “remember”, or choose a folder inside.",
                "error",
            )
            return
        if self.selection is None or not self.run_step_work(_PLAN):
            return
        self.say("Planning…")
        self._plan(self.selection, folder)

    @work(exclusive=True, group=_PLAN, exit_on_error=False, description="export preview")
    async def _plan(self, selection: Selection, folder: Path) -> ExportPlan:
        fmt = self.format
        return await asyncio.to_thread(
            plan_export,
            self.inventory,
            selection,
            fmt=fmt,
            one_file=self.query_one("#files", ChoiceSet).value == "one",
            destination=folder,
            root=self.root,
            with_keys=self.query_one("#keys", Toggle).value,
            include_root=self.query_one("#root", Toggle).value,
            legacy=fmt == "p12" and self.query_one("#encryption", ChoiceSet).value == "legacy",
        )

    @work(exclusive=True, group=_WRITE, exit_on_error=False, description="export")
    async def _write(self, plan: ExportPlan) -> _Written:
        # The password is read here, not passed in: worker arguments end up in descriptions.
        password = (
            self.query_one("#new-password", PasswordField).password if plan.needs_password else None
        )
        result = await asyncio.to_thread(
            write_export, plan, password, cancelled=self.cancel_write.is_set
        )
        settings: Settings | None = None
        note: str | None = None
        if self.query_one("#remember", Toggle).value and self.default_folder is None:
            machine = machine_folder(plan.destination, self.root)
            try:
                if machine is None:
                    raise SettingsError("the folder is outside this machine's root")
                changed = with_value(self.settings, "export", "directory", machine)
                await asyncio.to_thread(save_settings, changed, self.settings_path)
                settings = changed
                note = f"The folder {visible(machine)} is saved as export.directory."
            except SettingsError as exc:
                note = f"The folder was not saved in the settings: {exc.message}"
        return _Written(result, settings, note)

    def work_done(self, group: str, result: object) -> None:
        if group == _PLAN and isinstance(result, ExportPlan):
            self.plan = result
            report = self.query_one("#preview-report", ReportView)
            self.call_later(report.show, result.describe())
            self.go("preview")
            count = len(result.files)
            self.say(f"⏎ writes {count} file{'s' if count != 1 else ''}; esc writes nothing.")
        elif group == _WRITE and isinstance(result, _Written):
            self.outcome = ExportOutcome(result.result, result.settings)
            report = self.query_one("#summary-report", ReportView)
            self.call_later(report.show, result.result.describe())
            self.go("summary")
            if result.settings_note is not None:
                ok = result.settings is not None
                self.say(result.settings_note, "success" if ok else "warning")
            else:
                self.say("Done.", "success")

    def work_failed(self, group: str, error: CertdeckError) -> None:
        if group == _WRITE and self.cancel_write.is_set():
            # escape during the write: everything written so far was removed again.
            self.dismiss(None)
            return
        if isinstance(error, WriteCancelled):
            self.say(f"{error.message}", "warning")
            return
        prefix = "Nothing was written. " if group == _WRITE else ""
        self.say(f"{prefix}{error.title}: {error.message}", "error")
