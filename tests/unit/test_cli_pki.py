"""`certdeck create`, `certdeck trust` and `certdeck probe`: output, files and exit codes."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
from collections import namedtuple
from pathlib import Path
from typing import Any

import psutil
import pytest
from cryptography import x509

from core.parse import parse_bytes
from tests.certgen import make, write
from tests.tlsserver import serve
from tui.cli import main

AT = "2026-11-27T12:00Z"
Addr = namedtuple("Addr", "family address netmask broadcast ptp")

ROOT_CA = make("CLI Root CA", ca=True, days=3650, serial=31)
SERVER = make("localhost", issuer=ROOT_CA, sans=("localhost", "127.0.0.1"), serial=32)


@pytest.fixture(autouse=True)
def machine(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fixed host name and interfaces; no command runs; only 127.0.0.1 is contacted."""
    monkeypatch.setattr(socket, "gethostname", lambda: "web1")
    monkeypatch.setattr(socket, "getfqdn", lambda name="": f"{name}.example.org")
    monkeypatch.setattr(
        psutil,
        "net_if_addrs",
        lambda: {"eth0": [Addr(socket.AF_INET, "192.0.2.10", None, None, None)]},
    )

    def no_commands(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"a command was run: {args}")

    monkeypatch.setattr(subprocess, "run", no_commands)
    real = socket.create_connection

    def loopback_only(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        assert address[0] == "127.0.0.1", f"the test tried to reach {address}"
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", loopback_only)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def debian(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    write(root, "/etc/os-release", b"ID=debian\n")
    write(
        root, "/usr/share/ca-certificates/mozilla/Distro_Root.crt", make("Distro Root", ca=True).pem
    )
    write(root, "/etc/ca-certificates.conf", b"mozilla/Distro_Root.crt\n")
    return root


def test_create_server_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "root"
    root.mkdir()
    out_dir = root / "etc/ssl/certdeck"
    code, out, err = run(
        capsys, "create", "server", "--root", str(root), "--at", AT, "--to", str(out_dir),
        "--name", "extra.example,198.51.100.1", "--yes", "--json",
    )  # fmt: skip
    assert code == 0, err
    doc = json.loads(out)
    assert doc["names"] == [
        "DNS:web1.example.org",
        "DNS:web1",
        "DNS:extra.example",
        "IP:192.0.2.10",
        "IP:198.51.100.1",
    ]
    assert doc["not_after"] == "2027-11-27T12:00:00Z"
    assert [f["path"] for f in doc["files"]] == [
        "/etc/ssl/certdeck/web1.example.org.crt",
        "/etc/ssl/certdeck/web1.example.org.key",
    ]
    assert [f["mode"] for f in doc["files"]] == ["0644", "0600"]
    assert stat.S_IMODE((out_dir / "web1.example.org.key").stat().st_mode) == 0o600
    assert "Create a server certificate" in err


def test_create_needs_confirmation(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = tmp_path / "out"
    code, _, err = run(capsys, "create", "server", "--to", str(out_dir))
    assert code == 2
    assert "add --yes" in err
    assert not out_dir.exists()
    code, _, err = run(capsys, "create", "server", "--to", str(out_dir), "--dry-run")
    assert code == 0
    assert "web1.example.org.key" in err
    assert not out_dir.exists()


def test_create_ca_then_issue(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pki = tmp_path / "pki"
    code, out, err = run(capsys, "create", "ca", "--cn", "Office CA", "--to", str(pki), "--yes")
    assert code == 0, err
    assert out.split() == [str(pki / "Office_CA.crt"), str(pki / "Office_CA.key")]
    code, out, err = run(
        capsys, "create", "server", "--ca", str(pki / "Office_CA.crt"), "--ca-key",
        str(pki / "Office_CA.key"), "--no-host-names", "--no-addresses", "--name", "svc.example",
        "--validity", "forever", "--key", "rsa-2048", "--to", str(tmp_path / "out"), "--yes",
    )  # fmt: skip
    assert code == 0, err
    cert = x509.load_pem_x509_certificate((tmp_path / "out/svc.example.crt").read_bytes())
    assert cert.issuer.rfc4514_string() == "CN=Office CA"
    assert cert.not_valid_after_utc.year == 9999
    assert (tmp_path / "out/svc.example-chain.pem").read_bytes() == (
        pki / "Office_CA.crt"
    ).read_bytes()


def test_create_with_an_encrypted_ca_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = tmp_path / "secret"
    secret.write_text("pa55word\n")
    secret.chmod(0o600)
    pki = tmp_path / "pki"
    code, _, err = run(
        capsys, "create", "ca", "--to", str(pki), "--file-name", "ca", "--encrypt-key",
        "--key-password-file", str(secret), "--yes",
    )  # fmt: skip
    assert code == 0, err
    assert b"ENCRYPTED" in (pki / "ca.key").read_bytes()
    base = ["create", "server", "--ca", str(pki / "ca.crt"), "--ca-key", str(pki / "ca.key")]
    code, _, err = run(capsys, *base, "--to", str(tmp_path / "a"), "--yes")
    assert code == 2
    assert "Password needed" in err
    code, _, err = run(
        capsys, *base, "--ca-password-file", str(secret), "--to", str(tmp_path / "a"), "--yes"
    )
    assert code == 0, err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--name", "bad_name.example"], "Invalid name"),
        (["--ca", "x.pem"], "give both --ca CERT and --ca-key KEY"),
        (["--key-password-file", "x"], "--key-password-file needs --encrypt-key"),
    ],
)
def test_create_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, out, err = run(capsys, "create", "server", "--to", str(tmp_path / "o"), "--yes", *args)
    assert code == 2
    assert message in err
    assert out == ""
    assert not (tmp_path / "o").exists()


def test_trust_add_and_remove_under_root(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = debian(tmp_path)
    ca_file = write(tmp_path, "/ca.pem", ROOT_CA.pem)
    code, _, err = run(capsys, "trust", "add", str(ca_file), "--root", str(root), "--dry-run")
    assert code == 0
    assert "Debian/Ubuntu" in err
    assert not (root / "usr/local/share/ca-certificates").exists()
    code, out, err = run(
        capsys, "trust", "add", str(ca_file), "--root", str(root), "--yes", "--json"
    )
    assert code == 0, err
    doc = json.loads(out)
    assert doc["family"] == "debian"
    assert doc["done"] == [
        {"action": "write", "path": "/usr/local/share/ca-certificates/certdeck-CLI_Root_CA.crt"}
    ]
    assert doc["commands"] == [["update-ca-certificates"]]
    assert doc["commands_run"] is False
    assert doc["ran"] == []
    anchor = root / "usr/local/share/ca-certificates/certdeck-CLI_Root_CA.crt"
    assert [c.facts.sha256 for c in parse_bytes(anchor.read_bytes()).certs] == [ROOT_CA.sha256]
    assert "not run under --root" in err
    assert "  update-ca-certificates" in err.splitlines()
    code, _, err = run(capsys, "trust", "remove", ROOT_CA.sha256[:12], "--root", str(root), "--yes")
    assert code == 0, err
    assert not anchor.exists()
    assert "update-ca-certificates --fresh" in err


def test_trust_remove_refuses_a_distribution_root(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = debian(tmp_path)
    distro = root / "usr/share/ca-certificates/mozilla/Distro_Root.crt"
    code, _, err = run(capsys, "trust", "remove", str(distro), "--root", str(root), "--yes")
    assert code == 2
    assert "not added by an administrator" in err
    assert (root / "etc/ca-certificates.conf").read_text() == "mozilla/Distro_Root.crt\n"


def test_trust_on_this_machine_needs_root(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    ca_file = write(tmp_path, "/ca.pem", ROOT_CA.pem)
    code, _, err = run(capsys, "trust", "add", str(ca_file), "--family", "debian")
    assert code == 2
    assert "Root rights needed" in err
    assert "sudo" in err
    assert "Then run:" in err


def test_trust_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ca_file = write(tmp_path, "/ca.pem", ROOT_CA.pem)
    code, out, err = run(
        capsys, "trust", "export", str(ca_file), "--to", str(tmp_path / "x"), "--yes"
    )
    assert code == 0, err
    assert "certutil -addstore -f Root CLI_Root_CA.crt" in out
    assert (tmp_path / "x/CLI_Root_CA.crt").read_bytes() == ROOT_CA.pem
    assert (tmp_path / "x/CLI_Root_CA-install.txt").is_file()


def test_probe_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trusting = debian(tmp_path)
    write(trusting, "/usr/local/share/ca-certificates/cli.crt", ROOT_CA.pem)
    bare = tmp_path / "bare"
    bare.mkdir()
    with serve(tmp_path / "srv", [SERVER]) as server:
        target = f"127.0.0.1:{server.port}"
        code, out, err = run(capsys, "probe", target, "--root", str(trusting), "--at", AT)
        assert code == 0, err
        assert "Verdict: trusted" in out
        code, out, err = run(
            capsys, "probe", target, "--root", str(trusting), "--at", AT, "--no-disk",
            "--servername", "localhost", "--json",
        )  # fmt: skip
        assert code == 0, err
        doc = json.loads(out)
        assert doc["trusted"] is True
        assert doc["servername"] == "localhost"
        assert [c["sha256"] for c in doc["chain"]] == [SERVER.sha256]
        code, out, err = run(capsys, "probe", target, "--root", str(bare), "--at", AT, "--json")
        assert code == 1
        doc = json.loads(out)
        assert doc["verdict"] == "This connection is not trusted!"
        assert [p["code"] for p in doc["problems"]] == ["unknown_issuer"]
        code, out, err = run(
            capsys, "probe", target, "--root", str(bare), "--at", AT,
            "--save-chain", str(tmp_path / "saved"), "--yes",
        )  # fmt: skip
        assert code == 1
        assert "This connection is not trusted!" in out
        assert (tmp_path / "saved/127.0.0.1-chain.pem").read_bytes() == SERVER.pem
        expired = run(capsys, "probe", target, "--root", str(trusting), "--at", "2028-01-01")
        assert expired[0] == 1
        assert "expired" in expired[1]


def test_probe_trust_root_under_root(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = debian(tmp_path)
    with serve(tmp_path / "srv", [SERVER, ROOT_CA]) as server:
        target = f"127.0.0.1:{server.port}"
        code, _, err = run(
            capsys, "probe", target, "--root", str(root), "--at", AT, "--trust-root", "--yes"
        )
        assert code == 1
        assert (root / "usr/local/share/ca-certificates/certdeck-CLI_Root_CA.crt").exists()
        code, _, err = run(capsys, "probe", target, "--root", str(root), "--at", AT)
        assert code == 0, err


def test_probe_usage_and_connection_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        port = sock.getsockname()[1]
    code, out, err = run(capsys, "probe", f"127.0.0.1:{port}", "--root", str(tmp_path), "--no-disk")
    assert code == 2
    assert "could not connect" in err
    assert out == ""
    code, _, err = run(capsys, "probe", "127.0.0.1:99999")
    assert code == 2
    assert "port number" in err
