"""``certdeck clean``, ``certdeck quarantine`` and ``certdeck backup``: exit codes and output."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

import core.passwords
from core.quarantine import default_quarantine_directory
from core.transfer import shown_path
from tests.maintenance_helpers import Demo, demo_tree, password_file, snapshot
from tui.cli import main

LE = "/etc/letsencrypt/archive/blog.demo.example"
NO_TERMINAL = (
    "confirmation is needed and there is no terminal to ask; add --yes to go ahead without asking"
)


@pytest.fixture(autouse=True)
def _isolated_state(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Records of backup runs go to the user's state folder when not running as root."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("state")))


@pytest.fixture
def demo(tmp_path: Path) -> Demo:
    return demo_tree(tmp_path)


@pytest.fixture
def cli(demo: Demo) -> list[str]:
    return [
        "--root", str(demo.root), "--config", str(demo.tree.settings_path),
        "--at", "2026-11-27T12:00Z",
    ]  # fmt: skip


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def last_line(err: str) -> str:
    return err.strip().splitlines()[-1]


# clean and quarantine ----------------------------------------------------------------------


def test_clean_with_yes_then_restore_last(
    demo: Demo, cli: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(demo.root)
    code, out, err = run(capsys, "clean", *cli, "--with-keys", "--yes")
    assert code == 0, err
    assert out == "20261127-120000\n"
    assert "Offered for clean-up:" in err
    assert "Clean up 3 certificates: move 5 files and rewrite 2" in err
    assert "Undo with: certdeck quarantine restore 20261127-120000" in err
    assert not demo.host(f"{LE}/cert1.pem").exists()
    assert not demo.host(f"{LE}/privkey1.pem").exists()
    # As root the quarantine lives on the machine (under the root); else in the data folder.
    folder = default_quarantine_directory(demo.fs)
    assert (folder / "20261127-120000" / "manifest.json").is_file()

    code, out, err = run(capsys, "quarantine", "list", *cli)
    assert code == 0
    assert f"Quarantine {shown_path(folder, demo.fs)}:" in out
    assert "20261127-120000  2026-11-27 12:00:00Z  complete  7 files" in out
    assert f"{LE}/privkey1.pem  (file, moved, mode 0600" in out

    code, out, err = run(capsys, "quarantine", "restore", "last", *cli, "--yes")
    assert code == 0, err
    assert "Restored 7 files from 20261127-120000" in err
    assert snapshot(demo.root, skip=("var",)) == before  # the quarantine is in /var

    code, out, _ = run(capsys, "quarantine", "list", *cli, "--json")
    doc = json.loads(out)
    assert doc["entries"][0]["state"] == "restored"
    assert len(doc["entries"][0]["files"]) == 7


def test_clean_refuses_without_terminal_and_without_yes(
    demo: Demo, cli: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(demo.root)
    code, out, err = run(capsys, "clean", *cli)
    assert code == 2
    assert out == ""
    assert "Clean up 3 certificates" in err  # the plan is still shown
    assert last_line(err) == f"certdeck: Usage error: nothing was changed: {NO_TERMINAL}"
    assert snapshot(demo.root) == before


def test_clean_dry_run_changes_nothing(
    demo: Demo, cli: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(demo.root)
    code, out, err = run(capsys, "clean", *cli, "--dry-run", "--include-unused")
    assert code == 0
    assert out == ""
    assert "[ ] www2.demo.example" in err  # unused ones are offered, not pre-selected ...
    assert "warning: " in err  # ... and chosen with --include-unused only with a warning
    assert "move      /etc/nginx/ssl/commented.crt" in err
    assert snapshot(demo.root) == before


def test_clean_of_a_required_certificate_is_refused(
    demo: Demo, cli: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "clean", *cli, "--select", demo.sha("nginx-www")[:12], "--yes")
    assert code == 2
    assert out == ""
    assert "required: used by nginx (/etc/nginx/sites-enabled/www:14)" in err
    assert last_line(err) == (
        "certdeck: Usage error: nothing was changed: every chosen certificate was refused"
    )
    code, _, err = run(capsys, "clean", *cli, "--select", "obsolete,abcdef0123", "--yes")
    assert code == 2
    assert "not both" in err


@pytest.mark.parametrize(("answer", "code"), [("y\n", 0), ("n\n", 2)])
def test_clean_asks_in_a_terminal(
    demo: Demo,
    cli: list[str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    answer: str,
    code: int,
) -> None:
    monkeypatch.setattr(core.passwords, "can_prompt", lambda: True)
    monkeypatch.setattr(sys, "stdin", io.StringIO(answer))
    result, out, err = run(capsys, "clean", *cli)
    assert result == code
    assert "Move 3 files into the quarantine and rewrite 2? [y/N]" in err
    if code == 0:
        assert out == "20261127-120000\n"
    else:
        assert last_line(err).endswith("certdeck: Cancelled: nothing was changed")
        assert demo.host(f"{LE}/cert1.pem").exists()


def test_restore_says_when_a_file_changed_since(
    demo: Demo, cli: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    quarantine = ["--quarantine", str(tmp_path / "q")]
    assert run(capsys, "clean", *cli, *quarantine, "--yes")[0] == 0
    demo.host("/etc/ssl/localcerts/old.demo.example.crt").write_text("new\n")
    code, _, err = run(
        capsys, "quarantine", "restore", "20261127-120000", *cli, *quarantine, "--yes"
    )
    assert code == 2
    assert "/etc/ssl/localcerts/old.demo.example.crt: left as it is: a different file" in err
    assert "could not be restored (see above); they stay in the quarantine" in last_line(err)
    assert demo.host("/etc/ssl/localcerts/old.demo.example.crt").read_text() == "new\n"
    assert demo.host(f"{LE}/cert1.pem").exists()
    code, _, err = run(capsys, "quarantine", "restore", "20991231-000000", *cli, *quarantine)
    assert code == 2
    assert "Unknown quarantine entry" in err


def test_purge_by_age(
    demo: Demo, cli: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    quarantine = ["--quarantine", str(tmp_path / "q")]
    base = [a for a in cli if a != "2026-11-27T12:00Z" and a != "--at"]
    assert run(capsys, "clean", *base, "--at", "2026-11-01", *quarantine, "--yes")[0] == 0
    code, _, err = run(
        capsys, "quarantine", "purge", "--older-than", "30", *base, "--at", "2026-11-27",
        *quarantine, "--yes",
    )  # fmt: skip
    assert code == 0
    assert "Nothing in the quarantine is older than 30 days." in err
    code, _, err = run(
        capsys, "quarantine", "purge", "--older-than", "7", *base, "--at", "2026-11-27",
        *quarantine,
    )  # fmt: skip
    assert code == 2
    assert last_line(err) == f"certdeck: Usage error: nothing was deleted: {NO_TERMINAL}"
    code, _, err = run(
        capsys, "quarantine", "purge", "--older-than", "7", *base, "--at", "2026-11-27",
        *quarantine, "--yes",
    )  # fmt: skip
    assert code == 0, err
    assert "Deleted 1 quarantine entry." in err
    assert not (tmp_path / "q" / "20261101-000000").exists()


# backup ---------------------------------------------------------------------------------------


def test_backup_then_verify_then_status(
    demo: Demo, cli: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = password_file(tmp_path)
    dest = tmp_path / "backups"
    code, out, err = run(
        capsys, "backup", *cli, "--to", str(dest), "--password-file", str(secret), "--yes"
    )
    assert code == 0, err
    archive = dest / "certdeck-backup-demo-server-20261127-120000.tar"
    assert out == f"{archive}\n"
    assert "Verified: every member's SHA-256 matches, all 11 keys decrypt" in err

    code, out, err = run(capsys, "backup", "--verify", str(archive), "--password-file", str(secret))
    assert code == 0, err
    assert "OK: 31 files" in err

    code, out, err = run(capsys, "backup", *cli, "--status", "--to", str(dest), "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["archives"] == 1
    assert doc["last_run"]["ok"] is True
    assert doc["last_run"]["archive"] == str(archive)
    assert doc["schedule"]["kind"] == "none"


def test_backup_password_problems_exit_2(
    demo: Demo,
    cli: list[str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dest = tmp_path / "backups"
    monkeypatch.delenv("CERTDECK_PASSWORD", raising=False)
    code, _, err = run(capsys, "backup", *cli, "--to", str(dest), "--yes")
    assert code == 2
    assert "there is no terminal to ask for it" in last_line(err)
    secret = password_file(tmp_path)
    secret.chmod(0o644)
    code, _, err = run(
        capsys, "backup", *cli, "--to", str(dest), "--password-file", str(secret), "--yes"
    )
    assert code == 2
    assert "is open to group or others" in last_line(err)
    assert not dest.exists()
    # Failures of a real run are recorded for the Settings tab.
    code, out, _ = run(capsys, "backup", *cli, "--status", "--json")
    assert json.loads(out)["last_run"]["ok"] is False

    monkeypatch.setenv("CERTDECK_PASSWORD", "right one")
    assert run(capsys, "backup", *cli, "--to", str(dest), "--yes")[0] == 0
    (archive,) = dest.iterdir()
    monkeypatch.setenv("CERTDECK_PASSWORD", "wrong one")
    code, _, err = run(capsys, "backup", "--verify", str(archive))
    assert code == 2
    assert last_line(err).startswith(
        "certdeck: Password problem: the password does not open the private keys of this backup"
    )


def test_backup_refuses_without_terminal_and_without_yes(
    demo: Demo, cli: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = password_file(tmp_path)
    code, out, err = run(
        capsys, "backup", *cli, "--to", str(tmp_path / "b"), "--password-file", str(secret)
    )
    assert code == 2
    assert out == ""
    assert "Back up 31 files" in err
    assert last_line(err) == f"certdeck: Usage error: nothing was written: {NO_TERMINAL}"
    assert not (tmp_path / "b").exists()
    code, _, err = run(capsys, "backup", "--demo", "--yes")
    assert code == 2
    assert "give --to DIR" in err


def test_backup_timer_under_a_root(
    demo: Demo, cli: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    demo.host("/etc/systemd/system").mkdir(parents=True)
    code, _, err = run(capsys, "backup", *cli, "--install-timer", "daily", "--yes")
    assert code == 2
    assert "password must come from a file" in err
    secret = password_file(demo.host("/etc/certdeck"))
    code, out, err = run(
        capsys, "backup", *cli, "--install-timer", "daily", "--password-file", str(secret)
    )
    assert code == 2
    assert "| OnCalendar=daily" in err  # shown before anything is written
    assert not demo.host("/etc/systemd/system/certdeck-backup.timer").exists()
    code, out, err = run(
        capsys, "backup", *cli, "--install-timer", "daily", "--password-file", str(secret),
        "--yes",
    )  # fmt: skip
    assert code == 0, err
    assert "wrote /etc/systemd/system/certdeck-backup.timer" in err
    assert last_line(err) == (
        "to activate the timer, run: systemctl daemon-reload && systemctl enable --now "
        "certdeck-backup.timer"
    )
    service = demo.host("/etc/systemd/system/certdeck-backup.service").read_text()
    assert (
        " backup --yes --config /etc/certdeck/settings.toml --password-file "
        "/etc/certdeck/backup-password\n"
    ) in service
    code, out, _ = run(capsys, "backup", *cli, "--status")
    assert out.splitlines()[0] == "schedule: daily (systemd timer, installed but not enabled)"

    code, out, err = run(capsys, "backup", *cli, "--remove-timer", "--yes")
    assert code == 0, err
    assert "removed /etc/systemd/system/certdeck-backup.service" in err
    assert not demo.host("/etc/systemd/system/certdeck-backup.timer").exists()


def test_backup_timer_without_systemd_prints_the_crontab_line(
    demo: Demo, cli: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = password_file(demo.host("/etc/certdeck"))
    code, out, err = run(
        capsys, "backup", *cli, "--install-timer", "weekly", "--password-file", str(secret)
    )
    assert code == 0, err
    assert out.startswith("17 3 * * 0 ")
    assert out.rstrip().endswith("2>&1 | logger -t certdeck-backup")
    assert "crontab -e" in err
