"""LocalFS maps machine paths under a root and never leaves it; MemoryFS behaves alike."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from core.consumers import ConfigFS, LocalFS, MemoryFS


def _write(root: Path, path: str, text: str | bytes = "") -> Path:
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        target.write_bytes(text)
    else:
        target.write_text(text)
    return target


def _symlink(root: Path, path: str, target: str) -> None:
    link = root / path.lstrip("/")
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    machine = tmp_path / "machine"
    machine.mkdir()
    # A file next to the root that no machine path may reach.
    (tmp_path / "outside.txt").write_text("secret")
    return machine


def test_absolute_symlink_resolves_under_the_root(root: Path) -> None:
    _write(root, "/etc/nginx/sites-available/www", "server {}")
    _symlink(root, "/etc/nginx/sites-enabled/www", "/etc/nginx/sites-available/www")
    fs = LocalFS(root)

    assert fs.read_text("/etc/nginx/sites-enabled/www") == "server {}"
    assert fs.is_file("/etc/nginx/sites-enabled/www")
    assert fs.resolve("/etc/nginx/sites-enabled/www") == (
        root.resolve() / "etc/nginx/sites-available/www"
    )


def test_absolute_symlink_to_a_folder_resolves_under_the_root(root: Path) -> None:
    _write(root, "/srv/certs/site.pem", "pem")
    _symlink(root, "/etc/ssl/live", "/srv/certs")
    fs = LocalFS(root)

    assert fs.is_dir("/etc/ssl/live")
    assert fs.list_dir("/etc/ssl/live") == ["/etc/ssl/live/site.pem"]
    assert fs.read_text("/etc/ssl/live/site.pem") == "pem"


def test_dotdot_in_a_path_stops_at_the_root(root: Path) -> None:
    fs = LocalFS(root)

    with pytest.raises(FileNotFoundError):
        fs.read_text("/../outside.txt")
    assert not fs.is_file("/../../outside.txt")
    assert fs.resolve("/../../outside.txt") == root.resolve() / "outside.txt"


def test_relative_symlink_climbing_out_stays_under_the_root(root: Path) -> None:
    _symlink(root, "/etc/escape", "../../../../outside.txt")
    _write(root, "/outside.txt", "inside the machine")
    fs = LocalFS(root)

    assert fs.read_text("/etc/escape") == "inside the machine"


def test_absolute_symlink_to_a_host_path_stays_under_the_root(root: Path) -> None:
    outside = root.parent / "outside.txt"
    _symlink(root, "/etc/escape", str(outside))
    fs = LocalFS(root)

    assert not fs.is_file("/etc/escape")
    with pytest.raises(FileNotFoundError) as raised:
        fs.read_text("/etc/escape")
    assert raised.value.filename == "/etc/escape"


def test_symlink_loop_is_an_error_not_a_hang(root: Path) -> None:
    _symlink(root, "/etc/a", "/etc/b")
    _symlink(root, "/etc/b", "/etc/a")
    fs = LocalFS(root)

    with pytest.raises(OSError, match="symbolic links") as raised:
        fs.read_text("/etc/a")
    assert raised.value.errno == errno.ELOOP
    assert not fs.is_file("/etc/a")
    assert not fs.is_dir("/etc/a")


def test_fifo_is_refused_without_blocking(root: Path) -> None:
    (root / "etc").mkdir()
    os.mkfifo(root / "etc" / "pipe")
    fs = LocalFS(root)

    with pytest.raises(OSError, match="not a regular file"):
        fs.read_text("/etc/pipe")


def test_folder_and_oversized_file_are_refused(root: Path) -> None:
    _write(root, "/etc/nginx/conf.d/a.conf")
    with (root / "etc/huge.conf").open("wb") as huge:
        huge.truncate(9 * 1024 * 1024)
    fs = LocalFS(root)

    with pytest.raises(IsADirectoryError):
        fs.read_text("/etc/nginx/conf.d")
    with pytest.raises(OSError, match="larger than 8 MiB") as raised:
        fs.read_text("/etc/huge.conf")
    assert raised.value.errno == errno.EFBIG


def test_undecodable_bytes_are_replaced(root: Path) -> None:
    _write(root, "/etc/x.conf", b"ssl_cert \xff\xfe;\n")
    assert LocalFS(root).read_text("/etc/x.conf") == "ssl_cert \ufffd\ufffd;\n"


def test_glob_is_sorted_skips_hidden_files_and_keeps_machine_paths(root: Path) -> None:
    for name in ("b.conf", "a.conf", ".hidden.conf", "c.conf.disabled"):
        _write(root, f"/etc/nginx/conf.d/{name}")
    _write(root, "/srv/site/x.conf")
    _symlink(root, "/etc/nginx/sites-enabled", "/srv/site")
    fs = LocalFS(root)

    assert fs.glob("/etc/nginx/conf.d/*.conf") == [
        "/etc/nginx/conf.d/a.conf",
        "/etc/nginx/conf.d/b.conf",
    ]
    assert fs.glob("/etc/nginx/conf.d/.*.conf") == ["/etc/nginx/conf.d/.hidden.conf"]
    assert fs.glob("/etc/*/sites-enabled/*") == ["/etc/nginx/sites-enabled/x.conf"]
    assert fs.glob("/etc/nginx/nothing/*") == []


def _local(root: Path, files: dict[str, str]) -> ConfigFS:
    for path, text in files.items():
        _write(root, path, text)
    return LocalFS(root)


def _memory(root: Path, files: dict[str, str]) -> ConfigFS:
    return MemoryFS(files)


@pytest.mark.parametrize("make", [_local, _memory], ids=["local", "memory"])
def test_both_implementations_agree(
    root: Path, make: Callable[[Path, dict[str, str]], ConfigFS]
) -> None:
    fs = make(root, {"/etc/a/one.conf": "1", "/etc/a/sub/two.conf": "2", "/etc/b.conf": "b"})

    assert fs.read_text("/etc/a/sub/../one.conf") == "1"
    assert fs.is_file("/etc/a/one.conf")
    assert not fs.is_file("/etc/a")
    assert fs.is_dir("/etc/a/sub")
    assert not fs.is_dir("/etc/b.conf")
    assert fs.list_dir("/etc/a") == ["/etc/a/one.conf", "/etc/a/sub"]
    assert fs.glob("/etc/*/*.conf") == ["/etc/a/one.conf"]
    assert fs.glob("/etc/a/s?b/[t]*") == ["/etc/a/sub/two.conf"]
    with pytest.raises(FileNotFoundError):
        fs.read_text("/etc/missing.conf")
    with pytest.raises(IsADirectoryError):
        fs.read_text("/etc/a")
    with pytest.raises(OSError, match=r"Not a directory|No such file"):
        fs.list_dir("/etc/b.conf")


def test_memory_fs_raises_the_error_given_for_a_file() -> None:
    fs = MemoryFS({"/etc/secret.conf": PermissionError(errno.EACCES, "Permission denied")})

    assert fs.is_file("/etc/secret.conf")
    with pytest.raises(PermissionError):
        fs.read_text("/etc/secret.conf")
    assert MemoryFS({"/x": b"\xffok"}).read_text("/x") == "\ufffdok"


def test_unusable_paths_are_errors_not_crashes(root: Path) -> None:
    fs = LocalFS(root)

    with pytest.raises(OSError, match="NUL"):
        fs.read_text("/etc/a\0b")
    with pytest.raises(OSError, match="not encodable"):
        fs.read_text("/etc/\ud800")
    assert not fs.is_file("/etc/a\0b")
    assert not fs.is_dir("/etc/\ud800")
    assert fs.glob("/etc/\0*") == []
    assert fs.glob("/\0") == []
