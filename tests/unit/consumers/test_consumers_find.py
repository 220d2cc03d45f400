"""find_consumers on a fake server tree, and configurations built to hurt."""

from __future__ import annotations

import errno
from collections.abc import Callable
from pathlib import Path

import pytest

from core.consumers import (
    MAX_CONFIG_FILES,
    MAX_INCLUDE_DEPTH,
    ConfigFS,
    ConfigProblem,
    ConsumerScan,
    FileUse,
    LocalFS,
    MemoryFS,
    find_consumers,
    scan_apache,
    scan_dovecot,
    scan_haproxy,
    scan_nginx,
    scan_postfix,
)

NGINX = "/etc/nginx/nginx.conf"


def _write(root: Path, path: str, text: str = "") -> None:
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)


def _symlink(root: Path, path: str, target: str) -> None:
    link = root / path.lstrip("/")
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target)


@pytest.fixture
def server(tmp_path: Path) -> Path:
    """A small server tree: every service, Debian style, sites enabled by absolute symlinks."""
    root = tmp_path / "server"
    _write(root, NGINX, "http {\n  include /etc/nginx/sites-enabled/*;\n}\n")
    _write(
        root,
        "/etc/nginx/sites-available/www",
        "server {\n"
        "  ssl_certificate /etc/ssl/www.pem;\n"
        "  ssl_certificate_key /etc/ssl/www.key;\n"
        "}\n",
    )
    _write(root, "/etc/nginx/sites-available/unused", "server { ssl_certificate /x.pem; }\n")
    _symlink(root, "/etc/nginx/sites-enabled/www", "/etc/nginx/sites-available/www")
    _write(root, "/etc/ssl/www.pem", "cert")
    # The key is a symlink whose absolute target must resolve inside the tree.
    _write(root, "/srv/keys/www.key", "key")
    _symlink(root, "/etc/ssl/www.key", "/srv/keys/www.key")

    _write(
        root,
        "/etc/apache2/apache2.conf",
        "IncludeOptional sites-enabled/*.conf\n",
    )
    _write(
        root,
        "/etc/apache2/sites-enabled/ssl.conf",
        "<VirtualHost *:443>\n"
        "SSLCertificateFile /etc/ssl/www.pem\n"
        "SSLCertificateKeyFile /etc/ssl/escape.key\n"
        "</VirtualHost>\n",
    )
    # Climbs above the tree's root: must stay inside it (and so find nothing).
    _symlink(root, "/etc/ssl/escape.key", "../../../../../../../../outside.key")
    _write(tmp_path, "/outside.key", "a key outside the tree")

    _write(root, "/etc/haproxy/haproxy.cfg", "frontend f\n  bind :443 ssl crt /etc/ssl/www.pem\n")
    _write(root, "/etc/postfix/main.cf", "smtpd_tls_cert_file = /etc/ssl/www.pem\n")
    _write(root, "/etc/dovecot/dovecot.conf", "ssl_cert = </etc/ssl/www.pem\n")
    return root


def test_find_consumers_on_a_server_tree(server: Path) -> None:
    scan = find_consumers(LocalFS(server))

    www = "/etc/nginx/sites-enabled/www"
    apache_site = "/etc/apache2/sites-enabled/ssl.conf"
    assert scan.uses == (
        FileUse(
            "nginx", www, 2, "ssl_certificate", "certificate", "/etc/ssl/www.pem", f"nginx:{www}:1"
        ),
        FileUse(
            "nginx", www, 3, "ssl_certificate_key", "key", "/etc/ssl/www.key", f"nginx:{www}:1"
        ),
        FileUse(
            "apache",
            apache_site,
            2,
            "SSLCertificateFile",
            "certificate",
            "/etc/ssl/www.pem",
            f"apache:{apache_site}:1",
        ),
        FileUse(
            "apache",
            apache_site,
            3,
            "SSLCertificateKeyFile",
            "key",
            "/etc/ssl/escape.key",
            f"apache:{apache_site}:1",
        ),
        FileUse(
            "haproxy",
            "/etc/haproxy/haproxy.cfg",
            2,
            "crt",
            "certificate",
            "/etc/ssl/www.pem",
            "haproxy:/etc/haproxy/haproxy.cfg:2",
        ),
        FileUse(
            "postfix",
            "/etc/postfix/main.cf",
            1,
            "smtpd_tls_cert_file",
            "certificate",
            "/etc/ssl/www.pem",
            "postfix:/etc/postfix/main.cf:smtpd",
        ),
        FileUse(
            "postfix",
            "/etc/postfix/main.cf",
            1,
            "smtpd_tls_key_file",
            "key",
            "/etc/ssl/www.pem",
            "postfix:/etc/postfix/main.cf:smtpd",
        ),
        FileUse(
            "dovecot",
            "/etc/dovecot/dovecot.conf",
            1,
            "ssl_cert",
            "certificate",
            "/etc/ssl/www.pem",
            "dovecot:/etc/dovecot/dovecot.conf",
        ),
    )
    assert scan.problems == (
        ConfigProblem(
            "apache",
            apache_site,
            3,
            "SSLCertificateKeyFile points to /etc/ssl/escape.key, which does not exist",
        ),
    )
    assert scan.configs_read == (
        NGINX,
        www,
        "/etc/apache2/apache2.conf",
        apache_site,
        "/etc/haproxy/haproxy.cfg",
        "/etc/postfix/main.cf",
        "/etc/dovecot/dovecot.conf",
    )


def test_unreadable_main_file_is_a_problem() -> None:
    denied = PermissionError(errno.EACCES, "Permission denied")
    scan = scan_dovecot(MemoryFS({"/etc/dovecot/dovecot.conf": denied}))

    assert scan.problems == (
        ConfigProblem(
            "dovecot",
            "/etc/dovecot/dovecot.conf",
            0,
            "cannot read main configuration /etc/dovecot/dovecot.conf: Permission denied",
        ),
    )


def test_thousands_of_included_files_stop_at_the_bound() -> None:
    files = {NGINX: "http { include conf.d/*.conf; }\n"}
    for index in range(MAX_CONFIG_FILES + 500):
        files[f"/etc/nginx/conf.d/{index:05}.conf"] = "server { listen 80; }\n"

    scan = scan_nginx(MemoryFS(files))
    assert len(scan.configs_read) == MAX_CONFIG_FILES
    assert scan.problems == (
        ConfigProblem(
            "nginx",
            NGINX,
            1,
            f"stopped at /etc/nginx/conf.d/{MAX_CONFIG_FILES - 1:05}.conf: more than "
            f"{MAX_CONFIG_FILES} configuration files or 16 MiB of configuration to read",
        ),
    )


def test_files_including_each_other_all_terminate() -> None:
    files = {NGINX: "include /etc/nginx/conf.d/*.conf;\n"}
    for index in range(12):
        files[f"/etc/nginx/conf.d/{index}.conf"] = "include /etc/nginx/conf.d/*.conf;\n"

    scan = scan_nginx(MemoryFS(files))
    assert len(scan.configs_read) == 13
    stops = [p for p in scan.problems if p.message.startswith("stopped at")]
    loops = [p for p in scan.problems if p.message.startswith("include loop")]
    assert len(stops) == 1
    # At most one loop report per include directive, however many loops pass through it.
    assert len({(p.config, p.line) for p in loops}) == len(loops) <= 13


def test_deep_include_chain_stops_at_the_depth_bound() -> None:
    files = {NGINX: "include /etc/nginx/0.conf;\n"}
    for index in range(MAX_INCLUDE_DEPTH + 10):
        files[f"/etc/nginx/{index}.conf"] = f"include /etc/nginx/{index + 1}.conf;\n"

    scan = scan_nginx(MemoryFS(files))
    last = MAX_INCLUDE_DEPTH - 2
    assert scan.problems == (
        ConfigProblem(
            "nginx",
            f"/etc/nginx/{last}.conf",
            1,
            f"includes nested deeper than {MAX_INCLUDE_DEPTH} levels; "
            f"not reading /etc/nginx/{last + 1}.conf",
        ),
    )


def test_deeply_nested_blocks_are_skipped_not_fatal() -> None:
    text = "http {\n" + "location / {" * 100_000 + "\n}\n" + "server { ssl_certificate /a.pem; }"
    scan = scan_nginx(MemoryFS({NGINX: text, "/a.pem": ""}))

    assert scan.uses == ()
    assert scan.problems == (
        ConfigProblem("nginx", NGINX, 2, "blocks nested deeper than 64 levels are skipped"),
        ConfigProblem("nginx", NGINX, 4, 'unexpected end of file, expecting "}"'),
    )


@pytest.mark.parametrize(
    ("scan", "path"),
    [
        (scan_nginx, NGINX),
        (scan_apache, "/etc/apache2/apache2.conf"),
        (scan_haproxy, "/etc/haproxy/haproxy.cfg"),
        (scan_postfix, "/etc/postfix/main.cf"),
        (scan_dovecot, "/etc/dovecot/dovecot.conf"),
    ],
)
def test_binary_and_huge_lines_do_not_crash(
    scan: Callable[[ConfigFS], ConsumerScan], path: str
) -> None:
    garbage = bytes(range(256)) * 64 + b"\x00{\"'\\" + b"x" * 2_000_000 + b"\\"
    fs = MemoryFS({path: garbage, "/etc/postfix/master.cf": garbage})

    result = scan(fs)
    assert path in result.configs_read
    assert result.uses == ()
