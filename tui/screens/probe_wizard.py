"""The probe wizard (key ``P``): connect to a TLS server and judge the chain it serves.

Nothing connects until ``enter`` in the first step.  The result shows the verdict, the
problems, the chain as served and the comparison with the certificates on disk; from there
``s`` saves the chain to a file and ``t`` opens the trust wizard for the served root.
Probing and saving are :func:`core.probe.probe`, :func:`core.probe.plan_save_chain` and
:func:`core.probe.write_chain`, as ``certdeck probe`` uses them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import Input, Label, Static

from core.errors import CertdeckError
from core.model import CertFacts, Inventory
from core.probe import (
    STARTTLS,
    ProbeResult,
    ProbeTarget,
    SaveChainPlan,
    StartTLS,
    parse_target,
    plan_save_chain,
    probe,
    write_chain,
)
from core.rootfs import RootFS
from core.text import visible
from core.transfer import WrittenFile
from core.truststore import CommandRunner
from tui.screens.trust_wizard import TrustOutcome, TrustWizard
from tui.screens.wizard import StepInfo, WizardScreen, WizardStep
from tui.widgets.choice_set import ChoiceSet
from tui.widgets.file_picker import display_path, typed_path
from tui.widgets.report_view import ReportView

__all__ = ["ProbeOutcome", "ProbeWizard"]

_PROBE = "probe-connect"
_SAVE_PLAN = "probe-save-plan"
_WRITE = "probe-save"


@dataclass(frozen=True, slots=True)
class ProbeOutcome:
    """What the probe found, and what was done with it."""

    result: ProbeResult
    saved: WrittenFile | None = None
    """The chain file, when it was saved."""
    trusted: TrustOutcome | None = None
    """The trust store change, when the served root was trusted."""


class ProbeWizard(WizardScreen[ProbeOutcome]):
    """Probe a TLS server: verdict, problems, chain, and the certificates on disk."""

    DEFAULT_CSS = """
    ProbeWizard .wizard-label {
        width: 11;
    }
    ProbeWizard ChoiceSet > RadioButton {
        margin: 0 1 0 0;
    }
    """

    TITLE_TEXT = "Probe a TLS server"
    STEPS: ClassVar[dict[str, StepInfo]] = {
        "target": StepInfo("Server", "↑↓ field · ←→ choose · ⏎ connect · esc cancel", back=False),
        "result": StepInfo(
            "Result",
            "s save chain · t trust root · ↑↓ scroll · ⏎ close",
            next_label="Close",
            back=False,
        ),
        "save": StepInfo("Save the served chain", "⏎ preview · ⌫ back · esc close"),
        "save-preview": StepInfo(
            "Preview: nothing is written yet",
            "⏎ write · ⌫ back · esc close",
            next_label="Write",
        ),
    }
    WRITE_GROUP = _WRITE
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "s",
            "save_chain",
            "Save chain",
            id="probe.save_chain",
            tooltip="Save the chain as served to a PEM file (after a preview)",
        ),
        Binding(
            "t",
            "trust_root",
            "Trust root",
            id="probe.trust_root",
            tooltip="Trust the served root system-wide (the trust wizard asks first)",
        ),
    ]

    def __init__(
        self,
        inventory: Inventory | None = None,
        *,
        root: RootFS,
        now: datetime,
        anchors: Sequence[CertFacts] | None = None,
        target: str = "",
        save_to: Path | None = None,
        timeout: float = 10.0,
        trust_runner: CommandRunner | None = None,
    ) -> None:
        """Args:
        inventory: The scan's certificates: its trust anchors, and the certificates local
            services use for the comparison with the disk.
        root: The machine's root (paths are shown under it).
        now: When the chain is judged.
        anchors: The trust anchors to verify against (default: the inventory's).
        target: ``HOST[:PORT]`` filled in at first.
        save_to: The folder offered for saving the chain.
        timeout: Seconds to wait for the server.
        trust_runner: Runs the trust store commands (for the trust wizard).
        """
        super().__init__()
        self.inventory = inventory
        self.root = root
        self.now = now
        if anchors is None:
            certs = inventory.certificates if inventory is not None else []
            anchors = [r.cert for r in certs if r.trust_anchor]
        self.anchors = list(anchors)
        self.initial_target = target
        self.save_to = save_to
        self.timeout = timeout
        self.trust_runner = trust_runner
        self.result: ProbeResult | None = None
        self.save_plan: SaveChainPlan | None = None
        self.saved: WrittenFile | None = None
        self.trusted: TrustOutcome | None = None

    def compose_steps(self) -> Iterable[Widget]:
        yield WizardStep(
            Static(
                Text(
                    "certdeck connects only when you press ⏎, fetches the chain exactly as "
                    "served and verifies it against this machine's trust store and the name."
                ),
                classes="wizard-text",
            ),
            self._row("Server", Input(self.initial_target, placeholder="host[:port]", id="host")),
            self._row("Name (SNI)", Input(placeholder="empty: the host", id="servername")),
            self._row(
                "STARTTLS",
                ChoiceSet([("none", "none"), *((p, p) for p in STARTTLS)], "none", id="starttls"),
            ),
            id="target",
        )
        yield WizardStep(ReportView(id="result-report"), id="result")
        folder = display_path(self.save_to) if self.save_to is not None else ""
        yield WizardStep(
            Static(Text("The served certificates go into one PEM file."), classes="wizard-text"),
            self._row("Folder", Input(folder, placeholder="created when missing", id="save-path")),
            id="save",
        )
        yield WizardStep(ReportView(id="save-report"), id="save-preview")

    @staticmethod
    def _row(label: str, field: Widget) -> Horizontal:
        if isinstance(field, Input):
            field.compact = True
        field.add_class("wizard-field")
        return Horizontal(Label(Text(label), classes="wizard-label"), field, classes="wizard-row")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("save_chain", "trust_root"):
            return self.step == "result" and self.busy is None and self.result is not None
        return True

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """``enter`` in a field goes on, as it does elsewhere in the step."""
        event.stop()
        self.action_next()

    def _target(self) -> ProbeTarget:
        value = self.query_one("#starttls", ChoiceSet).value
        starttls: StartTLS | None = next((p for p in STARTTLS if p == value), None)
        return parse_target(
            self.query_one("#host", Input).value,
            servername=self.query_one("#servername", Input).value or None,
            starttls=starttls,
        )

    def _outcome(self) -> ProbeOutcome | None:
        if self.result is None:
            return None
        return ProbeOutcome(self.result, self.saved, self.trusted)

    def next_step(self) -> None:
        step = self.step
        if step == "target":
            try:
                target = self._target()
            except CertdeckError as exc:
                self.say(f"{exc.title}: {exc.message}", "error")
                return
            if self.run_step_work(_PROBE):
                self.say(f"Connecting to {visible(target.label)}…")
                self._probe(target)
        elif step == "result":
            self.dismiss(self._outcome())
        elif step == "save":
            folder = typed_path(self.query_one("#save-path", Input).value)
            if folder is None:
                self.say("Type the folder to write into.", "error")
                return
            if self.result is not None and self.run_step_work(_SAVE_PLAN):
                self._plan_save(self.result, folder)
        elif step == "save-preview":
            self._start_write()

    def _start_write(self) -> None:
        if self.save_plan is not None and self.run_step_work(_WRITE):
            self.say("Writing…")
            self._write(self.save_plan)

    def action_cancel(self) -> None:
        """Close the wizard; a probe already made is returned."""
        self.outcome = self._outcome()
        super().action_cancel()

    def action_save_chain(self) -> None:
        """Ask for a folder, then save the served chain there."""
        self.go("save")

    def action_trust_root(self) -> None:
        """Trust the served root through the trust wizard."""
        result = self.result
        candidate = result.root_candidate() if result is not None else None
        if candidate is None:
            self.say(
                "Nothing to trust: "
                + (
                    "the connection is trusted already."
                    if result is not None and result.trusted
                    else "the server does not send a self-signed root; get the CA certificate "
                    "from its owner and trust that file."
                ),
                "warning",
            )
            return
        self._trust(candidate)

    @work(exclusive=True, group="probe-trust", exit_on_error=False, description="trust root")
    async def _trust(self, candidate: CertFacts) -> None:
        wizard = TrustWizard(candidate, root=self.root, now=self.now, runner=self.trust_runner)
        outcome = await self.app.push_screen_wait(wizard)
        if outcome is not None:
            self.trusted = outcome
            self.say("The trust store was changed; probe again to see the new verdict.", "success")

    @work(exclusive=True, group=_PROBE, exit_on_error=False, description="probe")
    async def _probe(self, target: ProbeTarget) -> ProbeResult:
        inventory = self.inventory
        known = [r.cert for r in inventory.certificates] if inventory is not None else []
        return await asyncio.to_thread(
            probe,
            target,
            anchors=self.anchors,
            now=self.now,
            timeout=self.timeout,
            known=known,
            inventory=inventory,
        )

    @work(exclusive=True, group=_SAVE_PLAN, exit_on_error=False, description="chain preview")
    async def _plan_save(self, result: ProbeResult, folder: Path) -> SaveChainPlan:
        return await asyncio.to_thread(plan_save_chain, result, destination=folder, root=self.root)

    @work(exclusive=True, group=_WRITE, exit_on_error=False, description="save chain")
    async def _write(self, plan: SaveChainPlan) -> WrittenFile:
        return await asyncio.to_thread(write_chain, plan)

    def work_done(self, group: str, result: object) -> None:
        if group == _PROBE and isinstance(result, ProbeResult):
            self.result = result
            self.saved = None
            self.trusted = None
            self._show_result(result)
            if result.trusted:
                self.say(f"Verdict: {result.verdict}", "success")
            else:
                self.say(f"Verdict: {result.verdict}", "error")
        elif group == _SAVE_PLAN and isinstance(result, SaveChainPlan):
            self.save_plan = result
            report = self.query_one("#save-report", ReportView)
            self.call_later(report.show, result.describe())
            self.go("save-preview")
            self.say("⏎ writes 1 file; esc writes nothing.")
        elif group == _WRITE and isinstance(result, WrittenFile):
            self.saved = result
            self.go("result")
            self.say(f"Saved the chain as {visible(result.shown)}.", "success")

    def _show_result(self, result: ProbeResult) -> None:
        report = self.query_one("#result-report", ReportView)
        self.call_later(report.show, result.describe())
        self.go("result")

    def work_failed(self, group: str, error: CertdeckError) -> None:
        prefix = "Nothing was written. " if group == _WRITE else ""
        self.say(f"{prefix}{error.title}: {error.message}", "error")
