"""Scope: look at one store, one consumer (service) or everything (DESIGN.md, *Scope*)."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from core.model import CertificateRecord, Inventory

__all__ = ["ALL", "Scope", "ScopeKind", "available_scopes", "in_scope", "records_in_scope"]


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
