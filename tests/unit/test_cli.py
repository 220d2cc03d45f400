"""The `certdeck scan` command line: JSON contract, table, exit codes, hostile text."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from tests.certgen import NOW, make, write
from tui.cli import main, parse_at

HOSTILE_CN = "[bold red]Legit[/] [@click=app.quit]x[/]"
HOSTILE_O = "\x1b[31mEvil\x1b[0m\x9b"

TOP_KEYS = {"version", "root", "evaluated_at", "stores", "certificates", "consumers", "unreadable"}
CERT_KEYS = {
    "sha256", "sha1", "subject", "issuer", "common_name", "serial", "not_before", "not_after",
    "names", "key", "signature_algorithm", "is_ca", "self_signed", "type", "trust_anchor",
    "required", "used_by", "locations", "private_key", "chain", "revocation", "findings",
}  # fmt: skip


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    hostile = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, HOSTILE_O),
            x509.NameAttribute(NameOID.COMMON_NAME, HOSTILE_CN),
        ]
    )
    write(tmp_path, "/etc/ssl/hostile.pem", make("hostile", subject=hostile).pem)
    expired = make("old.example", not_after=NOW - timedelta(days=3), sans=("old.example",))
    write(tmp_path, "/etc/ssl/old.pem", expired.pem)
    write(tmp_path, "/etc/ssl/old.key", expired.key_pem, mode=0o600)
    write(tmp_path, "/etc/ssl/broken.crt", b"-----BEGIN CERTIFICATE-----\nMIIB\n")
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_scan_json_follows_the_contract(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "scan", "--root", str(tree), "--at", "2026-11-27T12:00Z", "--json")
    assert code == 0
    assert err == ""
    doc = json.loads(out)  # stdout holds nothing but the document
    assert set(doc) == TOP_KEYS
    assert doc["version"] == 1
    assert doc["root"] == str(tree)
    assert doc["evaluated_at"] == "2026-11-27T12:00:00Z"
    assert [s["kind"] for s in doc["stores"]] == ["directory"]
    assert doc["unreadable"] == [
        {
            "path": "/etc/ssl/broken.crt",
            "reason": "CERTIFICATE block at line 1 has no matching END line (truncated file?)",
        }
    ]
    certs = {c["common_name"]: c for c in doc["certificates"]}
    assert set(certs) == {HOSTILE_CN, "old.example"}
    for c in doc["certificates"]:
        assert set(c) == CERT_KEYS
    old = certs["old.example"]
    assert old["names"] == ["DNS:old.example"]
    assert old["key"] == {"type": "EC", "bits": 256, "curve": "secp256r1"}
    assert old["locations"] == [
        {"store": "/etc", "path": "/etc/ssl/old.pem", "index": 0, "format": "pem"}
    ]
    assert old["private_key"] == {
        "path": "/etc/ssl/old.key",
        "encrypted": False,
        "mode": "0600",
        "owner": old["private_key"]["owner"],
    }
    assert [f["code"] for f in old["findings"]] == [
        "expired",
        "untrusted",
        "obsolete",
        "self_signed",
        "unused",
    ]
    assert old["findings"][0]["severity"] == "error"
    assert old["not_after"].endswith("Z")


def test_hostile_strings_are_kept_exactly_with_controls_escaped_by_json(
    tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, _ = run(capsys, "scan", "--root", str(tree), "--json")
    assert "\x1b" not in out
    assert "\x9b" not in out
    assert "\\u001b[31mEvil\\u001b[0m\\u009b" in out
    doc = json.loads(out)
    hostile = next(c for c in doc["certificates"] if c["common_name"] == HOSTILE_CN)
    assert hostile["subject"] == f"CN={HOSTILE_CN},O={HOSTILE_O}"


def test_table_shows_control_characters_visibly(
    tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "scan", "--root", str(tree))
    assert code == 0
    assert "\x1b" not in out
    assert HOSTILE_CN[:20] in out
    assert "/etc/ssl/broken.crt" in out
    assert "2 certificates" in out


def test_fail_on(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "scan", "--root", str(tree), "--json", "--fail-on", "expired")
    assert code == 1
    assert "1 certificate(s) with expired" in err
    code, _, _ = run(capsys, "scan", "--root", str(tree), "--json", "--fail-on", "weak_key")
    assert code == 0
    code, out, err = run(capsys, "scan", "--root", str(tree), "--fail-on", "expird")
    assert code == 2
    assert out == ""
    assert "unknown finding code expird" in err


def test_at_moves_the_evaluation_time(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, _ = run(
        capsys, "scan", "--root", str(tree), "--at", "2020-01-01", "--fail-on", "expired"
    )
    assert code == 0  # in 2020 nothing had expired yet
    assert parse_at("2027-01-01") == datetime(2027, 1, 1, tzinfo=UTC)
    assert parse_at("2027-01-01T10:00+02:00") == datetime(2027, 1, 1, 8, tzinfo=UTC)
    code, _, err = run(capsys, "scan", "--root", str(tree), "--at", "next week")
    assert code == 2
    assert "--at 'next week' is not a date or time" in err


def test_bad_settings_file_is_a_clear_error(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tree / "settings.toml"
    config.write_text("[checks]\nexpiring_days = 'soon'\n")
    code, out, err = run(capsys, "scan", "--root", str(tree), "--config", str(config))
    assert code == 2
    assert out == ""
    assert str(config) in err
    assert "checks.expiring_days" in err


def test_missing_root_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "scan", "--root", str(tmp_path / "nope"))
    assert code == 2
    assert "not a folder" in err


def test_settings_file_paths_and_expiring_days_are_used(
    tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tree, "/opt/app/app.pem", make("app.example", not_after=NOW + timedelta(days=50)).pem)
    config = tree / "settings.toml"
    config.write_text('[scan]\npaths = ["/opt/app"]\n[checks]\nexpiring_days = 60\n')
    _, out, _ = run(
        capsys, "scan", "--root", str(tree), "--config", str(config), "--at", "2026-11-27", "--json"
    )
    app = next(c for c in json.loads(out)["certificates"] if c["common_name"] == "app.example")
    assert [f["code"] for f in app["findings"]] == [
        "untrusted",
        "expiring",
        "self_signed",
        "unused",
    ]
