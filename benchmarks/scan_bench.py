"""Scan throughput: certdeck's cold and warm scan next to the raw ``cryptography`` parse rate.

Usage: ``python benchmarks/scan_bench.py N [--tree DIR]``

Generates (once, then reuses) a tree of N certificates under ``DIR`` (default: a folder in
the system's temporary directory): nested folders, mostly one PEM file per certificate, some
DER files and some PEM bundles, issued by a handful of intermediate CAs under one root (the
trust anchor, declared in the settings).  Then prints, measured in this
one run:

- raw: read every file and load it with ``load_pem_x509_certificates`` /
  ``load_der_x509_certificate`` in one process (what parsing alone costs);
- inventory cold: a new :class:`core.scan.Scanner` building the inventory (parsing, records,
  the findings that need only the certificates; process start-up included): memos cleared,
  no parse cache, new worker processes.  The best of the runs is printed, and the first run
  on its own: only it pays for starting multiprocessing's fork server, which forks the
  workers of every later run from a process that has imported the parser (no parse state);
- inventory warm: the same scanner again on the unchanged tree;
- full scan cold: a new scanner doing everything ``certdeck scan`` does: inventory,
  consumers, trust verdicts and every finding;

as certificates per second and as ratios.  Not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from core.parse import clear_memos
from core.scan import Scanner
from core.settings import ScanSettings, Settings, TrustSettings

NOW = datetime(2026, 11, 27, tzinfo=UTC)
CAS = 5
ANCHOR = "/srv/bench-anchor/root.pem"
"""The trust anchor of the tree (outside the scanned folder, declared in the settings)."""
FORMAT = "3"
"""Bumped when the generated tree changes, so an old tree is regenerated."""


def _name(cn: str, org: str = "Bench Org") -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "DE"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def generate(root: Path, n: int) -> None:
    """Write N certificates under ``root/etc/bench``: 90 % PEM, 5 % DER, 5 % in bundles."""
    base = root / "etc" / "bench"
    base.mkdir(parents=True, exist_ok=True)
    root_key = ec.derive_private_key(999, ec.SECP256R1())
    root_name = _name("Bench Root CA")
    root_cert = (
        x509.CertificateBuilder()
        .subject_name(root_name)
        .issuer_name(root_name)
        .public_key(root_key.public_key())
        .serial_number(1)
        .not_valid_before(NOW - timedelta(days=3650))
        .not_valid_after(NOW + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(root_key, hashes.SHA256())
    )
    anchors = root / ANCHOR.lstrip("/")
    anchors.parent.mkdir(parents=True, exist_ok=True)
    anchors.write_bytes(root_cert.public_bytes(serialization.Encoding.PEM))
    ca_keys = [ec.derive_private_key(1000 + i, ec.SECP256R1()) for i in range(CAS)]
    ca_names = [_name(f"Bench CA {i}") for i in range(CAS)]
    ca_certs = []
    for i, (key, name) in enumerate(zip(ca_keys, ca_names, strict=True)):
        ca_certs.append(
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(root_name)
            .public_key(key.public_key())
            .serial_number(100 + i)
            .not_valid_before(NOW - timedelta(days=365))
            .not_valid_after(NOW + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(root_key, hashes.SHA256())
        )
    (base / "cas.pem").write_bytes(
        b"".join(c.public_bytes(serialization.Encoding.PEM) for c in ca_certs)
    )
    leaf_keys = [ec.derive_private_key(5000 + i, ec.SECP256R1()) for i in range(16)]
    bundle: list[bytes] = []
    for i in range(n):
        ca = i % CAS
        host = f"host{i}.bench.example"
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(host))
            .issuer_name(ca_names[ca])
            .public_key(leaf_keys[i % len(leaf_keys)].public_key())
            .serial_number(i + 1)
            .not_valid_before(NOW - timedelta(days=30))
            .not_valid_after(NOW + timedelta(days=60 + i % 400))
            .add_extension(
                x509.SubjectAlternativeName([x509.DNSName(host), x509.DNSName("www." + host)]),
                critical=False,
            )
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
            )
            .sign(ca_keys[ca], hashes.SHA256())
        )
        folder = base / f"d{i % 20:02d}" / f"s{i % 7}"
        folder.mkdir(parents=True, exist_ok=True)
        kind = i % 20
        if kind == 0:
            (folder / f"cert{i}.der").write_bytes(cert.public_bytes(serialization.Encoding.DER))
        elif kind == 1:
            bundle.append(cert.public_bytes(serialization.Encoding.PEM))
            if len(bundle) == 10:
                (folder / f"bundle{i}.pem").write_bytes(b"".join(bundle))
                bundle = []
        else:
            (folder / f"cert{i}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    if bundle:
        (base / "bundle-rest.pem").write_bytes(b"".join(bundle))
    (root / ".complete").write_text(f"{n}/{FORMAT}")


def raw_rate(root: Path) -> tuple[int, float]:
    """Read and parse every file with cryptography alone; (certificates, best seconds)."""
    files = [Path(d) / f for d, _, names in os.walk(root / "etc") for f in names]
    best = float("inf")
    for _ in range(REPEAT):
        start = time.perf_counter()
        count = 0
        for path in files:
            data = path.read_bytes()
            if data.startswith(b"-----BEGIN"):
                count += len(x509.load_pem_x509_certificates(data))
            else:
                x509.load_der_x509_certificate(data)
                count += 1
        best = min(best, time.perf_counter() - start)
    return count, best


SETTINGS = Settings(
    scan=ScanSettings(default_locations=False, paths=("/etc/bench",)),
    trust=TrustSettings(anchors=(ANCHOR,)),
)


REPEAT = 3
"""Each figure is the best of this many runs: the machine's other work only adds noise."""


async def full_scan(root: Path, parallel: str) -> tuple[int, float, int]:
    """A cold full scan: inventory, consumers, trust verdicts and every finding."""
    best = float("inf")
    for _ in range(REPEAT):
        clear_memos()  # cold: nothing remembered from the last run, as in a new process
        scanner = Scanner(root, settings=SETTINGS, parallel=parallel)
        try:
            start = time.perf_counter()
            inventory = await scanner.scan(now=NOW)
            best = min(best, time.perf_counter() - start)
        finally:
            scanner.close()
    trusted = sum(not r.has("untrusted") for r in inventory.certificates)
    return len(inventory.certificates), best, trusted


async def certdeck_rates(root: Path, parallel: str) -> tuple[int, float, float, float]:
    """Cold and warm inventory times (no trust verdicts), each the best of REPEAT runs, and
    the first cold run's time."""
    cold = warm = float("inf")
    first = 0.0
    for _ in range(REPEAT):
        clear_memos()  # cold: nothing remembered from the last run, as in a new process
        scanner = Scanner(root, settings=SETTINGS, parallel=parallel, analyse=False)
        try:
            start = time.perf_counter()
            inventory = await scanner.scan(now=NOW)
            elapsed = time.perf_counter() - start
            first = first or elapsed
            cold = min(cold, elapsed)
            for _ in range(REPEAT):
                start = time.perf_counter()
                again = await scanner.scan(now=NOW)
                warm = min(warm, time.perf_counter() - start)
        finally:
            scanner.close()
    assert len(again.certificates) == len(inventory.certificates)
    return len(inventory.certificates), cold, warm, first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", type=int, help="number of certificates in the tree")
    parser.add_argument("--tree", type=Path, help="where to keep the generated tree")
    parser.add_argument(
        "--parallel", default="auto", choices=("auto", "process", "thread"), help="scan mode"
    )
    args = parser.parse_args()
    root = args.tree or Path(tempfile.gettempdir()) / f"certdeck-bench-{args.n}"
    marker = root / ".complete"
    if not marker.exists() or marker.read_text() != f"{args.n}/{FORMAT}":
        print(f"generating {args.n} certificates under {root} …", flush=True)
        start = time.perf_counter()
        generate(root, args.n)
        print(f"  generated in {time.perf_counter() - start:.1f} s")
    raw_n, raw_s = raw_rate(root)
    n, cold_s, warm_s, first_s = asyncio.run(certdeck_rates(root, args.parallel))
    full_n, full_s, trusted = asyncio.run(full_scan(root, args.parallel))
    raw = raw_n / raw_s
    cold = n / cold_s
    warm = n / warm_s
    print(f"certificates: {n} (raw parse found {raw_n}); scan mode: {args.parallel}")
    print(f"raw cryptography : {raw:10,.0f} cert/s  ({raw_s:.2f} s)")
    print(f"inventory cold   : {cold:10,.0f} cert/s  ({cold_s:.2f} s)  = {cold / raw:.0%} of raw")
    print(
        f"  first cold run : {n / first_s:10,.0f} cert/s  ({first_s:.2f} s)  "
        f"= {n / first_s / raw:.0%} of raw (fork server started)"
    )
    print(f"inventory warm   : {warm:10,.0f} cert/s  ({warm_s:.2f} s)  = {warm / cold:.1f}x cold")
    print(
        f"full scan cold   : {full_n / full_s:10,.0f} cert/s  ({full_s:.2f} s)  "
        f"(inventory, consumers, trust verdicts: {trusted} chains to the anchor)"
    )


if __name__ == "__main__":
    main()
