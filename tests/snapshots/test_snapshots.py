"""Pictures of every main view at 80x24 and 120x40, with a fixed clock and host name.

Regenerate with ``pytest tests/snapshots --snapshot-update`` and look at the report.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from textual.pilot import Pilot

from core.demo import DemoTree
from core.errors import CertdeckError
from tests.tui.harness import demo_app, main_screen, scanned
from tui.app import CertdeckApp

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]

SnapCompare = Callable[..., bool]
Step = Callable[[Pilot[Any]], Awaitable[None]]


def after_scan(*keys: str) -> Step:
    """Wait for the scan, then press keys."""

    async def run(pilot: Pilot[Any]) -> None:
        await scanned(pilot)
        await pilot.press(*keys)
        await pilot.pause()

    return run


@pytest.mark.parametrize("size", SIZES)
def test_required(snap_compare: SnapCompare, tree: DemoTree, size: tuple[int, int]) -> None:
    assert snap_compare(demo_app(tree), terminal_size=size, run_before=after_scan())


@pytest.mark.parametrize("size", SIZES)
def test_all(snap_compare: SnapCompare, tree: DemoTree, size: tuple[int, int]) -> None:
    assert snap_compare(demo_app(tree), terminal_size=size, run_before=after_scan("2"))


@pytest.mark.parametrize("size", SIZES)
def test_details_with_chain_and_findings(
    snap_compare: SnapCompare, tree: DemoTree, size: tuple[int, int]
) -> None:
    target = tree.cert("postfix-mail").sha256

    async def run(pilot: Pilot[Any]) -> None:
        await scanned(pilot)
        await pilot.press("2")
        await pilot.pause()
        assert main_screen(pilot.app).table("all").move_to(target)
        await pilot.press("enter")
        await pilot.pause()

    assert snap_compare(demo_app(tree), terminal_size=size, run_before=run)


@pytest.mark.parametrize("size", SIZES)
def test_settings(snap_compare: SnapCompare, tree: DemoTree, size: tuple[int, int]) -> None:
    assert snap_compare(demo_app(tree), terminal_size=size, run_before=after_scan("4"))


@pytest.mark.parametrize("size", SIZES)
def test_help(snap_compare: SnapCompare, tree: DemoTree, size: tuple[int, int]) -> None:
    assert snap_compare(demo_app(tree), terminal_size=size, run_before=after_scan("question_mark"))


@pytest.mark.parametrize("size", SIZES)
def test_error(snap_compare: SnapCompare, tree: DemoTree, size: tuple[int, int]) -> None:
    async def run(pilot: Pilot[Any]) -> None:
        await scanned(pilot)
        app = pilot.app
        assert isinstance(app, CertdeckApp)
        app.report_failure(
            "export",
            CertdeckError(
                "/srv/export/certs.p12 already exists and was not overwritten.\n\n"
                "Choose another file name, or move the existing file away and export again.",
                title="Export not written",
            ),
        )
        await pilot.pause()

    assert snap_compare(demo_app(tree), terminal_size=size, run_before=run)


@pytest.mark.parametrize("size", SIZES)
def test_unreadable(snap_compare: SnapCompare, tree: DemoTree, size: tuple[int, int]) -> None:
    assert snap_compare(demo_app(tree), terminal_size=size, run_before=after_scan("U"))
