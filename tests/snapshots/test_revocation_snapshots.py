"""Pictures of a revocation check's results: the table's Revocation column and the details'
per-source table.

The certificates name made-up URLs (``http://pki.demo.example/…``) that an injected fetch
answers from memory, the clock is fixed and every request seems to take 12 ms, so the
pictures are the same on every run.  Regenerate with ``pytest tests/snapshots
--snapshot-update`` and look at the report.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

import core.revocation
from tests.revocation_server import Network, guarded
from tests.tui.harness import lines, main_screen, scanned
from tests.tui.test_revocation_tui import RevocationTree, revocation_app, revocation_tree
from tui.widgets.details import DetailsView

SnapCompare = Callable[..., bool]
BASE = "http://pki.demo.example"


class _SteppingClock:
    """Stands in for the ``time`` module of :mod:`core.revocation`: each thread's monotonic
    clock moves 12 ms per reading, so every request (two readings in one thread) takes 12 ms."""

    def __init__(self) -> None:
        self._local = threading.local()

    def monotonic(self) -> float:
        readings = getattr(self._local, "readings", 0)
        self._local.readings = readings + 1
        return readings * 0.012


@pytest.fixture(autouse=True)
def _no_network() -> Iterator[None]:
    with guarded(Network()):
        yield


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RevocationTree:
    """The revocation tree; the current folder is its root, so no temporary path shows."""
    built = revocation_tree(tmp_path, BASE)
    monkeypatch.chdir(built.root)
    monkeypatch.setattr(core.revocation, "time", _SteppingClock())
    return built


async def checked(pilot: Pilot[Any]) -> None:
    """Scan, press R, wait for the results; the notifications are dismissed."""
    await scanned(pilot)
    await pilot.press("R")
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    pilot.app.clear_notifications()
    await pilot.pause()


def test_revocation_column(snap_compare: SnapCompare, tree: RevocationTree) -> None:
    app = revocation_app(tree, revocation_fetch=tree.fetch(BASE))
    assert snap_compare(app, terminal_size=(120, 40), run_before=checked)


@pytest.mark.parametrize(
    ("size", "certificate"),
    [
        pytest.param((120, 40), "revoked", id="120x40-revoked"),
        pytest.param((80, 24), "unreachable", id="80x24-unreachable"),
    ],
)
def test_revocation_details(
    snap_compare: SnapCompare, tree: RevocationTree, size: tuple[int, int], certificate: str
) -> None:
    async def run(pilot: Pilot[Any]) -> None:
        await checked(pilot)
        assert main_screen(pilot.app).table("required").move_to(tree.sha(certificate))
        await pilot.press("enter")
        await pilot.pause()
        view = pilot.app.screen.query_one(DetailsView)
        body = lines(view.query_one("#details-body"))
        # The Revocation section at the top (it is below the summary and the findings).
        heading = next(i for i, line in enumerate(body) if " Revocation  ─" in line)
        view.scroll_to(y=heading, animate=False, immediate=True)
        await pilot.pause()

    app = revocation_app(tree, revocation_fetch=tree.fetch(BASE))
    assert snap_compare(app, terminal_size=size, run_before=run)
