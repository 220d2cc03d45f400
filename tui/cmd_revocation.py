"""The ``revocation`` subcommand: CRL and OCSP status of the required (or chosen) certificates.

The only command besides ``probe`` that opens connections, and only to the CRL, OCSP and
CA-issuer URLs named in the certificates (through the proxy of the environment, when set).
``--json`` prints the scan document with the revocation findings in place, plus a
``revocation`` object with every source's verdict; ``--fail-on`` works as for ``scan``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from core.errors import UsageError
from core.text import visible
from tui.cli import EXIT_OK, _common, _fail_codes, _failed, _say, _scan, _target, parse_at

if TYPE_CHECKING:
    from core.model import CertificateRecord, Inventory
    from core.revocation import CertRevocation, RevocationReport

__all__ = ["COMMANDS", "add_parsers"]


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``revocation`` to the ``certdeck`` parser."""
    revocation = sub.add_parser(
        "revocation",
        allow_abbrev=False,
        help="check the CRLs and OCSP responders of the required certificates (network)",
        description="Fetch the CRLs and ask the OCSP responders named in the certificates "
        "(each URL once, with a timeout per request and a limit for the whole check) and "
        "report, per certificate and source, whether it is revoked, the source is stale, or "
        "nothing answered. CRL files found on the machine are used too. Connects only to "
        "the URLs in the certificates, through the proxy of the environment when one is set.",
    )
    _common(revocation)
    which = revocation.add_mutually_exclusive_group()
    which.add_argument(
        "--all", action="store_true", help="every certificate, not only the required ones"
    )
    which.add_argument(
        "--select",
        metavar="FINGERPRINTS",
        help="SHA-256 fingerprints separated by commas (unique prefixes of 8+ hex digits)",
    )
    revocation.add_argument("--json", action="store_true", help="print the JSON document")
    revocation.add_argument(
        "--fail-on",
        metavar="CODES",
        default="",
        help="exit 1 when any of these finding codes is present, e.g. revoked,crl_stale",
    )
    revocation.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=float,
        default=5.0,
        help="time allowed for each request (default 5)",
    )
    revocation.add_argument(
        "--time-limit",
        metavar="SECONDS",
        type=float,
        default=30.0,
        help="time allowed for the whole check (default 30)",
    )


def _chosen(inventory: Inventory, args: argparse.Namespace) -> list[CertificateRecord]:
    from core.scope import records_by_fingerprints

    if args.select:
        return records_by_fingerprints(inventory, args.select.split(","))
    if args.all:
        return list(inventory.certificates)
    return [r for r in inventory.certificates if r.required]


def _apply(inventory: Inventory, report: RevocationReport) -> Inventory:
    from core.revocation import with_revocation_findings
    from core.scan import replace_records

    results = report.by_sha256()
    return replace_records(
        inventory,
        [
            with_revocation_findings(r, results[r.sha256])
            for r in inventory.certificates
            if r.sha256 in results
        ],
    )


_STATUS_WORDS = {
    "revoked": "REVOKED",
    "unreachable": "UNREACHABLE",
    "unknown": "unknown",
    "good": "good",
    "no_sources": "no revocation information",
    "skipped": "not checked (trust anchor or self-signed)",
}
"""How each status reads, worst first (the order of the report)."""


def _lines(record: CertificateRecord, result: CertRevocation) -> list[str]:
    lines = [f"{_STATUS_WORDS[result.status]}: {visible(record.cert.display_name)}"]
    for source in result.sources:
        http = f" HTTP {source.http_status}" if source.http_status is not None else ""
        took = f" {source.latency_ms} ms" if source.latency_ms is not None else ""
        lines.append(
            f"  {source.kind} {visible(source.location)}: {source.verdict}{http}{took}"
            + (f" — {visible(source.explanation)}" if source.explanation else "")
        )
    lines += [f"  {f.severity.value}: {visible(f.message)}" for f in result.findings]
    return lines


def run_revocation(args: argparse.Namespace) -> int:
    """``certdeck revocation``: scan, check online, report."""
    from core.report import inventory_document, json_text
    from core.revocation import check_revocation, read_crl_files, report_json

    if args.timeout <= 0 or args.time_limit <= 0:
        raise UsageError("--timeout and --time-limit take a number of seconds above 0")
    now = parse_at(args.at) if getattr(args, "at", None) else datetime.now(UTC)
    codes = _fail_codes(args.fail_on)
    root, settings, path, demo = _target(args, now)
    try:
        inventory = _scan(root, settings, path, now)
        chosen = _chosen(inventory, args)
        crls, unreadable = read_crl_files(inventory.crl_files)
        if not args.json:
            _say(
                [
                    f"Checking the revocation of {len(chosen)} certificate(s): this connects to "
                    "the CRL and OCSP servers named in them…"
                ]
            )
        report = asyncio.run(
            check_revocation(
                chosen,
                now=now,
                local_crls=crls,
                issuers=inventory.certificates,
                request_timeout=args.timeout,
                time_limit=args.time_limit,
            )
        )
    finally:
        if demo is not None:
            demo.close()
    report = replace(report, unreadable=(*report.unreadable, *unreadable))
    checked = _apply(inventory, report)
    if args.json:
        doc = inventory_document(checked) | {"revocation": report_json(report)}
        sys.stdout.buffer.write(json_text(doc).encode("utf-8"))
        sys.stdout.flush()
    else:
        by = checked.by_sha256()
        rank = list(_STATUS_WORDS)
        worst_first = sorted(
            report.results,
            key=lambda r: (rank.index(r.status), by[r.sha256].cert.display_name.casefold()),
        )
        for result in worst_first:
            for line in _lines(by[result.sha256], result):
                print(line)
        counts: Counter[str] = Counter(r.status for r in report.results)
        summary = ", ".join(f"{counts[s]} {_STATUS_WORDS[s]}" for s in rank if counts[s])
        print(f"\n{len(report.results)} certificate(s) checked: {summary or 'none'}")
        if report.time_limit_reached:
            print(
                f"the time limit of {args.time_limit:g} s was reached; some sources were not "
                "checked"
            )
        for u in report.unreadable:
            print(f"  unreadable CRL: {visible(u.path)}: {visible(u.reason)}")
    return _failed(checked, codes) if codes else EXIT_OK


COMMANDS = {"revocation": run_revocation}
