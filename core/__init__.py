"""certdeck's UI-free core: inventory, findings and file operations.

This package never imports ``textual`` or ``rich`` (enforced by a lint rule and a test).
"""

from __future__ import annotations

from importlib import metadata

__all__ = ["__version__"]

try:
    __version__ = metadata.version("certdeck")
except metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"
