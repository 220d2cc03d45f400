"""A scrollable report of indented lines: a plan, a preview or a summary.

Each line is its own paragraph, so a long line wraps under its own start (a hanging indent)
instead of at the left edge, which keeps nested lists readable at 80 columns.  Lines are plain
text (never markup) that the caller has already passed through :func:`core.text.visible`.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

__all__ = ["ReportView", "report_line"]


def report_line(line: str) -> Text:
    """A line of a ``describe()`` report, styled by what it says (the indent is dropped)."""
    text = line.lstrip(" ")
    if text.startswith("warning:"):
        return Text("▲ " + text, style="bold")
    if text.startswith(("problem:", "error:")):
        return Text("✖ " + text, style="bold")
    if text.startswith("note:"):
        return Text(text, style="italic")
    if line == text:
        return Text(text, style="bold")
    return Text(text)


class ReportView(VerticalScroll, can_focus=True):
    """Lines with their indentation kept when they wrap; ``up``/``down`` scroll."""

    DEFAULT_CSS = """
    ReportView {
        height: 1fr;
        scrollbar-size-vertical: 1;

        &:focus {
            background-tint: $foreground 3%;
        }
        & > .report-line {
            width: 1fr;
        }
    }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.plain: list[str] = []
        """The lines on show as plain text, indented."""

    async def show(self, lines: Iterable[str | tuple[int, Text]]) -> None:
        """Replace the report: ``describe()`` lines, or (indent, text) pairs."""
        widgets: list[Static] = []
        plain: list[str] = []
        for line in lines:
            if isinstance(line, str):
                indent, text = len(line) - len(line.lstrip(" ")), report_line(line)
            else:
                indent, text = line
            plain.append(" " * indent + text.plain)
            widget = Static(text, classes="report-line")
            widget.styles.padding = (0, 0, 0, indent)
            widgets.append(widget)
        self.plain = plain
        await self.remove_children()
        await self.mount_all(widgets)
        self.scroll_home(animate=False)
