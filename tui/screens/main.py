"""The main screen: header, the Required · All · Details · Settings tabs, filter and status."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from time import monotonic
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.screen import Screen
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import (
    Footer,
    Input,
    Label,
    ProgressBar,
    TabbedContent,
    TabPane,
    Tabs,
)
from textual.worker import Worker, WorkerCancelled, WorkerFailed, WorkerState

from core.errors import CertdeckError
from core.model import CertificateRecord
from core.rootfs import RootFS
from core.scope import ALL, Scope, ScopeKind
from core.settings import Settings
from core.text import visible
from tui.display import SORT_TITLES, Row, SortKey, filter_rows, refines, revocation_summary
from tui.messages import (
    CertificateChosen,
    CertificateHighlighted,
    MarkToggled,
    ScanEnded,
    ScanStarted,
    ScanUpdated,
    SortRequested,
)
from tui.widgets.cert_table import CertTable
from tui.widgets.details import DetailsView, pem
from tui.widgets.filter_input import FilterInput
from tui.widgets.settings_form import SettingsForm
from tui.widgets.status_header import StatusHeader

if TYPE_CHECKING:
    from tui.app import CertdeckApp

__all__ = ["TABS", "MainScreen"]

_REFRESH_INTERVAL = 0.1
"""Seconds between two refreshes of the views while a scan streams results."""

TABS: tuple[str, ...] = ("required", "all", "details", "settings")
"""Tab ids in order; keys 1 to 4 select them."""

_TITLES = {
    "required": "Required",
    "all": "All",
    "details": "Details",
    "settings": "Settings",
}


def _certificates(count: int, kind: str = "") -> str:
    """``3 marked certificates``, ``1 certificate``."""
    words = f"{kind} certificate" if kind else "certificate"
    return f"{count} {words}{'s' if count != 1 else ''}"


class MainScreen(Screen[None]):
    """The certificate views; everything else opens on top of this screen."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "s",
            "scope",
            "Scope",
            id="main.scope",
            tooltip="Look at one store, one service, or everything",
        ),
        Binding(
            "r",
            "rescan",
            "Rescan",
            id="main.rescan",
            tooltip="Scan the machine again (unchanged files are not parsed again)",
        ),
        Binding(
            "escape",
            "cancel_scan",
            "Cancel",
            key_display="esc",
            id="main.cancel_scan",
            tooltip="Stop the running scan; what was found so far stays",
        ),
        Binding(
            "escape",
            "back",
            "Back",
            key_display="esc",
            id="main.back",
            tooltip="From Details or Settings back to the certificate table",
        ),
        Binding(
            "escape",
            "cancel_revocation",
            "Stop check",
            key_display="esc",
            id="main.cancel_revocation",
            tooltip="Stop the running revocation check; earlier results stay",
        ),
        Binding(
            "e",
            "export",
            "Export",
            id="main.export",
            tooltip="Export the highlighted, marked, required or scoped certificates as "
            "PKCS#12 or PEM files",
        ),
        Binding(
            "i",
            "import",
            "Import",
            id="main.import",
            tooltip="Import a certificate file (PKCS#12, PEM, DER, PKCS#7) with its key",
        ),
        Binding(
            "U",
            "unreadable",
            "Unreadable",
            show=False,
            id="main.unreadable",
            tooltip="Files that could not be read or parsed, with the reasons",
        ),
        Binding(
            "d",
            "clean_up",
            "Clean up",
            show=False,
            id="main.clean_up",
            tooltip="Move the highlighted certificate into the quarantine, if nothing uses it",
        ),
        Binding(
            "D",
            "clean_up_obsolete",
            "Clean up all",
            show=False,
            id="main.clean_up_obsolete",
            tooltip="Move every obsolete certificate into the quarantine (preview first)",
        ),
        Binding(
            "u",
            "undo_clean_up",
            "Undo clean-up",
            show=False,
            id="main.undo_clean_up",
            tooltip="Put back what the last clean-up moved into the quarantine",
        ),
        Binding(
            "b",
            "backup",
            "Back up",
            show=False,
            id="main.backup",
            tooltip="Write a verified, password-protected archive of every required "
            "certificate and key",
        ),
        Binding(
            "B",
            "restore",
            "Restore",
            show=False,
            id="main.restore",
            tooltip="Put the files of a backup back in place (also: move to a new server)",
        ),
        Binding(
            "n",
            "create",
            "New certificate",
            show=False,
            id="main.create",
            tooltip="Create a server certificate for this host (self-signed or from a local CA)",
        ),
        Binding(
            "t",
            "trust",
            "Trust",
            show=False,
            id="main.trust",
            tooltip="Add the highlighted CA to the system trust store, or remove it",
        ),
        Binding(
            "p",
            "probe",
            "Probe",
            show=False,
            id="main.probe",
            tooltip="Connect to a TLS server and judge the chain it serves",
        ),
        Binding(
            "R",
            "check_revocation",
            "Revocation",
            show=False,
            id="main.revocation",
            tooltip="Check CRLs and OCSP of the required (or marked) certificates — connects "
            "to the CAs' servers",
        ),
        Binding(
            "1",
            "show_tab('required')",
            "Required",
            show=False,
            id="main.tab_required",
            tooltip="Certificates that services use, and their issuers",
        ),
        Binding(
            "2",
            "show_tab('all')",
            "All",
            show=False,
            id="main.tab_all",
            tooltip="Every certificate found on the machine",
        ),
        Binding(
            "3",
            "show_tab('details')",
            "Details",
            show=False,
            id="main.tab_details",
            tooltip="Everything about the highlighted certificate",
        ),
        Binding(
            "4",
            "show_tab('settings')",
            "Settings",
            show=False,
            id="main.tab_settings",
            tooltip="The settings file, editable",
        ),
        Binding(
            "tab",
            "next_tab",
            "Next tab",
            show=False,
            id="main.next_tab",
            tooltip="The tab to the right",
        ),
        Binding(
            "shift+tab",
            "previous_tab",
            "Previous tab",
            show=False,
            id="main.previous_tab",
            tooltip="The tab to the left",
        ),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.scope: Scope = ALL
        self.filter_text = ""
        self.problems_only = False
        self.sort_key = SortKey.STATUS
        self.sort_reverse = False
        self.chosen: str | None = None
        """The certificate the Details tab shows (the last highlighted or chosen)."""
        self._source = "required"
        """The table the user looked at last (Details goes back to it)."""
        self._shown_version: dict[str, tuple[object, ...]] = {}
        self._filter_memo: dict[str, tuple[list[Row], str, bool, list[Row]]] = {}
        self._last_refresh = 0.0
        self._refresh_timer: Timer | None = None
        self._revocation: Worker[None] | None = None
        self._revocation_count = 0
        """How many certificates the running revocation check looks at."""

    @property
    def certdeck(self) -> CertdeckApp:
        """The app, typed."""
        from tui.app import CertdeckApp

        app = self.app
        assert isinstance(app, CertdeckApp)
        return app

    def compose(self) -> ComposeResult:
        app = self.certdeck
        yield StatusHeader(id="header")
        with TabbedContent(initial="required", id="tabs"):
            with TabPane("1 Required", id="required"):
                yield CertTable(now=app.now, marked=app.marked, id="required-table")
            with TabPane("2 All", id="all"):
                yield CertTable(now=app.now, marked=app.marked, id="all-table")
            with TabPane("3 Details", id="details"):
                yield DetailsView(id="details-view")
            with TabPane("4 Settings", id="settings"):
                yield SettingsForm(
                    app.settings,
                    app.settings_path,
                    app.settings_problem,
                    id="settings-form",
                )
        with Horizontal(id="filter-bar"):
            yield Label("Filter", id="filter-label")
            yield FilterInput(id="filter")
        with Horizontal(id="status-bar"):
            yield Label("", id="summary", markup=False)
            yield ProgressBar(id="progress", show_eta=False, show_percentage=False, show_bar=True)
            yield Label("", id="progress-label", markup=False)
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        # Tabs are switched with 1-4 and tab; focus stays in the pane's content.
        self.query_one("#tabs", TabbedContent).query_one(Tabs).can_focus = False
        self.query_one("#filter-bar").display = False
        self.table("required").focus()
        self.refresh_views()

    def table(self, tab: str) -> CertTable:
        """The table of the Required or All tab."""
        return self.query_one(f"#{tab}-table", CertTable)

    @property
    def tabbed(self) -> TabbedContent:
        """The tabs."""
        return self.query_one("#tabs", TabbedContent)

    @property
    def active_tab(self) -> str:
        """Id of the tab on show."""
        return self.tabbed.active

    @property
    def active_table(self) -> CertTable | None:
        """The table on show, if a table tab is active."""
        tab = self.active_tab
        return self.table(tab) if tab in ("required", "all") else None

    @property
    def filter_input(self) -> FilterInput:
        """The filter field."""
        return self.query_one("#filter", FilterInput)

    def highlighted_row(self) -> Row | None:
        """The row under the cursor of the table looked at last."""
        tab = self.active_tab if self.active_tab in ("required", "all") else self._source
        return self.table(tab).highlighted

    def refresh_views(self) -> None:
        """Bring header, tab labels, the visible table and the status line up to date."""
        app = self.certdeck
        catalog = app.catalog
        counts = catalog.counts(self.scope)
        place = "demo" if app.demo else ("" if app.root == "/" else app.root)
        at = f"{app.fixed_now:%Y-%m-%d %H:%M}Z" if app.fixed_now is not None else ""
        self.query_one(StatusHeader).update_info(
            host=app.host_name,
            place=place,
            scope=self.scope.label,
            total=counts.total,
            errors=counts.errors,
            warnings=counts.warnings,
            unreadable=len(catalog.unreadable),
            at=at,
        )
        tabbed = self.tabbed
        labels = {
            "required": f"1 Required ({catalog.required_count(self.scope)})",
            "all": f"2 All ({counts.total})",
        }
        for tab, label in labels.items():
            if str(tabbed.get_tab(tab).label) != label:
                tabbed.get_tab(tab).label = label
        table = self.active_table
        if table is not None:
            self._rebuild(table)
        self._update_status()

    def _rebuild(self, table: CertTable) -> None:
        app = self.certdeck
        catalog = app.catalog
        tab = "required" if table.id == "required-table" else "all"
        state = (
            catalog.version,
            self.scope,
            self.sort_key,
            self.sort_reverse,
            self.filter_text,
            self.problems_only,
            app.now,
            app.scan_state.running,
            app.scan_state.outcome,
        )
        if self._shown_version.get(tab) == state:
            return
        self._shown_version[tab] = state
        if tab == "required":
            base = catalog.required(self.scope, self.sort_key, self.sort_reverse)
        else:
            base = catalog.sorted(self.scope, self.sort_key, self.sort_reverse)
        rows = self._filtered(tab, base)
        table.now = app.now
        table.set_rows(
            rows,
            sort_key=self.sort_key,
            sort_reverse=self.sort_reverse,
            empty=self._empty_text(tab, len(base)),
        )

    def _filtered(self, tab: str, base: list[Row]) -> list[Row]:
        """The rows of ``base`` the filter lets through.

        Typing one more character only narrows the filter: the rows that matched before
        are filtered again instead of every row (a keystroke stays fast at 100,000 rows).
        """
        text, problems = self.filter_text, self.problems_only
        if not text and not problems:
            self._filter_memo.pop(tab, None)
            return base
        memo = self._filter_memo.get(tab)
        source: Sequence[Row] = base
        if memo is not None:
            old_base, old_text, old_problems, old_rows = memo
            if old_base is base and old_problems == problems and refines(old_text, text):
                source = old_rows
        rows = filter_rows(source, text, problems_only=problems)
        self._filter_memo[tab] = (base, text, problems, rows)
        return rows

    def _empty_text(self, tab: str, base: int) -> Text:
        """Why a table is empty and what to do about it."""
        app = self.certdeck
        catalog = app.catalog
        scanning = app.scanning and not catalog.records
        if base and (self.filter_text or self.problems_only):
            if self.filter_text:
                what = f"No certificate here matches “{visible(self.filter_text)}”"
                if self.problems_only:
                    what += " and has errors or warnings"
                more = (
                    ", or p to show certificates without problems too."
                    if self.problems_only
                    else "."
                )
                return Text(f"{what}.\n\nPress escape to clear the filter{more}")
            return Text(
                "No certificate here has errors or warnings.\n\n"
                "Press p to show every certificate again."
            )
        if scanning:
            return Text("Scanning… certificates appear here as they are found.")
        if not catalog.records and app.scan_state.outcome == "failed":
            return Text("The scan failed before it found a certificate. Press r to try again.")
        if not catalog.records and app.scan_state.outcome == "cancelled":
            return Text("The scan was cancelled before it found a certificate. Press r to scan.")
        if self.scope.kind is not ScopeKind.ALL:
            return Text(
                f"Nothing here in {visible(self.scope.label)}.\n\n"
                "Press s to choose another scope, or 2 for all certificates."
            )
        if tab == "required":
            total = len(catalog.records)
            return Text(
                "No certificate is required on this machine: none of the service "
                "configurations certdeck read (nginx, Apache, haproxy, postfix, dovecot …) "
                "uses a certificate file it found, and no consumer is declared in the "
                "settings.\n\n"
                f"• Press 2 to see all {total} certificates found.\n"
                "• Declare the files your applications use as [[consumers]] in the "
                "settings file (press 4 for Settings to see where it is), then press r to "
                "scan again."
            )
        return Text(
            "No certificates were found.\n\n"
            "Add the folders that hold certificates to scan.paths in Settings (press 4), "
            "then press r to scan again."
        )

    def _update_status(self) -> None:
        app = self.certdeck
        state = app.scan_state
        table = self.active_table
        parts: list[str] = []
        if table is not None:
            base = (
                app.catalog.required_count(self.scope)
                if table.id == "required-table"
                else app.catalog.counts(self.scope).total
            )
            shown = len(table.rows)
            parts.append(f"{shown} of {base}" if shown != base else f"{shown} shown")
            parts.append(f"sort: {SORT_TITLES[self.sort_key]} {'↓' if self.sort_reverse else '↑'}")
        if self.filter_text:
            parts.append(f"filter: {visible(self.filter_text)}")
        if self.problems_only:
            parts.append("problems only")
        if app.marked:
            parts.append(f"{len(app.marked)} marked")
        self.query_one("#summary", Label).update(Text(" · ".join(parts)))
        bar = self.query_one("#progress", ProgressBar)
        label = self.query_one("#progress-label", Label)
        bar.display = state.running
        if self.checking_revocation and not state.running:
            count = _certificates(self._revocation_count)
            label.update(Text(f"checking revocation of {count} · esc stops"))
        elif state.running:
            bar.update(total=max(state.files_seen, 1), progress=state.files_done)
            more = "+" if state.walking else ""
            label.update(Text(f"scanning {state.files_done}/{state.files_seen}{more} files"))
        elif state.outcome == "cancelled":
            label.update(Text(f"scan cancelled after {state.files_done} files · r rescans"))
        elif state.outcome == "failed":
            label.update(Text("scan failed · r rescans"))
        elif state.outcome == "finished":
            label.update(Text(f"{state.files_seen} files scanned"))
        else:
            label.update(Text(""))
        self.refresh_bindings()

    def on_scan_started(self, message: ScanStarted) -> None:
        """A scan started: show progress."""
        self.refresh_views()

    def on_scan_updated(self, message: ScanUpdated) -> None:
        """New rows or progress: shown at most ten times a second, so the scan keeps going."""
        wait = _REFRESH_INTERVAL - (monotonic() - self._last_refresh)
        if wait <= 0:
            self._refresh_now()
        elif self._refresh_timer is None:
            self._refresh_timer = self.set_timer(wait, self._refresh_now)

    def _refresh_now(self) -> None:
        if self._refresh_timer is not None:
            self._refresh_timer.stop()
            self._refresh_timer = None
        self._last_refresh = monotonic()
        self.refresh_views()

    def on_scan_ended(self, message: ScanEnded) -> None:
        """The scan ended: final rows, no more progress bar."""
        self._refresh_now()
        if self.active_tab == "details":
            self._show_details()

    def on_certificate_highlighted(self, message: CertificateHighlighted) -> None:
        """Details follow the cursor of the table in use."""
        if message.table is self.active_table:
            self.chosen = message.sha256

    def on_certificate_chosen(self, message: CertificateChosen) -> None:
        """``enter`` on a row: its details."""
        self.chosen = message.sha256
        self.action_show_tab("details")

    def on_mark_toggled(self, message: MarkToggled) -> None:
        """Marks show on both tables and in the status line."""
        for tab in ("required", "all"):
            if self.table(tab) is not message.table:
                self.table(tab).refresh()
        self._update_status()

    def on_sort_requested(self, message: SortRequested) -> None:
        """Another sort column or order."""
        self.sort_key = message.key
        self.sort_reverse = message.reverse
        self.refresh_views()
        self.notify(
            f"Sorted by {SORT_TITLES[message.key]}" + (", reversed" if message.reverse else ""),
            timeout=1.5,
            markup=False,
        )

    @on(TabbedContent.TabActivated, "#tabs")
    def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        tab = event.pane.id or ""
        if tab in ("required", "all"):
            self._source = tab
            table = self.table(tab)
            self._rebuild(table)
            row = table.highlighted
            if row is not None:
                self.chosen = row.sha256
            table.focus()
        elif tab == "details":
            self._show_details()
            self._focus_inside(event.pane)
        elif tab == "settings":
            self._focus_inside(event.pane)
            self._backup_status()
        self._update_status()

    @work(exclusive=True, group="backup-status", exit_on_error=False, description="backups")
    async def _backup_status(self) -> None:
        """Look up the backup schedule and the last run for the Settings tab."""
        from core.schedule import backup_status

        app = self.certdeck
        try:
            status = await asyncio.to_thread(backup_status, app.settings, RootFS(app.root))
            lines = status.describe()
        except (OSError, CertdeckError) as exc:
            lines = [f"could not be read: {visible(str(exc))}"]
        self.query_one("#settings-form", SettingsForm).show_backup_status(lines)

    def _focus_inside(self, pane: Widget) -> None:
        for widget in pane.query("*"):
            if widget.focusable:
                widget.focus()
                return
        self.set_focus(None)

    def _show_details(self) -> None:
        app = self.certdeck
        catalog = app.catalog
        record = catalog.records.get(self.chosen) if self.chosen else None
        self.query_one(DetailsView).show(
            record,
            catalog.inventory(app.root, app.now),
            app.now,
            revocation=catalog.revocation.get(self.chosen) if self.chosen else None,
            clock=app.clock(),
        )

    def action_filter(self) -> None:
        """Show the filter field and type into it."""
        if self.active_tab not in ("required", "all"):
            self.action_show_tab(self._source)
        self.query_one("#filter-bar").display = True
        self.filter_input.focus()

    def action_focus_table(self) -> None:
        """Back to the table, keeping the filter."""
        if not self.filter_text:
            self.query_one("#filter-bar").display = False
        table = self.active_table or self.table(self._source)
        table.focus()

    def action_clear_filter(self) -> None:
        """Clear the filter and go back to the table."""
        if self.filter_input.value:
            self.filter_input.value = ""
        self._set_filter("")
        self.action_focus_table()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self._set_filter(event.value)

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        self.action_focus_table()

    def _set_filter(self, text: str) -> None:
        if text == self.filter_text:
            return
        self.filter_text = text
        table = self.active_table
        if table is not None:
            self._rebuild(table)
        self._update_status()

    def action_toggle_problems(self) -> None:
        """Show only certificates with errors or warnings, or everything again."""
        self.problems_only = not self.problems_only
        self.refresh_views()
        self.notify(
            "Showing only certificates with errors or warnings"
            if self.problems_only
            else "Showing every certificate",
            timeout=2,
            markup=False,
        )

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Offer keys only where they do something."""
        if action == "cancel_scan":
            return self.certdeck.scanning
        if action == "rescan":
            # One scan at a time: escape stops the running one first.
            return not self.certdeck.scanning
        if action == "cancel_revocation":
            return self.checking_revocation and not self.certdeck.scanning
        if action == "back":
            return self.active_tab in ("details", "settings")
        if action == "clear_filter":
            return bool(self.filter_text) or self.filter_input.has_focus
        return True

    def action_show_tab(self, tab: str) -> None:
        """Switch to a tab by id."""
        if tab in TABS:
            self.tabbed.active = tab

    def _in_settings_form(self) -> bool:
        focused = self.focused
        return focused is not None and focused in self.query_one(SettingsForm).query("*")

    def action_next_tab(self) -> None:
        """The tab to the right (in the settings form: the next field)."""
        if self._in_settings_form():
            self.focus_next()
            return
        index = TABS.index(self.active_tab)
        self.action_show_tab(TABS[(index + 1) % len(TABS)])

    def action_previous_tab(self) -> None:
        """The tab to the left (in the settings form: the previous field)."""
        if self._in_settings_form():
            self.focus_previous()
            return
        index = TABS.index(self.active_tab)
        self.action_show_tab(TABS[(index - 1) % len(TABS)])

    def action_back(self) -> None:
        """Back to the table looked at last."""
        self.action_show_tab(self._source)

    def action_rescan(self) -> None:
        """Scan again; the cursor and the filter stay."""
        self.certdeck.scan()

    def action_cancel_scan(self) -> None:
        """Stop the running scan."""
        self.certdeck.cancel_scan()

    @property
    def checking_revocation(self) -> bool:
        """Whether a revocation check is running."""
        worker = self._revocation
        return worker is not None and not worker.is_finished

    def revocation_targets(self) -> tuple[list[CertificateRecord], str]:
        """What ``R`` checks, and those certificates in words: the marked ones if any, else
        the required ones in the scope, else every certificate in the scope."""
        app = self.certdeck
        catalog = app.catalog
        if app.marked:
            records = [catalog.records[s] for s in sorted(app.marked) if s in catalog.records]
            return records, f"the {_certificates(len(records), 'marked')}"
        rows = catalog.required(self.scope, self.sort_key, self.sort_reverse)
        if rows:
            return [r.record for r in rows], f"the {_certificates(len(rows), 'required')}"
        rows = catalog.sorted(self.scope, self.sort_key, self.sort_reverse)
        words = f"all {_certificates(len(rows))}"
        if self.scope.kind is not ScopeKind.ALL:
            words += f" in {visible(self.scope.label)}"
        return [r.record for r in rows], words

    def action_check_revocation(self) -> None:
        """Check the CRLs and OCSP responders of the marked or required certificates."""
        app = self.certdeck
        if self.checking_revocation:
            self.notify(
                "A revocation check is still running; its results show when it ends "
                "(escape stops it).",
                title="Revocation",
                markup=False,
            )
            return
        if app.scanning:
            self.notify(
                "The scan is still running; check revocation once it has finished.",
                title="Revocation",
                markup=False,
            )
            return
        records, words = self.revocation_targets()
        if not records:
            self.notify("There is no certificate here to check.", title="Revocation", markup=False)
            return
        self._revocation_count = len(records)
        self.notify(
            f"Checking revocation of {words}: this connects to the CRL and OCSP servers named "
            f"in them (for at most {app.revocation_time_limit:g} s; escape stops it).",
            title="Revocation check",
            markup=False,
        )
        self._revocation = self._check_revocation(records)
        self._update_status()

    def action_cancel_revocation(self) -> None:
        """Stop the running revocation check."""
        if self._revocation is not None:
            self._revocation.cancel()

    @work(exclusive=True, group="revocation", exit_on_error=False, description="revocation check")
    async def _check_revocation(self, records: list[CertificateRecord]) -> None:
        """Ask the CRL and OCSP servers, then show the results in the tables and details."""
        from core.revocation import check_revocation, read_crl_files

        app = self.certdeck
        inventory = app.catalog.inventory(app.root, app.now)
        try:
            local, unusable = await asyncio.to_thread(read_crl_files, inventory.crl_files)
            report = await check_revocation(
                records,
                now=app.clock(),
                local_crls=local,
                issuers=inventory.certificates,
                fetch=app.revocation_fetch,
                request_timeout=app.revocation_timeout,
                time_limit=app.revocation_time_limit,
            )
        except asyncio.CancelledError:
            self.notify(
                "The revocation check was stopped; nothing changed.",
                title="Revocation check",
                markup=False,
            )
            raise
        if unusable:
            report = replace(report, unreadable=(*report.unreadable, *unusable))
        app.catalog.apply_revocation(report)
        self.refresh_views()
        if self.active_tab == "details":
            self._show_details()
        summary, severity = revocation_summary(report)
        self.notify(
            summary[0].upper() + summary[1:] + ".",
            title="Revocation checked",
            severity=severity,
            timeout=10,
            markup=False,
        )

    def action_unreadable(self) -> None:
        """The files that could not be read, with reasons."""
        from tui.screens.unreadable import UnreadableScreen

        self.app.push_screen(UnreadableScreen(tuple(self.certdeck.catalog.unreadable)))

    def action_scope(self) -> None:
        """Choose a scope."""
        self._choose_scope()

    def action_export(self) -> None:
        """Export certificates: the wizard asks what, how and where."""
        self._export_wizard()

    @work(exclusive=True, group="export-wizard", exit_on_error=False, description="export")
    async def _export_wizard(self) -> None:
        from tui.screens.export_wizard import ExportWizard

        app = self.certdeck
        row = self.highlighted_row()
        wizard = ExportWizard(
            app.catalog.inventory(app.root, app.now),
            root=RootFS(app.root),
            settings=app.settings,
            settings_path=app.settings_path,
            highlighted=row.sha256 if row is not None else None,
            marked=app.marked,
            scope=self.scope,
        )
        outcome = await app.push_screen_wait(wizard)
        if outcome is None:
            return
        if outcome.settings is not None:
            await self.use_settings(outcome.settings)
        count = len(outcome.result.files)
        self.notify(
            f"{count} file{'s' if count != 1 else ''} written to "
            f"{visible(outcome.result.destination)}.",
            title="Export done",
            markup=False,
        )

    def action_clean_up(self) -> None:
        """Clean up the highlighted certificate (refused, with the reason, when it is used)."""
        row = self.highlighted_row()
        if row is None:
            self.notify("Highlight a certificate first.", title="Clean up", markup=False)
            return
        self._cleanup_wizard(row.sha256)

    def action_clean_up_obsolete(self) -> None:
        """Clean up every obsolete certificate."""
        self._cleanup_wizard("obsolete")

    @work(exclusive=True, group="cleanup-wizard", exit_on_error=False, description="clean-up")
    async def _cleanup_wizard(self, selection: str) -> None:
        from tui.screens.cleanup_wizard import CleanupWizard, quarantine_folder

        app = self.certdeck
        fs = RootFS(app.root)
        outcome = await app.push_screen_wait(
            CleanupWizard(
                app.catalog.inventory(app.root, app.now),
                root=fs,
                settings=app.settings,
                settings_path=app.settings_path,
                selection=selection,
                quarantine=quarantine_folder(fs, demo=app.demo),
            )
        )
        if outcome is not None:
            app.scan()

    def action_undo_clean_up(self) -> None:
        """Undo the last clean-up."""
        self._undo_wizard()

    @work(exclusive=True, group="undo-wizard", exit_on_error=False, description="undo")
    async def _undo_wizard(self) -> None:
        from tui.screens.cleanup_wizard import UndoCleanupScreen, quarantine_folder

        app = self.certdeck
        fs = RootFS(app.root)
        result = await app.push_screen_wait(
            UndoCleanupScreen(root=fs, quarantine=quarantine_folder(fs, demo=app.demo))
        )
        if result is not None:
            app.scan()

    def action_backup(self) -> None:
        """Back up every required certificate and key now."""
        self._backup_wizard()

    @work(exclusive=True, group="backup-wizard", exit_on_error=False, description="backup")
    async def _backup_wizard(self) -> None:
        from core.backup import backup_run_path
        from tui.screens.backup_wizard import BackupWizard

        app = self.certdeck
        fs = RootFS(app.root)
        await app.push_screen_wait(
            BackupWizard(
                app.catalog.inventory(app.root, app.now),
                root=fs,
                settings=app.settings,
                settings_path=app.settings_path,
                run_record=None if app.demo else backup_run_path(fs),
            )
        )

    def action_restore(self) -> None:
        """Restore a backup."""
        self._restore_wizard()

    @work(exclusive=True, group="restore-wizard", exit_on_error=False, description="restore")
    async def _restore_wizard(self) -> None:
        from core.backup import backup_directory, backup_password_file
        from tui.screens.cleanup_wizard import quarantine_folder
        from tui.screens.restore_wizard import RestoreWizard

        app = self.certdeck
        fs = RootFS(app.root)
        outcome = await app.push_screen_wait(
            RestoreWizard(
                root=fs,
                backups=backup_directory(app.settings, fs),
                quarantine=quarantine_folder(fs, demo=app.demo),
                password_file=backup_password_file(app.settings, fs),
            )
        )
        if outcome is not None:
            app.scan()

    def action_create(self) -> None:
        """Create a server certificate for this host."""
        self._create_wizard()

    @work(exclusive=True, group="create-wizard", exit_on_error=False, description="create")
    async def _create_wizard(self) -> None:
        from core.importer import import_directory
        from tui.screens.create_wizard import CreateWizard

        app = self.certdeck
        fs = RootFS(app.root)
        outcome = await app.push_screen_wait(
            CreateWizard(
                root=fs,
                now=app.now or datetime.now(UTC),
                destination=import_directory(app.settings, fs),
            )
        )
        if outcome is not None:
            app.scan()

    def action_trust(self) -> None:
        """Add the highlighted CA to the system trust store, or remove it."""
        row = self.highlighted_row()
        if row is None or not row.record.cert.is_ca:
            self.notify(
                "Highlight a CA certificate to add it to the trust store or remove it.",
                title="Trust",
                markup=False,
            )
            return
        self._trust_wizard(row.record)

    @work(exclusive=True, group="trust-wizard", exit_on_error=False, description="trust")
    async def _trust_wizard(self, record: CertificateRecord) -> None:
        from tui.screens.trust_wizard import TrustWizard

        app = self.certdeck
        outcome = await app.push_screen_wait(
            TrustWizard(record.cert, root=RootFS(app.root), now=app.now or datetime.now(UTC))
        )
        if outcome is not None:
            app.scan()

    def action_probe(self) -> None:
        """Connect to a TLS server and judge its chain (only when asked)."""
        self._probe_wizard()

    @work(exclusive=True, group="probe-wizard", exit_on_error=False, description="probe")
    async def _probe_wizard(self) -> None:
        from tui.screens.probe_wizard import ProbeWizard

        app = self.certdeck
        await app.push_screen_wait(
            ProbeWizard(
                app.catalog.inventory(app.root, app.now),
                root=RootFS(app.root),
                now=app.now or datetime.now(UTC),
            )
        )

    def action_import(self) -> None:
        """Import a certificate file: the wizard asks which, opens it and writes it."""
        self._import_wizard()

    @work(exclusive=True, group="import-wizard", exit_on_error=False, description="import")
    async def _import_wizard(self) -> None:
        from tui.screens.import_wizard import ImportWizard

        app = self.certdeck
        inventory = app.catalog.inventory(app.root, app.now)
        try:
            home = Path.home()
        except RuntimeError:  # no HOME and no password database entry
            home = Path("/")
        wizard = ImportWizard(
            inventory,
            root=RootFS(app.root),
            settings=app.settings,
            settings_path=app.settings_path,
            start=home,
        )
        outcome = await app.push_screen_wait(wizard)
        if outcome is None:
            return
        if outcome.settings is not None:
            await self.use_settings(outcome.settings)
        if outcome.written:
            try:
                await app.scan().wait()
            except (WorkerCancelled, WorkerFailed):
                return  # the scan reports its own end
        self.highlight(outcome.highlight)

    async def use_settings(self, settings: Settings) -> None:
        """Settings saved elsewhere (a wizard) are used from now on; the Settings tab shows them.

        No rescan here: the caller scans when the change needs one.
        """
        app = self.certdeck
        form = self.query_one(SettingsForm)
        pane = self.query_one("#settings", TabPane)
        had_focus = self._in_settings_form()
        if form.query(".setting.-modified"):
            self.notify(
                "The Settings tab had unsaved changes; it now shows the settings as saved.",
                title="Settings reloaded",
                severity="warning",
                markup=False,
            )
        await form.remove()
        fresh = SettingsForm(settings, app.settings_path, None, id="settings-form")
        await pane.mount(fresh)
        if had_focus:
            fresh.focus()
        app.settings = settings
        app.settings_problem = None

    def highlight(self, fingerprints: Sequence[str]) -> None:
        """Put the cursor of the All tab on the first of these certificates that was found."""
        app = self.certdeck
        found = next((sha for sha in fingerprints if sha in app.catalog.records), None)
        if found is None:
            if fingerprints:
                self.notify(
                    "The rescan did not find the imported certificate: its folder is not "
                    "scanned (see scan.paths in Settings).",
                    title="Not in the inventory",
                    severity="warning",
                    markup=False,
                )
            return
        table = self.table("all")
        self.action_show_tab("all")
        self._rebuild(table)
        if not table.move_to(found) and (self.filter_text or self.scope.kind is not ScopeKind.ALL):
            # The filter or the scope hides it: show everything so it can be highlighted.
            self.filter_input.value = ""
            self._set_filter("")
            self.query_one("#filter-bar").display = False
            self.set_scope(ALL)
            self._rebuild(table)
            table.move_to(found)
        self.chosen = found
        table.focus()
        self._update_status()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Wizards and pickers of this screen that fail unexpectedly say so."""
        worker = event.worker
        if worker.group == "revocation" and worker.is_finished:
            self._update_status()
        if event.state is WorkerState.ERROR:
            self.certdeck.report_failure(worker.description or "work", worker.error)

    @work(exclusive=True, group="scope-picker", exit_on_error=False, description="scope picker")
    async def _choose_scope(self) -> None:
        from tui.screens.scope import ScopeScreen

        app = self.certdeck
        inventory = app.catalog.inventory(app.root, app.now)
        scope = await app.push_screen_wait(ScopeScreen(inventory, app.catalog, self.scope))
        if scope is not None:
            self.set_scope(scope)

    def set_scope(self, scope: Scope) -> None:
        """Look at one store, one service or everything."""
        self.scope = scope
        self.refresh_views()

    def action_copy_pem(self) -> None:
        """Copy the highlighted certificate's PEM to the clipboard."""
        row = self.highlighted_row()
        if row is None:
            self.notify("No certificate is highlighted.", severity="warning", markup=False)
            return
        self.app.copy_to_clipboard(pem(row.record))
        self.notify(f"PEM of {row.name} copied to the clipboard.", markup=False)

    def action_copy_fingerprint(self) -> None:
        """Copy the highlighted certificate's SHA-256 fingerprint."""
        row = self.highlighted_row()
        if row is None:
            self.notify("No certificate is highlighted.", severity="warning", markup=False)
            return
        self.app.copy_to_clipboard(row.sha256)
        self.notify(f"SHA-256 of {row.name} copied to the clipboard.", markup=False)

    def action_mark_shown(self) -> None:
        """Mark every certificate the table shows."""
        table = self.active_table or self.table(self._source)
        self.certdeck.marked.update(r.sha256 for r in table.rows)
        self._refresh_marks()

    def action_unmark_all(self) -> None:
        """Remove every mark."""
        self.certdeck.marked.clear()
        self._refresh_marks()

    def _refresh_marks(self) -> None:
        for tab in ("required", "all"):
            self.table(tab).refresh()
        self._update_status()

    def show_certificate(self, sha256: str) -> None:
        """Details of a certificate (from the command palette)."""
        self.chosen = sha256
        for tab in ("all", "required"):
            self.table(tab).move_to(sha256)
        if self.active_tab == "details":
            self._show_details()
        else:
            self.action_show_tab("details")

    @on(SettingsForm.Saved)
    def _settings_saved(self, event: SettingsForm.Saved) -> None:
        self.certdeck.apply_settings(event.settings, event.path)
        self.notify("Scanning again with the saved settings.", markup=False)
