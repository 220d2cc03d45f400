"""Scope: look at one store, one consumer (service) or everything (DESIGN.md, *Scope*)."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from core.errors import UsageError
from core.model import CertificateRecord, Inventory
from core.text import visible

__all__ = [
    "ALL",
    "MIN_PREFIX",
    "Scope",
    "ScopeKind",
    "UnknownCertificate",
    "available_scopes",
    "in_scope",
    "records_by_fingerprints",
    "records_in_scope",
]

MIN_PREFIX = 8
"""The shortest fingerprint prefix accepted where a certificate is named by its SHA-256."""


class UnknownCertificate(UsageError):
    """A fingerprint in a selection matches no certificate (or several)."""

    title = "Unknown certificate"


class ScopeKind(enum.StrEnum):
    """What a scope selects."""

    ALL = "all"
    STORE = "store"
    CONSUMER = "consumer"


@dataclass(frozen=True, slots=True)
class Scope:
    """A view of the inventory: everything, one store (by name) or one consumer (by name)."""

    kind: ScopeKind = ScopeKind.ALL
    name: str = ""

    @property
    def label(self) -> str:
        """How the scope is shown in the header: ``all``, ``store /etc``, ``nginx``."""
        if self.kind is ScopeKind.ALL:
            return "all"
        if self.kind is ScopeKind.STORE:
            return f"store {self.name}"
        return f"service {self.name}"


ALL = Scope()


def available_scopes(inventory: Inventory) -> list[Scope]:
    """Everything, then every store, then every consumer that uses a certificate."""
    scopes = [ALL]
    scopes += [Scope(ScopeKind.STORE, s.name) for s in inventory.stores]
    names = dict.fromkeys(
        [c.name for c in inventory.consumers]
        + [u.consumer for r in inventory.certificates for u in r.used_by]
    )
    scopes += [Scope(ScopeKind.CONSUMER, n) for n in sorted(names)]
    return scopes


def in_scope(record: CertificateRecord, scope: Scope) -> bool:
    """Whether a certificate belongs to the scope."""
    if scope.kind is ScopeKind.ALL:
        return True
    if scope.kind is ScopeKind.STORE:
        return any(loc.store == scope.name for loc in record.locations)
    return any(u.consumer == scope.name for u in record.used_by)


def records_in_scope(records: Iterable[CertificateRecord], scope: Scope) -> list[CertificateRecord]:
    """The certificates of a scope, in the given order."""
    if scope.kind is ScopeKind.ALL:
        return list(records)
    return [r for r in records if in_scope(r, scope)]


def records_by_fingerprints(
    inventory: Inventory, fingerprints: Sequence[str]
) -> list[CertificateRecord]:
    """The certificates named by SHA-256 fingerprints (colons, upper case and unique
    prefixes of at least :data:`MIN_PREFIX` hex digits accepted), each once, in order.

    Raises:
        UnknownCertificate: a fingerprint is malformed, unknown or ambiguous.
    """
    by = inventory.by_sha256()
    chosen: dict[str, CertificateRecord] = {}
    for given in fingerprints:
        wanted = given.replace(":", "").strip().lower()
        if not wanted:
            continue
        if wanted in by:
            chosen.setdefault(wanted, by[wanted])
            continue
        if len(wanted) < MIN_PREFIX or not all(c in "0123456789abcdef" for c in wanted):
            raise UnknownCertificate(
                f"{visible(given)!r} is not a SHA-256 fingerprint (64 hex digits, or a unique "
                f"prefix of at least {MIN_PREFIX})"
            )
        matches = [sha for sha in by if sha.startswith(wanted)]
        if not matches:
            raise UnknownCertificate(f"no certificate has the fingerprint {wanted}")
        if len(matches) > 1:
            raise UnknownCertificate(
                f"{wanted} matches {len(matches)} certificates; give more digits"
            )
        chosen.setdefault(matches[0], by[matches[0]])
    return list(chosen.values())
