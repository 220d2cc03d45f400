"""A virtual certificate table: only the lines on screen are rendered (Textual's Line API).

A DataTable builds every row up front (2.3 s before the first paint at 10,000 rows, 21.6 s
at 100,000); this table keeps a list of :class:`~tui.display.Row` values and renders the
handful that are visible, so a key press costs the same with 10 or 100,000 certificates.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import ClassVar

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from core.model import Severity
from tui.display import (
    COLUMNS,
    SORTABLE,
    Row,
    SortKey,
    column_widths,
    expires_text,
    gaps_before,
)
from tui.messages import CertificateChosen, CertificateHighlighted, MarkToggled, SortRequested

__all__ = ["CertTable"]

_SEVERITY_CLASS: dict[Severity | None, str] = {
    Severity.ERROR: "cert-table--error",
    Severity.WARNING: "cert-table--warning",
    Severity.INFO: "cert-table--info",
    None: "cert-table--ok",
}

_MARK = "●"

_REVOCATION_CLASS: dict[str, str] = {
    "revoked": "cert-table--error",
    "unknown": "cert-table--warning",
    "unreachable": "cert-table--warning",
}


def _fit(text: str, width: int, *, keep_end: bool = False) -> str:
    """Exactly ``width`` cells: padded, or cut with an ellipsis.

    With ``keep_end`` the start is cut instead (a path's file name matters most).
    """
    if width <= 0:
        return ""
    if cell_len(text) <= width:
        return set_cell_size(text, width)
    if keep_end:
        tail = text[-(width - 1) :] if width > 1 else ""
        while cell_len(tail) > width - 1:
            tail = tail[1:]
        return set_cell_size("…" + tail, width)
    return set_cell_size(text, width - 1) + "…"


class CertTable(ScrollView, can_focus=True):
    """Certificates as rows; a cursor, marks, a sortable header and an empty-state message."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "cert-table--header",
        "cert-table--sorted",
        "cert-table--cursor",
        "cert-table--cursor-blur",
        "cert-table--mark",
        "cert-table--error",
        "cert-table--warning",
        "cert-table--info",
        "cert-table--ok",
        "cert-table--empty",
    }

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "enter",
            "choose",
            "Open",
            key_display="⏎",
            id="table.details",
            tooltip="Show the details of the highlighted certificate",
        ),
        Binding(
            "slash",
            "screen.filter",
            "Filter",
            key_display="/",
            id="table.filter",
            tooltip="Type to show only certificates whose name, SAN, issuer, path or "
            "fingerprint contains the text",
        ),
        Binding(
            "exclamation_mark",
            "screen.toggle_problems",
            "Problems",
            key_display="!",
            id="table.problems",
            tooltip="Show only certificates with errors or warnings (press again for all)",
        ),
        Binding(
            "o",
            "sort_next",
            "Sort",
            show=False,
            id="table.sort",
            tooltip="Sort by the next column",
        ),
        Binding(
            "O",
            "sort_reverse",
            "Reverse sort",
            show=False,
            id="table.sort_reverse",
            tooltip="Reverse the sort order",
        ),
        Binding(
            "space",
            "mark",
            "Mark",
            key_display="␣",
            show=False,
            id="table.mark",
            tooltip="Mark or unmark the highlighted certificate (for export)",
        ),
        Binding(
            "c",
            "screen.copy_pem",
            "Copy PEM",
            show=False,
            id="table.copy",
            tooltip="Copy the highlighted certificate as PEM to the clipboard",
        ),
        Binding(
            "escape",
            "screen.clear_filter",
            "Clear filter",
            show=False,
            id="table.clear_filter",
            tooltip="Clear the text filter",
        ),
        Binding("down,j", "cursor_down", "Down", show=False, id="table.down", tooltip="Next row"),
        Binding("up,k", "cursor_up", "Up", show=False, id="table.up", tooltip="Previous row"),
        Binding("home,g", "first", "First", show=False, id="table.first", tooltip="First row"),
        Binding("end,G", "last", "Last", show=False, id="table.last", tooltip="Last row"),
        Binding(
            "pagedown,ctrl+f",
            "page_down",
            "Page down",
            show=False,
            id="table.page_down",
            tooltip="One page down",
        ),
        Binding(
            "pageup,ctrl+b",
            "page_up",
            "Page up",
            show=False,
            id="table.page_up",
            tooltip="One page up",
        ),
        Binding(
            "right,l",
            "scroll_right",
            "Scroll right",
            show=False,
            id="table.right",
            tooltip="Scroll the columns right",
        ),
        Binding(
            "left,h",
            "scroll_left",
            "Scroll left",
            show=False,
            id="table.left",
            tooltip="Scroll the columns left",
        ),
    ]

    DEFAULT_CSS = """
    CertTable {
        scrollbar-size-vertical: 1;
        scrollbar-size-horizontal: 1;
    }
    """

    def __init__(
        self,
        *,
        now: datetime,
        marked: set[str] | None = None,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.now = now
        self.marked: set[str] = marked if marked is not None else set()
        self.rows: Sequence[Row] = ()
        self.cursor = 0
        self.sort_key = SortKey.STATUS
        self.sort_reverse = False
        self._empty = Text("")
        self._widths: list[int] = column_widths(80)
        self._layout_width = -1
        self._last_highlight: str | None = None
        self._moved = False
        """The user moved the cursor; until then it stays on the first row as rows stream in."""

    @property
    def highlighted(self) -> Row | None:
        """The row under the cursor."""
        if 0 <= self.cursor < len(self.rows):
            return self.rows[self.cursor]
        return None

    def set_rows(
        self,
        rows: Sequence[Row],
        *,
        sort_key: SortKey | None = None,
        sort_reverse: bool | None = None,
        empty: Text | None = None,
        keep: str | None = None,
    ) -> None:
        """Show these rows; the cursor stays on the same certificate when it is still shown.

        Args:
            rows: Rows in display order.
            sort_key: The column the rows are sorted by (marked in the header).
            sort_reverse: Whether the order is reversed.
            empty: What to say when there are no rows.
            keep: Fingerprint to put the cursor on (default: the highlighted one).
        """
        if keep is not None:
            current: str | None = keep
        elif self._moved:
            current = self._current_sha()
        else:
            current = None
            self.cursor = 0
        self.rows = rows
        if sort_key is not None:
            self.sort_key = sort_key
        if sort_reverse is not None:
            self.sort_reverse = sort_reverse
        if empty is not None:
            self._empty = empty
        index = -1
        if current is not None:
            index = self._find(rows, current)
        if index < 0:
            index = min(self.cursor, len(rows) - 1)
        self.cursor = max(index, 0)
        self._update_virtual_size()
        self._scroll_to_cursor()
        self.refresh()
        self._announce()

    def _find(self, rows: Sequence[Row], sha256: str) -> int:
        """Index of a certificate in ``rows``, -1 when it is not there."""
        row = self.highlighted
        if row is not None and row.sha256 == sha256:
            # The same row object is usually still there: list.index finds it in C.
            try:
                return rows.index(row)
            except ValueError:
                pass
        for i, candidate in enumerate(rows):
            if candidate.sha256 == sha256:
                return i
        return -1

    def _current_sha(self) -> str | None:
        row = self.highlighted
        return row.sha256 if row else self._last_highlight

    def move_to(self, sha256: str) -> bool:
        """Put the cursor on a certificate; False when it is not in the table."""
        for i, row in enumerate(self.rows):
            if row.sha256 == sha256:
                self._move(i)
                self._moved = True
                return True
        return False

    @property
    def _body_height(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def _content_width(self) -> int:
        return self.scrollable_content_region.width or self.size.width or 80

    def _relayout(self) -> None:
        width = self._content_width()
        if width != self._layout_width:
            self._layout_width = width
            self._widths = column_widths(width)

    def _total_width(self) -> int:
        return sum(self._widths) + sum(gaps_before(i) for i in range(len(COLUMNS)))

    def _update_virtual_size(self) -> None:
        self._relayout()
        width = max(self._total_width(), self._content_width())
        self.virtual_size = Size(width, len(self.rows) + 1)

    def on_resize(self, event: events.Resize) -> None:
        """New widths for the new size."""
        self._update_virtual_size()
        self._scroll_to_cursor()
        self.refresh()

    def _scroll_to_cursor(self) -> None:
        top = round(self.scroll_y)
        height = self._body_height
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + height:
            self.scroll_to(y=self.cursor - height + 1, animate=False, immediate=True)

    def _announce(self) -> None:
        row = self.highlighted
        sha = row.sha256 if row else None
        if sha is not None and sha != self._last_highlight:
            self._last_highlight = sha
            self.post_message(CertificateHighlighted(self, sha))

    def _move(self, index: int) -> None:
        if not self.rows:
            return
        index = max(0, min(index, len(self.rows) - 1))
        self._moved = True
        old = self.cursor
        self.cursor = index
        self._scroll_to_cursor()
        self._refresh_row(old)
        self._refresh_row(index)
        self._announce()

    def _refresh_row(self, index: int) -> None:
        """Render one row again (the header stays on the first screen line)."""
        y = index - round(self.scroll_y) + 1
        if y >= 1:
            self.refresh(Region(0, y, self.size.width, 1))

    def action_cursor_down(self) -> None:
        """Next row."""
        self._move(self.cursor + 1)

    def action_cursor_up(self) -> None:
        """Previous row."""
        self._move(self.cursor - 1)

    def action_first(self) -> None:
        """First row."""
        self._move(0)

    def action_last(self) -> None:
        """Last row."""
        self._move(len(self.rows) - 1)

    def action_page_down(self) -> None:
        """One page down."""
        self._move(self.cursor + self._body_height - 1)

    def action_page_up(self) -> None:
        """One page up."""
        self._move(self.cursor - (self._body_height - 1))

    def action_scroll_right(self) -> None:
        """Scroll the columns right."""
        self.scroll_to(x=self.scroll_x + 8, animate=False, immediate=True)

    def action_scroll_left(self) -> None:
        """Scroll the columns left."""
        self.scroll_to(x=max(0, self.scroll_x - 8), animate=False, immediate=True)

    def action_choose(self) -> None:
        """Open the highlighted certificate."""
        row = self.highlighted
        if row is not None:
            self.post_message(CertificateChosen(self, row.sha256))

    def action_mark(self) -> None:
        """Mark or unmark the highlighted certificate and move on."""
        row = self.highlighted
        if row is None:
            return
        if row.sha256 in self.marked:
            self.marked.discard(row.sha256)
        else:
            self.marked.add(row.sha256)
        self.post_message(MarkToggled(self, row.sha256))
        self._refresh_row(self.cursor)
        self._move(self.cursor + 1)

    def action_sort_next(self) -> None:
        """Sort by the next column."""
        index = SORTABLE.index(self.sort_key)
        self.post_message(SortRequested(SORTABLE[(index + 1) % len(SORTABLE)], False))

    def action_sort_reverse(self) -> None:
        """Reverse the sort order."""
        self.post_message(SortRequested(self.sort_key, not self.sort_reverse))

    def _column_at(self, x: int) -> int | None:
        position = 0
        for i, width in enumerate(self._widths):
            position += gaps_before(i)
            if position <= x < position + width:
                return i
            position += width
        return None

    async def _on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        event.stop()
        if offset.y == 0:
            index = self._column_at(offset.x + round(self.scroll_x))
            if index is None:
                return
            key = COLUMNS[index].sort
            if key is None:
                return
            reverse = (not self.sort_reverse) if key == self.sort_key else False
            self.post_message(SortRequested(key, reverse))
            return
        row = round(self.scroll_y) + offset.y - 1
        if row >= len(self.rows):
            return
        if row == self.cursor and event.chain >= 2:
            self.action_choose()
            return
        self._move(row)

    def notify_style_update(self) -> None:
        """Styles changed (theme): render again."""
        super().notify_style_update()
        self.refresh()

    def _cells(self, texts: Sequence[str], styles: Sequence[Style]) -> list[Segment]:
        segments: list[Segment] = []
        gap_style = styles[0] if styles else Style()
        for i, (text, width) in enumerate(zip(texts, self._widths, strict=True)):
            gap = gaps_before(i)
            if gap:
                segments.append(Segment(" " * gap, gap_style))
            keep_end = COLUMNS[i].key == "location"
            segments.append(Segment(_fit(text, width, keep_end=keep_end), styles[i]))
        return segments

    def _header(self, base: Style) -> Strip:
        header = base + self.get_component_rich_style("cert-table--header", partial=True)
        sorted_style = header + self.get_component_rich_style("cert-table--sorted", partial=True)
        texts: list[str] = []
        styles: list[Style] = []
        # Not ▲/▼: ▲ is the warning symbol.
        arrow = "↓" if self.sort_reverse else "↑"
        for column, width in zip(COLUMNS, self._widths, strict=True):
            sorted_here = column.sort is not None and column.sort == self.sort_key
            title = column.title
            if column.short and cell_len(title) + sorted_here > width:
                title = column.short
            if sorted_here:
                title = title.strip() or "!"
                texts.append(f"{title}{arrow}" if column.key != "status" else arrow)
                styles.append(sorted_style)
            else:
                texts.append(title)
                styles.append(header)
        return Strip(self._cells(texts, styles))

    def _row(self, index: int, base: Style) -> Strip:
        row = self.rows[index]
        style = base
        if index == self.cursor and self.has_focus:
            style = base + self.get_component_rich_style("cert-table--cursor", partial=True)
        elif index == self.cursor:
            style = base + self.get_component_rich_style("cert-table--cursor-blur", partial=True)
        status = style + self.get_component_rich_style(_SEVERITY_CLASS[row.severity], partial=True)
        mark = style + self.get_component_rich_style("cert-table--mark", partial=True)
        marked = row.sha256 in self.marked
        texts = [
            _MARK if marked else " ",
            row.symbol,
            row.name,
            row.issuer,
            expires_text(row.not_after, self.now),
            row.type,
            row.used_by,
            row.location,
            row.revocation,
            row.findings,
        ]
        revocation = style
        revocation_class = _REVOCATION_CLASS.get(row.record.revocation)
        if revocation_class is not None:
            revocation = style + self.get_component_rich_style(revocation_class, partial=True)
        styles = [mark, status, style, style, style, style, style, style, revocation, style]
        return Strip(self._cells(texts, styles))

    def _empty_line(self, y: int, width: int, base: Style) -> Strip:
        lines = self._empty.wrap(self.app.console, max(10, width - 4))
        top = 1
        if top <= y - 1 < top + len(lines):
            text = lines[y - 1 - top]
            style = base + self.get_component_rich_style("cert-table--empty", partial=True)
            text.stylize_before(style)
            segments = [Segment("  ", base), *text.render(self.app.console)]
            return Strip(segments).crop_extend(0, width, base)
        return Strip.blank(width, base)

    def render_line(self, y: int) -> Strip:
        """One screen line: the header at the top, then the rows from the scroll position."""
        self._relayout()
        base = self.rich_style
        width = self._content_width()
        scroll_x, scroll_y = self.scroll_offset
        if y == 0:
            strip = self._header(base)
        elif not self.rows:
            return self._empty_line(y, width, base)
        else:
            index = scroll_y + y - 1
            if index >= len(self.rows):
                return Strip.blank(width, base)
            strip = self._row(index, base)
        return strip.crop_extend(scroll_x, scroll_x + width, base)

    def on_focus(self) -> None:
        """The cursor shows in full colour while the table has focus."""
        self._refresh_cursor()

    def on_blur(self) -> None:
        """Without focus the cursor is dimmer."""
        self._refresh_cursor()

    def _refresh_cursor(self) -> None:
        if self.rows:
            self._refresh_row(self.cursor)
