"""What the machine does with its certificates: consumers, required, trust and clean-up.

:func:`analyse` takes the scanned records, the private keys, the services' file uses and the
declared consumers and returns the final records (``required``, ``used_by``, ``chain`` and
every finding of DESIGN.md's table) with the consumer list.  Pure: no disk, the time is a
parameter, paths are resolved by a function passed in.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from core.consumers import ConfigProblem, FileUse
from core.findings import sort_findings
from core.model import (
    CertificateRecord,
    Consumer,
    Finding,
    PrivateKeyInfo,
    Severity,
    UsedBy,
)
from core.rootfs import printable_path
from core.settings import ConsumerSetting
from core.trust import TrustEvaluator

__all__ = ["DeclaredUse", "analyse", "declared_uses"]

_ROLE_LABEL = {"chain": "chain", "ca": "trusted CA"}


@dataclass(frozen=True, slots=True)
class DeclaredUse:
    """A consumer from the settings, as uses of files."""

    setting: ConsumerSetting
    config: str
    line: int


def declared_uses(
    declared: Sequence[ConsumerSetting], settings_path: str, settings_text: str
) -> list[DeclaredUse]:
    """Find the line of each ``[[consumers]]`` entry in the settings text (0 if not found)."""
    lines = settings_text.splitlines()
    out = []
    for setting in declared:
        line = 0
        for number, text in enumerate(lines, 1):
            stripped = text.strip().replace(" ", "")
            if stripped.startswith("name=") and setting.name in text:
                line = number
                break
        out.append(DeclaredUse(setting, settings_path, line))
    return out


@dataclass(slots=True)
class _Group:
    service: str
    key: str
    uses: list[FileUse] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    role: str = ""
    check_expiry: bool = True


def analyse(
    records: Sequence[CertificateRecord],
    *,
    private_keys: Sequence[PrivateKeyInfo],
    uses: Sequence[FileUse],
    problems: Sequence[ConfigProblem],
    declared: Sequence[DeclaredUse],
    now: datetime,
    resolve: Callable[[str], str],
    exists: Callable[[str], bool],
    links: dict[tuple[str, str, bool], str | None] | None = None,
) -> tuple[tuple[CertificateRecord, ...], tuple[Consumer, ...]]:
    """Final records and the consumer list.

    Args:
        records: the scanned certificates with their basic findings.
        private_keys: every private key the scan found.
        uses: the services' file uses (``core.consumers.find_consumers``).
        problems: what the configuration parsers could not follow.
        declared: consumers from the settings.
        now: the evaluation time.
        resolve: machine path → the same path with symbolic links resolved.
        exists: whether a machine path is an existing file.
        links: a memo of checked chain links to share between scans.
    """
    # Where each certificate and key is, by path as found and by the path a link points to.
    certs_at: dict[str, list[tuple[int, CertificateRecord]]] = defaultdict(list)
    for r in records:
        for loc in r.locations:
            certs_at[loc.path].append((loc.index, r))
            if loc.symlink_to and loc.symlink_to != loc.path:
                certs_at[loc.symlink_to].append((loc.index, r))
    keys_at: dict[str, list[PrivateKeyInfo]] = defaultdict(list)
    for k in private_keys:
        keys_at[k.path].append(k)

    def lookup(path: str) -> str:
        shown = printable_path(path)
        if shown in certs_at or shown in keys_at:
            return shown
        try:
            return printable_path(resolve(path))
        except OSError:
            return shown

    def certs_in(path: str) -> list[CertificateRecord]:
        found = sorted(certs_at.get(lookup(path), ()), key=lambda pair: pair[0])
        return list(dict.fromkeys(r for _, r in found))

    groups: dict[tuple[str, str], _Group] = {}
    for use in uses:
        group = groups.setdefault((use.service, use.group), _Group(use.service, use.group))
        group.uses.append(use)
    by_line = {(u.config, u.line): (u.service, u.group) for u in uses}
    orphan_problems: list[ConfigProblem] = []
    for problem in problems:
        where = by_line.get((problem.config, problem.line))
        if where is not None and where in groups:
            groups[where].problems.append(problem.message)
        else:
            orphan_problems.append(problem)
    for d in declared:
        g = _Group(d.setting.name, f"declared:{d.setting.name}")
        g.role = d.setting.role
        g.check_expiry = d.setting.check_expiry
        for path in d.setting.files:
            g.uses.append(
                FileUse(d.setting.name, d.config, d.line, "files", "certificate", path, g.key)
            )
            if not exists(path):
                g.problems.append(f"{path} does not exist")
        groups[(g.service, g.key)] = g

    used_by: dict[str, list[UsedBy]] = defaultdict(list)
    no_expiry_check: dict[str, list[str]] = defaultdict(list)
    expiry_checked: set[str] = set()
    key_findings: dict[str, list[Finding]] = defaultdict(list)
    consumers: list[Consumer] = []
    declared_keys = {f"declared:{d.setting.name}" for d in declared}

    for group in groups.values():
        cert_uses = [u for u in group.uses if u.purpose == "certificate"]
        if not cert_uses:  # postfix chain files hold the key and the whole chain
            cert_uses = [u for u in group.uses if u.purpose == "chain" and not u.directory]
        key_uses = [u for u in group.uses if u.purpose == "key" and not u.directory]
        for use in group.uses:
            if use.purpose in ("key", "crt-list"):
                continue
            targets = (
                [r for path, pairs in certs_at.items() if _inside(path, use.path) for _, r in pairs]
                if use.directory
                else certs_in(use.path)
            )
            role = group.role or _ROLE_LABEL.get(use.purpose, "")
            for r in dict.fromkeys(targets):
                used_by[r.sha256].append(UsedBy(group.service, use.config, use.line, role))
                if group.check_expiry:
                    expiry_checked.add(r.sha256)
                else:
                    no_expiry_check[r.sha256].append(group.service)
        if group.key not in declared_keys:
            _check_keys(group, cert_uses, key_uses, certs_in, keys_at, lookup, exists, key_findings)
        files = tuple(dict.fromkeys(u.path for u in group.uses))
        first = min(group.uses, key=lambda u: (u.config, u.line)) if group.uses else None
        consumers.append(
            Consumer(
                name=group.service,
                config=first.config if first else "",
                line=first.line if first else 0,
                files=tuple(printable_path(f) for f in files),
                problems=tuple(dict.fromkeys(group.problems)),
                role=group.role,
                check_expiry=group.check_expiry,
            )
        )
    for problem in orphan_problems:
        consumers.append(
            Consumer(problem.service, problem.config, problem.line, (), (problem.message,))
        )

    # Trust verdicts, then "required" = used, or an issuer in a used certificate's chain.
    anchors = {r.sha256 for r in records if r.trust_anchor}
    evaluator = TrustEvaluator((r.cert for r in records), anchors, now=now, links=links)
    verdicts = {r.sha256: evaluator.verdict(r.sha256) for r in records}
    required = {sha for sha in used_by}
    for sha in list(required):
        required.update(verdicts[sha].chain)

    newer = _superseded(records)
    final: list[CertificateRecord] = []
    for r in records:
        sha = r.sha256
        findings = list(r.findings)
        verdict = verdicts[sha]
        if not verdict.trusted and not r.trust_anchor:
            findings.append(Finding("untrusted", Severity.ERROR, verdict.reason))
        findings.extend(key_findings.get(sha, ()))
        key = r.private_key
        if key is not None and int(key.mode, 8) & 0o044:
            who = "group and others" if int(key.mode, 8) & 0o004 else "its group"
            findings.append(
                Finding(
                    "key_permissions",
                    Severity.WARNING,
                    f"the private key {key.path} (mode {key.mode}, owner {key.owner}) is "
                    f"readable by {who}; make it 0600",
                )
            )
        if sha in newer:
            findings.append(Finding("superseded", Severity.INFO, newer[sha]))
        is_required = sha in required
        if not is_required and not r.trust_anchor:
            findings.append(
                Finding(
                    "unused",
                    Severity.INFO,
                    "no service uses it: no consumer references a file that holds it",
                )
            )
            stale = [f.code for f in findings if f.code in ("expired", "superseded")]
            if stale:
                findings.append(
                    Finding(
                        "obsolete",
                        Severity.WARNING,
                        f"unused, outside the trust store and {' and '.join(stale)}: "
                        "safe to clean up",
                    )
                )
        if sha in no_expiry_check and sha not in expiry_checked:
            findings = _expiry_by_policy(findings, no_expiry_check[sha])
        final.append(
            replace(
                r,
                findings=sort_findings(findings),
                required=is_required,
                used_by=tuple(sorted(set(used_by.get(sha, ())), key=_use_order)),
                chain=verdict.chain,
            )
        )
    return tuple(final), tuple(consumers)


def _use_order(u: UsedBy) -> tuple[str, str, int]:
    return (u.consumer, u.config, u.line)


def _inside(path: str, folder: str) -> bool:
    return path.rsplit("/", 1)[0] == folder.rstrip("/")


def _check_keys(
    group: _Group,
    cert_uses: Sequence[FileUse],
    key_uses: Sequence[FileUse],
    certs_in: Callable[[str], list[CertificateRecord]],
    keys_at: dict[str, list[PrivateKeyInfo]],
    lookup: Callable[[str], str],
    exists: Callable[[str], bool],
    out: dict[str, list[Finding]],
) -> None:
    """key_missing / key_mismatch for each certificate a service presents."""
    pair_by_order = len(key_uses) == len(cert_uses)
    for i, use in enumerate(cert_uses):
        certs = certs_in(use.path)
        if not certs:
            continue
        leaf = certs[0]
        candidates = [key_uses[i]] if pair_by_order else list(key_uses)
        where = f"{use.config}:{use.line}"
        if not candidates:
            in_file = keys_at.get(lookup(use.path), [])
            if not in_file:
                out[leaf.sha256].append(
                    Finding(
                        "key_missing",
                        Severity.ERROR,
                        f"{group.service} ({where}) presents it but no private key is "
                        "configured and its file holds none",
                    )
                )
            elif not any(_matches(k, leaf) for k in in_file):
                out[leaf.sha256].append(
                    Finding(
                        "key_mismatch",
                        Severity.ERROR,
                        f"the private key in {use.path} does not belong to this certificate "
                        f"({group.service}, {where})",
                    )
                )
            continue
        problems: list[Finding] = []
        matched = False
        for key_use in candidates:
            kwhere = f"{key_use.config}:{key_use.line}"
            keys = keys_at.get(lookup(key_use.path), [])
            if not keys:
                reason = (
                    "holds no readable private key" if exists(key_use.path) else "does not exist"
                )
                problems.append(
                    Finding(
                        "key_missing",
                        Severity.ERROR,
                        f"{key_use.directive} points to {key_use.path}, which {reason} "
                        f"({group.service}, {kwhere})",
                    )
                )
            elif any(_matches(k, leaf) for k in keys):
                matched = True
            else:
                problems.append(
                    Finding(
                        "key_mismatch",
                        Severity.ERROR,
                        f"{key_use.directive} {key_use.path} is not the key of this certificate "
                        f"({group.service}, {kwhere}): the service will refuse to start",
                    )
                )
        if not matched:
            out[leaf.sha256].extend(problems)


def _matches(key: PrivateKeyInfo, record: CertificateRecord) -> bool:
    # An encrypted key cannot be read without its password: it is not held against it.
    return key.encrypted or key.public_key_sha256 == record.cert.public_key_sha256


def _superseded(records: Iterable[CertificateRecord]) -> dict[str, str]:
    """Certificates for which a newer one with the same subject and names exists."""
    groups: dict[tuple[bytes, frozenset[str]], list[CertificateRecord]] = defaultdict(list)
    for r in records:
        groups[(r.cert.subject_der, frozenset(r.cert.names))].append(r)
    out: dict[str, str] = {}
    for same in groups.values():
        if len(same) < 2:
            continue
        newest = max(same, key=lambda r: (r.cert.not_before, r.cert.not_after))
        for r in same:
            if r is not newest and r.cert.not_before < newest.cert.not_before:
                out[r.sha256] = (
                    f"a newer certificate with the same subject and names exists: issued "
                    f"{newest.cert.not_before:%Y-%m-%d}, valid until "
                    f"{newest.cert.not_after:%Y-%m-%d} (SHA-256 {newest.sha256[:16]}…)"
                )
    return out


def _expiry_by_policy(findings: list[Finding], services: Sequence[str]) -> list[Finding]:
    """expired/expiring become notes when every consumer deliberately ignores expiry."""
    names = ", ".join(sorted(set(services)))
    out = []
    for f in findings:
        if f.code in ("expired", "expiring"):
            out.append(
                Finding(
                    "expiry_not_checked",
                    Severity.INFO,
                    f"{f.message}; expiry not checked by policy ({names})",
                )
            )
        elif f.code == "obsolete":
            continue
        else:
            out.append(f)
    return out
