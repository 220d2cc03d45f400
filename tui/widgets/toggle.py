"""A check box that only ``space`` (or a click) toggles, so ``enter`` can submit a form."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.widgets import Checkbox

__all__ = ["Toggle"]


class Toggle(Checkbox, inherit_bindings=False):
    """A compact check box: ``space`` toggles it, ``enter`` is left to the form.

    Args:
        label: What the option does (plain text, never markup).
        value: Whether it starts switched on.
    """

    DEFAULT_CSS = """
    Toggle {
        width: 1fr;
        height: auto;
        background: transparent;
        text-wrap: wrap;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "space",
            "toggle_button",
            "Toggle",
            key_display="␣",
            show=False,
            id="toggle.toggle",
            tooltip="Switch the option on or off",
        ),
    ]

    def __init__(
        self,
        label: str,
        value: bool = False,
        *,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(Text(label), value, id=id, classes=classes, compact=True)

    def render(self) -> Content:
        """The box shows X only when on, so the state reads without colour too."""
        self.BUTTON_INNER = "X" if self.value else " "
        return super().render()
