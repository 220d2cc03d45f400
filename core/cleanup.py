"""Clean-up: move certificates nothing uses into the quarantine, with undo.

Three steps, so that a wizard and the command line show everything before anything changes:

1. :func:`cleanup_candidates` lists what can be cleaned up: the obsolete certificates
   (pre-selected) and, on request, the other unused ones (with a stronger warning: nothing
   certdeck can see uses them, but they are still valid).
2. :func:`plan_cleanup` turns a selection into every file that will change, and every
   refusal with its reason: required certificates (naming their consumers), trust-store
   entries (naming the store), files a service names, containers certdeck does not rewrite.
   A file whose certificates all go is moved; a file that also holds certificates that stay
   is rewritten without the chosen ones, every other byte as it was.  Private keys that no
   longer belong to any certificate go too when asked for.
3. :func:`apply_cleanup` checks that no file changed since the plan, then moves and rewrites
   through :class:`core.quarantine.EntryWriter`.  When a step fails, everything done so far is
   put back; the :class:`CleanupResult` names the quarantine entry (its ID undoes it).
"""

from __future__ import annotations

import binascii
import contextlib
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal, TypeAlias

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.utils import CryptographyDeprecationWarning

from core import __version__, _der
from core.configtest import ConfigTest, config_tests
from core.errors import CertdeckError, UsageError
from core.machine import host_name, owner_name
from core.model import CertificateRecord, Inventory, Location, StoreKind
from core.parse import _pem_blocks, parse_bytes
from core.quarantine import (
    EntryWriter,
    QuarantinedFile,
    QuarantineEntry,
    QuarantineError,
    _read,
    file_sha256,
    plan_restore,
    restore,
)
from core.rootfs import RootFS, printable_path
from core.scope import records_by_fingerprints
from core.stores import ANCHOR_FOLDERS, TRUST_BUNDLES
from core.text import visible
from core.transfer import check_destination, shown_path

__all__ = [
    "Candidate",
    "CandidateKind",
    "ChangedSincePreview",
    "CleanupFailed",
    "CleanupPlan",
    "CleanupResult",
    "CleanupSelection",
    "FileChange",
    "NothingToClean",
    "Refusal",
    "apply_cleanup",
    "cleanup_candidates",
    "plan_cleanup",
]

CandidateKind = Literal["obsolete", "unused"]
CleanupSelection: TypeAlias = Literal["obsolete"] | Sequence[str]
"""``"obsolete"`` (every obsolete certificate, plus every other unused one when
``include_unused``) or SHA-256 fingerprints (unique prefixes of 8 or more hex digits)."""

ChangeAction = Literal["move", "rewrite", "move link"]

_CERT_LABELS = {b"CERTIFICATE", b"X509 CERTIFICATE", b"TRUSTED CERTIFICATE"}
_PKCS7_LABELS = {b"PKCS7", b"PKCS #7 SIGNED DATA", b"CMS"}

UNUSED_WARNING = (
    "unused but not obsolete: it is still valid and nothing newer replaces it. Nothing "
    "certdeck can see uses it, but an application certdeck does not know (or a file copied "
    "elsewhere) may; it goes to the quarantine and can be restored"
)


class NothingToClean(UsageError):
    """The selection holds nothing that can be cleaned up."""

    title = "Nothing to clean up"


class ChangedSincePreview(CertdeckError):
    """A file changed between the preview and the clean-up; nothing was changed."""

    title = "Changed since the preview"


class CleanupFailed(CertdeckError):
    """The clean-up stopped; what it had done was put back (or the message says where)."""

    title = "Clean-up failed"


@dataclass(frozen=True, slots=True)
class Candidate:
    """A certificate the clean-up offers."""

    sha256: str
    name: str
    """Display name (certificate text: hostile, show with care)."""
    kind: CandidateKind
    preselected: bool
    """Obsolete certificates are pre-selected; other unused ones are not."""
    reasons: tuple[str, ...]
    """Why it is offered: the messages of its findings (expired, superseded, unused)."""
    paths: tuple[str, ...]
    """The machine paths that hold it."""
    warning: str = ""
    """The stronger warning shown for unused certificates that are not obsolete."""

    def describe(self) -> list[str]:
        """Lines for a list, safe for a terminal."""
        mark = "[x]" if self.preselected else "[ ]"
        lines = [f"{mark} {visible(self.name)}  {self.sha256[:16]}…  ({self.kind})"]
        lines += [f"      {visible(p)}" for p in self.paths]
        lines += [f"      {visible(r)}" for r in self.reasons]
        if self.warning:
            lines.append(f"      warning: {visible(self.warning)}")
        return lines


@dataclass(frozen=True, slots=True)
class Refusal:
    """A certificate (or one of its files) the clean-up will not touch, and why."""

    sha256: str
    name: str
    reason: str
    path: str | None = None
    """The file concerned; ``None`` when the certificate as a whole is refused."""

    def describe(self) -> str:
        """One line, safe for a terminal."""
        where = f" in {visible(self.path)}" if self.path else ""
        return f"{visible(self.name)} ({self.sha256[:16]}…){where}: {visible(self.reason)}"


@dataclass(frozen=True, slots=True)
class FileChange:
    """One file the clean-up changes."""

    path: str
    """Machine path, printable."""
    action: ChangeAction
    removed: tuple[tuple[str, str], ...]
    """(SHA-256, name) of the certificates taken out (empty for a key file or a link)."""
    kept: tuple[tuple[str, str], ...] = ()
    """(SHA-256, name) of the certificates that stay in a rewritten file."""
    private_key: bool = False
    """The file holds a private key (which goes with it when moved, stays when rewritten)."""
    mode: int = 0o644
    owner: str = ""
    reason: str = ""
    link_target: str | None = None
    sha256: str = field(default="", repr=False)
    """SHA-256 when planned (of the link text for a link): a changed file is not touched."""
    raw_path: str = field(default="", repr=False, compare=False)
    new_data: bytes | None = field(default=None, repr=False, compare=False)
    """The rewritten content (``rewrite`` only)."""

    @property
    def removed_shas(self) -> frozenset[str]:
        """Fingerprints of the certificates taken out."""
        return frozenset(sha for sha, _ in self.removed)

    def describe(self) -> list[str]:
        """The change as lines of text, safe for a terminal."""
        label = {"move": "move", "rewrite": "rewrite", "move link": "move link"}[self.action]
        head = f"{label:9} {visible(self.path)}"
        if self.action == "move link":
            return [f"{head} -> {visible(self.link_target or '')}  ({visible(self.reason)})"]
        lines = [f"{head}  (mode {self.mode:04o}, owner {visible(self.owner)})"]
        verb = "removes" if self.action == "rewrite" else "holds"
        for sha, name in self.removed:
            lines.append(f"          {verb}: {visible(name)}  {sha[:16]}…")
        for sha, name in self.kept:
            lines.append(f"          keeps:   {visible(name)}  {sha[:16]}…")
        if self.private_key:
            what = "keeps its private key" if self.action == "rewrite" else "a private key"
            lines.append(f"          {what}")
        if self.reason:
            lines.append(f"          reason: {visible(self.reason)}")
        return lines


@dataclass(frozen=True, slots=True)
class CleanupPlan:
    """Every file a clean-up will change, and what it refuses, before anything changes."""

    quarantine: Path
    shown_quarantine: str
    selected: tuple[str, ...]
    """Fingerprints of the certificates that will leave every file holding them."""
    changes: tuple[FileChange, ...]
    refusals: tuple[Refusal, ...]
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    config_tests: tuple[ConfigTest, ...] = ()
    """The services' configuration checks certdeck can offer afterwards."""
    names: dict[str, str] = field(default_factory=dict, repr=False, compare=False)
    root: RootFS = field(default_factory=RootFS, repr=False, compare=False)

    @property
    def nothing_to_do(self) -> bool:
        """No file would change."""
        return not self.changes

    def describe(self) -> list[str]:
        """The preview as lines of text, safe for a terminal."""
        moves = sum(c.action != "rewrite" for c in self.changes)
        rewrites = len(self.changes) - moves
        lines: list[str] = []
        if self.changes:
            count = len(self.selected)
            parts = [f"move {moves} file{'s' if moves != 1 else ''}"]
            if rewrites:
                parts.append(f"rewrite {rewrites} (the originals are kept)")
            lines.append(
                f"Clean up {count} certificate{'s' if count != 1 else ''}: "
                f"{' and '.join(parts)} into the quarantine {visible(self.shown_quarantine)}:"
            )
            for change in self.changes:
                lines += ["  " + line for line in change.describe()]
        else:
            lines.append("Nothing to clean up: no file would change.")
        if self.refusals:
            lines.append("Not cleaned up:")
            lines += ["  " + r.describe() for r in self.refusals]
        lines += [f"warning: {visible(w)}" for w in self.warnings]
        lines += [f"note: {visible(n)}" for n in self.notes]
        return lines


@dataclass(frozen=True, slots=True)
class CleanupResult:
    """What a clean-up did."""

    entry: QuarantineEntry
    files: tuple[QuarantinedFile, ...]
    removed: tuple[tuple[str, str], ...]
    """(SHA-256, name) of the certificates no longer in any file that was changed."""
    config_tests: tuple[ConfigTest, ...] = ()
    shown_folder: str = ""
    """The entry's folder as shown to the user (a machine path under ``--root``)."""

    @property
    def entry_id(self) -> str:
        """The quarantine entry: ``certdeck quarantine restore ID`` undoes the clean-up."""
        return self.entry.id

    def describe(self) -> list[str]:
        """The summary as lines of text, safe for a terminal."""
        moved = sum(f.action == "moved" for f in self.files)
        rewritten = len(self.files) - moved
        lines = [
            f"Moved {moved} file{'s' if moved != 1 else ''} into the quarantine"
            + (f" and rewrote {rewritten}" if rewritten else "")
            + f" (entry {self.entry.id}, {visible(self.shown_folder or str(self.entry.folder))}):"
        ]
        lines += ["  " + f.describe() for f in self.files]
        lines.append(f"Undo with: certdeck quarantine restore {self.entry.id}")
        return lines


# Candidates and selection --------------------------------------------------------------------


def _paths(record: CertificateRecord) -> tuple[str, ...]:
    return tuple(dict.fromkeys(loc.path for loc in record.locations))


def cleanup_candidates(
    inventory: Inventory, *, include_unused: bool = False
) -> tuple[Candidate, ...]:
    """What the clean-up offers: obsolete certificates, and other unused ones on request."""
    out: list[Candidate] = []
    for record in inventory.certificates:
        if record.required or record.trust_anchor:
            continue
        reasons = tuple(
            f.message for f in record.findings if f.code in ("expired", "superseded", "unused")
        )
        if record.has("obsolete"):
            out.append(
                Candidate(
                    record.sha256,
                    record.cert.display_name,
                    "obsolete",
                    True,
                    reasons,
                    _paths(record),
                )
            )
        elif include_unused and record.has("unused"):
            out.append(
                Candidate(
                    record.sha256,
                    record.cert.display_name,
                    "unused",
                    False,
                    reasons,
                    _paths(record),
                    UNUSED_WARNING,
                )
            )
    out.sort(key=lambda c: (c.kind != "obsolete", c.name.lower(), c.sha256))
    return tuple(out)


def _uses(record: CertificateRecord) -> str:
    return ", ".join(f"{u.consumer} ({u.config}:{u.line})" for u in record.used_by)


def _refuse_record(
    record: CertificateRecord, inventory: Inventory, include_unused: bool
) -> str | None:
    """Why a certificate cannot be cleaned up at all, or ``None``."""
    if record.required:
        if record.used_by:
            return f"required: used by {_uses(record)}"
        dependents = [
            r
            for r in inventory.certificates
            if r.required and r.used_by and record.sha256 in r.chain[1:]
        ]
        if dependents:
            names = ", ".join(f"{r.cert.display_name} ({_uses(r)})" for r in dependents[:3])
            return f"required: an issuer in the chain of {names}"
        return "required: an issuer in the chain of a certificate a service uses"
    if record.trust_anchor:
        kinds = {s.name: s.kind for s in inventory.stores}
        stores = [loc.store for loc in record.locations if kinds.get(loc.store) is StoreKind.TRUST]
        where = ", ".join(dict.fromkeys(stores)) or "the system trust store"
        return (
            f"a trust anchor in {where}: certdeck's clean-up does not change the trust store "
            "(remove anchors with the distribution's tools or the trust wizard)"
        )
    if record.has("obsolete"):
        return None
    if not record.has("unused"):
        return "not unused"
    if not include_unused:
        return (
            "unused but not obsolete (still valid, nothing newer replaces it); choose "
            "'include unused' (--include-unused) to clean it up anyway"
        )
    return None


def _select(
    inventory: Inventory, selection: CleanupSelection, include_unused: bool
) -> tuple[list[CertificateRecord], list[Refusal]]:
    if isinstance(selection, str):
        if selection != "obsolete":
            raise UsageError(
                f"unknown selection {selection!r}: use obsolete or SHA-256 fingerprints"
            )
        by = inventory.by_sha256()
        picked = [
            by[c.sha256] for c in cleanup_candidates(inventory, include_unused=include_unused)
        ]
        return picked, []
    records = records_by_fingerprints(inventory, selection)
    if not records:
        raise NothingToClean("no fingerprint was given")
    accepted: list[CertificateRecord] = []
    refusals: list[Refusal] = []
    for record in records:
        why = _refuse_record(record, inventory, include_unused)
        if why is None:
            accepted.append(record)
        else:
            refusals.append(Refusal(record.sha256, record.cert.display_name, why))
    return accepted, refusals


# Planning --------------------------------------------------------------------------------------


@dataclass(slots=True)
class _File:
    raw: str
    """Machine path of the real file, as the OS spells it."""
    host: str
    records: dict[str, CertificateRecord] = field(default_factory=dict)
    links: list[Location] = field(default_factory=list)


class _Planner:
    def __init__(self, inventory: Inventory, root: RootFS, with_keys: bool) -> None:
        self.inventory = inventory
        self.root = root
        self.with_keys = with_keys
        self.store_kinds = {s.name: s.kind for s in inventory.stores}
        self.refusals: list[Refusal] = []
        self.notes: list[str] = []
        self.consumer_files, self.consumer_dirs = self._consumer_paths()

    def _real(self, machine: str) -> str:
        try:
            return self.root.resolve(machine)
        except OSError:
            return machine

    def _consumer_paths(self) -> tuple[dict[str, str], dict[str, str]]:
        files: dict[str, str] = {}
        dirs: dict[str, str] = {}
        for consumer in self.inventory.consumers:
            who = f"{consumer.name} ({consumer.config}:{consumer.line})"
            for path in consumer.files:
                real = self._real(path)
                target = dirs if os.path.isdir(self.root.host(real)) else files
                target.setdefault(real, who)
                files.setdefault(path, who)
        return files, dirs

    def used_by_service(self, *paths: str) -> str | None:
        for path in paths:
            if path in self.consumer_files:
                return self.consumer_files[path]
            for folder, who in self.consumer_dirs.items():
                if path.startswith(folder.rstrip("/") + "/"):
                    return who
        return None

    @staticmethod
    def in_trust_store(path: str) -> bool:
        if path in TRUST_BUNDLES:
            return True
        return any(path.startswith(folder + "/") for folder in ANCHOR_FOLDERS)

    def writable(self, host: str) -> bool:
        folder = os.path.dirname(host) or "/"
        return os.access(folder, os.W_OK | os.X_OK)

    def refuse_all(self, records: Sequence[CertificateRecord], path: str, reason: str) -> None:
        for record in records:
            self.refusals.append(Refusal(record.sha256, record.cert.display_name, reason, path))

    def group(self, records: Sequence[CertificateRecord]) -> dict[str, _File]:
        files: dict[str, _File] = {}
        for record in records:
            for loc in record.locations:
                host = loc.os_path or self.root.host(loc.path)
                raw = self.root.machine(host)
                entry = files.setdefault(raw, _File(raw, host))
                entry.records[record.sha256] = record
                if loc.symlink_to is not None:
                    entry.links.append(loc)
        return files

    def plan_file(self, item: _File, staying_keys: set[str]) -> FileChange | None:
        records = list(item.records.values())
        shown = printable_path(item.raw)
        in_trust = self.in_trust_store(item.raw) or any(
            self.store_kinds.get(loc.store) is StoreKind.TRUST
            and (loc.os_path or self.root.host(loc.path)) == item.host
            for r in records
            for loc in r.locations
        )
        if in_trust:
            self.refuse_all(records, shown, "part of the trust store; not changed by clean-up")
            return None
        who = self.used_by_service(item.raw)
        if who is not None:
            self.refuse_all(records, shown, f"the file is used by {who}")
            return None
        if not self.writable(item.host):
            self.refuse_all(
                records,
                shown,
                f"permission denied: cannot change {os.path.dirname(shown)}; run certdeck as root",
            )
            return None
        try:
            st = os.stat(item.host, follow_symlinks=False)
            data = _read(Path(item.host))
        except (OSError, QuarantineError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            self.refuse_all(records, shown, f"cannot read the file: {reason}")
            return None
        parsed = parse_bytes(data, name=os.path.basename(item.raw))
        if parsed.pkcs12:
            self.refuse_all(
                records, shown, "a password-protected PKCS#12 file; certdeck does not rewrite it"
            )
            return None
        inside = [c.facts.sha256 for c in parsed.certs]
        missing = [r for r in records if r.sha256 not in inside]
        if missing:
            self.refuse_all(missing, shown, "no longer in the file (changed since the scan?)")
            for record in missing:
                item.records.pop(record.sha256)
            records = list(item.records.values())
            if not records:
                return None
        chosen = set(item.records)
        kept = [
            (c.facts.sha256, c.facts.display_name)
            for c in parsed.certs
            if c.facts.sha256 not in chosen
        ]
        removed = tuple(dict.fromkeys((r.sha256, r.cert.display_name) for r in records))
        reason = _reason(records)
        owner = owner_name(st.st_uid)
        keys_go = all(
            k.public_key_sha256 is not None and k.public_key_sha256 not in staying_keys
            for k in parsed.keys
        )
        if not kept and (not parsed.keys or (self.with_keys and keys_go)):
            return FileChange(
                path=shown,
                action="move",
                removed=removed,
                private_key=bool(parsed.keys),
                mode=st.st_mode & 0o7777,
                owner=owner,
                reason=reason,
                sha256=file_sha256(data),
                raw_path=item.raw,
            )
        try:
            new_data = _without(data, chosen)
        except _CannotRewrite as exc:
            self.refuse_all(records, shown, str(exc))
            return None
        check = parse_bytes(new_data, name=os.path.basename(item.raw))
        if sorted(c.facts.sha256 for c in check.certs) != sorted(s for s, _ in kept) or len(
            check.keys
        ) != len(parsed.keys):
            self.refuse_all(records, shown, "the file cannot be rewritten safely; not changed")
            return None
        if parsed.keys and not kept:
            self.notes.append(
                f"{shown} keeps its private key"
                + ("" if self.with_keys else "; choose 'with keys' (--with-keys) to move it too")
            )
        return FileChange(
            path=shown,
            action="rewrite",
            removed=removed,
            kept=tuple(kept),
            private_key=bool(parsed.keys),
            mode=st.st_mode & 0o7777,
            owner=owner,
            reason=reason,
            sha256=file_sha256(data),
            raw_path=item.raw,
            new_data=new_data,
        )

    def link_change(self, path: str, reason: str) -> FileChange | None:
        host = self.root.host(path)
        if not os.path.islink(host) or printable_path(path) != path:
            return None
        if not self.writable(host):
            self.notes.append(
                f"the link {path} stays (permission denied); it points to a moved file"
            )
            return None
        target = os.readlink(host)
        return FileChange(
            path=path,
            action="move link",
            removed=(),
            reason=reason,
            link_target=target,
            sha256=file_sha256(os.fsencode(target)),
            raw_path=path,
        )

    def key_changes(
        self, gone: Sequence[CertificateRecord], staying_keys: set[str], handled: set[str]
    ) -> list[FileChange]:
        """Private key files that belong only to certificates that go."""
        names = {r.cert.public_key_sha256: r.cert.display_name for r in gone}
        files: dict[str, tuple[str, str, list[str]]] = {}
        for info in self.inventory.private_keys:
            public = info.public_key_sha256
            if public is None or public not in names or public in staying_keys:
                continue
            host = info.os_path or self.root.host(info.path)
            raw = self.root.machine(host)
            if raw in handled:
                continue
            _, _, paths = files.setdefault(raw, (host, public, []))
            paths.append(info.path)
        out: list[FileChange] = []
        for raw in sorted(files):
            host, public, paths = files[raw]
            shown = printable_path(raw)
            name = names[public]
            if not self.with_keys:
                self.notes.append(
                    f"the private key {shown} of {name} stays; choose 'with keys' "
                    "(--with-keys) to move it into the quarantine too"
                )
                continue
            who = self.used_by_service(raw, *paths)
            if who is not None:
                self.notes.append(f"the private key {shown} stays: used by {who}")
                continue
            try:
                st = os.stat(host, follow_symlinks=False)
                data = _read(Path(host))
            except (OSError, QuarantineError):
                self.notes.append(f"the private key {shown} stays: it cannot be read")
                continue
            parsed = parse_bytes(data, name=os.path.basename(raw))
            if parsed.certs or [k.public_key_sha256 for k in parsed.keys] != [public]:
                self.notes.append(
                    f"the private key {shown} stays: the file holds more than this key"
                )
                continue
            if not self.writable(host):
                self.notes.append(
                    f"the private key {shown} stays: permission denied (run certdeck as root)"
                )
                continue
            out.append(
                FileChange(
                    path=shown,
                    action="move",
                    removed=(),
                    private_key=True,
                    mode=st.st_mode & 0o7777,
                    owner=owner_name(st.st_uid),
                    reason=f"the private key of {name}, which no certificate left uses",
                    sha256=file_sha256(data),
                    raw_path=raw,
                )
            )
            for path in sorted(set(paths) - {raw}):
                link = self.link_change(path, f"a link to {shown}, which moves")
                if link is not None:
                    out.append(link)
        return out


def _reason(records: Sequence[CertificateRecord]) -> str:
    parts = []
    for record in records:
        if record.has("obsolete"):
            codes = [f.code for f in record.findings if f.code in ("expired", "superseded")]
            parts.append(f"obsolete ({' and '.join(codes)})")
        else:
            parts.append("unused, chosen to be cleaned up")
    return "; ".join(dict.fromkeys(parts))


class _CannotRewrite(Exception):
    pass


def _pem_der(label: bytes, body: bytes) -> bytes | None:
    if b":" in body:
        body = b"\n".join(line for line in body.splitlines() if b":" not in line)
    try:
        der = binascii.a2b_base64(body)
    except binascii.Error:
        return None
    if label == b"TRUSTED CERTIFICATE":
        try:
            cert = _load(der[: _outer_length(der)])
        except ValueError:
            return None
        return cert.public_bytes(serialization.Encoding.DER)
    return der


def _outer_length(der: bytes) -> int:
    try:
        return _der._tlv(der, 0)[2]
    except _der.DerError:
        return len(der)


def _load(der: bytes) -> x509.Certificate:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        return x509.load_der_x509_certificate(der)


def _without(data: bytes, remove: set[str]) -> bytes:
    """The file's bytes without the certificates in ``remove``; every other byte kept."""
    if b"-----BEGIN " in data:
        cuts: list[tuple[int, int]] = []
        for start, label, body in _pem_blocks(data):
            if body is None:
                continue
            body_start = start + 11 + len(label) + 5
            end = body_start + len(body) + 9 + len(label) + 5
            if label in _PKCS7_LABELS:
                with contextlib.suppress(ValueError, binascii.Error):
                    inner = pkcs7.load_der_pkcs7_certificates(binascii.a2b_base64(body))
                    shas = {file_sha256(c.public_bytes(serialization.Encoding.DER)) for c in inner}
                    if shas & remove:
                        raise _CannotRewrite(
                            "inside a PKCS#7 block with other certificates; certdeck does not "
                            "rewrite it"
                        )
                continue
            if label not in _CERT_LABELS:
                continue
            der = _pem_der(label, body)
            if der is None or file_sha256(der) not in remove:
                continue
            if data[end : end + 2] == b"\r\n":
                end += 2
            elif data[end : end + 1] == b"\n":
                end += 1
            cuts.append((start, end))
        out = bytearray()
        pos = 0
        for start, end in cuts:
            out += data[pos:start]
            pos = end
        out += data[pos:]
        return bytes(out)
    # DER: a PKCS#7 bundle is rebuilt with the certificates that stay.
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            certs = pkcs7.load_der_pkcs7_certificates(data)
    except ValueError:
        raise _CannotRewrite("a DER file certdeck cannot rewrite") from None
    left = [
        c for c in certs if file_sha256(c.public_bytes(serialization.Encoding.DER)) not in remove
    ]
    return pkcs7.serialize_certificates(left, serialization.Encoding.DER)


def plan_cleanup(
    inventory: Inventory,
    selection: CleanupSelection,
    *,
    root: RootFS,
    quarantine: Path,
    with_keys: bool = False,
    include_unused: bool = False,
) -> CleanupPlan:
    """Plan a clean-up: every file that will change, every refusal with its reason.

    Args:
        inventory: The scan the selection refers to.
        selection: See :data:`CleanupSelection`.
        root: The machine's root.
        quarantine: The quarantine folder on this host (created when missing).
        with_keys: Also move private keys that no certificate left on the machine uses.
        include_unused: Accept unused certificates that are not obsolete.

    Raises:
        NothingToClean: no fingerprint was given.
        UsageError: a fingerprint is unknown or ambiguous.
        DestinationError: the quarantine folder cannot be written.
    """
    folder = Path(os.path.abspath(quarantine))
    check_destination(folder, root)
    records, refusals = _select(inventory, selection, include_unused)
    chosen = {r.sha256 for r in records}
    staying_keys = {
        r.cert.public_key_sha256 for r in inventory.certificates if r.sha256 not in chosen
    }
    planner, changes = _plan_files(inventory, root, with_keys, records, staying_keys)
    refused = {r.sha256 for r in planner.refusals}
    if refused:
        # A certificate that stays somewhere keeps its key: plan again knowing that.
        staying_keys |= {r.cert.public_key_sha256 for r in records if r.sha256 in refused}
        planner, changes = _plan_files(inventory, root, with_keys, records, staying_keys)
        refused = {r.sha256 for r in planner.refusals}
    gone = [r for r in records if r.sha256 not in refused]
    staying_keys |= {r.cert.public_key_sha256 for r in records if r.sha256 in refused}
    changes += planner.key_changes(gone, staying_keys, {c.raw_path for c in changes})
    notes = list(planner.notes)
    for record in records:
        if record.sha256 in refused and any(record.sha256 in c.removed_shas for c in changes):
            notes.append(
                f"{record.cert.display_name} stays in the files it could not be removed from"
            )
    warnings_: list[str] = []
    unused = [r for r in gone if not r.has("obsolete")]
    if unused:
        names = ", ".join(r.cert.display_name for r in unused)
        warnings_.append(f"{names}: {UNUSED_WARNING}")
    if any(c.private_key and c.action == "move" for c in changes):
        warnings_.append(
            "private keys move into the quarantine (mode kept, folder 0700); a certificate "
            "issued for them cannot be used without them"
        )
    return CleanupPlan(
        quarantine=folder,
        shown_quarantine=shown_path(folder, root),
        selected=tuple(r.sha256 for r in gone),
        changes=tuple(changes),
        refusals=(*refusals, *planner.refusals),
        warnings=tuple(warnings_),
        notes=tuple(dict.fromkeys(notes)),
        config_tests=config_tests(inventory.consumers, root),
        names={r.sha256: r.cert.display_name for r in records},
        root=root,
    )


def _plan_files(
    inventory: Inventory,
    root: RootFS,
    with_keys: bool,
    records: Sequence[CertificateRecord],
    staying_keys: set[str],
) -> tuple[_Planner, list[FileChange]]:
    planner = _Planner(inventory, root, with_keys)
    files = planner.group(records)
    changes: list[FileChange] = []
    for raw in sorted(files):
        change = planner.plan_file(files[raw], staying_keys)
        if change is not None:
            changes.append(change)
    moved = {c.raw_path for c in changes if c.action == "move"}
    seen = {c.raw_path for c in changes}
    for raw in sorted(moved):
        for loc in files[raw].links:
            if loc.path in seen:
                continue
            link = planner.link_change(loc.path, f"a link to {printable_path(raw)}, which moves")
            if link is not None:
                changes.append(link)
                seen.add(loc.path)
    return planner, changes


# Applying --------------------------------------------------------------------------------------


def _current(root: RootFS, change: FileChange) -> str | None:
    host = root.host(change.raw_path)
    try:
        if change.action == "move link":
            return file_sha256(os.fsencode(os.readlink(host)))
        return file_sha256(_read(Path(host)))
    except (OSError, QuarantineError):
        return None


def apply_cleanup(
    plan: CleanupPlan,
    *,
    now: datetime,
    cancelled: Callable[[], bool] | None = None,
) -> CleanupResult:
    """Carry out a plan: move and rewrite its files into a new quarantine entry.

    Every file is checked against its SHA-256 from the plan first; when one changed, nothing
    is done.  When a step fails or ``cancelled`` returns true, what was done is put back.

    Raises:
        NothingToClean: the plan changes nothing.
        ChangedSincePreview: a file changed since the plan; nothing was changed.
        CleanupFailed: a step failed; the message says what was put back.
    """
    if plan.nothing_to_do:
        raise NothingToClean("nothing to clean up: the plan changes no file")
    root = plan.root
    changed = [c.path for c in plan.changes if _current(root, c) != c.sha256]
    if changed:
        raise ChangedSincePreview(
            "nothing was changed: these files changed since the preview: "
            + ", ".join(visible(p) for p in changed)
            + "; scan again and repeat"
        )
    count = len(plan.selected)
    writer = EntryWriter(
        plan.quarantine,
        root=root,
        now=now,
        reason=f"clean-up of {count} certificate{'s' if count != 1 else ''}",
        host=host_name(root),
        version=__version__,
    )
    done: list[QuarantinedFile] = []
    try:
        for change in plan.changes:
            if cancelled is not None and cancelled():
                raise _Cancelled
            if change.action == "rewrite":
                assert change.new_data is not None
                item = writer.rewrite(
                    change.raw_path,
                    change.new_data,
                    reason=change.reason,
                    expected_sha256=change.sha256,
                    certificates=change.removed,
                    private_key=change.private_key,
                )
            else:
                item = writer.move(
                    change.raw_path,
                    reason=change.reason,
                    expected_sha256=change.sha256,
                    certificates=change.removed,
                    private_key=change.private_key,
                )
            done.append(item)
    except BaseException as exc:
        message = _roll_back(writer, now, exc)
        if isinstance(exc, _Cancelled):
            raise CleanupFailed(message, title="Cancelled") from None
        if isinstance(exc, (OSError, QuarantineError)):
            raise CleanupFailed(message) from None
        raise
    entry = writer.finish()
    return CleanupResult(
        entry=entry,
        files=tuple(done),
        removed=tuple((sha, plan.names.get(sha, sha[:16])) for sha in plan.selected),
        config_tests=plan.config_tests,
        shown_folder=shown_path(entry.folder, root),
    )


class _Cancelled(Exception):
    pass


def _roll_back(writer: EntryWriter, now: datetime, exc: BaseException) -> str:
    if isinstance(exc, _Cancelled):
        why = "cancelled"
    elif isinstance(exc, QuarantineError):
        why = exc.message
    elif isinstance(exc, OSError):
        why = f"{visible(exc.filename or '')}: {exc.strerror or exc}".lstrip(": ")
    else:
        why = type(exc).__name__
    entry = writer.entry
    try:
        result = restore(plan_restore(entry.folder.parent, entry.id, root=writer.root), now=now)
    except CertdeckError as err:
        return (
            f"{why}; putting back what was done failed too ({err.message}): the files are in "
            f"the quarantine entry {entry.id}; restore them with certdeck quarantine restore "
            f"{entry.id}"
        )
    if result.refused:
        return (
            f"{why}; {len(result.refused)} file(s) could not be put back and are in the "
            f"quarantine entry {entry.id} (certdeck quarantine restore {entry.id})"
        )
    with contextlib.suppress(OSError, CertdeckError):
        writer.discard_if_empty()
    return f"{why}; nothing was changed (what was done was put back)"
