"""A masked password entry: once to open a file, or twice with a strength hint for a new one.

The password is never shown, logged or put into a message: the fields are masked, the hint
says only how strong it is, and :attr:`PasswordField.password` hands it out as bytes.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Label, Static

from core.passwords import password_strength

__all__ = ["PasswordField"]

_STRENGTH_CLASSES = ("-weak", "-fair", "-good")


class PasswordField(Vertical):
    """One masked field, or two (typed twice) with a strength hint.

    Args:
        label: The field's name.
        confirm: A new password: typed twice, with a strength hint.
        placeholder: Shown while the field is empty.
    """

    DEFAULT_CSS = """
    PasswordField {
        height: auto;
    }
    PasswordField .password-row {
        height: 1;
        margin: 0 0 1 0;
    }
    PasswordField .password-label {
        width: 14;
        text-style: bold;
    }
    PasswordField Input {
        width: 1fr;
        max-width: 48;
    }
    PasswordField .password-hint {
        width: 1fr;
        height: auto;
        color: $text-muted;
    }
    PasswordField .password-hint.-weak {
        color: $text-error;
    }
    PasswordField .password-hint.-fair {
        color: $text-warning;
    }
    PasswordField .password-hint.-good {
        color: $text-success;
    }
    """

    def __init__(
        self,
        *,
        label: str = "Password",
        confirm: bool = False,
        placeholder: str = "",
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.label = label
        self.confirm = confirm
        self.placeholder = placeholder

    def compose(self) -> ComposeResult:
        with Horizontal(classes="password-row"):
            yield Label(Text(self.label), classes="password-label")
            yield Input(
                password=True,
                compact=True,
                placeholder=self.placeholder,
                classes="password-first",
            )
        if self.confirm:
            with Horizontal(classes="password-row"):
                yield Label(Text("Repeat"), classes="password-label")
                yield Input(
                    password=True,
                    compact=True,
                    placeholder="the same password again",
                    classes="password-second",
                )
            yield Static(Text(""), classes="password-hint")

    @property
    def first(self) -> Input:
        """The (first) masked field."""
        return self.query_one(".password-first", Input)

    @property
    def second(self) -> Input | None:
        """The repeat field of a new password."""
        found = self.query(".password-second").results(Input)
        return next(iter(found), None)

    @property
    def password(self) -> bytes:
        """What was typed, as UTF-8 bytes."""
        return self.first.value.encode("utf-8", "surrogateescape")

    def problem(self, *, allow_empty: bool) -> str | None:
        """Why the password cannot be used yet, or ``None``."""
        if not self.first.value and not allow_empty:
            return "Type a password: it protects what is written."
        second = self.second
        if second is not None and second.value != self.first.value:
            return "The two entries differ: type the same password twice."
        return None

    def clear(self) -> None:
        """Empty the fields (after a wrong password, or when the step is left)."""
        self.first.value = ""
        if self.second is not None:
            self.second.value = ""

    def focus_first(self) -> None:
        """Put the cursor into the first field."""
        self.first.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        """Keep the strength hint and the match mark up to date."""
        event.stop()
        if self.confirm:
            self._update_hint()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """``enter`` in the first of two fields moves to the second."""
        second = self.second
        if second is not None and event.input is self.first:
            event.stop()
            second.focus()

    def _update_hint(self) -> None:
        hint = self.query_one(".password-hint", Static)
        typed = self.first.value
        for name in _STRENGTH_CLASSES:
            hint.remove_class(name)
        if not typed:
            hint.update(Text(""))
            return
        strength = password_strength(typed)
        meter = "■" * (strength.score + 1) + "□" * (4 - strength.score)
        text = Text(f"Strength {meter} {strength.label}: {strength.hint}")
        second = self.second
        if second is not None and second.value:
            if second.value == typed:
                text.append("\n✔ the two entries match")
            else:
                text.append("\n✖ the two entries differ")
        hint.add_class(
            "-weak" if strength.score < 2 else "-fair" if strength.score == 2 else "-good"
        )
        hint.update(text)
