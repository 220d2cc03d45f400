"""``certdeck revocation``: local CRLs of the demo tree, and a live check against a server on
127.0.0.1; the report, the JSON document and ``--fail-on``.  Nothing else is contacted."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.report import iso
from tests.certgen import NOW, write
from tests.revocation_server import (
    GOOD,
    Network,
    Responder,
    RevocationServer,
    Revoked,
    TestPKI,
    guarded,
    make_crl,
    pem,
)
from tui.cli import main

AT = ["--at", iso(NOW)]


@pytest.fixture(autouse=True)
def network() -> Iterator[Network]:
    with guarded(Network()) as net:
        yield net


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_demo_crls_say_revoked_and_stale_without_network(
    capsys: pytest.CaptureFixture[str], network: Network
) -> None:
    code, out, err = run(capsys, "revocation", "--demo", *AT)
    assert code == 0, err
    assert "connects to the CRL and OCSP servers" in err
    lines = out.splitlines()
    assert lines[0] == "REVOKED: smtp.demo.example"
    assert lines[1].startswith(
        "  crl-file /etc/ssl/crl/demo-corp-issuing-ca.crl: revoked — revoked on 2026-11-24 "
    )
    assert "(keyCompromise)" in lines[1]
    assert (
        "  warning: the CRL at /etc/ssl/crl/demo-corp-root-ca.crl expired 15 d ago "
        "(next update was 2026-11-12)"
    ) in lines
    assert lines[-1].startswith("16 certificate(s) checked: 1 REVOKED, 1 unknown, 8 good, ")
    assert network.lookups == []

    code, out, err = run(capsys, "revocation", "--demo", *AT, "--json", "--fail-on", "revoked")
    assert code == 1
    assert "certdeck: 1 certificate(s) with revoked" in err
    doc = json.loads(out)
    smtp = next(c for c in doc["certificates"] if c["common_name"] == "smtp.demo.example")
    assert smtp["revocation"] == "revoked"
    assert [f["code"] for f in smtp["findings"] if f["code"] == "revoked"] == ["revoked"]
    summary = doc["revocation"]
    assert len(summary["certificates"]) == 16
    assert summary["fetches"] == []
    unchecked = [c for c in doc["certificates"] if c["revocation"] is None]
    assert unchecked, "certificates that are not required are not checked by default"
    assert all(not c["required"] for c in unchecked)


def test_a_live_check_asks_each_url_once_and_reports_each_source(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], network: Network
) -> None:
    pki = TestPKI()
    with RevocationServer() as server:
        network.allowed.add(server.address)
        crl_url = server.url("/root.crl")
        ocsp_url = server.url("/ocsp")
        good = pki.leaf("good.example", crl=[crl_url], ocsp_urls=[ocsp_url])
        bad = pki.leaf("bad.example", crl=[crl_url], ocsp_urls=[ocsp_url])
        revoked = [Revoked(bad.cert.serial_number, NOW)]
        server.static("/root.crl", pem(make_crl(pki.root, revoked)))
        server.ocsp("/ocsp", Responder(pki.root, {good.cert.serial_number: GOOD}))
        root = tmp_path / "root"
        write(root, "/etc/ssl/certs/test-root.pem", pki.root.pem)
        write(root, "/etc/ssl/site/good.pem", good.pem)
        write(root, "/etc/ssl/site/bad.pem", bad.pem)
        args = ["revocation", "--root", str(root), *AT, "--all", "--timeout", "2"]
        code, out, err = run(capsys, *args, "--fail-on", "revoked")
        assert server.count("/root.crl") == 1, "one CRL for both certificates"
    assert code == 1, err
    assert out.splitlines()[0] == "REVOKED: bad.example"
    assert f"  crl {crl_url}: revoked HTTP 200" in out
    assert f"  ocsp {ocsp_url}: good HTTP 200" in out
    assert "good: good.example" in out
    assert network.forbidden == []


def test_bad_limits_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "revocation", "--demo", *AT, "--timeout", "0")
    assert code == 2
    assert "--timeout and --time-limit take a number of seconds above 0" in err
