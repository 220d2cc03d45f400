"""Choose what the tables show: everything, one store, or one service."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from core.model import Inventory, StoreKind
from core.scope import Scope, ScopeKind, available_scopes
from core.text import visible
from tui.display import Catalog

__all__ = ["ScopeScreen", "scope_text"]

_KIND = {
    StoreKind.TRUST: "trust store",
    StoreKind.DIRECTORY: "folder",
    StoreKind.BUNDLE: "file",
    StoreKind.PKCS12: "PKCS#12",
}


def scope_text(scope: Scope, inventory: Inventory, count: int) -> Text:
    """One line of the list: what the scope is and how many certificates it holds."""
    text = Text()
    if scope.kind is ScopeKind.ALL:
        text.append("everything", style="bold")
        text.append(" — every store and service")
    elif scope.kind is ScopeKind.STORE:
        kinds = {s.name: s.kind for s in inventory.stores}
        kind = kinds.get(scope.name)
        text.append("store ", style="dim")
        text.append(visible(scope.name), style="bold")
        if kind is not None:
            text.append(f" ({_KIND.get(kind, str(kind))})", style="dim")
    else:
        text.append("service ", style="dim")
        text.append(visible(scope.name), style="bold")
    text.append(f" · {count} certificate{'s' if count != 1 else ''}")
    return text


class ScopeScreen(ModalScreen[Scope | None]):
    """A list of scopes; ``enter`` picks one, ``escape`` keeps the current one."""

    DEFAULT_CSS = """
    ScopeScreen {
        align: center middle;
    }
    ScopeScreen > #scope-box {
        width: 90%;
        max-width: 90;
        height: auto;
        max-height: 90%;
        border: thick $accent;
        background: $surface;
        padding: 0 1;
    }
    ScopeScreen #scope-title {
        width: 1fr;
        text-style: bold;
        padding: 0 0 1 0;
    }
    ScopeScreen OptionList {
        height: auto;
        max-height: 1fr;
    }
    ScopeScreen #scope-keys {
        width: 1fr;
        color: $text-muted;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "escape,s",
            "close",
            "Close",
            key_display="esc",
            id="scope.close",
            tooltip="Keep the current scope",
        ),
        Binding(
            "j",
            "list('cursor_down')",
            "Down",
            show=False,
            id="scope.down",
            tooltip="Next scope (like the down arrow)",
        ),
        Binding(
            "k",
            "list('cursor_up')",
            "Up",
            show=False,
            id="scope.up",
            tooltip="Previous scope (like the up arrow)",
        ),
    ]

    def __init__(self, inventory: Inventory, catalog: Catalog, current: Scope) -> None:
        super().__init__()
        self.scopes = available_scopes(inventory)
        if current not in self.scopes:
            self.scopes.append(current)
        self.inventory = inventory
        self.catalog = catalog
        self.current = current

    def compose(self) -> ComposeResult:
        options = [
            Option(
                scope_text(scope, self.inventory, len(self.catalog.scoped(scope))),
                id=str(index),
            )
            for index, scope in enumerate(self.scopes)
        ]
        with Vertical(id="scope-box"):
            yield Label(Text("Show the certificates of"), id="scope-title")
            yield OptionList(*options, id="scope-list")
            yield Label(Text("⏎ choose · esc keep the current scope"), id="scope-keys")

    def on_mount(self) -> None:
        options = self.query_one("#scope-list", OptionList)
        options.highlighted = self.scopes.index(self.current)
        options.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        """A scope was chosen."""
        self.dismiss(self.scopes[event.option_index])

    def action_list(self, action: str) -> None:
        """Move in the list with j and k as well."""
        options = self.query_one("#scope-list", OptionList)
        if action == "cursor_down":
            options.action_cursor_down()
        else:
            options.action_cursor_up()

    def action_close(self) -> None:
        """Keep the current scope."""
        self.dismiss(None)
