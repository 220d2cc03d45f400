"""Pictures of every step of the export and import wizards at 80x24.

The demo tree is the current folder and the home folder, the clock is fixed, and every
folder typed is relative to the tree, so no temporary path shows.  Regenerate with
``pytest tests/snapshots --snapshot-update`` and look at the report.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from textual.pilot import Pilot

from core.demo import DEMO_PASSWORD, DemoTree
from core.settings import load_settings, with_value
from tests.tui.harness import SETTINGS_IN_TREE, demo_app, scanned, until
from tests.tui.wizards import (
    at_step,
    open_export,
    open_import,
    replace_text,
    report,
    type_text,
)
from tui.app import CertdeckApp
from tui.widgets.file_picker import FilePicker

SIZE = (80, 24)
PASSWORD = "Correct-Horse-42"

SnapCompare = Callable[..., bool]
Walk = Callable[[Pilot[Any]], Awaitable[None]]


@pytest.fixture(autouse=True)
def _home_is_the_tree(tree: DemoTree, monkeypatch: pytest.MonkeyPatch) -> None:
    """The import browser starts in the home folder: the demo tree, shown as ``~``."""
    monkeypatch.setenv("HOME", str(tree.root))


def app_for(tree: DemoTree) -> CertdeckApp:
    """The demo app importing into a folder certdeck does not scan."""
    settings = with_value(
        load_settings(SETTINGS_IN_TREE), "import", "directory", "/srv/certdeck-import"
    )
    return demo_app(tree, settings=settings)


def export_to(step: str) -> Walk:
    """Walk the export wizard up to ``step`` (PKCS#12 of the highlighted certificate)."""

    async def run(pilot: Pilot[Any]) -> None:
        await scanned(pilot)
        wizard = await open_export(pilot)
        if step != "what":
            await pilot.press("enter")
            await at_step(pilot, wizard, "options")
        if step == "options-pem":
            await pilot.press("right", "down", "down", "space")
        if step in ("password", "folder", "preview", "summary"):
            await pilot.press("enter")
            await at_step(pilot, wizard, "password")
            await type_text(pilot, PASSWORD)
            await pilot.press("enter")
            await type_text(pilot, PASSWORD)
        if step in ("folder", "preview", "summary"):
            await pilot.press("enter")
            await at_step(pilot, wizard, "folder")
            await replace_text(pilot, "export")
        if step in ("preview", "summary"):
            await pilot.press("enter")
            await at_step(pilot, wizard, "preview")
            await report(pilot, wizard, "preview-report")
        if step == "summary":
            await pilot.press("enter")
            await at_step(pilot, wizard, "summary")
            await report(pilot, wizard, "summary-report")
        await pilot.pause()

    return run


@pytest.mark.parametrize(
    "step", ["what", "options", "options-pem", "password", "folder", "preview", "summary"]
)
def test_export_wizard(snap_compare: SnapCompare, tree: DemoTree, step: str) -> None:
    assert snap_compare(app_for(tree), terminal_size=SIZE, run_before=export_to(step))


def import_to(step: str) -> Walk:
    """Walk the import wizard up to ``step`` with the demo PKCS#12 file."""

    async def run(pilot: Pilot[Any]) -> None:
        await scanned(pilot)
        wizard = await open_import(pilot)
        folders = wizard.query_one(FilePicker).folders
        await until(pilot, lambda: bool(folders.root.children), "the home folder is listed")
        if step == "file":
            await pilot.press("down", "down", "down")
        if step != "file":
            await type_text(pilot, "~/etc/ssl/private/legacy-app.p12")
            await pilot.press("enter")
            await at_step(pilot, wizard, "password")
            await type_text(pilot, "not-the-password")
            await pilot.press("enter")
            await until(pilot, lambda: "tries left" in wizard.message, "a wrong password")
        if step not in ("file", "password"):
            await type_text(pilot, DEMO_PASSWORD)
            await pilot.press("enter")
            await at_step(pilot, wizard, "contents")
            await report(pilot, wizard, "contents-report")
        if step in ("folder", "plan", "summary"):
            await pilot.press("enter")
            await at_step(pilot, wizard, "folder")
        if step == "folder":
            await pilot.press("down", "space")
            await type_text(pilot, PASSWORD)
        if step in ("plan", "summary"):
            await pilot.press("enter")
            await at_step(pilot, wizard, "plan")
            await report(pilot, wizard, "plan-report")
        if step == "summary":
            await pilot.press("enter")
            await at_step(pilot, wizard, "summary")
            await report(pilot, wizard, "summary-report")
        await pilot.pause()

    return run


@pytest.mark.parametrize("step", ["file", "password", "contents", "folder", "plan", "summary"])
def test_import_wizard(snap_compare: SnapCompare, tree: DemoTree, step: str) -> None:
    assert snap_compare(app_for(tree), terminal_size=SIZE, run_before=import_to(step))
