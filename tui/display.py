"""What the tables show, as plain values: rows, columns, sorting, filtering and counts.

No Textual here: the widgets render these values, and tests check them without a terminal.
All certificate text passes through :func:`core.text.visible` on its way into a :class:`Row`.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from operator import attrgetter
from typing import Any, Literal, NamedTuple

from core.findings import relative_time
from core.model import CertificateRecord, Inventory, Location, Severity, Store, Unreadable
from core.revocation import CertRevocation, RevocationReport, with_revocation_findings
from core.scope import ALL, Scope, ScopeKind, in_scope
from core.text import visible

__all__ = [
    "COLUMNS",
    "REVOCATION_TEXT",
    "SYMBOL",
    "Catalog",
    "Column",
    "Counts",
    "Row",
    "SortKey",
    "build_row",
    "by_name",
    "column_widths",
    "count_rows",
    "expires_text",
    "filter_rows",
    "issuer_short",
    "primary_location",
    "refines",
    "revocation_summary",
    "revocation_text",
    "sort_rows",
]

SYMBOL: dict[Severity | None, str] = {
    Severity.ERROR: "✖",
    Severity.WARNING: "▲",
    Severity.INFO: "•",
    None: "✔",
}
"""Status symbols: readable without colour, in the order of severity."""

_RANK: dict[Severity | None, int] = {
    Severity.ERROR: 0,
    Severity.WARNING: 1,
    Severity.INFO: 2,
    None: 3,
}


class SortKey(enum.StrEnum):
    """The columns a table can be sorted by."""

    STATUS = "status"
    NAME = "name"
    ISSUER = "issuer"
    EXPIRES = "expires"
    TYPE = "type"
    USED_BY = "used_by"
    LOCATION = "location"
    REVOCATION = "revocation"
    FINDINGS = "findings"


@dataclass(frozen=True, slots=True)
class Column:
    """One table column: its title and how much room it gets."""

    key: str
    title: str
    minimum: int
    ideal: int
    weight: int
    """Share of the room left once every column has its minimum."""
    sort: SortKey | None
    short: str = ""
    """A title for when the full one (with the sort arrow) does not fit."""


COLUMNS: tuple[Column, ...] = (
    Column("mark", " ", 1, 1, 0, None),
    Column("status", " ", 1, 1, 0, SortKey.STATUS),
    Column("name", "Name", 20, 40, 4, SortKey.NAME),
    Column("issuer", "Issuer", 12, 24, 2, SortKey.ISSUER),
    Column("expires", "Expires", 22, 22, 0, SortKey.EXPIRES),
    Column("type", "Type", 10, 15, 1, SortKey.TYPE),
    Column("used_by", "Used by", 8, 16, 1, SortKey.USED_BY),
    Column("location", "Location", 16, 44, 4, SortKey.LOCATION),
    Column("revocation", "Revocation", 8, 11, 1, SortKey.REVOCATION, "Revoc."),
    Column("findings", "Findings", 10, 28, 2, SortKey.FINDINGS),
)
"""Every column in display order; the first two (mark, status) have no gap between them."""

SORTABLE: tuple[SortKey, ...] = tuple(c.sort for c in COLUMNS if c.sort is not None)
"""Sort keys in column order, for the key that cycles through them."""

SORT_TITLES: dict[SortKey, str] = {
    SortKey.STATUS: "status",
    SortKey.NAME: "name",
    SortKey.ISSUER: "issuer",
    SortKey.EXPIRES: "expiry",
    SortKey.TYPE: "type",
    SortKey.USED_BY: "used by",
    SortKey.LOCATION: "location",
    SortKey.REVOCATION: "revocation",
    SortKey.FINDINGS: "findings",
}

REVOCATION_TEXT: dict[str, str] = {
    "": "",
    "good": "good",
    "revoked": "REVOKED",
    "unknown": "unknown",
    "unreachable": "unreachable",
    "no_sources": "no info",
    "skipped": "\N{EN DASH}",
}
"""The revocation column's text per status (see :mod:`core.revocation`); blank when the
certificate was never checked, a dash for trust anchors and self-signed certificates."""

_REVOCATION_RANK: dict[str, int] = {
    "revoked": 0,
    "unknown": 1,
    "unreachable": 2,
    "no_sources": 3,
    "good": 4,
    "skipped": 5,
    "": 6,
}


def revocation_text(status: str) -> str:
    """What the revocation column shows for a record's revocation status."""
    return REVOCATION_TEXT.get(status, visible(status))


def revocation_summary(
    report: RevocationReport,
) -> tuple[str, Literal["information", "warning", "error"]]:
    """A check's outcome in one line (``12 good, 1 revoked, 2 unreachable …``) and the
    notification severity it deserves: ``error`` with a revoked certificate, ``warning`` when
    some could not be checked, else ``information``."""
    counts: dict[str, int] = {}
    for result in report.results:
        counts[result.status] = counts.get(result.status, 0) + 1
    words = (
        ("good", "good"),
        ("revoked", "revoked"),
        ("unknown", "unknown"),
        ("unreachable", "unreachable"),
        ("no_sources", "without revocation information"),
        ("skipped", "not checked (trust anchors and self-signed)"),
    )
    parts = [f"{counts[status]} {text}" for status, text in words if counts.get(status)]
    line = ", ".join(parts) if parts else "nothing to check"
    if report.unreadable:
        count = len(report.unreadable)
        line += f"; {count} local CRL file{'s' if count != 1 else ''} could not be used"
    if report.time_limit_reached:
        line += "; time limit reached"
    severity: Literal["information", "warning", "error"]
    if counts.get("revoked"):
        severity = "error"
    elif counts.get("unreachable") or counts.get("unknown") or report.time_limit_reached:
        severity = "warning"
    else:
        severity = "information"
    return line, severity


def gaps_before(index: int) -> int:
    """Blank cells before column ``index`` (none before the first two)."""
    return 0 if index <= 1 else 1


def column_widths(width: int) -> list[int]:
    """Widths of :data:`COLUMNS` for a table ``width`` cells wide.

    Every column gets its minimum; the room left goes to the columns by weight until each
    reaches its ideal width, and whatever is still left goes to name and location.  When the
    minimums do not fit, the table is wider than ``width`` and scrolls sideways.
    """
    widths = [c.minimum for c in COLUMNS]
    gaps = sum(gaps_before(i) for i in range(len(COLUMNS)))
    room = width - gaps - sum(widths)
    name = next(i for i, c in enumerate(COLUMNS) if c.key == "name")
    if room < 0:
        # Too narrow: the columns that fit end at the right edge (the name takes the rest),
        # and the others are scrolled to.
        used = 0
        for i, w in enumerate(widths):
            if used + gaps_before(i) + w > width:
                break
            used += gaps_before(i) + w
        widths[name] += width - used
        return widths
    while room > 0:
        growing = [i for i, c in enumerate(COLUMNS) if c.weight and widths[i] < c.ideal]
        if not growing:
            break
        total = sum(COLUMNS[i].weight for i in growing)
        given = 0
        for i in growing:
            share = max(1, room * COLUMNS[i].weight // total)
            share = min(share, COLUMNS[i].ideal - widths[i], room - given)
            widths[i] += share
            given += share
            if given >= room:
                break
        room -= given
    if room > 0:
        location = next(i for i, c in enumerate(COLUMNS) if c.key == "location")
        widths[name] += room // 2
        widths[location] += room - room // 2
    return widths


class Row(NamedTuple):
    """One certificate as a table shows it; every text already made visible."""

    sha256: str
    record: CertificateRecord
    severity: Severity | None
    name: str
    issuer: str
    not_after: datetime
    type: str
    used_by: str
    location: str
    revocation: str
    """The revocation column's text (see :data:`REVOCATION_TEXT`)."""
    findings: str
    haystack: str
    """Lower-case text the filter searches: names, issuer, paths, fingerprints, codes."""
    problem: bool
    """Has an error or a warning."""
    name_key: str
    status_key: float
    """Worst finding first, then the earliest expiry: one float, because 100,000 float
    comparisons sort several times faster than tuples."""
    expires_key: float

    @property
    def symbol(self) -> str:
        """The status symbol."""
        return SYMBOL[self.severity]


def _unescape_rdn(value: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(value):
        ch = value[i]
        if ch == "\\" and i + 1 < len(value):
            pair = value[i + 1 : i + 3]
            if len(pair) == 2 and all(c in "0123456789abcdefABCDEF" for c in pair):
                out.append(chr(int(pair, 16)))
                i += 3
                continue
            out.append(value[i + 1])
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _split_dn(dn: str) -> list[tuple[str, str]]:
    """Attribute type and (unescaped) value pairs of an RFC 4514 string."""
    parts: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(dn):
        ch = dn[i]
        if ch == "\\" and i + 1 < len(dn):
            current.append(dn[i : i + 2])
            i += 2
            continue
        if ch in ",+":
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    parts.append("".join(current))
    pairs = []
    for part in parts:
        label, sep, value = part.partition("=")
        if sep:
            pairs.append((label.strip(), _unescape_rdn(value)))
    return pairs


def issuer_short(dn: str) -> str:
    """The issuer's common name, else its organisation, else the whole name."""
    pairs = _split_dn(dn)
    for wanted in ("CN", "O", "OU"):
        for label, value in pairs:
            if label == wanted and value:
                return value
    return dn


def primary_location(record: CertificateRecord) -> Location | None:
    """The location to show first: a real file rather than a link to it."""
    if not record.locations:
        return None
    return min(record.locations, key=lambda loc: (loc.symlink_to is not None, loc.path))


def expires_text(not_after: datetime, now: datetime) -> str:
    """``2027-01-05 · in 39 d``."""
    return f"{not_after:%Y-%m-%d} · {relative_time(not_after, now)}"


def type_text(record: CertificateRecord, labels: frozenset[str] = frozenset()) -> str:
    """A declared consumer's role label (from the settings), else the certificate's role.

    ``labels`` are the role labels of the consumers declared in the settings; a use's role
    that is not one of them names a file's purpose (``chain``) and says less than the
    certificate's own role.
    """
    for use in record.used_by:
        if use.role and use.role in labels:
            return use.role
    return record.cert.role


def used_by_text(record: CertificateRecord) -> str:
    """The consumers using the certificate, each once."""
    return ", ".join(dict.fromkeys(u.consumer for u in record.used_by))


def build_row(record: CertificateRecord, labels: frozenset[str] = frozenset()) -> Row:
    """The table row of a record (independent of the clock: expiry text is made at render).

    ``labels`` are the role labels of declared consumers (see :func:`type_text`).
    """
    cert = record.cert
    severity = record.worst
    name = visible(cert.display_name)
    issuer = visible(issuer_short(cert.issuer))
    first = primary_location(record)
    location = visible(first.path) if first else ""
    if len(record.locations) > 1:
        location += f" (+{len(record.locations) - 1})"
    codes = ", ".join(f.code for f in record.findings)
    used_by = visible(used_by_text(record))
    kind = visible(type_text(record, labels))
    hay = [
        name,
        visible(cert.subject),
        issuer,
        visible(cert.issuer),
        *(visible(n) for n in cert.names),
        *(visible(loc.path) for loc in record.locations),
        *(visible(loc.symlink_to) for loc in record.locations if loc.symlink_to),
        cert.sha256,
        cert.sha1,
        codes,
        used_by,
        kind,
    ]
    return Row(
        sha256=cert.sha256,
        record=record,
        severity=severity,
        name=name,
        issuer=issuer,
        not_after=cert.not_after,
        type=kind,
        used_by=used_by,
        location=location,
        revocation=revocation_text(record.revocation),
        findings=codes,
        haystack="\n".join(hay).casefold(),
        problem=severity in (Severity.ERROR, Severity.WARNING),
        name_key=name.casefold(),
        status_key=_RANK[severity] * 1e11 + cert.not_after.timestamp(),
        expires_key=cert.not_after.timestamp(),
    )


# attrgetter for the precomputed keys: called 100,000 times per sort, it is several times
# cheaper than a lambda.
_SORT: dict[SortKey, Callable[[Row], Any]] = {
    SortKey.STATUS: attrgetter("status_key"),
    SortKey.NAME: attrgetter("name_key"),
    SortKey.ISSUER: lambda r: r.issuer.casefold(),
    SortKey.EXPIRES: attrgetter("expires_key"),
    SortKey.TYPE: lambda r: r.type.casefold(),
    SortKey.USED_BY: lambda r: (not r.used_by, r.used_by.casefold()),
    SortKey.LOCATION: attrgetter("location"),
    SortKey.REVOCATION: lambda r: _REVOCATION_RANK.get(r.record.revocation, 6),
    SortKey.FINDINGS: lambda r: (not r.findings, r.findings),
}


def by_name(rows: Iterable[Row]) -> list[Row]:
    """Rows in name order (the order ties keep in every other sort)."""
    return sorted(rows, key=lambda r: (r.name_key, r.sha256))


def sort_rows(
    rows: Iterable[Row], key: SortKey, *, reverse: bool = False, named: bool = False
) -> list[Row]:
    """Rows sorted by a column; ties keep name order (the sort is stable).

    ``named`` says the rows are in name order already.
    """
    ordered = list(rows) if named else by_name(rows)
    if key is SortKey.NAME:
        return ordered[::-1] if reverse else ordered
    return sorted(ordered, key=_SORT[key], reverse=reverse)


_FINGERPRINT = re.compile(r"(?:[0-9a-f]{2}:)+[0-9a-f]{0,2}")


def _needles(text: str) -> list[str]:
    words = []
    for word in text.casefold().split():
        # A fingerprint pasted from openssl (AB:CD:…) matches the plain hex.
        if _FINGERPRINT.fullmatch(word):
            word = word.replace(":", "")
        words.append(word)
    return words


def refines(old: str, new: str) -> bool:
    """Whether every row matching ``new`` also matches ``old`` (so only those need checking)."""
    before, after = _needles(old), _needles(new)
    return len(after) >= len(before) and all(b in a for b, a in zip(before, after, strict=False))


def filter_rows(rows: Sequence[Row], text: str, *, problems_only: bool = False) -> list[Row]:
    """Rows whose text holds every word of ``text`` (any case), optionally problems only."""
    needles = _needles(text)
    if problems_only:
        rows = [r for r in rows if r.problem]
    if not needles:
        return list(rows)
    if len(needles) == 1:
        needle = needles[0]
        return [r for r in rows if needle in r.haystack]
    return [r for r in rows if all(n in r.haystack for n in needles)]


class Counts(NamedTuple):
    """How many certificates have errors, warnings, or anything at all."""

    total: int
    errors: int
    warnings: int


def count_rows(rows: Iterable[Row]) -> Counts:
    """Certificates by their worst finding."""
    total = errors = warnings = 0
    for row in rows:
        total += 1
        if row.severity is Severity.ERROR:
            errors += 1
        elif row.severity is Severity.WARNING:
            warnings += 1
    return Counts(total, errors, warnings)


def _with_results(
    records: Iterable[CertificateRecord], results: Mapping[str, CertRevocation]
) -> tuple[list[CertificateRecord], bool]:
    """The records with the revocation results that concern them; whether any changed."""
    out: list[CertificateRecord] = []
    changed = False
    for record in records:
        result = results.get(record.sha256)
        if result is not None:
            record = with_revocation_findings(record, result)
            changed = True
        out.append(record)
    return out, changed


class Catalog:
    """What the scan found so far: records by fingerprint, their rows, stores, unreadable files.

    ``version`` grows with every change, so views know when to rebuild.  ``final`` is the
    inventory of the last finished scan, or ``None`` while the first scan runs.  Revocation
    results are kept while the app runs and applied again to the records of every rescan.
    """

    def __init__(self) -> None:
        self.records: dict[str, CertificateRecord] = {}
        self.rows: dict[str, Row] = {}
        self.stores: dict[str, Store] = {}
        self.unreadable: list[Unreadable] = []
        self.final: Inventory | None = None
        self.labels: frozenset[str] = frozenset()
        """Role labels of the consumers declared in the settings (from the last scan)."""
        self.revocation: dict[str, CertRevocation] = {}
        """The latest online revocation result of every certificate checked so far."""
        self.revocation_checked_at: datetime | None = None
        """When the last revocation check ran (its ``now``), or ``None`` before the first."""
        self.version = 0
        self._memo: dict[tuple[Any, ...], list[Row]] = {}
        self._counts: dict[tuple[str, Scope], Any] = {}

    def _changed(self) -> None:
        self.version += 1
        self._memo.clear()
        self._counts.clear()

    def add_store(self, store: Store) -> None:
        """A store the scan looks at."""
        self.stores[store.name] = store
        self._changed()

    def upsert(self, records: Iterable[CertificateRecord]) -> None:
        """New or changed certificates (matched by fingerprint)."""
        changed = False
        if self.revocation:
            records, _ = _with_results(records, self.revocation)
        for record in records:
            row = self.rows.get(record.sha256)
            # A rescan hands back the same record objects for unchanged files.
            if row is not None and row.record is record:
                continue
            self.records[record.sha256] = record
            self.rows[record.sha256] = build_row(record, self.labels)
            changed = True
        if changed:
            self._changed()

    def add_unreadable(self, items: Iterable[Unreadable]) -> None:
        """Files that could not be read during the running scan."""
        self.unreadable.extend(items)
        self._changed()

    def start_scan(self) -> None:
        """A new scan starts: its unreadable files replace the last scan's as they come."""
        self.unreadable = []
        self._changed()

    def finish(self, inventory: Inventory) -> None:
        """The scan is complete: the inventory replaces everything.

        Revocation results kept from earlier checks replace whatever revocation findings the
        scan gave (the online check used the local CRL files too).
        """
        if self.revocation:
            certificates, changed = _with_results(inventory.certificates, self.revocation)
            if changed:
                inventory = replace(inventory, certificates=tuple(certificates))
        old = self.rows
        rows: dict[str, Row] = {}
        records: dict[str, CertificateRecord] = {}
        labels = frozenset(c.role for c in inventory.consumers if c.role)
        relabel = labels != self.labels
        self.labels = labels
        for record in inventory.certificates:
            records[record.sha256] = record
            row = old.get(record.sha256)
            if row is None or relabel or (row.record is not record and row.record != record):
                row = build_row(record, labels)
            rows[record.sha256] = row
        self.records = records
        self.rows = rows
        self.stores = {s.name: s for s in inventory.stores}
        self.unreadable = list(inventory.unreadable)
        self.final = inventory
        self._changed()

    def apply_revocation(self, report: RevocationReport) -> int:
        """Keep the results of a revocation check and show them: the records concerned get
        their revocation status and findings; returns how many records changed."""
        results = report.by_sha256()
        self.revocation.update(results)
        self.revocation_checked_at = report.checked_at
        changed = 0
        for sha256, result in results.items():
            record = self.records.get(sha256)
            if record is None:
                continue
            record = with_revocation_findings(record, result)
            self.records[sha256] = record
            self.rows[sha256] = build_row(record, self.labels)
            changed += 1
        if self.final is not None and changed:
            certificates, _ = _with_results(self.final.certificates, results)
            self.final = replace(self.final, certificates=tuple(certificates))
        self._changed()
        return changed

    def inventory(self, root: str, now: datetime) -> Inventory:
        """The final inventory, or one made of what the running scan found so far."""
        if self.final is not None:
            return self.final
        return Inventory(
            root=root,
            evaluated_at=now,
            stores=tuple(self.stores.values()),
            certificates=tuple(self.records.values()),
            unreadable=tuple(self.unreadable),
        )

    def scoped(self, scope: Scope) -> list[Row]:
        """Rows of the certificates in the scope."""
        memo_key: tuple[Any, ...] = ("scope", scope)
        rows = self._memo.get(memo_key)
        if rows is None:
            if scope.kind is ScopeKind.ALL:
                rows = list(self.rows.values())
            else:
                rows = [r for r in self.rows.values() if in_scope(r.record, scope)]
            self._memo[memo_key] = rows
        return rows

    def sorted(self, scope: Scope, key: SortKey, reverse: bool) -> list[Row]:
        """Rows in the scope in the order of a column."""
        memo_key: tuple[Any, ...] = ("sorted", scope, key, reverse)
        rows = self._memo.get(memo_key)
        if rows is None:
            named_key: tuple[Any, ...] = ("by_name", scope)
            named = self._memo.get(named_key)
            if named is None:
                named = self._memo[named_key] = by_name(self.scoped(scope))
            rows = sort_rows(named, key, reverse=reverse, named=True)
            self._memo[memo_key] = rows
        return rows

    def required(self, scope: Scope, key: SortKey, reverse: bool) -> list[Row]:
        """Required rows in the scope in the order of a column."""
        memo_key: tuple[Any, ...] = ("required", scope, key, reverse)
        rows = self._memo.get(memo_key)
        if rows is None:
            sorted_key: tuple[Any, ...] = ("sorted", scope, key, reverse)
            everything = self._memo.get(sorted_key)
            if everything is not None:
                rows = [r for r in everything if r.record.required]
            else:
                # Sorting only the few required rows is cheaper than sorting them all.
                required = [r for r in self.scoped(scope) if r.record.required]
                rows = sort_rows(required, key, reverse=reverse)
            self._memo[memo_key] = rows
        return rows

    def counts(self, scope: Scope = ALL) -> Counts:
        """Certificates with errors and warnings in the scope."""
        memo_key = ("counts", scope)
        counts = self._counts.get(memo_key)
        if counts is None:
            counts = self._counts[memo_key] = count_rows(self.scoped(scope))
        return counts

    def required_count(self, scope: Scope = ALL) -> int:
        """How many certificates in the scope are required."""
        memo_key = ("required", scope)
        count = self._counts.get(memo_key)
        if count is None:
            count = sum(r.record.required for r in self.scoped(scope))
            self._counts[memo_key] = count
        return int(count)

    @property
    def any_required(self) -> bool:
        """Whether any certificate on the machine is required."""
        return any(r.required for r in self.records.values())
