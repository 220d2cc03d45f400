"""Import: format detection, PKCS#12 passwords and their three failures, plans, writes, CLI."""

from __future__ import annotations

import errno
import getpass
import os
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cryptography_vectors
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

import core.passwords
from core.demo import DEMO_PASSWORD, PKCS12_PATH, build_demo_tree
from core.importer import (
    ImportFileError,
    NotPkcs12,
    StillLocked,
    UnrecognisedFile,
    WrongPassword,
    import_directory,
    inspect_import,
    open_import,
    plan_import,
    read_import_file,
    write_import,
)
from core.model import Inventory
from core.rootfs import RootFS
from core.settings import ImportSettings, Settings
from core.transfer import WriteFailed
from tests.certgen import NOW, Made, ec_key, make, rsa_key
from tests.unit.test_export import Tree
from tui.cli import main

VECTORS = Path(cryptography_vectors.__file__).parent / "pkcs12"
PASSWORD = b"import me"


def p12(
    leaf: Made,
    *chain: Made,
    password: bytes = PASSWORD,
    key: bool = True,
    legacy: bool = False,
) -> bytes:
    builder = serialization.PrivateFormat.PKCS12.encryption_builder()
    if legacy:
        builder = builder.key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC)
    return pkcs12.serialize_key_and_certificates(
        b"friendly",
        leaf.key if key else None,  # type: ignore[arg-type]
        leaf.cert,
        [c.cert for c in chain] or None,
        builder.build(password),
    )


def key_der(made: Made) -> bytes:
    return made.key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    return Tree(tmp_path / "machine")


@pytest.fixture
def inv(tree: Tree) -> Inventory:
    return tree.scan()


# cryptography's own PKCS#12 vectors ------------------------------------------------------

# Passwords from cryptography's tests (tests/hazmat/primitives/test_pkcs12.py).
NAMED = (
    "name-1", "name-2", "name-3", "name-2-3", "name-all", "name-unicode", "no-name",
)  # fmt: skip
NO_CERT = (
    "no-cert-name-2", "no-cert-name-3", "no-cert-name-all", "no-cert-name-unicode",
    "no-cert-no-name",
)  # fmt: skip
VECTOR_CASES: dict[str, tuple[bytes | None, int, int]] = {
    "cert-aes256cbc-no-key.p12": (b"cryptography", 1, 0),
    "cert-key-aes256cbc.p12": (b"cryptography", 1, 1),
    "cert-none-key-none.p12": (b"cryptography", 1, 1),
    "cert-rc2-key-3des.p12": (b"cryptography", 1, 1),
    "no-cert-key-aes256cbc.p12": (b"cryptography", 0, 1),
    "no-password.p12": (None, 1, 1),
    "java-truststore.p12": (None, 2, 0),
    **{f"{n}-no-pwd.p12": (None, 3, 1) for n in NAMED},
    **{f"{n}-pwd.p12": (b"password", 3, 1) for n in NAMED},
    **{f"{n}-no-pwd.p12": (None, 2, 0) for n in NO_CERT},
    **{f"{n}-pwd.p12": (b"password", 2, 0) for n in NO_CERT},
}


def test_every_vector_file_has_a_case() -> None:
    assert sorted(p.name for p in VECTORS.glob("*.p12")) == sorted(VECTOR_CASES)


@pytest.mark.parametrize("name", sorted(VECTOR_CASES))
def test_vector_opens_with_its_password(name: str) -> None:
    password, certificates, keys = VECTOR_CASES[name]
    data = (VECTORS / name).read_bytes()

    locked = inspect_import(data, name)
    assert locked.locked
    assert locked.format == "pkcs12"
    assert locked.protection[0].startswith("integrity: HMAC-SHA-")

    preview = open_import(data, password, name=name)
    assert not preview.locked
    assert len(preview.certificates) == certificates
    assert len(preview.keys) == keys
    for key in preview.keys:
        assert key.material is not None
        if certificates:  # the key belongs to the file's own certificate (the test CA)
            assert key.matches == preview.certificates[0].sha256


@pytest.mark.parametrize("name", sorted(VECTOR_CASES))
def test_vector_rejects_a_wrong_password(name: str) -> None:
    data = (VECTORS / name).read_bytes()
    with pytest.raises(WrongPassword, match="The password is wrong for"):
        open_import(data, b"not the password", name=name)


def test_vector_with_passwords_rejects_the_empty_one() -> None:
    data = (VECTORS / "name-all-pwd.p12").read_bytes()
    for password in (None, b""):
        with pytest.raises(WrongPassword):
            open_import(data, password, name="name-all-pwd.p12")


def test_vector_friendly_names_and_chain_order() -> None:
    preview = open_import((VECTORS / "name-all-pwd.p12").read_bytes(), b"password")
    names = [c.friendly_name for c in preview.certificates]
    assert sorted(n or "" for n in names) == ["name", "name2", "name3"]
    assert "\nPrivate key: EC" in "\n".join(preview.describe())


def test_rc2_without_the_legacy_provider_is_unsupported_not_a_wrong_password() -> None:
    # CRYPTOGRAPHY_OPENSSL_NO_LEGACY keeps OpenSSL 3's legacy provider unloaded, as on
    # systems whose OpenSSL has none: RC2-40 then cannot be decrypted.
    code = textwrap.dedent(
        """
        import sys
        from core.importer import UnsupportedAlgorithm, WrongPassword, open_import
        data = open(sys.argv[1], "rb").read()
        for password in (b"cryptography", b"wrong"):
            try:
                open_import(data, password, name="old.p12")
            except (UnsupportedAlgorithm, WrongPassword) as exc:
                print(type(exc).__name__, exc.message)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(VECTORS / "cert-rc2-key-3des.p12")],
        capture_output=True,
        text=True,
        env={**os.environ, "CRYPTOGRAPHY_OPENSSL_NO_LEGACY": "1"},
        cwd=Path(__file__).parents[2],
        check=True,
    )
    right, wrong = result.stdout.splitlines()
    assert right.startswith("UnsupportedAlgorithm The password is right, but old.p12 is encrypted")
    assert "RC2-40" in right
    assert "openssl pkcs12 -legacy" in right
    assert wrong.startswith("WrongPassword The password is wrong for old.p12")


# Format detection and damaged files ------------------------------------------------------


def test_truncated_pkcs12_is_reported_as_damaged() -> None:
    data = (VECTORS / "cert-key-aes256cbc.p12").read_bytes()
    with pytest.raises(NotPkcs12, match="starts like a PKCS#12 file but cannot be read"):
        inspect_import(data[:-40], "cut.p12")
    with pytest.raises(NotPkcs12, match="damaged or truncated"):
        open_import(data[:-40], b"cryptography", name="cut.p12")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x00\x01garbage\xff" * 10, "neither PEM text nor a DER certificate"),
        (b"just some notes\n", "holds no certificate or private key"),
        (b"", "empty file"),
    ],
)
def test_garbage_is_not_a_certificate_file(data: bytes, message: str) -> None:
    with pytest.raises(UnrecognisedFile, match=message):
        inspect_import(data, "thing.p12")
    with pytest.raises(NotPkcs12):  # the PKCS#12 error covers it for a password dialog
        open_import(data, b"pw", name="thing.p12")


def test_pem_chain_in_any_order_comes_out_leaf_first(tree: Tree) -> None:
    data = tree.ca.pem + tree.www.key_pem + tree.issuing.pem + tree.www.pem
    preview = inspect_import(data, "bundle.pem")
    assert preview.format == "pem"
    assert not preview.locked
    assert [c.sha256 for c in preview.certificates] == [
        tree.www.sha256,
        tree.issuing.sha256,
        tree.ca.sha256,
    ]
    [key] = preview.keys
    assert key.matches == tree.www.sha256
    assert preview.chains == ((tree.www.sha256, tree.issuing.sha256, tree.ca.sha256),)


def test_der_and_pkcs7_certificates(tree: Tree) -> None:
    assert inspect_import(tree.www.der, "www.der").format == "der"
    from cryptography.hazmat.primitives.serialization import pkcs7

    bundle = pkcs7.serialize_certificates(
        [tree.www.cert, tree.issuing.cert], serialization.Encoding.DER
    )
    preview = inspect_import(bundle, "chain.p7b")
    assert preview.format == "pkcs7"
    assert [c.sha256 for c in preview.certificates] == [tree.www.sha256, tree.issuing.sha256]


def test_encrypted_pem_key_needs_its_password(tree: Tree) -> None:
    encrypted = tree.www.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"key pw"),
    )
    data = tree.www.pem + encrypted
    preview = inspect_import(data, "www.pem")
    assert preview.locked
    assert preview.lock_reason == "the private key in the file is encrypted"
    with pytest.raises(StillLocked):
        plan_import(preview, Path("/nonexistent"))
    for wrong in (b"nope", b"", None):
        with pytest.raises(WrongPassword, match="wrong for the encrypted private key"):
            open_import(data, wrong, name="www.pem")
    opened = open_import(data, b"key pw", name="www.pem")
    assert opened.keys[0].matches == tree.www.sha256


# Plans and writes -------------------------------------------------------------------------


def test_import_writes_chain_pem_and_private_key(tree: Tree, tmp_path: Path) -> None:
    data = p12(tree.api, tree.issuing, tree.ca)
    preview = open_import(data, PASSWORD, name="api.p12")
    dest = tmp_path / "new" / "imported"

    the_plan = plan_import(preview, dest)
    assert [f.path.name for f in the_plan.files] == ["api.example.org.pem", "api.example.org.key"]
    assert the_plan.create_destination
    result = write_import(the_plan)

    assert (
        dest / "api.example.org.pem"
    ).read_bytes() == tree.api.pem + tree.issuing.pem + tree.ca.pem
    key = serialization.load_pem_private_key((dest / "api.example.org.key").read_bytes(), None)
    assert key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ) == key_der(tree.api)
    assert stat.S_IMODE((dest / "api.example.org.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((dest / "api.example.org.pem").stat().st_mode) == 0o644
    assert stat.S_IMODE(dest.stat().st_mode) == 0o700
    assert result.imported == (tree.api.sha256, tree.issuing.sha256, tree.ca.sha256)
    assert "Wrote 2 files" in result.describe()[0]


def test_key_can_be_re_encrypted(tree: Tree, tmp_path: Path) -> None:
    preview = open_import(p12(tree.www, legacy=True), PASSWORD, name="www.pfx")
    result = write_import(plan_import(preview, tmp_path, reencrypt_password=b"new secret"))
    key_file = tmp_path / "www.example.org.key"
    assert key_file.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    key = serialization.load_pem_private_key(key_file.read_bytes(), b"new secret")
    assert key.public_key() == tree.www.cert.public_key()
    assert [f.key for f in result.files] == [False, True]


def test_already_present_certificates_and_keys_are_skipped(
    tree: Tree, inv: Inventory, tmp_path: Path
) -> None:
    # www, its issuer and its key are on the machine already: nothing to write.
    preview = open_import(p12(tree.www, tree.issuing), PASSWORD, name="www.p12", inventory=inv)
    assert [c.present for c in preview.certificates] == [
        ("/etc/ssl/certs/www.pem",),
        ("/etc/ssl/certs/issuing.pem", "/etc/ssl/certs/www.pem"),
    ]
    assert preview.keys[0].present == ("/etc/ssl/private/www.key",)
    the_plan = plan_import(preview, tmp_path / "dest")
    assert the_plan.nothing_to_write
    assert any("www.example.org is already on this machine" in n for n in the_plan.notes)
    assert any("private key (EC 256 bits (secp256r1)) is already" in n for n in the_plan.notes)

    # A new leaf under a known issuer: only the new certificate (and key) is written.
    fresh = make("new.example.org", issuer=tree.issuing, key=ec_key(901))
    preview = open_import(p12(fresh, tree.issuing), PASSWORD, name="new.p12", inventory=inv)
    the_plan = plan_import(preview, tmp_path / "dest")
    assert [(e.name, e.role) for e in the_plan.files[0].certificates] == [
        ("new.example.org", "certificate")
    ]
    assert any("Test Issuing CA is already on this machine" in n for n in the_plan.notes)
    assert the_plan.imported == (fresh.sha256,)


def test_existing_files_are_never_overwritten(tree: Tree, tmp_path: Path) -> None:
    (tmp_path / "www.example.org.pem").write_bytes(b"mine")
    preview = open_import(p12(tree.www), PASSWORD)
    the_plan = plan_import(preview, tmp_path)
    assert [f.path.name for f in the_plan.files] == [
        "www.example.org-1.pem",
        "www.example.org-1.key",
    ]
    assert "already exists and is left untouched" in the_plan.files[0].notes[0]
    write_import(the_plan)
    assert (tmp_path / "www.example.org.pem").read_bytes() == b"mine"


def test_hostile_certificate_name_stays_inside_the_destination(tmp_path: Path) -> None:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "../../../etc/\x1b[2Jcron.d")])
    hostile = make("hostile", subject=subject, key=rsa_key(2048))
    preview = open_import(p12(hostile), PASSWORD, name="x.p12")
    the_plan = plan_import(preview, tmp_path / "dest")
    assert [f.path.parent for f in the_plan.files] == [tmp_path / "dest"] * 2
    assert the_plan.files[0].path.name == "etc_2Jcron.d.pem"
    assert "\x1b" not in "\n".join(preview.describe() + the_plan.describe())


def test_failed_write_leaves_nothing_behind(
    tree: Tree, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dest = tmp_path / "dest"
    the_plan = plan_import(open_import(p12(tree.www, tree.issuing), PASSWORD), dest)
    real = os.fsync
    calls = [0]

    def failing_fsync(fd: int) -> None:
        calls[0] += 1
        if calls[0] == 3:  # the key file, after the certificate file was complete
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(fd)

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(
        WriteFailed, match=r"could not write .*www\.example\.org\.key: No space left"
    ):
        write_import(the_plan)
    assert not dest.exists()


def test_import_directory_defaults(tmp_path: Path) -> None:
    root = RootFS(tmp_path)
    assert import_directory(Settings(), root, euid=0) == tmp_path / "etc/ssl/certdeck"
    data_home = Path(os.environ["XDG_DATA_HOME"])
    assert import_directory(Settings(), root, euid=1000) == data_home / "certdeck" / "imported"
    chosen = Settings(import_=ImportSettings(directory="/srv/tls"))
    assert import_directory(chosen, root, euid=1000) == tmp_path / "srv/tls"


def test_read_import_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ImportFileError, match="does not exist"):
        read_import_file(tmp_path / "missing.p12")
    with pytest.raises(ImportFileError, match="is a folder"):
        read_import_file(tmp_path)
    big = tmp_path / "big.pem"
    big.write_bytes(b"x" * 2048)
    with pytest.raises(ImportFileError, match="larger than"):
        read_import_file(big, max_size=1024)


def test_demo_pkcs12_opens_with_the_demo_password(tmp_path: Path) -> None:
    demo = build_demo_tree(tmp_path / "demo", now=NOW)
    data = read_import_file(Path(RootFS(demo.root).host(PKCS12_PATH)))
    with pytest.raises(WrongPassword):
        open_import(data, b"guess", name="legacy-app.p12")
    preview = open_import(data, DEMO_PASSWORD.encode(), name="legacy-app.p12")
    assert preview.certificates[0].friendly_name == "legacy-app"
    assert preview.keys[0].matches == preview.certificates[0].sha256


# Command line --------------------------------------------------------------------------------


@pytest.fixture
def shop(tree: Tree) -> Made:
    """A certificate the machine does not have yet, from an issuer it has."""
    return make("shop.example.org", issuer=tree.issuing, key=ec_key(902))


@pytest.fixture
def source(tree: Tree, shop: Made, tmp_path: Path) -> Path:
    """A PKCS#12 file with the new certificate, its key and its issuer."""
    path = tmp_path / "shop.p12"
    path.write_bytes(p12(shop, tree.issuing))
    return path


@pytest.fixture
def password_file(tmp_path: Path) -> Path:
    path = tmp_path / "import-password"
    path.write_bytes(PASSWORD + b"\n")
    path.chmod(0o600)
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_import_with_password_file_and_yes(
    tree: Tree,
    shop: Made,
    source: Path,
    password_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    dest = tmp_path / "dest"
    code, out, err = run(
        capsys, "import", str(source), *tree.cli, "--to", str(dest),
        "--password-file", str(password_file), "--yes",
    )  # fmt: skip
    assert code == 0, err
    assert out.splitlines() == [
        str(dest / "shop.example.org.pem"),
        str(dest / "shop.example.org.key"),
    ]
    assert "shop.p12: PKCS#12" in err
    assert "Test Issuing CA is already on this machine at /etc/ssl/certs/issuing.pem" in err
    assert (dest / "shop.example.org.pem").read_bytes() == shop.pem


def test_cli_import_with_a_wrong_password_file(
    tree: Tree, source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = tmp_path / "wrong"
    wrong.write_bytes(b"nope")
    wrong.chmod(0o600)
    code, out, err = run(
        capsys, "import", str(source), *tree.cli, "--to", str(tmp_path / "dest"),
        "--password-file", str(wrong), "--yes",
    )  # fmt: skip
    assert code == 2
    assert out == ""
    assert err.startswith("certdeck: Wrong password: The password is wrong for shop.p12.")
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "dest").exists()


def test_cli_import_needs_a_password_source_without_terminal(
    tree: Tree, source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "import", str(source), *tree.cli, "--to", str(tmp_path / "d"))
    assert code == 2
    assert "the PKCS#12 file is password-protected: a password is needed" in err


def test_cli_import_refuses_without_terminal_and_without_yes(
    tree: Tree, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pem = tmp_path / "new.pem"
    pem.write_bytes(make("new.example.org", issuer=tree.issuing).pem)
    code, out, err = run(capsys, "import", str(pem), *tree.cli, "--to", str(tmp_path / "dest"))
    assert code == 2
    assert out == ""
    assert "new.example.org.pem" in err  # the plan is shown first
    assert "add --yes to write without asking" in err.strip().splitlines()[-1]
    assert not (tmp_path / "dest").exists()


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """A terminal whose password prompts answer from a list; the prompts are recorded."""
    answers: list[str] = []
    prompts: list[str] = []

    def fake_getpass(prompt: str = "", stream: Any = None) -> str:
        prompts.append(prompt)
        return answers.pop(0)

    monkeypatch.setattr(core.passwords, "can_prompt", lambda: True)
    monkeypatch.setattr(getpass, "getpass", fake_getpass)
    monkeypatch.delenv("CERTDECK_PASSWORD", raising=False)
    yield answers
    assert not answers, "not every prepared answer was asked for"


def test_cli_import_three_tries_at_the_prompt(
    tree: Tree,
    source: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    terminal: list[str],
) -> None:
    terminal += ["first", "second", "third"]
    code, out, err = run(capsys, "import", str(source), *tree.cli, "--to", str(tmp_path / "d"))
    assert code == 2
    assert out == ""
    assert err.count("The password is wrong for shop.p12") == 3
    assert err.strip().splitlines()[-1].endswith("(tried 3 times; nothing was imported)")


def test_cli_import_right_password_on_the_second_try(
    tree: Tree,
    source: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    terminal: list[str],
) -> None:
    terminal += ["typo", PASSWORD.decode()]
    dest = tmp_path / "d"
    code, _, err = run(capsys, "import", str(source), *tree.cli, "--to", str(dest), "--yes")
    assert code == 0, err
    assert err.count("The password is wrong") == 1
    assert sorted(p.name for p in dest.iterdir()) == [
        "shop.example.org.key",
        "shop.example.org.pem",
    ]


def test_cli_import_encrypts_the_key_with_a_new_password(
    tree: Tree,
    shop: Made,
    source: Path,
    password_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    new = tmp_path / "new-password"
    new.write_bytes(b"brand new\n")
    new.chmod(0o600)
    dest = tmp_path / "d"
    code, _, err = run(
        capsys, "import", str(source), *tree.cli, "--to", str(dest), "--password-file",
        str(password_file), "--encrypt-key", "--key-password-file", str(new), "--yes",
    )  # fmt: skip
    assert code == 0, err
    key = (dest / "shop.example.org.key").read_bytes()
    assert serialization.load_pem_private_key(key, b"brand new").public_key() == (
        shop.cert.public_key()
    )


def test_cli_import_of_something_already_present_writes_nothing(
    tree: Tree, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "d"
    code, out, err = run(
        capsys,
        "import",
        str(tree.root / "etc/ssl/certs/issuing.pem"),
        *tree.cli,
        "--to",
        str(dest),
    )
    assert code == 0, err
    assert out == ""
    assert "Nothing to write" in err
    assert not dest.exists()
