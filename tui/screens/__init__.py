"""Screens of the certdeck TUI, one per module: the main screen and its modals."""

from tui.screens.error import ErrorScreen
from tui.screens.help import HelpScreen
from tui.screens.main import MainScreen
from tui.screens.scope import ScopeScreen
from tui.screens.unreadable import UnreadableScreen

__all__ = ["ErrorScreen", "HelpScreen", "MainScreen", "ScopeScreen", "UnreadableScreen"]
