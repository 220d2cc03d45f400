"""The export wizard walked by keys: what, format, password, folder, preview, write, summary."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import load_pem_private_key, pkcs12
from textual.pilot import Pilot
from textual.widgets import Input, OptionList

from core.demo import DemoTree
from core.errors import CertdeckError
from core.scope import Scope, ScopeKind
from core.settings import load_settings, with_value
from core.transfer import WriteFailed
from tests.tui.harness import (
    HOSTILE_CN,
    SETTINGS_IN_TREE,
    demo_app,
    focused,
    main_screen,
    scanned,
    screen_text,
    table,
    until,
)
from tests.tui.wizards import (
    at_step,
    closed,
    open_export,
    record_notes,
    replace_text,
    report,
    type_text,
)
from tui.commands import palette_commands
from tui.screens.error import ErrorScreen
from tui.screens.export_wizard import ExportWizard
from tui.widgets.choice_set import ChoiceSet
from tui.widgets.password_field import PasswordField
from tui.widgets.settings_form import SettingsForm
from tui.widgets.toggle import Toggle

PASSWORD = "Correct-Horse-42"


def exported(tree: DemoTree, folder: str = "export") -> list[Path]:
    """The files in an export folder under the tree's root (none when it does not exist)."""
    where = tree.root / folder
    return sorted(where.iterdir()) if where.exists() else []


async def to_password(pilot: Pilot[Any]) -> ExportWizard:
    """Open the wizard, take the highlighted certificate and PKCS#12, reach the password."""
    wizard = await open_export(pilot)
    await pilot.press("enter")
    await at_step(pilot, wizard, "options")
    await pilot.press("enter")
    await at_step(pilot, wizard, "password")
    return wizard


async def to_folder(pilot: Pilot[Any]) -> ExportWizard:
    """Reach the folder step with a good password typed twice."""
    wizard = await to_password(pilot)
    await type_text(pilot, PASSWORD)
    await pilot.press("enter")
    await type_text(pilot, PASSWORD)
    await pilot.press("enter")
    await at_step(pilot, wizard, "folder")
    return wizard


async def to_preview(pilot: Pilot[Any], folder: str = "export") -> ExportWizard:
    """Reach the preview with the folder typed (relative to the tree's root)."""
    wizard = await to_folder(pilot)
    await replace_text(pilot, folder)
    await pilot.press("enter")
    await at_step(pilot, wizard, "preview")
    return wizard


async def test_highlighted_certificate_as_pkcs12_end_to_end(
    tree: DemoTree, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = demo_app(tree)
    notes = record_notes(app, monkeypatch)
    async with app.run_test(size=(80, 24)) as pilot:
        await scanned(pilot)
        record = table(app, "required").highlighted
        assert record is not None
        wizard = await to_preview(pilot)
        preview = await report(pilot, wizard, "preview-report")
        assert "Export 1 certificate as PKCS#12 (modern: AES-256-CBC" in preview
        assert "/export/Billing_Master_Key.p12  (PKCS#12, mode 0600)" in preview
        assert "private key: /opt/billing/keys/master.pem" in preview
        assert exported(tree) == [], "the preview writes nothing"
        await pilot.press("enter")
        await at_step(pilot, wizard, "summary")
        summary = await report(pilot, wizard, "summary-report")
        assert "Wrote 1 file to /export:" in summary
        assert "/export/Billing_Master_Key.p12  (PKCS#12: 1 certificate and private key" in summary
        await pilot.press("enter")
        await closed(pilot)
        files = exported(tree)
        assert [f.name for f in files] == ["Billing_Master_Key.p12"]
        assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
        bundle = pkcs12.load_pkcs12(files[0].read_bytes(), PASSWORD.encode())
        assert bundle.cert is not None
        assert bundle.key is not None
        with pytest.raises(ValueError, match="Invalid password"):
            pkcs12.load_pkcs12(files[0].read_bytes(), b"wrong")
        assert notes.text == "Export done: 1 file written to /export."
        # The password shows nowhere, not even in the notification.
        assert PASSWORD not in screen_text(app)
        assert PASSWORD not in notes.text


async def test_password_typed_twice_masked_with_a_strength_hint(tree: DemoTree) -> None:
    app = demo_app(tree)
    async with app.run_test(size=(80, 24)) as pilot:
        await scanned(pilot)
        wizard = await to_password(pilot)
        field = wizard.query_one("#new-password", PasswordField)
        await pilot.press("enter", "enter")
        assert wizard.step == "password"
        assert wizard.message == "Type a password: it protects what is written."
        await pilot.press("up")
        await type_text(pilot, "demo")
        assert "very weak: this password is among the first ones guessed" in screen_text(app)
        await pilot.press("enter")
        assert focused(app) is field.second
        await type_text(pilot, "dem0")
        await pilot.press("enter")
        assert wizard.step == "password"
        assert "The two entries differ" in wizard.message
        assert "✖ the two entries differ" in screen_text(app)
        await pilot.press("up")
        await replace_text(pilot, PASSWORD)
        await pilot.press("down")
        await replace_text(pilot, PASSWORD)
        text = screen_text(app)
        assert "strong: hard to guess" in text
        assert "✔ the two entries match" in text
        assert PASSWORD not in text
        assert "•" * len(PASSWORD) in text
        await pilot.press("enter")
        await at_step(pilot, wizard, "folder")


async def test_pem_leaves_keys_out_unless_chosen_with_a_warning(tree: DemoTree) -> None:
    app = demo_app(tree)
    async with app.run_test(size=(80, 24)) as pilot:
        await scanned(pilot)
        wizard = await open_export(pilot)
        await pilot.press("enter")
        await at_step(pilot, wizard, "options")
        keys = wizard.query_one("#keys", Toggle)
        assert keys.value, "PKCS#12 includes the key by default"
        await pilot.press("right")  # PEM
        assert wizard.query_one("#format", ChoiceSet).value == "pem"
        assert not keys.value, "PEM keys are unencrypted: only when chosen"
        assert not wizard.query_one("#encryption-row").display
        assert "Step 2 of 5" in screen_text(app), "PEM has no password step"
        await pilot.press("down", "down", "space")
        assert keys.value
        assert "The private keys are written unencrypted (mode 0600)" in screen_text(app)
        await pilot.press("enter")
        await at_step(pilot, wizard, "folder")
        await replace_text(pilot, "export")
        await pilot.press("enter")
        await at_step(pilot, wizard, "preview")
        preview = await report(pilot, wizard, "preview-report")
        assert "▲ warning: private keys will be written unencrypted" in preview
        assert "/export/Billing_Master_Key.key  (PEM private key, mode 0600)" in preview
        await pilot.press("enter")
        await at_step(pilot, wizard, "summary")
        await pilot.press("enter")
        await closed(pilot)
        files = {f.name: f for f in exported(tree)}
        assert set(files) == {"Billing_Master_Key.pem", "Billing_Master_Key.key"}
        key_file = files["Billing_Master_Key.key"]
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert load_pem_private_key(key_file.read_bytes(), None) is not None


@pytest.mark.parametrize("step", ["what", "options", "password", "folder", "preview"])
async def test_escape_at_any_step_writes_nothing(
    tree: DemoTree, step: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = demo_app(tree)
    notes = record_notes(app, monkeypatch)
    async with app.run_test(size=(80, 24)) as pilot:
        await scanned(pilot)
        if step == "what":
            wizard = await open_export(pilot)
        elif step == "options":
            wizard = await open_export(pilot)
            await pilot.press("enter")
        elif step == "password":
            wizard = await to_password(pilot)
            await type_text(pilot, PASSWORD)
        elif step == "folder":
            wizard = await to_folder(pilot)
            await replace_text(pilot, "export")
        else:
            wizard = await to_preview(pilot)
        await at_step(pilot, wizard, step)
        await pilot.press("escape")
        await closed(pilot)
        assert not (tree.root / "export").exists()
        assert load_settings(SETTINGS_IN_TREE).export.directory == ""
        assert "Export done" not in notes.text


async def test_back_goes_to_the_previous_step_and_keeps_the_choices(tree: DemoTree) -> None:
    app = demo_app(tree)
    async with app.run_test(size=(80, 24)) as pilot:
        await scanned(pilot)
        wizard = await to_folder(pilot)
        await replace_text(pilot, "export")
        await pilot.press("enter")
        await at_step(pilot, wizard, "preview")
        await pilot.press("backspace")
        await at_step(pilot, wizard, "folder")
        assert wizard.query_one("#folder-path", Input).value == "export"
        await pilot.press("tab", "tab", "enter")  # the Back button
        await at_step(pilot, wizard, "password")
        assert wizard.query_one("#new-password", PasswordField).password == PASSWORD.encode()


async def test_marked_required_and_scope_choices_show_their_counts(tree: DemoTree) -> None:
    app = demo_app(tree)
    async with app.run_test(size=(100, 30)) as pilot:
        await scanned(pilot)
        await pilot.press("space", "down", "space", "down", "space")
        assert len(app.marked) == 3
        wizard = await open_export(pilot)
        options = wizard.query_one("#what-list", OptionList)
        text = screen_text(app)
        required = sum(r.required for r in app.catalog.records.values())
        assert "The 3 marked certificates" in text
        assert f"All required certificates: {required}" in text
        assert f"Every certificate on the machine: {len(app.catalog.records)}" in text
        # With marks, the marked ones are offered first.
        highlighted = options.highlighted_option
        assert highlighted is not None
        assert highlighted.id == "marked"
        await pilot.press("enter")
        await at_step(pilot, wizard, "options")
        await pilot.press("right")  # PEM
        await pilot.press("down", "right")  # one file for all
        await pilot.press("enter")
        await at_step(pilot, wizard, "folder")
        await replace_text(pilot, "export")
        await pilot.press("enter")
        await at_step(pilot, wizard, "preview")
        preview = await report(pilot, wizard, "preview-report")
        assert preview.startswith("Export 3 certificates as PEM")
        assert "/export/certdeck-export.pem  (PEM certificates, mode 0644)" in preview
        await pilot.press("enter")
        await at_step(pilot, wizard, "summary")
        await pilot.press("escape")
        await closed(pilot)
        assert [f.name for f in exported(tree)] == ["certdeck-export.pem"]
        assert exported(tree)[0].read_bytes().count(b"BEGIN CERTIFICATE") >= 3


async def test_scope_choice_exports_what_the_scope_holds(tree: DemoTree) -> None:
    app = demo_app(tree)
    async with app.run_test(size=(100, 30)) as pilot:
        await scanned(pilot)
        screen = main_screen(app)
        screen.set_scope(Scope(ScopeKind.CONSUMER, "haproxy"))
        in_scope = len(app.catalog.scoped(screen.scope))
        wizard = await open_export(pilot)
        assert f"Everything in the current scope (service haproxy): {in_scope}" in screen_text(app)
        await pilot.press("end", "enter")
        await at_step(pilot, wizard, "options")
        assert wizard.selection == screen.scope


async def test_settings_choose_the_defaults(tree: DemoTree) -> None:
    settings = load_settings(SETTINGS_IN_TREE)
    settings = with_value(settings, "export", "pkcs12_encryption", "legacy")
    settings = with_value(settings, "export", "one_file_per_certificate", "false")
    settings = with_value(settings, "export", "directory", "/srv/exports")
    app = demo_app(tree, settings=settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await scanned(pilot)
        wizard = await open_export(pilot)
        await pilot.press("enter")
        await at_step(pilot, wizard, "options")
        assert wizard.query_one("#encryption", ChoiceSet).value == "legacy"
        assert wizard.query_one("#files", ChoiceSet).value == "one"
        assert "Legacy encryption (3DES, SHA-1 MAC) is weak" in screen_text(app)
        await pilot.press("enter")
        await at_step(pilot, wizard, "password")
        await type_text(pilot, PASSWORD)
        await pilot.press("enter")
        await type_text(pilot, PASSWORD)
        await pilot.press("enter")
        await at_step(pilot, wizard, "folder")
        assert wizard.query_one("#folder-path", Input).value.endswith("/srv/exports")
        assert not wizard.query_one("#remember", Toggle).display, "already in the settings"
        await pilot.press("enter")
        await at_step(pilot, wizard, "preview")
        preview = await report(pilot, wizard, "preview-report")
        assert "PKCS#12 (legacy: 3DES, SHA-1 MAC, for old importers)" in preview
        assert "to /srv/exports (will be created):" in preview


async def test_the_folder_can_be_remembered_in_the_settings(tree: DemoTree) -> None:
    app = demo_app(tree)
    async with app.run_test(size=(80, 24)) as pilot:
        await scanned(pilot)
        wizard = await to_folder(pilot)
        remember = wizard.query_one("#remember", Toggle)
        assert remember.display, "export.directory is unset: the folder can be saved"
        await replace_text(pilot, "srv/tls-exports")
        await pilot.press("down", "space")
        assert remember.value
        await pilot.press("enter")
        await at_step(pilot, wizard, "preview")
        await pilot.press("enter")
        await at_step(pilot, wizard, "summary")
        assert wizard.message == "The folder /srv/tls-exports is saved as export.directory."
        await pilot.press("enter")
        await closed(pilot)
        await until(pilot, lambda: app.settings.export.directory != "", "settings in use")
        assert app.settings.export.directory == "/srv/tls-exports"
        assert load_settings(SETTINGS_IN_TREE).export.directory == "/srv/tls-exports"
        form = app.screen.query_one(SettingsForm)
        assert form.saved_settings.export.directory == "/srv/tls-exports"
        assert load_settings(SETTINGS_IN_TREE).scan.paths == ("/opt/billing",), "rest kept"


async def test_a_folder_that_cannot_be_used_is_explained_in_the_wizard(tree: DemoTree) -> None:
    (tree.root / "not-a-folder").write_text("x")
    app = demo_app(tree)
    async with app.run_test(size=(80, 24)) as pilot:
        await scanned(pilot)
        wizard = await to_folder(pilot)
        await pilot.press("enter")
        assert wizard.message == "Type the folder to write into."
        await replace_text(pilot, "not-a-folder")
        await pilot.press("enter")
        await until(pilot, lambda: wizard.busy is None and "exists" in wizard.message, "refusal")
        assert wizard.step == "folder"
        assert "Destination problem: /not-a-folder exists and is not a folder" in wizard.message
        assert isinstance(app.screen, ExportWizard), "no error modal for an expected problem"


async def test_a_failed_write_says_so_and_writes_nothing(
    tree: DemoTree, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise WriteFailed("could not write /export/x.p12: No space left on device")

    monkeypatch.setattr("tui.screens.export_wizard.write_export", fail)
    app = demo_app(tree)
    async with app.run_test(size=(80, 24)) as pilot:
        await scanned(pilot)
        wizard = await to_preview(pilot)
        await pilot.press("enter")
        await until(pilot, lambda: "No space" in wizard.message, "the failure is shown")
        assert wizard.step == "preview"
        assert wizard.message == (
            "Nothing was written. Write failed: could not write /export/x.p12: "
            "No space left on device"
        )
        assert exported(tree) == []


async def test_an_unexpected_error_opens_the_error_modal_not_a_traceback(
    tree: DemoTree, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("tui.screens.export_wizard.write_export", crash)
    app = demo_app(tree)
    async with app.run_test(size=(80, 24)) as pilot:
        await scanned(pilot)
        wizard = await to_preview(pilot)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ErrorScreen), "the error modal")
        error = app.screen
        assert isinstance(error, ErrorScreen)
        assert error.error_title == "Export failed"
        assert "RuntimeError('boom')" in error.message
        assert PASSWORD not in error.full_text
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is wizard
        assert "Something unexpected went wrong" in wizard.message


async def test_expected_errors_of_the_plan_are_shown_in_the_wizard(
    tree: DemoTree, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise CertdeckError("the certificate vanished", title="Nothing to export")

    monkeypatch.setattr("tui.screens.export_wizard.plan_export", refuse)
    app = demo_app(tree)
    async with app.run_test(size=(80, 24)) as pilot:
        await scanned(pilot)
        wizard = await to_folder(pilot)
        await replace_text(pilot, "export")
        await pilot.press("enter")
        await until(pilot, lambda: "vanished" in wizard.message, "the refusal")
        assert wizard.message == "Nothing to export: the certificate vanished"
        assert wizard.step == "folder"


async def test_palette_command_opens_the_wizard(tree: DemoTree) -> None:
    app = demo_app(tree)
    async with app.run_test(size=(80, 24)) as pilot:
        await scanned(pilot)
        command = next(c for c in palette_commands(app) if c.title == "export: certificates")
        command.callback()
        await until(pilot, lambda: isinstance(app.screen, ExportWizard), "the wizard")


async def test_certificate_text_is_shown_as_text_never_as_markup(tree: DemoTree) -> None:
    app = demo_app(tree)
    async with app.run_test(size=(100, 30)) as pilot:
        await scanned(pilot)
        await pilot.press("2")
        await pilot.pause()
        assert table(app, "all").move_to(tree.cert("hostile").sha256)
        wizard = await open_export(pilot)
        assert f"The highlighted certificate: {HOSTILE_CN}" in screen_text(app)
        await pilot.press("enter")
        await at_step(pilot, wizard, "options")
        await pilot.press("right", "enter")  # PEM: no password step
        await at_step(pilot, wizard, "folder")
        await replace_text(pilot, "export")
        await pilot.press("enter")
        await at_step(pilot, wizard, "preview")
        preview = await report(pilot, wizard, "preview-report")
        assert f"certificate: {HOSTILE_CN}" in preview
        assert isinstance(app.screen, ExportWizard), "no markup action ran"


async def test_unsaved_settings_edits_are_reported_when_the_folder_is_saved(
    tree: DemoTree, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = demo_app(tree)
    notes = record_notes(app, monkeypatch)
    async with app.run_test(size=(80, 24)) as pilot:
        await scanned(pilot)
        await pilot.press("4")
        await pilot.pause()
        await type_text(pilot, ", /opt/unsaved")  # an edit of scan.paths, not saved
        await pilot.pause()
        form = app.screen.query_one(SettingsForm)
        assert form.query(".setting.-modified")
        main_screen(app).action_show_tab("required")
        await pilot.pause()
        wizard = await to_folder(pilot)
        await replace_text(pilot, "srv/exports")
        await pilot.press("down", "space", "enter")
        await at_step(pilot, wizard, "preview")
        await pilot.press("enter")
        await at_step(pilot, wizard, "summary")
        await pilot.press("enter")
        await closed(pilot)
        await until(pilot, lambda: "Settings reloaded" in notes.text, "the note")
        assert app.screen.query_one(SettingsForm).saved_settings.export.directory == "/srv/exports"
