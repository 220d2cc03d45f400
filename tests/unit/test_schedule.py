"""Cyclic backups: unit texts, crontab lines, installing and removing under a root, status."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from core.backup import BackupRun, backup_run_path, record_backup_run
from core.errors import UsageError
from core.passwords import PasswordError
from core.rootfs import RootFS
from core.schedule import (
    ENABLE_COMMANDS,
    SERVICE_PATH,
    TIMER_PATH,
    WANTS_PATH,
    TimerError,
    TimerPlan,
    backup_command,
    backup_status,
    crontab_line,
    install_timer,
    plan_remove_timer,
    plan_timer,
    remove_timer,
    service_unit,
    timer_status,
    timer_unit,
)
from core.settings import BackupSettings, Settings
from tests.certgen import NOW
from tests.maintenance_helpers import password_file

CERTDECK = ("/usr/local/bin/certdeck",)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    machine = tmp_path / "root"
    (machine / "etc/systemd/system").mkdir(parents=True)
    (machine / "etc/certdeck").mkdir(parents=True)
    (machine / "etc/certdeck/settings.toml").write_text("")
    (machine / "etc/hostname").write_text("web1\n")
    return machine


def _plan(root: Path, frequency: str = "daily") -> TimerPlan:
    secret = password_file(root / "etc/certdeck")
    return plan_timer(
        frequency,
        root=RootFS(root),
        settings=Settings(),
        settings_path=root / "etc/certdeck/settings.toml",
        password_file=secret,
        executable=CERTDECK,
    )


def test_the_unit_texts() -> None:
    argv = backup_command(
        settings_path="/etc/certdeck/settings.toml",
        password_file="/etc/certdeck/backup password",
        executable=CERTDECK,
    )
    assert argv == (
        "/usr/local/bin/certdeck", "backup", "--yes", "--config", "/etc/certdeck/settings.toml",
        "--password-file", "/etc/certdeck/backup password",
    )  # fmt: skip
    service = service_unit(argv)
    assert service.startswith("# Written by certdeck")
    assert "Type=oneshot\n" in service
    assert (
        "ExecStart=/usr/local/bin/certdeck backup --yes --config /etc/certdeck/settings.toml "
        '--password-file "/etc/certdeck/backup password"\n'
    ) in service
    assert "UMask=0077\n" in service
    assert "%%" in service_unit(("/opt/100%/certdeck",))  # systemd specifiers are escaped
    timer = timer_unit("weekly")
    assert "OnCalendar=weekly\n" in timer
    assert "Persistent=true\n" in timer
    assert "WantedBy=timers.target\n" in timer


def test_the_crontab_line() -> None:
    line = crontab_line("daily", ("/usr/bin/certdeck", "backup", "--yes", "--config", "/e/s 1%"))
    assert line == (
        "17 3 * * * /usr/bin/certdeck backup --yes --config '/e/s 1\\%' 2>&1 | "
        "logger -t certdeck-backup"
    )
    assert crontab_line("weekly", ("c",)).startswith("17 3 * * 0 c ")


def test_install_under_a_root_writes_the_files_and_runs_nothing(root: Path, tmp_path: Path) -> None:
    plan = _plan(root)
    assert plan.kind == "systemd"
    assert [f.shown for f in plan.files] == [SERVICE_PATH, TIMER_PATH]
    assert plan.commands == ENABLE_COMMANDS
    assert plan.command_text == (
        "systemctl daemon-reload && systemctl enable --now certdeck-backup.timer"
    )
    assert not plan.can_run
    assert "under --root only the files are written" in plan.why_not
    text = "\n".join(plan.describe())
    assert "| OnCalendar=daily" in text
    assert (
        "--config /etc/certdeck/settings.toml --password-file /etc/certdeck/backup-password" in text
    )

    written = install_timer(plan)
    assert len(written) == 2
    service = root / SERVICE_PATH.lstrip("/")
    assert stat.S_IMODE(os.stat(service).st_mode) == 0o644
    assert "ExecStart=/usr/local/bin/certdeck backup --yes" in service.read_text()
    status = timer_status(RootFS(root))
    assert (status.kind, status.frequency, status.enabled) == ("systemd", "daily", False)
    assert status.describe() == "daily (systemd timer, installed but not enabled)"
    # Planned again: nothing to change.
    again = _plan(root)
    assert all(f.same for f in again.files)
    assert install_timer(again) == ()


def test_remove_takes_away_only_what_certdeck_wrote(root: Path, tmp_path: Path) -> None:
    install_timer(_plan(root))
    wants = root / WANTS_PATH.lstrip("/")
    wants.parent.mkdir(parents=True)
    wants.symlink_to(TIMER_PATH)
    assert timer_status(RootFS(root)).enabled
    plan = plan_remove_timer(root=RootFS(root))
    assert [f.shown for f in plan.files] == [SERVICE_PATH, TIMER_PATH, WANTS_PATH]
    assert plan.before
    assert plan.after
    assert not plan.can_run
    removed, results = remove_timer(plan)
    assert removed == (SERVICE_PATH, TIMER_PATH, WANTS_PATH)
    assert results == ()  # under --root nothing runs
    assert timer_status(RootFS(root)).kind == "none"
    assert plan_remove_timer(root=RootFS(root)).nothing_to_do

    foreign = root / SERVICE_PATH.lstrip("/")
    foreign.write_text("[Service]\nExecStart=/bin/true\n")
    plan = plan_remove_timer(root=RootFS(root))
    assert plan.files == ()
    assert plan.refused == (f"{SERVICE_PATH}: not written by certdeck",)
    with pytest.raises(TimerError, match="was not written by certdeck"):
        _plan(root)
    assert foreign.read_text() == "[Service]\nExecStart=/bin/true\n"


def test_without_systemd_the_crontab_line_is_printed(tmp_path: Path) -> None:
    machine = tmp_path / "cron-root"
    (machine / "etc/certdeck").mkdir(parents=True)
    plan = _plan(machine, "weekly")
    assert plan.crontab is not None
    assert plan.kind == "cron"
    assert plan.files == ()
    assert plan.crontab.startswith("17 3 * * 0 /usr/local/bin/certdeck backup --yes")
    assert "crontab -e" in plan.describe()[0]
    assert install_timer(plan) == ()
    assert not (machine / "etc/systemd").exists()
    # Once the line is in a crontab, the status shows it and removal points to it.
    cron = machine / "etc/cron.d/certdeck"
    cron.parent.mkdir()
    cron.write_text(f"# backups\n{plan.crontab.replace('* * 0', '* * 0 root', 1)}\n")
    status = timer_status(RootFS(machine))
    assert (status.kind, status.frequency) == ("cron", "weekly")
    assert plan_remove_timer(root=RootFS(machine)).crontab[0].startswith("/etc/cron.d/certdeck: ")


def test_a_scheduled_backup_needs_a_private_password_file(root: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="password must come from a file"):
        plan_timer(
            "daily",
            root=RootFS(root),
            settings=Settings(),
            settings_path=root / "etc/certdeck/settings.toml",
        )
    secret = password_file(tmp_path)
    secret.chmod(0o644)
    with pytest.raises(PasswordError, match="open to group or others"):
        plan_timer(
            "daily",
            root=RootFS(root),
            settings=Settings(),
            settings_path=root / "etc/certdeck/settings.toml",
            password_file=secret,
        )
    # From the settings: nothing on the command line, the file is checked all the same.
    (root / "etc/certdeck/pw").write_text("x")
    (root / "etc/certdeck/pw").chmod(0o600)
    plan = plan_timer(
        "daily",
        root=RootFS(root),
        settings=Settings(backup=BackupSettings(password_file="/etc/certdeck/pw")),
        settings_path=root / "etc/certdeck/settings.toml",
        executable=CERTDECK,
    )
    assert "--password-file" not in plan.argv
    with pytest.raises(UsageError, match="daily or weekly"):
        _plan(root, "hourly")


def test_status_for_the_settings_tab(root: Path, tmp_path: Path) -> None:
    fs = RootFS(root)
    status = backup_status(Settings(), fs, euid=0)
    assert status.schedule.kind == "none"
    assert status.newest is None
    assert status.last_run is None
    assert status.directory == "/var/backups/certdeck"
    assert status.describe()[0] == "schedule: not scheduled"

    folder = root / "var/backups/certdeck"
    folder.mkdir(parents=True)
    (folder / "certdeck-backup-web1-20261126-031700.tar").write_bytes(b"x" * 10)
    (folder / "certdeck-backup-web1-20261127-031700.tar").write_bytes(b"x" * 20)
    record_backup_run(
        BackupRun(NOW, True, "written and verified", archive="/var/backups/x.tar", files=3),
        backup_run_path(fs, euid=0),
    )
    install_timer(_plan(root, "weekly"))
    status = backup_status(Settings(backup=BackupSettings(keep=5)), fs, euid=0)
    assert status.schedule.frequency == "weekly"
    assert status.archives == 2
    assert status.newest is not None
    assert status.newest.path.name == "certdeck-backup-web1-20261127-031700.tar"
    assert status.last_run is not None
    assert status.last_run.ok
    lines = status.describe()
    assert lines[1] == "folder: /var/backups/certdeck (2 backup(s), keeps 5)"
    assert lines[3].startswith("last run: 2026-11-27 12:00:00Z OK /var/backups/x.tar")
