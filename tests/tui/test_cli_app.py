"""``certdeck`` without a subcommand starts the app; ``certdeck scan`` never loads Textual."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tui import cli
from tui.app import CertdeckApp


class Started:
    """Stands in for ``CertdeckApp.run``: records the app instead of taking the terminal."""

    def __init__(self) -> None:
        self.apps: list[CertdeckApp] = []
        self.roots_existed: list[bool] = []

    def run(self, app: CertdeckApp, *args: Any, **kwargs: Any) -> None:
        self.apps.append(app)
        self.roots_existed.append(Path(app.root).is_dir())


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> Started:
    record = Started()
    monkeypatch.setattr(CertdeckApp, "run", lambda self, *a, **k: record.run(self, *a, **k))
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    return record


def test_demo_starts_the_app_on_a_demo_tree_that_is_removed_afterwards(started: Started) -> None:
    assert cli.main(["--demo", "--at", "2026-11-27T12:00Z"]) == 0
    (app,) = started.apps
    assert app.demo
    assert app.host_name == "demo-server"
    assert app.fixed_now == datetime(2026, 11, 27, 12, tzinfo=UTC)
    assert app.settings_path.name == "settings.toml"
    assert app.settings.consumers  # the demo tree's own settings
    assert app.cache_path is None
    assert started.roots_existed == [True]
    assert not Path(app.root).exists()


def test_root_and_config_are_passed_on(started: Started, tmp_path: Path) -> None:
    config = tmp_path / "settings.toml"
    config.write_text("[checks]\nexpiring_days = 60\n", encoding="utf-8")
    assert cli.main(["--root", str(tmp_path), "--config", str(config)]) == 0
    (app,) = started.apps
    assert app.root == str(tmp_path)
    assert not app.demo
    assert app.fixed_now is None
    assert app.settings.checks.expiring_days == 60
    assert app.cache_path is not None
    assert app.cache_path.name.startswith("parsed-")


def test_a_broken_settings_file_still_starts_the_app(started: Started, tmp_path: Path) -> None:
    config = tmp_path / "settings.toml"
    config.write_text("[checks]\nexpiring_days = 'soon'\n", encoding="utf-8")
    assert cli.main(["--root", str(tmp_path), "--config", str(config)]) == 0
    (app,) = started.apps
    assert app.settings_problem is not None
    assert "checks.expiring_days" in app.settings_problem


def test_without_a_terminal_the_app_refuses_with_a_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys.stdout, "isatty", lambda: False)
    assert cli.main(["--root", str(tmp_path)]) == 2
    assert "certdeck scan" in capsys.readouterr().err


def test_scan_does_not_import_textual(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from tui.cli import main\n"
        f"main(['scan', '--root', {str(tmp_path)!r}, '--json'])\n"
        "print('textual' in sys.modules, file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.stderr.strip().splitlines()[-1] == "False"
