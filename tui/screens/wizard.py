"""What the export and import wizards share: the frame, the steps, the keys and the workers.

A wizard is a modal screen made of steps shown one at a time.  ``enter`` goes on (in a text
field it submits it), ``backspace`` outside a text field goes back, ``escape`` cancels at any
step without writing anything.  Slow work (opening, planning, writing) runs in workers; their
outcome arrives in one place, :meth:`WizardScreen.on_worker_state_changed`, which hands it to
:meth:`WizardScreen.work_done` or :meth:`WizardScreen.work_failed`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal, TypeVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Button, ContentSwitcher, Label, Static
from textual.worker import Worker, WorkerState

from core.errors import CertdeckError
from core.rootfs import RootFS

if TYPE_CHECKING:
    from tui.app import CertdeckApp

__all__ = [
    "Severity",
    "StepInfo",
    "WizardScreen",
    "WizardStep",
    "machine_folder",
]

R = TypeVar("R")
Severity = Literal["info", "success", "warning", "error"]


@dataclass(frozen=True, slots=True)
class StepInfo:
    """How a step presents itself."""

    title: str
    keys: str
    """The keys that work in the step, for the line at the bottom."""
    next_label: str = "Next"
    back: bool = True
    """Whether the step has a previous step to go back to."""


class WizardStep(Vertical):
    """The content of one step."""


def machine_folder(folder: Path, root: RootFS) -> str | None:
    """A host folder as a machine path (for the settings); ``None`` when outside the root."""
    text = os.fspath(folder)
    if root.root == "/":
        return text
    if text == root.root or text.startswith(root.root + "/"):
        return root.machine(text)
    return None


def _shown(widget: Widget, container: Widget) -> bool:
    """Whether a widget and every parent up to ``container`` are displayed."""
    node: Widget | None = widget
    while node is not None and node is not container:
        if not node.display:
            return False
        parent = node.parent
        node = parent if isinstance(parent, Widget) else None
    return True


class WizardScreen(ModalScreen[R | None]):
    """A modal made of steps; subclasses say what the steps are and what ``next`` does."""

    DEFAULT_CSS = """
    WizardScreen {
        align: center middle;
    }
    WizardScreen > #wizard-box {
        width: 100%;
        max-width: 100;
        height: 100%;
        max-height: 36;
        border: thick $accent;
        background: $surface;
        padding: 0 1;
    }
    WizardScreen #wizard-title {
        width: 1fr;
        text-style: bold;
    }
    WizardScreen #wizard-step {
        width: 1fr;
        color: $text-accent;
        padding: 0 0 1 0;
    }
    WizardScreen #wizard-steps {
        height: 1fr;
    }
    WizardScreen WizardStep {
        height: 1fr;
    }
    WizardScreen #wizard-message {
        height: auto;
        max-height: 6;
        padding: 0 0 0 0;
    }
    WizardScreen #wizard-message.-info {
        color: $text-muted;
    }
    WizardScreen #wizard-message.-success {
        color: $text-success;
    }
    WizardScreen #wizard-message.-warning {
        color: $text-warning;
    }
    WizardScreen #wizard-message.-error {
        color: $text-error;
        text-style: bold;
    }
    WizardScreen #wizard-bar {
        height: 1;
    }
    WizardScreen #wizard-keys {
        width: 1fr;
        color: $text-muted;
    }
    WizardScreen #wizard-bar Button {
        margin: 0 0 0 1;
        min-width: 10;
    }
    WizardScreen .wizard-text {
        width: 1fr;
        padding: 0 0 1 0;
    }
    WizardScreen .wizard-row {
        height: auto;
        min-height: 1;
        margin: 0 0 1 0;
    }
    WizardScreen .wizard-label {
        width: 14;
        text-style: bold;
    }
    WizardScreen .wizard-field {
        width: 1fr;
    }
    WizardScreen .wizard-hint {
        width: 1fr;
        color: $text-muted;
        padding: 1 0 0 0;
    }
    WizardScreen Input {
        background: $panel;
    }
    WizardScreen Input:focus {
        background: $panel-lighten-1;
    }
    WizardScreen .wizard-below {
        margin: 1 0 0 0;
    }
    WizardScreen .wizard-warning {
        width: 1fr;
        color: $text-warning;
        padding: 1 0 0 0;
    }
    WizardScreen OptionList {
        height: auto;
        max-height: 1fr;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "escape",
            "cancel",
            "Cancel",
            key_display="esc",
            id="wizard.cancel",
            tooltip="Close the wizard; before the last step nothing is written",
        ),
        Binding(
            "enter",
            "next",
            "Next",
            key_display="⏎",
            id="wizard.next",
            tooltip="Go on to the next step (in a text field: when the field is done)",
        ),
        Binding(
            "backspace",
            "back",
            "Back",
            key_display="⌫",
            id="wizard.back",
            tooltip="Back to the previous step (outside text fields)",
        ),
        Binding(
            "down",
            "app.focus_next",
            "Next field",
            show=False,
            id="wizard.next_field",
            tooltip="Move to the next field of the step (like tab)",
        ),
        Binding(
            "up",
            "app.focus_previous",
            "Previous field",
            show=False,
            id="wizard.previous_field",
            tooltip="Move to the previous field of the step (like shift+tab)",
        ),
    ]

    TITLE_TEXT = "Wizard"
    STEPS: ClassVar[dict[str, StepInfo]] = {}
    """Every step of the wizard by id, in the order they are usually met."""
    WRITE_GROUP = "wizard-write"
    """The worker group whose work writes files: it is stopped gently, never dropped."""

    def __init__(self) -> None:
        super().__init__()
        self.step = next(iter(self.STEPS))
        self.busy: str | None = None
        """The worker group running now; keys wait until it is done."""
        self.cancel_write = threading.Event()
        """Set by ``escape`` while writing: the write stops and removes what it wrote."""
        self.outcome: R | None = None
        """What the wizard returns once it has written something."""
        self.message = ""
        """The message under the step, as plain text."""
        self._path: list[str] = []

    @property
    def certdeck(self) -> CertdeckApp:
        """The app, typed."""
        from tui.app import CertdeckApp

        app = self.app
        assert isinstance(app, CertdeckApp)
        return app

    def compose(self) -> ComposeResult:
        with Vertical(id="wizard-box"):
            yield Label(Text(self.TITLE_TEXT), id="wizard-title")
            yield Label(Text(""), id="wizard-step")
            with ContentSwitcher(id="wizard-steps", initial=self.step):
                yield from self.compose_steps()
            yield Static(Text(""), id="wizard-message")
            with Horizontal(id="wizard-bar"):
                yield Label(Text(""), id="wizard-keys")
                yield Button("Back", id="wizard-back", compact=True)
                yield Button("Next", id="wizard-next", compact=True, variant="primary")

    def compose_steps(self) -> Iterable[Widget]:
        """One :class:`WizardStep` per entry of :attr:`STEPS`, with that id."""
        raise NotImplementedError

    def on_mount(self) -> None:
        self.go(self.step)

    def steps_ahead(self) -> list[str]:
        """The steps this run of the wizard goes through (some are skipped)."""
        return list(self.STEPS)

    def go(self, step: str, *, focus: Widget | None = None) -> None:
        """Show a step: its title, its keys, and focus on its first field."""
        if step != self.step:
            self._path.append(self.step)
        self.step = step
        info = self.STEPS[step]
        self.query_one("#wizard-steps", ContentSwitcher).current = step
        self.show_progress()
        self.query_one("#wizard-keys", Label).update(Text(info.keys))
        self.query_one("#wizard-next", Button).label = info.next_label
        self.query_one("#wizard-back", Button).display = info.back
        self.say("")
        self.enter_step(step)
        target = focus if focus is not None else self._first_focusable(step)
        if target is not None:
            target.focus()
        else:
            self.set_focus(None)

    def show_keys(self, keys: str) -> None:
        """Change the line of keys of the step on show."""
        self.query_one("#wizard-keys", Label).update(Text(keys))

    def show_progress(self) -> None:
        """Where the wizard is: step N of M (the count changes when steps are skipped)."""
        ahead = self.steps_ahead()
        number = ahead.index(self.step) + 1 if self.step in ahead else len(ahead)
        title = self.STEPS[self.step].title
        self.query_one("#wizard-step", Label).update(
            Text(f"Step {number} of {len(ahead)} · {title}")
        )

    def enter_step(self, step: str) -> None:
        """Bring a step up to date before it is shown (subclasses fill it in)."""

    def _first_focusable(self, step: str) -> Widget | None:
        container = self.query_one(f"#{step}", WizardStep)
        for widget in container.query("*"):
            if widget.focusable and _shown(widget, container):
                return widget
        return None

    def say(self, message: str | Text, severity: Severity = "info") -> None:
        """Show a message under the step (certificate text must already be made visible)."""
        self.message = message.plain if isinstance(message, Text) else message
        widget = self.query_one("#wizard-message", Static)
        for name in ("info", "success", "warning", "error"):
            widget.set_class(name == severity, f"-{name}")
        widget.update(message if isinstance(message, Text) else Text(message))

    def run_step_work(self, group: str) -> bool:
        """Mark the wizard busy with ``group``; False when other work is still running."""
        if self.busy is not None:
            return False
        self.busy = group
        self.query_one("#wizard-next", Button).disabled = True
        return True

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place where the wizard's work ends: done, failed or cancelled."""
        worker = event.worker
        if worker.group != self.busy or event.state in (WorkerState.PENDING, WorkerState.RUNNING):
            return
        self.busy = None
        self.query_one("#wizard-next", Button).disabled = False
        if event.state is WorkerState.SUCCESS:
            self.work_done(worker.group, worker.result)
        elif event.state is WorkerState.ERROR and worker.error is not None:
            error = worker.error
            if isinstance(error, CertdeckError):
                self.work_failed(worker.group, error)
            else:
                self.say(
                    "Something unexpected went wrong; nothing more was done. "
                    "The details are in the error message.",
                    "error",
                )
                self.certdeck.report_failure(worker.description or "wizard", error)

    def work_done(self, group: str, result: object) -> None:
        """A worker of this wizard finished (subclasses go on from here)."""

    def work_failed(self, group: str, error: CertdeckError) -> None:
        """A worker of this wizard failed with an error the user can act on."""
        self.say(f"{error.title}: {error.message}", "error")

    def action_next(self) -> None:
        """Go on from the current step."""
        if self.busy is None:
            self.next_step()

    def next_step(self) -> None:
        """What ``enter`` does in the current step (subclasses decide)."""

    def action_back(self) -> None:
        """Back to the step shown before this one."""
        if self.busy is not None or not self.STEPS[self.step].back or not self._path:
            return
        previous = self._path.pop()
        self.step = previous
        self.go(previous)

    def action_cancel(self) -> None:
        """Close the wizard: nothing is written, or what was written stays as reported."""
        if self.busy == self.WRITE_GROUP:
            # Stopping a write midway: the files written so far are removed again.
            self.cancel_write.set()
            self.say("Cancelling: what was written so far is being removed…", "warning")
            return
        if self.busy is not None:
            self.workers.cancel_group(self, self.busy)
            self.busy = None
        self.dismiss(self.outcome)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        """The Back and Next buttons, for the mouse."""
        event.stop()
        if event.button.id == "wizard-next":
            self.action_next()
        elif event.button.id == "wizard-back":
            self.action_back()
