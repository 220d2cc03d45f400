"""The certdeck application: the scan, its results and the screens that show them."""

from __future__ import annotations

import contextlib
import socket
import traceback
from collections.abc import AsyncGenerator, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal, cast

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.widgets import Input, TextArea
from textual.worker import Worker, WorkerState

from core.errors import CertdeckError, SettingsError
from core.revocation import Fetch
from core.scan import (
    CertificatesFound,
    FilesUnreadable,
    ScanEvent,
    ScanFinished,
    Scanner,
    ScanProgress,
    StoreDiscovered,
)
from core.settings import Settings, default_settings_path, load_settings
from tui.commands import CertificatesProvider, palette_commands
from tui.display import Catalog
from tui.messages import ScanEnded, ScanStarted, ScanUpdated
from tui.screens.error import ErrorScreen
from tui.screens.main import MainScreen

if TYPE_CHECKING:
    from textual.screen import Screen

__all__ = ["CertdeckApp", "ScanState"]


@dataclass
class ScanState:
    """Where the scan is: running or not, files parsed out of files seen, how it ended."""

    running: bool = False
    files_done: int = 0
    files_seen: int = 0
    walking: bool = False
    outcome: str = ""
    """``finished``, ``cancelled``, ``failed`` or empty before the first scan ends."""
    scans: int = 0
    """Scans started so far."""


class CertdeckApp(App[None]):
    """Every certificate on the machine, which ones its services use, and what is wrong.

    Args:
        root: The folder treated as the machine's ``/``.
        now: A fixed evaluation time (``--at``, tests); the clock when ``None``.
        settings_path: The settings file (default: the user's, or ``$CERTDECK_CONFIG``).
        host_name: The name shown in the header (default: this machine's).
        demo: The root is the generated demo tree; the header says so instead of the path.
        settings: Settings to use instead of reading ``settings_path``.
        parallel: How the scanner parses files (see :class:`core.scan.Scanner`).
        scanner: A scanner to use instead of making one (tests).
        cache_path: Where the scanner keeps what it parsed between runs (see
            :func:`core.scan.default_cache_path`); ``None`` parses everything each run.
        revocation_fetch: The blocking HTTP fetch of revocation checks (tests); the real
            one (:func:`core.revocation.http_fetch`) when ``None``.
        revocation_timeout: Seconds each CRL or OCSP request may take.
        revocation_time_limit: Seconds a whole revocation check may take.
    """

    CSS_PATH = "app.tcss"
    TITLE = "certdeck"
    COMMANDS: ClassVar = App.COMMANDS | {CertificatesProvider}
    # Each binding has an id, so a user keymap can move it (App.set_keymap).
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "q",
            "quit",
            "Quit",
            priority=True,
            id="app.quit",
            tooltip="Leave certdeck",
        ),
        Binding(
            "question_mark",
            "help",
            "Help",
            key_display="?",
            id="app.help",
            tooltip="Every key, where it works and what it does",
        ),
    ]

    def __init__(
        self,
        *,
        root: str | Path = "/",
        now: datetime | None = None,
        settings_path: Path | None = None,
        host_name: str | None = None,
        demo: bool = False,
        settings: Settings | None = None,
        parallel: str = "auto",
        scanner: Scanner | None = None,
        cache_path: Path | None = None,
        revocation_fetch: Fetch | None = None,
        revocation_timeout: float = 5.0,
        revocation_time_limit: float = 30.0,
    ) -> None:
        super().__init__()
        self.root = str(root)
        self.fixed_now = now
        self.now = now if now is not None else datetime.now(UTC)
        self.settings_path = settings_path if settings_path is not None else default_settings_path()
        self.host_name = host_name if host_name is not None else socket.gethostname()
        self.demo = demo
        self.parallel = parallel
        self.cache_path = cache_path
        self.settings_problem: str | None = None
        if settings is None:
            try:
                settings = load_settings(self.settings_path)
            except SettingsError as exc:
                self.settings_problem = exc.message
                settings = Settings()
        self.settings = settings
        self.catalog = Catalog()
        self.marked: set[str] = set()
        self.scan_state = ScanState()
        self._scanner: Scanner | None = scanner
        self.revocation_fetch = revocation_fetch
        self.revocation_timeout = revocation_timeout
        self.revocation_time_limit = revocation_time_limit

    def get_default_screen(self) -> Screen[None]:
        """The main screen with its tabs."""
        return MainScreen()

    @property
    def main(self) -> MainScreen:
        """The main screen (under any modal)."""
        screen = self.screen_stack[0]
        assert isinstance(screen, MainScreen)
        return screen

    def on_mount(self) -> None:
        """Start the first scan (it streams into the screen); report a broken settings file."""
        if self.settings_problem is not None:
            self.notify(
                f"{self.settings_problem}\nDefaults are in use; see the Settings tab.",
                title="Settings file has problems",
                severity="warning",
                timeout=12,
                markup=False,
            )
        self.scan()

    def on_unmount(self) -> None:
        """Stop the scanner's worker processes."""
        if self._scanner is not None:
            self._scanner.close()
            self._scanner = None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """``q`` quits everywhere except while typing into a text field."""
        return not (action == "quit" and isinstance(self.focused, Input | TextArea))

    def action_help(self) -> None:
        """Show every key."""
        from tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        """Every action as a "verb: object" command, then Textual's own."""
        yield from palette_commands(self)
        for command in super().get_system_commands(screen):
            if command.title in ("Theme", "Screenshot"):
                yield SystemCommand(f"app: {command.title.lower()}", command.help, command.callback)

    def show_error(self, title: str, message: str, details: str = "") -> None:
        """Show a failure that stopped something, in a scrollable and copyable modal."""
        self.push_screen(ErrorScreen(title, message, details))

    def clock(self, given: datetime | None = None) -> datetime:
        """``given`` when there is one (a wizard's own time), else the fixed evaluation time
        when there is one, else the time now."""
        if given is not None:
            return given
        return self.fixed_now if self.fixed_now is not None else datetime.now(UTC)

    @property
    def scanning(self) -> bool:
        """Whether a scan is running."""
        return self.scan_state.running

    def _get_scanner(self) -> Scanner:
        if self._scanner is None:
            self._scanner = Scanner(
                self.root,
                settings=self.settings,
                parallel=self.parallel,
                settings_path=self.settings_path,
                cache_path=self.cache_path,
            )
        else:
            # A rescan after the settings were saved: the same scanner keeps its cache.
            self._scanner.settings = self.settings
            self._scanner.settings_path = self.settings_path
        return self._scanner

    @work(exclusive=True, group="scan", exit_on_error=False, description="scan")
    async def scan(self) -> None:
        """Scan the machine, streaming what is found into the catalog and the views."""
        state = self.scan_state
        rescan = state.scans > 0
        state.scans += 1
        state.running = True
        state.files_done = state.files_seen = 0
        state.walking = True
        state.outcome = ""
        self.now = self.clock()
        scanner = self._get_scanner()
        catalog = self.catalog
        catalog.start_scan()
        main = self.main
        main.post_message(ScanStarted(rescan))
        events = cast("AsyncGenerator[ScanEvent, None]", scanner.events(now=self.now))
        # Closing the generator stops the walker thread when the worker is cancelled.
        async with contextlib.aclosing(events):
            async for event in events:
                if isinstance(event, CertificatesFound):
                    catalog.upsert(event.records)
                elif isinstance(event, ScanProgress):
                    state.files_done = event.files_done
                    state.files_seen = event.files_seen
                    state.walking = event.walking
                elif isinstance(event, FilesUnreadable):
                    catalog.add_unreadable(event.items)
                elif isinstance(event, StoreDiscovered):
                    catalog.add_store(event.store)
                elif isinstance(event, ScanFinished):
                    catalog.finish(event.inventory)
                    state.files_done = state.files_seen = event.inventory.files_scanned
                main.post_message(ScanUpdated())
        state.running = False
        state.walking = False
        state.outcome = "finished"
        main.post_message(ScanEnded("finished"))

    def cancel_scan(self) -> None:
        """Stop the running scan; what it found so far stays."""
        self.workers.cancel_group(self, "scan")

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place where failed and cancelled work is reported."""
        worker = event.worker
        if event.state not in (WorkerState.CANCELLED, WorkerState.ERROR):
            return
        if worker.group == "scan":
            self.scan_state.running = False
            self.scan_state.walking = False
            outcome: Literal["cancelled", "failed"] = (
                "cancelled" if event.state is WorkerState.CANCELLED else "failed"
            )
            self.scan_state.outcome = outcome
            self.main.post_message(ScanEnded(outcome))
            if event.state is WorkerState.CANCELLED:
                self.notify(
                    "The scan was cancelled; what it found so far is shown. Press r to scan again.",
                    title="Scan cancelled",
                    markup=False,
                )
        if event.state is WorkerState.ERROR:
            self.report_failure(worker.description or worker.name, worker.error)

    def report_failure(self, what: str, error: BaseException | None) -> None:
        """Show why some work failed."""
        if isinstance(error, CertdeckError):
            self.show_error(error.title, error.message)
            return
        message = f"The {what} stopped because of an unexpected error:\n\n{error!r}"
        details = ""
        if error is not None:
            details = "".join(traceback.format_exception(error))
        self.show_error(f"{what.capitalize()} failed", message, details)

    def apply_settings(self, settings: Settings, path: Path) -> None:
        """Use saved settings from now on and scan again with them."""
        self.settings = settings
        self.settings_path = path
        self.settings_problem = None
        self.scan()
