"""The demo tree, scanned: every certificate has exactly the findings DESIGN.md implies."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from core.demo import DemoTree, build_demo_tree
from core.findings import SEVERITY
from core.model import Inventory
from core.scan import scan
from core.settings import load_settings

NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> tuple[DemoTree, Inventory]:
    tree = build_demo_tree(tmp_path_factory.mktemp("demo") / "root", now=NOW)
    inv = asyncio.run(
        scan(
            tree.root,
            now=NOW,
            settings=load_settings(tree.settings_path),
            settings_path=tree.settings_path,
            parallel="thread",
        )
    )
    return tree, inv


def test_each_demo_certificate_has_exactly_its_codes_and_required_flag(
    scanned: tuple[DemoTree, Inventory],
) -> None:
    tree, inv = scanned
    by_sha = inv.by_sha256()
    got = {
        c.label: (sorted(f.code for f in by_sha[c.sha256].findings), by_sha[c.sha256].required)
        for c in tree.certs
    }
    expected = {c.label: (sorted(c.expected), c.required) for c in tree.certs}
    assert got == expected
    # Nothing else: every scanned certificate is one the tree describes, but the locked
    # PKCS#12 container's, which cannot be seen without its password.
    assert set(by_sha) == {c.sha256 for c in tree.certs}


def test_every_finding_code_appears_in_the_demo(scanned: tuple[DemoTree, Inventory]) -> None:
    _, inv = scanned
    shown = {f.code for r in inv.certificates for f in r.findings}
    # Only an online check can find that no CRL or OCSP server answers; the scan never connects.
    assert shown == set(SEVERITY) - {"revocation_unreachable"}


def test_demo_consumers_and_chains(scanned: tuple[DemoTree, Inventory]) -> None:
    tree, inv = scanned
    by_sha = inv.by_sha256()
    www = by_sha[tree.cert("nginx-www").sha256]
    assert [(u.consumer, u.config) for u in www.used_by] == [
        ("nginx", "/etc/nginx/sites-enabled/www")
    ]
    names = [by_sha[sha].cert.common_name for sha in www.chain]
    assert names == ["www.demo.example", "Demo Corp Issuing CA", "Demo Corp Root CA"]
    # The intermediate and the root are required because www's chain goes through them.
    assert all(by_sha[sha].required for sha in www.chain)
    missing = next(c for c in inv.consumers if c.config.endswith("intranet-ssl.conf"))
    assert missing.problems == (
        "SSLCertificateKeyFile points to /etc/ssl/private/intranet.demo.example.key, "
        "which does not exist",
    )
    billing = next(c for c in inv.consumers if c.name == "billing-app")
    assert (billing.role, billing.check_expiry) == ("master key", False)
    assert billing.config == str(tree.settings_path)
    assert billing.line > 0


def test_untrusted_messages_say_why(scanned: tuple[DemoTree, Inventory]) -> None:
    tree, inv = scanned
    by_sha = inv.by_sha256()

    def message(label: str) -> str:
        r = by_sha[tree.cert(label).sha256]
        return next(f.message for f in r.findings if f.code == "untrusted")

    assert message("unknown-ca").startswith(
        "issuer not found: CN=Acme Appliance Device CA,O=Acme Appliances Ltd,C=NL is not in "
        "the trust store"
    )
    assert message("dovecot").startswith("self-signed and not in the trust store")
    assert "signature algorithm is not accepted" in message("sha1")
