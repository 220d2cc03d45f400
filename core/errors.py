"""The one hierarchy of user-facing errors.

Every error a user can cause (bad settings, bad arguments, unreadable input they asked for by
name) is a :class:`CertdeckError` with a short title and a message that says what to do.
Anything else that raises is a programming error.
"""

from __future__ import annotations

__all__ = ["CertdeckError", "SettingsError", "UsageError"]


class CertdeckError(Exception):
    """An error meant for the user: a short title and a helpful message."""

    title = "certdeck error"

    def __init__(self, message: str, *, title: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if title is not None:
            self.title = title

    def __str__(self) -> str:
        return self.message


class SettingsError(CertdeckError):
    """The settings file cannot be read, parsed or validated."""

    title = "Settings error"


class UsageError(CertdeckError):
    """A command-line argument or API value is not acceptable."""

    title = "Usage error"
