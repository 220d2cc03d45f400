"""The ``create``, ``trust`` and ``probe`` subcommands.

Each mirrors its wizard: the plan is shown (stderr) before anything is written, a
confirmation is asked for (``--yes`` skips it, ``--dry-run`` stops after the plan), and the
result is reported.  ``probe`` prints its result on stdout (``--json`` for scripts) and exits
1 when the connection is not trusted.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.errors import UsageError
from core.text import visible
from tui.cli import (
    EXIT_FINDINGS,
    EXIT_OK,
    _common,
    _confirm,
    _say,
    _scan,
    _target,
    parse_at,
)

__all__ = ["COMMANDS", "add_parsers"]


_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029]")


def _now(args: argparse.Namespace) -> datetime:
    return parse_at(args.at) if getattr(args, "at", None) else datetime.now(UTC)


def _json(doc: dict[str, Any]) -> None:
    text = json.dumps(doc, ensure_ascii=False, indent=2, allow_nan=False)
    text = _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text) + "\n"
    sys.stdout.buffer.write(text.encode("utf-8"))
    sys.stdout.flush()


# -- parsers -----------------------------------------------------------------------------


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``create``, ``trust`` and ``probe`` to the ``certdeck`` parser."""
    _create_parsers(sub)
    _trust_parsers(sub)
    _probe_parser(sub)


def _writing(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--yes", action="store_true", help="go ahead without asking")
    parser.add_argument(
        "--dry-run", action="store_true", help="show what would be done and stop there"
    )


def _key_options(parser: argparse.ArgumentParser, default_key: str, default_validity: str) -> None:
    from core.create import KEY_TYPES, VALIDITY_PRESETS

    parser.add_argument(
        "--key",
        choices=list(KEY_TYPES),
        default=default_key,
        help=f"key type (default {default_key})",
    )
    parser.add_argument(
        "--validity",
        choices=list(VALIDITY_PRESETS),
        default=default_validity,
        help="90d, 1y, 2y, 10y, or forever: no well-defined expiration (notAfter "
        f"9999-12-31T23:59:59Z); default {default_validity}",
    )
    parser.add_argument(
        "--to",
        metavar="DIR",
        help="folder to write into (default: setting import.directory, i.e. /etc/ssl/certdeck "
        "as root)",
    )
    parser.add_argument("--file-name", metavar="NAME", help="file name without extension")
    parser.add_argument(
        "--encrypt-key",
        action="store_true",
        help="encrypt the new private key with a password (services then need it to start)",
    )
    parser.add_argument(
        "--key-password-file", metavar="FILE", help="read the new key's password from FILE"
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    _writing(parser)


def _create_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    create = sub.add_parser(
        "create",
        help="create a server certificate (self-signed or from a local CA) or a local CA",
        description="Create a TLS server certificate holding this machine's names and "
        "addresses, or a local CA to issue them. The files are listed before anything is "
        "written; existing files are never replaced; keys are written with mode 0600.",
    )
    _common(create)
    what = create.add_subparsers(dest="create_what", metavar="WHAT", required=True)
    server = what.add_parser(
        "server",
        allow_abbrev=False,
        help="a server certificate with the host name and every interface address",
        description="Create a TLS server certificate. By default it holds the fully "
        "qualified name, the host name and every address of every interface.",
    )
    _common(server)
    server.add_argument(
        "--name",
        action="append",
        default=[],
        metavar="NAME",
        help="another host name or IP address (repeat, or separate with commas); "
        "wildcards like *.example.org are accepted",
    )
    server.add_argument(
        "--no-host-names", action="store_true", help="leave out this machine's names"
    )
    server.add_argument(
        "--no-addresses", action="store_true", help="leave out this machine's addresses"
    )
    server.add_argument(
        "--ips-as-dns",
        action="store_true",
        help="also add each address as a DNS name, for old clients that match only DNS names",
    )
    server.add_argument(
        "--cn", metavar="TEXT", default="", help="common name (default: first name)"
    )
    server.add_argument("--ca", metavar="CERT", help="the local CA certificate that issues it")
    server.add_argument("--ca-key", metavar="KEY", help="the local CA's private key")
    server.add_argument(
        "--ca-password-file", metavar="FILE", help="read the CA key's password from FILE"
    )
    _key_options(server, "ec-p256", "1y")
    ca = what.add_parser(
        "ca",
        allow_abbrev=False,
        help="a local CA, so that clients trust one CA instead of every server",
        description="Create a local root CA (certificate and private key) to issue server "
        "certificates with `certdeck create server --ca CERT --ca-key KEY`.",
    )
    _common(ca)
    ca.add_argument("--cn", metavar="TEXT", default="", help="the CA's name")
    ca.add_argument("--org", metavar="TEXT", default="", help="organisation name")
    _key_options(ca, "ec-p256", "10y")


def _trust_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from core.truststore import FAMILIES

    trust = sub.add_parser(
        "trust",
        help="add or remove a CA in the system trust store; export a CA for clients",
        description="Change the system trust store (Debian/Ubuntu, RHEL/Fedora, SUSE, p11-kit). "
        "The files and the exact commands are shown first. Under --root only the files are "
        "changed and the commands are shown, not run.",
    )
    _common(trust)
    what = trust.add_subparsers(dest="trust_what", metavar="ACTION", required=True)
    add = what.add_parser(
        "add",
        allow_abbrev=False,
        help="trust a CA certificate system-wide",
        description="Install a CA certificate into the system trust store and refresh it.",
    )
    _common(add)
    add.add_argument("file", metavar="FILE", help="the CA certificate (PEM or DER)")
    remove = what.add_parser(
        "remove",
        allow_abbrev=False,
        help="remove a CA an administrator added",
        description="Remove a CA certificate an administrator added to the system trust "
        "store (the old file is kept). Roots the distribution ships are never deleted; "
        "--deselect-distribution-root stops trusting one (strongly discouraged).",
    )
    _common(remove)
    remove.add_argument(
        "file", metavar="FILE|SHA256", help="the certificate, or its fingerprint (8+ hex digits)"
    )
    remove.add_argument(
        "--deselect-distribution-root",
        action="store_true",
        help="stop trusting a root the distribution ships (not deleted; see the warning)",
    )
    for parser in (add, remove):
        parser.add_argument(
            "--family", choices=list(FAMILIES), help="the distribution family (default: detect)"
        )
        parser.add_argument(
            "--json", action="store_true", help="print the plan and what was done as JSON"
        )
        _writing(parser)
    export = what.add_parser(
        "export",
        allow_abbrev=False,
        help="write a CA certificate for clients, with installation instructions",
        description="Write NAME.crt and NAME-install.txt with short instructions for Windows, "
        "macOS, Debian and RHEL clients; the instructions are printed as well.",
    )
    _common(export)
    export.add_argument("file", metavar="FILE", help="the CA certificate (PEM or DER)")
    export.add_argument(
        "--to", metavar="DIR", help="folder to write into (default: setting export.directory)"
    )
    export.add_argument("--file-name", metavar="NAME", help="file name without extension")
    _writing(export)


def _probe_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from core.probe import STARTTLS

    probe = sub.add_parser(
        "probe",
        allow_abbrev=False,
        help="connect to a TLS server and judge the chain it serves (exit 1: not trusted)",
        description="Connect to HOST[:PORT] (default port 443, or the STARTTLS protocol's), "
        "fetch the chain exactly as served and verify it against this machine's trust store "
        "and the name. Exit codes: 0 trusted, 1 not trusted, 2 connection or usage error.",
    )
    _common(probe)
    probe.add_argument("target", metavar="HOST[:PORT]")
    probe.add_argument(
        "--servername", metavar="NAME", help="the name to send (SNI) and check; default HOST"
    )
    probe.add_argument("--starttls", choices=list(STARTTLS), help="upgrade a plain connection")
    probe.add_argument("--timeout", type=float, default=10.0, metavar="SECONDS", help="default 10")
    disk = probe.add_mutually_exclusive_group()
    disk.add_argument(
        "--disk",
        dest="disk",
        action="store_true",
        help="compare with the certificates local services use (default: when HOST is this "
        "machine, or with --root)",
    )
    disk.add_argument("--no-disk", dest="disk", action="store_false", help="do not compare")
    probe.add_argument("--json", action="store_true", help="print the result as JSON")
    probe.add_argument(
        "--save-chain", metavar="DIR", help="save the served chain as a PEM file in DIR"
    )
    probe.add_argument(
        "--trust-root",
        action="store_true",
        help="trust the served root (or self-signed certificate) system-wide, after confirmation",
    )
    probe.add_argument("--yes", action="store_true", help="save or trust without asking")
    probe.set_defaults(disk=None)


# -- create ------------------------------------------------------------------------------


def _new_key_password(args: argparse.Namespace) -> bytes | None:
    from core.passwords import can_prompt, obtain_password

    if not args.encrypt_key:
        if args.key_password_file:
            raise UsageError("--key-password-file needs --encrypt-key")
        return None
    if args.key_password_file is None and not can_prompt():
        raise UsageError("--encrypt-key needs --key-password-file FILE when there is no terminal")
    return obtain_password(
        password_file=Path(args.key_password_file) if args.key_password_file else None,
        prompt="Password for the new private key: ",
        confirm=True,
        allow_empty=False,
        environ={},
    )


def _issuer(args: argparse.Namespace, now: datetime) -> Any:
    from core.create import CALoadError, load_issuing_ca
    from core.importer import read_import_file
    from core.passwords import PASSWORD_ENV, can_prompt, obtain_password

    if not args.ca and not args.ca_key:
        return None
    if not (args.ca and args.ca_key):
        raise UsageError("give both --ca CERT and --ca-key KEY (or neither: self-signed)")
    cert_data = read_import_file(Path(args.ca))
    key_data = read_import_file(Path(args.ca_key))
    password: bytes | None = None
    if args.ca_password_file:
        password = obtain_password(
            password_file=Path(args.ca_password_file), prompt="", allow_empty=True
        )
    try:
        return load_issuing_ca(
            cert_data, key_data, now=now, password=password, cert_name=args.ca, key_name=args.ca_key
        )
    except CALoadError as exc:
        if password is not None or exc.title != "Password needed":
            raise
        if PASSWORD_ENV not in os.environ and not can_prompt():
            raise  # its message names --ca-password-file and the variable
    password = obtain_password(
        password_file=None, prompt=f"Password for {visible(args.ca_key)}: ", allow_empty=True
    )
    return load_issuing_ca(
        cert_data, key_data, now=now, password=password, cert_name=args.ca, key_name=args.ca_key
    )


def _run_create(args: argparse.Namespace) -> int:
    from core.create import (
        CARequest,
        ServerRequest,
        ca_request_defaults,
        plan_ca,
        plan_server_certificate,
        server_request_defaults,
        split_names,
        write_created,
    )
    from core.hostinfo import host_info
    from core.importer import import_directory
    from core.rootfs import RootFS

    if getattr(args, "demo", False) and not args.to:
        raise UsageError("with --demo, give --to DIR: the demo tree is removed afterwards")
    now = _now(args)
    root, settings, _path, demo = _target(args, now)
    try:
        fs = RootFS(root)
        destination = Path(args.to) if args.to else import_directory(settings, fs)
        password = _new_key_password(args)
        info = host_info()
        if args.create_what == "ca":
            defaults = ca_request_defaults(info)
            ca_request = CARequest(
                common_name=args.cn or defaults.common_name,
                organization=args.org,
                key_type=args.key,
                validity=args.validity,
                file_name=args.file_name or "",
            )
            plan = plan_ca(
                ca_request, destination=destination, now=now, root=fs, key_password=password
            )
        else:
            issuer = _issuer(args, now)
            defaults_s = server_request_defaults(info)
            extra_dns, extra_ips = split_names(args.name)
            dns = () if args.no_host_names else defaults_s.dns_names
            ips = () if args.no_addresses else defaults_s.ip_addresses
            request = ServerRequest(
                dns_names=tuple(dict.fromkeys((*dns, *extra_dns))),
                ip_addresses=tuple(dict.fromkeys((*ips, *extra_ips))),
                ips_as_dns=args.ips_as_dns,
                common_name=args.cn,
                key_type=args.key,
                validity=args.validity,
                file_name=args.file_name or "",
            )
            plan = plan_server_certificate(
                request,
                destination=destination,
                now=now,
                root=fs,
                issuer=issuer,
                key_password=password,
            )
        _say(plan.describe())
        if args.dry_run:
            return EXIT_OK
        count = len(plan.files)
        _confirm(args.yes, f"Write {count} file{'s' if count != 1 else ''}?")
        result = write_created(plan)
    finally:
        if demo is not None:
            demo.close()
    _say(result.describe())
    if args.json:
        _json(result.as_dict())
    else:
        for written in result.files:
            print(visible(written.shown))
    return EXIT_OK


# -- trust -------------------------------------------------------------------------------


def _certificate_arg(text: str, fs: Any) -> Any:
    from core.importer import read_import_file
    from core.truststore import certificate_from_bytes, read_trust_store

    if os.path.lexists(text) or not re.fullmatch(r"[0-9a-fA-F:]{8,}", text):
        return certificate_from_bytes(read_import_file(Path(text)), text)
    wanted = text.replace(":", "").lower()
    view = read_trust_store(fs)
    found = [f for sha, f in view.facts.items() if sha.startswith(wanted)]
    if len(found) != 1:
        what = "no certificate" if not found else f"{len(found)} certificates"
        raise UsageError(
            f"{wanted} matches {what} in the system trust store; give the certificate file "
            "or more digits"
        )
    return found[0]


def _apply(plan: Any, yes: bool) -> Any:
    from core.truststore import RootRequired, apply_trust

    if plan.needs_root and os.geteuid() != 0:
        raise RootRequired(
            "changing the system trust store needs root rights; nothing was changed. Run "
            "the same command with sudo, or use --root DIR to change a copy of the files"
        )
    question = (
        "Change the system trust store and run these commands?"
        if plan.execute
        else "Change these files under the root folder?"
    )
    _confirm(yes, question)
    result = apply_trust(plan)
    _say(result.describe())
    return result


def _run_trust(args: argparse.Namespace) -> int:
    from core.export import export_directory
    from core.importer import read_import_file
    from core.rootfs import RootFS
    from core.truststore import (
        certificate_from_bytes,
        plan_trust_add,
        plan_trust_export,
        plan_trust_remove,
        write_trust_export,
    )

    now = _now(args)
    if getattr(args, "demo", False) and args.trust_what != "export":
        raise UsageError("the demo tree is removed afterwards; use --root DIR to try trust changes")
    root, settings, _path, demo = _target(args, now)
    try:
        fs = RootFS(root)
        if args.trust_what == "export":
            facts = certificate_from_bytes(read_import_file(Path(args.file)), args.file)
            destination = Path(args.to) if args.to else export_directory(settings, fs)
            if destination is None:
                raise UsageError(
                    "no destination folder: give --to DIR or set export.directory in the settings"
                )
            export = plan_trust_export(
                facts, destination=destination, root=fs, file_name=args.file_name or ""
            )
            _say(export.describe())
            if args.dry_run:
                print("\n".join(export.instructions))
                return EXIT_OK
            _confirm(args.yes, "Write 2 files?")
            written = write_trust_export(export)
            _say([f"wrote {visible(f.shown)}" for f in written.files])
            print("\n".join(written.instructions))
            return EXIT_OK
        if args.trust_what == "add":
            facts = certificate_from_bytes(read_import_file(Path(args.file)), args.file)
            plan = plan_trust_add(facts, root=fs, now=now, family=args.family)
        else:
            facts = _certificate_arg(args.file, fs)
            plan = plan_trust_remove(
                facts,
                root=fs,
                family=args.family,
                deselect_distribution_root=args.deselect_distribution_root,
            )
        _say(plan.describe())
        if plan.nothing_to_do or args.dry_run:
            if args.json:
                _json(plan.as_dict() | {"done": [], "ran": []})
            return EXIT_OK
        result = _apply(plan, args.yes)
        if args.json:
            _json(result.as_dict())
    finally:
        if demo is not None:
            demo.close()
    return EXIT_OK


# -- probe -------------------------------------------------------------------------------


def _is_local(host: str) -> bool:
    from core.hostinfo import host_info

    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        if ipaddress.ip_address(host.strip("[]")).is_loopback:
            return True
    except ValueError:
        pass
    info = host_info()
    return host.lower().rstrip(".") in info.names or host.strip("[]") in info.ips


def _run_probe(args: argparse.Namespace) -> int:
    from core.probe import parse_target, plan_save_chain, probe, write_chain
    from core.rootfs import RootFS
    from core.truststore import plan_trust_add, system_anchors

    target = parse_target(args.target, servername=args.servername, starttls=args.starttls)
    if args.timeout <= 0:
        raise UsageError("--timeout must be a positive number of seconds")
    now = _now(args)
    root, settings, path, demo = _target(args, now)
    try:
        fs = RootFS(root)
        disk = args.disk
        if disk is None:
            disk = root != "/" or _is_local(target.host)
        inventory = None
        if disk:
            inventory = _scan(root, settings, path, now)
            anchors = [r.cert for r in inventory.certificates if r.trust_anchor]
            known = [r.cert for r in inventory.certificates]
        else:
            anchors = system_anchors(fs, settings.trust.anchors)
            known = []
        result = probe(
            target,
            anchors=anchors,
            now=now,
            timeout=args.timeout,
            known=known,
            inventory=inventory,
        )
        if args.json:
            _json(result.as_dict())
        else:
            print("\n".join(result.describe()))
        if args.save_chain:
            save = plan_save_chain(result, destination=Path(args.save_chain), root=fs)
            _say(save.describe())
            _confirm(args.yes, "Save the chain?")
            written = write_chain(save)
            _say([f"wrote {visible(written.shown)}"])
        if args.trust_root:
            candidate = result.root_candidate()
            if candidate is None:
                _say(
                    [
                        "certdeck: nothing to trust: "
                        + (
                            "the connection is trusted already"
                            if result.trusted
                            else "the server does not send a self-signed root; get the CA "
                            "certificate from its owner and use certdeck trust add FILE"
                        )
                    ]
                )
            else:
                plan = plan_trust_add(candidate, root=fs, now=now)
                _say(plan.describe())
                if not plan.nothing_to_do:
                    _apply(plan, args.yes)
    finally:
        if demo is not None:
            demo.close()
    return EXIT_OK if result.trusted else EXIT_FINDINGS


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "create": _run_create,
    "trust": _run_trust,
    "probe": _run_probe,
}
"""Subcommand name to its ``run(args) -> exit code``."""
