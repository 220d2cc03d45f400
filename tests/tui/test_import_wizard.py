"""The import wizard walked by keys: file, password (with retries), contents, folder, preview,
write, summary, then the rescan that highlights the new certificate."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from textual.pilot import Pilot
from textual.widgets import Button, Input

from core.demo import DEMO_PASSWORD, DemoTree
from core.importer import NotPkcs12, UnsupportedAlgorithm
from core.settings import Settings, load_settings, with_value
from tests.tui.harness import (
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
    open_import,
    record_notes,
    replace_text,
    report,
    type_text,
)
from tui.app import CertdeckApp
from tui.commands import palette_commands
from tui.screens.import_wizard import ImportWizard
from tui.widgets.file_picker import FilePicker
from tui.widgets.password_field import PasswordField
from tui.widgets.toggle import Toggle

P12 = "~/etc/ssl/private/legacy-app.p12"
ENCRYPTED_KEY = "~/etc/ssl/private/backup-signing.key"


@pytest.fixture(autouse=True)
def _home_is_the_tree(tree: DemoTree, monkeypatch: pytest.MonkeyPatch) -> None:
    """The file browser starts in the home folder: here the demo tree's root."""
    monkeypatch.setenv("HOME", str(tree.root))


def importing_to(folder: str) -> Settings:
    """The demo settings with ``import.directory`` set to a machine path."""
    return with_value(load_settings(SETTINGS_IN_TREE), "import", "directory", folder)


def imported_files(tree: DemoTree, folder: str) -> list[Path]:
    """The files of a machine folder under the tree (none when it does not exist)."""
    where = tree.root / folder.lstrip("/")
    return sorted(where.iterdir()) if where.exists() else []


async def to_password(pilot: Pilot[Any], path: str = P12) -> ImportWizard:
    """Open the wizard, type a file's path and reach the password step."""
    wizard = await open_import(pilot)
    assert isinstance(focused(pilot.app), Input)
    await type_text(pilot, path)
    await pilot.press("enter")
    await at_step(pilot, wizard, "password")
    return wizard


async def to_contents(pilot: Pilot[Any]) -> ImportWizard:
    """Open the demo PKCS#12 file with its password."""
    wizard = await to_password(pilot)
    await type_text(pilot, DEMO_PASSWORD)
    await pilot.press("enter")
    await at_step(pilot, wizard, "contents")
    return wizard


async def to_plan(pilot: Pilot[Any]) -> ImportWizard:
    """Reach the preview of the files with the default folder."""
    wizard = await to_contents(pilot)
    await pilot.press("enter")
    await at_step(pilot, wizard, "folder")
    await pilot.press("enter")
    await at_step(pilot, wizard, "plan")
    return wizard


async def rescanned(pilot: Pilot[Any]) -> None:
    """Wait until the wizard's rescan is over and the import worker has finished."""
    app = pilot.app
    assert isinstance(app, CertdeckApp)
    await until(
        pilot,
        lambda: (
            app.scan_state.scans >= 2
            and not app.scan_state.running
            and not any(w.group == "import-wizard" for w in app.workers)
        ),
        "the rescan after the import",
    )
    await pilot.pause()


async def test_pkcs12_with_a_wrong_then_the_right_password_end_to_end(
    tree: DemoTree, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = demo_app(tree, settings=importing_to("/etc/ssl/imported"))
    notes = record_notes(app, monkeypatch)
    async with app.run_test(size=(80, 24)) as pilot:
        await scanned(pilot)
        wizard = await to_password(pilot)
        prompt = screen_text(app)
        assert "legacy-app.p12: the PKCS#12 file is password-protected" in prompt
        assert "Step 2 of 6 · Password of the file" in prompt
        await type_text(pilot, "Wr0ng-Guess")
        assert "Wr0ng-Guess" not in screen_text(app)
        assert "•" * len("Wr0ng-Guess") in screen_text(app)
        await pilot.press("enter")
        await until(pilot, lambda: "wrong" in wizard.message, "the wrong password is refused")
        assert wizard.message.startswith("✖ The password is wrong for legacy-app.p12.")
        assert wizard.message.endswith("(2 tries left)")
        field = wizard.query_one("#file-password", PasswordField)
        assert field.first.value == "", "a wrong password is not kept"
        assert focused(app) is field.first
        await type_text(pilot, DEMO_PASSWORD)
        await pilot.press("enter")
        await at_step(pilot, wizard, "contents")
        contents = await report(pilot, wizard, "contents-report")
        assert contents.splitlines()[0] == "legacy-app.p12: PKCS#12"
        assert "1. legacy-app.demo.example  (TLS server)" in contents
        assert "   subject CN=legacy-app.demo.example,O=Demo Corp,C=DE" in contents
        assert "   valid   2026-05-11 to 2028-05-10" in contents
        assert "   new on this machine" in contents
        assert "Chain order (leaf first)" in contents
        assert (
            "Private key: EC 256 bits (secp256r1), matches certificate 1 "
            "(legacy-app.demo.example)" in contents
        )
        await pilot.press("enter")
        await at_step(pilot, wizard, "folder")
        assert wizard.query_one("#folder-path", Input).value == "~/etc/ssl/imported"
        await pilot.press("enter")
        await at_step(pilot, wizard, "plan")
        plan = await report(pilot, wizard, "plan-report")
        assert "Write to /etc/ssl/imported (will be created):" in plan
        assert "/etc/ssl/imported/legacy-app.demo.example.pem  (PEM certificates" in plan
        assert "/etc/ssl/imported/legacy-app.demo.example.key  (PEM private key" in plan
        assert imported_files(tree, "/etc/ssl/imported") == [], "the preview writes nothing"
        await pilot.press("enter")
        await at_step(pilot, wizard, "summary")
        summary = await report(pilot, wizard, "summary-report")
        assert summary.startswith("Wrote 2 files to /etc/ssl/imported:")
        assert not wizard.query_one("#add-scan-path", Toggle).display, "/etc is scanned"
        await pilot.press("enter")
        await closed(pilot)
        await rescanned(pilot)
        result = wizard.result
        assert result is not None
        leaf = result.imported[0]
        screen = main_screen(app)
        assert screen.active_tab == "all"
        row = table(app, "all").highlighted
        assert row is not None
        assert row.sha256 == leaf
        assert screen.chosen == leaf
        files = {f.name: f for f in imported_files(tree, "/etc/ssl/imported")}
        assert set(files) == {"legacy-app.demo.example.pem", "legacy-app.demo.example.key"}
        assert stat.S_IMODE(files["legacy-app.demo.example.key"].stat().st_mode) == 0o600
        assert stat.S_IMODE((tree.root / "etc/ssl/imported").stat().st_mode) == 0o700
        key = files["legacy-app.demo.example.key"].read_bytes()
        assert load_pem_private_key(key, None) is not None
        assert "Wr0ng-Guess" not in notes.text


async def test_three_wrong_passwords_stop_asking(tree: DemoTree) -> None:
    app = demo_app(tree, settings=importing_to("/etc/ssl/imported"))
    async with app.run_test(size=(80, 24)) as pilot:
        await scanned(pilot)
        wizard = await to_password(pilot)
        field = wizard.query_one("#file-password", PasswordField)
        for attempt, left in ((1, "2 tries left"), (2, "1 try left")):
            await type_text(pilot, f"wrong{attempt}")
            await pilot.press("enter")
            await until(pilot, lambda left=left: left in wizard.message, left)  # type: ignore[misc]
        await type_text(pilot, "wrong3")
        await pilot.press("enter")
        await until(pilot, lambda: "tried 3 times" in wizard.message, "the last refusal")
        assert "(tried 3 times; nothing was imported)" in wizard.message
        assert field.first.disabled
        assert focused(app) is wizard.query_one("#wizard-back", Button)
        wizard.action_next()  # what enter or the Next button would do: no fourth try
        await pilot.pause()
        assert wizard.busy is None
        assert wizard.step == "password"
        assert wizard.attempts == 3
        await pilot.press("escape")
        await closed(pilot)
        assert imported_files(tree, "/etc/ssl/imported") == []


async def test_back_from_a_refused_file_chooses_another(tree: DemoTree) -> None:
    app = demo_app(tree)
    async with app.run_test(size=(80, 24)) as pilot:
        await scanned(pilot)
        wizard = await to_password(pilot)
        for number in (1, 2, 3):
            await type_text(pilot, f"nope{number}")
            await pilot.press("enter")
            await until(
                pilot,
                lambda number=number: wizard.busy is None and wizard.attempts == number,  # type: ignore[misc]
                "try",
            )
        await pilot.press("enter")  # focus is on Back
        await at_step(pilot, wizard, "file")
        assert wizard.attempts == 0


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            UnsupportedAlgorithm(
                "The password is right, but legacy-app.p12 is encrypted with an old algorithm "
                "(RC2-40)"
            ),
            "Unsupported encryption: The password is right, but legacy-app.p12 is encrypted",
        ),
        (
            NotPkcs12("legacy-app.p12 is not a valid PKCS#12 file"),
            "Not a PKCS#12 file: legacy-app.p12 is not a valid PKCS#12 file",
        ),
    ],
)
async def test_unsupported_or_damaged_files_are_not_wrong_passwords(
    tree: DemoTree, monkeypatch: pytest.MonkeyPatch, error: Exception, expected: str
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise error

    monkeypatch.setattr("tui.screens.import_wizard.open_import", refuse)
    app = demo_app(tree)
    async with app.run_test(size=(80, 24)) as pilot:
        await scanned(pilot)
        wizard = await to_password(pilot)
        await type_text(pilot, DEMO_PASSWORD)
        await pilot.press("enter")
        await until(pilot, lambda: expected in wizard.message, "the refusal")
        assert "Another password will not help" in wizard.message
        assert "wrong" not in wizard.message
        assert "tries left" not in wizard.message
        assert wizard.query_one("#file-password", PasswordField).first.disabled


@pytest.mark.parametrize("step", ["file", "password", "contents", "folder", "plan"])
async def test_escape_at_any_step_writes_nothing(
    tree: DemoTree, step: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = SETTINGS_IN_TREE.read_bytes()
    app = demo_app(tree, settings=importing_to("/etc/ssl/imported"))
    notes = record_notes(app, monkeypatch)
    async with app.run_test(size=(80, 24)) as pilot:
        await scanned(pilot)
        if step == "file":
            wizard = await open_import(pilot)
            await type_text(pilot, P12)
        elif step == "password":
            wizard = await to_password(pilot)
            await type_text(pilot, DEMO_PASSWORD)
        elif step == "contents":
            wizard = await to_contents(pilot)
        elif step == "folder":
            wizard = await to_contents(pilot)
            await pilot.press("enter")
        else:
            wizard = await to_plan(pilot)
        await at_step(pilot, wizard, step)
        await pilot.press("escape")
        await closed(pilot)
        await pilot.pause()
        assert not (tree.root / "etc/ssl/imported").exists()
        assert app.scan_state.scans == 1, "nothing to rescan"
        assert SETTINGS_IN_TREE.read_bytes() == before
        assert notes.said == []


async def test_a_folder_outside_the_scan_can_be_added_to_scan_paths(tree: DemoTree) -> None:
    app = demo_app(tree, settings=importing_to("/srv/certdeck-import"))
    async with app.run_test(size=(80, 24)) as pilot:
        await scanned(pilot)
        wizard = await to_plan(pilot)
        await pilot.press("enter")
        await at_step(pilot, wizard, "summary")
        outside = "/srv/certdeck-import is not among the folders certdeck scans"
        assert outside in screen_text(app)
        offer = wizard.query_one("#add-scan-path", Toggle)
        assert offer.display
        assert focused(app) is offer
        await pilot.press("space", "enter")
        await closed(pilot)
        await rescanned(pilot)
        assert load_settings(SETTINGS_IN_TREE).scan.paths == (
            "/opt/billing",
            "/srv/certdeck-import",
        )
        assert app.settings.scan.paths == ("/opt/billing", "/srv/certdeck-import")
        result = wizard.result
        assert result is not None
        row = table(app, "all").highlighted
        assert row is not None
        assert row.sha256 == result.imported[0]


async def test_a_folder_outside_the_scan_is_said_after_the_rescan(
    tree: DemoTree, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = demo_app(tree, settings=importing_to("/srv/certdeck-import"))
    notes = record_notes(app, monkeypatch)
    async with app.run_test(size=(80, 24)) as pilot:
        await scanned(pilot)
        wizard = await to_plan(pilot)
        await pilot.press("enter")
        await at_step(pilot, wizard, "summary")
        await pilot.press("enter")  # the offer stays off
        await closed(pilot)
        await rescanned(pilot)
        assert "The rescan did not find the imported certificate" in notes.text
        assert load_settings(SETTINGS_IN_TREE).scan.paths == ("/opt/billing",)


async def test_encrypted_pem_key_opened_and_re_encrypted_with_a_new_password(
    tree: DemoTree,
) -> None:
    app = demo_app(tree, settings=importing_to("/etc/ssl/imported"))
    async with app.run_test(size=(80, 24)) as pilot:
        await scanned(pilot)
        wizard = await to_password(pilot, ENCRYPTED_KEY)
        assert "the private key in the file is encrypted" in screen_text(app)
        await type_text(pilot, DEMO_PASSWORD)
        await pilot.press("enter")
        await at_step(pilot, wizard, "contents")
        contents = await report(pilot, wizard, "contents-report")
        assert "Private key: EC 256 bits (secp256r1), matches none of the certificates" in contents
        await pilot.press("enter")
        await at_step(pilot, wizard, "folder")
        reencrypt = wizard.query_one("#reencrypt", Toggle)
        assert reencrypt.display
        new = wizard.query_one("#key-password", PasswordField)
        assert not new.display
        await pilot.press("down", "space")
        assert new.display
        assert focused(app) is new.first
        await type_text(pilot, "New-Key-Pass-9")
        await pilot.press("enter")
        await type_text(pilot, "New-Key-Pass-8")
        await pilot.press("enter")
        assert "The two entries differ" in wizard.message
        await replace_text(pilot, "New-Key-Pass-9")
        await pilot.press("enter")
        await at_step(pilot, wizard, "plan")
        plan = await report(pilot, wizard, "plan-report")
        assert "/etc/ssl/imported/backup-signing.key  (PEM private key, mode 0600)" in plan
        assert "note: encrypted with the new password" in plan
        await pilot.press("enter")
        await at_step(pilot, wizard, "summary")
        await pilot.press("escape")
        await closed(pilot)
        (key_file,) = imported_files(tree, "/etc/ssl/imported")
        data = key_file.read_bytes()
        assert b"ENCRYPTED PRIVATE KEY" in data
        assert load_pem_private_key(data, b"New-Key-Pass-9") is not None
        with pytest.raises(ValueError, match=r"Bad decrypt|Incorrect password"):
            load_pem_private_key(data, DEMO_PASSWORD.encode())


async def test_a_certificate_already_present_is_not_written_but_highlighted(
    tree: DemoTree,
) -> None:
    www = tree.cert("nginx-www")
    app = demo_app(tree, settings=importing_to("/etc/ssl/imported"))
    async with app.run_test(size=(80, 24)) as pilot:
        await scanned(pilot)
        wizard = await open_import(pilot)
        await type_text(pilot, "~" + www.path)
        await pilot.press("enter")
        await at_step(pilot, wizard, "contents")
        contents = await report(pilot, wizard, "contents-report")
        assert f"already on this machine ({www.path}): not written again" in contents
        await pilot.press("enter")
        await at_step(pilot, wizard, "folder")
        await pilot.press("enter")
        await at_step(pilot, wizard, "plan")
        plan = await report(pilot, wizard, "plan-report")
        assert plan.startswith("Nothing to write: everything in the file is already on this")
        assert "Nothing to write" in wizard.message
        await pilot.press("enter")
        await closed(pilot)
        await until(pilot, lambda: main_screen(app).active_tab == "all", "the All tab")
        row = table(app, "all").highlighted
        assert row is not None
        assert row.sha256 == www.sha256
        assert app.scan_state.scans == 1, "nothing was written: no rescan"
        assert not (tree.root / "etc/ssl/imported").exists()


async def test_the_browser_lists_folders_and_certificate_files_only(tree: DemoTree) -> None:
    (tree.root / "notes.txt").write_text("not a certificate")
    (tree.root / ".hidden").mkdir()
    (tree.root / "evil\x1b[31m.pem").write_bytes(b"")
    app = demo_app(tree)
    async with app.run_test(size=(80, 24)) as pilot:
        await scanned(pilot)
        wizard = await open_import(pilot)
        picker = wizard.query_one(FilePicker)
        folders = picker.folders
        await until(pilot, lambda: bool(folders.root.children), "the home folder is listed")
        names = [str(node.label) for node in folders.root.children]
        assert "etc" in names
        assert "opt" in names
        assert "evil␛[31m.pem" in names
        assert "notes.txt" not in names
        assert not any(name.startswith(".") for name in names)
        assert str(folders.root.label) == "~"
        assert "\x1b" not in screen_text(app)
        # A typed folder is shown in the tree; the keys pick a file from it.
        await type_text(pilot, "~/etc/ssl/private")
        await pilot.press("enter")
        await until(pilot, lambda: focused(app) is folders, "the tree has the focus")
        await until(pilot, lambda: len(folders.root.children) == 4, "the folder is listed")
        assert str(folders.root.label) == "~/etc/ssl/private"
        await pilot.press("down", "down")
        assert picker.field.value == "~/etc/ssl/private/legacy-app.p12"
        await pilot.press("enter")
        await at_step(pilot, wizard, "password")
        await pilot.press("backspace")  # the password field is empty: nothing to delete
        assert wizard.step == "password"


async def test_the_browser_goes_up_with_backspace(tree: DemoTree) -> None:
    app = demo_app(tree)
    async with app.run_test(size=(80, 24)) as pilot:
        await scanned(pilot)
        wizard = await open_import(pilot)
        folders = wizard.query_one(FilePicker).folders
        await type_text(pilot, "~/etc/ssl/private")
        await pilot.press("enter")
        await until(pilot, lambda: focused(app) is folders, "the tree has the focus")
        await pilot.press("backspace")
        await until(pilot, lambda: str(folders.root.label) == "~/etc/ssl", "one folder up")
        assert wizard.step == "file"


async def test_a_file_that_is_no_certificate_is_refused_in_the_file_step(tree: DemoTree) -> None:
    (tree.root / "junk.p12").write_bytes(b"\x00\x01garbage\xff" * 10)
    app = demo_app(tree)
    async with app.run_test(size=(80, 24)) as pilot:
        await scanned(pilot)
        wizard = await open_import(pilot)
        await type_text(pilot, "~/junk.p12")
        await pilot.press("enter")
        await until(pilot, lambda: "junk.p12" in wizard.message, "the refusal")
        assert wizard.message.startswith("Not a certificate file: junk.p12")
        assert wizard.step == "file"
        await type_text(pilot, "x")
        assert wizard.message == "", "typing clears the old message"
        await replace_text(pilot, "~/missing.pem")
        await pilot.press("enter")
        await until(pilot, lambda: "does not exist" in wizard.message, "the refusal")
        assert wizard.message.startswith("Cannot read the file: ")


async def test_palette_command_opens_the_wizard(tree: DemoTree) -> None:
    app = demo_app(tree)
    async with app.run_test(size=(80, 24)) as pilot:
        await scanned(pilot)
        command = next(c for c in palette_commands(app) if c.title == "import: a file")
        command.callback()
        await until(pilot, lambda: isinstance(app.screen, ImportWizard), "the wizard")
