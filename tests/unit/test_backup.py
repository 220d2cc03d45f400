"""Backups: contents, encrypted keys readable by openssl, verification, damage and retention."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import tarfile
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

import core.backup
from core.backup import (
    BackupDamaged,
    BackupError,
    BackupRun,
    NotABackup,
    WrongBackupPassword,
    backup_directory,
    backup_password_file,
    backup_run_path,
    last_backup_run,
    list_backups,
    plan_backup,
    read_backup,
    record_backup_run,
    write_backup,
)
from core.passwords import PasswordError
from core.rootfs import RootFS
from core.settings import BackupSettings, Settings, load_settings
from tests.certgen import NOW, make, rsa_key, write
from tests.maintenance_helpers import Demo, demo_tree, password_file, scan_tree

PASSWORD = b"correct horse battery staple"
LE = "/etc/letsencrypt/archive/blog.demo.example"


@pytest.fixture(autouse=True)
def _isolated_state(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Records of backup runs go to the user's state folder when not running as root."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("state")))


@pytest.fixture
def demo(tmp_path: Path) -> Demo:
    return demo_tree(tmp_path)


def _backup(
    demo: Demo, dest: Path, *, now: datetime = NOW, keep: int = 10
) -> core.backup.BackupResult:
    settings = replace(demo.settings, backup=BackupSettings(keep=keep))
    plan = plan_backup(
        demo.inventory,
        root=demo.fs,
        settings=settings,
        settings_path=demo.tree.settings_path,
        now=now,
        destination=dest,
    )
    return write_backup(plan, PASSWORD)


def test_the_plan_lists_every_required_file_and_key(demo: Demo, tmp_path: Path) -> None:
    plan = plan_backup(
        demo.inventory,
        root=demo.fs,
        settings=demo.settings,
        settings_path=demo.tree.settings_path,
        now=NOW,
        destination=tmp_path / "backups",
    )
    paths = {i.path: i for i in plan.items}
    for cert in demo.tree.certs:
        if cert.required:
            holders = {loc.path for loc in demo.inventory.by_sha256()[cert.sha256].locations}
            assert holders <= set(paths), cert.label
    assert paths["/etc/nginx/ssl/www.key"].keys == 1
    assert paths[f"{LE}/privkey3.pem"].keys == 1
    assert paths["/etc/letsencrypt/live/blog.demo.example/privkey.pem"].kind == "symlink"
    assert paths["/etc/ssl/certs/ca-certificates.crt"].distribution
    # Obsolete certificates are not required: their own files stay out.
    assert f"{LE}/cert1.pem" not in paths
    assert f"{LE}/privkey1.pem" not in paths
    assert plan.settings_file == demo.tree.settings_path
    assert plan.archive.name == "certdeck-backup-demo-server-20261127-120000.tar"
    assert plan.create_destination
    text = "\n".join(plan.describe())
    assert "PKCS#8, PBES2: AES-256-CBC with PBKDF2-HMAC-SHA256" in text
    assert "settings: /etc/certdeck/settings.toml" in text


def test_backup_is_verified_and_readable_with_tar_and_openssl(demo: Demo, tmp_path: Path) -> None:
    result = _backup(demo, tmp_path / "backups")
    archive = result.archive
    assert stat.S_IMODE(os.stat(archive).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(archive.parent).st_mode) == 0o700
    assert result.keys == 11
    assert result.verified.exact == result.files
    data = archive.read_bytes()
    for label in (b"PRIVATE KEY-----", b"RSA PRIVATE KEY", b"EC PRIVATE KEY"):
        assert b"-----BEGIN " + label not in data  # no key in the clear, anywhere

    out = tmp_path / "unpacked"
    out.mkdir()
    subprocess.run(
        ["tar", "--warning=no-timestamp", "-xf", str(archive), "-C", str(out)], check=True
    )
    (top,) = out.iterdir()
    assert top.name == "certdeck-backup-demo-server-20261127-120000"
    manifest = json.loads((top / "manifest.json").read_text())
    assert manifest["host"] == "demo-server"
    assert manifest["created"] == "2026-11-27T12:00:00Z"
    assert manifest["certdeck_version"] == core.__version__
    files = {f["path"]: f for f in manifest["files"]}
    www = files["/etc/nginx/ssl/www.crt"]
    assert www["mode"] == "0644"
    assert (
        www["sha256"]
        == hashlib.sha256(demo.host("/etc/nginx/ssl/www.crt").read_bytes()).hexdigest()
    )
    assert {c["sha256"] for c in www["certificates"]} >= {demo.sha("nginx-www")}
    assert www["consumers"] == [
        {"consumer": "nginx", "config": "/etc/nginx/sites-enabled/www", "line": 14}
    ]
    assert (top / "files/etc/nginx/ssl/www.crt").read_bytes() == demo.host(
        "/etc/nginx/ssl/www.crt"
    ).read_bytes()
    assert (top / "settings/settings.toml").read_bytes() == demo.tree.settings_path.read_bytes()

    secret = password_file(tmp_path)
    for key in ("/etc/nginx/ssl/www.key", "/etc/dovecot/private/dovecot.key"):
        member = top / f"keys{key}.encrypted.pem"
        assert member.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
        opened = subprocess.run(
            ["openssl", "pkey", "-in", str(member), "-passin", f"file:{secret}"],
            capture_output=True,
            check=True,
        )
        original = serialization.load_pem_private_key(demo.host(key).read_bytes(), None)
        by_hand = serialization.load_pem_private_key(opened.stdout, None)
        assert by_hand.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ) == original.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    wrong = subprocess.run(
        ["openssl", "pkey", "-in", str(top / "keys/etc/nginx/ssl/www.key.encrypted.pem"),
         "-passin", "pass:wrong"],
        capture_output=True,
        check=False,
    )  # fmt: skip
    assert wrong.returncode != 0


def test_reading_a_backup_reproduces_every_file_exactly(demo: Demo, tmp_path: Path) -> None:
    result = _backup(demo, tmp_path / "backups")
    contents = read_backup(result.archive, PASSWORD)
    assert contents.host == "demo-server"
    assert contents.settings == demo.tree.settings_path.read_bytes()
    for item in contents.files:
        here = demo.host(item.raw_path)
        st = os.lstat(here)
        assert stat.S_IMODE(st.st_mode) == item.mode or item.kind == "symlink"
        if item.kind == "symlink":
            assert os.readlink(here) == item.link_target
            continue
        assert item.exact
        assert item.data == here.read_bytes(), item.path
    combined = next(f for f in contents.files if f.path == "/etc/haproxy/certs/lb.demo.example.pem")
    assert combined.keys == 1
    assert len(combined.certificates) == 2
    assert "OK: " in contents.describe()[1]


def test_a_wrong_password_fails_verification_clearly(demo: Demo, tmp_path: Path) -> None:
    result = _backup(demo, tmp_path / "backups")
    with pytest.raises(WrongBackupPassword, match="the password does not open the private keys"):
        read_backup(result.archive, b"not the password")


def test_a_changed_byte_names_the_damaged_member(demo: Demo, tmp_path: Path) -> None:
    result = _backup(demo, tmp_path / "backups")
    data = bytearray(result.archive.read_bytes())
    with tarfile.open(result.archive) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("files/etc/nginx/ssl/www.crt"))
    data[member.offset_data + 100] ^= 0x01
    damaged = tmp_path / "damaged.tar"
    damaged.write_bytes(bytes(data))
    with pytest.raises(BackupDamaged, match=r"files/etc/nginx/ssl/www\.crt is damaged"):
        read_backup(damaged, PASSWORD)
    with tarfile.open(result.archive) as tar:
        key = next(
            m
            for m in tar.getmembers()
            if m.name.endswith("keys/etc/nginx/ssl/www.key.encrypted.pem")
        )
    data = bytearray(result.archive.read_bytes())
    data[key.offset_data + 200] ^= 0x01
    damaged.write_bytes(bytes(data))
    with pytest.raises(BackupDamaged, match=r"www\.key\.encrypted\.pem is damaged"):
        read_backup(damaged, PASSWORD)


def test_not_a_backup(tmp_path: Path) -> None:
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"hello" * 100)
    with pytest.raises(NotABackup, match="not a tar archive"):
        read_backup(junk, PASSWORD)
    other = tmp_path / "other.tar"
    with tarfile.open(other, "w") as tar:
        tar.add(junk, arcname="junk.tar")
    with pytest.raises(NotABackup, match="not a certdeck backup"):
        read_backup(other, PASSWORD)


def test_a_backup_that_fails_verification_is_removed(
    demo: Demo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(path: Path, password: bytes) -> object:
        raise BackupDamaged("the member x is damaged")

    monkeypatch.setattr(core.backup, "read_backup", broken)
    with pytest.raises(BackupError, match="failed verification and was removed"):
        _backup(demo, tmp_path / "backups")
    assert list(tmp_path.joinpath("backups").iterdir()) == []


def test_an_empty_password_is_refused(demo: Demo, tmp_path: Path) -> None:
    plan = plan_backup(
        demo.inventory, root=demo.fs, settings=demo.settings, settings_path=None, now=NOW,
        destination=tmp_path / "b",
    )  # fmt: skip
    with pytest.raises(PasswordError, match="at least one character"):
        write_backup(plan, b"")
    assert not (tmp_path / "b").exists()


def test_retention_keeps_the_newest_backups_of_this_host(demo: Demo, tmp_path: Path) -> None:
    dest = tmp_path / "backups"
    dest.mkdir()
    (dest / "certdeck-backup-other-host-20200101-000000.tar").write_bytes(b"theirs")
    (dest / "notes.txt").write_text("mine")
    names = []
    for day in (3, 2, 1):
        result = _backup(demo, dest, now=NOW - timedelta(days=day), keep=2)
        names.append(result.archive.name)
    assert result.removed == (names[0],)
    left = sorted(p.name for p in dest.iterdir())
    assert left == sorted(
        [names[1], names[2], "certdeck-backup-other-host-20200101-000000.tar", "notes.txt"]
    )
    assert [b.path.name for b in list_backups(dest, host="demo-server")] == [names[2], names[1]]
    # The plan says what retention will remove before anything is written.
    settings = replace(demo.settings, backup=BackupSettings(keep=1))
    plan = plan_backup(
        demo.inventory, root=demo.fs, settings=settings, settings_path=None, now=NOW,
        destination=dest,
    )  # fmt: skip
    assert [p.name for p in plan.retention] == [names[2], names[1]]
    assert "removed afterwards:" in "\n".join(plan.describe())


def test_two_backups_in_the_same_second_get_two_names(demo: Demo, tmp_path: Path) -> None:
    first = _backup(demo, tmp_path / "b")
    second = _backup(demo, tmp_path / "b")
    assert first.archive != second.archive
    assert second.archive.name == "certdeck-backup-demo-server-20261127-120000-2.tar"


def _app_tree(tmp_path: Path, files: dict[str, tuple[bytes, int]]) -> tuple[Path, Settings, Path]:
    root = tmp_path / "root"
    for path, (data, mode) in files.items():
        write(root, path, data, mode=mode)
    listed = ", ".join(f'"{p}"' for p in files)
    config = write(
        root,
        "/etc/certdeck/settings.toml",
        f'[[consumers]]\nname = "app"\nfiles = [{listed}]\n'.encode(),
        mode=0o600,
    )
    return root, load_settings(config), config


def test_unusual_key_encodings_come_back_exactly(tmp_path: Path) -> None:
    rsa = rsa_key(2048)
    cert = make("rsa.example", key=rsa)
    pkcs1 = rsa.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    combined = (b"# app bundle\n" + cert.pem + pkcs1).replace(b"\n", b"\r\n")
    ed = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    der_key = ed.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    locked = rsa.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"its own"),
    )
    root, settings, config = _app_tree(
        tmp_path,
        {
            "/opt/app/combined.pem": (combined, 0o600),
            "/opt/app/ed25519.der": (der_key, 0o400),
            "/opt/app/locked.key": (locked, 0o600),
        },
    )
    inventory = scan_tree(root, settings, config)
    plan = plan_backup(
        inventory, root=RootFS(root), settings=settings, settings_path=config, now=NOW,
        destination=tmp_path / "b",
    )  # fmt: skip
    result = write_backup(plan, PASSWORD)
    assert result.keys == 2  # the locked key is already encrypted: stored as it is
    contents = read_backup(result.archive, PASSWORD)
    by = {f.path: f for f in contents.files}
    assert by["/opt/app/combined.pem"].data == combined
    assert by["/opt/app/combined.pem"].exact
    assert by["/opt/app/ed25519.der"].data == der_key
    assert by["/opt/app/ed25519.der"].mode == 0o400
    assert by["/opt/app/locked.key"].data == locked
    raw = result.archive.read_bytes()
    assert b"RSA PRIVATE KEY" not in raw
    assert der_key not in raw


def test_where_backups_and_passwords_live(tmp_path: Path) -> None:
    fs = RootFS(tmp_path)
    settings = Settings()
    assert backup_directory(settings, fs, euid=0) == tmp_path / "var/backups/certdeck"
    data = Path(os.environ["XDG_DATA_HOME"])
    assert backup_directory(settings, fs, euid=1000) == data / "certdeck/backups"
    chosen = Settings(backup=BackupSettings(directory="/srv/backups", password_file="/etc/pw"))
    assert backup_directory(chosen, fs, euid=1000) == tmp_path / "srv/backups"
    assert backup_password_file(chosen, fs) == tmp_path / "etc/pw"
    assert backup_password_file(settings, fs) is None


def test_the_last_run_is_recorded(tmp_path: Path) -> None:
    fs = RootFS(tmp_path)
    path = backup_run_path(fs, euid=0)
    assert path == tmp_path / "var/lib/certdeck/last-backup.json"
    assert last_backup_run(path) is None
    run = BackupRun(NOW, False, "the password file is open to others", files=0)
    record_backup_run(run, path)
    assert last_backup_run(path) == run
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert "FAILED" in run.describe()
    other = backup_run_path(RootFS(tmp_path / "x"), euid=1000)
    assert other.name.startswith("last-backup-")
    assert other != backup_run_path(RootFS("/"), euid=1000)
