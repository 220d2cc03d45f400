"""certdeck's UI-free core: inventory, findings and file operations.

This package never imports ``textual`` or ``rich`` (enforced by a lint rule and a test).
"""

from __future__ import annotations

__all__: list[str] = []
