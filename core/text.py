"""Certificate text is hostile: make control characters visible before showing it."""

from __future__ import annotations

import re

__all__ = ["visible"]

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069]")


def _picture(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x20:
        return chr(0x2400 + code)  # ␛ for ESC, ␀ for NUL … (Unicode control pictures)
    if code == 0x7F:
        return "\u2421"  # ␡
    return f"\\u{code:04x}"


def visible(text: str) -> str:
    """Replace control characters, bidirectional overrides and zero-width characters.

    ``\\x1b`` becomes ``␛`` and a newline ``␊``; C1 controls and invisible formatting
    characters become ``\\uXXXX``.  The result can be printed to a terminal safely and keeps
    every character distinguishable.
    """
    return _CONTROL.sub(_picture, text)
