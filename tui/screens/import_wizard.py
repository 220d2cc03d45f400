"""The import wizard: pick a file, open it (with its password), see what is inside, choose the
folder, preview the files, write them (all or none) and see what was written.

Reading, opening, planning and writing are :mod:`core.importer`'s, as ``certdeck import``
uses them; this screen only asks the questions.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import Button, Input, Label, Static

from core.errors import CertdeckError, SettingsError
from core.importer import (
    ImportPlan,
    ImportPreview,
    ImportResult,
    WrongPassword,
    import_directory,
    inspect_import,
    open_import,
    plan_import,
    read_import_file,
    write_import,
)
from core.model import Inventory
from core.rootfs import RootFS, printable_path
from core.settings import Settings, save_settings
from core.text import visible
from tui.screens.wizard import (
    StepInfo,
    WizardScreen,
    WizardStep,
    machine_folder,
)
from tui.widgets.file_picker import FilePicker, display_path, typed_path
from tui.widgets.password_field import PasswordField
from tui.widgets.report_view import ReportView
from tui.widgets.toggle import Toggle

__all__ = ["PASSWORD_TRIES", "ImportOutcome", "ImportWizard", "contents_lines"]

PASSWORD_TRIES = 3
"""Wrong passwords allowed before the wizard stops asking (as ``certdeck import`` does)."""

_READ = "import-read"
_UNLOCK = "import-unlock"
_PLAN = "import-plan"
_WRITE = "import-write"
_SETTINGS = "import-settings"


@dataclass(frozen=True, slots=True)
class ImportOutcome:
    """What the import wizard did."""

    result: ImportResult | None
    """What was written; ``None`` when everything in the file was already on the machine."""
    highlight: tuple[str, ...] = ()
    """The certificates to highlight once the tables show them (the file's leaf first)."""
    settings: Settings | None = None
    """The settings as saved, when the destination was added to ``scan.paths``."""

    @property
    def written(self) -> bool:
        """Files were written (the inventory needs a rescan)."""
        return self.result is not None and bool(self.result.files)


_FORMATS = {"pkcs12": "PKCS#12", "pem": "PEM", "der": "DER", "pkcs7": "PKCS#7"}


def contents_lines(preview: ImportPreview) -> list[tuple[int, Text]]:
    """What a file holds, as indented lines that fit 80 columns (certificate text made visible).

    Every certificate with its subject, issuer, validity, fingerprint and whether the machine
    has it already; each chain in order, leaf first; each key, and the certificate it matches.
    """
    lines: list[tuple[int, Text]] = []
    head = Text(visible(preview.name) or "the file", style="bold")
    head.append(f": {_FORMATS.get(preview.format, preview.format)}", style="")
    lines.append((0, head))
    lines += [(2, Text(visible(p), style="italic")) for p in preview.protection]
    names = {c.sha256: visible(c.facts.display_name) for c in preview.certificates}
    numbers = {c.sha256: n for n, c in enumerate(preview.certificates, 1)}
    if preview.certificates:
        lines.append((0, Text("")))
        lines.append((0, Text("Certificates", style="bold")))
    for cert in preview.certificates:
        facts = cert.facts
        line = Text(f"{numbers[cert.sha256]}. ")
        line.append(names[cert.sha256], style="bold")
        line.append(f"  ({facts.role})")
        lines.append((0, line))
        lines.append((3, Text(f"subject {visible(facts.subject)}")))
        lines.append((3, Text(f"issuer  {visible(facts.issuer)}")))
        lines.append(
            (3, Text(f"valid   {facts.not_before:%Y-%m-%d} to {facts.not_after:%Y-%m-%d}"))
        )
        lines.append((3, Text(f"sha256  {facts.sha256}")))
        if cert.friendly_name:
            lines.append((3, Text(f"name in the file: {visible(cert.friendly_name)}")))
        if cert.present:
            where = visible(printable_path(cert.present[0]))
            lines.append(
                (3, Text(f"already on this machine ({where}): not written again", style="italic"))
            )
        else:
            lines.append((3, Text("new on this machine", style="bold")))
    if preview.chains:
        lines.append((0, Text("")))
        lines.append((0, Text("Chain order (leaf first)", style="bold")))
        for chain in preview.chains:
            steps = " → ".join(f"{numbers[sha]}. {names[sha]}" for sha in chain)
            lines.append((2, Text(steps)))
    if preview.keys:
        lines.append((0, Text("")))
    for key in preview.keys:
        line = Text("Private key: ", style="bold")
        line.append(key.describe())
        if key.matches:
            line.append(
                f", matches certificate {numbers[key.matches]} ({names[key.matches]})",
                style="bold",
            )
        elif key.encrypted:
            line.append(", encrypted: which certificate it matches shows once opened")
        else:
            line.append(", matches none of the certificates")
        lines.append((0, line))
        if key.present:
            where = visible(printable_path(key.present[0]))
            lines.append(
                (2, Text(f"already on this machine ({where}): not written again", style="italic"))
            )
    if not preview.keys:
        lines.append((0, Text("")))
        lines.append((0, Text("No private key in the file.", style="italic")))
    lines += [(0, Text(f"✖ problem: {visible(p)}", style="bold")) for p in preview.problems]
    return lines


@dataclass(frozen=True, slots=True)
class _Opened:
    data: bytes
    name: str
    preview: ImportPreview


class ImportWizard(WizardScreen[ImportOutcome]):
    """Import certificates and keys from a PKCS#12, PEM, DER or PKCS#7 file.

    Args:
        inventory: What is on the machine already (imports skip it).
        root: The machine's root (the default folder and the paths shown are under it).
        settings: The settings in use (the import folder, the scanned paths).
        settings_path: Where the settings are saved when a folder is added to the scan.
        start: The folder the file browser shows first (the home folder).
    """

    TITLE_TEXT = "Import a certificate file"
    STEPS: ClassVar[dict[str, StepInfo]] = {
        "file": StepInfo(
            "Choose the file", "type a path or ↓ browse · ⏎ open · esc cancel", back=False
        ),
        "password": StepInfo("Password of the file", "⏎ open · tab to Back · esc cancel"),
        "contents": StepInfo("What the file holds", "⏎ next · ↑↓ scroll · ⌫ back · esc cancel"),
        "folder": StepInfo("Destination folder", "⏎ preview · ↑↓ field · esc cancel"),
        "plan": StepInfo(
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
        start: Path,
    ) -> None:
        super().__init__()
        self.inventory = inventory
        self.root = root
        self.settings = settings
        self.settings_path = settings_path
        self.start = start
        self.opened: _Opened | None = None
        self.preview: ImportPreview | None = None
        self.plan: ImportPlan | None = None
        self.result: ImportResult | None = None
        self.attempts = 0
        self.outside: str | None = None
        """The destination as a machine path, when it is outside the scanned folders."""

    def compose_steps(self) -> Iterable[Widget]:
        yield WizardStep(
            Static(
                Text(
                    "PKCS#12 (.p12, .pfx), PEM, DER or PKCS#7. The format is read from the "
                    "content; the browser lists folders and certificate-like names."
                ),
                classes="wizard-text",
            ),
            FilePicker(self.start, id="picker"),
            id="file",
        )
        yield WizardStep(
            Static(Text(""), id="password-text", classes="wizard-text"),
            PasswordField(placeholder="may be empty", id="file-password"),
            id="password",
        )
        yield WizardStep(ReportView(id="contents-report"), id="contents")
        folder = import_directory(self.settings, self.root)
        yield WizardStep(
            Static(
                Text(
                    "Certificate and chain go into NAME.pem, the private key into NAME.key "
                    "(mode 0600, folder 0700). Existing files are never replaced."
                ),
                classes="wizard-text",
            ),
            Horizontal(
                Label(Text("Folder"), classes="wizard-label"),
                Input(
                    display_path(folder),
                    compact=True,
                    placeholder="the folder to write into",
                    id="folder-path",
                    classes="wizard-field",
                ),
                classes="wizard-row",
            ),
            Toggle("encrypt the private key with a new password", id="reencrypt"),
            PasswordField(
                label="New password", confirm=True, id="key-password", classes="wizard-below"
            ),
            id="folder",
        )
        yield WizardStep(ReportView(id="plan-report"), id="plan")
        yield WizardStep(
            ReportView(id="summary-report"),
            Static(Text(""), id="outside-text", classes="wizard-warning"),
            Toggle("", id="add-scan-path"),
            id="summary",
        )

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#key-password").display = False
        self.query_one("#add-scan-path").display = False

    def steps_ahead(self) -> list[str]:
        steps = list(self.STEPS)
        locked = self.opened is not None and self.opened.preview.locked
        if not locked:
            steps.remove("password")
        return steps

    def enter_step(self, step: str) -> None:
        if step == "file":
            self.attempts = 0
        elif step == "password":
            field = self.query_one("#file-password", PasswordField)
            field.clear()
            field.first.disabled = self.attempts >= PASSWORD_TRIES
        elif step == "folder":
            preview = self.preview
            keys = preview is not None and any(
                k.material is not None and not k.present for k in preview.keys
            )
            self.query_one("#reencrypt", Toggle).display = keys
            if not keys:
                self.query_one("#reencrypt", Toggle).value = False

    # The file

    @on(FilePicker.Chosen)
    def _file_chosen(self, event: FilePicker.Chosen) -> None:
        event.stop()
        self._read(event.path)

    @on(Input.Changed, "#picker-path")
    def _path_changed(self, event: Input.Changed) -> None:
        # Whatever was said about the last path no longer applies.
        if self.busy is None:
            self.say("")

    def _read(self, path: Path) -> None:
        if self.step != "file" or not self.run_step_work(_READ):
            return
        self.say(f"Reading {display_path(path)}…")
        self._read_file(path)

    @work(exclusive=True, group=_READ, exit_on_error=False, description="import: reading")
    async def _read_file(self, path: Path) -> _Opened:
        name = printable_path(path.name)
        data = await asyncio.to_thread(read_import_file, path)
        preview = await asyncio.to_thread(inspect_import, data, name, inventory=self.inventory)
        return _Opened(data, name, preview)

    # The password

    @work(exclusive=True, group=_UNLOCK, exit_on_error=False, description="import: opening")
    async def _unlock(self, opened: _Opened) -> ImportPreview:
        # The password is read here, not passed in: worker arguments end up in descriptions.
        password = self.query_one("#file-password", PasswordField).password
        return await asyncio.to_thread(
            open_import, opened.data, password, name=opened.name, inventory=self.inventory
        )

    def _password_prompt(self, opened: _Opened) -> Text:
        text = Text()
        text.append(visible(opened.name), style="bold")
        text.append(f": {opened.preview.lock_reason}. Type its password (it may be empty).")
        for line in opened.preview.protection:
            text.append(f"\n  {visible(line)}")
        return text

    # Contents, folder, plan, write

    def _show_contents(self, preview: ImportPreview) -> None:
        self.preview = preview
        report = self.query_one("#contents-report", ReportView)
        self.call_later(report.show, contents_lines(preview))
        self.go("contents")
        present = sum(c.already_present for c in preview.certificates)
        if present:
            self.say(
                f"{present} of {len(preview.certificates)} certificates are already on this "
                "machine; they are not written again.",
            )

    @on(Toggle.Changed, "#reencrypt")
    def _reencrypt_changed(self, event: Toggle.Changed) -> None:
        event.stop()
        field = self.query_one("#key-password", PasswordField)
        field.display = event.value
        if event.value:
            field.focus_first()
        else:
            field.clear()

    @work(exclusive=True, group=_PLAN, exit_on_error=False, description="import preview")
    async def _plan(self, preview: ImportPreview, folder: Path) -> ImportPlan:
        password: bytes | None = None
        if self.query_one("#reencrypt", Toggle).value:
            password = self.query_one("#key-password", PasswordField).password
        return await asyncio.to_thread(
            plan_import, preview, folder, reencrypt_password=password, root=self.root
        )

    @work(exclusive=True, group=_WRITE, exit_on_error=False, description="import")
    async def _write(self, plan: ImportPlan) -> ImportResult:
        return await asyncio.to_thread(write_import, plan, cancelled=self.cancel_write.is_set)

    @work(exclusive=True, group=_SETTINGS, exit_on_error=False, description="saving settings")
    async def _add_scan_path(self, machine: str) -> Settings:
        scan = self.settings.scan
        # Not with_value: a list typed as text is split at commas, and a path may hold one.
        changed = dataclasses.replace(
            self.settings, scan=dataclasses.replace(scan, paths=(*scan.paths, machine))
        )
        await asyncio.to_thread(save_settings, changed, self.settings_path)
        return changed

    def _scanned(self, machine: str) -> bool:
        for store in self.inventory.stores:
            top = store.path.rstrip("/")
            if machine == store.path or machine.startswith(top + "/"):
                return True
        return False

    def _show_summary(self, result: ImportResult) -> None:
        self.result = result
        report = self.query_one("#summary-report", ReportView)
        self.call_later(report.show, result.describe())
        self.go("summary")
        plan = self.plan
        outside = self.query_one("#outside-text", Static)
        offer = self.query_one("#add-scan-path", Toggle)
        machine = machine_folder(plan.destination, self.root) if plan is not None else None
        self.outside = None
        if plan is None or (machine is not None and self._scanned(machine)):
            outside.display = False
            offer.display = False
            self.say("Done. The inventory is scanned again and the new certificate highlighted.")
            return
        outside.display = True
        if machine is None:
            outside.update(
                Text(
                    f"▲ {display_path(plan.destination)} is outside this machine's root, so "
                    "certdeck does not scan it: the new certificate will not show in the tables."
                )
            )
            offer.display = False
        else:
            self.outside = machine
            shown = visible(printable_path(machine))
            outside.update(
                Text(
                    f"▲ {shown} is not among the folders certdeck scans, so the new certificate "
                    "will not show in the tables unless the folder is added to scan.paths."
                )
            )
            offer.label = Text(f"add {shown} to scan.paths in the settings")
            offer.display = True
            offer.focus()
            self.show_keys("␣ add the folder · ⏎ close · ↑↓ field")
        self.say("Done.", "success")

    def _highlight(self) -> tuple[str, ...]:
        if self.result is not None and self.result.imported:
            return self.result.imported
        preview = self.preview
        if preview is None:
            return ()
        return tuple(c.sha256 for c in preview.certificates if c.already_present)

    # Going on

    def next_step(self) -> None:
        step = self.step
        if step == "file":
            self.query_one("#picker", FilePicker).submit()
        elif step == "password":
            opened = self.opened
            if opened is None or self.attempts >= PASSWORD_TRIES:
                return
            if self.query_one("#file-password", PasswordField).first.disabled:
                return
            if self.run_step_work(_UNLOCK):
                self.say("Opening…")
                self._unlock(opened)
        elif step == "contents" and self.preview is not None:
            self.go("folder")
        elif step == "folder":
            self._start_plan()
        elif step == "plan":
            plan = self.plan
            if plan is None:
                return
            if plan.nothing_to_write:
                self.dismiss(ImportOutcome(None, self._highlight()))
            elif self.run_step_work(_WRITE):
                self.cancel_write.clear()
                self.say("Writing…")
                self._write(plan)
        elif step == "summary":
            self._close()

    def _start_plan(self) -> None:
        folder = typed_path(self.query_one("#folder-path", Input).value)
        if folder is None:
            self.say("Type the folder to write into.", "error")
            return
        if self.query_one("#reencrypt", Toggle).value:
            problem = self.query_one("#key-password", PasswordField).problem(allow_empty=False)
            if problem is not None:
                self.say(problem, "error")
                return
        if self.preview is not None and self.run_step_work(_PLAN):
            self.say("Planning…")
            self._plan(self.preview, folder)

    def _close(self) -> None:
        result = self.result
        outcome = ImportOutcome(result, self._highlight())
        self.outcome = outcome
        offer = self.query_one("#add-scan-path", Toggle)
        if self.outside is not None and offer.display and offer.value:
            if self.run_step_work(_SETTINGS):
                self.say("Saving the settings…")
                self._add_scan_path(self.outside)
            return
        self.dismiss(outcome)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """``enter`` in a field goes on, as it does elsewhere in the step."""
        event.stop()
        self.action_next()

    def action_cancel(self) -> None:
        """At the summary ``escape`` closes without changing the settings."""
        if self.step == "summary" and self.busy is None:
            self.dismiss(ImportOutcome(self.result, self._highlight()))
            return
        super().action_cancel()

    def work_done(self, group: str, result: object) -> None:
        if group == _READ and isinstance(result, _Opened):
            self.opened = result
            self.preview = None
            if result.preview.locked:
                self.query_one("#password-text", Static).update(self._password_prompt(result))
                self.go("password")
            else:
                self._show_contents(result.preview)
        elif group == _UNLOCK and isinstance(result, ImportPreview):
            self.query_one("#file-password", PasswordField).clear()
            self._show_contents(result)
        elif group == _PLAN and isinstance(result, ImportPlan):
            self.plan = result
            report = self.query_one("#plan-report", ReportView)
            self.call_later(report.show, result.describe())
            self.go("plan")
            if result.nothing_to_write:
                self.query_one("#wizard-next", Button).label = "Close"
                self.say("Nothing to write: ⏎ closes and highlights the certificate.")
            else:
                count = len(result.files)
                self.say(f"⏎ writes {count} file{'s' if count != 1 else ''}; esc writes nothing.")
        elif group == _WRITE and isinstance(result, ImportResult):
            self._show_summary(result)
        elif group == _SETTINGS and isinstance(result, Settings):
            self.dismiss(ImportOutcome(self.result, self._highlight(), result))

    def work_failed(self, group: str, error: CertdeckError) -> None:
        if group == _UNLOCK:
            self._unlock_failed(error)
        elif group == _WRITE:
            if self.cancel_write.is_set():
                # escape during the write: everything written so far was removed again.
                self.dismiss(None)
                return
            self.say(f"Nothing was written. {error.title}: {error.message}", "error")
        elif group == _SETTINGS:
            message = error.message if isinstance(error, SettingsError) else str(error)
            self.say(f"The settings were not saved: {message}", "error")
        else:
            self.say(f"{error.title}: {error.message}", "error")

    def _unlock_failed(self, error: CertdeckError) -> None:
        field = self.query_one("#file-password", PasswordField)
        field.clear()
        if isinstance(error, WrongPassword):
            self.attempts += 1
            left = PASSWORD_TRIES - self.attempts
            if left > 0:
                tries = f"{left} {'tries' if left != 1 else 'try'} left"
                self.say(f"✖ {error.message} ({tries})", "error")
                field.focus_first()
                return
            self.say(
                f"✖ {error.message} (tried {PASSWORD_TRIES} times; nothing was imported). "
                "Back (tab) chooses another file; esc closes.",
                "error",
            )
        else:
            # Not a password problem: another try would not help.
            self.attempts = PASSWORD_TRIES
            self.say(
                f"{error.title}: {error.message}\nAnother password will not help; "
                "Back (tab) chooses another file; esc closes.",
                "warning",
            )
        field.first.disabled = True
        self.query_one("#wizard-back", Button).focus()
