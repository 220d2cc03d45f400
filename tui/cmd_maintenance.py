"""The ``clean``, ``quarantine``, ``backup`` and ``restore`` subcommands.

Each mirrors its wizard: what will change is shown (stderr) before anything changes, a
confirmation is asked for (``--yes`` skips it; without a terminal and without ``--yes``
nothing changes), and the result is reported.  Data for scripts goes to stdout: the
quarantine entry ID of a clean-up, the archive of a backup, ``--json`` listings.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import CertdeckError, UsageError
from core.text import visible
from tui.cli import EXIT_OK, EXIT_USAGE, _common, _say, _scan, _settings, _target, parse_at

if TYPE_CHECKING:
    from core.backup import BackupContents, BackupRun
    from core.configtest import ConfigTest
    from core.quarantine import QuarantineEntry
    from core.rootfs import RootFS
    from core.settings import Settings

__all__ = ["COMMANDS", "add_parsers"]

_PASSWORD_TRIES = 3


def _now(args: argparse.Namespace) -> datetime:
    return parse_at(args.at) if getattr(args, "at", None) else datetime.now(UTC)


def _json(doc: Any) -> None:
    text = json.dumps(doc, ensure_ascii=False, indent=2) + "\n"
    sys.stdout.buffer.write(text.encode("utf-8"))
    sys.stdout.flush()


def _can_ask() -> bool:
    from core.passwords import can_prompt

    return can_prompt()


def _need_confirmation(yes: bool, nothing: str) -> None:
    if not yes and not _can_ask():
        raise UsageError(
            f"{nothing}: confirmation is needed and there is no terminal to ask; add --yes to "
            "go ahead without asking"
        )


def _ask(question: str) -> bool:
    sys.stderr.write(f"{question} [y/N] ")
    sys.stderr.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def _confirm(yes: bool, question: str, nothing: str) -> None:
    if yes:
        return
    _need_confirmation(yes, nothing)
    if not _ask(question):
        raise CertdeckError(nothing, title="Cancelled")


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


# -- parsers -----------------------------------------------------------------------------


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``clean``, ``quarantine``, ``backup`` and ``restore`` to the ``certdeck`` parser."""
    _clean_parser(sub)
    _quarantine_parser(sub)
    _backup_parser(sub)
    _restore_parser(sub)


def _quarantine_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--quarantine",
        metavar="DIR",
        help="the quarantine folder (default: /var/lib/certdeck/quarantine under the root as "
        "root, the user's data folder otherwise)",
    )


def _clean_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    clean = sub.add_parser(
        "clean",
        allow_abbrev=False,
        help="move obsolete certificates (and their unused keys) into the quarantine",
        description="Clean up certificates nothing uses: every file that will change is shown "
        "first; files are moved into the quarantine (with a manifest) instead of being "
        "deleted, a file that also holds other certificates is rewritten without the chosen "
        "ones and its original kept. Required certificates and trust-store entries are "
        "refused. Undo with: certdeck quarantine restore last.",
    )
    _common(clean)
    clean.add_argument(
        "--select",
        metavar="WHAT",
        action="append",
        help="obsolete (default), or SHA-256 fingerprints separated by commas (a unique "
        "prefix of 8 or more hex digits is enough)",
    )
    clean.add_argument(
        "--include-unused",
        action="store_true",
        help="also unused certificates that are not obsolete (still valid): with obsolete, "
        "every unused one; with fingerprints, allows choosing them",
    )
    clean.add_argument(
        "--with-keys",
        action="store_true",
        help="also move private keys that no certificate left on the machine uses",
    )
    _quarantine_option(clean)
    clean.add_argument(
        "--test-configs",
        action="store_true",
        help="afterwards run the services' configuration checks (nginx -t …) without asking",
    )
    clean.add_argument("--yes", action="store_true", help="go ahead without asking")
    clean.add_argument(
        "--dry-run", action="store_true", help="show what would change and stop there"
    )


def _quarantine_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    quarantine = sub.add_parser(
        "quarantine",
        allow_abbrev=False,
        help="list, restore or purge what clean-ups moved into the quarantine",
        description="Manage the quarantine: list its entries, restore one (a file that "
        "changed since is never overwritten), or delete old entries for good.",
    )
    _common(quarantine)
    actions = quarantine.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="the entries, newest first, with their files")
    _common(listing)
    _quarantine_option(listing)
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.add_argument(
        "--all", action="store_true", help="entries of every --root, not only this one"
    )
    restore = actions.add_parser(
        "restore", help="put the files of an entry back (ID, or last: undo the last clean-up)"
    )
    _common(restore)
    _quarantine_option(restore)
    restore.add_argument("entry", metavar="ID", help="the entry's ID, or last")
    restore.add_argument("--yes", action="store_true", help="go ahead without asking")
    restore.add_argument(
        "--dry-run", action="store_true", help="show what would be restored and stop there"
    )
    purge = actions.add_parser("purge", help="delete entries older than DAYS for good")
    _common(purge)
    _quarantine_option(purge)
    purge.add_argument("--older-than", metavar="DAYS", type=int, required=True, help="age in days")
    purge.add_argument("--yes", action="store_true", help="go ahead without asking")
    purge.add_argument(
        "--dry-run", action="store_true", help="show what would be deleted and stop there"
    )


def _backup_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    backup = sub.add_parser(
        "backup",
        allow_abbrev=False,
        help="back up every required certificate, chain and key (tar, keys encrypted)",
        description="Write one tar archive with every required certificate, its chain and "
        "private keys (as password-encrypted PKCS#8) and the certdeck settings, verify it, "
        "and keep the newest backup.keep archives. The password comes from --password-file, "
        "CERTDECK_PASSWORD, backup.password_file or a prompt.",
    )
    _common(backup)
    mode = backup.add_mutually_exclusive_group()
    mode.add_argument(
        "--verify", metavar="FILE", help="check an archive: every hash, every key decrypts"
    )
    mode.add_argument(
        "--install-timer",
        metavar="WHEN",
        choices=("daily", "weekly"),
        help="schedule backups daily or weekly (a systemd timer, or a crontab line)",
    )
    mode.add_argument("--remove-timer", action="store_true", help="remove the backup schedule")
    mode.add_argument(
        "--status",
        action="store_true",
        help="show the schedule, the newest backup and how the last run went",
    )
    backup.add_argument(
        "--to", metavar="DIR", help="folder for the archive (default: setting backup.directory)"
    )
    backup.add_argument("--password-file", metavar="FILE", help="read the password from FILE")
    backup.add_argument(
        "--init",
        choices=("systemd", "cron"),
        help="with --install-timer: use this scheduler instead of detecting it",
    )
    backup.add_argument("--json", action="store_true", help="with --status: print JSON")
    backup.add_argument("--yes", action="store_true", help="go ahead without asking")
    backup.add_argument(
        "--dry-run", action="store_true", help="show what would be done and stop there"
    )


def _restore_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    restore = sub.add_parser(
        "restore",
        allow_abbrev=False,
        help="put the files of a backup back in place (also: move to a new server)",
        description="Verify a backup archive and write its certificates, chains and keys back "
        "to their paths under --root, with their modes and owners. Files already in place are "
        "left; a file that differs is replaced only with --replace (or when confirmed), and "
        "the current one goes to the quarantine first. The password comes from "
        "--password-file, CERTDECK_PASSWORD, backup.password_file or a prompt.",
    )
    _common(restore)
    restore.add_argument("archive", metavar="FILE", help="the backup archive (.tar)")
    restore.add_argument("--password-file", metavar="FILE", help="read the password from FILE")
    restore.add_argument(
        "--replace",
        action="store_true",
        help="replace files that differ from the backup (the current ones go to the quarantine)",
    )
    restore.add_argument(
        "--with-settings",
        action="store_true",
        help="also restore certdeck's settings (a differing settings file is kept; the "
        "backup's goes next to it as .restored)",
    )
    restore.add_argument(
        "--include-distribution",
        action="store_true",
        help="also restore files of the distribution's trust store",
    )
    _quarantine_option(restore)
    restore.add_argument("--yes", action="store_true", help="go ahead without asking")
    restore.add_argument(
        "--dry-run", action="store_true", help="show what would be done and stop there"
    )


# -- clean ---------------------------------------------------------------------------------


def _quarantine_dir(args: argparse.Namespace, root: str, demo: bool) -> Path:
    from core.machine import SYSTEM_STATE_DIRECTORY
    from core.quarantine import default_quarantine_directory
    from core.rootfs import RootFS

    if getattr(args, "quarantine", None):
        return Path(os.path.abspath(args.quarantine))
    fs = RootFS(root)
    if demo:
        # The demo tree is removed afterwards: keep its quarantine inside it.
        return Path(fs.host(f"{SYSTEM_STATE_DIRECTORY}/quarantine"))
    return default_quarantine_directory(fs)


def _selection(values: list[str] | None) -> str | list[str]:
    words = [w.strip() for value in values or [] for w in value.split(",") if w.strip()]
    if not words or words == ["obsolete"]:
        return "obsolete"
    if "obsolete" in words:
        raise UsageError("--select takes obsolete or fingerprints, not both")
    return words


def run_clean(args: argparse.Namespace) -> int:
    """``certdeck clean``."""
    from core.cleanup import apply_cleanup, cleanup_candidates, plan_cleanup
    from core.rootfs import RootFS

    now = _now(args)
    selection = _selection(args.select)
    root, settings, path, demo = _target(args, now)
    try:
        inventory = _scan(root, settings, path, now)
        fs = RootFS(root)
        quarantine = _quarantine_dir(args, root, demo is not None)
        if selection == "obsolete":
            offered = cleanup_candidates(inventory, include_unused=args.include_unused)
            if offered:
                _say(["Offered for clean-up:"])
                for candidate in offered:
                    _say(["  " + line for line in candidate.describe()])
        plan = plan_cleanup(
            inventory,
            selection,
            root=fs,
            quarantine=quarantine,
            with_keys=args.with_keys,
            include_unused=args.include_unused,
        )
        _say(plan.describe())
        if plan.nothing_to_do:
            if plan.refusals and selection != "obsolete":
                raise UsageError("nothing was changed: every chosen certificate was refused")
            return EXIT_OK
        if args.dry_run:
            return EXIT_OK
        moves = sum(c.action != "rewrite" for c in plan.changes)
        rewrites = len(plan.changes) - moves
        question = f"Move {_plural(moves, 'file')} into the quarantine" + (
            f" and rewrite {rewrites}?" if rewrites else "?"
        )
        _confirm(args.yes, question, "nothing was changed")
        result = apply_cleanup(plan, now=now)
    finally:
        if demo is not None:
            demo.close()
    _say(result.describe())
    print(result.entry_id)
    _offer_config_tests(result.config_tests, run=args.test_configs, yes=args.yes)
    return EXIT_OK


def _offer_config_tests(tests: Sequence[ConfigTest], *, run: bool, yes: bool) -> None:
    from core.configtest import run_config_test

    if not tests:
        return
    for test in tests:
        if run:
            go = True
        elif yes or not _can_ask():
            _say([f"check {visible(test.service)} with: {visible(test.command)}"])
            go = False
        else:
            go = _ask(f"Check the {test.service} configuration: run `{visible(test.command)}`?")
        if go:
            _say(run_config_test(test).describe())


# -- quarantine ----------------------------------------------------------------------------


def run_quarantine(args: argparse.Namespace) -> int:
    """``certdeck quarantine list|restore|purge``."""
    from core.rootfs import RootFS

    now = _now(args)
    root, _, _, demo = _target(args, now)
    try:
        fs = RootFS(root)
        folder = _quarantine_dir(args, root, demo is not None)
        if args.action == "list":
            return _quarantine_list(folder, fs, args)
        if args.action == "restore":
            return _quarantine_restore(folder, fs, args, now)
        return _quarantine_purge(folder, fs, args, now)
    finally:
        if demo is not None:
            demo.close()


def _entry_json(entry: QuarantineEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "created": entry.created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "reason": entry.reason,
        "state": entry.state,
        "root": entry.root,
        "host": entry.host,
        "folder": str(entry.folder),
        "files": [
            {
                "path": item.path,
                "kind": item.kind,
                "action": item.action,
                "mode": f"{item.mode:04o}",
                "owner": item.owner,
                "group": item.group,
                "sha256": item.sha256,
                "reason": item.reason,
                "certificates": [{"sha256": s, "name": n} for s, n in item.certificates],
                "private_key": item.private_key,
                "restored": item.restored.strftime("%Y-%m-%dT%H:%M:%SZ") if item.restored else None,
            }
            for item in entry.items
        ],
    }


def _quarantine_list(folder: Path, fs: RootFS, args: argparse.Namespace) -> int:
    from core.quarantine import list_entries
    from core.transfer import shown_path

    entries, problems = list_entries(folder, root=None if args.all else fs)
    if args.json:
        _json({"quarantine": str(folder), "entries": [_entry_json(e) for e in entries]})
    else:
        shown = visible(shown_path(folder, fs))
        if not entries:
            print(f"The quarantine {shown} is empty.")
        else:
            print(f"Quarantine {shown}:")
            for entry in entries:
                for line in entry.describe(files=True):
                    print(line)
    _say([f"certdeck: {visible(p)}" for p in problems])
    return EXIT_OK


def _quarantine_restore(folder: Path, fs: RootFS, args: argparse.Namespace, now: datetime) -> int:
    from core.quarantine import plan_restore, restore

    plan = plan_restore(folder, args.entry, root=fs)
    _say(plan.describe())
    if not plan.actions:
        if plan.refused:
            raise UsageError(
                f"nothing was restored: {_plural(len(plan.refused), 'file')} changed since "
                "the clean-up (see above); they stay in the quarantine"
            )
        return EXIT_OK
    if args.dry_run:
        return EXIT_OK
    _confirm(args.yes, f"Restore {_plural(len(plan.actions), 'file')}?", "nothing was restored")
    result = restore(plan, now=now)
    _say(result.describe())
    if result.refused:
        _say(
            [
                f"certdeck: {_plural(len(result.refused), 'file')} could not be restored "
                "(see above); they stay in the quarantine"
            ]
        )
        return EXIT_USAGE
    return EXIT_OK


def _quarantine_purge(folder: Path, fs: RootFS, args: argparse.Namespace, now: datetime) -> int:
    from core.quarantine import plan_purge, purge

    if args.older_than < 0:
        raise UsageError("--older-than takes a number of days, 0 or more")
    plan = plan_purge(folder, older_than=timedelta(days=args.older_than), now=now, root=fs)
    _say(plan.describe())
    if not plan.entries or args.dry_run:
        return EXIT_OK
    count = len(plan.entries)
    _confirm(
        args.yes,
        f"Delete {count} entr{'ies' if count != 1 else 'y'} for good?",
        "nothing was deleted",
    )
    result = purge(plan)
    _say(result.describe())
    return EXIT_USAGE if result.failed else EXIT_OK


# -- backup --------------------------------------------------------------------------------


def _backup_password(
    args: argparse.Namespace, settings: Settings, fs: RootFS, *, new: bool
) -> bytes:
    from core.backup import backup_password_file
    from core.passwords import PASSWORD_ENV, obtain_password

    if args.password_file:
        source: Path | None = Path(args.password_file)
    elif PASSWORD_ENV in os.environ:
        source = None
    else:
        source = backup_password_file(settings, fs)
    prompt = "Password for the backup's private keys: " if new else "Password of the backup: "
    return obtain_password(
        password_file=source,
        prompt=prompt,
        confirm=new,
        allow_empty=False,
    )


def _prompted(args: argparse.Namespace, settings: Settings) -> bool:
    from core.passwords import PASSWORD_ENV

    return not (args.password_file or PASSWORD_ENV in os.environ or settings.backup.password_file)


def run_backup(args: argparse.Namespace) -> int:
    """``certdeck backup``: write, ``--verify``, ``--install-timer``, ``--remove-timer``,
    ``--status``."""
    if args.verify:
        return _backup_verify(args)
    if args.install_timer:
        return _install_timer(args)
    if args.remove_timer:
        return _remove_timer(args)
    if args.status:
        return _backup_status(args)
    return _backup_write(args)


def _backup_write(args: argparse.Namespace) -> int:
    from core.backup import BackupRun, backup_run_path, plan_backup, write_backup
    from core.rootfs import RootFS

    if getattr(args, "demo", False) and not args.to:
        raise UsageError("with --demo, give --to DIR: the demo tree is removed afterwards")
    now = _now(args)
    root, settings, path, demo = _target(args, now)
    fs = RootFS(root)
    record = backup_run_path(fs)
    try:
        inventory = _scan(root, settings, path, now)
        plan = plan_backup(
            inventory,
            root=fs,
            settings=settings,
            settings_path=path,
            now=now,
            destination=Path(args.to) if args.to else None,
        )
        _say(plan.describe())
        if args.dry_run:
            return EXIT_OK
        _need_confirmation(args.yes, "nothing was written")
        password = _backup_password(args, settings, fs, new=True)
        _confirm(args.yes, "Write the backup?", "nothing was written")
        result = write_backup(plan, password)
    except CertdeckError as exc:
        # A run that could not even start the way it was asked (usage) is not a backup result.
        if demo is None and exc.title != "Cancelled" and not isinstance(exc, UsageError):
            _record(record, BackupRun(now, False, exc.message))
        raise
    finally:
        if demo is not None:
            demo.close()
    _say(result.describe())
    if demo is None:
        _record(
            record,
            BackupRun(
                now,
                True,
                "written and verified"
                + (f"; {_plural(len(result.warnings), 'warning')}" if result.warnings else ""),
                archive=result.shown,
                files=result.files,
                keys=result.keys,
                removed=result.removed,
            ),
        )
    print(result.archive)
    return EXIT_OK


def _record(path: Path, run: BackupRun) -> None:
    from core.backup import record_backup_run

    try:
        record_backup_run(run, path)
    except OSError as exc:
        _say([f"certdeck: could not record the run in {path}: {exc.strerror or exc}"])


def _open_backup(
    args: argparse.Namespace, settings: Settings, fs: RootFS, archive: Path
) -> BackupContents:
    """Read and verify an archive, asking again for a mistyped password at a prompt."""
    from core.backup import WrongBackupPassword, read_backup

    if not archive.is_file():
        raise UsageError(f"{visible(str(archive))} is not a file")
    prompting = _prompted(args, settings) and _can_ask()
    tries = _PASSWORD_TRIES if prompting else 1
    for attempt in range(1, tries + 1):
        password = _backup_password(args, settings, fs, new=False)
        try:
            return read_backup(archive, password)
        except WrongBackupPassword as exc:
            if attempt == tries:
                raise
            _say([f"certdeck: {exc.message}; try again"])
    raise AssertionError("unreachable")


def _backup_verify(args: argparse.Namespace) -> int:
    from core.rootfs import RootFS

    settings, _ = _settings(args)
    contents = _open_backup(args, settings, RootFS(getattr(args, "root", "/")), Path(args.verify))
    _say(contents.describe())
    return EXIT_OK


def _install_timer(args: argparse.Namespace) -> int:
    from core.rootfs import RootFS
    from core.schedule import install_timer, plan_timer, run_commands

    if getattr(args, "demo", False):
        raise UsageError("--install-timer does not work with --demo; use --root DIR")
    now = _now(args)
    root, settings, path, _ = _target(args, now)
    fs = RootFS(root)
    plan = plan_timer(
        args.install_timer,
        root=fs,
        settings=settings,
        settings_path=path,
        password_file=Path(args.password_file) if args.password_file else None,
        init=args.init,
    )
    _say(plan.describe())
    if plan.kind == "cron":
        print(plan.crontab)
        return EXIT_OK
    if args.dry_run:
        return EXIT_OK
    pending = [f for f in plan.files if not f.same]
    if pending:
        _confirm(args.yes, f"Write {_plural(len(pending), 'file')}?", "nothing was written")
        written = install_timer(plan)
        _say([f"wrote {visible(f.shown)}" for f in written])
    else:
        _say(["the timer files are already in place"])
    if not plan.can_run:
        _say([f"to activate the timer, run: {plan.command_text}"])
        return EXIT_OK
    _confirm(args.yes, f"Run `{plan.command_text}` now?", "the timer is not active yet")
    results = run_commands(plan.commands)
    for result in results:
        _say(result.describe())
    return EXIT_OK if all(r.ok for r in results) else EXIT_USAGE


def _remove_timer(args: argparse.Namespace) -> int:
    from core.rootfs import RootFS
    from core.schedule import plan_remove_timer, remove_timer

    if getattr(args, "demo", False):
        raise UsageError("--remove-timer does not work with --demo; use --root DIR")
    now = _now(args)
    root, _, _, _ = _target(args, now)
    plan = plan_remove_timer(root=RootFS(root))
    _say(plan.describe())
    if not plan.files or args.dry_run:
        return EXIT_OK
    _confirm(args.yes, f"Remove {_plural(len(plan.files), 'file')}?", "nothing was removed")
    removed, results = remove_timer(plan)
    for result in results:
        _say(result.describe())
    _say([f"removed {visible(shown)}" for shown in removed])
    if not plan.can_run and (plan.before or plan.after):
        _say([f"on the machine, run: {' && '.join(' '.join(c) for c in plan.before + plan.after)}"])
    return EXIT_OK if all(r.ok for r in results) else EXIT_USAGE


def _backup_status(args: argparse.Namespace) -> int:
    from core.rootfs import RootFS
    from core.schedule import backup_status

    now = _now(args)
    root, settings, _, demo = _target(args, now)
    try:
        status = backup_status(settings, RootFS(root), directory=Path(args.to) if args.to else None)
    finally:
        if demo is not None:
            demo.close()
    if args.json:
        last = status.last_run
        newest = status.newest
        _json(
            {
                "schedule": {
                    "kind": status.schedule.kind,
                    "frequency": status.schedule.frequency,
                    "enabled": status.schedule.enabled,
                    "files": list(status.schedule.where),
                },
                "directory": status.directory,
                "archives": status.archives,
                "keep": status.keep,
                "newest": None
                if newest is None
                else {
                    "path": str(newest.path),
                    "created": newest.created.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "size": newest.size,
                },
                "last_run": None
                if last is None
                else {
                    "time": last.time.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "ok": last.ok,
                    "message": last.message,
                    "archive": last.archive,
                },
            }
        )
    else:
        for line in status.describe():
            print(line)
    return EXIT_OK


# -- restore -------------------------------------------------------------------------------


def run_restore(args: argparse.Namespace) -> int:
    """``certdeck restore FILE``: verify, show the plan, write, report."""
    from core.restore import plan_backup_restore, restore_backup
    from core.rootfs import RootFS

    if getattr(args, "demo", False):
        raise UsageError("restore does not work with --demo; use --root DIR")
    now = _now(args)
    root, settings, path, _ = _target(args, now)
    fs = RootFS(root)
    contents = _open_backup(args, settings, fs, Path(args.archive))
    _say(contents.describe())
    plan = plan_backup_restore(
        contents,
        root=fs,
        include_distribution=args.include_distribution,
        settings_target=path if args.with_settings else None,
    )
    _say(plan.describe())
    changes = len(plan.writes)
    differing = len(plan.replacements)
    if args.dry_run:
        return EXIT_OK
    if not changes and not differing and plan.settings_action not in ("write", "aside"):
        _say(["Everything is already in place; nothing was changed."])
        return EXIT_OK
    replace_files = args.replace
    if changes or (differing and replace_files):
        count = changes + (differing if replace_files else 0)
        _confirm(args.yes, f"Restore {_plural(count, 'file')}?", "nothing was restored")
    if differing and not replace_files and not args.yes and _can_ask():
        replace_files = _ask(
            f"Replace {_plural(differing, 'differing file')} as well? The current ones go to "
            "the quarantine"
        )
    result = restore_backup(
        plan,
        quarantine=_quarantine_dir(args, root, False),
        now=now,
        replace_files=replace_files,
    )
    _say(result.describe())
    if not result.complete:
        _say(
            [
                f"certdeck: {_plural(len(result.left), 'file')} not restored (see above)"
                + ("; --replace replaces differing files" if not replace_files else "")
            ]
        )
        return EXIT_USAGE
    return EXIT_OK


COMMANDS = {
    "clean": run_clean,
    "quarantine": run_quarantine,
    "backup": run_backup,
    "restore": run_restore,
}
