"""Every wizard key of the main screen opens its wizard; escape leaves it with nothing done."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from core.demo import DemoTree
from core.hostinfo import HostInfo, InterfaceAddress
from tests.tui.harness import demo_app, main_screen, scanned, table, until
from tui.screens import create_wizard
from tui.screens.backup_wizard import BackupWizard
from tui.screens.cleanup_wizard import CleanupWizard, UndoCleanupScreen
from tui.screens.create_wizard import CreateWizard
from tui.screens.main import MainScreen
from tui.screens.probe_wizard import ProbeWizard
from tui.screens.restore_wizard import RestoreWizard
from tui.screens.trust_wizard import TrustWizard
from tui.screens.wizard import WizardScreen

FIXED_HOST = HostInfo(
    "demo-server", "demo-server.example.org", (InterfaceAddress("eth0", "192.0.2.10", "global"),)
)


def tree_files(root: Path) -> dict[str, bytes]:
    """Every file under the tree with its content (links as their targets)."""
    out: dict[str, bytes] = {}
    for path in sorted(root.rglob("*")):
        if path.is_symlink():
            out[str(path)] = str(path.readlink()).encode()
        elif path.is_file():
            out[str(path)] = path.read_bytes()
    return out


async def open_and_cancel(pilot: Pilot[Any], key: str, kind: type[WizardScreen[Any]]) -> None:
    await pilot.press(key)
    await until(pilot, lambda: isinstance(pilot.app.screen, kind), f"{kind.__name__} opens")
    await pilot.press("escape")
    await until(pilot, lambda: isinstance(pilot.app.screen, MainScreen), "back to the table")


@pytest.mark.parametrize(
    ("key", "kind"),
    [
        ("D", CleanupWizard),
        ("u", UndoCleanupScreen),
        ("b", BackupWizard),
        ("B", RestoreWizard),
        ("n", CreateWizard),
        ("p", ProbeWizard),
    ],
)
async def test_key_opens_its_wizard_and_escape_changes_nothing(
    tree: DemoTree, key: str, kind: type[WizardScreen[Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The create form reads this host's names and addresses; keep name lookups local.
    monkeypatch.setattr(create_wizard, "host_info", lambda: FIXED_HOST)
    before = tree_files(tree.root)
    app = demo_app(tree)
    async with app.run_test(size=(80, 24)) as pilot:
        await scanned(pilot)
        await open_and_cancel(pilot, key, kind)
    assert tree_files(tree.root) == before


async def test_d_cleans_up_the_highlighted_row_and_t_trusts_the_highlighted_ca(
    tree: DemoTree,
) -> None:
    before = tree_files(tree.root)
    app = demo_app(tree)
    async with app.run_test(size=(80, 24)) as pilot:
        await scanned(pilot)
        await pilot.press("2")
        await pilot.pause()
        assert table(app, "all").move_to(tree.cert("expired-old").sha256)
        await open_and_cancel(pilot, "d", CleanupWizard)
        assert table(app, "all").move_to(tree.cert("demo-corp-root").sha256)
        await open_and_cancel(pilot, "t", TrustWizard)
        # A leaf is not a CA: t explains instead of opening the wizard.
        assert table(app, "all").move_to(tree.cert("nginx-www").sha256)
        await pilot.press("t")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        assert main_screen(app) is app.screen
    assert tree_files(tree.root) == before
