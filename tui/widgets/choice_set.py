"""One choice among a few, on one line: left and right pick, enter is left to the form."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.widgets import RadioButton, RadioSet

__all__ = ["ChoiceSet"]


class _Choice(RadioButton):
    """A radio button whose dot shows only when picked, so it reads without colour too."""

    def render(self) -> Content:
        self.BUTTON_INNER = "●" if self.value else " "
        return super().render()


class ChoiceSet(RadioSet, inherit_bindings=False):
    """Radio buttons side by side; moving with the arrows picks, like a GUI radio group.

    ``enter`` is not bound, so that a wizard can use it to go on; ``up`` and ``down`` are free
    to move between the fields of a form.

    Args:
        choices: Each choice's value and label (plain text, never markup).
        value: The value picked at first.
    """

    DEFAULT_CSS = """
    ChoiceSet {
        layout: horizontal;
        width: 1fr;
        height: auto;
        border: none;
        padding: 0;
        background: transparent;
        overflow: hidden hidden;

        &:focus {
            border: none;
            background-tint: transparent;
        }
        & > RadioButton {
            width: auto;
            margin: 0 2 0 0;
        }
        /* Only the focused set shows where its cursor is; the dot shows the choice. */
        &:blur > RadioButton.-selected > .toggle--label {
            background: transparent;
        }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "right",
            "pick(1)",
            "Next choice",
            show=False,
            id="choice.next",
            tooltip="Pick the choice to the right",
        ),
        Binding(
            "left",
            "pick(-1)",
            "Previous choice",
            show=False,
            id="choice.previous",
            tooltip="Pick the choice to the left",
        ),
        Binding(
            "space",
            "toggle_button",
            "Pick",
            show=False,
            id="choice.pick",
            tooltip="Pick the highlighted choice",
        ),
    ]

    def __init__(
        self,
        choices: Sequence[tuple[str, str]],
        value: str,
        *,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        self.values = [choice for choice, _ in choices]
        buttons = [_Choice(Text(label), value=choice == value) for choice, label in choices]
        super().__init__(*buttons, id=id, classes=classes, compact=True)

    @property
    def value(self) -> str:
        """The value picked."""
        index = self.pressed_index
        return self.values[index if index >= 0 else 0]

    def on_mount(self) -> None:
        # The highlight starts on the picked button, not on the first one.
        if self.pressed_index >= 0:
            self._selected = self.pressed_index

    def pick(self, value: str) -> None:
        """Pick a value (as if the user had)."""
        buttons = list(self.query(RadioButton))
        buttons[self.values.index(value)].value = True

    def action_pick(self, step: int) -> None:
        """Move to the next or previous choice and pick it."""
        if step > 0:
            self.action_next_button()
        else:
            self.action_previous_button()
        self.action_toggle_button()
