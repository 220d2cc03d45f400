"""core/ never imports textual or rich: it must stay usable without a terminal UI."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import pytest

import core

MODULES = sorted(m.name for m in pkgutil.walk_packages(core.__path__, prefix="core."))


def test_there_are_modules_to_check() -> None:
    assert {"core.scan", "core.parse", "core.settings", "core.report"} <= set(MODULES)


@pytest.mark.parametrize("module", MODULES)
def test_core_module_imports_no_ui_library(module: str) -> None:
    code = (
        f"import sys, {module}; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich')); "
        "print(','.join(bad))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""
