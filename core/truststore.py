"""The system trust store: add and remove CA certificates, and export them for clients.

Each distribution family keeps the anchors an administrator adds in its own folder and
rebuilds the bundle with its own command:

=========  ==========================================  ===================================
family     administrator's anchors                     refresh
=========  ==========================================  ===================================
debian     ``/usr/local/share/ca-certificates/*.crt``  ``update-ca-certificates``
rhel       ``/etc/pki/ca-trust/source/anchors/``       ``update-ca-trust extract``
suse       ``/etc/pki/trust/anchors/``                 ``update-ca-certificates``
p11-kit    ``/etc/ca-certificates/trust-source/        ``trust extract-compat``
           anchors/``
=========  ==========================================  ===================================

:func:`detect_family` picks the family from ``/etc/os-release`` and, failing that, from the
folders present.  Changes are planned first (:func:`plan_trust_add`,
:func:`plan_trust_remove`): the plan lists every file written, rewritten or removed and the
exact commands, and :func:`apply_trust` carries it out.  On the machine itself (root ``/``)
the commands run and root rights are needed; under ``--root`` only the files are changed and
the commands are shown for the machine the tree belongs to.

Only anchors an administrator added can be removed; a removed file is kept in
:data:`REMOVED_ANCHORS`.  The distribution's own roots are never deleted: they can only be
deselected (Debian's ``/etc/ca-certificates.conf``, the block list elsewhere), with a
strong warning.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import stat
import subprocess
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, TypeAlias

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from core.errors import CertdeckError, UsageError
from core.fsutil import atomic_write, ensure_private_dir, free_name
from core.model import CertFacts
from core.parse import cert_facts, parse_bytes
from core.rootfs import RootFS, SymlinkLoop
from core.stores import ANCHOR_FOLDERS, TRUST_BUNDLES
from core.text import visible
from core.transfer import (
    NameAllocator,
    PlannedFile,
    WrittenFile,
    check_destination,
    safe_stem,
    shown_path,
    write_files,
)

__all__ = [
    "DEBIAN_CONF",
    "FAMILIES",
    "REMOVED_ANCHORS",
    "CommandOutcome",
    "CommandRunner",
    "DistributionRoot",
    "Family",
    "FamilyId",
    "FileChange",
    "NotInTrustStore",
    "Place",
    "RootRequired",
    "TrustCommandFailed",
    "TrustExportPlan",
    "TrustExportResult",
    "TrustPlan",
    "TrustResult",
    "TrustStoreUnknown",
    "TrustStoreView",
    "TrustWriteFailed",
    "apply_trust",
    "certificate_from_bytes",
    "client_instructions",
    "detect_family",
    "plan_trust_add",
    "plan_trust_export",
    "plan_trust_remove",
    "read_trust_store",
    "run_command",
    "system_anchors",
    "write_trust_export",
]

FamilyId: TypeAlias = Literal["debian", "rhel", "suse", "p11-kit"]
Origin: TypeAlias = Literal["certdeck", "administrator", "distribution", "bundle", "blocked"]

REMOVED_ANCHORS = "/var/lib/certdeck/removed-anchors"
"""Where removed anchor files and replaced configuration files are kept (a machine path)."""
DEBIAN_CONF = "/etc/ca-certificates.conf"
"""Debian's list of enabled distribution roots; a ``!`` in front of a line deselects it."""
DEBIAN_SHARE = "/usr/share/ca-certificates"
CERTDECK_PREFIX = "certdeck-"
"""File names certdeck gives the anchors it adds."""

_MAX_FILE = 10 * 1024 * 1024
_MAX_DEPTH = 6
_MAX_OUTPUT = 4000


@dataclass(frozen=True, slots=True)
class Family:
    """How one family of distributions manages its trust store."""

    id: FamilyId
    label: str
    anchor_dir: str
    """Where an administrator's anchors go (searched with its subfolders)."""
    suffix: str
    """File name ending the refresh command looks for."""
    refresh: tuple[str, ...]
    refresh_after_remove: tuple[str, ...]
    distribution: tuple[str, ...]
    """Folders holding the distribution's own roots."""
    stored_dir: str | None = None
    """Where ``trust anchor --store`` keeps its ``.p11-kit`` files (top level only)."""
    blocklist_dirs: tuple[str, ...] = ()
    """Block-list folders, the preferred one first; empty: Debian's configuration file."""


FAMILIES: dict[FamilyId, Family] = {
    "debian": Family(
        id="debian",
        label="Debian/Ubuntu (update-ca-certificates)",
        anchor_dir="/usr/local/share/ca-certificates",
        suffix=".crt",  # update-ca-certificates ignores every other ending
        refresh=("update-ca-certificates",),
        # --fresh also drops the links of removed anchors from /etc/ssl/certs.
        refresh_after_remove=("update-ca-certificates", "--fresh"),
        distribution=(DEBIAN_SHARE,),
    ),
    "rhel": Family(
        id="rhel",
        label="RHEL/Fedora (update-ca-trust)",
        anchor_dir="/etc/pki/ca-trust/source/anchors",
        suffix=".pem",
        refresh=("update-ca-trust", "extract"),
        refresh_after_remove=("update-ca-trust", "extract"),
        distribution=("/usr/share/pki/ca-trust-source",),
        stored_dir="/etc/pki/ca-trust/source",
        # RHEL 9 renamed blacklist to blocklist; both are read.
        blocklist_dirs=("/etc/pki/ca-trust/source/blocklist", "/etc/pki/ca-trust/source/blacklist"),
    ),
    "suse": Family(
        id="suse",
        label="SUSE (update-ca-certificates)",
        anchor_dir="/etc/pki/trust/anchors",
        suffix=".pem",
        refresh=("update-ca-certificates",),
        refresh_after_remove=("update-ca-certificates",),
        distribution=("/usr/share/pki/trust",),
        blocklist_dirs=("/etc/pki/trust/blacklist",),
    ),
    "p11-kit": Family(
        id="p11-kit",
        label="p11-kit (trust; Arch and others)",
        anchor_dir="/etc/ca-certificates/trust-source/anchors",
        suffix=".crt",
        # What `trust anchor --store` followed by the distribution's refresh amounts to.
        refresh=("trust", "extract-compat"),
        refresh_after_remove=("trust", "extract-compat"),
        distribution=("/usr/share/ca-certificates/trust-source",),
        stored_dir="/etc/ca-certificates/trust-source",
        blocklist_dirs=("/etc/ca-certificates/trust-source/blocklist",),
    ),
}
"""The supported families by id."""

_OS_IDS: dict[str, FamilyId] = {
    "debian": "debian",
    "ubuntu": "debian",
    "linuxmint": "debian",
    "raspbian": "debian",
    "alpine": "debian",
    "rhel": "rhel",
    "fedora": "rhel",
    "centos": "rhel",
    "rocky": "rhel",
    "almalinux": "rhel",
    "ol": "rhel",
    "amzn": "rhel",
    "suse": "suse",
    "opensuse": "suse",
    "sles": "suse",
    "sled": "suse",
    "opensuse-leap": "suse",
    "opensuse-tumbleweed": "suse",
    "arch": "p11-kit",
    "manjaro": "p11-kit",
    "endeavouros": "p11-kit",
}

_LAYOUT: tuple[tuple[str, FamilyId], ...] = (
    ("/etc/pki/ca-trust", "rhel"),
    ("/etc/pki/trust", "suse"),
    ("/etc/ca-certificates/trust-source", "p11-kit"),
    (DEBIAN_CONF, "debian"),
    (DEBIAN_SHARE, "debian"),
    ("/usr/local/share/ca-certificates", "debian"),
)


class TrustStoreUnknown(CertdeckError):
    """The distribution family cannot be told."""

    title = "Unknown trust store"


class NotInTrustStore(UsageError):
    """The certificate to remove is not in the system trust store."""

    title = "Not in the trust store"


class DistributionRoot(CertdeckError):
    """Removing a root the distribution ships was asked for without deselecting it."""

    title = "Distribution root"


class RootRequired(CertdeckError):
    """The system trust store can only be changed with root rights."""

    title = "Root rights needed"


class TrustWriteFailed(CertdeckError):
    """A file of the trust store could not be changed; what was changed was put back."""

    title = "Trust store not changed"


class TrustCommandFailed(CertdeckError):
    """The files were changed but the refresh command failed."""

    title = "Refresh failed"


# -- reading -----------------------------------------------------------------------------


def certificate_from_bytes(data: bytes, name: str = "the file") -> CertFacts:
    """The one certificate a file holds (PEM or DER); with several, the only CA among them.

    Raises:
        UsageError: no certificate, or several and no single CA to choose.
    """
    parsed = parse_bytes(data, name=name)
    certs = [c.facts for c in parsed.certs]
    if not certs:
        reason = f": {parsed.problems[0]}" if parsed.problems else ""
        raise UsageError(f"{visible(name)} holds no certificate{reason}")
    if len(certs) == 1:
        return certs[0]
    roots = [c for c in certs if c.is_ca and c.self_issued]
    cas = roots or [c for c in certs if c.is_ca]
    if len(cas) == 1:
        return cas[0]
    raise UsageError(
        f"{visible(name)} holds {len(certs)} certificates; give a file with just the one "
        "CA certificate to trust"
    )


@dataclass(frozen=True, slots=True)
class Place:
    """One copy of a certificate in the trust store."""

    path: str
    """Machine path of the file."""
    origin: Origin
    count: int
    """Certificates in that file."""
    host_path: str = field(default="", compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class TrustStoreView:
    """What the system trust store holds, and where each certificate came from."""

    family: Family | None
    bundle: str | None
    """The distribution bundle found (machine path)."""
    places: dict[str, tuple[Place, ...]]
    """Places by SHA-256 fingerprint."""
    facts: dict[str, CertFacts] = field(repr=False, compare=False)

    def trusted(self, sha256: str) -> bool:
        """In the bundle or an anchor folder, and not on a block list."""
        places = self.places.get(sha256, ())
        if any(p.origin == "blocked" for p in places):
            return False
        return any(p.origin != "blocked" for p in places)

    def blocked(self, sha256: str) -> bool:
        """On a block list (or deselected)."""
        return any(p.origin == "blocked" for p in self.places.get(sha256, ()))


def _files(fs: RootFS, top: str, *, recursive: bool) -> Iterator[tuple[str, str]]:
    """Machine and host paths of the regular files under a folder (or the file itself)."""
    try:
        real = fs.resolve(top)
        st = os.stat(fs.host(real))
    except OSError:
        return
    if stat.S_ISREG(st.st_mode):
        yield top, fs.host(real)
        return
    if not stat.S_ISDIR(st.st_mode):
        return
    seen: set[tuple[int, int]] = set()
    stack = [(top, real, 0)]
    while stack:
        shown, folder, depth = stack.pop()
        host = fs.host(folder)
        try:
            info = os.stat(host)
            if (info.st_dev, info.st_ino) in seen:
                continue
            seen.add((info.st_dev, info.st_ino))
            entries = sorted(os.scandir(host), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            path = shown.rstrip("/") + "/" + entry.name
            try:
                target = fs.resolve(path)
                est = os.stat(fs.host(target))
            except (OSError, SymlinkLoop):
                continue
            if stat.S_ISDIR(est.st_mode):
                if recursive and depth < _MAX_DEPTH:
                    stack.append((path, target, depth + 1))
            elif stat.S_ISREG(est.st_mode) and est.st_size <= _MAX_FILE:
                yield path, fs.host(target)


def _read_certs(host: str, name: str) -> list[CertFacts]:
    try:
        with open(host, "rb") as handle:
            data = handle.read(_MAX_FILE + 1)
    except OSError:
        return []
    return [c.facts for c in parse_bytes(data, name=name).certs]


def _first_bundle(fs: RootFS) -> str | None:
    for bundle in TRUST_BUNDLES:
        with contextlib.suppress(OSError):
            if os.path.isfile(fs.host(fs.resolve(bundle))):
                return bundle
    return None


def _under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def read_trust_store(fs: RootFS, family: Family | None = None) -> TrustStoreView:
    """Every certificate of the system trust store with the files it is in.

    Reads the distribution bundle, the anchor folders of every family, the family's
    distribution folders and its block list (Debian: deselected lines of
    ``/etc/ca-certificates.conf``).
    """
    family = family or detect_family(fs)
    places: dict[str, list[Place]] = {}
    facts: dict[str, CertFacts] = {}

    def add(path: str, host: str, origin: Origin) -> None:
        certs = _read_certs(host, path)
        for f in certs:
            facts.setdefault(f.sha256, f)
            items = places.setdefault(f.sha256, [])
            place = Place(path, origin, len(certs), host)
            if place not in items:
                items.append(place)

    bundle = _first_bundle(fs)
    if bundle is not None:
        for path, host in _files(fs, bundle, recursive=False):
            add(path, host, "bundle")
    admin_dirs = {f.anchor_dir for f in FAMILIES.values()} | set(ANCHOR_FOLDERS)
    distribution = {d for f in FAMILIES.values() for d in f.distribution} | {
        d for d in ANCHOR_FOLDERS if d.startswith("/usr/share/")
    }
    admin_dirs -= distribution
    for folder in sorted(admin_dirs):
        for path, host in _files(fs, folder, recursive=True):
            name = path.rsplit("/", 1)[-1]
            add(path, host, "certdeck" if name.startswith(CERTDECK_PREFIX) else "administrator")
    for fam in FAMILIES.values():
        if fam.stored_dir:
            for path, host in _files(fs, fam.stored_dir, recursive=False):
                if path.endswith(".p11-kit"):
                    add(path, host, "administrator")
        for folder in fam.blocklist_dirs:
            for path, host in _files(fs, folder, recursive=True):
                add(path, host, "blocked")
    for folder in sorted(distribution):
        for path, host in _files(fs, folder, recursive=True):
            add(path, host, "distribution")
    deselected = _debian_deselected(fs)
    for items in places.values():
        for place in list(items):
            if place.origin == "distribution" and _debian_entry(place.path) in deselected:
                items.append(Place(DEBIAN_CONF, "blocked", 0))
                break
    return TrustStoreView(family, bundle, {k: tuple(v) for k, v in places.items()}, facts)


def _read_text(fs: RootFS, path: str) -> str | None:
    try:
        with open(fs.host(fs.resolve(path)), "rb") as handle:
            return handle.read(_MAX_FILE).decode("utf-8", "replace")
    except OSError:
        return None


def _debian_entry(path: str) -> str | None:
    if not _under(path, DEBIAN_SHARE):
        return None
    return path[len(DEBIAN_SHARE) + 1 :]


def _debian_deselected(fs: RootFS) -> set[str | None]:
    text = _read_text(fs, DEBIAN_CONF)
    if text is None:
        return set()
    return {line[1:].strip() for line in text.splitlines() if line.startswith("!")}


def system_anchors(fs: RootFS, extra: Sequence[str] = ()) -> list[CertFacts]:
    """The machine's trust anchors as a scan counts them: the bundle, every anchor folder
    and ``extra`` files or folders (the ``trust.anchors`` setting)."""
    found: dict[str, CertFacts] = {}
    tops: list[str] = []
    bundle = _first_bundle(fs)
    if bundle is not None:
        tops.append(bundle)
    tops += list(ANCHOR_FOLDERS) + list(extra)
    for top in tops:
        for path, host in _files(fs, top, recursive=True):
            for f in _read_certs(host, path):
                found.setdefault(f.sha256, f)
    return list(found.values())


def _os_release(fs: RootFS) -> dict[str, str]:
    for path in ("/etc/os-release", "/usr/lib/os-release"):
        text = _read_text(fs, path)
        if text is None:
            continue
        values: dict[str, str] = {}
        for line in text.splitlines():
            key, sep, value = line.partition("=")
            if sep:
                with contextlib.suppress(ValueError):
                    words = shlex.split(value)
                    values[key.strip()] = words[0] if words else ""
        return values
    return {}


def detect_family(fs: RootFS) -> Family | None:
    """The family whose tools manage this machine's trust store, or ``None``.

    ``/etc/os-release`` decides (``ID``, then ``ID_LIKE``); without it, the folders
    present do.
    """
    release = _os_release(fs)
    for token in [release.get("ID", ""), *release.get("ID_LIKE", "").split()]:
        family = _OS_IDS.get(token.lower())
        if family is not None:
            return FAMILIES[family]
    for path, family in _LAYOUT:
        if fs.exists(path):
            return FAMILIES[family]
    return None


def _family(fs: RootFS, family: FamilyId | Family | None) -> Family:
    if isinstance(family, Family):
        return family
    if family is not None:
        if family not in FAMILIES:
            raise UsageError(f"unknown family {family!r}: use {', '.join(FAMILIES)}")
        return FAMILIES[family]
    found = detect_family(fs)
    if found is None:
        raise TrustStoreUnknown(
            "cannot tell how this system manages its trust store (no /etc/os-release and "
            f"none of the known folders); name the family: --family {'|'.join(FAMILIES)}"
        )
    return found


# -- plans -------------------------------------------------------------------------------

ChangeAction: TypeAlias = Literal["write", "rewrite", "remove", "keep"]


@dataclass(frozen=True, slots=True)
class FileChange:
    """One file a trust plan writes, rewrites, removes or keeps a copy of."""

    action: ChangeAction
    path: str
    """The machine path."""
    host_path: Path
    mode: int = 0o644
    note: str = ""
    content: bytes = field(default=b"", repr=False, compare=False)
    """What is written (``write``, ``rewrite``, ``keep``)."""
    original: bytes | None = field(default=None, repr=False, compare=False)
    """What the file held when planned (``rewrite``, ``remove``): checked before changing
    it, and put back if a later step fails."""
    read_path: Path | None = field(default=None, repr=False, compare=False)
    """Where that content is read on this host when ``path`` is a link (resolved under the
    root)."""

    def describe(self) -> str:
        """One line, safe for a terminal."""
        verb = {
            "write": "write",
            "rewrite": "rewrite",
            "remove": "remove",
            "keep": "keep a copy as",
        }[self.action]
        mode = f" (mode {self.mode:04o})" if self.action in ("write", "keep") else ""
        note = f"  ({visible(self.note)})" if self.note else ""
        return f"{verb} {visible(self.path)}{mode}{note}"


@dataclass(frozen=True, slots=True)
class TrustPlan:
    """A change of the system trust store, before anything is done."""

    action: Literal["add", "remove", "deselect"]
    family: Family
    certificate: CertFacts
    changes: tuple[FileChange, ...]
    commands: tuple[tuple[str, ...], ...]
    execute: bool
    """The commands run (the machine itself); false under ``--root``: only shown."""
    root: str
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def nothing_to_do(self) -> bool:
        """The trust store is already as asked."""
        return not self.changes

    @property
    def needs_root(self) -> bool:
        """Carrying it out needs root rights (it changes this machine's trust store)."""
        return self.execute and not self.nothing_to_do

    def command_lines(self) -> list[str]:
        """The commands as a shell would show them."""
        return [shlex.join(c) for c in self.commands]

    def as_dict(self) -> dict[str, Any]:
        """The plan as JSON-ready values."""
        return {
            "version": 1,
            "action": self.action,
            "family": self.family.id,
            "root": self.root,
            "certificate": {
                "sha256": self.certificate.sha256,
                "subject": self.certificate.subject,
            },
            "changes": [{"action": c.action, "path": c.path} for c in self.changes],
            "commands": [list(c) for c in self.commands],
            "commands_run": self.execute,
            "warnings": list(self.warnings),
            "notes": list(self.notes),
        }

    def describe(self) -> list[str]:
        """The plan as lines of text, safe for a terminal."""
        c = self.certificate
        what = {
            "add": "Add to the system trust store",
            "remove": "Remove from the system trust store",
            "deselect": "Stop trusting the distribution root",
        }[self.action]
        where = "" if self.root == "/" else f" under {visible(self.root)}"
        lines = [
            f"{what}: {visible(c.subject) or visible(c.display_name)}",
            f"  SHA-256 {c.sha256}",
            f"Trust store: {self.family.label}{where}",
        ]
        if self.nothing_to_do:
            lines.append("Nothing to change.")
        else:
            lines.append("Files:")
            lines += ["  " + change.describe() for change in self.changes]
            if self.execute:
                lines.append("Then run:")
            else:
                lines.append("Then run on the machine itself (not run under --root):")
            lines += ["  " + line for line in self.command_lines()]
        lines += [f"WARNING: {visible(w)}" for w in self.warnings]
        lines += [f"note: {visible(n)}" for n in self.notes]
        return lines


@dataclass(frozen=True, slots=True)
class CommandOutcome:
    """How a command ended."""

    returncode: int
    output: str
    """Its standard output and error, shortened."""


CommandRunner: TypeAlias = Callable[[Sequence[str]], CommandOutcome]


@dataclass(frozen=True, slots=True)
class TrustResult:
    """What a trust change did."""

    plan: TrustPlan
    changed: tuple[FileChange, ...]
    ran: tuple[tuple[tuple[str, ...], CommandOutcome], ...] = ()
    """Commands that were run, with their outcome (none under ``--root``)."""

    def as_dict(self) -> dict[str, Any]:
        """The plan and what was done, as JSON-ready values."""
        return self.plan.as_dict() | {
            "done": [{"action": c.action, "path": c.path} for c in self.changed],
            "ran": [
                {"command": list(argv), "exit_code": outcome.returncode, "output": outcome.output}
                for argv, outcome in self.ran
            ],
        }

    def describe(self) -> list[str]:
        """The summary as lines of text, safe for a terminal."""
        if self.plan.nothing_to_do:
            return ["Nothing was changed: the trust store is already as asked."]
        done = {"write": "wrote", "rewrite": "rewrote", "remove": "removed", "keep": "kept"}
        lines = [f"{done[c.action]} {visible(c.path)}" for c in self.changed]
        for argv, outcome in self.ran:
            lines.append(f"ran {shlex.join(argv)} (exit {outcome.returncode})")
        if not self.plan.execute:
            lines.append("Run on the machine itself to finish:")
            lines += ["  " + line for line in self.plan.command_lines()]
        return lines


def _pem(der: bytes) -> bytes:
    return x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM)


def _facts_of(certificate: bytes | CertFacts) -> CertFacts:
    if isinstance(certificate, CertFacts):
        return certificate
    try:
        return cert_facts(certificate)
    except ValueError as exc:
        raise UsageError(f"not a certificate: {exc}") from None


def _execute(fs: RootFS, execute: bool | None) -> bool:
    return fs.root == "/" if execute is None else execute


def plan_trust_add(
    certificate: bytes | CertFacts,
    *,
    root: RootFS,
    now: datetime,
    family: FamilyId | Family | None = None,
    execute: bool | None = None,
    view: TrustStoreView | None = None,
) -> TrustPlan:
    """Plan adding a CA certificate (DER, or its facts) to the system trust store.

    Args:
        certificate: The certificate to trust.
        root: The machine (``/``) or a tree under ``--root``.
        now: For the validity warning.
        family: Force a family instead of detecting it.
        execute: Run the commands; default: only on the machine itself (root ``/``).
        view: The trust store as read before (read again when omitted).

    Raises:
        TrustStoreUnknown: the family cannot be told and none was given.
    """
    facts = _facts_of(certificate)
    fam = _family(root, family)
    view = view or read_trust_store(root, fam)
    warnings_: list[str] = []
    notes: list[str] = []
    if view.blocked(facts.sha256):
        blocked = [p.path for p in view.places[facts.sha256] if p.origin == "blocked"]
        warnings_.append(
            f"it is on the block list ({', '.join(blocked)}), which wins over anchors: "
            "remove it from there as well"
        )
    elif view.trusted(facts.sha256):
        where = ", ".join(p.path for p in view.places[facts.sha256])
        return TrustPlan(
            "add",
            fam,
            facts,
            (),
            (),
            _execute(root, execute),
            root.root,
            notes=(f"already trusted: {where}",),
        )
    if not facts.is_ca:
        if facts.self_signed:
            notes.append(
                "not a CA: trusting it trusts this one self-signed certificate, nothing else"
            )
        else:
            warnings_.append(
                "neither a CA nor self-signed: most TLS clients ignore such an anchor; "
                "trust the root CA that issued it instead"
            )
    elif not facts.self_issued:
        notes.append(
            "an intermediate CA: clients trust what it issues even if its own root is unknown"
        )
    if facts.not_after < now:
        warnings_.append(f"it expired on {facts.not_after:%Y-%m-%d}: it will not help any client")
    folder = Path(root.host(fam.anchor_dir))
    stem = CERTDECK_PREFIX + safe_stem(facts.display_name, "ca")
    used, _ = NameAllocator(folder).allocate(stem, [fam.suffix])
    target = f"{fam.anchor_dir}/{used}{fam.suffix}"
    change = FileChange(
        "write",
        target,
        folder / f"{used}{fam.suffix}",
        0o644,
        "the certificate in PEM",
        _pem(facts.der),
    )
    return TrustPlan(
        "add",
        fam,
        facts,
        (change,),
        (fam.refresh,),
        _execute(root, execute),
        root.root,
        tuple(warnings_),
        tuple(notes),
    )


def _entry_host(fs: RootFS, path: str) -> Path:
    """The host path of a folder entry itself: a symbolic link is removed, not its target."""
    parent, _, name = path.rpartition("/")
    return Path(fs.host(fs.resolve(parent or "/"))) / name


def _read_bytes(host: str) -> bytes:
    with open(host, "rb") as handle:
        return handle.read(_MAX_FILE + 1)


def _keep(fs: RootFS, allocator: NameAllocator, path: str, data: bytes, note: str) -> FileChange:
    name = path.rsplit("/", 1)[-1]
    stem, dot, suffix = name.rpartition(".")
    if not dot or not stem:
        stem, suffix = name, ""
    used, _ = allocator.allocate(stem, [f".{suffix}" if suffix else ""])
    kept = f"{used}.{suffix}" if suffix else used
    return FileChange(
        "keep",
        f"{REMOVED_ANCHORS}/{kept}",
        Path(fs.host(REMOVED_ANCHORS)) / kept,
        0o644,
        note,
        data,
    )


def plan_trust_remove(
    certificate: bytes | CertFacts,
    *,
    root: RootFS,
    family: FamilyId | Family | None = None,
    deselect_distribution_root: bool = False,
    execute: bool | None = None,
    view: TrustStoreView | None = None,
) -> TrustPlan:
    """Plan removing an anchor an administrator added (or deselecting a distribution root).

    A file holding only this certificate is removed; a file holding others too is rewritten
    without it.  Either way the old file is kept in :data:`REMOVED_ANCHORS`.

    Raises:
        NotInTrustStore: the certificate is not in the trust store.
        DistributionRoot: it is a root the distribution ships, and
            ``deselect_distribution_root`` was not given.
        TrustStoreUnknown: the family cannot be told and none was given.
    """
    facts = _facts_of(certificate)
    fam = _family(root, family)
    view = view or read_trust_store(root, fam)
    places = view.places.get(facts.sha256, ())
    name = visible(facts.display_name)
    if not places or all(p.origin == "blocked" for p in places):
        raise NotInTrustStore(
            f"{name} is not in the system trust store; nothing to remove"
            + (" (it is on the block list already)" if places else "")
        )
    execute_ = _execute(root, execute)
    admin = [p for p in places if p.origin in ("certdeck", "administrator")]
    distribution = [p for p in places if p.origin == "distribution"]
    if not admin:
        if view.blocked(facts.sha256):
            return TrustPlan(
                "deselect",
                fam,
                facts,
                (),
                (),
                execute_,
                root.root,
                notes=("already deselected: it is on the block list",),
            )
        if not deselect_distribution_root:
            raise DistributionRoot(
                f"{name} was not added by an administrator: it is "
                + (
                    "a root the distribution ships"
                    if distribution
                    else "in the distribution's bundle"
                )
                + ". certdeck never deletes distribution roots. To stop trusting it anyway, "
                "deselect it with --deselect-distribution-root (not recommended: every "
                "certificate it issued, including public web sites, stops being trusted)"
            )
        return _plan_deselect(facts, fam, root, distribution, execute_)
    allocator = NameAllocator(Path(root.host(REMOVED_ANCHORS)))
    changes: list[FileChange] = []
    for place in admin:
        try:
            data = _read_bytes(place.host_path)
        except OSError as exc:
            raise TrustWriteFailed(
                f"cannot read {visible(place.path)}: {exc.strerror or exc}; run certdeck "
                "as root to change the trust store"
            ) from None
        changes.append(_keep(root, allocator, place.path, data, f"the old {place.path}"))
        entry = _entry_host(root, place.path)
        if place.count <= 1:
            changes.append(
                FileChange(
                    "remove",
                    place.path,
                    entry,
                    original=data,
                    read_path=Path(place.host_path),
                )
            )
        else:
            others = parse_bytes(data, name=place.path).certs
            rest = b"".join(_pem(f.facts.der) for f in others if f.facts.sha256 != facts.sha256)
            mode = stat.S_IMODE(os.stat(place.host_path).st_mode)
            changes.append(
                FileChange(
                    "rewrite",
                    place.path,
                    entry,
                    mode,
                    f"keeps its other {place.count - 1} certificate(s)",
                    rest,
                    data,
                    Path(place.host_path),
                )
            )
    warnings_: list[str] = []
    if distribution:
        warnings_.append(
            "the distribution ships it too, so it stays trusted; deselecting it needs "
            "--deselect-distribution-root"
        )
    notes = ["removed files are kept in " + REMOVED_ANCHORS + " (certdeck trust add restores one)"]
    if any(p.origin == "administrator" for p in admin):
        notes.append("an administrator (not certdeck) added it")
    return TrustPlan(
        "remove",
        fam,
        facts,
        tuple(changes),
        (fam.refresh_after_remove,),
        execute_,
        root.root,
        tuple(warnings_),
        tuple(notes),
    )


def _plan_deselect(
    facts: CertFacts,
    fam: Family,
    root: RootFS,
    distribution: Sequence[Place],
    execute: bool,
) -> TrustPlan:
    warning = (
        f"{facts.display_name} is a root certificate shipped by the distribution. Once "
        "deselected, this machine rejects every certificate it issued, public web sites and "
        "package mirrors included, and distribution updates will not bring it back. Do this "
        "only if the CA is known to be compromised or your policy forbids it."
    )
    changes: list[FileChange] = []
    allocator = NameAllocator(Path(root.host(REMOVED_ANCHORS)))
    if fam.blocklist_dirs:
        existing = [d for d in fam.blocklist_dirs if root.exists(d)]
        folder = existing[0] if existing else fam.blocklist_dirs[0]
        stem = CERTDECK_PREFIX + safe_stem(facts.display_name, "ca")
        used, _ = NameAllocator(Path(root.host(folder))).allocate(stem, [".pem"])
        changes.append(
            FileChange(
                "write",
                f"{folder}/{used}.pem",
                Path(root.host(folder)) / f"{used}.pem",
                0o644,
                "block list entry",
                _pem(facts.der),
            )
        )
    else:
        entries = [e for e in (_debian_entry(p.path) for p in distribution) if e]
        text = _read_text(root, DEBIAN_CONF)
        if not entries or text is None:
            raise DistributionRoot(
                f"{visible(facts.display_name)} is not listed in {DEBIAN_CONF}, so it cannot "
                "be deselected there; it was not added by an administrator and certdeck does "
                "not delete it"
            )
        lines = text.splitlines(keepends=True)
        hit = False
        for i, line in enumerate(lines):
            if line.strip() in entries:
                lines[i] = "!" + line.lstrip()
                hit = True
        if not hit:
            raise DistributionRoot(
                f"{', '.join(entries)} is not enabled in {DEBIAN_CONF}; nothing to deselect"
            )
        host = root.host(root.resolve(DEBIAN_CONF))
        original = _read_bytes(host)
        changes.append(_keep(root, allocator, DEBIAN_CONF, original, f"the old {DEBIAN_CONF}"))
        changes.append(
            FileChange(
                "rewrite",
                DEBIAN_CONF,
                Path(host),
                stat.S_IMODE(os.stat(host).st_mode),
                f"'!' in front of {', '.join(entries)}",
                "".join(lines).encode("utf-8"),
                original,
            )
        )
    return TrustPlan(
        "deselect",
        fam,
        facts,
        tuple(changes),
        (fam.refresh_after_remove,),
        execute,
        root.root,
        (warning,),
        ("the certificate file itself stays where the distribution put it",),
    )


# -- applying ----------------------------------------------------------------------------


def run_command(argv: Sequence[str]) -> CommandOutcome:
    """Run a command and collect its output (the default :data:`CommandRunner`)."""
    try:
        done = subprocess.run(
            list(argv),
            capture_output=True,
            text=True,
            errors="replace",
            timeout=600,
            check=False,
        )
    except FileNotFoundError:
        return CommandOutcome(127, f"{argv[0]}: command not found")
    except subprocess.TimeoutExpired:
        return CommandOutcome(124, f"{argv[0]}: did not finish within 10 minutes")
    output = (done.stdout + done.stderr).strip()
    return CommandOutcome(done.returncode, output[-_MAX_OUTPUT:])


def _undo(done: Sequence[FileChange]) -> list[str]:
    left: list[str] = []
    for change in reversed(done):
        try:
            if change.action in ("write", "keep"):
                change.host_path.unlink(missing_ok=True)
            elif change.original is not None:
                atomic_write(change.host_path, change.original, mode=change.mode, overwrite=True)
        except OSError:
            left.append(change.path)
    return left


def _do(change: FileChange) -> None:
    if change.action in ("rewrite", "remove"):
        try:
            current = _read_bytes(str(change.read_path or change.host_path))
        except FileNotFoundError:
            current = None
        if current != change.original:
            raise TrustWriteFailed(
                f"{visible(change.path)} changed since the plan was made; nothing was changed, "
                "plan again"
            )
    if change.action == "write":
        change.host_path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        atomic_write(change.host_path, change.content, mode=change.mode)
    elif change.action == "keep":
        ensure_private_dir(change.host_path.parent)
        target = free_name(change.host_path)
        atomic_write(target, change.content, mode=change.mode)
    elif change.action == "rewrite":
        atomic_write(change.host_path, change.content, mode=change.mode, overwrite=True)
    else:
        change.host_path.unlink()


def apply_trust(
    plan: TrustPlan,
    *,
    runner: CommandRunner | None = None,
    euid: int | None = None,
) -> TrustResult:
    """Carry out a plan: change the files, then run the commands (on the machine itself).

    Files are changed all or none: when one step fails, the earlier ones are put back.

    Raises:
        RootRequired: the plan changes this machine and certdeck does not run as root;
            nothing was changed.
        TrustWriteFailed: a file could not be changed; nothing was changed.
        TrustCommandFailed: the files were changed, a command failed.
    """
    if plan.nothing_to_do:
        return TrustResult(plan, ())
    uid = os.geteuid() if euid is None else euid
    if plan.execute and uid != 0:
        raise RootRequired(
            "changing the system trust store needs root rights and nothing was changed; "
            "run the same certdeck command with sudo (or as root)"
        )
    done: list[FileChange] = []
    try:
        for change in plan.changes:
            _do(change)
            done.append(change)
    except (OSError, TrustWriteFailed) as exc:
        left = _undo(done)
        if isinstance(exc, TrustWriteFailed):
            raise
        reason = exc.strerror or str(exc)
        hint = (
            "; run certdeck as root to change the trust store"
            if isinstance(exc, PermissionError)
            else ""
        )
        failed = plan.changes[len(done)].path
        message = f"could not change {visible(failed)}: {reason}{hint}"
        if left:
            message += "; these files could not be put back: " + ", ".join(left)
        else:
            message += "; nothing was changed"
        raise TrustWriteFailed(message) from exc
    ran: list[tuple[tuple[str, ...], CommandOutcome]] = []
    if plan.execute:
        run = runner or run_command
        for argv in plan.commands:
            outcome = run(argv)
            ran.append((argv, outcome))
            if outcome.returncode != 0:
                changed = ", ".join(c.path for c in done)
                missing = (
                    f" ({argv[0]} is not installed: install the ca-certificates package)"
                    if outcome.returncode == 127
                    else ""
                )
                raise TrustCommandFailed(
                    f"{shlex.join(argv)} failed with exit code {outcome.returncode}{missing}: "
                    f"{visible(outcome.output) or 'no output'}. The files were changed "
                    f"({changed}); fix the problem and run {shlex.join(argv)} again"
                )
    return TrustResult(plan, tuple(done), tuple(ran))


# -- export for clients ------------------------------------------------------------------


def client_instructions(file_name: str, sha256: str) -> list[str]:
    """How to install the exported CA certificate on client systems, in short."""
    fingerprint = ":".join(sha256[i : i + 2] for i in range(0, len(sha256), 2)).upper()
    return [
        f"Install {file_name} on clients so that they trust the certificates it issued.",
        f"Compare its SHA-256 fingerprint after copying: {fingerprint}",
        "",
        "Windows (as administrator):",
        f"  certutil -addstore -f Root {file_name}",
        "  or double-click it: Install Certificate > Local Machine >",
        "  Trusted Root Certification Authorities",
        "macOS:",
        "  sudo security add-trusted-cert -d -r trustRoot \\",
        f"    -k /Library/Keychains/System.keychain {file_name}",
        "Debian, Ubuntu:",
        f"  sudo cp {file_name} /usr/local/share/ca-certificates/{file_name}",
        "  sudo update-ca-certificates",
        "RHEL, Fedora, Rocky, AlmaLinux:",
        f"  sudo cp {file_name} /etc/pki/ca-trust/source/anchors/{file_name}",
        "  sudo update-ca-trust extract",
        "",
        "Firefox and Java keep their own trust stores: import it there too.",
    ]


@dataclass(frozen=True, slots=True)
class TrustExportPlan:
    """The CA certificate file and the instructions file an export for clients writes."""

    certificate: CertFacts
    destination: Path
    shown_destination: str
    create_destination: bool
    files: tuple[PlannedFile, ...]
    instructions: tuple[str, ...]
    contents: tuple[bytes, ...] = field(default=(), repr=False, compare=False)
    root: RootFS | None = field(default=None, repr=False, compare=False)

    def describe(self) -> list[str]:
        """The preview as lines of text, safe for a terminal."""
        created = " (will be created)" if self.create_destination else ""
        lines = [
            f"Export {visible(self.certificate.display_name)} for clients",
            f"into {visible(self.shown_destination)}{created}:",
            f"  {visible(self.files[0].shown)}  (PEM certificate, mode 0644)",
            f"  {visible(self.files[1].shown)}  (installation instructions, mode 0644)",
        ]
        if not self.certificate.is_ca and not self.certificate.self_signed:
            lines.append(
                "warning: not a CA and not self-signed: clients usually ignore it as a trusted root"
            )
        return lines


@dataclass(frozen=True, slots=True)
class TrustExportResult:
    """What an export for clients wrote."""

    files: tuple[WrittenFile, ...]
    instructions: tuple[str, ...]

    def describe(self) -> list[str]:
        """The summary as lines of text, safe for a terminal."""
        lines = [f"wrote {visible(f.shown)}" for f in self.files]
        return [*lines, "", *self.instructions]


def plan_trust_export(
    certificate: bytes | CertFacts,
    *,
    destination: Path,
    root: RootFS | None = None,
    file_name: str = "",
) -> TrustExportPlan:
    """Plan writing a CA certificate (``NAME.crt``, PEM) and ``NAME-install.txt``.

    PEM in a ``.crt`` file opens on Windows and macOS by double-click and is what the Linux
    tools expect; the instructions name the file actually written.

    Raises:
        DestinationError: the destination is not a writable folder.
    """
    facts = _facts_of(certificate)
    folder = Path(os.path.abspath(destination))
    create = check_destination(folder, root)
    stem = safe_stem(file_name or facts.display_name, "ca")
    used, _ = NameAllocator(folder).allocate(stem, [".crt", "-install.txt"])
    crt = f"{used}.crt"
    instructions = tuple(client_instructions(crt, facts.sha256))
    paths = [folder / crt, folder / f"{used}-install.txt"]
    files = tuple(
        PlannedFile(path=p, shown=shown_path(p, root), kind="certificates", mode=0o644)
        for p in paths
    )
    contents = (_pem(facts.der), ("\n".join(instructions) + "\n").encode("utf-8"))
    return TrustExportPlan(
        facts, folder, shown_path(folder, root), create, files, instructions, contents, root
    )


def write_trust_export(plan: TrustExportPlan) -> TrustExportResult:
    """Write both files, or neither; existing files are never replaced.

    Raises:
        WriteFailed: nothing was written.
    """
    written = write_files(
        plan.destination,
        list(zip(plan.files, plan.contents, strict=True)),
        private=False,
        root=plan.root,
    )
    return TrustExportResult(written, plan.instructions)
