"""Pictures of the clean-up, backup, create, trust and probe wizards at 80x24.

The demo tree is the current folder, the clock and the host's names are fixed.  Regenerate
with ``pytest tests/snapshots --snapshot-update`` and look at the report.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from textual.pilot import Pilot

from core.demo import DemoTree
from core.hostinfo import HostInfo, InterfaceAddress
from tests.tui.harness import demo_app, scanned, table, until
from tests.tui.wizards import at_step
from tui.screens import create_wizard
from tui.screens.wizard import WizardScreen

SIZE = (80, 24)
SnapCompare = Callable[..., bool]
HOST = HostInfo(
    "demo-server",
    "demo-server.example.org",
    (
        InterfaceAddress("lo", "127.0.0.1", "loopback"),
        InterfaceAddress("eth0", "192.0.2.10", "global"),
        InterfaceAddress("eth0", "2001:db8::10", "global"),
    ),
)


def wizard_step(key: str, step: str, *then: str, row: str | None = None) -> Any:
    """Scan, optionally highlight a certificate on All, press the key, wait for a step."""

    async def run(pilot: Pilot[Any]) -> None:
        await scanned(pilot)
        if row is not None:
            await pilot.press("2")
            await pilot.pause()
            assert table(pilot.app, "all").move_to(row)
        await pilot.press(key)
        await until(pilot, lambda: isinstance(pilot.app.screen, WizardScreen), "the wizard opens")
        wizard = pilot.app.screen
        assert isinstance(wizard, WizardScreen)
        if then:
            await pilot.press(*then)
        await at_step(pilot, wizard, step)
        await pilot.pause()

    return run


def test_cleanup_choose(snap_compare: SnapCompare, tree: DemoTree) -> None:
    assert snap_compare(demo_app(tree), terminal_size=SIZE, run_before=wizard_step("D", "choose"))


def test_cleanup_preview(snap_compare: SnapCompare, tree: DemoTree) -> None:
    run = wizard_step("D", "preview", "enter")
    assert snap_compare(demo_app(tree), terminal_size=SIZE, run_before=run)


def test_cleanup_refused_for_a_required_certificate(
    snap_compare: SnapCompare, tree: DemoTree
) -> None:
    run = wizard_step("d", "preview", row=tree.cert("nginx-www").sha256)
    assert snap_compare(demo_app(tree), terminal_size=SIZE, run_before=run)


def test_backup_plan(snap_compare: SnapCompare, tree: DemoTree) -> None:
    assert snap_compare(demo_app(tree), terminal_size=SIZE, run_before=wizard_step("b", "plan"))


def test_create_form(
    snap_compare: SnapCompare, tree: DemoTree, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(create_wizard, "host_info", lambda: HOST)
    assert snap_compare(demo_app(tree), terminal_size=SIZE, run_before=wizard_step("n", "hosts"))


def test_trust_action(snap_compare: SnapCompare, tree: DemoTree) -> None:
    run = wizard_step("t", "action", row=tree.cert("demo-corp-root").sha256)
    assert snap_compare(demo_app(tree), terminal_size=SIZE, run_before=run)


def test_probe_target(snap_compare: SnapCompare, tree: DemoTree) -> None:
    assert snap_compare(demo_app(tree), terminal_size=SIZE, run_before=wizard_step("p", "target"))
