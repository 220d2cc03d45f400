"""The create wizard (key ``n``): a server certificate for this machine's names and addresses.

The form is pre-filled from :func:`core.hostinfo.host_info`; the certificate is self-signed or
issued by a local CA (an existing one, or one created along with it).  Planning and writing
are :func:`core.create.plan_server_certificate`, :func:`core.create.plan_ca` and
:func:`core.create.write_created`, as ``certdeck create`` uses them.
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
from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import Input, Label, RadioSet, Static

from core.create import (
    FOREVER,
    CreatePlan,
    CreateResult,
    KeyType,
    ServerRequest,
    Validity,
    ca_request_defaults,
    load_issuing_ca,
    plan_ca,
    plan_server_certificate,
    server_request_defaults,
    split_names,
    write_created,
)
from core.errors import CertdeckError, UsageError
from core.hostinfo import HostInfo, host_info
from core.importer import read_import_file
from core.rootfs import RootFS
from core.text import visible
from tui.screens.wizard import StepInfo, WizardScreen, WizardStep
from tui.widgets.choice_set import ChoiceSet
from tui.widgets.file_picker import display_path, typed_path
from tui.widgets.password_field import PasswordField
from tui.widgets.report_view import ReportView
from tui.widgets.toggle import Toggle

__all__ = ["CreateOutcome", "CreateWizard"]

_PLAN = "create-plan"
_WRITE = "create-write"

_KEY_CHOICES: list[tuple[str, str]] = [
    ("ec-p256", "P-256"),
    ("ec-p384", "P-384"),
    ("rsa-2048", "RSA 2048"),
    ("rsa-3072", "RSA 3072"),
    ("rsa-4096", "RSA 4096"),
]
_VALIDITY_CHOICES: list[tuple[str, str]] = [
    ("90d", "90 days"),
    ("1y", "1 year"),
    ("2y", "2 years"),
    ("forever", "9999 (no end)"),
]


@dataclass(frozen=True, slots=True)
class CreateOutcome:
    """What the create wizard wrote."""

    result: CreateResult
    """The server certificate, its chain and key."""
    ca: CreateResult | None = None
    """The local CA created along with it, if one was."""


class _CAOnlyWritten(CertdeckError):
    """The new CA was written, the server certificate was not."""


@dataclass(frozen=True, slots=True)
class _Plans:
    server: CreatePlan
    ca: CreatePlan | None


class CreateWizard(WizardScreen[CreateOutcome]):
    """Create a TLS server certificate, self-signed or issued by a local CA."""

    DEFAULT_CSS = """
    CreateWizard .wizard-label, CreateWizard PasswordField .password-label {
        width: 10;
    }
    CreateWizard ChoiceSet > RadioButton {
        margin: 0 1 0 0;
    }
    """

    TITLE_TEXT = "Create a server certificate"
    STEPS: ClassVar[dict[str, StepInfo]] = {
        "hosts": StepInfo(
            "Names and addresses", "↑↓ field · ␣ switch · ⏎ next · esc cancel", back=False
        ),
        "options": StepInfo(
            "Key, validity and issuer", "←→ choose · ↑↓ field · ⏎ next · esc cancel"
        ),
        "folder": StepInfo("Destination folder", "↑↓ field · ⏎ preview · esc cancel"),
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
        info: HostInfo | None = None,
        *,
        root: RootFS,
        now: datetime,
        destination: Path | None = None,
    ) -> None:
        """Args:
        info: This machine's names and addresses (read now when omitted).
        root: The machine's root (paths are shown under it).
        now: The creation time.
        destination: The folder offered for the new files.
        """
        super().__init__()
        self.info = info if info is not None else host_info()
        self.root = root
        self.now = now
        self.destination = destination
        self.plans: _Plans | None = None

    def compose_steps(self) -> Iterable[Widget]:
        defaults = server_request_defaults(self.info)
        addresses = ", ".join(a.describe() for a in self.info.addresses)
        yield WizardStep(
            Static(
                Text(
                    "The certificate holds these names and addresses (commas separate them). "
                    "Wildcards such as *.example.org are accepted."
                ),
                classes="wizard-text",
            ),
            self._row("Names", Input(", ".join(defaults.dns_names), id="names")),
            self._row("Addresses", Input(", ".join(defaults.ip_addresses), id="addresses")),
            self._row("Extra", Input(placeholder="more names or addresses", id="extra")),
            Toggle("also add the addresses as DNS names (old clients)", id="ips-as-dns"),
            Static(
                Text(f"Interfaces: {visible(addresses) or 'none found'}"),
                classes="wizard-hint",
            ),
            id="hosts",
        )
        yield WizardStep(
            self._row("Key", ChoiceSet(_KEY_CHOICES, "ec-p256", id="key-type")),
            self._row("Validity", ChoiceSet(_VALIDITY_CHOICES, "1y", id="validity")),
            self._row(
                "Issuer",
                ChoiceSet([("self", "self-signed"), ("ca", "a local CA")], "self", id="issuer"),
            ),
            Horizontal(
                self._row("CA cert", Input(placeholder="empty: create a new CA", id="ca-cert")),
                classes="ca-field",
            ),
            Horizontal(
                self._row("CA key", Input(placeholder="the CA's private key", id="ca-key")),
                classes="ca-field",
            ),
            Horizontal(
                PasswordField(
                    label="Password",
                    placeholder="of the CA key, when it is encrypted",
                    id="ca-password",
                ),
                classes="ca-field",
            ),
            Static(Text(""), id="options-hint", classes="wizard-hint"),
            id="options",
        )
        folder = display_path(self.destination) if self.destination is not None else ""
        yield WizardStep(
            Static(
                Text(
                    "The certificate, its chain and its private key (mode 0600) go into this "
                    "folder; existing files are never replaced."
                ),
                classes="wizard-text",
            ),
            self._row(
                "Folder", Input(folder, placeholder="created when missing", id="folder-path")
            ),
            self._row("File name", Input(placeholder="empty: from the first name", id="file-name")),
            id="folder",
        )
        yield WizardStep(ReportView(id="preview-report"), id="preview")
        yield WizardStep(ReportView(id="summary-report"), id="summary")

    @staticmethod
    def _row(label: str, field: Widget) -> Horizontal:
        if isinstance(field, Input):
            field.compact = True
        field.add_class("wizard-field")
        return Horizontal(Label(Text(label), classes="wizard-label"), field, classes="wizard-row")

    def on_mount(self) -> None:
        super().on_mount()
        self._options_changed()

    @property
    def with_ca(self) -> bool:
        """Whether a local CA issues the certificate."""
        return self.query_one("#issuer", ChoiceSet).value == "ca"

    @on(RadioSet.Changed)
    def _choice_changed(self, event: RadioSet.Changed) -> None:
        event.stop()
        self._options_changed()

    def _options_changed(self) -> None:
        for row in self.query(".ca-field"):
            row.display = self.with_ca
        hint = Text()
        if self.query_one("#validity", ChoiceSet).value == "forever":
            hint.append(
                f"No well-defined expiration: notAfter {FOREVER:%Y-%m-%d %H:%M:%S}Z "
                "(RFC 5280 §4.1.2.5). Apple clients reject server certificates valid longer "
                "than 825 days.\n"
            )
        if self.with_ca:
            hint.append(
                "Clients then trust the CA once instead of every server. Leave the CA fields "
                "empty to create a new local CA in the same folder."
            )
        else:
            hint.append("Each client has to trust this certificate itself.")
        self.query_one("#options-hint", Static).update(hint)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """``enter`` in a field goes on, as it does elsewhere in the step."""
        event.stop()
        self.action_next()

    def _request(self) -> ServerRequest:
        values = [
            self.query_one(f"#{name}", Input).value for name in ("names", "addresses", "extra")
        ]
        dns, ips = split_names(values)
        if not dns and not ips:
            raise UsageError("give at least one name or address")
        key: KeyType = self.query_one("#key-type", ChoiceSet).value  # type: ignore[assignment]
        validity: Validity = self.query_one("#validity", ChoiceSet).value  # type: ignore[assignment]
        return ServerRequest(
            dns_names=dns,
            ip_addresses=ips,
            ips_as_dns=self.query_one("#ips-as-dns", Toggle).value,
            key_type=key,
            validity=validity,
            file_name=self.query_one("#file-name", Input).value.strip(),
        )

    def next_step(self) -> None:
        step = self.step
        if step == "hosts":
            try:
                self._request()
            except CertdeckError as exc:
                self.say(f"{exc.title}: {exc.message}", "error")
                return
            self.go("options")
        elif step == "options":
            cert = self.query_one("#ca-cert", Input).value.strip()
            key = self.query_one("#ca-key", Input).value.strip()
            if self.with_ca and bool(cert) != bool(key):
                self.say("Give both the CA certificate and its key, or neither (new CA).", "error")
                return
            self.go("folder")
        elif step == "folder":
            self._start_plan()
        elif step == "preview":
            if self.plans is not None and self.run_step_work(_WRITE):
                self.say("Writing…")
                self._write(self.plans)
        elif step == "summary":
            self.dismiss(self.outcome)

    def _start_plan(self) -> None:
        folder = typed_path(self.query_one("#folder-path", Input).value)
        if folder is None:
            self.say("Type the folder to write into.", "error")
            return
        try:
            request = self._request()
        except CertdeckError as exc:
            self.say(f"{exc.title}: {exc.message}", "error")
            return
        if not self.run_step_work(_PLAN):
            return
        self.say("Generating the key and signing…")
        self._plan(request, folder)

    @work(exclusive=True, group=_PLAN, exit_on_error=False, description="create preview")
    async def _plan(self, request: ServerRequest, folder: Path) -> _Plans:
        # The CA fields and the password are read here: worker arguments end up in descriptions.
        ca_plan: CreatePlan | None = None
        issuer = None
        if self.with_ca:
            cert_text = self.query_one("#ca-cert", Input).value.strip()
            key_text = self.query_one("#ca-key", Input).value.strip()
            if cert_text:
                cert_path, key_path = typed_path(cert_text), typed_path(key_text)
                assert cert_path is not None
                assert key_path is not None
                password = self.query_one("#ca-password", PasswordField).password or None
                cert_data = await asyncio.to_thread(read_import_file, cert_path)
                key_data = await asyncio.to_thread(read_import_file, key_path)
                issuer = await asyncio.to_thread(
                    load_issuing_ca,
                    cert_data,
                    key_data,
                    now=self.now,
                    password=password,
                    cert_name=cert_text,
                    key_name=key_text,
                )
            else:
                ca_plan = await asyncio.to_thread(
                    plan_ca,
                    ca_request_defaults(self.info),
                    destination=folder,
                    now=self.now,
                    root=self.root,
                )
                by_kind = dict(zip((f.kind for f in ca_plan.files), ca_plan.contents, strict=True))
                issuer = load_issuing_ca(by_kind["certificates"], by_kind["key"], now=self.now)
        server = await asyncio.to_thread(
            plan_server_certificate,
            request,
            destination=folder,
            now=self.now,
            root=self.root,
            issuer=issuer,
        )
        return _Plans(server, ca_plan)

    @work(exclusive=True, group=_WRITE, exit_on_error=False, description="create")
    async def _write(self, plans: _Plans) -> CreateOutcome:
        ca = await asyncio.to_thread(write_created, plans.ca) if plans.ca is not None else None
        try:
            server = await asyncio.to_thread(write_created, plans.server)
        except CertdeckError as exc:
            if ca is None:
                raise
            shown = ", ".join(visible(f.shown) for f in ca.files)
            raise _CAOnlyWritten(
                f"{exc.message}. The new CA was written already ({shown}); the server "
                "certificate was not",
                title=exc.title,
            ) from exc
        return CreateOutcome(server, ca)

    def work_done(self, group: str, result: object) -> None:
        if group == _PLAN and isinstance(result, _Plans):
            self.plans = result
            lines = result.ca.describe() if result.ca is not None else []
            lines += result.server.describe()
            report = self.query_one("#preview-report", ReportView)
            self.call_later(report.show, lines)
            self.go("preview")
            count = len(result.server.files) + (len(result.ca.files) if result.ca else 0)
            wildcard = any(f.code == "wildcard" for f in result.server.findings)
            self.say(
                f"⏎ writes {count} files; esc writes nothing."
                + (" ▲ It holds a wildcard name." if wildcard else ""),
                "warning" if wildcard else "info",
            )
        elif group == _WRITE and isinstance(result, CreateOutcome):
            self.outcome = result
            lines = result.ca.describe() if result.ca is not None else []
            lines += result.result.describe()
            report = self.query_one("#summary-report", ReportView)
            self.call_later(report.show, lines)
            self.go("summary")
            self.say("Done.", "success")

    def work_failed(self, group: str, error: CertdeckError) -> None:
        written = group != _WRITE or isinstance(error, _CAOnlyWritten)
        prefix = "" if written else "Nothing was written. "
        self.say(f"{prefix}{error.title}: {error.message}", "error")
