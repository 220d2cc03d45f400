"""Everything certdeck knows about one certificate, in a scrollable, keyboard-driven view.

Certificate text is hostile (DESIGN.md, *Safety rules* 1): every string that comes from a
certificate, a configuration or the file system goes through :func:`core.text.visible` and is
rendered as :class:`rich.text.Text`, never as markup.
"""

from __future__ import annotations

import base64
import textwrap
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import ClassVar

from rich.console import Group, RenderableType
from rich.rule import Rule
from rich.style import Style
from rich.table import Table
from rich.text import Text
from rich.tree import Tree
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.theme import Theme
from textual.widgets import Static

from core.findings import relative_time, sort_findings
from core.model import CertificateRecord, Finding, Inventory, Severity
from core.revocation import CertRevocation, SourceCheck
from core.text import visible

__all__ = ["DetailsView", "finding_advice", "pem"]

HINT = "Highlight a certificate and press enter"
NOT_CHECKED = (
    "Not checked yet: press R to check the CRLs and OCSP responders (this connects to them)."
)

SYMBOLS: dict[Severity, str] = {
    Severity.ERROR: "✖",
    Severity.WARNING: "▲",
    Severity.INFO: "•",
}
"""Status symbols that carry the severity without colour."""
OK_SYMBOL = "✔"

_ADVICE: dict[str, str] = {
    "expired": (
        "The certificate is no longer valid and clients reject it; renew or replace it and "
        "reload every service that uses it, or remove it if nothing needs it any more."
    ),
    "not_yet_valid": (
        "The certificate only becomes valid at a future date, so clients reject it until then; "
        "check the clocks of this server and of the issuing CA, or keep the previous "
        "certificate in service until this one starts."
    ),
    "expiring": (
        "The certificate expires soon; renew it now and reload the services that use it, "
        "before clients start to fail."
    ),
    "untrusted": (
        "No chain to a trusted root could be built, so clients will refuse it; serve the "
        "missing intermediate certificates with it (a full-chain file), or add its root as a "
        "trust anchor in the settings if you run that CA yourself."
    ),
    "self_signed": (
        "The certificate vouches for itself, so only clients that have it installed trust it; "
        "that is fine for internal use, otherwise replace it with one issued by a trusted CA."
    ),
    "key_mismatch": (
        "The private key configured with this certificate belongs to another certificate, so "
        "the service fails to start or to complete handshakes; point the configuration at the "
        "matching key or reissue the certificate for the configured key."
    ),
    "key_missing": (
        "A service uses this certificate but its private key file is missing or unreadable, so "
        "the service cannot use it; restore the key file (check its path and permissions) or "
        "reissue the certificate with a new key."
    ),
    "key_permissions": (
        "Users other than the owner can read the private key; restrict it with chmod 600 (or "
        "640 with a dedicated group) and replace the key if untrusted users may have read it."
    ),
    "weak_key": (
        "The key is too small or uses an obsolete algorithm, so it can be broken or is refused "
        "by modern clients; create a new key (RSA of at least 2048 bits or EC P-256 or better) "
        "and reissue the certificate."
    ),
    "weak_signature": (
        "The certificate is signed with a broken hash (MD5 or SHA-1) that can be forged and "
        "that modern clients refuse; have it reissued with a SHA-256 signature."
    ),
    "wildcard": (
        "The certificate covers every host under a domain, so one stolen key impersonates all "
        "of them; prefer certificates that list the exact host names, and guard this key well."
    ),
    "superseded": (
        "A newer certificate with the same subject and names exists; move anything still "
        "using this one to the newer certificate, then remove this one."
    ),
    "duplicate": (
        "The same certificate is stored in several files, which makes it easy to miss one "
        "when renewing; keep one copy and replace the others with symbolic links to it, or "
        "remove them."
    ),
    "unused": (
        "No service configuration or declared consumer uses this certificate; if something "
        "does use it, declare it under [[consumers]] in the settings, otherwise it may be "
        "left over."
    ),
    "obsolete": (
        "Nothing uses it and it is expired or superseded outside the trust store, so it is "
        "safe to clean up; the clean-up moves it to the quarantine, from where it can be "
        "restored."
    ),
    "expiry_not_checked": (
        "The certificate is expired or expiring, but every consumer that uses it is declared "
        "with check_expiry = false, so this is only a note; make sure the application really "
        "ignores expiry, and renew the certificate when you can."
    ),
    "revoked": (
        "The issuing CA has revoked this certificate and clients that check revocation refuse "
        "it; replace it with a newly issued certificate at once and find out why it was "
        "revoked."
    ),
    "revocation_unreachable": (
        "The revocation status could not be checked because the CRL or OCSP server could not "
        "be reached; check that this machine may connect to it, then check again."
    ),
    "crl_stale": (
        "The revocation list is past its next-update time, so a recent revocation may be "
        "missing from it; check again later and tell the CA if its list stays out of date."
    ),
}

_GENERIC_ADVICE = (
    "certdeck has no advice for this finding yet; the message above says what was found."
)


def finding_advice(code: str) -> str:
    """One sentence on what a finding means and what to do about it."""
    return _ADVICE.get(code, _GENERIC_ADVICE)


def pem(record: CertificateRecord) -> str:
    """The certificate in PEM, 64 base64 characters a line, ending with a newline."""
    body = base64.b64encode(record.cert.der).decode("ascii")
    lines = textwrap.wrap(body, 64)
    return "\n".join(["-----BEGIN CERTIFICATE-----", *lines, "-----END CERTIFICATE-----"]) + "\n"


def _hex_pairs(hex_text: str) -> str:
    """``ab12cd`` as ``AB:12:CD``, the way ``openssl`` prints fingerprints."""
    upper = hex_text.upper()
    return ":".join(upper[i : i + 2] for i in range(0, len(upper), 2))


def _fingerprint_lines(hex_text: str) -> list[str]:
    """Colon-separated fingerprint, 16 bytes a line so it reads well at 80 columns."""
    pairs = _hex_pairs(hex_text).split(":")
    return [":".join(pairs[i : i + 16]) for i in range(0, len(pairs), 16)]


def _date(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _age(when: datetime, now: datetime) -> str:
    """How long ago something happened: ``just now`` within a minute (or in the future)."""
    if (now - when).total_seconds() < 60:
        return "just now"
    return relative_time(when, now)


_STATUS_SEVERITY: dict[str, Severity | None] = {
    "good": None,
    "revoked": Severity.ERROR,
    "unknown": Severity.WARNING,
    "unreachable": Severity.WARNING,
}

_STATUS_WORDS: dict[str, str] = {
    "good": "good",
    "revoked": "REVOKED",
    "unknown": "unknown",
    "unreachable": "unreachable",
    "no_sources": "no revocation information",
    "skipped": "not checked",
}

_STATUS_NOTES: dict[str, str] = {
    "good": "not revoked according to its CRL or OCSP responder",
    "unknown": "no source says good or revoked (an unknown serial, or an out-of-date CRL)",
    "unreachable": "no CRL or OCSP responder gave a usable answer",
    "no_sources": "the certificate names no CRL or OCSP responder",
    "skipped": "trust anchors and self-signed certificates have no issuer that could revoke them",
}

_KIND_WORDS: dict[str, str] = {
    "crl": "CRL",
    "ocsp": "OCSP",
    "ca_issuers": "CA issuer",
    "crl-file": "CRL file",
}

_VERDICT_WORDS: dict[str, str] = {
    "not_checked": "not checked",
    "not_needed": "not needed",
}


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _symbol(record: CertificateRecord) -> tuple[str, Severity | None]:
    worst = record.worst
    return (OK_SYMBOL if worst is None else SYMBOLS[worst]), worst


class _Palette:
    """The rich styles of the view, taken from the widget's component classes."""

    def __init__(self, styles: dict[str, Style]) -> None:
        self.heading = styles["details--heading"]
        self.title = styles["details--title"]
        self.label = styles["details--label"]
        self.muted = styles["details--muted"]
        self.ok = styles["details--ok"]
        self.severity = {
            Severity.ERROR: styles["details--error"],
            Severity.WARNING: styles["details--warning"],
            Severity.INFO: styles["details--info"],
        }

    def status(self, severity: Severity | None) -> Style:
        return self.ok if severity is None else self.severity[severity]


def _text(value: str, style: Style | str = "") -> Text:
    """Hostile text made visible, wrapped by folding long words (paths, fingerprints)."""
    return Text(visible(value), style=style, overflow="fold")


def _piece(text: str, style: Style | str) -> Text:
    """A text whose style covers only these characters, not what is appended later."""
    piece = Text()
    piece.append(text, style=style)
    return piece


def _lines(values: Iterable[str], style: Style | str = "") -> Text:
    """One line per value, each made visible (a newline inside a value shows as ␊)."""
    return Text("\n".join(visible(value) for value in values), style=style, overflow="fold")


class _Builder:
    """Builds the renderables of the details of one certificate."""

    def __init__(
        self,
        record: CertificateRecord,
        index: Mapping[str, CertificateRecord],
        now: datetime,
        palette: _Palette,
        revocation: CertRevocation | None = None,
        clock: datetime | None = None,
    ) -> None:
        self.record = record
        self.index = index
        self.now = now
        self.p = palette
        self.revocation = revocation
        self.clock = clock or now
        self.parts: list[RenderableType] = []

    def build(self) -> Group:
        self.title()
        self.summary()
        self.findings()
        self.revocation_section()
        self.chain()
        self.used_by()
        self.locations()
        self.private_key()
        self.extensions()
        self.fingerprints()
        self.pem()
        return Group(*self.parts)

    def section(self, title: str) -> None:
        self.parts.append(Text(""))
        self.parts.append(Rule(Text(f" {title} ", style=self.p.heading), align="left"))

    def grid(self, rows: Iterable[tuple[str, Text | str]]) -> Table:
        table = Table.grid(padding=(0, 2))
        table.add_column(style=self.p.label, no_wrap=True)
        table.add_column(overflow="fold")
        for label, value in rows:
            table.add_row(label, value if isinstance(value, Text) else _text(value))
        return table

    def note(self, message: str) -> Text:
        return Text(message, style=self.p.muted)

    def title(self) -> None:
        symbol, worst = _symbol(self.record)
        line = _piece(f"{symbol} ", self.p.status(worst))
        line.append_text(_text(self.record.cert.display_name, self.p.title))
        self.parts.append(line)

    def summary(self) -> None:
        cert = self.record.cert
        self.section("Summary")
        key = f"{cert.key.type}, {cert.key.bits} bits"
        if cert.key.curve:
            key += f", curve {cert.key.curve}"
        self.parts.append(
            self.grid(
                [
                    ("Name", cert.display_name),
                    ("Subject", cert.subject or "(empty)"),
                    ("Issuer", cert.issuer or "(empty)"),
                    ("Type", cert.role),
                    ("Valid from", self.validity_from()),
                    ("Valid until", self.validity_until()),
                    ("Serial", cert.serial),
                    ("Key", key),
                    ("Signature", cert.signature_algorithm),
                    ("Trust anchor", _yes(self.record.trust_anchor)),
                    ("Required", self.required()),
                ]
            )
        )

    def validity_from(self) -> Text:
        start = self.record.cert.not_before
        text = _text(_date(start))
        if start > self.now:
            warn = self.p.severity[Severity.ERROR]
            text.append(f"  (not valid yet: starts {relative_time(start, self.now)})", warn)
        return text

    def validity_until(self) -> Text:
        end = self.record.cert.not_after
        text = _text(_date(end))
        when = relative_time(end, self.now)
        if end < self.now:
            text.append(f"  (expired {when})", self.p.severity[Severity.ERROR])
        elif self.record.has("expiring"):
            text.append(f"  (expires {when})", self.p.severity[Severity.WARNING])
        else:
            text.append(f"  (expires {when})", self.p.muted)
        return text

    def required(self) -> str:
        if not self.record.required:
            return "no"
        if self.record.used_by:
            return "yes, used by a service or a declared consumer"
        return "yes, it issues a certificate that is used"

    def findings(self) -> None:
        self.section("Findings")
        findings = sort_findings(self.record.findings)
        if not findings:
            self.parts.append(self.note("No findings"))
            return
        table = Table.grid(padding=(0, 1))
        table.add_column(no_wrap=True)
        table.add_column(overflow="fold")
        for finding in findings:
            table.add_row(*self.finding_row(finding))
        self.parts.append(table)

    def finding_row(self, finding: Finding) -> tuple[Text, Text]:
        style = self.p.severity[finding.severity]
        symbol = Text(SYMBOLS[finding.severity], style=style)
        body = _piece(visible(finding.code), style + Style(bold=True))
        body.overflow = "fold"
        body.append("  ")
        body.append_text(_text(finding.message))
        body.append("\n")
        body.append(finding_advice(finding.code), style=self.p.muted)
        return symbol, body

    def revocation_section(self) -> None:
        self.section("Revocation")
        result = self.revocation
        status = self.record.revocation
        if result is None:
            if status:
                # Set by the scan from the CRL files on this machine, without the network.
                self.parts.append(self.grid([("Status", self.revocation_status(status, None))]))
                self.parts.append(
                    self.note(
                        "From the CRL files on this machine. Press R to check the CRLs and "
                        "OCSP responders online (this connects to them)."
                    )
                )
                return
            self.parts.append(self.note(NOT_CHECKED))
            return
        checked = _text(_date(result.checked_at))
        checked.append(f"  ({_age(result.checked_at, self.clock)})", self.p.muted)
        rows: list[tuple[str, Text | str]] = [
            ("Status", self.revocation_status(result.status, result)),
            ("Checked", checked),
        ]
        if result.issuer:
            issuer = self.index.get(result.issuer)
            name = issuer.cert.display_name if issuer is not None else result.issuer
            rows.append(("Verified with", _text(name)))
        self.parts.append(self.grid(rows))
        if result.sources:
            self.parts.append(self.sources_table(result.sources))

    def revocation_status(self, status: str, result: CertRevocation | None) -> Text:
        """``✖ REVOKED: revoked on … (reason)``, ``✔ good: not revoked according to …``."""
        if status in _STATUS_SEVERITY:
            severity = _STATUS_SEVERITY[status]
            symbol = OK_SYMBOL if severity is None else SYMBOLS[severity]
            style = self.p.status(severity)
        else:
            symbol, style = "•", self.p.muted
        line = _piece(f"{symbol} {_STATUS_WORDS.get(status, visible(status))}", style)
        revoked = None
        if result is not None:
            revoked = next((s for s in result.sources if s.verdict == "revoked"), None)
        if revoked is not None and revoked.detail:
            line.append_text(_text(f": {revoked.detail}", style))
        elif status in _STATUS_NOTES:
            line.append_text(_text(f": {_STATUS_NOTES[status]}", self.p.muted))
        return line

    def sources_table(self, sources: Iterable[SourceCheck]) -> Table:
        table = Table(
            box=None,
            padding=(0, 1),
            pad_edge=False,
            show_edge=False,
            header_style=self.p.label,
            expand=False,
        )
        table.add_column("Source", no_wrap=True)
        table.add_column("URL or file", overflow="fold", ratio=1)
        table.add_column("Verdict", no_wrap=True)
        table.add_column("HTTP", no_wrap=True, justify="right")
        table.add_column("Time", no_wrap=True, justify="right")
        for source in sources:
            where = _text(source.location)
            explanation = source.explanation
            if explanation:
                where.append("\n")
                where.append_text(_text(explanation, self.p.muted))
            verdict = _VERDICT_WORDS.get(source.verdict, visible(source.verdict))
            http = str(source.http_status) if source.http_status is not None else ""
            latency = f"{source.latency_ms} ms" if source.latency_ms is not None else ""
            table.add_row(
                _KIND_WORDS.get(source.kind, visible(source.kind)),
                where,
                Text(verdict, style=self.verdict_style(source.verdict)),
                http,
                latency,
            )
        return table

    def verdict_style(self, verdict: str) -> Style:
        if verdict == "revoked":
            return self.p.severity[Severity.ERROR]
        if verdict == "good":
            return self.p.ok
        if verdict in ("unknown", "stale", "invalid", "failed"):
            return self.p.severity[Severity.WARNING]
        return self.p.muted

    def link_label(self, sha256: str) -> Text:
        known = self.index.get(sha256)
        if known is None:
            label = _piece("? not in the inventory, SHA-256\n", self.p.muted)
            label.append_text(_text(sha256))
            return label
        symbol, worst = _symbol(known)
        label = _piece(f"{symbol} ", self.p.status(worst))
        label.append_text(_text(known.cert.display_name))
        details = [known.cert.role]
        if known.trust_anchor:
            details.append("trust anchor")
        details += [f.code for f in sort_findings(known.findings)]
        label.append_text(_text(" · " + " · ".join(details), self.p.muted))
        return label

    def chain(self) -> None:
        self.section("Chain")
        record = self.record
        links = list(record.chain)
        if links and links[0] == record.sha256:
            links = links[1:]
        tree = Tree(self.own_label(), guide_style=self.p.muted)
        if links:
            node = tree
            for sha256 in links:
                node = node.add(self.link_label(sha256))
            self.parts.append(tree)
            return
        if record.trust_anchor:
            self.parts.append(tree)
            self.parts.append(self.note("This certificate is a trust anchor itself."))
            return
        issuer = _piece("issued by ", self.p.muted)
        issuer.append_text(_text(record.cert.issuer or "(empty issuer)"))
        tree.add(issuer)
        self.parts.append(tree)
        untrusted = next((f for f in record.findings if f.code == "untrusted"), None)
        if untrusted is None:
            self.parts.append(self.note("The chain was not evaluated."))
            return
        reason = _piece("No chain to a trust anchor was found: ", self.p.severity[Severity.ERROR])
        reason.append_text(_text(untrusted.message))
        self.parts.append(reason)

    def own_label(self) -> Text:
        symbol, worst = _symbol(self.record)
        label = _piece(f"{symbol} ", self.p.status(worst))
        label.append_text(_text(self.record.cert.display_name))
        details = [self.record.cert.role]
        if self.record.trust_anchor:
            details.append("trust anchor")
        label.append_text(_text(" · " + " · ".join(details), self.p.muted))
        return label

    def used_by(self) -> None:
        self.section("Used by")
        if not self.record.used_by:
            self.parts.append(self.note("No service configuration or declared consumer uses it."))
            return
        table = Table.grid(padding=(0, 2))
        table.add_column(no_wrap=True)
        table.add_column(overflow="fold")
        for use in self.record.used_by:
            where = _text(f"{use.config}:{use.line}")
            if use.role:
                where.append_text(_text(f"  ({use.role})", self.p.muted))
            table.add_row(_text(use.consumer, Style(bold=True)), where)
        self.parts.append(table)

    def locations(self) -> None:
        self.section("Locations")
        if not self.record.locations:
            self.parts.append(self.note("No locations recorded."))
            return
        for loc in self.record.locations:
            line = _text(loc.path)
            if loc.symlink_to is not None:
                line.append_text(_text(f" → {loc.symlink_to}", self.p.muted))
            self.parts.append(line)
            self.parts.append(
                _text(
                    f"  store {loc.store} · index {loc.index} · {loc.format}",
                    self.p.muted,
                )
            )

    def private_key(self) -> None:
        self.section("Private key")
        key = self.record.private_key
        if key is None:
            self.parts.append(self.note("No matching private key found."))
            return
        mode = _text(key.mode)
        try:
            loose = int(key.mode, 8) & 0o077
        except ValueError:
            loose = 0
        if loose:
            mode.append("  (readable by group or others)", self.p.severity[Severity.WARNING])
        self.parts.append(
            self.grid(
                [
                    ("Path", key.path),
                    ("Mode", mode),
                    ("Owner", key.owner or "unknown"),
                    ("Encrypted", _yes(key.encrypted)),
                    ("Format", key.format),
                ]
            )
        )

    def extensions(self) -> None:
        cert = self.record.cert
        self.section("Extensions")
        names = _lines(cert.names) if cert.names else self.note("none")
        constraints = f"CA: {_yes(cert.is_ca)}"
        if cert.is_ca:
            length = "unlimited" if cert.path_length is None else str(cert.path_length)
            constraints += f", path length: {length}"
        self.parts.append(
            self.grid(
                [
                    ("Key usage", ", ".join(cert.key_usage) or "none"),
                    ("Extended use", ", ".join(cert.extended_key_usage) or "none"),
                    ("Names (SAN)", names),
                    ("Constraints", constraints),
                    ("Subject key", _hex_pairs(cert.subject_key_id or "") or "none"),
                    ("Authority key", _hex_pairs(cert.authority_key_id or "") or "none"),
                ]
            )
        )

    def fingerprints(self) -> None:
        cert = self.record.cert
        self.section("Fingerprints")
        self.parts.append(
            self.grid(
                [
                    ("SHA-256", _lines(_fingerprint_lines(cert.sha256))),
                    ("SHA-1", _lines(_fingerprint_lines(cert.sha1))),
                ]
            )
        )

    def pem(self) -> None:
        self.section("PEM")
        self.parts.append(self.note("Press c to copy it to the clipboard."))
        self.parts.append(Text(pem(self.record).rstrip("\n")))


class DetailsView(VerticalScroll):
    """The details of one certificate: summary, findings, chain, users, files, PEM."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "details--heading",
        "details--title",
        "details--label",
        "details--muted",
        "details--ok",
        "details--error",
        "details--warning",
        "details--info",
    }

    DEFAULT_CSS = """
    DetailsView {
        height: 1fr;
        padding: 0 1;
    }
    DetailsView > #details-body {
        width: 1fr;
    }
    DetailsView > #details-body.-empty {
        color: $text-muted;
        text-align: center;
        padding-top: 2;
    }
    DetailsView > .details--heading {
        color: $accent;
        text-style: bold;
    }
    DetailsView > .details--title {
        text-style: bold;
    }
    DetailsView > .details--label {
        color: $text-muted;
    }
    DetailsView > .details--muted {
        color: $text-muted;
    }
    DetailsView > .details--ok {
        color: $success;
    }
    DetailsView > .details--error {
        color: $error;
        text-style: bold;
    }
    DetailsView > .details--warning {
        color: $warning;
    }
    DetailsView > .details--info {
        color: $primary;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "c",
            "copy_pem",
            "Copy PEM",
            id="copy_pem",
            tooltip="Copy the certificate in PEM to the clipboard (works over SSH)",
        ),
    ]

    def __init__(
        self,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
        disabled: bool = False,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        self._record: CertificateRecord | None = None
        self._inventory: Inventory | None = None
        self._index: Mapping[str, CertificateRecord] = {}
        self._now: datetime | None = None
        self._revocation: CertRevocation | None = None
        self._clock: datetime | None = None

    @property
    def record(self) -> CertificateRecord | None:
        """The certificate shown, if any."""
        return self._record

    def compose(self) -> ComposeResult:
        yield Static(Text(HINT), id="details-body", classes="-empty")

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, self._theme_changed)
        self._refresh_body()

    def _theme_changed(self, _theme: Theme) -> None:
        # Component styles are resolved when the content is built: rebuild with the new theme.
        self._refresh_body()

    def show(
        self,
        record: CertificateRecord | None,
        inventory: Inventory | None,
        now: datetime,
        *,
        revocation: CertRevocation | None = None,
        clock: datetime | None = None,
    ) -> None:
        """Show a certificate's details, or the hint when ``record`` is ``None``.

        Args:
            record: The certificate.
            inventory: The inventory it belongs to (for the chain's links).
            now: The evaluation time.
            revocation: The certificate's last online revocation check, if any.
            clock: The time the check's age is measured against (default ``now``).
        """
        same = (
            record is not None and self._record is not None and record.sha256 == self._record.sha256
        )
        self._record = record
        self._revocation = revocation if record is not None else None
        self._clock = clock
        if inventory is not self._inventory:
            # Built once per scan, not per shown certificate: inventories can be large.
            self._index = inventory.by_sha256() if inventory is not None else {}
            self._inventory = inventory
        self._now = now
        self._refresh_body()
        if not same:
            self.scroll_home(animate=False, immediate=True)
        self.refresh_bindings()

    def _refresh_body(self) -> None:
        if not self.is_mounted:
            return
        body = self.query_one("#details-body", Static)
        if self._record is None or self._now is None:
            body.add_class("-empty")
            body.update(Text(HINT))
            return
        body.remove_class("-empty")
        styles = {name: self.get_component_rich_style(name) for name in self.COMPONENT_CLASSES}
        builder = _Builder(
            self._record,
            self._index,
            self._now,
            _Palette(styles),
            self._revocation,
            self._clock,
        )
        body.update(builder.build())

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Copying needs a certificate: without one the key is shown disabled."""
        if action == "copy_pem" and self._record is None:
            return None
        return True

    def action_copy_pem(self) -> None:
        """Copy the PEM of the shown certificate to the clipboard (OSC 52)."""
        record = self._record
        if record is None:
            return
        self.app.copy_to_clipboard(pem(record))
        self.notify(f"PEM of {visible(record.cert.display_name)} copied", markup=False)
