"""The filter field that appears under the table on ``/``."""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.widgets import Input

__all__ = ["FilterInput"]


class FilterInput(Input):
    """Type to filter; ``enter`` or ``down`` goes back to the table, ``escape`` clears."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "escape",
            "screen.clear_filter",
            "Clear filter",
            id="filter.clear",
            tooltip="Clear the filter and go back to the table",
        ),
        Binding(
            "down",
            "screen.focus_table",
            "To the table",
            key_display="↓",
            id="filter.to_table",
            tooltip="Keep the filter and go back to the table",
        ),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(
            placeholder="name, SAN, issuer, path or fingerprint",
            id=id,
            select_on_focus=False,
        )
