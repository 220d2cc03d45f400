"""Snapshot fixtures: the demo tree with a fixed clock, run from its root, cursors still."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.demo import DemoTree
from tests.tui.harness import build_tree, no_cursor_blink


@pytest.fixture(autouse=True)
def _no_cursor_blink(monkeypatch: pytest.MonkeyPatch) -> None:
    no_cursor_blink(monkeypatch)


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> DemoTree:
    """A fresh demo tree; the current folder is its root, so no temporary path shows."""
    built = build_tree(tmp_path)
    monkeypatch.chdir(built.root)
    return built
