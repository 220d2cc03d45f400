"""What the wizard tests and snapshots share: opening a wizard, typing, waiting for a step."""

from __future__ import annotations

from typing import Any, TypeVar

import pytest
from textual.app import App
from textual.pilot import Pilot
from textual.widgets import Input

from tests.tui.harness import until
from tui.screens.export_wizard import ExportWizard
from tui.screens.import_wizard import ImportWizard
from tui.screens.wizard import WizardScreen
from tui.widgets.report_view import ReportView

W = TypeVar("W", bound=WizardScreen[Any])


class Notes:
    """Stands in for ``App.notify``: what was said, with its options."""

    def __init__(self) -> None:
        self.said: list[tuple[str, dict[str, Any]]] = []

    def notify(self, message: str, **options: Any) -> None:
        self.said.append((message, options))

    @property
    def text(self) -> str:
        """Every title and message, one per line."""
        return "\n".join(f"{o.get('title', '')}: {m}" for m, o in self.said)


def record_notes(app: App[Any], monkeypatch: pytest.MonkeyPatch) -> Notes:
    """Record the app's notifications instead of showing them."""
    notes = Notes()
    monkeypatch.setattr(app, "notify", notes.notify)
    return notes


async def open_wizard(pilot: Pilot[Any], key: str, kind: type[W]) -> W:
    """Press the key that opens a wizard and wait until its first step shows."""
    await pilot.press(key)
    await until(pilot, lambda: isinstance(pilot.app.screen, kind), f"{kind.__name__} opens")
    wizard = pilot.app.screen
    assert isinstance(wizard, kind)
    await pilot.pause()
    return wizard


async def open_export(pilot: Pilot[Any]) -> ExportWizard:
    """The export wizard, opened with ``e``."""
    return await open_wizard(pilot, "e", ExportWizard)


async def open_import(pilot: Pilot[Any]) -> ImportWizard:
    """The import wizard, opened with ``i``."""
    return await open_wizard(pilot, "i", ImportWizard)


async def at_step(pilot: Pilot[Any], wizard: WizardScreen[Any], step: str) -> None:
    """Wait until the wizard shows ``step`` and no work is running."""
    await until(
        pilot,
        lambda: wizard.step == step and wizard.busy is None,
        f"step {step} (at {wizard.step}: {wizard.message})",
    )
    await pilot.pause()


async def type_text(pilot: Pilot[Any], text: str) -> None:
    """Type into the focused field, key by key."""
    await pilot.press(*text)


async def replace_text(pilot: Pilot[Any], text: str) -> None:
    """Empty the focused field, then type ``text``."""
    focused = pilot.app.focused
    assert isinstance(focused, Input), focused
    focused.value = ""
    await type_text(pilot, text)


async def closed(pilot: Pilot[Any]) -> None:
    """Wait until no wizard is on top any more."""
    await until(pilot, lambda: not isinstance(pilot.app.screen, WizardScreen), "the wizard closes")
    await pilot.pause()


async def report(pilot: Pilot[Any], wizard: WizardScreen[Any], report_id: str) -> str:
    """The text of a report (preview, summary) once it is filled in."""
    view = wizard.query_one(f"#{report_id}", ReportView)
    await until(pilot, lambda: bool(view.plain), f"{report_id} is filled in")
    return "\n".join(view.plain)
