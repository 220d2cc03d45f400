"""Export: plans, PKCS#12 (modern and legacy) and PEM files, round trips, faults, command line."""

from __future__ import annotations

import asyncio
import errno
import getpass
import io
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs12

import core.passwords
from core.export import (
    ExportPlan,
    NothingSelected,
    PasswordRequired,
    UnknownCertificate,
    export_directory,
    plan_export,
    select_records,
    write_export,
)
from core.importer import ImportPreview, inspect_import, open_import
from core.model import Inventory
from core.passwords import (
    NoPassword,
    PasswordError,
    obtain_password,
    password_strength,
    read_password_file,
)
from core.rootfs import RootFS
from core.scan import scan
from core.scope import Scope, ScopeKind
from core.settings import (
    ConsumerSetting,
    ExportSettings,
    ScanSettings,
    Settings,
    TrustSettings,
    save_settings,
)
from core.transfer import DestinationError, WriteCancelled, WriteFailed, safe_stem
from tests.certgen import NOW, ec_key, make, rsa_key, write
from tui.cli import main

PASSWORD = b"correct horse battery staple"
OPENSSL = shutil.which("openssl")


class Tree:
    """A small server: a root in the local trust store, an issuing CA and three leaves."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.ca = make("Test Root CA", ca=True, key=ec_key(501))
        self.issuing = make("Test Issuing CA", ca=True, issuer=self.ca, key=ec_key(502))
        self.www = make("www.example.org", issuer=self.issuing, sans=("www.example.org",))
        self.api = make("api.example.org", issuer=self.issuing, key=rsa_key(2048))
        self.wild = make("*.wild.example", issuer=self.issuing, key=ec_key(503))
        write(root, "/usr/local/share/ca-certificates/test-root.crt", self.ca.pem)
        write(root, "/etc/ssl/certs/issuing.pem", self.issuing.pem)
        write(root, "/etc/ssl/certs/www.pem", self.www.pem + self.issuing.pem)
        write(root, "/etc/ssl/private/www.key", self.www.key_pem, mode=0o600)
        write(root, "/etc/ssl/certs/api.pem", self.api.pem)
        write(root, "/etc/ssl/private/api.key", self.api.key_pem, mode=0o600)
        write(root, "/etc/ssl/certs/wild.pem", self.wild.pem)
        self.settings = Settings(
            scan=ScanSettings(default_locations=False, paths=("/etc/ssl",)),
            trust=TrustSettings(anchors=("/usr/local/share/ca-certificates",)),
            consumers=(
                ConsumerSetting(
                    name="web", files=("/etc/ssl/certs/www.pem", "/etc/ssl/private/www.key")
                ),
            ),
        )
        self.fs = RootFS(root)

        self.config = root.parent / "settings.toml"
        save_settings(self.settings, self.config)

    @property
    def cli(self) -> list[str]:
        """The options that point the command line at this machine."""
        return ["--root", str(self.root), "--config", str(self.config)]

    def scan(self) -> Inventory:
        return asyncio.run(scan(self.root, now=NOW, settings=self.settings, parallel="thread"))


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    return Tree(tmp_path / "machine")


@pytest.fixture
def inv(tree: Tree) -> Inventory:
    return tree.scan()


def der_key(key: PrivateKeyTypes) -> bytes:
    return key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def reimport(path: Path, password: bytes | None) -> ImportPreview:
    data = path.read_bytes()
    if path.suffix == ".p12":
        return open_import(data, password, name=path.name)
    return inspect_import(data, path.name)


def plan(tree: Tree, inv: Inventory, dest: Path, **kwargs: Any) -> ExportPlan:
    options: dict[str, Any] = {"fmt": "p12", "one_file": False}
    options.update(kwargs)
    selection = options.pop("selection", [tree.www.sha256, tree.api.sha256])
    return plan_export(inv, selection, destination=dest, root=tree.fs, **options)


# Round trips ---------------------------------------------------------------------------


@pytest.mark.parametrize("include_root", [False, True])
@pytest.mark.parametrize(
    ("fmt", "legacy", "with_keys"),
    [
        ("p12", False, None),
        ("p12", True, None),
        ("p12", False, False),
        ("pem", False, True),
        ("pem", False, None),
    ],
)
def test_one_file_per_certificate_round_trip(
    tree: Tree,
    inv: Inventory,
    tmp_path: Path,
    fmt: str,
    legacy: bool,
    with_keys: bool | None,
    include_root: bool,
) -> None:
    dest = tmp_path / "out"
    the_plan = plan(
        tree, inv, dest, fmt=fmt, legacy=legacy, with_keys=with_keys, include_root=include_root
    )
    result = write_export(the_plan, PASSWORD)

    keys_expected = with_keys is not False and (fmt == "p12" or with_keys is True)
    chain = [tree.issuing] + ([tree.ca] if include_root else [])
    for leaf in (tree.www, tree.api):
        stem = leaf.cert.subject.rfc4514_string().removeprefix("CN=")
        cert_file = dest / f"{stem}.{'p12' if fmt == 'p12' else 'pem'}"
        preview = reimport(cert_file, PASSWORD)
        # Same certificates, leaf first, then its chain up to (and maybe including) the root.
        assert [c.sha256 for c in preview.certificates] == [leaf.sha256] + [c.sha256 for c in chain]
        if fmt == "pem":
            key_file = dest / f"{stem}.key"
            assert key_file.exists() == keys_expected
            keys = reimport(key_file, None).keys if keys_expected else ()
        else:
            keys = preview.keys
        if keys_expected:
            assert len(keys) == 1
            assert keys[0].material is not None
            assert der_key(keys[0].material) == der_key(leaf.key)
            assert keys[0].matches == leaf.sha256 or fmt == "pem"
        else:
            assert keys == ()
    assert {f.path for f in result.files} == {f.path for f in the_plan.files}


@pytest.mark.parametrize(("fmt", "legacy"), [("p12", False), ("p12", True), ("pem", False)])
def test_one_file_for_all_round_trip(
    tree: Tree, inv: Inventory, tmp_path: Path, fmt: str, legacy: bool
) -> None:
    dest = tmp_path / "out"
    the_plan = plan(tree, inv, dest, fmt=fmt, legacy=legacy, one_file=True, with_keys=True)
    [planned] = the_plan.files
    assert planned.path.name == f"certdeck-export.{'p12' if fmt == 'p12' else 'pem'}"

    write_export(the_plan, PASSWORD)

    preview = reimport(planned.path, PASSWORD)
    assert {c.sha256 for c in preview.certificates} == {
        tree.www.sha256,
        tree.api.sha256,
        tree.issuing.sha256,
    }
    keys = {der_key(k.material) for k in preview.keys if k.material is not None}
    if fmt == "p12":
        # One key per PKCS#12 file: the first certificate's, and the plan says so.
        assert keys == {der_key(tree.www.key)}
        assert any("only the private key of www.example.org" in n for n in planned.notes)
        assert any("api.example.org" in n for n in planned.notes)
    else:
        assert keys == {der_key(tree.www.key), der_key(tree.api.key)}
        assert planned.kind == "bundle"
        assert planned.mode == 0o600


def test_pkcs12_friendly_name_is_the_certificate_name(
    tree: Tree, inv: Inventory, tmp_path: Path
) -> None:
    the_plan = plan(tree, inv, tmp_path / "out", selection=[tree.www.sha256])
    write_export(the_plan, PASSWORD)
    bundle = pkcs12.load_pkcs12(the_plan.files[0].path.read_bytes(), PASSWORD)
    assert bundle.cert is not None
    assert bundle.cert.friendly_name == b"www.example.org"
    assert [c.friendly_name for c in bundle.additional_certs] == [b"Test Issuing CA"]


# The real openssl command ----------------------------------------------------------------


def openssl_info(path: Path, passin: str, env: dict[str, str] | None = None) -> str:
    assert OPENSSL is not None
    completed = subprocess.run(
        [OPENSSL, "pkcs12", "-info", "-nokeys", "-noout", "-passin", passin, "-in", str(path)],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=False,
    )
    if completed.returncode != 0:
        raise AssertionError(completed.stderr)
    return completed.stderr


@pytest.mark.skipif(OPENSSL is None, reason="the openssl command is not installed")
@pytest.mark.parametrize("one_file", [False, True])
@pytest.mark.parametrize(
    ("legacy", "mac", "cipher"),
    [(False, "MAC: sha256", "AES-256-CBC"), (True, "MAC: sha1", "3-KeyTripleDES")],
)
def test_openssl_opens_every_exported_file_with_the_password_only(
    tree: Tree,
    inv: Inventory,
    tmp_path: Path,
    one_file: bool,
    legacy: bool,
    mac: str,
    cipher: str,
) -> None:
    the_plan = plan(tree, inv, tmp_path / "out", legacy=legacy, one_file=one_file)
    write_export(the_plan, PASSWORD)
    right = tmp_path / "right"
    right.write_bytes(PASSWORD + b"\n")
    wrong = tmp_path / "wrong"
    wrong.write_bytes(b"not the password\n")
    assert the_plan.files
    for planned in the_plan.files:
        info = openssl_info(planned.path, f"file:{right}")
        assert mac in info
        assert cipher in info
        assert openssl_info(planned.path, "env:P12PASS", {"P12PASS": PASSWORD.decode()})
        with pytest.raises(AssertionError, match=r"(?i)mac verify|invalid password"):
            openssl_info(planned.path, f"file:{wrong}")


# Plans -------------------------------------------------------------------------------


def test_selection_by_keyword_prefix_and_scope(tree: Tree, inv: Inventory) -> None:
    required = {r.sha256 for r in select_records(inv, "required")}
    assert required == {tree.www.sha256, tree.issuing.sha256, tree.ca.sha256}
    assert len(select_records(inv, "all")) == 5
    [picked] = select_records(inv, [tree.api.sha256[:12].upper()])
    assert picked.sha256 == tree.api.sha256
    colons = ":".join(tree.wild.sha256[i : i + 2] for i in range(0, 64, 2))
    assert select_records(inv, [colons])[0].sha256 == tree.wild.sha256
    scoped = select_records(inv, Scope(ScopeKind.CONSUMER, "web"))
    assert [r.sha256 for r in scoped] == [tree.issuing.sha256, tree.www.sha256]
    with pytest.raises(UnknownCertificate, match="no certificate has the fingerprint"):
        select_records(inv, ["ab" * 32])
    with pytest.raises(UnknownCertificate, match="not a SHA-256 fingerprint"):
        select_records(inv, ["abc"])
    with pytest.raises(NothingSelected, match="nothing to export: the scope service nobody"):
        select_records(inv, Scope(ScopeKind.CONSUMER, "nobody"))


def test_names_are_sanitised() -> None:
    assert safe_stem("*.example.org", "x") == "star.example.org"
    assert safe_stem("../../etc/passwd", "x") == "etc_passwd"
    assert safe_stem(".hidden", "x") == "hidden"
    assert safe_stem("-rf", "x") == "rf"
    assert safe_stem("\x1b[2J\u202eevil\x00name", "x") == "2Jevilname"
    assert safe_stem("my server cert", "x") == "my_server_cert"
    assert safe_stem("\x1b\x07", "fallback") == "fallback"
    assert safe_stem("Zürich Zertifikat", "x") == "Zürich_Zertifikat"
    assert len(safe_stem("a" * 400, "x").encode()) <= 100


def test_wildcard_certificate_gets_a_plain_file_name(
    tree: Tree, inv: Inventory, tmp_path: Path
) -> None:
    the_plan = plan(tree, inv, tmp_path / "out", selection=[tree.wild.sha256])
    assert [f.path.name for f in the_plan.files] == ["star.wild.example.p12"]
    assert the_plan.files[0].key is None
    assert any("no private key was found" in n and "*.wild.example" in n for n in the_plan.notes)


def test_existing_file_is_untouched_and_a_free_name_is_used(
    tree: Tree, inv: Inventory, tmp_path: Path
) -> None:
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "www.example.org.pem").write_bytes(b"precious")
    (dest / "www.example.org-1.key").write_bytes(b"also precious")

    the_plan = plan(tree, inv, dest, fmt="pem", with_keys=True, selection=[tree.www.sha256])

    # The certificate and its key keep one name: the first stem free for both files.
    assert [f.path.name for f in the_plan.files] == [
        "www.example.org-2.pem",
        "www.example.org-2.key",
    ]
    assert "already exists and is left untouched" in the_plan.files[0].notes[0]
    write_export(the_plan, None)
    assert (dest / "www.example.org.pem").read_bytes() == b"precious"
    assert (dest / "www.example.org-1.key").read_bytes() == b"also precious"
    assert sorted(p.name for p in dest.iterdir()) == [
        "www.example.org-1.key",
        "www.example.org-2.key",
        "www.example.org-2.pem",
        "www.example.org.pem",
    ]


def test_a_name_taken_after_planning_is_not_overwritten(
    tree: Tree, inv: Inventory, tmp_path: Path
) -> None:
    dest = tmp_path / "out"
    dest.mkdir()
    the_plan = plan(tree, inv, dest, selection=[tree.www.sha256])
    (dest / "www.example.org.p12").write_bytes(b"arrived meanwhile")

    result = write_export(the_plan, PASSWORD)

    assert (dest / "www.example.org.p12").read_bytes() == b"arrived meanwhile"
    assert [f.path.name for f in result.files] == ["www.example.org-1.p12"]
    assert result.files[0].renamed


def test_same_names_in_one_export_get_distinct_files(tree: Tree, tmp_path: Path) -> None:
    twin = make("www.example.org", issuer=tree.issuing, key=ec_key(504), serial=2)
    write(tree.root, "/etc/ssl/certs/www-new.pem", twin.pem)
    inv = tree.scan()
    the_plan = plan(tree, inv, tmp_path / "out", selection=[tree.www.sha256, twin.sha256])
    assert [f.path.name for f in the_plan.files] == ["www.example.org.p12", "www.example.org-1.p12"]
    assert "another file of this plan" in the_plan.files[1].notes[0]


def test_keys_are_0600_certificates_0644_and_a_new_folder_0700(
    tree: Tree, inv: Inventory, tmp_path: Path
) -> None:
    dest = tmp_path / "new" / "exports"
    the_plan = plan(tree, inv, dest, fmt="pem", with_keys=True)
    assert the_plan.create_destination
    write_export(the_plan, None)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in dest.iterdir()}
    assert modes == {
        "www.example.org.pem": 0o644,
        "www.example.org.key": 0o600,
        "api.example.org.pem": 0o644,
        "api.example.org.key": 0o600,
    }
    assert stat.S_IMODE(dest.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o700


def test_pkcs12_files_are_0600(tree: Tree, inv: Inventory, tmp_path: Path) -> None:
    the_plan = plan(tree, inv, tmp_path / "out", with_keys=False)
    result = write_export(the_plan, PASSWORD)
    assert [stat.S_IMODE(f.path.stat().st_mode) for f in result.files] == [0o600, 0o600]


def test_pem_with_keys_warns_that_keys_are_unencrypted(
    tree: Tree, inv: Inventory, tmp_path: Path
) -> None:
    with_keys = plan(tree, inv, tmp_path / "a", fmt="pem", with_keys=True)
    assert any("unencrypted" in w for w in with_keys.warnings)
    assert any(
        "warning: private keys will be written unencrypted" in line for line in with_keys.describe()
    )
    without = plan(tree, inv, tmp_path / "b", fmt="pem")
    assert without.warnings == ()
    assert all(f.key is None for f in without.files)
    legacy = plan(tree, inv, tmp_path / "c", legacy=True)
    assert any("legacy encryption" in w for w in legacy.warnings)


def test_key_source_is_a_machine_path_and_checked_against_the_certificate(
    tree: Tree, inv: Inventory, tmp_path: Path
) -> None:
    the_plan = plan(tree, inv, tmp_path / "out")
    assert [f.key for f in the_plan.files] == [
        "/etc/ssl/private/www.key",
        "/etc/ssl/private/api.key",
    ]
    # The key file changed after the scan: it is not silently exported as the wrong key.
    write(tree.root, "/etc/ssl/private/www.key", make("other", key=ec_key(777)).key_pem, 0o600)
    changed = plan(tree, inv, tmp_path / "out")
    assert changed.files[0].key is None
    assert any("no longer holds its private key" in n for n in changed.notes)


def test_destination_inside_the_root_is_shown_as_a_machine_path(tree: Tree, inv: Inventory) -> None:
    the_plan = plan(tree, inv, tree.root / "root" / "exports", selection=[tree.www.sha256])
    assert the_plan.shown_destination == "/root/exports"
    assert the_plan.files[0].shown == "/root/exports/www.example.org.p12"


def test_untrusted_certificate_still_travels_with_its_issuer(tmp_path: Path) -> None:
    issuing = make("Lonely Issuing CA", ca=True, issuer=make("Absent Root", ca=True))
    leaf = make("lonely.example", issuer=issuing)
    write(tmp_path, "/etc/ssl/lonely.pem", leaf.pem + issuing.pem)
    settings = Settings(scan=ScanSettings(default_locations=False, paths=("/etc/ssl",)))
    inv = asyncio.run(scan(tmp_path, now=NOW, settings=settings, parallel="thread"))
    the_plan = plan_export(
        inv,
        [leaf.sha256],
        fmt="pem",
        one_file=False,
        destination=tmp_path / "o",
        root=RootFS(tmp_path),
    )
    assert [(e.name, e.role) for e in the_plan.files[0].certificates] == [
        ("lonely.example", "certificate"),
        ("Lonely Issuing CA", "chain"),
    ]


def test_pkcs12_needs_a_non_empty_password(tree: Tree, inv: Inventory, tmp_path: Path) -> None:
    the_plan = plan(tree, inv, tmp_path / "out")
    assert the_plan.needs_password
    for password in (None, b""):
        with pytest.raises(PasswordRequired):
            write_export(the_plan, password)
    assert not (tmp_path / "out").exists()


def test_destination_that_is_a_file_is_refused(tree: Tree, inv: Inventory, tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(DestinationError, match="not a folder"):
        plan(tree, inv, tmp_path / "file")
    with pytest.raises(DestinationError, match="not a folder"):
        plan(tree, inv, tmp_path / "file" / "below")


def test_export_directory_setting_is_a_machine_path(tree: Tree) -> None:
    assert export_directory(Settings(), tree.fs) is None
    settings = Settings(export=ExportSettings(directory="/srv/exports"))
    assert export_directory(settings, tree.fs) == tree.root / "srv" / "exports"


# Faults: nothing half-written --------------------------------------------------------------


def fail_on_call(
    monkeypatch: pytest.MonkeyPatch, name: str, number: int, code: int = errno.ENOSPC
) -> None:
    """Make ``os.<name>`` raise OSError(code) on its ``number``-th call."""
    real: Callable[..., Any] = getattr(os, name)
    calls = [0]

    def fake(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        if calls[0] == number:
            raise OSError(code, os.strerror(code))
        return real(*args, **kwargs)

    monkeypatch.setattr(os, name, fake)


@pytest.mark.parametrize(
    ("function", "number"),
    [
        ("fsync", 1),  # the first file's data
        ("fsync", 3),  # the second file's data, after the first file was complete
        ("link", 2),  # the second file's final name
        ("write", 2),  # midway through writing
    ],
)
def test_failed_write_leaves_the_existing_folder_as_it_was(
    tree: Tree,
    inv: Inventory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    function: str,
    number: int,
) -> None:
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "keep.txt").write_bytes(b"unrelated")
    the_plan = plan(tree, inv, dest, fmt="pem", with_keys=True)
    fail_on_call(monkeypatch, function, number)

    with pytest.raises(WriteFailed, match="No space left on device") as raised:
        write_export(the_plan, None)

    assert "nothing was written" in raised.value.message
    assert sorted(p.name for p in dest.iterdir()) == ["keep.txt"]
    assert (dest / "keep.txt").read_bytes() == b"unrelated"


def test_failed_write_removes_the_folder_it_created(
    tree: Tree, inv: Inventory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dest = tmp_path / "a" / "b"
    the_plan = plan(tree, inv, dest)
    fail_on_call(monkeypatch, "link", 2, errno.EACCES)
    with pytest.raises(WriteFailed, match="Permission denied"):
        write_export(the_plan, PASSWORD)
    assert not (tmp_path / "a").exists()


def test_cancelled_write_keeps_nothing(tree: Tree, inv: Inventory, tmp_path: Path) -> None:
    the_plan = plan(tree, inv, tmp_path / "out")
    asked = [0]

    def cancelled() -> bool:
        asked[0] += 1
        return asked[0] == 2

    with pytest.raises(WriteCancelled):
        write_export(the_plan, PASSWORD, cancelled=cancelled)
    assert not (tmp_path / "out").exists()


# Passwords ----------------------------------------------------------------------------------


def test_password_file_must_be_private(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_bytes(b"s3cret\n")
    secret.chmod(0o644)
    with pytest.raises(PasswordError, match="chmod 600"):
        read_password_file(secret)
    secret.chmod(0o600)
    assert read_password_file(secret) == b"s3cret"
    secret.write_bytes(b"two\r\n\n")
    assert read_password_file(secret) == b"two\r\n"
    with pytest.raises(PasswordError, match="does not exist"):
        read_password_file(tmp_path / "missing")


def test_password_sources_in_order(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_bytes(b"from file")
    secret.chmod(0o600)
    env = {"CERTDECK_PASSWORD": "from env"}
    assert obtain_password(password_file=secret, prompt="", environ=env) == b"from file"
    assert obtain_password(password_file=None, prompt="", environ=env) == b"from env"
    with pytest.raises(NoPassword, match="no terminal"):
        obtain_password(password_file=None, prompt="", environ={}, interactive=False)
    with pytest.raises(PasswordError, match="empty"):
        obtain_password(
            password_file=None, prompt="", environ={"CERTDECK_PASSWORD": ""}, allow_empty=False
        )


def test_password_strength_hint() -> None:
    assert password_strength("changeit").score == 0
    assert password_strength("Tr0ub4dor").score <= 2
    assert password_strength(PASSWORD).score >= 3
    assert password_strength("").label == "very weak"


# Command line --------------------------------------------------------------------------------


@pytest.fixture
def password_file(tmp_path: Path) -> Path:
    path = tmp_path / "export-password"
    path.write_bytes(PASSWORD + b"\n")
    path.chmod(0o600)
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_export_with_password_file_and_yes(
    tree: Tree, tmp_path: Path, password_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "out"
    code, out, err = run(
        capsys,
        "export", *tree.cli, "--at", "2026-11-27",
        "--select", "required", "--format", "p12", "--one-file",
        "--to", str(dest), "--password-file", str(password_file), "--yes",
    )  # fmt: skip
    assert code == 0, err
    assert out.splitlines() == [str(dest / "certdeck-export.p12")]
    assert "Export 3 certificates as PKCS#12 (modern" in err
    assert "Wrote 1 file" in err
    bundle = pkcs12.load_pkcs12((dest / "certdeck-export.p12").read_bytes(), PASSWORD)
    # The required certificates: the one a service uses (with its key) and its issuers.
    assert bundle.cert is not None
    assert bundle.cert.certificate == tree.www.cert
    assert bundle.key is not None
    assert {c.certificate for c in bundle.additional_certs} == {tree.issuing.cert, tree.ca.cert}


def test_cli_export_takes_the_password_from_the_environment(
    tree: Tree,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CERTDECK_PASSWORD", "from the environment")
    dest = tmp_path / "out"
    code, _, err = run(
        capsys,
        "export", *tree.cli, "--select", f"{tree.api.sha256[:10]}",
        "--format", "p12", "--legacy", "--to", str(dest), "--yes",
    )  # fmt: skip
    assert code == 0, err
    assert "legacy: 3DES" in err
    pkcs12.load_pkcs12((dest / "api.example.org.p12").read_bytes(), b"from the environment")


def test_cli_pem_export_needs_no_password(
    tree: Tree, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "out"
    code, out, err = run(
        capsys,
        "export", *tree.cli, "--select", tree.www.sha256, "--format", "pem",
        "--with-keys", "--include-root", "--to", str(dest), "--yes",
    )  # fmt: skip
    assert code == 0, err
    assert "warning: private keys will be written unencrypted" in err
    assert sorted(Path(line).name for line in out.splitlines()) == [
        "www.example.org.key",
        "www.example.org.pem",
    ]
    assert (dest / "www.example.org.pem").read_bytes() == (
        tree.www.pem + tree.issuing.pem + tree.ca.pem
    )


def test_cli_refuses_without_terminal_and_without_yes(
    tree: Tree, tmp_path: Path, password_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "out"
    code, out, err = run(
        capsys,
        "export", *tree.cli, "--select", "all", "--format", "p12",
        "--to", str(dest), "--password-file", str(password_file),
    )  # fmt: skip
    assert code == 2
    assert out == ""
    assert "Export 5 certificates" in err  # the plan is still shown
    assert err.strip().splitlines()[-1] == (
        "certdeck: Usage error: nothing was written: confirmation is needed and there is no "
        "terminal to ask; add --yes to write without asking"
    )
    assert not dest.exists()


def test_cli_refuses_a_password_file_others_can_read(
    tree: Tree, tmp_path: Path, password_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    password_file.chmod(0o640)
    code, _, err = run(
        capsys,
        "export", *tree.cli, "--select", "all", "--format", "p12",
        "--to", str(tmp_path / "out"), "--password-file", str(password_file), "--yes",
    )  # fmt: skip
    assert code == 2
    assert "is open to group or others (mode 0640)" in err.strip().splitlines()[-1]
    assert not (tmp_path / "out").exists()


def test_cli_without_any_password_source_and_no_terminal(
    tree: Tree, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(
        capsys,
        "export", *tree.cli, "--select", "all", "--format", "p12",
        "--to", str(tmp_path / "out"), "--yes",
    )  # fmt: skip
    assert code == 2
    assert "--password-file FILE or set CERTDECK_PASSWORD" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--select", "ffff0000ffff", "--to", "out"],
            "no certificate has the fingerprint ffff0000",
        ),
        (["--select", "all"], "no destination folder"),
    ],
)
def test_cli_usage_errors_are_one_clear_line(
    tree: Tree,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    code, out, err = run(
        capsys,
        "export",
        "--root",
        str(tree.root),
        "--config",
        str(tree.config),
        "--format",
        "pem",
        *args,
    )
    assert code == 2
    assert out == ""
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_cli_has_no_password_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["export", "--select", "all", "--format", "p12", "--password", "x"])
    assert raised.value.code == 2
    assert "unrecognized arguments: --password" in capsys.readouterr().err


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A terminal: password prompts answer from a list, confirmations from ``answer``."""
    answers: list[str] = []

    def fake_getpass(prompt: str = "", stream: Any = None) -> str:
        return answers.pop(0)

    monkeypatch.setattr(core.passwords, "can_prompt", lambda: True)
    monkeypatch.setattr(getpass, "getpass", fake_getpass)
    monkeypatch.delenv("CERTDECK_PASSWORD", raising=False)
    return answers


@pytest.mark.parametrize(("answer", "code"), [("y\n", 0), ("\n", 2), ("no\n", 2)])
def test_cli_asks_the_password_twice_then_for_confirmation(
    tree: Tree,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    terminal: list[str],
    answer: str,
    code: int,
) -> None:
    terminal += ["short", "shirt", "a long passphrase here", "a long passphrase here"]
    monkeypatch.setattr(sys, "stdin", io.StringIO(answer))
    dest = tmp_path / "out"
    result, _, err = run(
        capsys,
        "export", *tree.cli, "--select", tree.www.sha256, "--format", "p12", "--to", str(dest),
    )  # fmt: skip
    assert result == code
    assert "the two entries differ; try again" in err
    assert "password strength: " in err
    assert "Write 1 file? [y/N]" in err
    if code == 0:
        pkcs12.load_pkcs12((dest / "www.example.org.p12").read_bytes(), b"a long passphrase here")
    else:
        assert err.strip().endswith("[y/N] certdeck: Cancelled: nothing was written")
        assert not dest.exists()
    assert not terminal


def test_cli_gives_up_when_the_entries_keep_differing(
    tree: Tree, tmp_path: Path, capsys: pytest.CaptureFixture[str], terminal: list[str]
) -> None:
    terminal += ["a", "b", "c", "d", ""]  # two mismatches, then an empty entry
    code, _, err = run(
        capsys,
        "export", *tree.cli, "--select", "all", "--format", "p12", "--to", str(tmp_path / "o"),
        "--yes",
    )  # fmt: skip
    assert code == 2
    assert "no password was set" in err
    assert not (tmp_path / "o").exists()
    assert not terminal
