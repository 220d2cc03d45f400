"""Where certificates live on a Linux machine: the system trust store and the default trees."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from core.model import Store, StoreKind
from core.rootfs import RootFS

__all__ = [
    "ANCHOR_FOLDERS",
    "DEFAULT_TREES",
    "TRUST_BUNDLES",
    "StorePlan",
    "plan_stores",
]

TRUST_BUNDLES = (
    "/etc/ssl/certs/ca-certificates.crt",  # Debian, Ubuntu, Gentoo, Arch (link)
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",  # RHEL, Fedora, CentOS
    "/etc/pki/tls/certs/ca-bundle.crt",  # RHEL 6 and older Fedora
    "/etc/ssl/ca-bundle.pem",  # openSUSE, SLES
    "/etc/ca-certificates/extracted/tls-ca-bundle.pem",  # Arch
    "/etc/ssl/cert.pem",  # Alpine, also a common link elsewhere
    "/etc/pki/tls/cacert.pem",  # OpenELEC
)
"""The distribution CA bundle, first found wins (the others are usually links to it)."""

ANCHOR_FOLDERS = (
    "/usr/local/share/ca-certificates",  # Debian, Ubuntu, Alpine: update-ca-certificates
    "/etc/pki/ca-trust/source/anchors",  # RHEL, Fedora: update-ca-trust
    "/usr/share/pki/ca-trust-source/anchors",  # RHEL, Fedora: distribution-provided anchors
    "/etc/pki/trust/anchors",  # SUSE: update-ca-certificates
    "/usr/share/pki/trust/anchors",  # SUSE: distribution-provided anchors
    "/etc/ca-certificates/trust-source/anchors",  # Arch: trust anchor --store
)
"""Folders whose certificates the distribution's tools add to the trust store."""

DEFAULT_TREES = ("/etc", "/usr/local/etc")
"""Folder trees scanned by default: certificates live everywhere under ``/etc``."""


@dataclass(frozen=True, slots=True)
class StorePlan:
    """A store and whether its path is a single file or a folder tree."""

    store: Store
    is_file: bool


def plan_stores(
    fs: RootFS,
    *,
    default_locations: bool,
    extra_paths: Sequence[str],
    anchor_paths: Sequence[str],
) -> list[StorePlan]:
    """List the stores to scan, most specific first, each path only once.

    The system trust store comes first (its bundle and anchor folders), then the settings'
    trust anchors, the default trees and the extra paths from the settings.
    """
    plans: list[StorePlan] = []
    seen: set[str] = set()

    def add(name: str, kind: StoreKind, path: str, *, is_file: bool) -> None:
        if path in seen:
            return
        seen.add(path)
        plans.append(StorePlan(Store(name, kind, path), is_file))

    if default_locations:
        for bundle in TRUST_BUNDLES:
            if _is_file(fs, bundle):
                add("system trust bundle", StoreKind.TRUST, bundle, is_file=True)
                break
        for folder in ANCHOR_FOLDERS:
            if _is_dir(fs, folder):
                add(f"trust anchors {folder}", StoreKind.TRUST, folder, is_file=False)
    for path in anchor_paths:
        add(f"trust anchors {path}", StoreKind.TRUST, path, is_file=_is_file(fs, path))
    if default_locations:
        for tree in DEFAULT_TREES:
            if _is_dir(fs, tree):
                add(tree, StoreKind.DIRECTORY, tree, is_file=False)
    for path in extra_paths:
        is_file = _is_file(fs, path)
        add(path, StoreKind.BUNDLE if is_file else StoreKind.DIRECTORY, path, is_file=is_file)
    return plans


def _is_file(fs: RootFS, path: str) -> bool:
    import os

    try:
        return os.path.isfile(fs.host(fs.resolve(path)))
    except OSError:
        return False


def _is_dir(fs: RootFS, path: str) -> bool:
    import os

    try:
        return os.path.isdir(fs.host(fs.resolve(path)))
    except OSError:
        return False
