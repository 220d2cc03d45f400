"""Every key, grouped by where it works, read from the bindings themselves."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

__all__ = ["HelpEntry", "HelpScreen", "help_sections"]


@dataclass(frozen=True, slots=True)
class HelpEntry:
    """One action and the keys that run it."""

    keys: tuple[str, ...]
    description: str
    tooltip: str


def _entries(app: App[Any], bindings: Iterable[BindingType]) -> list[HelpEntry]:
    grouped: dict[tuple[str, str], list[Binding]] = {}
    for binding in Binding.make_bindings(bindings):
        grouped.setdefault((binding.action, binding.description), []).append(binding)
    entries = []
    for (_, description), same in grouped.items():
        keys = tuple(dict.fromkeys(app.get_key_display(b) for b in same))
        entries.append(HelpEntry(keys, description, same[0].tooltip))
    return entries


def help_sections(app: App[Any]) -> list[tuple[str, list[HelpEntry]]]:
    """The keys of every place in the app, in the order a user meets them."""
    from tui.screens.error import ErrorScreen
    from tui.screens.main import MainScreen
    from tui.screens.scope import ScopeScreen
    from tui.screens.unreadable import UnreadableScreen
    from tui.screens.wizard import WizardScreen
    from tui.widgets.cert_table import CertTable
    from tui.widgets.choice_set import ChoiceSet
    from tui.widgets.details import DetailsView
    from tui.widgets.file_picker import CertFileTree
    from tui.widgets.filter_input import FilterInput
    from tui.widgets.settings_form import SettingsForm
    from tui.widgets.toggle import Toggle

    everywhere = _entries(app, type(app).BINDINGS)
    everywhere.append(
        HelpEntry(
            (app.get_key_display(Binding(app.COMMAND_PALETTE_BINDING, "command_palette")),),
            "Command palette",
            "Every action by name, and certificates by name, SAN, issuer, path or fingerprint",
        )
    )
    everywhere.append(HelpEntry(("^q",), "Quit", "Leave certdeck, even while typing"))
    return [
        ("Everywhere", everywhere),
        ("Main screen", _entries(app, MainScreen.BINDINGS)),
        ("Certificate tables (Required, All)", _entries(app, CertTable.BINDINGS)),
        ("Filter field", _entries(app, FilterInput.BINDINGS)),
        ("Details", _entries(app, DetailsView.BINDINGS)),
        ("Settings", _entries(app, SettingsForm.BINDINGS)),
        ("Scope list", _entries(app, ScopeScreen.BINDINGS)),
        ("Unreadable files", _entries(app, UnreadableScreen.BINDINGS)),
        (
            "Wizards (export, import …)",
            _entries(app, [*WizardScreen.BINDINGS, *ChoiceSet.BINDINGS, *Toggle.BINDINGS]),
        ),
        ("File browser (import)", _entries(app, CertFileTree.BINDINGS)),
        ("Error messages", _entries(app, ErrorScreen.BINDINGS)),
    ]


class HelpScreen(ModalScreen[None]):
    """Every key; ``escape`` or ``?`` closes."""

    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
    }
    HelpScreen > #help-box {
        width: 95%;
        max-width: 110;
        height: 95%;
        border: thick $accent;
        background: $surface;
        padding: 0 1;
    }
    HelpScreen #help-title {
        width: 1fr;
        text-style: bold;
    }
    HelpScreen #help-scroll {
        height: 1fr;
    }
    HelpScreen .help-section {
        padding: 1 0 0 0;
        color: $accent;
        text-style: bold;
    }
    HelpScreen #help-keys {
        width: 1fr;
        color: $text-muted;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "escape,question_mark",
            "close",
            "Close",
            key_display="esc",
            id="help.close",
            tooltip="Back to where you were",
        ),
        Binding(
            "down,j",
            "scroll('down')",
            "Scroll down",
            show=False,
            id="help.down",
            tooltip="Scroll the keys down",
        ),
        Binding(
            "up,k",
            "scroll('up')",
            "Scroll up",
            show=False,
            id="help.up",
            tooltip="Scroll the keys up",
        ),
        Binding(
            "pagedown",
            "scroll('page_down')",
            "Page down",
            show=False,
            id="help.page_down",
            tooltip="One page down",
        ),
        Binding(
            "pageup",
            "scroll('page_up')",
            "Page up",
            show=False,
            id="help.page_up",
            tooltip="One page up",
        ),
    ]

    def compose(self) -> ComposeResult:
        with Vertical(id="help-box"):
            yield Label(Text("certdeck keys"), id="help-title")
            with VerticalScroll(id="help-scroll"):
                for title, entries in help_sections(self.app):
                    if not entries:
                        continue
                    yield Label(Text(title), classes="help-section")
                    yield Static(self._table(entries), classes="help-table")
            yield Label(Text("esc close · ↑↓ scroll"), id="help-keys")

    @staticmethod
    def _table(entries: list[HelpEntry]) -> Table:
        table = Table.grid(padding=(0, 2))
        table.add_column(no_wrap=True, min_width=10, style="bold")
        table.add_column(no_wrap=True)
        table.add_column(style="dim", ratio=1)
        for entry in entries:
            table.add_row(Text(" ".join(entry.keys)), Text(entry.description), Text(entry.tooltip))
        return table

    def on_mount(self) -> None:
        self.query_one("#help-scroll").focus()

    def action_close(self) -> None:
        """Close the help."""
        self.dismiss(None)

    def action_scroll(self, how: str) -> None:
        """Scroll the list of keys."""
        scroll = self.query_one("#help-scroll", VerticalScroll)
        if how == "down":
            scroll.scroll_down(animate=False)
        elif how == "up":
            scroll.scroll_up(animate=False)
        elif how == "page_down":
            scroll.scroll_page_down(animate=False)
        else:
            scroll.scroll_page_up(animate=False)
