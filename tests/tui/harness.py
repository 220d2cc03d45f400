"""What the TUI tests share: a fixed clock, the demo tree, app factories and screen readers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from textual.app import App
from textual.geometry import Region
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import Input, TextArea

from core.demo import DemoTree, build_demo_tree
from core.scan import ScanEvent, Scanner
from tui.app import CertdeckApp
from tui.screens.main import MainScreen
from tui.widgets.cert_table import CertTable

NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)
"""The fixed clock of every TUI test and snapshot."""
HOST = "demo-server"
HOSTILE_CN = "[bold red]Legit[/] [@click=app.quit]x[/]"
SETTINGS_IN_TREE = Path("etc/certdeck/settings.toml")
"""The demo tree's settings file relative to its root (tests run from the root, so no
temporary path shows on screen)."""


def no_cursor_blink(monkeypatch: pytest.MonkeyPatch) -> None:
    """Text cursors stay on, so screenshots are the same on every run."""
    for cls in (Input, TextArea):
        original = cls._on_mount

        def on_mount(self: Any, event: Any, _original: Any = original) -> None:
            self.cursor_blink = False
            _original(self, event)

        monkeypatch.setattr(cls, "_on_mount", on_mount)


def build_tree(folder: Path) -> DemoTree:
    """The demo server tree with the fixed clock."""
    return build_demo_tree(folder / "root", now=NOW)


def demo_app(tree: DemoTree, **options: Any) -> CertdeckApp:
    """The app on the demo tree, as ``certdeck --demo`` starts it, with a fixed clock.

    The current folder must be the tree's root (see :data:`SETTINGS_IN_TREE`).
    """
    settings: dict[str, Any] = {
        "root": tree.root,
        "now": NOW,
        "settings_path": SETTINGS_IN_TREE,
        "host_name": HOST,
        "demo": True,
    }
    settings.update(options)
    app = CertdeckApp(**settings)
    app.animation_level = "none"
    return app


async def scanned(pilot: Pilot[Any]) -> None:
    """Wait until the scan is over and the screen has shown its results."""
    app = pilot.app
    assert isinstance(app, CertdeckApp)
    # The first scan starts once the first frame is up.
    while app.scan_state.scans == 0:
        await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()


async def until(pilot: Pilot[Any], condition: Callable[[], bool], what: str) -> None:
    """Let the app work until ``condition`` holds (no fixed sleeps); fail after many rounds."""
    for _ in range(200):
        if condition():
            return
        await pilot.pause()
    raise AssertionError(f"never happened: {what}")


def focused(app: App[Any]) -> Widget | None:
    """The focused widget (a function, so that type checkers do not narrow it)."""
    return app.focused


def main_screen(app: App[Any]) -> MainScreen:
    """The main screen of a running app."""
    screen = app.screen_stack[0]
    assert isinstance(screen, MainScreen)
    return screen


def table(app: App[Any], tab: str) -> CertTable:
    """The table of the Required or All tab."""
    return main_screen(app).table(tab)


def lines(widget: Widget) -> list[str]:
    """What a widget draws now, one string per screen line."""
    size = widget.size
    strips = widget.render_lines(Region(0, 0, size.width, size.height))
    return [strip.text for strip in strips]


def screen_text(app: App[Any]) -> str:
    """Every character of the top screen, as the terminal shows it."""
    compositor = app.screen._compositor
    return "\n".join(strip.text for strip in compositor.render_strips())


class GatedScanner(Scanner):
    """A scanner that yields given events, then waits until released (or cancelled)."""

    def __init__(self, root: Path, events: list[ScanEvent], *, fail: BaseException | None = None):
        super().__init__(root, parallel="thread")
        self.script = events
        self.release = asyncio.Event()
        self.closed = False
        self.fail = fail

    async def events(
        self, *, now: datetime, stream_records: bool = True
    ) -> AsyncIterator[ScanEvent]:
        try:
            for event in self.script:
                yield event
            await self.release.wait()
            if self.fail is not None:
                raise self.fail
        finally:
            self.closed = True
