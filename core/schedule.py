"""Cyclic backups: a systemd service and timer, or a crontab line where systemd is absent.

:func:`plan_timer` shows the two unit files (or the crontab line) and the commands that
activate them before anything is written; :func:`install_timer` writes the files atomically
and :func:`run_commands` runs ``systemctl`` — only on this machine (not under ``--root``),
only as root and only where systemd runs.  :func:`plan_remove_timer` and
:func:`remove_timer` take them away again (only files certdeck wrote).  The scheduled run is
``certdeck backup --yes`` with the settings file, so its password must come from a file:
``backup.password_file`` or ``--password-file`` given when installing.

:func:`backup_status` is what the Settings tab shows: the schedule, the newest archive and
how the last run went.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from core.backup import (
    BackupArchive,
    BackupRun,
    backup_directory,
    backup_password_file,
    backup_run_path,
    last_backup_run,
    list_backups,
)
from core.errors import CertdeckError, UsageError
from core.fsutil import atomic_write
from core.machine import host_name, is_root
from core.passwords import read_password_file
from core.rootfs import RootFS, printable_path
from core.settings import Settings
from core.text import visible
from core.transfer import shown_path

__all__ = [
    "DISABLE_COMMANDS",
    "ENABLE_COMMANDS",
    "RELOAD_COMMANDS",
    "SERVICE_PATH",
    "TIMER_PATH",
    "WANTS_PATH",
    "BackupStatus",
    "CommandResult",
    "Frequency",
    "Schedule",
    "TimerError",
    "TimerFile",
    "TimerPlan",
    "TimerRemovalPlan",
    "backup_command",
    "backup_status",
    "crontab_line",
    "install_timer",
    "plan_remove_timer",
    "plan_timer",
    "remove_timer",
    "run_commands",
    "service_unit",
    "systemd_present",
    "timer_status",
    "timer_unit",
]

Frequency = Literal["daily", "weekly"]
UNIT = "certdeck-backup"
SERVICE_PATH = f"/etc/systemd/system/{UNIT}.service"
TIMER_PATH = f"/etc/systemd/system/{UNIT}.timer"
WANTS_PATH = f"/etc/systemd/system/timers.target.wants/{UNIT}.timer"
ENABLE_COMMANDS: tuple[tuple[str, ...], ...] = (
    ("systemctl", "daemon-reload"),
    ("systemctl", "enable", "--now", f"{UNIT}.timer"),
)
DISABLE_COMMANDS: tuple[tuple[str, ...], ...] = (
    ("systemctl", "disable", "--now", f"{UNIT}.timer"),
)
RELOAD_COMMANDS: tuple[tuple[str, ...], ...] = (("systemctl", "daemon-reload"),)
MARKER = "# Written by certdeck"
"""First line of every file certdeck writes here; only such files are ever removed."""

_CRON_TIMES = {"daily": "17 3 * * *", "weekly": "17 3 * * 0"}
_CRON_FILES = ("/etc/crontab",)
_CRON_FOLDERS = ("/etc/cron.d", "/var/spool/cron/crontabs", "/var/spool/cron")
_COMMAND_TIMEOUT = 120.0


class TimerError(CertdeckError):
    """The timer cannot be installed or removed as asked."""

    title = "Backup schedule"


def _joined(commands: Sequence[Sequence[str]]) -> str:
    return " && ".join(shlex.join(c) for c in commands)


@dataclass(frozen=True, slots=True)
class TimerFile:
    """A file the timer installation writes (or removes)."""

    path: Path
    """On this host."""
    shown: str
    content: str
    exists: bool = False
    """Something is already there (it is replaced when certdeck wrote it)."""
    same: bool = False
    """It already has exactly this content."""


@dataclass(frozen=True, slots=True)
class CommandResult:
    """What a command said."""

    argv: tuple[str, ...]
    returncode: int | None
    output: str

    @property
    def ok(self) -> bool:
        """It succeeded."""
        return self.returncode == 0

    def describe(self) -> list[str]:
        """The command and its output, safe for a terminal."""
        verdict = (
            "could not run"
            if self.returncode is None
            else "done"
            if self.returncode == 0
            else f"FAILED (exit status {self.returncode})"
        )
        lines = [f"$ {visible(shlex.join(self.argv))}: {verdict}"]
        lines += [f"  {visible(line)}" for line in self.output.splitlines()]
        return lines


@dataclass(frozen=True, slots=True)
class TimerPlan:
    """What installing the backup schedule writes and runs, before anything happens."""

    kind: Literal["systemd", "cron"]
    frequency: Frequency
    argv: tuple[str, ...]
    """The backup command the schedule runs."""
    files: tuple[TimerFile, ...] = ()
    crontab: str | None = None
    """The crontab line (cron only): certdeck prints it, ``crontab -e`` adds it."""
    commands: tuple[tuple[str, ...], ...] = ()
    """Commands that activate the files (systemd), shown always, run only when ``can_run``."""
    can_run: bool = False
    why_not: str = ""
    """Why the commands are not run by certdeck (under --root, not root, no systemd)."""
    warnings: tuple[str, ...] = ()
    root: RootFS = field(default_factory=RootFS, repr=False, compare=False)

    @property
    def command_text(self) -> str:
        """The activation commands as one shell line."""
        return _joined(self.commands)

    def describe(self) -> list[str]:
        """The preview as lines of text, safe for a terminal (file contents included)."""
        if self.kind == "cron":
            lines = [
                f"systemd is not available: schedule the {self.frequency} backup with cron. "
                "Add this line to root's crontab (crontab -e):",
                f"  {visible(self.crontab or '')}",
            ]
        else:
            lines = [f"Schedule a {self.frequency} backup with a systemd timer: write"]
            for item in self.files:
                state = (
                    " (already there, unchanged)"
                    if item.same
                    else " (replaces the existing file)"
                    if item.exists
                    else ""
                )
                lines.append(f"  {visible(item.shown)}{state}:")
                lines += [f"    | {visible(line)}" for line in item.content.splitlines()]
            lines.append(f"then run: {visible(self.command_text)}")
            if not self.can_run:
                lines.append(f"  ({visible(self.why_not)})")
        lines += [f"warning: {visible(w)}" for w in self.warnings]
        return lines


@dataclass(frozen=True, slots=True)
class TimerRemovalPlan:
    """What removing the backup schedule does."""

    files: tuple[TimerFile, ...]
    refused: tuple[str, ...]
    """Files left alone (not written by certdeck), with the reason."""
    before: tuple[tuple[str, ...], ...] = ()
    after: tuple[tuple[str, ...], ...] = ()
    can_run: bool = False
    why_not: str = ""
    crontab: tuple[str, ...] = ()
    """Crontab lines that run certdeck backups (file: line): remove them with crontab -e."""
    root: RootFS = field(default_factory=RootFS, repr=False, compare=False)

    @property
    def nothing_to_do(self) -> bool:
        """No schedule was found."""
        return not self.files and not self.crontab and not self.refused

    def describe(self) -> list[str]:
        """The preview as lines of text, safe for a terminal."""
        if self.nothing_to_do:
            return ["No certdeck backup schedule is installed."]
        lines: list[str] = []
        if self.files:
            if self.before:
                lines.append(f"Run: {visible(_joined(self.before))}")
            lines.append("Remove:")
            lines += [f"  {visible(f.shown)}" for f in self.files]
            if self.after:
                lines.append(f"then run: {visible(_joined(self.after))}")
            if not self.can_run and (self.before or self.after):
                lines.append(f"  ({visible(self.why_not)})")
        lines += [f"left alone: {visible(r)}" for r in self.refused]
        if self.crontab:
            lines.append("Remove these crontab lines by hand (crontab -e):")
            lines += [f"  {visible(c)}" for c in self.crontab]
        return lines


def systemd_present(root: RootFS) -> bool:
    """Whether the machine uses systemd.

    On this machine: systemd is running (``/run/systemd/system`` exists).  Under ``--root``:
    the tree has systemd's unit folders.
    """
    if root.root == "/":
        return os.path.isdir("/run/systemd/system")
    return any(
        os.path.isdir(root.host(folder))
        for folder in ("/etc/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system")
    )


def _can_run(root: RootFS, euid: int | None, which: Callable[[str], str | None]) -> str:
    """Why certdeck cannot run systemctl itself ("" when it can)."""
    if root.root != "/":
        return "under --root only the files are written; run the commands on the machine itself"
    if not is_root(euid):
        return "certdeck is not running as root: run the commands as root (e.g. with sudo)"
    if not os.path.isdir("/run/systemd/system"):
        return "systemd is not running here"
    if which("systemctl") is None:
        return "systemctl was not found"
    return ""


def backup_command(
    *,
    settings_path: str,
    password_file: str | None = None,
    executable: Sequence[str] | None = None,
) -> tuple[str, ...]:
    """The command a schedule runs: ``certdeck backup --yes --config FILE``."""
    if executable is None:
        found = shutil.which("certdeck")
        running = os.path.abspath(sys.argv[0]) if sys.argv and sys.argv[0] else ""
        if found:
            executable = (found,)
        elif os.path.basename(running) == "certdeck" and os.access(running, os.X_OK):
            executable = (running,)
        else:
            executable = (sys.executable, "-m", "tui.cli")
    argv = [*executable, "backup", "--yes", "--config", settings_path]
    if password_file:
        argv += ["--password-file", password_file]
    return tuple(argv)


def _systemd_quote(arg: str) -> str:
    # systemd expands % specifiers and $ variables in ExecStart; double them to keep them.
    text = arg.replace("%", "%%").replace("$", "$$")
    if text and not re.search(r'[\s"\'\\;]', text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def service_unit(argv: Sequence[str]) -> str:
    """The text of ``certdeck-backup.service``."""
    command = " ".join(_systemd_quote(a) for a in argv)
    return (
        f"{MARKER} (certdeck backup --install-timer); remove with certdeck backup "
        "--remove-timer.\n"
        "[Unit]\n"
        "Description=certdeck: back up certificates, chains and private keys\n"
        "After=local-fs.target\n"
        "\n"
        "[Service]\n"
        "Type=oneshot\n"
        f"ExecStart={command}\n"
        "# The archive and the record of the run are private to root.\n"
        "UMask=0077\n"
        "Nice=10\n"
        "IOSchedulingClass=idle\n"
    )


def timer_unit(frequency: Frequency) -> str:
    """The text of ``certdeck-backup.timer``."""
    return (
        f"{MARKER} (certdeck backup --install-timer); remove with certdeck backup "
        "--remove-timer.\n"
        "[Unit]\n"
        f"Description=certdeck: {frequency} backup of certificates and private keys\n"
        "\n"
        "[Timer]\n"
        f"OnCalendar={frequency}\n"
        "# Spread the start a little, and catch up on a run missed while the machine was off.\n"
        "RandomizedDelaySec=30min\n"
        "Persistent=true\n"
        "\n"
        "[Install]\n"
        "WantedBy=timers.target\n"
    )


def crontab_line(frequency: Frequency, argv: Sequence[str]) -> str:
    """The crontab line for root's crontab (no user field); output goes to syslog."""
    # cron turns % into a newline: escape it.
    command = shlex.join(argv).replace("%", "\\%")
    return f"{_CRON_TIMES[frequency]} {command} 2>&1 | logger -t {UNIT}"


def _machine_or_host(path: Path, root: RootFS) -> tuple[str, bool]:
    """A host path as the machine will see it, and whether it lies inside the root."""
    text = os.path.abspath(os.fspath(path))
    if root.root == "/":
        return text, True
    if text == root.root or text.startswith(root.root + "/"):
        return root.machine(text), True
    return text, False


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text("utf-8", errors="replace")
    except OSError:
        return None


def plan_timer(
    frequency: str,
    *,
    root: RootFS,
    settings: Settings,
    settings_path: Path,
    password_file: Path | None = None,
    executable: Sequence[str] | None = None,
    init: Literal["systemd", "cron"] | None = None,
    euid: int | None = None,
    which: Callable[[str], str | None] = shutil.which,
) -> TimerPlan:
    """Plan the backup schedule.

    Args:
        frequency: ``daily`` or ``weekly``.
        root: The machine's root (under ``--root`` only files are written).
        settings: For ``backup.password_file``.
        settings_path: The settings file the scheduled run uses.
        password_file: A password file (on this host) for the scheduled run when the settings
            do not name one.
        executable: How to start certdeck on the machine; default: this installation's.
        init: Force ``systemd`` or ``cron``; default: what the machine uses.

    Raises:
        UsageError: an unknown frequency, or no password file for the scheduled run.
        PasswordError: the password file is missing or open to others.
    """
    if frequency not in _CRON_TIMES:
        raise UsageError(f"unknown frequency {frequency!r}: use daily or weekly")
    freq: Frequency = "daily" if frequency == "daily" else "weekly"
    warnings: list[str] = []
    configured = backup_password_file(settings, root)
    if password_file is None and configured is None:
        raise UsageError(
            "a scheduled backup runs without a terminal, so its password must come from a "
            "file: set backup.password_file in the settings or give --password-file FILE "
            "(readable by its owner only)"
        )
    pw_arg: str | None = None
    if password_file is not None:
        read_password_file(password_file)  # refuses a missing file or one open to others
        pw_arg, inside = _machine_or_host(password_file, root)
        if not inside:
            warnings.append(
                f"the password file {pw_arg} is outside --root; the machine must have it there"
            )
    elif configured is not None:
        read_password_file(configured)
    config, inside = _machine_or_host(settings_path, root)
    if not inside:
        warnings.append(
            f"the settings file {config} is outside --root; the machine must have it there"
        )
    argv = backup_command(settings_path=config, password_file=pw_arg, executable=executable)
    kind = init or ("systemd" if systemd_present(root) else "cron")
    if kind == "cron":
        line = crontab_line(freq, argv)
        return TimerPlan("cron", freq, argv, crontab=line, warnings=tuple(warnings), root=root)
    files = []
    for machine, content in ((SERVICE_PATH, service_unit(argv)), (TIMER_PATH, timer_unit(freq))):
        host = Path(root.host(machine))
        existing = _read_text(host) if os.path.lexists(host) else None
        if existing is not None and not existing.startswith(MARKER):
            raise TimerError(
                f"{shown_path(host, root)} exists and was not written by certdeck; it is left "
                "alone (remove or rename it first)"
            )
        files.append(
            TimerFile(
                host,
                shown_path(host, root),
                content,
                exists=os.path.lexists(host),
                same=existing == content,
            )
        )
    why_not = _can_run(root, euid, which)
    return TimerPlan(
        "systemd",
        freq,
        argv,
        files=tuple(files),
        commands=ENABLE_COMMANDS,
        can_run=not why_not,
        why_not=why_not,
        warnings=tuple(warnings),
        root=root,
    )


def install_timer(plan: TimerPlan) -> tuple[TimerFile, ...]:
    """Write the unit files (atomically, mode 0644); returns the files written.

    Nothing is written for cron: the line is the user's to add.

    Raises:
        TimerError: a file cannot be written.
    """
    written: list[TimerFile] = []
    for item in plan.files:
        if item.same:
            continue
        try:
            os.makedirs(item.path.parent, mode=0o755, exist_ok=True)
            atomic_write(item.path, item.content.encode("utf-8"), mode=0o644, overwrite=True)
        except OSError as exc:
            raise TimerError(
                f"could not write {visible(item.shown)}: {exc.strerror or exc}"
                + ("; run certdeck as root" if isinstance(exc, PermissionError) else "")
            ) from None
        written.append(item)
    return tuple(written)


def run_commands(
    commands: Sequence[Sequence[str]], *, timeout: float = _COMMAND_TIMEOUT
) -> tuple[CommandResult, ...]:
    """Run commands one after the other, stopping at the first that fails."""
    results: list[CommandResult] = []
    for argv in commands:
        try:
            done = subprocess.run(
                list(argv),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            results.append(CommandResult(tuple(argv), None, f"no answer within {timeout:g} s"))
            break
        except OSError as exc:
            results.append(CommandResult(tuple(argv), None, exc.strerror or str(exc)))
            break
        output = (done.stdout + done.stderr).decode("utf-8", "replace").rstrip("\n")
        results.append(CommandResult(tuple(argv), done.returncode, output))
        if done.returncode != 0:
            break
    return tuple(results)


def _crontab_lines(root: RootFS) -> list[tuple[str, str]]:
    """(file, line) of every crontab line that runs a certdeck backup."""
    files = [Path(root.host(p)) for p in _CRON_FILES]
    for folder in _CRON_FOLDERS:
        host = Path(root.host(folder))
        try:
            files += sorted(p for p in host.iterdir() if p.is_file())
        except OSError:
            continue
    found = []
    for path in files:
        text = _read_text(path)
        if text is None:
            continue
        for line in text.splitlines():
            stripped = line.strip()
            if stripped.startswith("#") or "certdeck" not in stripped:
                continue
            if re.search(r"\bbackup\b", stripped):
                found.append((shown_path(path, root), stripped))
    return found


def plan_remove_timer(
    *,
    root: RootFS,
    euid: int | None = None,
    which: Callable[[str], str | None] = shutil.which,
) -> TimerRemovalPlan:
    """Plan the removal of the backup schedule (only files certdeck wrote)."""
    files: list[TimerFile] = []
    refused: list[str] = []
    for machine in (SERVICE_PATH, TIMER_PATH, WANTS_PATH):
        host = Path(root.host(machine))
        if not os.path.lexists(host):
            continue
        shown = shown_path(host, root)
        if machine == WANTS_PATH:
            # The link systemctl enable made; it points to our timer.
            files.append(TimerFile(host, shown, "", exists=True))
            continue
        text = _read_text(host)
        if text is None or not text.startswith(MARKER):
            refused.append(f"{shown}: not written by certdeck")
            continue
        files.append(TimerFile(host, shown, text, exists=True))
    crontab = tuple(f"{path}: {line}" for path, line in _crontab_lines(root))
    why_not = _can_run(root, euid, which)
    have_units = any(f.path.name.endswith((".service", ".timer")) for f in files)
    return TimerRemovalPlan(
        files=tuple(files),
        refused=tuple(refused),
        before=DISABLE_COMMANDS if have_units else (),
        after=RELOAD_COMMANDS if have_units else (),
        can_run=not why_not,
        why_not=why_not,
        crontab=crontab,
        root=root,
    )


def remove_timer(plan: TimerRemovalPlan) -> tuple[tuple[str, ...], tuple[CommandResult, ...]]:
    """Stop the timer (when certdeck may run systemctl), remove the files, reload systemd.

    Returns the removed files (as shown) and the results of the commands that ran.

    Raises:
        TimerError: a file cannot be removed.
    """
    results: list[CommandResult] = []
    if plan.can_run and plan.before:
        results += run_commands(plan.before)
    removed: list[str] = []
    for item in plan.files:
        try:
            item.path.unlink()
        except FileNotFoundError:
            continue  # systemctl disable removed the link already
        except OSError as exc:
            raise TimerError(
                f"could not remove {visible(item.shown)}: {exc.strerror or exc}"
                + ("; run certdeck as root" if isinstance(exc, PermissionError) else "")
            ) from None
        removed.append(item.shown)
    if plan.can_run and plan.after:
        results += run_commands(plan.after)
    return tuple(removed), tuple(results)


# Status -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Schedule:
    """How backups are scheduled on the machine."""

    kind: Literal["systemd", "cron", "none"]
    frequency: str | None = None
    """``daily``, ``weekly`` or the calendar text found."""
    enabled: bool | None = None
    """systemd: the timer is enabled (its ``timers.target.wants`` link exists)."""
    where: tuple[str, ...] = ()

    def describe(self) -> str:
        """One line, safe for a terminal."""
        if self.kind == "none":
            return "not scheduled"
        if self.kind == "cron":
            return f"{visible(self.frequency or '?')} (cron: {visible(', '.join(self.where))})"
        state = "enabled" if self.enabled else "installed but not enabled"
        return f"{visible(self.frequency or '?')} (systemd timer, {state})"


def timer_status(root: RootFS) -> Schedule:
    """The schedule found on the machine: certdeck's systemd timer, else a crontab line."""
    timer = Path(root.host(TIMER_PATH))
    text = _read_text(timer)
    if text is not None:
        match = re.search(r"^OnCalendar=(.+)$", text, re.MULTILINE)
        return Schedule(
            "systemd",
            match.group(1).strip() if match else None,
            os.path.lexists(root.host(WANTS_PATH)),
            (shown_path(timer, root),),
        )
    lines = _crontab_lines(root)
    if lines:
        path, line = lines[0]
        fields = line.split()
        frequency = None
        if len(fields) >= 5 and not fields[0].startswith("@"):
            frequency = "daily" if fields[4] == "*" else "weekly" if fields[2] == "*" else None
        elif fields and fields[0] in ("@daily", "@weekly"):
            frequency = fields[0][1:]
        return Schedule("cron", frequency or " ".join(fields[:5]), True, (path,))
    return Schedule("none")


@dataclass(frozen=True, slots=True)
class BackupStatus:
    """What the Settings tab shows about backups."""

    schedule: Schedule
    directory: str
    """The backup folder (as shown)."""
    archives: int
    """How many archives of this host are in the folder."""
    keep: int
    newest: BackupArchive | None
    last_run: BackupRun | None
    """The record of the last run (scheduled or by hand), with its result."""

    def describe(self) -> list[str]:
        """The status as lines of text, safe for a terminal."""
        lines = [
            f"schedule: {self.schedule.describe()}",
            f"folder: {visible(self.directory)} ({self.archives} backup(s), keeps {self.keep})",
        ]
        if self.newest is not None:
            lines.append(
                f"newest: {visible(self.newest.path.name)} ({self.newest.size} bytes, "
                f"{self.newest.created:%Y-%m-%d %H:%M:%SZ})"
            )
        else:
            lines.append("newest: none")
        lines.append(f"last run: {self.last_run.describe() if self.last_run else 'no record'}")
        return lines


def backup_status(
    settings: Settings,
    root: RootFS,
    *,
    euid: int | None = None,
    directory: Path | None = None,
) -> BackupStatus:
    """The schedule, the newest backup and the last run's result, for the Settings tab."""
    folder = directory or backup_directory(settings, root, euid=euid)
    host = host_name(root)
    archives = list_backups(folder, host=host)
    return BackupStatus(
        schedule=timer_status(root),
        directory=printable_path(shown_path(folder, root)),
        archives=len(archives),
        keep=settings.backup.keep,
        newest=archives[0] if archives else None,
        last_run=last_backup_run(backup_run_path(root, euid=euid)),
    )
