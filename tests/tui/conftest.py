"""Fixtures of the TUI tests: the demo tree with a fixed clock, run from its root."""

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
    """A fresh demo tree; the current folder is its root."""
    built = build_tree(tmp_path)
    monkeypatch.chdir(built.root)
    return built
