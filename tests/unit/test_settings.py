"""Loading, checking, saving and editing the settings file."""

from __future__ import annotations

import dataclasses
import os
import stat
import tomllib
from pathlib import Path

import pytest

from core.errors import SettingsError
from core.settings import (
    BackupSettings,
    ChecksSettings,
    ConsumerSetting,
    ExportSettings,
    ImportSettings,
    ScanSettings,
    Settings,
    TrustSettings,
    default_settings_path,
    describe_settings,
    load_settings,
    save_settings,
    with_value,
)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "settings.toml"
    path.write_text(text, encoding="utf-8")
    return path


def load_error(path: Path) -> str:
    with pytest.raises(SettingsError) as caught:
        load_settings(path)
    return caught.value.message


def custom_settings() -> Settings:
    return Settings(
        scan=ScanSettings(
            paths=("/opt/app/tls", "/srv/certs/é"),
            exclude=("/etc/ssl/old/*", "*.bak"),
            max_file_size=1024,
            default_locations=False,
        ),
        trust=TrustSettings(anchors=("/etc/company/ca.pem",)),
        checks=ChecksSettings(expiring_days=60, min_rsa_bits=3072, min_ec_bits=384),
        export=ExportSettings(
            directory="/root/exports", one_file_per_certificate=False, pkcs12_encryption="legacy"
        ),
        import_=ImportSettings(directory="/etc/ssl/imported"),
        backup=BackupSettings(directory="/var/backups/certs", keep=3, password_file="/root/pw"),
        consumers=(
            ConsumerSetting(name="billing database", files=("/etc/pki/db.crt", "/etc/pki/db.key")),
            ConsumerSetting(
                name="vpn", files=("/etc/vpn/server.pem",), role="tunnel", check_expiry=False
            ),
        ),
    )


def test_missing_file_gives_the_defaults(tmp_path: Path) -> None:
    settings = load_settings(tmp_path / "nothing-here.toml")

    assert settings == Settings()
    assert settings.checks.expiring_days == 30
    assert settings.scan.max_file_size == 10 * 1024 * 1024
    assert settings.scan.default_locations is True
    assert settings.export.pkcs12_encryption == "modern"
    assert settings.backup.keep == 10
    assert settings.consumers == ()


def test_a_partial_file_keeps_the_other_defaults(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[checks]\nexpiring_days = 14\n\n[import]\ndirectory = "/srv/in"\n'
        '[[consumers]]\nname = "mail"\nfiles = ["/etc/postfix/tls.pem"]\n',
    )

    settings = load_settings(path)

    assert settings.checks == ChecksSettings(expiring_days=14)
    assert settings.import_.directory == "/srv/in"
    assert settings.scan == ScanSettings()
    assert settings.consumers == (
        ConsumerSetting(name="mail", files=("/etc/postfix/tls.pem",), role="", check_expiry=True),
    )


def test_a_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_bytes(b"\xef\xbb\xbf[backup]\nkeep = 4\n")

    assert load_settings(path).backup.keep == 4


def test_round_trip_keeps_every_value(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    settings = custom_settings()

    save_settings(settings, path)

    assert load_settings(path) == settings


def test_saved_file_lists_every_section_with_documentation(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"

    save_settings(Settings(), path)

    text = path.read_text(encoding="utf-8")
    data = tomllib.loads(text)
    assert list(data) == ["scan", "trust", "checks", "export", "import", "backup"]
    assert data["checks"] == {"expiring_days": 30, "min_rsa_bits": 2048, "min_ec_bits": 256}
    assert data["scan"]["paths"] == []
    assert "# A certificate that expires within this many days is reported as" in text
    assert "# [[consumers]]" in text
    assert load_settings(path) == Settings()


def test_new_settings_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "config" / "certdeck" / "settings.toml"

    save_settings(custom_settings(), path)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_saving_keeps_the_mode_of_an_existing_file(tmp_path: Path) -> None:
    path = write(tmp_path, "")
    path.chmod(0o640)

    save_settings(custom_settings(), path)

    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert load_settings(path) == custom_settings()


def test_saving_through_a_symlink_updates_the_linked_file(tmp_path: Path) -> None:
    real = tmp_path / "dotfiles" / "certdeck.toml"
    real.parent.mkdir()
    real.write_text("", encoding="utf-8")
    link = tmp_path / "settings.toml"
    link.symlink_to(real)

    save_settings(custom_settings(), link)

    assert link.is_symlink()
    assert load_settings(real) == custom_settings()


def test_saving_refuses_values_that_loading_would_refuse(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    bad = Settings(checks=ChecksSettings(expiring_days=-5))

    with pytest.raises(SettingsError) as caught:
        save_settings(bad, path)

    assert caught.value.message == (
        f"{path}: not saved: checks.expiring_days must be an integer from 0 to 3650, not -5"
    )
    assert not path.exists()


def test_saving_into_an_unwritable_place_is_a_settings_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("", encoding="utf-8")
    path = tmp_path / "file" / "settings.toml"

    with pytest.raises(SettingsError, match="cannot save the settings"):
        save_settings(Settings(), path)


def test_the_example_message_is_exact(tmp_path: Path) -> None:
    path = write(tmp_path, '[checks]\nexpiring_days = "soon"\n')

    assert load_error(path) == (
        f"{path}: checks.expiring_days must be an integer from 0 to 3650, not 'soon'"
    )


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        pytest.param(
            "[checks]\nexpiring_days = 3651\n",
            "checks.expiring_days must be an integer from 0 to 3650, not 3651",
            id="above-range",
        ),
        pytest.param(
            "[checks]\nexpiring_days = -1\n",
            "checks.expiring_days must be an integer from 0 to 3650, not -1",
            id="below-range",
        ),
        pytest.param(
            "[checks]\nmin_rsa_bits = 2048.0\n",
            "checks.min_rsa_bits must be an integer from 1024 to 16384, not 2048.0",
            id="float-for-int",
        ),
        pytest.param(
            "[backup]\nkeep = 0\n",
            "backup.keep must be an integer of at least 1, not 0",
            id="keep-zero",
        ),
        pytest.param(
            '[export]\npkcs12_encryption = "aes"\n',
            "export.pkcs12_encryption must be 'modern' or 'legacy', not 'aes'",
            id="not-a-choice",
        ),
        pytest.param(
            '[export]\ndirectory = "exports"\n',
            "export.directory must be an absolute path (starting with /) or empty, not 'exports'",
            id="relative-directory",
        ),
        pytest.param(
            '[scan]\npaths = "/opt/app"\n',
            "scan.paths must be a list of absolute paths, not '/opt/app' "
            '(for one entry write ["/opt/app"])',
            id="string-for-list",
        ),
        pytest.param(
            '[scan]\npaths = ["/opt/app", 3]\n',
            "scan.paths[1] must be an absolute path (starting with /), not 3",
            id="list-item-not-string",
        ),
        pytest.param(
            '[trust]\nanchors = ["company-ca.pem"]\n',
            "trust.anchors[0] must be an absolute path (starting with /), not 'company-ca.pem'",
            id="relative-anchor",
        ),
        pytest.param(
            '[scan]\nexclude = [""]\n',
            "scan.exclude[0] must be a non-empty string, not ''",
            id="empty-pattern",
        ),
        pytest.param(
            "scan = 5\n",
            "scan must be a table (a [scan] section), not 5",
            id="section-not-table",
        ),
        pytest.param(
            '[consumers]\nname = "x"\n',
            "consumers must be an array of tables: write [[consumers]] (double brackets) "
            "above each consumer, not [consumers]",
            id="consumers-single-brackets",
        ),
        pytest.param(
            '[[consumers]]\nfiles = ["/a"]\n',
            "consumers[0].name is missing; it must be a non-empty string",
            id="consumer-without-name",
        ),
        pytest.param(
            '[[consumers]]\nname = "  "\nfiles = ["/a"]\n',
            "consumers[0].name must be a non-empty string, not '  '",
            id="consumer-blank-name",
        ),
        pytest.param(
            '[[consumers]]\nname = "a"\nfiles = ["/a"]\n'
            '[[consumers]]\nname = "b"\nfiles = ["/b"]\n'
            '[[consumers]]\nname = "nginx"\nfiles = []\n',
            "consumers[2].files must be a non-empty list of absolute paths, not [] "
            "(consumer 'nginx')",
            id="consumer-without-files",
        ),
        pytest.param(
            '[[consumers]]\nname = "db"\nfiles = ["/a"]\ncheck_expiry = "no"\n',
            "consumers[0].check_expiry must be true or false, not 'no' (consumer 'db')",
            id="consumer-bool",
        ),
    ],
)
def test_bad_values_name_the_key_and_what_was_expected(
    tmp_path: Path, toml: str, message: str
) -> None:
    path = write(tmp_path, toml)

    assert load_error(path) == f"{path}: {message}"


def test_true_is_not_an_integer(tmp_path: Path) -> None:
    path = write(tmp_path, "[checks]\nexpiring_days = true\n")

    assert load_error(path) == (
        f"{path}: checks.expiring_days must be an integer from 0 to 3650, not true"
    )


def test_one_is_not_a_boolean(tmp_path: Path) -> None:
    path = write(tmp_path, "[scan]\ndefault_locations = 1\n")

    assert load_error(path) == f"{path}: scan.default_locations must be true or false, not 1"


def test_unknown_key_suggests_the_closest_known_key(tmp_path: Path) -> None:
    path = write(tmp_path, "[scan]\nmax_filesize = 5\n")

    assert load_error(path) == (
        f"{path}: unknown key scan.max_filesize; did you mean scan.max_file_size?"
    )


def test_unknown_key_without_a_close_match_lists_the_known_keys(tmp_path: Path) -> None:
    path = write(tmp_path, '[checks]\ncolour = "red"\n')

    assert load_error(path) == (
        f"{path}: unknown key checks.colour; known: checks.expiring_days, "
        "checks.min_rsa_bits, checks.min_ec_bits"
    )


def test_key_outside_its_section_points_at_the_section(tmp_path: Path) -> None:
    path = write(tmp_path, "expiring_days = 10\n")

    assert load_error(path) == (
        f"{path}: unknown key expiring_days; did you mean checks.expiring_days "
        "(in the [checks] section)?"
    )


def test_unknown_section_suggests_the_closest_section(tmp_path: Path) -> None:
    path = write(tmp_path, "[chekcs]\nexpiring_days = 10\n")

    assert load_error(path) == f"{path}: unknown section [chekcs]; did you mean [checks]?"


def test_unknown_section_without_a_close_match_lists_the_sections(tmp_path: Path) -> None:
    path = write(tmp_path, "[zzz]\n")

    assert load_error(path) == (
        f"{path}: unknown section [zzz]; known sections: [scan], [trust], [checks], "
        "[export], [import], [backup], [[consumers]]"
    )


def test_unknown_key_in_a_consumer_is_named_with_its_index(tmp_path: Path) -> None:
    path = write(tmp_path, '[[consumers]]\nname = "db"\nfiles = ["/a"]\nrol = "key"\n')

    assert load_error(path) == (
        f"{path}: unknown key consumers[0].rol; did you mean consumers[0].role? (consumer 'db')"
    )


def test_every_problem_is_reported_one_per_line(tmp_path: Path) -> None:
    path = write(tmp_path, "[checks]\nexpiring_days = -3\n[backup]\nkeep = 0\nkept = 2\n")

    assert load_error(path).splitlines() == [
        f"{path}: checks.expiring_days must be an integer from 0 to 3650, not -3",
        f"{path}: backup.keep must be an integer of at least 1, not 0",
        f"{path}: unknown key backup.kept; did you mean backup.keep?",
    ]


def test_terminal_control_characters_in_values_are_escaped(tmp_path: Path) -> None:
    path = write(tmp_path, '[export]\npkcs12_encryption = "\\u001b[31mred"\n')

    message = load_error(path)

    assert "\x1b" not in message
    assert "'\\x1b[31mred'" in message


def test_toml_syntax_error_gives_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "[checks]\nexpiring_days = = 3\n")

    message = load_error(path)

    assert message.startswith(f"{path}: the settings file is not valid TOML: ")
    assert "(at line 2, column 17)" in message


def test_file_that_is_not_utf8_names_the_byte_and_line(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_bytes(b'[scan]\npaths = ["/srv/caf\xe9"]\n')

    assert load_error(path) == (
        f"{path}: the settings file is not UTF-8 text (byte 0xe9 on line 2)"
    )


def test_unreadable_file_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "")

    # Tests may run as root, which chmod cannot lock out; simulate the refusal instead.
    def refuse(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", refuse)

    assert load_error(path) == f"{path}: cannot read the settings file: Permission denied"


def test_a_folder_instead_of_a_file_says_why(tmp_path: Path) -> None:
    assert load_error(tmp_path) == f"{tmp_path}: cannot read the settings file: Is a directory"


def test_settings_error_has_a_title(tmp_path: Path) -> None:
    path = write(tmp_path, "[backup]\nkeep = 0\n")

    with pytest.raises(SettingsError) as caught:
        load_settings(path)

    assert caught.value.title == "Settings error"


def test_with_value_reads_typed_text() -> None:
    settings = Settings()

    changed = with_value(settings, "checks", "expiring_days", " 45 ")
    changed = with_value(changed, "scan", "default_locations", "no")
    changed = with_value(changed, "scan", "paths", "/opt/a, /opt/b ,")
    changed = with_value(changed, "export", "pkcs12_encryption", "Legacy")
    changed = with_value(changed, "import", "directory", "/srv/incoming")

    assert changed.checks.expiring_days == 45
    assert changed.scan.default_locations is False
    assert changed.scan.paths == ("/opt/a", "/opt/b")
    assert changed.export.pkcs12_encryption == "legacy"
    assert changed.import_.directory == "/srv/incoming"
    assert settings == Settings()


def test_with_value_clears_lists_and_strings_with_empty_text() -> None:
    settings = custom_settings()

    changed = with_value(settings, "scan", "exclude", "")
    changed = with_value(changed, "export", "directory", "  ")

    assert changed.scan.exclude == ()
    assert changed.export.directory == ""


@pytest.mark.parametrize(
    ("section", "key", "text", "message"),
    [
        pytest.param(
            "checks",
            "expiring_days",
            "soon",
            "checks.expiring_days must be an integer from 0 to 3650, not 'soon'",
            id="not-a-number",
        ),
        pytest.param(
            "checks",
            "expiring_days",
            "4000",
            "checks.expiring_days must be an integer from 0 to 3650, not 4000",
            id="out-of-range",
        ),
        pytest.param(
            "scan",
            "default_locations",
            "maybe",
            "scan.default_locations must be true or false (or yes or no), not 'maybe'",
            id="not-a-boolean",
        ),
        pytest.param(
            "export",
            "pkcs12_encryption",
            "strong",
            "export.pkcs12_encryption must be 'modern' or 'legacy', not 'strong'",
            id="not-a-choice",
        ),
        pytest.param(
            "scan",
            "paths",
            "/opt/a, relative",
            "scan.paths[1] must be an absolute path (starting with /), not 'relative'",
            id="relative-path-in-list",
        ),
        pytest.param(
            "checks",
            "expiring_day",
            "3",
            "unknown setting checks.expiring_day; did you mean checks.expiring_days?",
            id="unknown-key",
        ),
        pytest.param(
            "consumers",
            "name",
            "x",
            "consumers cannot be changed here; edit the [[consumers]] tables in the settings file",
            id="consumers",
        ),
    ],
)
def test_with_value_refuses_with_the_reason(
    section: str, key: str, text: str, message: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        with_value(Settings(), section, key, text)

    assert caught.value.message == message


def test_describe_settings_shows_values_defaults_and_docs() -> None:
    settings = custom_settings()

    infos = {info.name: info for info in describe_settings(settings)}

    days = infos["checks.expiring_days"]
    assert (days.value, days.default, days.kind) == (60, 30, "int")
    assert days.doc.startswith("A certificate that expires within this many days")
    assert days.expected == "an integer from 0 to 3650"
    encryption = infos["export.pkcs12_encryption"]
    assert (encryption.kind, encryption.choices) == ("choice", ("modern", "legacy"))
    assert (encryption.value, encryption.default) == ("legacy", "modern")
    assert infos["scan.paths"].kind == "list"
    assert infos["scan.paths"].text == "/opt/app/tls, /srv/certs/é"
    assert infos["scan.default_locations"].text == "false"
    assert infos["import.directory"].value == "/etc/ssl/imported"
    assert not any(name.startswith("consumers") for name in infos)
    assert all(info.doc for info in infos.values())


def test_describe_settings_text_is_accepted_back_by_with_value() -> None:
    settings = custom_settings()

    rebuilt = Settings()
    for info in describe_settings(settings):
        rebuilt = with_value(rebuilt, info.section, info.key, info.text)

    assert rebuilt == dataclasses.replace(settings, consumers=())


def test_config_path_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CERTDECK_CONFIG", str(tmp_path / "custom.toml"))

    assert default_settings_path() == tmp_path / "custom.toml"


def test_config_path_defaults_to_the_user_config_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CERTDECK_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))

    assert default_settings_path() == tmp_path / "xdg" / "certdeck" / "settings.toml"


def test_saved_file_is_found_at_the_default_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CERTDECK_CONFIG", os.fspath(tmp_path / "etc" / "certdeck.toml"))

    save_settings(custom_settings(), default_settings_path())

    assert load_settings(tmp_path / "etc" / "certdeck.toml") == custom_settings()


def test_saving_over_a_broken_file_keeps_it_beside(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text("[checks]\nexpiring_days = 'soon'  # my notes\n")
    path.chmod(0o640)
    kept = save_settings(Settings(), path)
    assert kept == tmp_path / "settings.toml.broken"
    assert kept.read_text() == "[checks]\nexpiring_days = 'soon'  # my notes\n"
    assert kept.stat().st_mode & 0o777 == 0o640
    assert load_settings(path) == Settings()
    # A healthy file is simply replaced; a second broken one gets a free name.
    assert save_settings(Settings(), path) is None
    path.write_text("nonsense = [")
    assert save_settings(Settings(), path) == tmp_path / "settings.toml-1.broken"
