"""The ``certdeck scan --json`` document (DESIGN.md, *Command line*)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from core.model import CertificateRecord, Inventory

__all__ = ["JSON_VERSION", "inventory_document", "inventory_json", "iso"]

JSON_VERSION = 1


def iso(when: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _record(r: CertificateRecord) -> dict[str, Any]:
    c = r.cert
    key = r.private_key
    return {
        "sha256": c.sha256,
        "sha1": c.sha1,
        "subject": c.subject,
        "issuer": c.issuer,
        "common_name": c.common_name,
        "serial": c.serial,
        "not_before": iso(c.not_before),
        "not_after": iso(c.not_after),
        "names": list(c.names),
        "key": {"type": c.key.type, "bits": c.key.bits}
        | ({"curve": c.key.curve} if c.key.curve else {}),
        "signature_algorithm": c.signature_algorithm,
        "is_ca": c.is_ca,
        "self_signed": c.self_signed,
        "type": c.role,
        "trust_anchor": r.trust_anchor,
        "required": r.required,
        "used_by": [
            {"consumer": u.consumer, "config": u.config, "line": u.line}
            | ({"role": u.role} if u.role else {})
            for u in r.used_by
        ],
        "locations": [
            {"store": loc.store, "path": loc.path, "index": loc.index, "format": loc.format}
            | ({"symlink_to": loc.symlink_to} if loc.symlink_to else {})
            for loc in r.locations
        ],
        "private_key": None
        if key is None
        else {"path": key.path, "encrypted": key.encrypted, "mode": key.mode, "owner": key.owner},
        "chain": list(r.chain),
        "revocation": r.revocation or None,
        "findings": [
            {"code": f.code, "severity": f.severity.value, "message": f.message} for f in r.findings
        ],
    }


def inventory_document(inv: Inventory) -> dict[str, Any]:
    """The JSON contract as Python values."""
    return {
        "version": JSON_VERSION,
        "root": inv.root,
        "evaluated_at": iso(inv.evaluated_at),
        "stores": [{"name": s.name, "kind": s.kind.value, "path": s.path} for s in inv.stores],
        "certificates": [_record(r) for r in inv.certificates],
        "consumers": [
            {
                "name": c.name,
                "config": c.config,
                "line": c.line,
                "files": list(c.files),
                "problems": list(c.problems),
            }
            | ({"role": c.role} if c.role else {})
            | ({} if c.check_expiry else {"check_expiry": False})
            for c in inv.consumers
        ],
        "unreadable": [{"path": u.path, "reason": u.reason} for u in inv.unreadable],
    }


# json.dumps escapes C0 controls itself; DEL, C1 controls and the Unicode line separators are
# legal in JSON strings but dangerous on a terminal, so they are escaped too.
_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029]")


def json_text(document: dict[str, Any]) -> str:
    """Strict JSON text (UTF-8 safe, no raw control characters) of a document."""
    text = json.dumps(document, ensure_ascii=False, indent=2, allow_nan=False)
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text) + "\n"


def inventory_json(inv: Inventory) -> str:
    """Strict JSON text (UTF-8 safe, no raw control characters) of an inventory."""
    return json_text(inventory_document(inv))
