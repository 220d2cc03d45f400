"""The files and folders the scan could not read or parse, each with the reason."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from core.model import Unreadable
from core.text import visible

__all__ = ["UnreadableScreen"]


class UnreadableScreen(ModalScreen[None]):
    """A table of unreadable files; ``c`` copies the list."""

    DEFAULT_CSS = """
    UnreadableScreen {
        align: center middle;
    }
    UnreadableScreen > #unreadable-box {
        width: 95%;
        height: 90%;
        border: thick $warning;
        background: $surface;
        padding: 0 1;
    }
    UnreadableScreen #unreadable-title {
        width: 1fr;
        text-style: bold;
        padding: 0 0 1 0;
    }
    UnreadableScreen OptionList {
        height: 1fr;
    }
    UnreadableScreen #unreadable-empty {
        width: 1fr;
        color: $text-muted;
        padding: 1 0;
    }
    UnreadableScreen #unreadable-keys {
        width: 1fr;
        color: $text-muted;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "escape,u",
            "close",
            "Close",
            key_display="esc",
            id="unreadable.close",
            tooltip="Back to the certificates",
        ),
        Binding(
            "c",
            "copy",
            "Copy list",
            id="unreadable.copy",
            tooltip="Copy every path and reason to the clipboard",
        ),
    ]

    def __init__(self, items: Sequence[Unreadable]) -> None:
        super().__init__()
        self.items = tuple(items)

    def compose(self) -> ComposeResult:
        count = len(self.items)
        with Vertical(id="unreadable-box"):
            yield Label(
                Text(
                    f"{count} unreadable file{'s' if count != 1 else ''}: "
                    "not certificates, damaged, or not accessible"
                ),
                id="unreadable-title",
            )
            if self.items:
                options: list[Option | None] = []
                for item in self.items:
                    if options:
                        options.append(None)
                    options.append(self._option(item))
                yield OptionList(*options)
            else:
                yield Label(
                    Text("Every file the scan looked at could be read."), id="unreadable-empty"
                )
            yield Label(Text("esc close · c copy the list · ↑↓ move"), id="unreadable-keys")

    @staticmethod
    def _option(item: Unreadable) -> Option:
        text = Text(visible(item.path), style="bold")
        text.append("\n")
        text.append(visible(item.reason), style="dim")
        return Option(text)

    def on_mount(self) -> None:
        for options in self.query(OptionList):
            options.focus()

    def action_close(self) -> None:
        """Back to the certificates."""
        self.dismiss(None)

    def action_copy(self) -> None:
        """Copy every path and reason (tab-separated) to the clipboard."""
        text = "\n".join(f"{visible(i.path)}\t{visible(i.reason)}" for i in self.items)
        self.app.copy_to_clipboard(text + "\n" if text else "")
        self.notify(f"{len(self.items)} unreadable files copied.", markup=False)
