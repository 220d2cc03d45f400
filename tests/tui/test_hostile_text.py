"""Certificate text is hostile: markup and escape sequences are shown as text, never run."""

from __future__ import annotations

from textual.command import CommandList
from textual.widgets._toast import Toast

from core.demo import DemoTree
from tests.tui.harness import HOSTILE_CN, demo_app, lines, main_screen, scanned, screen_text, table
from tui.screens.main import MainScreen
from tui.widgets.details import DetailsView

EVIL_ORG = "␛[31mEvil␛[0m"
"""The organisation ``\\x1b[31mEvil\\x1b[0m`` with its escape characters made visible."""


async def test_hostile_subject_is_shown_verbatim_everywhere_and_nothing_runs(
    tree: DemoTree,
) -> None:
    hostile = tree.cert("hostile").sha256
    app = demo_app(tree)
    async with app.run_test(size=(200, 50), notifications=True) as pilot:
        await scanned(pilot)
        await pilot.press("2")
        await pilot.pause()
        all_table = table(app, "all")
        assert all_table.move_to(hostile)
        await pilot.pause()

        # The table: the exact common name in the name column.
        row_line = next(line for line in lines(all_table) if "Legit" in line)
        assert HOSTILE_CN in row_line
        assert "\x1b" not in screen_text(app)
        # Clicking the text that would be a quit link as markup only moves the cursor.
        x = row_line.index("[@click=app.quit]x") + len("[@click=app.quit]")
        y = lines(all_table).index(row_line)
        await pilot.click(all_table, offset=(x, y))
        await pilot.pause()
        assert app.return_code is None
        assert app.is_running

        # A notification naming it.
        await pilot.press("c")
        await pilot.pause()
        await pilot.pause()
        toasts = "\n".join(line for toast in app.screen.query(Toast) for line in lines(toast))
        assert f"PEM of {HOSTILE_CN} copied" in toasts

        # The details: name, subject with the escape characters made visible.
        await pilot.press("enter")
        await pilot.pause()
        assert main_screen(app).active_tab == "details"
        details = app.screen.query_one(DetailsView)
        assert details.record is not None
        assert details.record.sha256 == hostile
        body = "\n".join(lines(details.query_one("#details-body")))
        assert f"Name          {HOSTILE_CN}" in body
        assert f"O={EVIL_ORG}" in body
        assert "\x1b" not in body

        # The palette: found by name, shown as typed.
        await pilot.press("ctrl+p", *"Legit")
        await app.workers.wait_for_complete()
        await pilot.pause()
        hits = "\n".join(lines(app.screen.query_one(CommandList)))
        assert HOSTILE_CN in hits
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        assert app.return_code is None
