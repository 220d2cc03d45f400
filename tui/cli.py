"""The ``certdeck`` command line: the TUI by default, subcommands for scripts.

Textual is imported only when the full-screen app starts, so ``certdeck scan`` stays fast.
Exit codes: 0 success, 1 findings asked about with ``--fail-on``, 2 usage or input errors.
Messages go to stderr, data to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from core.errors import CertdeckError, UsageError
from core.findings import SEVERITY, relative_time
from core.model import CertificateRecord, Inventory, Severity
from core.report import inventory_json
from core.settings import Settings, default_settings_path, load_settings
from core.text import visible

__all__ = ["main", "parse_at"]

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2

_SYMBOL = {Severity.ERROR: "✖", Severity.WARNING: "▲", Severity.INFO: "•", None: "✔"}


def parse_at(text: str) -> datetime:
    """An evaluation time from ``--at``: a date or an ISO 8601 time; no zone means UTC."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(
            f"--at {text!r} is not a date or time; use e.g. 2027-01-01 or 2027-01-01T12:00Z"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--root",
        metavar="DIR",
        default=argparse.SUPPRESS,
        help="treat DIR as the machine's / (a copy of a server's files); default /",
    )
    parser.add_argument(
        "--at",
        metavar="TIME",
        default=argparse.SUPPRESS,
        help="evaluate at TIME instead of now, e.g. 2027-01-01 (what will have expired)",
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        default=argparse.SUPPRESS,
        help="settings file (default: $CERTDECK_CONFIG or the user's config folder)",
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        default=argparse.SUPPRESS,
        help="run on a generated demo server tree that shows every finding",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used for ``--help`` text in the README)."""
    parser = argparse.ArgumentParser(
        prog="certdeck",
        description="Keyboard-driven certificate manager for Linux servers.",
    )
    _common(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    scan = sub.add_parser(
        "scan",
        help="list every certificate and private key (a table, or JSON with --json)",
        description="Inventory every certificate on the machine.",
    )
    _common(scan)
    scan.add_argument("--json", action="store_true", help="print the JSON document")
    scan.add_argument(
        "--fail-on",
        metavar="CODES",
        default="",
        help="exit 1 when any of these finding codes (comma-separated) is present, "
        "e.g. expired,untrusted",
    )
    _export_parser(sub)
    _import_parser(sub)
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_parsers(sub)
    return parser


COMMAND_MODULES: tuple[str, ...] = ("tui.cmd_pki", "tui.cmd_maintenance", "tui.cmd_revocation")
"""Modules that add subcommands: each has ``add_parsers(sub)`` and ``COMMANDS``, a mapping of
command name to ``run(args) -> exit code``; they use this module's shared helpers (``_common``,
``_target``, ``_confirm`` …)."""


def _extra_command(name: str) -> Callable[[argparse.Namespace], int] | None:
    for module in COMMAND_MODULES:
        commands: dict[str, Callable[[argparse.Namespace], int]] = importlib.import_module(
            module
        ).COMMANDS
        if name in commands:
            return commands[name]
    return None


def _settings(args: argparse.Namespace) -> tuple[Settings, Path]:
    path = Path(args.config) if getattr(args, "config", None) else default_settings_path()
    return load_settings(path), path


def _fail_codes(text: str) -> set[str]:
    codes = {c.strip() for c in text.split(",") if c.strip()}
    unknown = sorted(codes - set(SEVERITY))
    if unknown:
        raise UsageError(
            f"--fail-on: unknown finding code {', '.join(unknown)}; "
            f"known codes: {', '.join(SEVERITY)}"
        )
    return codes


class _Demo:
    """A demo server tree in a temporary folder, removed afterwards."""

    def __init__(self, now: datetime) -> None:
        from core.demo import build_demo_tree

        self.folder = tempfile.mkdtemp(prefix="certdeck-demo-")
        self.tree = build_demo_tree(Path(self.folder) / "root", now=now)

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def _target(args: argparse.Namespace, now: datetime) -> tuple[str, Settings, Path, _Demo | None]:
    demo: _Demo | None = None
    if getattr(args, "demo", False):
        if getattr(args, "root", None):
            raise UsageError("--demo and --root cannot be used together")
        demo = _Demo(now)
        root = str(demo.tree.root)
        config = getattr(args, "config", None)
        path = Path(config) if config else demo.tree.settings_path
        return root, load_settings(path), path, demo
    root = getattr(args, "root", "/")
    if not os.path.isdir(root):
        raise UsageError(f"--root {root}: not a folder")
    settings, path = _settings(args)
    return root, settings, path, None


def _scan(root: str, settings: Settings, path: Path, now: datetime) -> Inventory:
    from core.scan import default_cache_path, scan

    return asyncio.run(
        scan(
            root,
            now=now,
            settings=settings,
            settings_path=path,
            cache_path=default_cache_path(root),
        )
    )


def _row(r: CertificateRecord, now: datetime) -> list[str]:
    c = r.cert
    # The file itself rather than a link to it (the trust store's hashed names).
    shown = sorted(r.locations, key=lambda loc: (loc.symlink_to is not None, loc.path))
    first = shown[0].path if shown else ""
    more = f" (+{len(r.locations) - 1})" if len(r.locations) > 1 else ""
    return [
        _SYMBOL[r.worst],
        visible(c.display_name),
        f"{c.not_after:%Y-%m-%d} ({relative_time(c.not_after, now)})",
        c.role,
        ",".join(f.code for f in r.findings),
        visible(first) + more,
    ]


def print_table(inv: Inventory, out: TextIO) -> None:
    """A readable table of the inventory for a terminal or a pager."""
    now = inv.evaluated_at
    header = ["", "NAME", "EXPIRES", "TYPE", "FINDINGS", "LOCATION"]
    rows = [_row(r, now) for r in inv.certificates]
    width = shutil.get_terminal_size((160, 24)).columns
    caps = [1, 40, 26, 16, 40, max(20, width - 130)]
    widths = [
        min(cap, max(len(h), *(len(row[i]) for row in rows))) if rows else len(h)
        for i, (h, cap) in enumerate(zip(header, caps, strict=True))
    ]

    def fmt(cells: Sequence[str]) -> str:
        parts = []
        for cell, w in zip(cells, widths, strict=True):
            parts.append(cell if len(cell) <= w else cell[: w - 1] + "…")
        return "  ".join(p.ljust(w) for p, w in zip(parts, widths, strict=True)).rstrip()

    out.write(fmt(header) + "\n")
    for row in rows:
        out.write(fmt(row) + "\n")
    errors = sum(r.worst is Severity.ERROR for r in inv.certificates)
    warnings = sum(r.worst is Severity.WARNING for r in inv.certificates)
    out.write(
        f"\n{len(inv.certificates)} certificates in {inv.files_scanned} files; "
        f"{errors} with errors, {warnings} with warnings; "
        f"{len(inv.unreadable)} unreadable\n"
    )
    for u in inv.unreadable:
        out.write(f"  unreadable: {visible(u.path)}: {visible(u.reason)}\n")


def _run_scan(args: argparse.Namespace) -> int:
    now = parse_at(args.at) if getattr(args, "at", None) else datetime.now(UTC)
    codes = _fail_codes(getattr(args, "fail_on", ""))
    root, settings, path, demo = _target(args, now)
    try:
        inv = _scan(root, settings, path, now)
    finally:
        if demo is not None:
            demo.close()
    if getattr(args, "json", False):
        sys.stdout.buffer.write(inventory_json(inv).encode("utf-8"))
        sys.stdout.flush()
    else:
        print_table(inv, sys.stdout)
    return _failed(inv, codes)


def _failed(inv: Inventory, codes: set[str]) -> int:
    """``--fail-on``: EXIT_FINDINGS (and a note on stderr) when any such finding exists."""
    hits = [r for r in inv.certificates if any(f.code in codes for f in r.findings)]
    if hits:
        print(
            f"certdeck: {len(hits)} certificate(s) with {', '.join(sorted(codes))}",
            file=sys.stderr,
        )
        return EXIT_FINDINGS
    return EXIT_OK


def _export_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    export = sub.add_parser(
        "export",
        # No abbreviations: "--password x" must not pass for "--password-file x".
        allow_abbrev=False,
        help="export certificates (with chain and keys) as PKCS#12 or PEM files",
        description="Export certificates as password-protected PKCS#12 or as PEM files. "
        "The files are listed before anything is written; existing files are never replaced. "
        "The PKCS#12 password comes from --password-file, CERTDECK_PASSWORD or a prompt.",
    )
    _common(export)
    export.add_argument(
        "--select",
        required=True,
        metavar="WHAT",
        help="required, all, or SHA-256 fingerprints separated by commas "
        "(a unique prefix of 8 or more hex digits is enough)",
    )
    export.add_argument("--format", required=True, choices=("p12", "pem"), dest="fmt")
    files = export.add_mutually_exclusive_group()
    files.add_argument(
        "--one-file", dest="one_file", action="store_true", help="one file for all certificates"
    )
    files.add_argument(
        "--one-per-cert",
        dest="one_file",
        action="store_false",
        help="one file per certificate (default: setting export.one_file_per_certificate)",
    )
    encryption = export.add_mutually_exclusive_group()
    encryption.add_argument(
        "--legacy",
        dest="legacy",
        action="store_true",
        help="PKCS#12 with 3DES and a SHA-1 MAC, for old Windows, Java and appliances",
    )
    encryption.add_argument(
        "--modern",
        dest="legacy",
        action="store_false",
        help="PKCS#12 with AES-256 and a SHA-256 MAC (default: setting export.pkcs12_encryption)",
    )
    keys = export.add_mutually_exclusive_group()
    keys.add_argument(
        "--with-keys",
        dest="with_keys",
        action="store_true",
        help="include the private keys certdeck can read (PEM: written unencrypted)",
    )
    keys.add_argument(
        "--no-keys",
        dest="with_keys",
        action="store_false",
        help="leave the private keys out (PKCS#12 includes them by default)",
    )
    export.add_argument(
        "--include-root", action="store_true", help="include the root certificate of each chain"
    )
    export.add_argument(
        "--to", metavar="DIR", help="folder to write into (default: setting export.directory)"
    )
    export.add_argument("--password-file", metavar="FILE", help="read the PKCS#12 password")
    export.add_argument("--yes", action="store_true", help="write without asking")
    export.set_defaults(one_file=None, legacy=None, with_keys=None)


def _import_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    imp = sub.add_parser(
        "import",
        allow_abbrev=False,
        help="import a certificate file (PKCS#12, PEM, DER, PKCS#7) with its key",
        description="Import certificates and a private key from FILE into a folder: "
        "certificate and chain as NAME.pem, the key as NAME.key (mode 0600). Certificates "
        "already on the machine are skipped; existing files are never replaced.",
    )
    _common(imp)
    imp.add_argument("file", metavar="FILE", help="the file to import")
    imp.add_argument(
        "--to", metavar="DIR", help="folder to write into (default: setting import.directory)"
    )
    imp.add_argument(
        "--password-file", metavar="FILE", help="read the password of FILE from this file"
    )
    imp.add_argument(
        "--encrypt-key",
        action="store_true",
        help="encrypt the imported private key with a new password",
    )
    imp.add_argument("--key-password-file", metavar="FILE", help="read the new password of the key")
    imp.add_argument("--yes", action="store_true", help="write without asking")


def _say(lines: Sequence[str]) -> None:
    for line in lines:
        print(line, file=sys.stderr)


def _check_can_confirm(yes: bool) -> None:
    from core.passwords import can_prompt

    if not yes and not can_prompt():
        raise UsageError(
            "nothing was written: confirmation is needed and there is no terminal to ask; "
            "add --yes to write without asking"
        )


def _confirm(yes: bool, question: str) -> None:
    if yes:
        return
    _check_can_confirm(yes)
    sys.stderr.write(f"{question} [y/N] ")
    sys.stderr.flush()
    if sys.stdin.readline().strip().lower() not in ("y", "yes"):
        raise CertdeckError("nothing was written", title="Cancelled")


_PASSWORD_TRIES = 3


def _password_file(value: str | None) -> Path | None:
    return Path(value) if value else None


def _run_export(args: argparse.Namespace) -> int:
    from core.export import export_directory, plan_export, write_export
    from core.passwords import PASSWORD_ENV, can_prompt, obtain_password, password_strength
    from core.rootfs import RootFS

    if getattr(args, "demo", False) and not args.to:
        raise UsageError("with --demo, give --to DIR: the demo tree is removed afterwards")
    now = parse_at(args.at) if getattr(args, "at", None) else datetime.now(UTC)
    root, settings, path, demo = _target(args, now)
    try:
        inv = _scan(root, settings, path, now)
        fs = RootFS(root)
        destination = Path(args.to) if args.to else export_directory(settings, fs)
        if destination is None:
            raise UsageError(
                "no destination folder: give --to DIR or set export.directory in the settings"
            )
        words = [w.strip() for w in args.select.split(",") if w.strip()]
        selection = words[0] if words in (["required"], ["all"]) else words
        one_file = (
            args.one_file
            if args.one_file is not None
            else not settings.export.one_file_per_certificate
        )
        legacy = (
            args.legacy
            if args.legacy is not None
            else settings.export.pkcs12_encryption == "legacy"
        )
        plan = plan_export(
            inv,
            selection,
            fmt=args.fmt,
            one_file=one_file,
            destination=destination,
            root=fs,
            with_keys=args.with_keys,
            include_root=args.include_root,
            legacy=legacy,
        )
        _say(plan.describe())
        _check_can_confirm(args.yes)
        password: bytes | None = None
        if plan.needs_password:
            prompted = args.password_file is None and PASSWORD_ENV not in os.environ
            password = obtain_password(
                password_file=_password_file(args.password_file),
                prompt="Password for the PKCS#12 file: ",
                confirm=True,
                allow_empty=False,
            )
            if prompted and can_prompt():
                strength = password_strength(password)
                _say([f"password strength: {strength.label} ({strength.hint})"])
        count = len(plan.files)
        _confirm(args.yes, f"Write {count} file{'s' if count != 1 else ''}?")
        result = write_export(plan, password)
    finally:
        if demo is not None:
            demo.close()
    _say(result.describe())
    for written in result.files:
        print(visible(written.shown))
    return EXIT_OK


def _run_import(args: argparse.Namespace) -> int:
    from core.importer import (
        WrongPassword,
        import_directory,
        inspect_import,
        open_import,
        plan_import,
        read_import_file,
        write_import,
    )
    from core.passwords import PASSWORD_ENV, can_prompt, obtain_password, prompt_password
    from core.rootfs import RootFS

    source = Path(args.file)
    data = read_import_file(source)
    if args.encrypt_key and args.key_password_file is None and not can_prompt():
        raise UsageError("--encrypt-key needs --key-password-file FILE when there is no terminal")
    if getattr(args, "demo", False) and not args.to:
        raise UsageError("with --demo, give --to DIR: the demo tree is removed afterwards")
    now = parse_at(args.at) if getattr(args, "at", None) else datetime.now(UTC)
    root, settings, path, demo = _target(args, now)
    try:
        inv = _scan(root, settings, path, now)
    finally:
        if demo is not None:
            demo.close()
    fs = RootFS(root)
    name = source.name
    preview = inspect_import(data, name, inventory=inv)
    if preview.locked and (args.password_file is not None or PASSWORD_ENV in os.environ):
        # A password from a file or the environment gets one try: scripts must not loop.
        password = obtain_password(
            password_file=_password_file(args.password_file), prompt="", allow_empty=True
        )
        preview = open_import(data, password, name=name, inventory=inv)
    elif preview.locked:
        if not can_prompt():
            raise UsageError(
                f"{preview.lock_reason}: a password is needed and there is no terminal to ask "
                f"for it; use --password-file FILE or set {PASSWORD_ENV}"
            )
        _say([f"{visible(name)}: {preview.lock_reason}"])
        for attempt in range(1, _PASSWORD_TRIES + 1):
            password = prompt_password(f"Password for {visible(name)} (may be empty): ")
            try:
                preview = open_import(data, password, name=name, inventory=inv)
                break
            except WrongPassword as exc:
                if attempt == _PASSWORD_TRIES:
                    raise WrongPassword(
                        f"{exc.message} (tried {_PASSWORD_TRIES} times; nothing was imported)"
                    ) from None
                _say([f"certdeck: {exc.message}"])
    _say(preview.describe())
    new_password: bytes | None = None
    if args.encrypt_key and any(k.public_key_sha256 for k in preview.keys):
        new_password = obtain_password(
            password_file=_password_file(args.key_password_file),
            prompt="New password for the private key: ",
            confirm=True,
            allow_empty=False,
            environ={},
        )
    destination = Path(args.to) if args.to else import_directory(settings, fs)
    plan = plan_import(preview, destination, reencrypt_password=new_password, root=fs)
    _say(plan.describe())
    if plan.nothing_to_write:
        return EXIT_OK
    count = len(plan.files)
    _confirm(args.yes, f"Write {count} file{'s' if count != 1 else ''}?")
    result = write_import(plan)
    _say(result.describe())
    for written in result.files:
        print(visible(written.shown))
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``certdeck`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "scan":
            return _run_scan(args)
        if args.command == "export":
            return _run_export(args)
        if args.command == "import":
            return _run_import(args)
        extra = _extra_command(args.command) if args.command else None
        if extra is not None:
            return extra(args)
        # No subcommand: the full-screen app. Textual is imported only here, so that
        # `certdeck scan` does not pay for it.
        now = parse_at(args.at) if getattr(args, "at", None) else None
        config = getattr(args, "config", None)
        demo: _Demo | None = None
        if getattr(args, "demo", False):
            if getattr(args, "root", None):
                raise UsageError("--demo and --root cannot be used together")
            demo = _Demo(now or datetime.now(UTC))
            root = str(demo.tree.root)
            path = Path(config) if config else demo.tree.settings_path
        else:
            root = getattr(args, "root", "/")
            if not os.path.isdir(root):
                raise UsageError(f"--root {root}: not a folder")
            path = Path(config) if config else default_settings_path()
        if not (sys.stdin.isatty() and sys.stdout.isatty()):
            raise UsageError(
                "the full-screen app needs a terminal; use `certdeck scan` (or --json) in "
                "scripts and pipes"
            )
        try:
            from core.scan import default_cache_path
            from tui.app import CertdeckApp

            app = CertdeckApp(
                root=root,
                now=now,
                settings_path=path,
                demo=demo is not None,
                host_name="demo-server" if demo is not None else None,
                # A demo tree lives for one run: remembering its files is of no use.
                cache_path=None if demo is not None else default_cache_path(root),
            )
            app.run()
        finally:
            if demo is not None:
                demo.close()
        return app.return_code or EXIT_OK
    except CertdeckError as exc:
        print(f"certdeck: {exc.title}: {exc.message}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
