"""The values a consumer scan returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["ConfigProblem", "ConsumerScan", "FileUse", "Purpose"]

Purpose = Literal["certificate", "key", "chain", "ca", "crt-list"]
"""What a service does with a referenced file."""


@dataclass(frozen=True, slots=True)
class FileUse:
    """One configuration line that makes a service use a certificate or key file."""

    service: str
    """``nginx``, ``apache``, ``haproxy``, ``postfix`` or ``dovecot``."""
    config: str
    """Machine path of the configuration file that holds the directive."""
    line: int
    """1-based line of the directive in :attr:`config`."""
    directive: str
    """The directive as the service spells it, e.g. ``ssl_certificate_key``."""
    purpose: Purpose
    """``certificate``, ``key``, ``chain``, ``ca`` (trusted/client CA bundles) or ``crt-list``."""
    path: str
    """Machine path of the referenced file: absolute and normalised."""
    group: str
    """The same string for the certificates and keys that one context pairs, e.g. the
    ``ssl_certificate`` and ``ssl_certificate_key`` of one nginx ``server`` block."""
    directory: bool = False
    """The directive names a folder whose files are all used (haproxy ``crt DIR``, CA paths)."""


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """Something in a service configuration that certdeck could not follow or found broken."""

    service: str
    config: str
    """Machine path of the configuration file (the main file when it is the file itself)."""
    line: int
    """1-based line, or 0 when the problem concerns the whole file."""
    message: str


@dataclass(frozen=True, slots=True)
class ConsumerScan:
    """What the services' configurations say about certificate and key files."""

    uses: tuple[FileUse, ...] = ()
    problems: tuple[ConfigProblem, ...] = ()
    configs_read: tuple[str, ...] = ()
    """Every configuration file actually reached, in the order it was first read."""
