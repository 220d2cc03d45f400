"""The clean-up wizard (``d`` on a row, ``D`` for every obsolete certificate) and the undo
screen of the last clean-up (``u``).

The wizard offers the obsolete certificates ticked and the other unused ones on request (with
the stronger warning), previews every file that will change and every refusal with its reason,
moves the files into the quarantine, names the quarantine entry, and then offers the services'
configuration checks: shown exactly, run only when confirmed, their output shown.

Planning and changing are :func:`core.cleanup.plan_cleanup` and
:func:`core.cleanup.apply_cleanup`; undo is :func:`core.quarantine.plan_undo` and
:func:`core.quarantine.restore`, as ``certdeck clean`` and ``certdeck quarantine`` use them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import ClassVar, Literal

from rich.text import Text
from textual import events, on, work
from textual.containers import VerticalScroll
from textual.widget import Widget
from textual.widgets import Button, Static

from core.cleanup import (
    UNUSED_WARNING,
    Candidate,
    CleanupPlan,
    CleanupResult,
    apply_cleanup,
    cleanup_candidates,
    plan_cleanup,
)
from core.configtest import ConfigTest, ConfigTestResult, run_config_test
from core.errors import CertdeckError
from core.machine import SYSTEM_STATE_DIRECTORY
from core.model import Inventory
from core.quarantine import (
    RestorePlan,
    RestoreResult,
    UnknownEntry,
    default_quarantine_directory,
    plan_undo,
    restore,
)
from core.rootfs import RootFS
from core.settings import Settings
from core.text import visible
from tui.screens.wizard import StepInfo, WizardScreen, WizardStep
from tui.widgets.report_view import ReportView
from tui.widgets.toggle import Toggle

__all__ = [
    "CleanupOutcome",
    "CleanupWizard",
    "UndoCleanupScreen",
    "quarantine_folder",
]

_PLAN = "cleanup-plan"
_APPLY = "cleanup-apply"
_CHECKS = "cleanup-checks"
_UNDO_PLAN = "undo-plan"
_UNDO = "undo-restore"


def quarantine_folder(root: RootFS, *, demo: bool = False) -> Path:
    """The quarantine folder the TUI uses, as ``certdeck clean`` picks it.

    The demo tree is removed when certdeck ends, so its quarantine lives inside it.
    """
    if demo:
        return Path(root.host(f"{SYSTEM_STATE_DIRECTORY}/quarantine"))
    return default_quarantine_directory(root)


@dataclass(frozen=True, slots=True)
class CleanupOutcome:
    """What the clean-up wizard changed, and what the configuration checks said."""

    result: CleanupResult
    checks: tuple[ConfigTestResult, ...] = ()


def _candidate_id(sha256: str) -> str:
    return f"candidate-{sha256}"


class CleanupWizard(WizardScreen[CleanupOutcome]):
    """Move certificates nothing uses into the quarantine, after a preview of every file."""

    DEFAULT_CSS = """
    CleanupWizard #candidates {
        height: 1fr;
        min-height: 3;
    }
    CleanupWizard #candidate-detail {
        width: 1fr;
        height: auto;
        max-height: 4;
        color: $text-muted;
    }
    CleanupWizard Toggle.-unused {
        color: $text-warning;
    }
    """

    TITLE_TEXT = "Clean up certificates"
    STEPS: ClassVar[dict[str, StepInfo]] = {
        "choose": StepInfo(
            "Which certificates go",
            "␣ tick · ↑↓ move · ⏎ preview · esc cancel",
            next_label="Preview",
            back=False,
        ),
        "preview": StepInfo(
            "Preview: nothing is changed yet",
            "⏎ clean up · ↑↓ scroll · ⌫ back · esc cancel",
            next_label="Clean up",
        ),
        "summary": StepInfo("Cleaned up", "⏎ go on · ↑↓ scroll", next_label="Close", back=False),
        "checks": StepInfo(
            "Configuration checks",
            "⏎ run the checks · ↑↓ scroll · esc close without running",
            next_label="Run",
            back=False,
        ),
    }
    WRITE_GROUP = _APPLY

    def __init__(
        self,
        inventory: Inventory,
        *,
        root: RootFS,
        settings: Settings,
        settings_path: Path,
        selection: Literal["obsolete"] | str,
        quarantine: Path,
        now: datetime | None = None,
    ) -> None:
        """Args:
        inventory: The scan the selection refers to.
        root: The machine's root.
        settings: The settings in use.
        settings_path: The settings file (kept for the main screen; not written).
        selection: ``"obsolete"`` (``D``) or the SHA-256 of one certificate (``d``).
        quarantine: The quarantine folder on this host.
        now: The time recorded in the quarantine (default: the app's clock).
        """
        super().__init__()
        self.inventory = inventory
        self.root = root
        self.settings = settings
        self.settings_path = settings_path
        self.selection = selection
        self.quarantine = quarantine
        self.now = now
        self.candidates = cleanup_candidates(inventory, include_unused=True)
        self.by_sha = {c.sha256: c for c in self.candidates}
        single = None if selection == "obsolete" else selection.lower()
        self.single = single
        # A certificate the clean-up does not offer goes straight to the preview, which says
        # why it is refused.
        self.direct = single is not None and single not in self.by_sha
        self.plan: CleanupPlan | None = None
        self.checks_run = False
        if self.direct:
            self.step = "preview"

    def compose_steps(self) -> Iterable[Widget]:
        toggles = [self._toggle(c) for c in self.candidates]
        obsolete = sum(c.kind == "obsolete" for c in self.candidates)
        intro = (
            "The obsolete certificates are ticked. Files are moved into the quarantine, never "
            "deleted; the preview shows every file first."
            if obsolete
            else "No certificate is obsolete. Unused ones can be offered below, with care."
        )
        yield WizardStep(
            Static(Text(intro), classes="wizard-text"),
            VerticalScroll(*toggles, id="candidates", can_focus=False),
            Static(Text(""), id="candidate-detail"),
            Toggle(
                "also offer unused certificates that are not obsolete (still valid)",
                id="include-unused",
            ),
            Toggle("also move private keys that no certificate left uses", id="with-keys"),
            Static(Text("▲ " + UNUSED_WARNING, style="bold"), id="unused-warning"),
            id="choose",
        )
        yield WizardStep(ReportView(id="preview-report"), id="preview")
        yield WizardStep(ReportView(id="summary-report"), id="summary")
        yield WizardStep(ReportView(id="checks-report"), id="checks")

    def _toggle(self, candidate: Candidate) -> Toggle:
        ticked = (
            candidate.sha256 == self.single if self.single is not None else candidate.preselected
        )
        label = f"{visible(candidate.name)}  {candidate.sha256[:12]}…  {candidate.kind}"
        toggle = Toggle(label, ticked, id=_candidate_id(candidate.sha256))
        if candidate.kind == "unused":
            toggle.add_class("-unused")
        return toggle

    def on_mount(self) -> None:
        include = self.single is not None and self.by_sha.get(self.single) is not None
        include = include and self.by_sha[self.single or ""].kind == "unused"
        self.query_one("#include-unused", Toggle).value = include
        self._show_unused(include)
        super().on_mount()
        if self.direct and self.single is not None:
            self._start_plan([self.single])
        elif not self.candidates:
            self.say("Nothing certdeck found is obsolete or unused: nothing to clean up.")

    def steps_ahead(self) -> list[str]:
        steps = list(self.STEPS)
        if self.direct:
            steps.remove("choose")
        if self.plan is not None and not self.plan.config_tests:
            steps.remove("checks")
        return steps

    def _show_unused(self, on: bool) -> None:
        for candidate in self.candidates:
            if candidate.kind == "unused":
                toggle = self.query_one(f"#{_candidate_id(candidate.sha256)}", Toggle)
                toggle.display = on
                if not on:
                    toggle.value = False
        self.query_one("#unused-warning", Static).display = on

    def _ticked(self) -> list[str]:
        chosen: list[str] = []
        for candidate in self.candidates:
            toggle = self.query_one(f"#{_candidate_id(candidate.sha256)}", Toggle)
            if toggle.display and toggle.value:
                chosen.append(candidate.sha256)
        return chosen

    @on(Toggle.Changed, "#include-unused")
    def _include_changed(self, event: Toggle.Changed) -> None:
        event.stop()
        self._show_unused(event.value)

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        """Show the paths, reasons and warning of the certificate with the cursor."""
        widget = event.widget
        if not isinstance(widget, Toggle) or not (widget.id or "").startswith("candidate-"):
            return
        candidate = self.by_sha.get((widget.id or "").removeprefix("candidate-"))
        if candidate is None:
            return
        lines = [visible(p) for p in candidate.paths] + [visible(r) for r in candidate.reasons]
        self.query_one("#candidate-detail", Static).update(Text("\n".join(lines)))

    def next_step(self) -> None:
        step = self.step
        if step == "choose":
            chosen = self._ticked()
            if not chosen:
                self.say("Tick at least one certificate (␣), or esc to leave.", "error")
                return
            self._start_plan(chosen)
        elif step == "preview":
            plan = self.plan
            if plan is None:
                return
            if plan.nothing_to_do:
                self.say("Nothing would change. ⌫ goes back, esc closes.", "warning")
                return
            if self.run_step_work(_APPLY):
                self.cancel_write.clear()
                self.say("Cleaning up…")
                self._apply(plan)
        elif step == "summary":
            if self.plan is not None and self.plan.config_tests:
                self.go("checks")
                self._show_checks(self.plan.config_tests)
            else:
                self.dismiss(self.outcome)
        elif step == "checks":
            if self.checks_run or self.plan is None:
                self.dismiss(self.outcome)
            elif self.run_step_work(_CHECKS):
                self.say("Running the checks…")
                self._run_checks(self.plan.config_tests)

    def _start_plan(self, chosen: Sequence[str]) -> None:
        if not self.run_step_work(_PLAN):
            return
        self.say("Planning…")
        include = self.query_one("#include-unused", Toggle).value
        self._plan(tuple(chosen), include, self.query_one("#with-keys", Toggle).value)

    @work(exclusive=True, group=_PLAN, exit_on_error=False, description="clean-up preview")
    async def _plan(
        self, chosen: tuple[str, ...], include_unused: bool, with_keys: bool
    ) -> CleanupPlan:
        return await asyncio.to_thread(
            plan_cleanup,
            self.inventory,
            chosen,
            root=self.root,
            quarantine=self.quarantine,
            with_keys=with_keys,
            include_unused=include_unused,
        )

    @work(exclusive=True, group=_APPLY, exit_on_error=False, description="clean-up")
    async def _apply(self, plan: CleanupPlan) -> CleanupResult:
        now = self.certdeck.clock(self.now)
        return await asyncio.to_thread(
            apply_cleanup, plan, now=now, cancelled=self.cancel_write.is_set
        )

    @work(exclusive=True, group=_CHECKS, exit_on_error=False, description="configuration checks")
    async def _run_checks(self, tests: tuple[ConfigTest, ...]) -> tuple[ConfigTestResult, ...]:
        results: list[ConfigTestResult] = []
        for test in tests:
            results.append(await asyncio.to_thread(run_config_test, test))
        return tuple(results)

    def _show_checks(self, tests: tuple[ConfigTest, ...]) -> None:
        lines = [
            "These checks read the live configuration of the services; they run only when "
            "you press ⏎:"
        ]
        lines += [f"  $ {visible(t.command)}" for t in tests]
        view = self.query_one("#checks-report", ReportView)
        self.call_later(view.show, lines)

    def work_done(self, group: str, result: object) -> None:
        if group == _PLAN and isinstance(result, CleanupPlan):
            self.plan = result
            view = self.query_one("#preview-report", ReportView)
            self.call_later(view.show, result.describe())
            self.go("preview")
            if result.nothing_to_do:
                self.say("Nothing would change (see why above); esc closes.", "warning")
            else:
                count = len(result.changes)
                self.say(f"⏎ changes {count} file{'s' if count != 1 else ''}; esc changes nothing.")
        elif group == _APPLY and isinstance(result, CleanupResult):
            self.outcome = CleanupOutcome(result)
            view = self.query_one("#summary-report", ReportView)
            self.call_later(view.show, result.describe())
            self.go("summary")
            more = " ⏎ offers the configuration checks." if result.config_tests else ""
            self.say(
                f"Done: quarantine entry {result.entry_id}; u undoes the last clean-up.{more}",
                "success",
            )
        elif group == _CHECKS and isinstance(result, tuple) and self.outcome is not None:
            checks = tuple(r for r in result if isinstance(r, ConfigTestResult))
            self.checks_run = True
            self.outcome = CleanupOutcome(self.outcome.result, checks)
            lines = [line for check in checks for line in check.describe()]
            view = self.query_one("#checks-report", ReportView)
            self.call_later(view.show, lines)
            self.query_one("#wizard-next", Button).label = "Close"
            self.show_keys("⏎ close · ↑↓ scroll")
            failed = sum(not c.ok for c in checks)
            if failed:
                self.say(f"{failed} check{'s' if failed != 1 else ''} did not pass.", "error")
            else:
                self.say("Every check passed.", "success")

    def work_failed(self, group: str, error: CertdeckError) -> None:
        if group == _APPLY and self.cancel_write.is_set():
            # escape during the clean-up: what was done so far was put back.
            self.dismiss(None)
            return
        prefix = "Nothing was changed. " if group == _PLAN else ""
        self.say(f"{prefix}{error.title}: {error.message}", "error")


class UndoCleanupScreen(WizardScreen[RestoreResult]):
    """Undo the last clean-up: what goes back where, then the files are restored."""

    TITLE_TEXT = "Undo the last clean-up"
    STEPS: ClassVar[dict[str, StepInfo]] = {
        "preview": StepInfo(
            "Preview: nothing is restored yet",
            "⏎ restore · ↑↓ scroll · esc cancel",
            next_label="Restore",
            back=False,
        ),
        "summary": StepInfo("Restored", "⏎ close · ↑↓ scroll", next_label="Close", back=False),
    }
    WRITE_GROUP = _UNDO

    def __init__(self, *, root: RootFS, quarantine: Path, now: datetime | None = None) -> None:
        """Args:
        root: The machine's root (only its clean-ups are undone).
        quarantine: The quarantine folder on this host.
        now: The time recorded in the manifest (default: the app's clock).
        """
        super().__init__()
        self.root = root
        self.quarantine = quarantine
        self.now = now
        self.plan: RestorePlan | None = None

    def compose_steps(self) -> Iterable[Widget]:
        yield WizardStep(ReportView(id="undo-preview"), id="preview")
        yield WizardStep(ReportView(id="undo-summary"), id="summary")

    def on_mount(self) -> None:
        super().on_mount()
        if self.run_step_work(_UNDO_PLAN):
            self.say("Looking for the last clean-up…")
            self._plan()

    @work(exclusive=True, group=_UNDO_PLAN, exit_on_error=False, description="undo preview")
    async def _plan(self) -> RestorePlan:
        return await asyncio.to_thread(plan_undo, self.quarantine, root=self.root)

    @work(exclusive=True, group=_UNDO, exit_on_error=False, description="undo")
    async def _restore(self, plan: RestorePlan) -> RestoreResult:
        now = self.certdeck.clock(self.now)
        return await asyncio.to_thread(restore, plan, now=now)

    def next_step(self) -> None:
        if self.step == "preview":
            plan = self.plan
            if plan is None or not plan.actions:
                self.say("Nothing to restore; esc closes.", "warning")
                return
            if self.run_step_work(_UNDO):
                self.say("Restoring…")
                self._restore(plan)
        else:
            self.dismiss(self.outcome)

    def work_done(self, group: str, result: object) -> None:
        if group == _UNDO_PLAN and isinstance(result, RestorePlan):
            self.plan = result
            view = self.query_one("#undo-preview", ReportView)
            self.call_later(view.show, result.describe())
            count = len(result.actions)
            if count:
                self.say(
                    f"⏎ restores {count} file{'s' if count != 1 else ''}; esc changes nothing."
                )
            else:
                self.say("Nothing can be restored (see why above); esc closes.", "warning")
        elif group == _UNDO and isinstance(result, RestoreResult):
            self.outcome = result
            view = self.query_one("#undo-summary", ReportView)
            self.call_later(view.show, result.describe())
            self.go("summary")
            if result.complete:
                self.say(f"Done: every file of {result.entry.id} is back.", "success")
            else:
                self.say(
                    f"{len(result.refused)} file(s) stay in the quarantine: they changed since.",
                    "warning",
                )

    def work_failed(self, group: str, error: CertdeckError) -> None:
        if isinstance(error, UnknownEntry):
            self.say(f"Nothing to undo: {error.message}", "warning")
            return
        self.say(f"{error.title}: {error.message}", "error")
