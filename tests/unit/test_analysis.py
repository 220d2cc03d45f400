"""Trust verdicts, consumers, required/unused/obsolete and key findings, code by code."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from core.model import CertificateRecord, Inventory
from core.scan import Scanner, scan
from core.settings import ConsumerSetting, ScanSettings, Settings, TrustSettings
from tests.certgen import NOW, Made, ec_key, make, write

BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


def run(root: Path, settings: Settings | None = None) -> Inventory:
    return asyncio.run(scan(root, now=NOW, settings=settings, parallel="thread"))


def record(inv: Inventory, made: Made) -> CertificateRecord:
    return inv.by_sha256()[made.sha256]


def codes(inv: Inventory, made: Made) -> set[str]:
    return {f.code for f in record(inv, made).findings}


def message(inv: Inventory, made: Made, code: str) -> str:
    return next(f.message for f in record(inv, made).findings if f.code == code)


def nginx(root: Path, *servers: tuple[str, str]) -> None:
    blocks = "".join(
        f"  server {{\n    listen 443 ssl;\n    ssl_certificate {cert};\n"
        f"    ssl_certificate_key {key};\n  }}\n"
        for cert, key in servers
    )
    write(root, "/etc/nginx/nginx.conf", f"events {{}}\nhttp {{\n{blocks}}}\n".encode())


def pki(root: Path) -> tuple[Made, Made]:
    """A root in the system bundle and an intermediate stored beside the leaves."""
    ca = make("Test Root", ca=True, key=ec_key(100))
    inter = make("Test Issuing CA", ca=True, issuer=ca, key=ec_key(101))
    write(root, BUNDLE, ca.pem)
    write(root, "/etc/ssl/inter.pem", inter.pem)
    return ca, inter


def test_anchor_and_intermediate_are_trusted_with_their_chain(tmp_path: Path) -> None:
    ca, inter = pki(tmp_path)
    leaf = make("www.example", issuer=inter, key=ec_key(102), sans=("www.example",))
    write(tmp_path, "/etc/ssl/www.pem", leaf.pem)
    inv = run(tmp_path)
    assert "untrusted" not in codes(inv, ca)
    assert "self_signed" not in codes(inv, ca)
    assert "untrusted" not in codes(inv, inter)
    assert record(inv, inter).chain == (inter.sha256, ca.sha256)
    assert record(inv, leaf).chain == (leaf.sha256, inter.sha256, ca.sha256)


def test_expired_anchor_is_expired_not_untrusted_and_its_leaves_are_untrusted(
    tmp_path: Path,
) -> None:
    old = make("Old Root", ca=True, not_before=NOW - timedelta(days=900), days=800)
    leaf = make("old-leaf.example", issuer=old, not_before=NOW - timedelta(days=30), days=300)
    write(tmp_path, BUNDLE, old.pem)
    write(tmp_path, "/etc/ssl/leaf.pem", leaf.pem)
    inv = run(tmp_path)
    assert codes(inv, old) == {"expired"}
    assert message(inv, leaf, "untrusted").startswith(
        "expired link in the chain: the issuer CN=Old Root expired on "
    )


def test_expired_intermediate_is_an_expired_link(tmp_path: Path) -> None:
    ca = make("Link Root", ca=True)
    inter = make(
        "Link CA", ca=True, issuer=ca, not_before=NOW - timedelta(days=400), days=390
    )  # expired 10 days ago
    leaf = make("link.example", issuer=inter, not_before=NOW - timedelta(days=100), days=200)
    write(tmp_path, BUNDLE, ca.pem)
    write(tmp_path, "/etc/ssl/chain.pem", leaf.pem + inter.pem)
    inv = run(tmp_path)
    assert codes(inv, inter) >= {"expired"}
    assert "untrusted" not in codes(inv, inter)  # its own expiry is the expired finding
    assert "expired link in the chain" in message(inv, leaf, "untrusted")


def test_expired_leaf_of_a_trusted_ca_is_expired_not_untrusted(tmp_path: Path) -> None:
    _, inter = pki(tmp_path)
    gone = make("gone.example", issuer=inter, not_before=NOW - timedelta(days=90), days=60)
    write(tmp_path, "/etc/ssl/gone.pem", gone.pem)
    inv = run(tmp_path)
    assert codes(inv, gone) == {"expired", "unused", "obsolete"}


def test_missing_issuer_is_named_and_a_forged_issuer_fails_the_signature(tmp_path: Path) -> None:
    real = make("Hidden CA", ca=True, key=ec_key(110))
    leaf = make("orphan.example", issuer=real, key=ec_key(111))
    write(tmp_path, "/etc/ssl/orphan.pem", leaf.pem)
    inv = run(tmp_path)
    assert message(inv, leaf, "untrusted") == (
        "issuer not found: CN=Hidden CA is not in the trust store and was not found on this machine"
    )
    # Same name, different key, in the trust store: the signature does not verify.
    impostor = make("Hidden CA", ca=True, key=ec_key(112))
    write(tmp_path, BUNDLE, impostor.pem)
    inv = run(tmp_path)
    assert "does not verify" in message(inv, leaf, "untrusted")


def test_reissued_ca_picks_the_candidate_that_works(tmp_path: Path) -> None:
    ca = make("Multi Root", ca=True, key=ec_key(120))
    old_inter = make(
        "Multi CA", ca=True, issuer=ca, key=ec_key(121),
        not_before=NOW - timedelta(days=800), days=700, serial=1,
    )  # fmt: skip
    new_inter = make("Multi CA", ca=True, issuer=ca, key=ec_key(121), serial=2)
    leaf = make("multi.example", issuer=new_inter, key=ec_key(122))
    write(tmp_path, BUNDLE, ca.pem)
    write(tmp_path, "/etc/ssl/old-inter.pem", old_inter.pem)
    write(tmp_path, "/etc/ssl/new-inter.pem", new_inter.pem)
    write(tmp_path, "/etc/ssl/multi.pem", leaf.pem)
    inv = run(tmp_path)
    assert record(inv, leaf).chain == (leaf.sha256, new_inter.sha256, ca.sha256)
    assert "superseded" in codes(inv, old_inter)
    assert {"expired", "superseded", "unused", "obsolete"} <= codes(inv, old_inter)


def test_cross_signed_loop_terminates(tmp_path: Path) -> None:
    key_a, key_b = ec_key(130), ec_key(131)
    a_self = make("Loop A", ca=True, key=key_a)
    b_self = make("Loop B", ca=True, key=key_b)
    a_by_b = make("Loop A", ca=True, key=key_a, issuer=b_self, serial=5)
    b_by_a = make("Loop B", ca=True, key=key_b, issuer=a_self, serial=6)
    leaf = make("loop.example", issuer=a_self, key=ec_key(132))
    for i, m in enumerate((a_by_b, b_by_a, leaf)):
        write(tmp_path, f"/etc/ssl/loop{i}.pem", m.pem)
    inv = asyncio.run(asyncio.wait_for(scan(tmp_path, now=NOW, parallel="thread"), 30))
    assert "untrusted" in codes(inv, leaf)
    assert "loops back" in message(inv, leaf, "untrusted")


def test_consumers_make_certificates_required_and_check_keys(tmp_path: Path) -> None:
    _, inter = pki(tmp_path)
    good = make("good.example", issuer=inter, key=ec_key(140))
    wrong = make("wrong.example", issuer=inter, key=ec_key(141))
    lost = make("lost.example", issuer=inter, key=ec_key(142))
    spare = make("spare.example", issuer=inter, key=ec_key(143))
    write(tmp_path, "/etc/ssl/good.pem", good.pem + inter.pem)
    write(tmp_path, "/etc/ssl/private/good.key", good.key_pem, mode=0o640)
    write(tmp_path, "/etc/ssl/wrong.pem", wrong.pem)
    write(tmp_path, "/etc/ssl/private/wrong.key", spare.key_pem, mode=0o600)
    write(tmp_path, "/etc/ssl/lost.pem", lost.pem)
    write(tmp_path, "/etc/ssl/spare.pem", spare.pem)
    nginx(
        tmp_path,
        ("/etc/ssl/good.pem", "/etc/ssl/private/good.key"),
        ("/etc/ssl/wrong.pem", "/etc/ssl/private/wrong.key"),
        ("/etc/ssl/lost.pem", "/etc/ssl/private/lost.key"),
    )
    inv = run(tmp_path)
    assert codes(inv, good) == {"key_permissions"}
    assert record(inv, good).required
    assert record(inv, inter).required  # an issuer in a required chain
    assert codes(inv, wrong) == {"key_mismatch"}
    assert codes(inv, lost) == {"key_missing"}
    assert "which does not exist" in message(inv, lost, "key_missing")
    assert codes(inv, spare) == {"unused"}
    assert message(inv, good, "key_permissions") == (
        "the private key /etc/ssl/private/good.key (mode 0640, owner root) is readable by its "
        "group; make it 0600"
    ) or message(inv, good, "key_permissions").endswith("is readable by its group; make it 0600")
    uses = record(inv, good).used_by
    assert [(u.consumer, u.config, u.line) for u in uses] == [("nginx", "/etc/nginx/nginx.conf", 5)]


def test_commented_and_disabled_configuration_does_not_count(tmp_path: Path) -> None:
    cert = make("quiet.example", key=ec_key(150))
    write(tmp_path, "/etc/ssl/quiet.pem", cert.pem)
    write(tmp_path, "/etc/ssl/private/quiet.key", cert.key_pem, mode=0o600)
    write(
        tmp_path,
        "/etc/nginx/nginx.conf",
        b"http {\n  include /etc/nginx/sites-enabled/*;\n  server {\n"
        b"    # ssl_certificate /etc/ssl/quiet.pem;\n  }\n}\n",
    )
    write(
        tmp_path,
        "/etc/nginx/sites-available/quiet",
        b"server { ssl_certificate /etc/ssl/quiet.pem; "
        b"ssl_certificate_key /etc/ssl/private/quiet.key; }\n",
    )
    (tmp_path / "etc/nginx/sites-enabled").mkdir()
    inv = run(tmp_path)
    assert not record(inv, cert).required
    assert "unused" in codes(inv, cert)


def test_declared_consumer_with_expiry_not_checked(tmp_path: Path) -> None:
    old = make("vault.example", not_before=NOW - timedelta(days=400), days=365)
    write(tmp_path, "/opt/vault/master.pem", old.pem)
    settings = Settings(
        consumers=(
            ConsumerSetting(
                name="vault", files=("/opt/vault/master.pem",), role="master key",
                check_expiry=False,
            ),
        )
    )  # fmt: skip
    inv = run(tmp_path, settings)
    r = record(inv, old)
    assert r.required
    assert [(u.consumer, u.role) for u in r.used_by] == [("vault", "master key")]
    assert codes(inv, old) == {"expiry_not_checked", "self_signed", "untrusted"}
    note = message(inv, old, "expiry_not_checked")
    assert note.startswith("expired on ")
    assert note.endswith("expiry not checked by policy (vault)")
    # A second consumer that does check expiry makes it an error again.
    both = Settings(
        consumers=(
            *settings.consumers,
            ConsumerSetting(name="web", files=("/opt/vault/master.pem",)),
        )
    )
    assert "expired" in codes(run(tmp_path, both), old)


def test_settings_anchor_makes_a_private_root_trusted(tmp_path: Path) -> None:
    root = make("Private Root", ca=True, key=ec_key(160))
    leaf = make("private.example", issuer=root, key=ec_key(161))
    write(tmp_path, "/srv/pki/root.pem", root.pem)
    write(tmp_path, "/etc/ssl/private.pem", leaf.pem)
    inv = run(tmp_path, Settings(trust=TrustSettings(anchors=("/srv/pki/root.pem",))))
    assert "untrusted" not in codes(inv, leaf)
    assert record(inv, leaf).chain == (leaf.sha256, root.sha256)


def test_rescan_reuses_link_checks_and_gives_the_same_verdicts(tmp_path: Path) -> None:
    _, inter = pki(tmp_path)
    for i in range(5):
        write(tmp_path, f"/etc/ssl/l{i}.pem", make(f"l{i}.example", issuer=inter).pem)

    async def twice() -> tuple[Inventory, Inventory, int]:
        scanner = Scanner(tmp_path, parallel="thread", settings=Settings(scan=ScanSettings()))
        try:
            first = await scanner.scan(now=NOW)
            checks = len(scanner._links)
            second = await scanner.scan(now=NOW + timedelta(hours=1))
            assert len(scanner._links) == checks  # nothing checked twice
            return first, second, checks
        finally:
            scanner.close()

    first, second, checks = asyncio.run(twice())
    assert checks == 6  # five leaves and the intermediate, one signature each
    assert [r.chain for r in first.certificates] == [r.chain for r in second.certificates]


def test_combined_pem_counts_as_paired(tmp_path: Path) -> None:
    both = make("combined.example", key=ec_key(170))
    key = ec_key(170).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    write(tmp_path, "/etc/haproxy/certs/site.pem", both.pem + key, mode=0o600)
    write(
        tmp_path,
        "/etc/haproxy/haproxy.cfg",
        b"frontend https\n    bind :443 ssl crt /etc/haproxy/certs/site.pem\n",
    )
    inv = run(tmp_path)
    assert record(inv, both).required
    assert not codes(inv, both) & {"key_missing", "key_mismatch"}
