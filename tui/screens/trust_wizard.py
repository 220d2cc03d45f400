"""The trust wizard (key ``t``): add the highlighted CA certificate to the system trust store,
or remove it again.

The detected family, the exact files and the commands are shown before anything changes.
Planning and applying are :func:`core.truststore.plan_trust_add`,
:func:`core.truststore.plan_trust_remove` and :func:`core.truststore.apply_trust`, as
``certdeck trust`` uses them.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar, Literal

from rich.text import Text
from textual import on, work
from textual.widget import Widget
from textual.widgets import Button, OptionList, Static
from textual.widgets.option_list import Option

from core.errors import CertdeckError
from core.model import CertFacts
from core.rootfs import RootFS
from core.text import visible
from core.truststore import (
    CommandRunner,
    DistributionRoot,
    FamilyId,
    TrustPlan,
    TrustResult,
    apply_trust,
    detect_family,
    plan_trust_add,
    plan_trust_remove,
)
from tui.screens.wizard import StepInfo, WizardScreen, WizardStep
from tui.widgets.file_picker import display_path
from tui.widgets.report_view import ReportView

__all__ = ["TrustOutcome", "TrustWizard"]

_PLAN = "trust-plan"
_WRITE = "trust-write"

Action = Literal["add", "remove", "deselect"]


@dataclass(frozen=True, slots=True)
class TrustOutcome:
    """What the trust wizard changed."""

    result: TrustResult


class TrustWizard(WizardScreen[TrustOutcome]):
    """Add a CA certificate to the system trust store, or remove it."""

    TITLE_TEXT = "System trust store"
    STEPS: ClassVar[dict[str, StepInfo]] = {
        "action": StepInfo("What to do", "↑↓ move · ⏎ choose · esc cancel", back=False),
        "deselect": StepInfo(
            "A root the distribution ships", "⏎ plan anyway · ⌫ back · esc cancel"
        ),
        "preview": StepInfo(
            "Preview: nothing is changed yet",
            "⏎ apply · ↑↓ scroll · ⌫ back · esc cancel",
            next_label="Apply",
        ),
        "summary": StepInfo("Done", "⏎ close · ↑↓ scroll", next_label="Close", back=False),
    }
    WRITE_GROUP = _WRITE

    def __init__(
        self,
        certificate: CertFacts,
        *,
        root: RootFS,
        now: datetime,
        family: FamilyId | None = None,
        euid: int | None = None,
        runner: CommandRunner | None = None,
        execute: bool | None = None,
    ) -> None:
        """Args:
        certificate: The CA certificate to trust or stop trusting.
        root: The machine (``/``: the commands run) or a tree (only files change).
        now: For the validity warning.
        family: Force a distribution family instead of detecting it.
        euid: The effective user id (default: this process's).
        runner: Runs the refresh commands (default: :func:`core.truststore.run_command`).
        execute: Run the commands; default: only on the machine itself (root ``/``).
        """
        super().__init__()
        self.certificate = certificate
        self.root = root
        self.now = now
        self.family = family
        self.euid = os.geteuid() if euid is None else euid
        self.runner = runner
        self.execute = execute
        self.plan: TrustPlan | None = None

    def compose_steps(self) -> Iterable[Widget]:
        c = self.certificate
        yield WizardStep(
            Static(self._about(), id="about", classes="wizard-text"),
            OptionList(
                Option(Text("Add it to the system trust store"), id="add"),
                Option(Text("Remove it from the system trust store"), id="remove"),
                id="action-list",
            ),
            id="action",
        )
        yield WizardStep(
            Static(
                Text(
                    f"▲ {visible(c.display_name)} is a root the distribution ships. It is not "
                    "deleted, only deselected, but every program on this machine stops "
                    "trusting the sites and services it vouches for — often many public web "
                    "sites, mirrors and package repositories. Updates of the ca-certificates "
                    "package do not undo this.\n\nOnly go on when you know why this root must "
                    "not be trusted here.",
                    style="bold",
                ),
                classes="wizard-warning",
            ),
            id="deselect",
        )
        yield WizardStep(ReportView(id="preview-report"), id="preview")
        yield WizardStep(ReportView(id="summary-report"), id="summary")

    def _about(self) -> Text:
        c = self.certificate
        family = detect_family(self.root) if self.family is None else None
        label: str
        if self.family is not None:
            label = self.family
        elif family is not None:
            label = family.label
        else:
            label = "unknown (no /etc/os-release and none of the known folders)"
        where = "this machine" if self.root.root == "/" else f"the tree {_shown(self.root.root)}"
        text = Text()
        text.append(f"{visible(c.display_name)}\n", style="bold")
        text.append(f"SHA-256 {c.sha256}\n")
        text.append(f"Trust store of {where}: {label}\n")
        runs = self.root.root == "/" if self.execute is None else self.execute
        if not runs:
            text.append("Under a root folder only the files change; the commands are shown.")
        elif self.euid != 0:
            text.append(
                "certdeck does not run as root: the plan can be shown, but changing the trust "
                "store needs root rights (run certdeck with sudo)."
            )
        return text

    @on(OptionList.OptionSelected, "#action-list")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self._start_plan("remove" if event.option.id == "remove" else "add")

    def next_step(self) -> None:
        step = self.step
        if step == "action":
            option = self.query_one("#action-list", OptionList).highlighted_option
            self._start_plan("remove" if option is not None and option.id == "remove" else "add")
        elif step == "deselect":
            self._start_plan("deselect")
        elif step == "preview":
            self._start_apply()
        elif step == "summary":
            self.dismiss(self.outcome)

    def _start_plan(self, action: Action) -> None:
        if self.run_step_work(_PLAN):
            self.say("Reading the trust store…")
            self._plan(action)

    def _start_apply(self) -> None:
        plan = self.plan
        if plan is None:
            return
        if plan.nothing_to_do:
            self.dismiss(None)
            return
        if plan.needs_root and self.euid != 0:
            self.say(self._root_needed(), "error")
            return
        if self.run_step_work(_WRITE):
            self.say("Changing the trust store…")
            self._apply(plan)

    @staticmethod
    def _root_needed() -> str:
        return (
            "Root rights needed: only root can change the system trust store, so nothing was "
            "changed. Close the wizard and start certdeck with sudo, or run the commands of "
            "the preview yourself as root."
        )

    @work(exclusive=True, group=_PLAN, exit_on_error=False, description="trust preview")
    async def _plan(self, action: Action) -> TrustPlan:
        if action == "add":
            return await asyncio.to_thread(
                plan_trust_add,
                self.certificate,
                root=self.root,
                now=self.now,
                family=self.family,
                execute=self.execute,
            )
        return await asyncio.to_thread(
            plan_trust_remove,
            self.certificate,
            root=self.root,
            family=self.family,
            deselect_distribution_root=action == "deselect",
            execute=self.execute,
        )

    @work(exclusive=True, group=_WRITE, exit_on_error=False, description="trust change")
    async def _apply(self, plan: TrustPlan) -> TrustResult:
        return await asyncio.to_thread(apply_trust, plan, runner=self.runner, euid=self.euid)

    def work_done(self, group: str, result: object) -> None:
        if group == _PLAN and isinstance(result, TrustPlan):
            self.plan = result
            report = self.query_one("#preview-report", ReportView)
            self.call_later(report.show, result.describe())
            self.go("preview")
            if result.nothing_to_do:
                self.query_one("#wizard-next", Button).label = "Close"
                self.say("Nothing to change: ⏎ closes.", "success")
            elif result.needs_root and self.euid != 0:
                self.say(self._root_needed(), "warning")
            elif result.action == "deselect":
                self.say("▲ ⏎ stops trusting a distribution root; esc changes nothing.", "warning")
            elif result.execute:
                self.say("⏎ changes these files and runs the commands; esc changes nothing.")
            else:
                self.say("⏎ changes these files (the commands are not run); esc changes nothing.")
        elif group == _WRITE and isinstance(result, TrustResult):
            self.outcome = TrustOutcome(result)
            report = self.query_one("#summary-report", ReportView)
            self.call_later(report.show, result.describe())
            self.go("summary")
            self.say("Done.", "success")

    def work_failed(self, group: str, error: CertdeckError) -> None:
        if isinstance(error, DistributionRoot):
            self.go("deselect")
            return
        self.say(f"{error.title}: {error.message}", "error")


def _shown(folder: str) -> str:
    """A folder as the user knows it: relative to the current folder when inside it."""
    here = os.getcwd()
    if folder == here:
        return "."
    if folder.startswith(here.rstrip("/") + "/"):
        return os.path.relpath(folder, here)
    return display_path(folder)
