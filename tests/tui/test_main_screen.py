"""The main screen driven by keys: tabs, table navigation, sorting, filtering, marks, scope."""

from __future__ import annotations

import shutil
from pathlib import Path

from textual.widgets import TabbedContent

from core.demo import DemoTree
from core.scope import ScopeKind
from tests.tui.harness import demo_app, focused, lines, main_screen, scanned, screen_text, table
from tui.display import SORTABLE, SortKey
from tui.screens.scope import ScopeScreen
from tui.widgets.cert_table import CertTable
from tui.widgets.details import DetailsView, pem
from tui.widgets.filter_input import FilterInput
from tui.widgets.status_header import StatusHeader


async def test_required_tab_first_then_every_certificate_on_all(tree: DemoTree) -> None:
    app = demo_app(tree)
    async with app.run_test(size=(120, 40)) as pilot:
        await scanned(pilot)
        screen = main_screen(app)
        assert screen.active_tab == "required"
        required = {c.sha256 for c in tree.certs if c.required}
        assert {r.sha256 for r in table(app, "required").rows} == required
        text = screen_text(app)
        assert f"1 Required ({len(required)})" in text
        assert f"2 All ({len(app.catalog.records)})" in text
        await pilot.press("2")
        await pilot.pause()
        assert screen.active_tab == "all"
        expected = {c.sha256 for c in tree.certs}
        assert {r.sha256 for r in table(app, "all").rows} == expected
        assert isinstance(app.focused, CertTable)
        assert app.focused.id == "all-table"


async def test_header_counts_errors_warnings_and_unreadable(tree: DemoTree) -> None:
    app = demo_app(tree)
    async with app.run_test(size=(120, 40)) as pilot:
        await scanned(pilot)
        records = app.catalog.records.values()
        errors = sum(r.worst is not None and r.worst.value == "error" for r in records)
        warnings = sum(r.worst is not None and r.worst.value == "warning" for r in records)
        header = lines(app.screen.query_one(StatusHeader))[0]
        assert "demo-server (demo)" in header
        assert "scope: all" in header
        assert f"✖ {errors} errors" in header
        assert f"▲ {warnings} warnings" in header
        assert f"{len(app.catalog.unreadable)} unreadable" in header
        assert "at 2026-11-27 12:00Z" in header


async def test_number_keys_and_tab_switch_tabs(tree: DemoTree) -> None:
    app = demo_app(tree)
    async with app.run_test(size=(100, 30)) as pilot:
        await scanned(pilot)
        tabs = app.screen.query_one(TabbedContent)
        for key, tab in (("3", "details"), ("2", "all"), ("4", "settings")):
            await pilot.press(key)
            await pilot.pause()
            assert tabs.active == tab
        # A settings field is focused: digits are typed into it until escape leaves it.
        await pilot.press("escape", "1")
        await pilot.pause()
        assert tabs.active == "required"
        await pilot.press("tab")
        await pilot.pause()
        assert tabs.active == "all"
        await pilot.press("tab")
        await pilot.pause()
        assert tabs.active == "details"
        await pilot.press("shift+tab")
        await pilot.pause()
        assert tabs.active == "all"
        await pilot.press("shift+tab", "shift+tab")
        await pilot.pause()
        assert tabs.active == "settings"


async def test_escape_goes_back_from_details_and_settings(tree: DemoTree) -> None:
    app = demo_app(tree)
    async with app.run_test(size=(100, 30)) as pilot:
        await scanned(pilot)
        tabs = app.screen.query_one(TabbedContent)
        await pilot.press("2", "3")
        await pilot.pause()
        assert tabs.active == "details"
        await pilot.press("escape")
        await pilot.pause()
        assert tabs.active == "all"
        await pilot.press("4")
        await pilot.pause()
        assert tabs.active == "settings"
        await pilot.press("escape")
        await pilot.pause()
        assert tabs.active == "all"


async def test_tab_moves_between_fields_inside_the_settings_form(tree: DemoTree) -> None:
    app = demo_app(tree)
    async with app.run_test(size=(100, 30)) as pilot:
        await scanned(pilot)
        await pilot.press("4")
        await pilot.pause()
        first = app.focused
        await pilot.press("tab")
        await pilot.pause()
        assert app.screen.query_one(TabbedContent).active == "settings"
        assert app.focused is not first


async def test_enter_opens_the_details_of_the_highlighted_row(tree: DemoTree) -> None:
    app = demo_app(tree)
    async with app.run_test(size=(120, 40)) as pilot:
        await scanned(pilot)
        await pilot.press("2", "j", "j")
        await pilot.pause()
        row = table(app, "all").highlighted
        assert row is not None
        await pilot.press("enter")
        await pilot.pause()
        assert main_screen(app).active_tab == "details"
        details = app.screen.query_one(DetailsView)
        assert details.record is not None
        assert details.record.sha256 == row.sha256
        assert row.name in screen_text(app)


async def test_cursor_keys_move_through_the_rows(tree: DemoTree) -> None:
    app = demo_app(tree)
    async with app.run_test(size=(120, 20)) as pilot:
        await scanned(pilot)
        await pilot.press("2")
        await pilot.pause()
        all_table = table(app, "all")
        last = len(all_table.rows) - 1
        moves = [
            ("j", 1),
            ("down", 2),
            ("k", 1),
            ("up", 0),
            ("end", last),
            ("home", 0),
            ("G", last),
            ("g", 0),
        ]
        for key, expected in moves:
            await pilot.press(key)
            await pilot.pause()
            assert all_table.cursor == expected, key
        page = all_table.scrollable_content_region.height - 2
        for down, up in (("pagedown", "pageup"), ("ctrl+f", "ctrl+b")):
            await pilot.press(down)
            await pilot.pause()
            assert all_table.cursor == page, down
            await pilot.press(up)
            await pilot.pause()
            assert all_table.cursor == 0, up
        # The cursor row scrolls into view and is drawn under the header.
        await pilot.press("end")
        await pilot.pause()
        name = all_table.rows[last].name
        assert any(name[:12] in line for line in lines(all_table))


async def test_left_and_right_scroll_the_columns(tree: DemoTree) -> None:
    app = demo_app(tree)
    async with app.run_test(size=(80, 24)) as pilot:
        await scanned(pilot)
        await pilot.press("2")
        await pilot.pause()
        all_table = table(app, "all")
        assert "Findings" not in lines(all_table)[0]
        for right, left in (("right", "left"), ("l", "h")):
            await pilot.press(*[right] * 8)
            await pilot.pause()
            assert all_table.scroll_x > 0, right
            assert "Findings" in lines(all_table)[0]
            await pilot.press(*[left] * 8)
            await pilot.pause()
            assert all_table.scroll_x == 0, left


async def test_o_cycles_the_sort_column_and_shift_o_reverses(tree: DemoTree) -> None:
    app = demo_app(tree)
    async with app.run_test(size=(120, 40)) as pilot:
        await scanned(pilot)
        await pilot.press("2")
        await pilot.pause()
        all_table = table(app, "all")
        screen = main_screen(app)
        assert screen.sort_key is SortKey.STATUS
        await pilot.press("o")
        await pilot.pause()
        assert screen.sort_key is SORTABLE[1] is SortKey.NAME
        names = [r.name_key for r in all_table.rows]
        assert names == sorted(names)
        assert "Name↑" in lines(all_table)[0]
        await pilot.press("O")
        await pilot.pause()
        assert screen.sort_reverse
        assert [r.name_key for r in all_table.rows] == sorted(names, reverse=True)
        assert "Name↓" in lines(all_table)[0]
        assert "sort: name ↓" in screen_text(app)
        await pilot.press("o", "o")
        await pilot.pause()
        assert screen.sort_key is SortKey.EXPIRES
        expiry = [r.not_after for r in all_table.rows]
        assert expiry == sorted(expiry)


async def test_clicking_a_header_sorts_by_that_column(tree: DemoTree) -> None:
    app = demo_app(tree)
    async with app.run_test(size=(120, 40)) as pilot:
        await scanned(pilot)
        await pilot.press("2")
        await pilot.pause()
        all_table = table(app, "all")
        header = lines(all_table)[0]
        x = header.index("Expires")
        await pilot.click(all_table, offset=(x + 1, 0))
        await pilot.pause()
        assert main_screen(app).sort_key is SortKey.EXPIRES
        assert not main_screen(app).sort_reverse
        await pilot.click(all_table, offset=(x + 1, 0))
        await pilot.pause()
        assert main_screen(app).sort_reverse
        expiry = [r.not_after for r in all_table.rows]
        assert expiry == sorted(expiry, reverse=True)


async def test_clicking_a_row_moves_the_cursor_and_a_second_click_opens_it(
    tree: DemoTree,
) -> None:
    app = demo_app(tree)
    async with app.run_test(size=(120, 40)) as pilot:
        await scanned(pilot)
        await pilot.press("2")
        await pilot.pause()
        all_table = table(app, "all")
        await pilot.click(all_table, offset=(5, 3))
        await pilot.pause()
        assert all_table.cursor == 2
        await pilot.click(all_table, offset=(5, 3), times=2)
        await pilot.pause()
        assert main_screen(app).active_tab == "details"


async def test_slash_filters_as_you_type_and_escape_clears(tree: DemoTree) -> None:
    app = demo_app(tree)
    async with app.run_test(size=(120, 40)) as pilot:
        await scanned(pilot)
        await pilot.press("2", "slash")
        await pilot.pause()
        field = app.screen.query_one(FilterInput)
        bar = app.screen.query_one("#filter-bar")
        assert focused(app) is field
        assert bar.display
        await pilot.press(*"gitlab")
        await pilot.pause()
        all_table = table(app, "all")
        assert [r.name for r in all_table.rows] == ["git.demo.example"]
        assert "1 of 36" in screen_text(app)
        # Enter goes back to the table; the filter stays.
        await pilot.press("enter")
        await pilot.pause()
        assert focused(app) is all_table
        assert bar.display
        assert len(all_table.rows) == 1
        # Escape in the table clears it.
        await pilot.press("escape")
        await pilot.pause()
        assert len(all_table.rows) == len(app.catalog.records)
        assert not bar.display
        assert field.value == ""


async def test_filter_finds_paths_sans_issuers_and_fingerprints(tree: DemoTree) -> None:
    app = demo_app(tree)
    target = tree.cert("unknown-ca")
    colons = ":".join(target.sha256[i : i + 2] for i in range(0, 8, 2)).upper()
    async with app.run_test(size=(120, 40)) as pilot:
        await scanned(pilot)
        await pilot.press("2", "slash")
        all_table = table(app, "all")
        for query in ("vendor.example.crt", "Acme Appl", colons):
            await pilot.press(*query)
            await pilot.pause()
            assert target.sha256 in {r.sha256 for r in all_table.rows}, query
            assert all(
                query.casefold().replace(":", "") in r.haystack.replace(":", "")
                for r in all_table.rows
            )
            await pilot.press("escape", "slash")
        # Down also goes back to the table, keeping the filter.
        await pilot.press(*"zzz")
        await pilot.press("down")
        await pilot.pause()
        assert focused(app) is all_table
        assert all_table.rows == []
        assert "No certificate here matches “zzz”" in screen_text(app)


async def test_exclamation_mark_shows_problems_only(tree: DemoTree) -> None:
    app = demo_app(tree)
    async with app.run_test(size=(120, 40)) as pilot:
        await scanned(pilot)
        await pilot.press("2", "exclamation_mark")
        await pilot.pause()
        all_table = table(app, "all")
        assert all_table.rows
        assert all(
            r.severity is not None and r.severity.value in ("error", "warning")
            for r in all_table.rows
        )
        assert "problems only" in screen_text(app)
        await pilot.press("exclamation_mark")
        await pilot.pause()
        assert len(all_table.rows) == len(app.catalog.records)


async def test_space_marks_rows_in_the_mark_column(tree: DemoTree) -> None:
    app = demo_app(tree)
    async with app.run_test(size=(120, 40)) as pilot:
        await scanned(pilot)
        await pilot.press("2")
        await pilot.pause()
        all_table = table(app, "all")
        first = all_table.rows[0].sha256
        await pilot.press("space")
        await pilot.pause()
        assert app.marked == {first}
        assert all_table.cursor == 1
        assert lines(all_table)[1].startswith("●")
        assert "1 marked" in screen_text(app)
        await pilot.press("k", "space")
        await pilot.pause()
        assert app.marked == set()
        assert lines(all_table)[1].startswith(" ")


async def test_c_copies_the_pem_of_the_highlighted_certificate(tree: DemoTree) -> None:
    app = demo_app(tree)
    async with app.run_test(size=(120, 40)) as pilot:
        await scanned(pilot)
        await pilot.press("2", "j", "c")
        await pilot.pause()
        row = table(app, "all").highlighted
        assert row is not None
        assert app.clipboard == pem(row.record)
        assert app.clipboard.startswith("-----BEGIN CERTIFICATE-----")


async def test_s_picks_a_scope_and_the_view_and_header_follow(tree: DemoTree) -> None:
    app = demo_app(tree)
    async with app.run_test(size=(120, 40)) as pilot:
        await scanned(pilot)
        await pilot.press("2", "s")
        await pilot.pause()
        picker = app.screen
        assert isinstance(picker, ScopeScreen)
        index = next(
            i
            for i, s in enumerate(picker.scopes)
            if s.kind is ScopeKind.CONSUMER and s.name == "nginx"
        )
        # j and k move in the list like the arrow keys.
        await pilot.press("j", "j", "k", "k")
        await pilot.press(*["down"] * index)
        await pilot.press("enter")
        await pilot.pause()
        screen = main_screen(app)
        assert app.screen is screen
        assert screen.scope.name == "nginx"
        rows = table(app, "all").rows
        assert rows
        assert all(any(u.consumer == "nginx" for u in r.record.used_by) for r in rows)
        header = lines(screen.query_one(StatusHeader))[0]
        assert "scope: service nginx" in header
        assert f"{len(rows)} certs" in header
        # Escape keeps the scope.
        await pilot.press("s")
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
        assert screen.scope.name == "nginx"


async def test_empty_required_view_explains_and_points_to_all_and_settings(
    tree: DemoTree, tmp_path: Path
) -> None:
    # A machine with a certificate but no service that uses it.
    root = tmp_path / "bare"
    (root / "etc/ssl/localcerts").mkdir(parents=True)
    source = tree.root / "etc/ssl/localcerts/old.demo.example.crt"
    shutil.copy(source, root / "etc/ssl/localcerts/old.demo.example.crt")
    app = demo_app(tree, root=root, settings_path=tmp_path / "none.toml")
    async with app.run_test(size=(120, 40)) as pilot:
        await scanned(pilot)
        assert len(app.catalog.records) == 1
        assert table(app, "required").rows == []
        text = "\n".join(lines(table(app, "required")))
        assert "No certificate is required on this machine" in text
        assert "Press 2 to see all 1 certificates found" in text
        assert "[[consumers]]" in text
        assert "press 4 for Settings" in text
