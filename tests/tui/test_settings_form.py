"""The settings form: every setting shown and editable, checked as typed, saved atomically."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any, ClassVar

import pytest
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.geometry import Region
from textual.widget import Widget
from textual.widgets import Input, Select, Static, Switch

from core.errors import SettingsError
from core.settings import (
    ConsumerSetting,
    ScanSettings,
    Settings,
    describe_settings,
    load_settings,
    save_settings,
)
from tui.widgets.settings_form import SettingsForm


class Host(App[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "escaped", "Escape", id="host_escape", tooltip="Record escape"),
    ]

    def __init__(self, settings: Settings, path: Path, problem: str | None = None) -> None:
        super().__init__()
        self.settings = settings
        self.path = path
        self.problem = problem
        self.saved: list[SettingsForm.Saved] = []
        self.escapes = 0
        self.notes: list[tuple[str, dict[str, Any]]] = []

    def compose(self) -> ComposeResult:
        yield SettingsForm(self.settings, self.path, self.problem)

    def on_settings_form_saved(self, message: SettingsForm.Saved) -> None:
        self.saved.append(message)

    def action_escaped(self) -> None:
        self.escapes += 1

    def notify(self, message: str, **options: Any) -> None:
        self.notes.append((message, options))


@pytest.fixture
def path(tmp_path: Path) -> Path:
    """A settings file that does not exist yet, in a folder that does not exist yet."""
    return tmp_path / "config" / "certdeck" / "settings.toml"


def exists(path: Path) -> bool:
    return path.exists()


def file_mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def shown(widget: Widget) -> str:
    """The lines the terminal draws for a widget (empty when it is hidden)."""
    if not widget.display:
        return ""
    size = widget.outer_size
    lines = widget.render_lines(Region(0, 0, size.width, size.height))
    return "\n".join(line.text.rstrip() for line in lines)


def flat(text: str) -> str:
    return " ".join(text.split())


def inside(framed: str) -> str:
    """The text inside a bordered box, its lines joined by spaces."""
    return flat(" ".join(line.strip(" ┃┏┓┗┛━") for line in framed.splitlines()))


def row(app: App[Any], name: str) -> Widget:
    section, key = name.split(".")
    return app.query_one(f"#setting-{section}-{key}")


def error_of(app: App[Any], name: str) -> str:
    return flat(shown(row(app, name).query_one(".setting-error", Static)))


async def focus(app: App[Any], name: str) -> Widget:
    editor = row(app, name).query_one(".setting-editor")
    editor.focus()
    return editor


async def test_every_setting_is_shown_with_its_doc_and_value(path: Path) -> None:
    settings = Settings(
        consumers=(
            ConsumerSetting(
                name="billing \x1b[31mdb[/]",
                files=("/etc/pki/billing/server.crt", "/etc/pki/billing/server.key"),
                role="database key",
            ),
        )
    )
    app = Host(settings, path)
    # Wide enough that the temporary folder's long path is never wrapped inside a word.
    async with app.run_test(size=(220, 60)) as pilot:
        await pilot.pause()
        form = app.query_one(SettingsForm)
        assert str(path) in flat(shown(form.query_one("#settings-path", Static)))
        sections = [flat(shown(widget)) for widget in form.query(".settings-section")]
        for info in describe_settings(settings):
            assert f"[{info.section}]" in sections
            setting = row(app, info.name)
            assert flat(shown(setting.query_one(".setting-name", Static))) == info.name
            doc = flat(shown(setting.query_one(".setting-doc", Static)))
            assert flat(info.doc) in doc
            assert info.expected in doc
            editor = setting.query_one(".setting-editor")
            if info.kind == "bool":
                assert isinstance(editor, Switch)
                assert editor.value is info.value
            elif info.kind == "choice":
                assert isinstance(editor, Select)
                assert editor.value == info.value
            else:
                assert isinstance(editor, Input)
                assert editor.value == info.text
            assert error_of(app, info.name) == ""
        assert "[[consumers]]" in sections
        consumers = [flat(shown(widget)) for widget in form.query(".consumer")]
        assert consumers == [
            "billing ␛[31mdb[/] (database key) /etc/pki/billing/server.crt "
            "/etc/pki/billing/server.key"
        ]
        notes = " ".join(flat(shown(widget)) for widget in form.query(".settings-section-doc"))
        assert f"edit its [[consumers]] table in {path}" in notes
        assert "No unsaved changes" in flat(shown(form.query_one("#settings-status", Static)))


async def test_invalid_value_shows_the_reason_and_is_not_saved(path: Path) -> None:
    app = Host(Settings(), path)
    async with app.run_test(size=(100, 40)) as pilot:
        await focus(app, "checks.expiring_days")
        await pilot.press("home", "ctrl+k", *"9999")
        assert app.query_one(SettingsForm).query_one(".setting-editor:focus", Input).value == "9999"
        assert error_of(app, "checks.expiring_days") == (
            "✖ checks.expiring_days must be an integer from 0 to 3650, not 9999"
        )
        assert "1 invalid: checks.expiring_days" in flat(
            shown(app.query_one("#settings-status", Static))
        )
        await pilot.press("ctrl+s")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert not exists(path)
        assert app.saved == []
        message, options = app.notes[-1]
        assert options["severity"] == "error"
        assert options["title"] == "Invalid value for checks.expiring_days"
        assert "must be an integer from 0 to 3650" in message
        # Fixing the value clears the reason as the user types.
        await pilot.press("backspace", "backspace", "backspace")
        assert error_of(app, "checks.expiring_days") == ""


async def test_valid_change_is_saved_to_a_private_new_file(path: Path) -> None:
    app = Host(Settings(), path)
    async with app.run_test(size=(100, 40)) as pilot:
        await focus(app, "checks.expiring_days")
        await pilot.press("home", "ctrl+k", *"45")
        await focus(app, "scan.paths")
        await pilot.press(*"/opt,", "space", *"/srv")
        assert "2 unsaved" in flat(shown(app.query_one("#settings-status", Static)))
        await pilot.press("ctrl+s")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "No unsaved changes" in flat(shown(app.query_one("#settings-status", Static)))
    saved = load_settings(path)
    assert saved.checks.expiring_days == 45
    assert saved.scan.paths == ("/opt", "/srv")
    assert file_mode(path) == 0o600
    assert [(m.settings, m.path) for m in app.saved] == [(saved, path)]
    assert (f"Settings saved to {path}", False) in [
        (message, options.get("markup")) for message, options in app.notes
    ]


async def test_switch_and_select_edit_bool_and_choice_settings(path: Path) -> None:
    app = Host(Settings(), path)
    async with app.run_test(size=(100, 40)) as pilot:
        switch = await focus(app, "export.one_file_per_certificate")
        await pilot.press("space")
        assert isinstance(switch, Switch)
        assert switch.value is False
        value = row(app, "export.one_file_per_certificate").query_one(
            ".setting-switch-value", Static
        )
        assert flat(shown(value)) == "false"
        await pilot.press("down")
        select = app.focused
        assert isinstance(select, Select)
        await pilot.press("enter", "down", "enter")
        assert select.value == "legacy"
        await pilot.press("ctrl+s")
        await app.workers.wait_for_complete()
        await pilot.pause()
    saved = load_settings(path)
    assert saved.export.one_file_per_certificate is False
    assert saved.export.pkcs12_encryption == "legacy"


async def test_escape_reverts_the_focused_setting(path: Path) -> None:
    save_settings(load_settings(path), path)
    app = Host(Settings(), path)
    async with app.run_test(size=(100, 40)) as pilot:
        editor = await focus(app, "scan.paths")
        await pilot.press(*"tls")
        assert "must be" in error_of(app, "scan.paths")
        await pilot.press("escape")
        assert isinstance(editor, Input)
        assert editor.value == ""
        assert error_of(app, "scan.paths") == ""
        assert "No unsaved changes" in flat(shown(app.query_one("#settings-status", Static)))
        assert app.escapes == 0
        # Nothing to revert: escape is left to the app (to cancel a scan, for example).
        await pilot.press("escape")
        assert app.escapes == 1


async def test_up_and_down_move_between_settings(path: Path) -> None:
    app = Host(Settings(), path)
    async with app.run_test(size=(100, 40)) as pilot:
        names = [info.name for info in describe_settings(Settings())]
        app.set_focus(None)
        # Focusing the form focuses its first setting (the app does this on the tab switch).
        app.query_one(SettingsForm).focus()
        await pilot.pause()
        first = row(app, names[0]).query_one(".setting-editor")
        assert app.focused is first
        await pilot.press("down")
        assert app.focused is row(app, names[1]).query_one(".setting-editor")
        await pilot.press("up")
        assert app.focused is first


@pytest.fixture
def broken(path: Path) -> str:
    """Write a settings file with a bad value; return the problem loading reports."""
    path.parent.mkdir(parents=True)
    path.write_text('[checks]\nexpiring_days = "soon \\u001b[31m[b]x[/b]"\n')
    with pytest.raises(SettingsError) as caught:
        load_settings(path)
    return caught.value.message


async def test_broken_file_shows_the_problem_and_saving_replaces_it(
    path: Path, broken: str
) -> None:
    problem = broken
    app = Host(Settings(), path, problem)
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause()
        banner = inside(shown(app.query_one("#settings-problem", Static)))
        assert "The settings file could not be used, so the defaults are in use." in banner
        assert "checks.expiring_days must be an integer from 0 to 3650, not 'soon " in banner
        assert "\x1b" not in banner
        await pilot.press("ctrl+s")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert not app.query("#settings-problem")
    assert load_settings(path) == Settings()


async def test_hostile_problem_text_is_shown_verbatim(path: Path) -> None:
    problem = "line one [bold red]x[/]\nline two \x1b[31mred"
    app = Host(Settings(), path, problem)
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause()
        banner = inside(shown(app.query_one("#settings-problem", Static)))
        assert "line one [bold red]x[/]" in banner
        assert "line two ␛[31mred" in banner
        assert app.is_running


async def test_save_failure_is_reported(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    path = blocker / "settings.toml"
    app = Host(Settings(), path)
    async with app.run_test(size=(100, 40)) as pilot:
        app.query_one(SettingsForm).query_one(".setting-editor").focus()
        await pilot.press("ctrl+s")
        await app.workers.wait_for_complete()
        await pilot.pause()
    assert app.saved == []
    message, options = app.notes[-1]
    assert options["severity"] == "error"
    assert options["title"] == "Settings not saved"
    assert str(path) in message


async def test_a_value_with_control_characters_is_shown_escaped_and_kept(path: Path) -> None:
    settings = Settings(scan=ScanSettings(paths=("/etc/\x1b[31mred",)))
    app = Host(settings, path)
    async with app.run_test(size=(100, 40)) as pilot:
        setting = row(app, "scan.paths")
        editor = setting.query_one(".setting-editor")
        assert not isinstance(editor, Input), "an input would send the escape to the terminal"
        assert flat(shown(editor)) == "/etc/␛[31mred"
        assert "can only be changed in the settings file" in flat(
            shown(setting.query_one(".setting-doc", Static))
        )
        await focus(app, "checks.expiring_days")
        await pilot.press("home", "ctrl+k", "7")
        await pilot.press("ctrl+s")
        await app.workers.wait_for_complete()
        await pilot.pause()
    saved = load_settings(path)
    assert saved.scan.paths == ("/etc/\x1b[31mred",)
    assert saved.checks.expiring_days == 7
