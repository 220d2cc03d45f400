"""Findings that follow from a certificate, where it is stored and the evaluation time.

Pure functions: the time is a parameter, nothing is read from disk.  The finding codes and
their severities are the stable contract of DESIGN.md.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from core.model import CertFacts, Finding, Location, Severity

__all__ = [
    "SEVERITY",
    "basic_findings",
    "duplicate_files",
    "relative_time",
    "sort_findings",
    "time_state",
]

SEVERITY: dict[str, Severity] = {
    "expired": Severity.ERROR,
    "not_yet_valid": Severity.ERROR,
    "expiring": Severity.WARNING,
    "untrusted": Severity.ERROR,
    "self_signed": Severity.INFO,
    "key_mismatch": Severity.ERROR,
    "key_missing": Severity.ERROR,
    "key_permissions": Severity.WARNING,
    "weak_key": Severity.WARNING,
    "weak_signature": Severity.WARNING,
    "wildcard": Severity.WARNING,
    "superseded": Severity.INFO,
    "duplicate": Severity.INFO,
    "unused": Severity.INFO,
    "obsolete": Severity.WARNING,
    "expiry_not_checked": Severity.INFO,
    "revoked": Severity.ERROR,
    "revocation_unreachable": Severity.WARNING,
    "crl_stale": Severity.WARNING,
}
"""Every finding code and its severity (DESIGN.md, *Findings*)."""

_WEAK_HASHES = {"md2", "md4", "md5", "sha1"}


def relative_time(when: datetime, now: datetime) -> str:
    """``in 12 d``, ``3 mo ago``: the distance from ``now`` in the largest sensible unit."""
    seconds = (when - now).total_seconds()
    ago = seconds < 0
    seconds = abs(seconds)
    days = seconds / 86400
    if days >= 730:
        text = f"{int(days // 365)} y"
    elif days >= 60:
        text = f"{int(days // 30)} mo"
    elif days >= 1:
        text = f"{int(days)} d"
    elif seconds >= 3600:
        text = f"{int(seconds // 3600)} h"
    else:
        text = f"{max(1, int(seconds // 60))} min"
    return f"{text} ago" if ago else f"in {text}"


def _date(when: datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M UTC")


def duplicate_files(locations: Iterable[Location], trust_stores: set[str]) -> list[str]:
    """The files holding their own copy of a certificate.

    Counted: distinct real files where the certificate is the file's first certificate.
    Not counted: symbolic links (they point at a file counted once), chain files holding
    it after their own certificate, and the system trust store's copies (distributions keep
    each root both in the bundle and as a single file by design).
    """
    files: dict[str, str] = {}
    for loc in locations:
        if loc.store in trust_stores or loc.index != 0:
            continue
        real = loc.symlink_to or loc.path
        files.setdefault(real, loc.path)
    return sorted(files)


def time_state(cert: CertFacts, now: datetime, expiring_days: int) -> int:
    """Which side of each validity threshold ``now`` is on (same state, same time findings).

    Finding messages carry dates, never "3 days ago", so a record whose state did not change
    between two evaluation times has exactly the same findings.
    """
    return (
        (cert.not_before > now)
        + 2 * (cert.not_after < now)
        + 4 * (cert.not_after <= now + timedelta(days=expiring_days))
    )


def basic_findings(
    cert: CertFacts,
    locations: Iterable[Location],
    *,
    now: datetime,
    expiring_days: int,
    min_rsa_bits: int,
    min_ec_bits: int,
    trust_anchor: bool,
    trust_stores: set[str],
) -> list[Finding]:
    """The findings that need nothing but the certificate, its locations and the time."""
    out: list[Finding] = []
    if cert.not_after < now:
        out.append(
            Finding(
                "expired",
                Severity.ERROR,
                f"expired on {_date(cert.not_after)}",
            )
        )
    elif cert.not_before > now:
        out.append(
            Finding(
                "not_yet_valid",
                Severity.ERROR,
                f"not valid before {_date(cert.not_before)}",
            )
        )
    if now <= cert.not_after <= now + timedelta(days=expiring_days):
        out.append(
            Finding(
                "expiring",
                Severity.WARNING,
                f"expires on {_date(cert.not_after)}, "
                f"within the {expiring_days}-day warning period",
            )
        )
    weak = _weak_key(cert, min_rsa_bits, min_ec_bits)
    if weak:
        out.append(Finding("weak_key", Severity.WARNING, weak))
    if cert.signature_hash in _WEAK_HASHES and not cert.self_issued:
        out.append(
            Finding(
                "weak_signature",
                Severity.WARNING,
                f"signed with {cert.signature_algorithm}; {cert.signature_hash.upper()} "
                "signatures can be forged and modern clients reject them",
            )
        )
    wild = [n[4:] for n in cert.names if n.startswith("DNS:*")]
    if not wild and cert.common_name.startswith("*."):
        wild = [cert.common_name]
    if wild:
        out.append(
            Finding(
                "wildcard",
                Severity.WARNING,
                f"wildcard name {', '.join(wild)}: one stolen key impersonates every host under it",
            )
        )
    if cert.self_signed and not trust_anchor:
        out.append(
            Finding(
                "self_signed",
                Severity.INFO,
                "self-signed: clients trust it only if it is installed in their trust store",
            )
        )
    copies = duplicate_files(locations, trust_stores)
    if len(copies) > 1:
        out.append(
            Finding(
                "duplicate",
                Severity.INFO,
                f"the same certificate is stored in {len(copies)} files: {', '.join(copies)}",
            )
        )
    return out


def _weak_key(cert: CertFacts, min_rsa_bits: int, min_ec_bits: int) -> str:
    key = cert.key
    if key.type == "RSA" and key.bits < min_rsa_bits:
        return f"RSA key of {key.bits} bits; at least {min_rsa_bits} bits are needed"
    if key.type == "DSA":
        return f"DSA key ({key.bits} bits); DSA is deprecated and no longer accepted"
    if key.type == "EC" and key.bits < min_ec_bits:
        return f"EC key on {key.curve} ({key.bits} bits); at least {min_ec_bits} bits are needed"
    return ""


def sort_findings(findings: Iterable[Finding]) -> tuple[Finding, ...]:
    """Worst first, then by code, so output is stable."""
    return tuple(sorted(findings, key=lambda f: (f.severity.rank, f.code)))
