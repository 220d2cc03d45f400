"""The app as a whole: scanning, rescans, cancelling, help, palette, errors, settings, quitting."""

from __future__ import annotations

from pathlib import Path

from textual.binding import Binding
from textual.command import CommandPalette
from textual.widgets import Input, ProgressBar
from textual.widgets._toast import Toast

from core.demo import DemoTree
from core.errors import CertdeckError
from core.model import Unreadable
from core.scan import CertificatesFound, FilesUnreadable, ScanProgress, StoreDiscovered
from core.settings import load_settings
from tests.tui.harness import (
    GatedScanner,
    demo_app,
    lines,
    main_screen,
    scanned,
    screen_text,
    table,
    until,
)
from tui.app import CertdeckApp
from tui.display import SortKey
from tui.screens.error import ErrorScreen
from tui.screens.help import HelpScreen, help_sections
from tui.screens.main import MainScreen
from tui.screens.unreadable import UnreadableScreen
from tui.widgets.cert_table import CertTable
from tui.widgets.details import DetailsView
from tui.widgets.filter_input import FilterInput
from tui.widgets.settings_form import SettingsForm
from tui.widgets.status_header import StatusHeader


async def test_rows_stream_in_with_progress_and_escape_cancels(tree: DemoTree) -> None:
    # A real scan of the demo tree, held open after its first results.
    app = demo_app(tree)
    async with app.run_test(size=(120, 40)) as pilot:
        await scanned(pilot)
        records = list(app.catalog.records.values())[:3]
    scanner = GatedScanner(
        tree.root,
        [
            StoreDiscovered(app.catalog.final.stores[0]),  # type: ignore[union-attr]
            CertificatesFound(tuple(records)),
            FilesUnreadable((Unreadable("/etc/ssl/bad.pem", "empty file"),)),
            ScanProgress(3, 10, True),
        ],
    )
    app = demo_app(tree, scanner=scanner)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("2")
        # While a scan runs the views are refreshed at most ten times a second.
        await until(pilot, lambda: len(table(app, "all").rows) == 3, "rows shown")
        await until(pilot, lambda: "3/10+" in screen_text(app), "progress shown")
        assert app.scanning
        assert {r.sha256 for r in table(app, "all").rows} == {r.sha256 for r in records}
        assert main_screen(app).query_one(ProgressBar).display
        text = screen_text(app)
        assert "scanning 3/10+ files" in text
        assert "1 unreadable" in text
        assert "esc Cancel" in text
        # One scan at a time: r waits until this one is stopped.
        assert "r Rescan" not in text
        await pilot.press("escape")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert not app.scanning
        assert scanner.closed
        assert app.scan_state.outcome == "cancelled"
        assert not main_screen(app).query_one(ProgressBar).display
        text = screen_text(app)
        assert "scan cancelled after 3 files" in text
        assert "esc Cancel" not in text
        # What was found stays.
        assert len(table(app, "all").rows) == 3


async def test_r_rescans_and_keeps_the_cursor_and_the_filter(tree: DemoTree) -> None:
    app = demo_app(tree)
    async with app.run_test(size=(120, 40)) as pilot:
        await scanned(pilot)
        await pilot.press("2", "slash", *"demo", "enter", "j", "j")
        await pilot.pause()
        all_table = table(app, "all")
        chosen = all_table.highlighted
        assert chosen is not None
        shown = [r.sha256 for r in all_table.rows]
        # A new certificate appears on the machine before the rescan.
        source = tree.root / "etc/nginx/ssl/www.crt"
        (tree.root / "etc/ssl/localcerts/copy-of-www.pem").write_bytes(source.read_bytes())
        await pilot.press("r")
        await scanned(pilot)
        assert app.scan_state.scans == 2
        assert app.scan_state.outcome == "finished"
        assert main_screen(app).filter_text == "demo"
        assert app.screen.query_one(FilterInput).value == "demo"
        # The copy makes www a duplicate, which may move it; the same rows are shown.
        assert {r.sha256 for r in all_table.rows} == set(shown)
        assert app.catalog.records[tree.cert("nginx-www").sha256].has("duplicate")
        highlighted = all_table.highlighted
        assert highlighted is not None
        assert highlighted.sha256 == chosen.sha256
        www = tree.cert("nginx-www").sha256
        assert "copy-of-www.pem" in app.catalog.rows[www].haystack


async def test_scan_failure_opens_a_copyable_error_modal(tree: DemoTree) -> None:
    scanner = GatedScanner(tree.root, [], fail=RuntimeError("disk on fire"))
    scanner.release.set()
    app = demo_app(tree, scanner=scanner)
    async with app.run_test(size=(100, 24)) as pilot:
        await scanned(pilot)
        error = app.screen
        assert isinstance(error, ErrorScreen)
        assert error.error_title == "Scan failed"
        text = screen_text(app)
        assert "disk on fire" in text
        assert "RuntimeError" in text
        await pilot.press("c")
        await pilot.pause()
        assert app.clipboard.startswith("Scan failed\n")
        assert "Traceback" in app.clipboard
        # The traceback is longer than the box: it scrolls.
        scroll = app.screen.query_one("#error-scroll")
        await pilot.press("j", "down", "j")
        await pilot.pause()
        assert scroll.scroll_y == 3
        await pilot.press("k", "up")
        await pilot.pause()
        assert scroll.scroll_y == 1
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        assert app.scan_state.outcome == "failed"
        assert "scan failed" in screen_text(app)
        assert "The scan failed before it found a certificate" in screen_text(app)


async def test_user_errors_show_their_title_and_message(tree: DemoTree) -> None:
    problem = CertdeckError("The root folder went away.", title="Cannot scan")
    scanner = GatedScanner(tree.root, [], fail=problem)
    scanner.release.set()
    app = demo_app(tree, scanner=scanner)
    async with app.run_test(size=(100, 30)) as pilot:
        await scanned(pilot)
        assert isinstance(app.screen, ErrorScreen)
        assert "Cannot scan" in screen_text(app)
        assert "The root folder went away." in screen_text(app)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)


async def test_shift_u_lists_unreadable_files_with_reasons(tree: DemoTree) -> None:
    app = demo_app(tree)
    async with app.run_test(size=(120, 40)) as pilot:
        await scanned(pilot)
        unreadable = app.catalog.unreadable
        assert unreadable
        await pilot.press("U")
        await pilot.pause()
        assert isinstance(app.screen, UnreadableScreen)
        text = screen_text(app)
        assert f"{len(unreadable)} unreadable files" in text
        for item in unreadable:
            assert item.path in text
        assert "empty file" in text
        await pilot.press("c")
        assert app.clipboard.splitlines()[0] == f"{unreadable[0].path}\t{unreadable[0].reason}"
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)


async def test_help_lists_every_binding_and_closes(tree: DemoTree) -> None:
    app = demo_app(tree)
    async with app.run_test(size=(120, 60)) as pilot:
        await scanned(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        scroll = app.screen.query_one("#help-scroll")
        text = "\n".join(
            line for widget in scroll.query(".help-table, .help-section") for line in lines(widget)
        )
        classes = (CertdeckApp, MainScreen, CertTable, FilterInput, DetailsView, SettingsForm)
        for cls in classes:
            for binding in Binding.make_bindings(cls.BINDINGS):
                assert binding.description in text, binding
        assert "Command palette" in text
        scroll_y = scroll.scroll_y
        await pilot.press("j", "down", "pagedown")
        await pilot.pause()
        assert scroll.scroll_y > scroll_y + 2
        await pilot.press("pageup", "k", "up")
        await pilot.pause()
        assert scroll.scroll_y == scroll_y
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)


async def test_every_footer_key_is_in_the_help(tree: DemoTree) -> None:
    app = demo_app(tree)
    async with app.run_test(size=(120, 40)) as pilot:
        await scanned(pilot)
        helped = {(entry.description) for _, entries in help_sections(app) for entry in entries}
        for keys in ("1", "2", "3", "4"):
            await pilot.press(keys)
            await pilot.pause()
            for active in app.screen.active_bindings.values():
                if active.binding.show:
                    assert active.binding.description in helped, active.binding
            await pilot.press("escape")


async def test_palette_runs_actions_by_name(tree: DemoTree) -> None:
    app = demo_app(tree)
    async with app.run_test(size=(120, 40)) as pilot:
        await scanned(pilot)
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert isinstance(app.screen, CommandPalette)
        await pilot.press(*"sort: by issuer")
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        assert main_screen(app).sort_key is SortKey.ISSUER
        await pilot.press("ctrl+p", *"show: all cert")
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert main_screen(app).active_tab == "all"


async def test_palette_finds_certificates_and_opens_their_details(tree: DemoTree) -> None:
    app = demo_app(tree)
    target = tree.cert("unknown-ca")
    async with app.run_test(size=(120, 40)) as pilot:
        await scanned(pilot)
        await pilot.press("ctrl+p", *target.sha256[:12])
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "appliance.vendor.example" in screen_text(app)
        await pilot.press("enter")
        await pilot.pause()
        assert main_screen(app).active_tab == "details"
        details = app.screen.query_one(DetailsView)
        assert details.record is not None
        assert details.record.sha256 == target.sha256


async def test_q_quits_from_the_table_but_is_typed_into_fields(tree: DemoTree) -> None:
    app = demo_app(tree)
    async with app.run_test(size=(120, 40)) as pilot:
        await scanned(pilot)
        await pilot.press("slash", "q")
        await pilot.pause()
        assert app.screen.query_one(FilterInput).value == "q"
        assert app.return_code is None
        await pilot.press("enter", "q")
        await pilot.pause()
        assert app.return_code == 0


async def test_broken_settings_file_opens_the_app_with_defaults_and_the_problem(
    tree: DemoTree, tmp_path: Path
) -> None:
    broken = tmp_path / "settings.toml"
    broken.write_text("[scan]\nmax_file_size = -1\n", encoding="utf-8")
    app = demo_app(tree, settings_path=broken)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await scanned(pilot)
        assert app.settings_problem is not None
        assert "scan.max_file_size" in app.settings_problem
        assert app.catalog.records
        await pilot.pause()
        await pilot.pause()
        toasts = "\n".join(line for toast in app.screen.query(Toast) for line in lines(toast))
        assert "Settings file has problems" in toasts
        assert "scan.max_file_size" in toasts
        await pilot.press("4")
        await pilot.pause()
        assert "scan.max_file_size" in "\n".join(lines(app.screen.query_one("#settings-problem")))


async def test_saving_settings_scans_again_with_them(tree: DemoTree, tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    app = demo_app(tree, settings_path=path)
    async with app.run_test(size=(120, 40)) as pilot:
        await scanned(pilot)
        assert app.scan_state.scans == 1
        await pilot.press("4")
        await pilot.pause()
        # The first setting is scan.paths: add /opt/billing and save.
        field = app.focused
        assert isinstance(field, Input)
        await pilot.press(*"/opt/billing", "ctrl+s")
        await scanned(pilot)
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert load_settings(path).scan.paths == ("/opt/billing",)
        assert app.settings.scan.paths == ("/opt/billing",)
        assert app.scan_state.scans == 2


async def test_marks_and_palette_mark_commands(tree: DemoTree) -> None:
    app = demo_app(tree)
    async with app.run_test(size=(120, 40)) as pilot:
        await scanned(pilot)
        await pilot.press("ctrl+p", *"mark: every")
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert app.marked == {r.sha256 for r in table(app, "required").rows}
        assert f"{len(app.marked)} marked" in screen_text(app)
        await pilot.press("ctrl+p", *"unmark: every")
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert app.marked == set()


async def test_header_fits_80_columns(tree: DemoTree) -> None:
    app = demo_app(tree)
    async with app.run_test(size=(80, 24)) as pilot:
        await scanned(pilot)
        header = lines(app.screen.query_one(StatusHeader))[0]
        assert "demo-server" in header
        assert "✖ 12" in header
        assert header.rstrip().endswith(("unreadable", "2026-11-27"))
