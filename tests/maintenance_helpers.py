"""Shared set-up for the clean-up, quarantine, backup and schedule tests."""

from __future__ import annotations

import asyncio
import hashlib
import os
import stat
from dataclasses import dataclass, replace
from pathlib import Path

from core.demo import DemoTree, build_demo_tree
from core.model import CertificateRecord, Inventory
from core.rootfs import RootFS
from core.scan import scan
from core.settings import Settings, load_settings
from tests.certgen import NOW

Entry = tuple[str, int, str, int]
"""Kind, permission bits, SHA-256 of the content (or the link's target), mtime (ns; files)."""


@dataclass
class Demo:
    """A demo server tree with its settings and a fresh scan."""

    tree: DemoTree
    settings: Settings
    inventory: Inventory

    @property
    def root(self) -> Path:
        return self.tree.root

    @property
    def fs(self) -> RootFS:
        return RootFS(self.tree.root)

    def host(self, machine: str) -> Path:
        return self.tree.root / machine.lstrip("/")

    def sha(self, label: str) -> str:
        return self.tree.cert(label).sha256

    def record(self, label: str) -> CertificateRecord:
        return self.inventory.by_sha256()[self.sha(label)]

    def rescan(self) -> Inventory:
        self.inventory = scan_tree(self.root, self.settings, self.tree.settings_path)
        return self.inventory


def scan_tree(root: Path, settings: Settings | None = None, path: Path | None = None) -> Inventory:
    return asyncio.run(scan(str(root), now=NOW, settings=settings, settings_path=path))


def demo_tree(folder: Path) -> Demo:
    tree = build_demo_tree(folder / "root", now=NOW)
    settings = load_settings(tree.settings_path)
    return Demo(tree, settings, scan_tree(tree.root, settings, tree.settings_path))


def snapshot(top: Path, *, skip: tuple[str, ...] = ()) -> dict[str, Entry]:
    """Every file, link and folder under ``top`` with its mode and content hash."""
    out: dict[str, Entry] = {}
    for folder, dirs, names in os.walk(top):
        rel_folder = os.path.relpath(folder, top)
        dirs[:] = [d for d in dirs if os.path.normpath(os.path.join(rel_folder, d)) not in skip]
        for name in dirs + names:
            path = os.path.join(folder, name)
            rel = os.path.normpath(os.path.join(rel_folder, name))
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                digest = hashlib.sha256(os.fsencode(os.readlink(path))).hexdigest()
                out[rel] = ("link", 0, digest, 0)
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", stat.S_IMODE(st.st_mode), "", 0)
            else:
                with open(path, "rb") as handle:
                    digest = hashlib.sha256(handle.read()).hexdigest()
                out[rel] = ("file", stat.S_IMODE(st.st_mode), digest, st.st_mtime_ns)
    return out


def password_file(folder: Path, secret: bytes = b"correct horse battery staple") -> Path:
    path = folder / "backup-password"
    path.write_bytes(secret + b"\n")
    path.chmod(0o600)
    return path


def backed_up_demo(folder: Path, password: bytes) -> tuple[Demo, Path]:
    """A demo tree in ``folder`` and one verified backup of it (in ``folder/backups``)."""
    from core.backup import plan_backup, write_backup
    from core.settings import BackupSettings

    demo = demo_tree(folder)
    plan = plan_backup(
        demo.inventory,
        root=demo.fs,
        settings=replace(demo.settings, backup=BackupSettings(keep=10)),
        settings_path=demo.tree.settings_path,
        now=NOW,
        destination=folder / "backups",
    )
    return demo, write_backup(plan, password).archive
