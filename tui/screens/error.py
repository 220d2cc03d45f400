"""A failure that stopped something: scrollable, copyable, dismissed with a key."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from core.text import visible

__all__ = ["ErrorScreen"]


def _visible_lines(text: str) -> str:
    """Control characters made visible, line breaks kept."""
    return "\n".join(visible(line) for line in text.splitlines())


class ErrorScreen(ModalScreen[None]):
    """Title, message and (optionally) technical details of an error."""

    DEFAULT_CSS = """
    ErrorScreen {
        align: center middle;
    }
    ErrorScreen > #error-box {
        width: 90%;
        max-width: 100;
        height: auto;
        max-height: 90%;
        border: thick $error;
        background: $surface;
        padding: 0 1;
    }
    ErrorScreen #error-title {
        width: 1fr;
        text-style: bold;
        color: $error;
        padding: 0 0 1 0;
    }
    ErrorScreen #error-scroll {
        height: auto;
    }
    ErrorScreen #error-details {
        color: $text-muted;
        padding: 1 0 0 0;
    }
    ErrorScreen #error-keys {
        width: 1fr;
        color: $text-muted;
        padding: 1 0 0 0;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "escape,enter",
            "close",
            "Close",
            key_display="esc",
            id="error.close",
            tooltip="Close this message",
        ),
        Binding(
            "c",
            "copy",
            "Copy",
            id="error.copy",
            tooltip="Copy the whole message to the clipboard",
        ),
        Binding(
            "down,j",
            "scroll('down')",
            "Scroll down",
            show=False,
            id="error.down",
            tooltip="Scroll the message down",
        ),
        Binding(
            "up,k",
            "scroll('up')",
            "Scroll up",
            show=False,
            id="error.up",
            tooltip="Scroll the message up",
        ),
    ]

    def __init__(self, title: str, message: str, details: str = "") -> None:
        super().__init__()
        self.error_title = title
        self.message = message
        self.details = details

    @property
    def full_text(self) -> str:
        """Everything the modal says, as plain text (what ``c`` copies)."""
        parts = [self.error_title, "", self.message]
        if self.details:
            parts += ["", self.details]
        return "\n".join(parts)

    def compose(self) -> ComposeResult:
        with Vertical(id="error-box"):
            yield Label(Text(f"✖ {visible(self.error_title)}"), id="error-title")
            with VerticalScroll(id="error-scroll"):
                yield Static(Text(_visible_lines(self.message)), id="error-message")
                if self.details:
                    yield Static(Text(_visible_lines(self.details)), id="error-details")
            yield Label(Text("esc close · c copy · ↑↓ scroll"), id="error-keys")

    def on_mount(self) -> None:
        self._fit()
        self.query_one("#error-scroll").focus()

    def on_resize(self) -> None:
        """A long message scrolls inside the box instead of growing past the screen."""
        self._fit()

    def _fit(self) -> None:
        # The box may take 90% of the screen; title, key line and border take six lines.
        scroll = self.query_one("#error-scroll")
        scroll.styles.max_height = max(3, int(self.app.size.height * 0.9) - 6)

    def action_close(self) -> None:
        """Close the message."""
        self.dismiss(None)

    def action_copy(self) -> None:
        """Copy the message to the clipboard (OSC 52, works over SSH)."""
        self.app.copy_to_clipboard(self.full_text)
        self.notify("The message was copied to the clipboard.", markup=False)

    def action_scroll(self, direction: str) -> None:
        """Scroll the message."""
        scroll = self.query_one("#error-scroll", VerticalScroll)
        if direction == "down":
            scroll.scroll_down(animate=False)
        else:
            scroll.scroll_up(animate=False)
