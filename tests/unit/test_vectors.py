"""Scanning cryptography's own test vectors: real-world and malformed files never break a scan."""

from __future__ import annotations

import asyncio
import warnings
from pathlib import Path

import cryptography_vectors
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import pkcs7

from core.model import Inventory, StoreKind
from core.scan import scan
from core.settings import ScanSettings, Settings
from tests.certgen import NOW

VECTORS = Path(cryptography_vectors.__file__).parent
FOLDERS = ("x509", "pkcs12")


def _scan_vectors() -> Inventory:
    settings = Settings(
        scan=ScanSettings(default_locations=False, paths=tuple(f"/{f}" for f in FOLDERS))
    )
    # The vectors folder is the "machine": its x509/ and pkcs12/ folders are scanned.
    return asyncio.run(
        asyncio.wait_for(scan(VECTORS, now=NOW, settings=settings, parallel="process"), 120)
    )


def _oracle() -> set[str]:
    """Every certificate cryptography itself loads from those files, by fingerprint."""
    found: set[str] = set()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for folder in FOLDERS:
            for path in (VECTORS / folder).rglob("*"):
                if not path.is_file():
                    continue
                data = path.read_bytes()
                loaders = (
                    x509.load_pem_x509_certificates,
                    lambda d: [x509.load_der_x509_certificate(d)],
                    pkcs7.load_pem_pkcs7_certificates,
                    pkcs7.load_der_pkcs7_certificates,
                )
                for load in loaders:
                    try:
                        certs = load(data)
                    except Exception:  # not this format
                        continue
                    found.update(c.fingerprint(hashes.SHA256()).hex() for c in certs)
                    break
    return found


def test_every_vector_file_is_read_or_reported_and_nothing_hangs() -> None:
    inv = _scan_vectors()
    files = sum(1 for f in FOLDERS for p in (VECTORS / f).rglob("*") if p.is_file())
    assert inv.files_scanned == files == 1807
    # Everything cryptography can load is in the inventory, each certificate once.
    ours = {r.sha256 for r in inv.certificates}
    assert len(ours) == len(inv.certificates)
    assert _oracle() <= ours
    # The counts for this pinned version of the vectors.
    assert len(inv.certificates) == 524
    # Ten certificate and key files, and five CRLs cryptography refuses to read.
    assert len(inv.unreadable) == 15
    assert len(inv.crl_files) == 200
    assert sum(s.kind is StoreKind.PKCS12 for s in inv.stores) == 436
    assert all(u.reason for u in inv.unreadable)
    reasons = {u.path: u.reason for u in inv.unreadable}
    assert reasons["/x509/custom/crl_bad_version.pem"] == (
        "CRL 1 in the file is damaged and cannot be read (2 is not a valid CRL version)"
    )
    assert reasons["/x509/custom/invalid_version.pem"] == (
        "CERTIFICATE block at line 1: not a valid certificate (7 is not a valid X509 version)"
    )
    assert reasons["/x509/custom/ecdsa_null_alg.pem"] == (
        "CERTIFICATE block at line 1: not a valid certificate "
        "(malformed DER: unexpected data after the end)"
    )
    # A GOST certificate: cryptography cannot use its key, certdeck still lists it.
    gost = next(r for r in inv.certificates if r.locations[0].path == "/x509/e-trust.ru.der")
    assert gost.cert.key.type == "1.2.643.2.2.19"
