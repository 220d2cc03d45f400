"""The command palette: every action as a "verb: object" command, and certificates by name.

Certificate text is hostile: hits are built as plain :class:`~textual.content.Content` (never
markup), and help lines, which the palette reads as markup, are escaped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from functools import partial
from typing import TYPE_CHECKING

from textual.app import SystemCommand
from textual.command import Hit, Hits, Provider
from textual.content import Content
from textual.markup import escape
from textual.style import Style

from core.text import visible
from tui.display import SORT_TITLES, SORTABLE, Row, expires_text

if TYPE_CHECKING:
    from tui.app import CertdeckApp
    from tui.screens.main import MainScreen

__all__ = ["CertificatesProvider", "match_row", "palette_commands"]

MAX_HITS = 40


def palette_commands(app: CertdeckApp) -> Iterator[SystemCommand]:
    """Every action of the app as a palette command."""

    def on_main(action: Callable[[MainScreen], object]) -> Callable[[], None]:
        def run() -> None:
            action(app.main)

        return run

    def tab(name: str) -> Callable[[], None]:
        return on_main(lambda m: m.action_show_tab(name))

    yield SystemCommand(
        "show: required certificates",
        "The certificates services use, and their issuers (key 1)",
        tab("required"),
    )
    yield SystemCommand("show: all certificates", "Every certificate found (key 2)", tab("all"))
    yield SystemCommand(
        "show: details", "Everything about the highlighted certificate (key 3)", tab("details")
    )
    yield SystemCommand("show: settings", "The settings file, editable (key 4)", tab("settings"))
    yield SystemCommand(
        "show: unreadable files",
        "Files that could not be read, with the reasons (key U)",
        on_main(lambda m: m.action_unreadable()),
    )
    yield SystemCommand("show: keys", "Every key and what it does (key ?)", app.action_help)
    yield SystemCommand("scan: rescan the machine", "Scan again (key r)", app.scan)
    if app.scanning:
        yield SystemCommand("scan: cancel", "Stop the running scan (key escape)", app.cancel_scan)
    yield SystemCommand(
        "scope: choose",
        "One store, one service, or everything (key s)",
        on_main(lambda m: m.action_scope()),
    )
    yield SystemCommand(
        "scope: everything",
        "Show every store and service",
        on_main(lambda m: m.set_scope(type(m.scope)())),
    )
    yield SystemCommand(
        "filter: certificates by text",
        "Name, SAN, issuer, path or fingerprint (key /)",
        on_main(lambda m: m.action_filter()),
    )
    yield SystemCommand(
        "filter: clear", "Show every certificate again", on_main(lambda m: m.action_clear_filter())
    )
    yield SystemCommand(
        "toggle: problems only",
        "Only certificates with errors or warnings (key !)",
        on_main(lambda m: m.action_toggle_problems()),
    )
    for key in SORTABLE:
        yield SystemCommand(
            f"sort: by {SORT_TITLES[key]}",
            "Sort the tables by this column (key o cycles)",
            partial(_sort, app, key),
        )
    yield SystemCommand(
        "sort: reverse order", "Reverse the sort order (key O)", partial(_sort_reverse, app)
    )
    yield SystemCommand(
        "mark: every shown certificate",
        "Mark all rows of the table on show (space marks one)",
        on_main(lambda m: m.action_mark_shown()),
    )
    yield SystemCommand(
        "unmark: every certificate", "Remove all marks", on_main(lambda m: m.action_unmark_all())
    )
    yield SystemCommand(
        "export: certificates",
        "The highlighted, marked, required or scoped ones, as PKCS#12 or PEM (key e)",
        on_main(lambda m: m.action_export()),
    )
    yield SystemCommand(
        "import: a file",
        "A PKCS#12, PEM, DER or PKCS#7 file with its key (key i)",
        on_main(lambda m: m.action_import()),
    )
    yield SystemCommand(
        "clean: the highlighted certificate",
        "Into the quarantine, if nothing uses it (key d)",
        on_main(lambda m: m.action_clean_up()),
    )
    yield SystemCommand(
        "clean: every obsolete certificate",
        "Unused and expired or superseded, into the quarantine (key D)",
        on_main(lambda m: m.action_clean_up_obsolete()),
    )
    yield SystemCommand(
        "undo: the last clean-up",
        "Put back what it moved into the quarantine (key u)",
        on_main(lambda m: m.action_undo_clean_up()),
    )
    yield SystemCommand(
        "backup: certificates and keys now",
        "A verified, password-protected archive (key b)",
        on_main(lambda m: m.action_backup()),
    )
    yield SystemCommand(
        "restore: a backup",
        "Put its files back in place, or move a server's certificates here (key B)",
        on_main(lambda m: m.action_restore()),
    )
    yield SystemCommand(
        "create: a server certificate",
        "For this host's names and addresses, self-signed or from a local CA (key n)",
        on_main(lambda m: m.action_create()),
    )
    yield SystemCommand(
        "trust: add or remove the highlighted CA",
        "In the system trust store, files and commands shown first (key t)",
        on_main(lambda m: m.action_trust()),
    )
    yield SystemCommand(
        "probe: a TLS server",
        "Connect and judge the chain it serves (key p)",
        on_main(lambda m: m.action_probe()),
    )
    yield SystemCommand(
        "revocation: check CRLs and OCSP",
        "Of the marked, else the required certificates; connects to the CAs' servers (key R)",
        on_main(lambda m: m.action_check_revocation()),
    )
    if app.main.checking_revocation:
        yield SystemCommand(
            "revocation: stop the check",
            "Stop the running revocation check (key escape)",
            on_main(lambda m: m.action_cancel_revocation()),
        )
    yield SystemCommand(
        "copy: PEM of the highlighted certificate",
        "To the clipboard, also over SSH (key c)",
        on_main(lambda m: m.action_copy_pem()),
    )
    yield SystemCommand(
        "copy: SHA-256 fingerprint of the highlighted certificate",
        "To the clipboard",
        on_main(lambda m: m.action_copy_fingerprint()),
    )
    yield SystemCommand("app: quit", "Leave certdeck (key q)", app.action_quit)


def _sort(app: CertdeckApp, key: object) -> None:
    from tui.display import SortKey
    from tui.messages import SortRequested

    assert isinstance(key, SortKey)
    app.main.post_message(SortRequested(key, False))


def _sort_reverse(app: CertdeckApp) -> None:
    from tui.messages import SortRequested

    main = app.main
    main.post_message(SortRequested(main.sort_key, not main.sort_reverse))


def _needle(query: str) -> str:
    text = query.strip().casefold()
    return text.replace(":", "") if _hexish(text) else text


def match_row(row: Row, query: str) -> tuple[float, str] | None:
    """How well a certificate matches what was typed, and where: name, SAN, issuer, path,
    fingerprint.  ``None`` when it does not match."""
    needle = _needle(query)
    if not needle or needle not in row.haystack:
        return None
    name = row.name.casefold()
    if name == needle:
        return 1.0, "name"
    if name.startswith(needle):
        return 0.95, "name"
    if needle in name:
        return 0.9, "name"
    cert = row.record.cert
    for san in cert.names:
        if needle in visible(san).casefold():
            return 0.8, visible(san)
    if row.record.cert.sha256.startswith(needle) or cert.sha1.startswith(needle):
        return 0.85, "fingerprint"
    if needle in row.issuer.casefold() or needle in visible(cert.issuer).casefold():
        return 0.6, f"issuer {row.issuer}"
    for loc in row.record.locations:
        if needle in visible(loc.path).casefold():
            return 0.5, visible(loc.path)
    if needle in cert.sha256 or needle in cert.sha1:
        return 0.4, "fingerprint"
    return None


def _hexish(query: str) -> bool:
    text = query.strip()
    return ":" in text and all(c in "0123456789abcdefABCDEF:" for c in text)


class CertificatesProvider(Provider):
    """Finds certificates by name, SAN, issuer, path or fingerprint; opens their details."""

    async def search(self, query: str) -> Hits:
        """Certificates matching the query, best first."""
        from tui.app import CertdeckApp

        app = self.app
        if not isinstance(app, CertdeckApp):
            return
        found: list[tuple[float, str, Row, str]] = []
        needle = _needle(query)
        if not needle:
            return
        for count, row in enumerate(list(app.catalog.rows.values()), 1):
            # Most rows fail this quick test; the rest are scored.
            if needle in row.haystack:
                match = match_row(row, query)
                if match is not None:
                    found.append((match[0], row.name_key, row, match[1]))
            if count % 20000 == 0:
                # Let the screen breathe between chunks of a very large inventory.
                await asyncio.sleep(0)
        found.sort(key=lambda item: (-item[0], item[1]))
        highlight = Style(bold=True, underline=True)
        for score, _, row, where in found[:MAX_HITS]:
            display = Content.assemble(
                (f"{row.symbol} ", ""),
                (row.name, highlight if where == "name" else ""),
                ("  " + row.location, "dim"),
            )
            help_text = f"{row.issuer} · expires {expires_text(row.not_after, app.now)}"
            if where != "name":
                help_text += f" · matched {where}"
            yield Hit(
                score,
                display,
                partial(app.main.show_certificate, row.sha256),
                text=f"{row.name} {row.location}",
                help=escape(help_text),
            )
