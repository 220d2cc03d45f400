"""The header line: host, scope and live counts of errors, warnings and unreadable files."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual.widget import Widget

from core.text import visible

__all__ = ["HeaderInfo", "StatusHeader"]


@dataclass(frozen=True, slots=True)
class HeaderInfo:
    """What the header shows."""

    host: str = ""
    place: str = ""
    """``demo``, the root folder when it is not ``/``, or empty."""
    scope: str = "all"
    total: int = 0
    errors: int = 0
    warnings: int = 0
    unreadable: int = 0
    at: str = ""
    """The evaluation time when it is fixed (``--at``), else empty."""


class StatusHeader(Widget):
    """One line at the top of the screen; certificate-derived text is never markup."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "status-header--app",
        "status-header--error",
        "status-header--warning",
        "status-header--unreadable",
        "status-header--dim",
    }

    DEFAULT_CSS = """
    StatusHeader {
        height: 1;
        dock: top;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.info = HeaderInfo()

    def update_info(self, **changes: object) -> None:
        """Change some of what the header shows."""
        info = replace(self.info, **changes)  # type: ignore[arg-type]
        if info != self.info:
            self.info = info
            self.refresh()

    def _style(self, name: str) -> Style:
        return self.get_component_rich_style(name, partial=True)

    def _build(self, short: bool, place: bool = True, at: bool = True) -> Text:
        info = self.info
        sep = " │ "
        text = Text(no_wrap=True, overflow="ellipsis", end="")
        text.append(" certdeck ", self._style("status-header--app"))
        text.append(" " + visible(info.host))
        if info.place and place:
            text.append(f" ({visible(info.place)})", self._style("status-header--dim"))
        text.append(sep)
        text.append(visible(info.scope) if short else f"scope: {visible(info.scope)}")
        text.append(sep)
        text.append(f"{info.total}" if short else f"{info.total} certs")
        text.append(sep)
        error_style = self._style("status-header--error" if info.errors else "status-header--dim")
        warning_style = self._style(
            "status-header--warning" if info.warnings else "status-header--dim"
        )
        text.append(f"✖ {info.errors}" + ("" if short else " errors"), error_style)
        text.append(" ")
        text.append(f"▲ {info.warnings}" + ("" if short else " warnings"), warning_style)
        if info.unreadable:
            text.append(sep)
            text.append(f"{info.unreadable} unreadable", self._style("status-header--unreadable"))
        if info.at and at:
            text.append(sep)
            text.append(
                f"at {info.at[:10] if short else info.at}", self._style("status-header--dim")
            )
        return text

    def render(self) -> Text:
        """The widest form that fits; narrow terminals lose the words, then the extras."""
        for options in (
            {"short": False},
            {"short": False, "place": False},
            {"short": True},
            {"short": True, "place": False},
            {"short": True, "place": False, "at": False},
        ):
            text = self._build(**options)
            if cell_len(text.plain) <= self.size.width:
                break
        return text
