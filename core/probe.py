"""Probe a TLS server: fetch the chain it serves and judge it as a client on this machine would.

The only module of certdeck that opens connections, and only when asked:
:func:`fetch_chain` connects (with STARTTLS for mail, FTP and PostgreSQL servers), records
the certificates exactly as served, the protocol and the cipher, and verifies nothing itself.
:func:`judge` is pure: it verifies the served chain against the trust anchors with the link
policy of :class:`core.trust.TrustEvaluator` (only the served certificates serve as
intermediates, as for a client), checks the name, the validity and the order, and compares
the served certificate with the certificates local services use (:class:`ProbeResult`).

Python 3.13 returns the served chain through ``SSLSocket.get_unverified_chain``; Python 3.10
to 3.12 have the same method on the socket's ``_sslobj`` only.  Both are used when present,
and the result says when only the leaf could be read.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import ssl
import struct
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, TypeAlias

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from core.errors import CertdeckError, UsageError
from core.findings import basic_findings
from core.model import CertFacts, Inventory, Severity
from core.parse import cert_facts
from core.report import iso
from core.rootfs import RootFS
from core.text import visible
from core.transfer import (
    FileEntry,
    NameAllocator,
    PlannedFile,
    WrittenFile,
    check_destination,
    safe_stem,
    shown_path,
    write_files,
)
from core.trust import TrustEvaluator

__all__ = [
    "DEFAULT_PORTS",
    "STARTTLS",
    "DiskMatch",
    "ProbeFailed",
    "ProbeProblem",
    "ProbeResult",
    "ProbeTarget",
    "SaveChainPlan",
    "ServedChain",
    "StartTLS",
    "fetch_chain",
    "judge",
    "name_matches",
    "parse_target",
    "plan_save_chain",
    "probe",
    "write_chain",
]

StartTLS: TypeAlias = Literal["smtp", "imap", "pop3", "ftp", "postgres"]
STARTTLS: tuple[StartTLS, ...] = ("smtp", "imap", "pop3", "ftp", "postgres")
DEFAULT_PORTS: dict[StartTLS | None, int] = {
    None: 443,
    "smtp": 25,
    "imap": 143,
    "pop3": 110,
    "ftp": 21,
    "postgres": 5432,
}
"""The port used when none is given, by STARTTLS protocol (``None``: plain TLS)."""

_OLD_PROTOCOLS = frozenset({"SSLv2", "SSLv3", "TLSv1", "TLSv1.1"})
_MAX_LINE = 4096
_MAX_LINES = 200
_POSTGRES_SSL_REQUEST = 80877103
_SYMBOL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "info"}

Connect: TypeAlias = Callable[[tuple[str, int], float], socket.socket]


class ProbeFailed(CertdeckError):
    """The server could not be reached or the TLS handshake failed."""

    title = "Probe failed"


# -- target ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProbeTarget:
    """Where to connect and which name the certificate must hold."""

    host: str
    port: int
    servername: str | None = None
    """The name sent (SNI) and checked; ``None``: the host, unless it is an address."""
    starttls: StartTLS | None = None

    @property
    def checked_name(self) -> str:
        """The name (or address) the certificate must hold."""
        return self.servername or self.host

    @property
    def sni(self) -> str | None:
        """The name sent in the handshake (none for a bare address)."""
        if self.servername:
            return self.servername
        return None if _is_ip(self.host) else self.host

    @property
    def label(self) -> str:
        """``host:port``, with brackets around an IPv6 address."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def parse_target(
    text: str,
    *,
    servername: str | None = None,
    starttls: StartTLS | None = None,
) -> ProbeTarget:
    """``HOST``, ``HOST:PORT``, ``[IPv6]:PORT`` or a bare IPv6 address.

    Raises:
        UsageError: no host, a bad port, or an unknown STARTTLS protocol.
    """
    if starttls is not None and starttls not in STARTTLS:
        raise UsageError(f"unknown STARTTLS protocol {starttls!r}: use {', '.join(STARTTLS)}")
    value = text.strip()
    port_text = ""
    if value.startswith("["):
        host, sep, rest = value[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise UsageError(f"{visible(text)!r}: write an IPv6 address as [ADDRESS]:PORT")
        port_text = rest[1:]
    elif value.count(":") == 1:
        host, _, port_text = value.partition(":")
    else:
        host = value  # a name, or an IPv6 address without a port
    host = host.strip().rstrip(".")
    if not host or any(c.isspace() or ord(c) < 0x20 for c in host) or "/" in host:
        raise UsageError(f"{visible(text)!r} is not a host name or address; use HOST[:PORT]")
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise UsageError(f"{visible(port_text)!r} is not a port number (1-65535)")
        port = int(port_text)
    else:
        port = DEFAULT_PORTS[starttls]
    name = servername.strip().rstrip(".") if servername else None
    return ProbeTarget(host, port, name or None, starttls)


# -- fetching ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ServedChain:
    """What a server presented in its handshake."""

    target: ProbeTarget
    address: str
    """The address actually connected to."""
    protocol: str
    cipher: str
    cipher_bits: int
    certificates: tuple[bytes, ...]
    """DER, in the order served (the server's own certificate first)."""
    complete: bool = True
    """False when only the server's own certificate could be read (see the module doc)."""


class _Lines:
    """Reads CRLF-terminated lines from a socket without reading past the last one."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def line(self) -> str:
        data = bytearray()
        while not data.endswith(b"\n"):
            chunk = self.sock.recv(1)
            if not chunk:
                raise ProbeFailed("the server closed the connection during STARTTLS")
            data += chunk
            if len(data) > _MAX_LINE:
                raise ProbeFailed("the server sent an overlong line during STARTTLS")
        return data.decode("utf-8", "replace").rstrip("\r\n")

    def reply(self, code_width: int = 3) -> list[str]:
        """A multi-line reply (``250-…`` … ``250 …``)."""
        lines: list[str] = []
        for _ in range(_MAX_LINES):
            line = self.line()
            lines.append(line)
            if len(line) <= code_width or line[code_width] != "-":
                return lines
        raise ProbeFailed("the server's reply during STARTTLS never ended")

    def send(self, text: str) -> None:
        self.sock.sendall(text.encode("ascii") + b"\r\n")


def _expect(ok: bool, what: str, got: Sequence[str]) -> None:
    if not ok:
        answer = visible(got[-1][:200]) if got else "nothing"
        raise ProbeFailed(f"STARTTLS failed: {what}; the server answered {answer!r}")


def _starttls(sock: socket.socket, protocol: StartTLS) -> None:
    if protocol == "postgres":
        sock.sendall(struct.pack("!ii", 8, _POSTGRES_SSL_REQUEST))
        accepted = sock.recv(1)
        if accepted != b"S":
            raise ProbeFailed("the PostgreSQL server does not accept TLS connections")
        return
    io = _Lines(sock)
    if protocol == "smtp":
        greeting = io.reply()
        _expect(greeting[-1].startswith("220"), "no SMTP greeting", greeting)
        io.send("EHLO certdeck.invalid")
        hello = io.reply()
        _expect(hello[-1].startswith("250"), "EHLO was refused", hello)
        _expect(
            any(line[4:].upper().startswith("STARTTLS") for line in hello),
            "the server does not offer STARTTLS",
            hello,
        )
        io.send("STARTTLS")
        answer = io.reply()
        _expect(answer[-1].startswith("220"), "STARTTLS was refused", answer)
    elif protocol == "imap":
        greeting = [io.line()]
        _expect(greeting[0].startswith("* OK"), "no IMAP greeting", greeting)
        io.send("a1 STARTTLS")
        lines: list[str] = []
        for _ in range(_MAX_LINES):
            lines.append(io.line())
            if lines[-1].startswith("a1 "):
                break
        _expect(lines[-1].upper().startswith("A1 OK"), "STARTTLS was refused", lines)
    elif protocol == "pop3":
        greeting = [io.line()]
        _expect(greeting[0].startswith("+OK"), "no POP3 greeting", greeting)
        io.send("STLS")
        answer = [io.line()]
        _expect(answer[0].startswith("+OK"), "STLS was refused", answer)
    elif protocol == "ftp":
        greeting = io.reply()
        _expect(greeting[-1].startswith("220"), "no FTP greeting", greeting)
        io.send("AUTH TLS")
        answer = io.reply()
        _expect(answer[-1].startswith("234"), "AUTH TLS was refused", answer)


def _client_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    # Verification is certdeck's own (judge); the handshake must succeed to see the chain.
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with warnings.catch_warnings():
        # Old protocols are allowed so that an old server is reported, not unreachable.
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1
    # Nothing secret is sent: accept the weak ciphers old servers insist on, to report them.
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    return context


def _chain(tls: ssl.SSLSocket) -> tuple[list[bytes], bool]:
    public = getattr(tls, "get_unverified_chain", None)
    if public is not None:  # Python 3.13+
        return [bytes(c) for c in public() or []], True
    private = getattr(getattr(tls, "_sslobj", None), "get_unverified_chain", None)
    if private is not None:  # Python 3.10-3.12
        import _ssl

        certs: list[Any] = private() or []
        return [c.public_bytes(_ssl.ENCODING_DER) for c in certs], True
    leaf = tls.getpeercert(binary_form=True)
    return ([leaf] if leaf else []), False


def _default_connect(address: tuple[str, int], timeout: float) -> socket.socket:
    return socket.create_connection(address, timeout=timeout)


def fetch_chain(
    target: ProbeTarget,
    *,
    timeout: float = 10.0,
    connect: Connect | None = None,
) -> ServedChain:
    """Connect to the server and record its handshake.  This opens a network connection.

    Raises:
        ProbeFailed: the name does not resolve, the connection or the handshake fails.
    """
    opener = connect or _default_connect
    try:
        raw = opener((target.host, target.port), timeout)
    except socket.gaierror as exc:
        raise ProbeFailed(
            f"cannot resolve {visible(target.host)}: {exc.strerror or exc}; check the name"
        ) from None
    except TimeoutError:
        raise ProbeFailed(
            f"{target.label} did not answer within {timeout:g} s (firewall, wrong port?)"
        ) from None
    except OSError as exc:
        raise ProbeFailed(
            f"could not connect to {visible(target.label)}: {exc.strerror or exc}"
        ) from None
    with raw:
        try:
            raw.settimeout(timeout)
            address = str(raw.getpeername()[0])
            if target.starttls is not None:
                _starttls(raw, target.starttls)
            with _client_context().wrap_socket(raw, server_hostname=target.sni) as tls:
                certs, complete = _chain(tls)
                version = tls.version() or "unknown"
                cipher = tls.cipher()
        except TimeoutError:
            raise ProbeFailed(
                f"{visible(target.label)} stopped answering during the handshake "
                f"(after {timeout:g} s)"
            ) from None
        except ssl.SSLError as exc:
            raise ProbeFailed(
                f"the TLS handshake with {visible(target.label)} failed: "
                f"{exc.reason or exc}; is it a TLS port"
                + ("" if target.starttls else " (or does it need --starttls)")
                + "?"
            ) from None
        except OSError as exc:
            raise ProbeFailed(
                f"the connection to {visible(target.label)} failed: {exc.strerror or exc}"
            ) from None
    name, _, bits = cipher if cipher else ("unknown", "", 0)
    return ServedChain(target, address, version, name, int(bits or 0), tuple(certs), complete)


# -- judging -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProbeProblem:
    """Something wrong (or worth knowing) about the connection, with a stable code."""

    code: str
    """Errors: ``untrusted``, ``self_signed``, ``unknown_issuer``, ``incomplete_chain``,
    ``expired``, ``not_yet_valid``, ``name_mismatch``, ``wrong_purpose``, ``no_certificate``;
    warnings: ``expiring``, ``wrong_order``, ``old_tls``, ``weak_key``, ``weak_signature``,
    ``not_reloaded``; information: ``same_as_disk``, ``differs_from_disk``,
    ``partial_chain``."""
    severity: Severity
    message: str


@dataclass(frozen=True, slots=True)
class DiskMatch:
    """A certificate a local service uses for the probed name."""

    sha256: str
    path: str
    used_by: tuple[str, ...]
    """``nginx /etc/nginx/sites-enabled/site:12`` …"""
    same: bool
    """It is the certificate the server presented."""
    newer: bool
    """It was issued after the presented one (renewed, not reloaded?)."""


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """The verdict on a TLS server and everything it rests on."""

    target: ProbeTarget
    address: str
    protocol: str
    cipher: str
    cipher_bits: int
    evaluated_at: datetime
    chain: tuple[CertFacts, ...]
    """The certificates as served, in the order served."""
    trusted: bool
    trust_chain: tuple[str, ...]
    """SHA-256 fingerprints from the server's certificate to its trust anchor (if found)."""
    name_matches: bool
    problems: tuple[ProbeProblem, ...]
    disk: tuple[DiskMatch, ...] = ()
    anchors: frozenset[str] = frozenset()
    """Fingerprints of the served certificates that are trust anchors here."""
    complete: bool = True

    @property
    def verdict(self) -> str:
        """``trusted`` or the warning a browser would show, in words."""
        return "trusted" if self.trusted else "This connection is not trusted!"

    @property
    def leaf(self) -> CertFacts | None:
        """The server's own certificate."""
        return self.chain[0] if self.chain else None

    def root_candidate(self) -> CertFacts | None:
        """The certificate to trust so that this server becomes trusted, if it was served.

        The self-signed certificate at the top of the served chain (the server's own when it
        is self-signed); ``None`` when the connection is trusted or the root was not sent.
        """
        if self.trusted or not self.chain:
            return None
        by_subject = {c.subject_der: c for c in self.chain}
        current = self.chain[0]
        seen = {current.sha256}
        while not current.self_issued:
            issuer = by_subject.get(current.issuer_der)
            if issuer is None or issuer.sha256 in seen:
                return None
            seen.add(issuer.sha256)
            current = issuer
        return current if current.self_signed else None

    def describe(self) -> list[str]:
        """The result as lines of text, safe for a terminal."""
        t = self.target
        how = f", STARTTLS {t.starttls}" if t.starttls else ""
        lines = [
            f"Probed {visible(t.label)} (name checked: {visible(t.checked_name)}{how})",
            f"  connected to {visible(self.address)}, {self.protocol}, "
            f"{visible(self.cipher)} ({self.cipher_bits} bits)",
            f"Verdict: {self.verdict}",
        ]
        for p in self.problems:
            lines.append(f"  {_SYMBOL[p.severity]}: {p.code}: {visible(p.message)}")
        lines.append("Chain as served:")
        for i, c in enumerate(self.chain):
            anchor = ", trust anchor here" if c.sha256 in self.anchors else ""
            lines.append(
                f"  {i}: {visible(c.subject) or '(empty subject)'}  ({c.role}, until "
                f"{c.not_after:%Y-%m-%d}{anchor})"
            )
            lines.append(f"     issuer {visible(c.issuer)}; SHA-256 {c.sha256[:16]}…")
        if self.trust_chain:
            lines.append(f"Trust chain: {len(self.trust_chain)} certificates to the anchor")
        for d in self.disk:
            state = "served" if d.same else ("newer, not served" if d.newer else "not served")
            users = ", ".join(d.used_by)
            lines.append(f"On disk: {visible(d.path)} ({state}; used by {visible(users)})")
        return lines

    def as_dict(self) -> dict[str, Any]:
        """The result as JSON-ready values."""
        t = self.target
        return {
            "version": 1,
            "host": t.host,
            "port": t.port,
            "servername": t.checked_name,
            "starttls": t.starttls,
            "address": self.address,
            "evaluated_at": iso(self.evaluated_at),
            "trusted": self.trusted,
            "verdict": self.verdict,
            "name_matches": self.name_matches,
            "protocol": self.protocol,
            "cipher": {"name": self.cipher, "bits": self.cipher_bits},
            "complete_chain_read": self.complete,
            "problems": [
                {"code": p.code, "severity": p.severity.value, "message": p.message}
                for p in self.problems
            ],
            "chain": [
                {
                    "sha256": c.sha256,
                    "subject": c.subject,
                    "issuer": c.issuer,
                    "names": list(c.names),
                    "not_before": iso(c.not_before),
                    "not_after": iso(c.not_after),
                    "type": c.role,
                    "trust_anchor": c.sha256 in self.anchors,
                }
                for c in self.chain
            ],
            "trust_chain": list(self.trust_chain),
            "disk": [
                {
                    "sha256": d.sha256,
                    "path": d.path,
                    "used_by": list(d.used_by),
                    "served": d.same,
                    "newer": d.newer,
                }
                for d in self.disk
            ],
        }


def _wanted_name(name: str) -> str:
    text = name.strip().rstrip(".").lower()
    try:
        return text.encode("idna").decode("ascii")
    except UnicodeError:
        return text


def name_matches(names: Iterable[str], wanted: str) -> bool:
    """Whether a certificate's names (``DNS:…``, ``IP:…``) cover a host name or address.

    Wildcards match exactly one whole left-most label (RFC 6125 §6.4.3, as browsers do);
    an address matches only ``IP:`` entries.
    """
    try:
        ip = ipaddress.ip_address(wanted.strip("[]"))
    except ValueError:
        ip = None
    if ip is not None:
        for name in names:
            if name.startswith("IP:"):
                try:
                    if ipaddress.ip_address(name[3:]) == ip:
                        return True
                except ValueError:
                    continue
        return False
    host = _wanted_name(wanted)
    for name in names:
        if not name.startswith("DNS:"):
            continue
        pattern = name[4:].rstrip(".").lower()
        if pattern == host:
            return True
        if pattern.startswith("*.") and "." in host:
            first, rest = host.split(".", 1)
            if first and rest == pattern[2:] and "*" not in rest:
                return True
    return False


def _problem(code: str, severity: Severity, message: str) -> ProbeProblem:
    return ProbeProblem(code, severity, message)


def _top(leaf: CertFacts, chain: Sequence[CertFacts]) -> CertFacts:
    """The last served certificate reached from the leaf by following issuer names."""
    current = leaf
    seen = {leaf.sha256}
    while not current.self_issued:
        issuer = next(
            (c for c in chain if c.subject_der == current.issuer_der and c.sha256 not in seen),
            None,
        )
        if issuer is None:
            break
        seen.add(issuer.sha256)
        current = issuer
    return current


def _why_untrusted(
    leaf: CertFacts,
    chain: Sequence[CertFacts],
    anchors: dict[str, CertFacts],
    known: Sequence[CertFacts],
    reason: str,
    now: datetime,
) -> ProbeProblem:
    if leaf.self_signed:
        return _problem(
            "self_signed",
            Severity.ERROR,
            "the server's certificate is self-signed and not in this machine's trust store; "
            "clients trust it only once it is installed in theirs",
        )
    if "expired link in the chain" in reason:
        return _problem("expired", Severity.ERROR, reason)
    top = _top(leaf, chain)
    if top.self_issued:
        return _problem(
            "unknown_issuer",
            Severity.ERROR,
            f"the chain ends at the root {top.subject}, which is not in this machine's trust store",
        )
    missing = [k for k in known if k.subject_der == top.issuer_der and k.is_ca]
    if missing:
        evaluator = TrustEvaluator([*chain, *anchors.values(), *known], set(anchors), now=now)
        completes = evaluator.verdict(leaf.sha256).trusted
        return _problem(
            "incomplete_chain",
            Severity.ERROR,
            f"the server does not send the intermediate CA {top.issuer}"
            + (", which is on this machine" if completes else "")
            + "; clients that do not have it cannot build a chain: add it after the "
            "certificate in the file the server sends",
        )
    if any(a.subject_der == top.issuer_der for a in anchors.values()):
        return _problem("untrusted", Severity.ERROR, reason)
    return _problem(
        "unknown_issuer",
        Severity.ERROR,
        f"issued by {top.issuer}, which the server does not send and which is not in this "
        "machine's trust store: either the chain is incomplete (the server must send its "
        "intermediate CAs) or the issuer is unknown here",
    )


def _order_problem(chain: Sequence[CertFacts]) -> ProbeProblem | None:
    for i in range(1, len(chain)):
        child = chain[i - 1]
        if child.self_issued or chain[i].subject_der == child.issuer_der:
            continue
        if any(c.subject_der == child.issuer_der for c in chain[i + 1 :]):
            return _problem(
                "wrong_order",
                Severity.WARNING,
                f"the chain is sent in the wrong order: {child.subject} is not followed by its "
                "issuer; current clients cope, some older ones reject it",
            )
    return None


def _name_problem(leaf: CertFacts, wanted: str) -> ProbeProblem:
    dns = [n[4:] for n in leaf.names if n.startswith("DNS:")]
    held = ", ".join(leaf.names) or "no names"
    hint = ""
    if (
        not leaf.names
        and leaf.common_name
        and _wanted_name(leaf.common_name) == _wanted_name(wanted)
    ):
        hint = (
            "; the name is only in the common name, which current clients ignore: "
            "the certificate needs a subjectAltName"
        )
    elif _is_ip(wanted.strip("[]")) and wanted in dns:
        hint = "; the address is listed as a DNS name only, which current clients ignore"
    return _problem(
        "name_mismatch",
        Severity.ERROR,
        f"the certificate is not valid for {wanted} (it holds {held}){hint}",
    )


def _disk(
    leaf: CertFacts, wanted: str, inventory: Inventory
) -> tuple[tuple[DiskMatch, ...], list[ProbeProblem]]:
    leaf_names = set(leaf.names)
    matches: list[DiskMatch] = []
    for record in inventory.certificates:
        c = record.cert
        if not record.used_by or c.is_ca:
            continue
        if not (name_matches(c.names, wanted) or leaf_names & set(c.names)):
            continue
        path = record.locations[0].path if record.locations else "?"
        users = tuple(f"{u.consumer} {u.config}:{u.line}" for u in record.used_by)
        matches.append(
            DiskMatch(
                c.sha256, path, users, c.sha256 == leaf.sha256, c.not_before > leaf.not_before
            )
        )
    problems: list[ProbeProblem] = []
    same = [m for m in matches if m.same]
    newer = [m for m in matches if m.newer]
    if newer:
        m = newer[0]
        problems.append(
            _problem(
                "not_reloaded",
                Severity.WARNING,
                f"renewed but not reloaded? {m.path} (used by {', '.join(m.used_by)}) holds a "
                "newer certificate for this name than the one served; reload the service",
            )
        )
    elif same:
        problems.append(
            _problem(
                "same_as_disk",
                Severity.INFO,
                f"the served certificate is the one in {same[0].path} "
                f"(used by {', '.join(same[0].used_by)})",
            )
        )
    elif matches:
        problems.append(
            _problem(
                "differs_from_disk",
                Severity.INFO,
                f"the served certificate is not the one in {matches[0].path} "
                f"(used by {', '.join(matches[0].used_by)}): another service or host answers",
            )
        )
    return tuple(matches), problems


def judge(
    served: ServedChain,
    *,
    anchors: Iterable[CertFacts],
    now: datetime,
    known: Iterable[CertFacts] = (),
    inventory: Inventory | None = None,
    expiring_days: int = 30,
    min_rsa_bits: int = 2048,
    min_ec_bits: int = 256,
) -> ProbeResult:
    """Judge a served chain as a client on this machine would (pure: no I/O).

    Args:
        served: From :func:`fetch_chain`.
        anchors: This machine's trust anchors (:func:`core.truststore.system_anchors`, or
            the inventory's ``trust_anchor`` records).
        now: The evaluation time.
        known: Other certificates on this machine: an issuer found among them but not
            served makes the verdict "incomplete chain" rather than "unknown issuer".
        inventory: Compare the served certificate with those local services use.
        expiring_days, min_rsa_bits, min_ec_bits: The thresholds of the ``checks`` settings.
    """
    t = served.target
    anchor_map = {a.sha256: a for a in anchors}
    chain: list[CertFacts] = []
    problems: list[ProbeProblem] = []
    for i, der in enumerate(served.certificates):
        try:
            chain.append(cert_facts(der))
        except ValueError as exc:
            problems.append(
                _problem(
                    "untrusted", Severity.ERROR, f"served certificate {i} is unreadable: {exc}"
                )
            )
    if not chain:
        problems.append(
            _problem("no_certificate", Severity.ERROR, "the server presented no certificate")
        )
        return _result(served, now, (), False, (), False, problems)
    leaf = chain[0]
    known_list = [k for k in known if k.sha256 not in anchor_map]
    evaluator = TrustEvaluator([*chain, *anchor_map.values()], set(anchor_map), now=now)
    verdict = evaluator.verdict(leaf.sha256)
    for finding in basic_findings(
        leaf,
        (),
        now=now,
        expiring_days=expiring_days,
        min_rsa_bits=min_rsa_bits,
        min_ec_bits=min_ec_bits,
        trust_anchor=leaf.sha256 in anchor_map,
        trust_stores=set(),
    ):
        if finding.code in ("expired", "not_yet_valid", "expiring", "weak_key", "weak_signature"):
            problems.append(_problem(finding.code, finding.severity, finding.message))
    if not verdict.trusted:
        problems.append(_why_untrusted(leaf, chain, anchor_map, known_list, verdict.reason, now))
    eku = set(leaf.extended_key_usage)
    if eku and not eku & {"serverAuth", "anyExtendedKeyUsage"}:
        problems.append(
            _problem(
                "wrong_purpose",
                Severity.ERROR,
                f"the certificate is not meant for TLS servers (extended key usage: "
                f"{', '.join(sorted(eku))}); clients reject it",
            )
        )
    matches = name_matches(leaf.names, t.checked_name)
    if not matches:
        problems.append(_name_problem(leaf, t.checked_name))
    order = _order_problem(chain)
    if order is not None:
        problems.append(order)
    if served.protocol in _OLD_PROTOCOLS:
        problems.append(
            _problem(
                "old_tls",
                Severity.WARNING,
                f"{served.protocol} is obsolete (RFC 8996) and current clients refuse it; "
                "enable TLS 1.2 and 1.3 on the server",
            )
        )
    if not served.complete:
        problems.append(
            _problem(
                "partial_chain",
                Severity.INFO,
                "only the server's own certificate could be read with this Python; the "
                "verdict treats the chain as if no intermediate was sent",
            )
        )
    disk: tuple[DiskMatch, ...] = ()
    if inventory is not None:
        disk, found = _disk(leaf, t.checked_name, inventory)
        problems += found
    problems.sort(key=lambda p: p.severity.rank)
    trusted = verdict.trusted and not any(p.severity is Severity.ERROR for p in problems)
    return _result(
        served,
        now,
        tuple(chain),
        trusted,
        verdict.chain if verdict.trusted else (),
        matches,
        problems,
        disk,
        frozenset(c.sha256 for c in chain if c.sha256 in anchor_map),
    )


def _result(
    served: ServedChain,
    now: datetime,
    chain: tuple[CertFacts, ...],
    trusted: bool,
    trust_chain: tuple[str, ...],
    matches: bool,
    problems: Sequence[ProbeProblem],
    disk: tuple[DiskMatch, ...] = (),
    anchors: frozenset[str] = frozenset(),
) -> ProbeResult:
    return ProbeResult(
        target=served.target,
        address=served.address,
        protocol=served.protocol,
        cipher=served.cipher,
        cipher_bits=served.cipher_bits,
        evaluated_at=now,
        chain=chain,
        trusted=trusted,
        trust_chain=trust_chain,
        name_matches=matches,
        problems=tuple(problems),
        disk=disk,
        anchors=anchors,
        complete=served.complete,
    )


def probe(
    target: ProbeTarget,
    *,
    anchors: Iterable[CertFacts],
    now: datetime,
    timeout: float = 10.0,
    known: Iterable[CertFacts] = (),
    inventory: Inventory | None = None,
    connect: Connect | None = None,
) -> ProbeResult:
    """Fetch and judge in one call (opens a network connection; run it in a worker)."""
    served = fetch_chain(target, timeout=timeout, connect=connect)
    return judge(served, anchors=anchors, now=now, known=known, inventory=inventory)


# -- saving the served chain -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SaveChainPlan:
    """The file the served chain is saved to."""

    file: PlannedFile
    destination: Path
    create_destination: bool
    content: bytes = field(repr=False, compare=False)
    root: RootFS | None = field(default=None, repr=False, compare=False)

    def describe(self) -> list[str]:
        """The preview as lines of text, safe for a terminal."""
        created = " (the folder will be created)" if self.create_destination else ""
        return [f"Save the served chain{created}:", *("  " + x for x in self.file.describe())]


def plan_save_chain(
    result: ProbeResult,
    *,
    destination: Path,
    root: RootFS | None = None,
    file_name: str = "",
) -> SaveChainPlan:
    """Plan saving the served certificates, in the order served, as one PEM file.

    Raises:
        UsageError: the server presented no certificate.
        DestinationError: the destination is not a writable folder.
    """
    if not result.chain:
        raise UsageError("the server presented no certificate: there is nothing to save")
    folder = Path(os.path.abspath(destination))
    create = check_destination(folder, root)
    stem = safe_stem(file_name or f"{result.target.checked_name}-chain", "served-chain")
    used, _ = NameAllocator(folder).allocate(stem, [".pem"])
    path = folder / f"{used}.pem"
    entries = tuple(
        FileEntry(c.sha256, c.display_name, "certificate" if i == 0 else "chain")
        for i, c in enumerate(result.chain)
    )
    content = b"".join(
        x509.load_der_x509_certificate(c.der).public_bytes(serialization.Encoding.PEM)
        for c in result.chain
    )
    planned = PlannedFile(
        path=path, shown=shown_path(path, root), kind="certificates", mode=0o644,
        certificates=entries,
    )  # fmt: skip
    return SaveChainPlan(planned, folder, create, content, root)


def write_chain(plan: SaveChainPlan) -> WrittenFile:
    """Write the chain file (never over an existing file).

    Raises:
        WriteFailed: nothing was written.
    """
    return write_files(
        plan.destination, [(plan.file, plan.content)], private=False, root=plan.root
    )[0]
