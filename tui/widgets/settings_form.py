"""The Settings tab: every setting of the settings file, editable and checked as you type.

Each setting is read and checked by :mod:`core.settings` (``with_value``), so the form accepts
exactly what loading the file accepts and shows the same reasons.  Saving writes the whole
file atomically with ``save_settings``.
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Self

from rich.text import Text
from textual import events, work
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Input, Select, Static, Switch
from textual.worker import Worker, WorkerState

from core.errors import SettingsError
from core.settings import (
    ConsumerSetting,
    SettingInfo,
    Settings,
    describe_settings,
    save_settings,
    with_value,
)
from core.text import visible

__all__ = ["SettingsForm"]

_SAVE_GROUP = "settings-save"


def _lines(text: str) -> str:
    """Hostile multi-line text made visible line by line (newlines stay line breaks)."""
    return "\n".join(visible(line) for line in text.splitlines())


def _section_docs() -> dict[str, str]:
    """The documentation of each TOML section, keyed by its name in the file."""
    docs: dict[str, str] = {}
    for item in dataclasses.fields(Settings):
        key = str(item.metadata.get("toml", item.name))
        docs[key] = str(item.metadata.get("doc", "") or "")
    return docs


def _row_id(info: SettingInfo) -> str:
    return f"setting-{info.section}-{info.key}"


class _ChoiceSelect(Select[str], inherit_bindings=False):
    """A select whose list opens with enter or space, so up and down move between settings."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter,space", "show_overlay", "Show choices", show=False),
    ]


class _SettingRow(Vertical):
    """One setting: its name, editor, documentation and, when invalid, the reason."""

    def __init__(self, info: SettingInfo) -> None:
        super().__init__(id=_row_id(info), classes="setting")
        self.info = info
        self._state: tuple[str | None, bool, str] | None = None

    def compose(self) -> ComposeResult:
        info = self.info
        with Horizontal(classes="setting-line"):
            yield Static(Text(visible(info.name)), classes="setting-name")
            yield self._editor()
            if info.kind == "bool":
                yield Static(Text(info.text), classes="setting-switch-value")
        doc = Text(visible(info.doc))
        expected = info.expected
        if info.kind == "list":
            expected += ", separated by commas"
        default = visible(info.default_text) or "(empty)"
        doc.append(f"  Expects {expected}; default {default}.", style="italic")
        if self.locked:
            doc.append(
                "  It holds control characters (shown as ␛ and the like), so it can only be "
                "changed in the settings file.",
                style="bold",
            )
        yield Static(doc, classes="setting-doc")
        yield Static("", classes="setting-error")

    @property
    def locked(self) -> bool:
        """The value holds control characters, which an input field would send to the terminal."""
        return self.info.kind in ("str", "list") and visible(self.info.text) != self.info.text

    def _editor(self) -> Widget:
        info = self.info
        if self.locked:
            return Static(Text(visible(info.text)), classes="setting-editor -locked")
        if info.kind == "bool":
            return Switch(value=bool(info.value), classes="setting-editor")
        if info.kind == "choice":
            return _ChoiceSelect(
                [(Text(choice), choice) for choice in info.choices],
                value=info.text,
                allow_blank=False,
                compact=True,
                classes="setting-editor",
            )
        return Input(
            value=info.text,
            placeholder="(empty)",
            compact=True,
            classes="setting-editor",
            select_on_focus=False,
        )

    @property
    def editor(self) -> Widget:
        """The widget that edits the value."""
        return self.query_one(".setting-editor")

    def text(self) -> str:
        """The value in the editor, as text that ``with_value`` reads."""
        editor = self.editor
        if isinstance(editor, Switch):
            return "true" if editor.value else "false"
        if isinstance(editor, Select):
            value = editor.value
            return value if isinstance(value, str) else ""
        if isinstance(editor, Input):
            return editor.value
        return self.info.text

    def set_text(self, text: str) -> None:
        """Put a value (as text) into the editor."""
        editor = self.editor
        if isinstance(editor, Switch):
            editor.value = text == "true"
        elif isinstance(editor, Select):
            editor.value = text
        elif isinstance(editor, Input):
            editor.value = text
            editor.cursor_position = len(text)

    def show_state(self, *, error: str | None, modified: bool) -> None:
        """Show the reason a value is refused (or none) and whether it differs from the file."""
        editor = self.editor
        switch_text = ""
        if isinstance(editor, Switch):
            switch_text = "true" if editor.value else "false"
        state = (error, modified, switch_text)
        if state == self._state:
            # Nothing the user sees changes: skip the re-layout of a long form on each key.
            return
        self._state = state
        self.set_class(error is not None, "-invalid")
        self.set_class(modified, "-modified")
        if isinstance(editor, Input):
            editor.set_class(error is not None, "-invalid")
        message = self.query_one(".setting-error", Static)
        message.update(Text(f"✖ {_lines(error)}") if error is not None else Text(""))
        name = Text(visible(self.info.name))
        if modified or error is not None:
            name.append(" ●", style="bold")
        self.query_one(".setting-name", Static).update(name, layout=False)
        if switch_text:
            self.query_one(".setting-switch-value", Static).update(Text(switch_text), layout=False)


class SettingsForm(VerticalScroll, can_focus=False):
    """Every setting of the settings file with its documentation and an editor."""

    DEFAULT_CSS = """
    SettingsForm {
        height: 1fr;
        padding: 0 1;
    }
    SettingsForm #settings-path {
        color: $text-muted;
    }
    SettingsForm #settings-problem {
        border: heavy $error;
        background: $error 15%;
        padding: 0 1;
        margin: 1 0 0 0;
    }
    SettingsForm #settings-status {
        margin: 1 0 0 0;
        color: $text-muted;
    }
    SettingsForm #settings-status.-pending {
        color: $warning;
        text-style: bold;
    }
    SettingsForm #settings-status.-invalid {
        color: $error;
        text-style: bold;
    }
    SettingsForm .settings-section {
        margin: 1 0 0 0;
        color: $accent;
        text-style: bold;
    }
    SettingsForm #backup-status {
        margin: 1 0 0 1;
        padding: 0 1;
        border-left: outer $accent;
    }
    SettingsForm .settings-section-doc {
        color: $text-muted;
    }
    SettingsForm .setting {
        height: auto;
        margin: 1 0 0 0;
        padding: 0 0 0 1;
        border-left: blank;
    }
    SettingsForm .setting:focus-within {
        border-left: thick $accent;
        background: $boost;
    }
    SettingsForm .setting-line {
        height: auto;
    }
    SettingsForm .setting-name {
        width: 34;
        padding: 0 1 0 0;
        text-style: bold;
    }
    SettingsForm .setting.-modified .setting-name {
        color: $warning;
    }
    SettingsForm .setting.-invalid .setting-name {
        color: $error;
    }
    SettingsForm .setting-editor {
        width: 1fr;
    }
    SettingsForm Switch.setting-editor {
        width: auto;
        height: 1;
        border: none;
        padding: 0 1;
    }
    SettingsForm .setting-switch-value {
        width: 1fr;
        padding: 0 0 0 1;
    }
    SettingsForm .setting-doc {
        color: $text-muted;
    }
    SettingsForm .setting-error {
        display: none;
        color: $error;
        text-style: bold;
    }
    SettingsForm .setting.-invalid .setting-error {
        display: block;
    }
    SettingsForm .consumer {
        margin: 1 0 0 1;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "ctrl+s",
            "save_settings",
            "Save",
            id="save_settings",
            tooltip="Check every setting and write them to the settings file",
        ),
        Binding(
            "escape",
            "revert_setting",
            "Revert",
            id="revert_setting",
            tooltip="Put the focused setting back to its saved value",
        ),
        Binding(
            "down",
            "next_setting",
            "Next setting",
            id="next_setting",
            show=False,
            tooltip="Move to the next setting",
        ),
        Binding(
            "up",
            "previous_setting",
            "Previous setting",
            id="previous_setting",
            show=False,
            tooltip="Move to the previous setting",
        ),
    ]

    @dataclass
    class Saved(Message):
        """Posted after the settings were written to the settings file."""

        settings: Settings
        path: Path

    def __init__(
        self,
        settings: Settings,
        path: Path,
        problem: str | None = None,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._saved = settings
        self._path = path
        self._problem = problem
        self._infos = {info.name: info for info in describe_settings(settings)}
        self._status = ""

    @property
    def saved_settings(self) -> Settings:
        """The settings as they are in the file (after the last save)."""
        return self._saved

    @property
    def path(self) -> Path:
        """The settings file."""
        return self._path

    def focus(self, scroll_visible: bool = True) -> Self:
        """Focus the first setting's editor: the form itself takes no focus."""
        for row in self._rows():
            if not row.locked:
                row.editor.focus(scroll_visible)
                break
        return self

    def compose(self) -> ComposeResult:
        where = Text("Settings file: ")
        where.append(visible(str(self._path)), style="bold")
        if not self._path.exists():
            where.append(" (not created yet: the defaults are in use)")
        yield Static(where, id="settings-path")
        if self._problem is not None:
            yield Static(self._problem_text(self._problem), id="settings-problem")
        yield Static("", id="settings-status")
        docs = _section_docs()
        section = None
        for info in self._infos.values():
            if info.section != section:
                if section == "backup":
                    yield from self._backup_status()
                section = info.section
                yield Static(Text(f"[{section}]"), classes="settings-section")
                if docs.get(section):
                    yield Static(Text(docs[section]), classes="settings-section-doc")
            yield _SettingRow(info)
        if section == "backup":
            yield from self._backup_status()
        yield from self._consumers()

    def _backup_status(self) -> ComposeResult:
        yield Static(Text("Backups: looking…"), id="backup-status")

    def show_backup_status(self, lines: list[str]) -> None:
        """Show the backup schedule, the newest archive and the last run (plain text lines)."""
        text = Text("Backups\n", style="bold")
        text.append("\n".join(lines), style="")
        for status in self.query("#backup-status").results(Static):
            status.update(text)

    def _problem_text(self, problem: str) -> Text:
        text = Text("The settings file could not be used, so the defaults are in use.\n")
        text.append(_lines(problem))
        text.append(
            "\nFix the file and restart, or change the settings here and press ctrl+s to "
            "replace the file with the values shown."
        )
        return text

    def _consumers(self) -> ComposeResult:
        yield Static(Text("[[consumers]]"), classes="settings-section")
        path = visible(str(self._path))
        yield Static(
            Text(
                "Files that something on this machine uses, so that their certificates count as "
                "required. They are shown here read-only: to add or change one, edit its "
                f"[[consumers]] table in {path} (the comments there list the keys)."
            ),
            classes="settings-section-doc",
        )
        consumers = self._saved.consumers
        if not consumers:
            yield Static(Text("No consumers are declared."), classes="consumer")
            return
        for consumer in consumers:
            yield Static(self._consumer_text(consumer), classes="consumer")

    @staticmethod
    def _consumer_text(consumer: ConsumerSetting) -> Text:
        text = Text(visible(consumer.name), style="bold")
        if consumer.role:
            text.append(f"  ({visible(consumer.role)})")
        for file in consumer.files:
            text.append(f"\n  {visible(file)}")
        if not consumer.check_expiry:
            text.append("\n  expiry is not checked (check_expiry = false)", style="italic")
        return text

    def on_mount(self) -> None:
        for row in self.query(_SettingRow):
            self._check(row)
        self._show_status()
        # The app may focus the first field while the layout settles; start at the top.
        self.call_after_refresh(self.scroll_home, animate=False)

    def _rows(self) -> list[_SettingRow]:
        return list(self.query(_SettingRow))

    def _check(self, row: _SettingRow) -> Settings | None:
        """Validate one row against the saved settings and show the outcome next to it."""
        info = row.info
        try:
            changed = with_value(self._saved, info.section, info.key, row.text())
        except SettingsError as exc:
            row.show_state(error=exc.message, modified=True)
            return None
        row.show_state(error=None, modified=changed != self._saved)
        return changed

    def _show_status(self) -> None:
        rows = self._rows()
        invalid = [row.info.name for row in rows if row.has_class("-invalid")]
        pending = [row.info.name for row in rows if row.has_class("-modified")]
        status = self.query_one("#settings-status", Static)
        status.set_class(bool(invalid), "-invalid")
        status.set_class(bool(pending) and not invalid, "-pending")
        if invalid:
            message = (
                f"✖ {len(invalid)} invalid: {', '.join(invalid)}. Fix or press escape to "
                "revert; ctrl+s saves once every value is valid."
            )
        elif pending:
            message = (
                f"● {len(pending)} unsaved: {', '.join(pending)}. ctrl+s saves, escape "
                "reverts the focused setting."
            )
        else:
            message = "No unsaved changes. Values are checked as you type; ctrl+s saves."
        if message != self._status:
            self._status = message
            status.update(Text(message))
        self.refresh_bindings()

    def _row_of(self, widget: Widget | None) -> _SettingRow | None:
        node = widget
        while node is not None and node is not self:
            if isinstance(node, _SettingRow):
                return node
            parent = node.parent
            node = parent if isinstance(parent, Widget) else None
        return None

    def _changed(self, control: Widget | None) -> None:
        row = self._row_of(control)
        if row is None:
            return
        self._check(row)
        self._show_status()

    def on_input_changed(self, event: Input.Changed) -> None:
        self._changed(event.control)

    def on_switch_changed(self, event: Switch.Changed) -> None:
        self._changed(event.control)

    def on_select_changed(self, event: Select.Changed) -> None:
        self._changed(event.control)

    def on_descendant_focus(self, _event: events.DescendantFocus) -> None:
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Escape reverts only a changed setting; otherwise it is left to the app."""
        if action == "revert_setting":
            row = self._row_of(self.app.focused)
            return row is not None and (row.has_class("-modified") or row.has_class("-invalid"))
        return True

    def action_revert_setting(self) -> None:
        """Put the focused setting back to its saved value."""
        row = self._row_of(self.app.focused)
        if row is None or row.locked:
            raise SkipAction()
        saved = {info.name: info for info in describe_settings(self._saved)}
        row.set_text(saved[row.info.name].text)
        self._check(row)
        self._show_status()

    def _move(self, step: int) -> None:
        editors = [row.editor for row in self._rows() if not row.locked]
        focused = self._row_of(self.app.focused)
        if focused is None:
            target = editors[0] if step > 0 else editors[-1]
        else:
            index = editors.index(focused.editor) + step
            if not 0 <= index < len(editors):
                # At the first or last setting the keys scroll the rest into view.
                self.scroll_relative(y=step * 3, animate=False)
                return
            target = editors[index]
        target.focus()

    def action_next_setting(self) -> None:
        """Focus the editor of the next setting."""
        self._move(1)

    def action_previous_setting(self) -> None:
        """Focus the editor of the previous setting."""
        self._move(-1)

    def action_save_settings(self) -> None:
        """Check every setting; save them all, or say which one is refused and why."""
        settings = self._saved
        problems: list[tuple[_SettingRow, str]] = []
        for row in self._rows():
            try:
                settings = with_value(settings, row.info.section, row.info.key, row.text())
            except SettingsError as exc:
                problems.append((row, exc.message))
        if problems:
            row, reason = problems[0]
            row.editor.focus()
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            self.notify(
                f"Not saved: {_lines(reason)}{more}",
                title=f"Invalid value for {visible(row.info.name)}",
                severity="error",
                markup=False,
            )
            return
        self._save(settings)

    @work(exclusive=True, group=_SAVE_GROUP, exit_on_error=False)
    async def _save(self, settings: Settings) -> None:
        try:
            await asyncio.to_thread(save_settings, settings, self._path)
        except SettingsError as exc:
            self.notify(
                _lines(exc.message), title="Settings not saved", severity="error", markup=False
            )
            return
        self._saved = settings
        for row in self._rows():
            self._check(row)
        self._show_status()
        for banner in self.query("#settings-problem"):
            await banner.remove()
        where = self.query_one("#settings-path", Static)
        where.update(Text.assemble("Settings file: ", (visible(str(self._path)), "bold")))
        self.notify(f"Settings saved to {visible(str(self._path))}", markup=False)
        self.post_message(self.Saved(settings, self._path))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker.group == _SAVE_GROUP and event.state == WorkerState.ERROR:
            event.stop()
            self.notify(
                visible(f"{type(worker.error).__name__}: {worker.error}"),
                title="Settings not saved",
                severity="error",
                markup=False,
            )
