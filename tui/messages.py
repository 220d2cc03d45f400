"""Messages that cross widgets and screens: small dataclasses, named in the past tense."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from textual.message import Message

if TYPE_CHECKING:
    from textual.widget import Widget

    from tui.display import SortKey

__all__ = [
    "CertificateChosen",
    "CertificateHighlighted",
    "MarkToggled",
    "ScanEnded",
    "ScanStarted",
    "ScanUpdated",
    "SortRequested",
]


@dataclass
class CertificateHighlighted(Message):
    """The cursor of a table moved to another certificate."""

    table: Widget
    sha256: str


@dataclass
class CertificateChosen(Message):
    """The user asked for the details of a certificate."""

    table: Widget
    sha256: str


@dataclass
class MarkToggled(Message):
    """A certificate was marked or unmarked."""

    table: Widget
    sha256: str


@dataclass
class SortRequested(Message):
    """The user asked for another sort column or order."""

    key: SortKey
    reverse: bool


@dataclass
class ScanStarted(Message):
    """A scan (the first or a rescan) started."""

    rescan: bool


@dataclass
class ScanUpdated(Message):
    """The running scan changed the catalog or its progress; read both from the app."""

    def can_replace(self, message: Message) -> bool:
        """A newer update says everything this one says."""
        return isinstance(message, ScanUpdated)


@dataclass
class ScanEnded(Message):
    """The scan finished, was cancelled or failed."""

    outcome: Literal["finished", "cancelled", "failed"]
