"""haproxy: which certificate and key files the configuration uses."""

from __future__ import annotations

from core.consumers import (
    ConsumerScan,
    MemoryFS,
    scan_haproxy,
)
from tests.consumer_helpers import problem_maker, use_maker

CFG = "/etc/haproxy/haproxy.cfg"

# Debian's haproxy.cfg, trimmed, with a TLS frontend and backend added.
DEBIAN_CFG = """\
global
\tlog /dev/log\tlocal0
\tchroot /var/lib/haproxy
\tuser haproxy
\tdaemon

\t# Default SSL material locations
\tca-base /etc/ssl/certs
\tcrt-base /etc/ssl/private

\tssl-default-bind-options ssl-min-ver TLSv1.2 no-tls-tickets

defaults
\tlog\tglobal
\tmode\thttp
\ttimeout connect 5000

frontend www
\tbind :80
\tbind :443 ssl crt www.pem ca-file clients.pem verify optional alpn h2,http/1.1
\t# bind :8443 ssl crt old.pem
\tdefault_backend app

backend app
\tserver app1 10.0.0.5:8443 ssl crt /etc/haproxy/client.pem ca-file backend-ca.pem check
"""


_use = use_maker("haproxy")
_problem = problem_maker("haproxy")


def test_debian_config_with_bases_and_groups_per_line() -> None:
    fs = MemoryFS(
        {
            CFG: DEBIAN_CFG,
            "/etc/ssl/private/www.pem": "cert+key",
            "/etc/ssl/certs/clients.pem": "ca",
            "/etc/haproxy/client.pem": "cert",
            "/etc/haproxy/client.pem.key": "key",
            "/etc/ssl/certs/backend-ca.pem": "ca",
        }
    )

    bind, server = f"haproxy:{CFG}:20", f"haproxy:{CFG}:25"
    assert scan_haproxy(fs) == ConsumerScan(
        uses=(
            _use(CFG, 20, "crt", "certificate", "/etc/ssl/private/www.pem", bind),
            _use(CFG, 20, "ca-file", "ca", "/etc/ssl/certs/clients.pem", bind),
            _use(CFG, 25, "crt", "certificate", "/etc/haproxy/client.pem", server),
            _use(CFG, 25, "crt", "key", "/etc/haproxy/client.pem.key", server),
            _use(CFG, 25, "ca-file", "ca", "/etc/ssl/certs/backend-ca.pem", server),
        ),
        configs_read=(CFG,),
    )


def test_crt_folder_gives_the_folder_and_each_certificate_with_its_companions() -> None:
    folder = "/etc/haproxy/certs"
    fs = MemoryFS(
        {
            CFG: "frontend f\n  bind :443 ssl crt /etc/haproxy/certs/ strict-sni\n",
            f"{folder}/a.pem": "",
            f"{folder}/a.pem.key": "",
            f"{folder}/a.pem.ocsp": "",
            f"{folder}/a.pem.issuer": "",
            f"{folder}/b.crt": "",
            f"{folder}/b.crt.sctl": "",
            f"{folder}/.hidden.pem": "",
            f"{folder}/sub/c.pem": "",
        }
    )

    group = f"haproxy:{CFG}:2"
    assert scan_haproxy(fs).uses == (
        _use(CFG, 2, "crt", "certificate", folder, group, directory=True),
        _use(CFG, 2, "crt", "certificate", f"{folder}/a.pem", group),
        _use(CFG, 2, "crt", "key", f"{folder}/a.pem.key", group),
        _use(CFG, 2, "crt", "chain", f"{folder}/a.pem.issuer", group),
        _use(CFG, 2, "crt", "certificate", f"{folder}/b.crt", group),
    )


def test_crt_list_entries_come_from_the_list_file() -> None:
    crt_list = "/etc/haproxy/crt-list.txt"
    fs = MemoryFS(
        {
            CFG: (
                "global\n  crt-base /etc/haproxy/certs\n  ca-base /etc/ssl/certs\n"
                "frontend f\n  bind :443 ssl crt-list /etc/haproxy/crt-list.txt\n"
            ),
            crt_list: (
                "# certificate [options] [sni filters]\n"
                "site.pem [alpn h2 ca-file clients.pem verify required] www.example.org\n"
                "\n"
                "/etc/ssl/other.pem [ ocsp-update on ] *.example.net !old.example.net\n"
                "#disabled.pem\n"
            ),
            "/etc/haproxy/certs/site.pem": "",
            "/etc/haproxy/certs/site.pem.key": "",
            "/etc/ssl/certs/clients.pem": "",
        }
    )

    group = f"haproxy:{CFG}:5"
    scan = scan_haproxy(fs)
    assert scan.uses == (
        _use(CFG, 5, "crt-list", "crt-list", crt_list, group),
        _use(crt_list, 2, "crt", "certificate", "/etc/haproxy/certs/site.pem", group),
        _use(crt_list, 2, "crt", "key", "/etc/haproxy/certs/site.pem.key", group),
        _use(crt_list, 2, "ca-file", "ca", "/etc/ssl/certs/clients.pem", group),
        _use(crt_list, 4, "crt", "certificate", "/etc/ssl/other.pem", group),
    )
    assert scan.problems == (
        _problem(crt_list, 4, "crt points to /etc/ssl/other.pem, which does not exist"),
    )
    assert scan.configs_read == (CFG, crt_list)


def test_missing_crt_list_is_a_problem() -> None:
    fs = MemoryFS({CFG: "frontend f\n  bind :443 ssl crt-list /etc/haproxy/none.txt\n"})

    scan = scan_haproxy(fs)
    assert scan.problems == (
        _problem(CFG, 2, "crt-list points to /etc/haproxy/none.txt, which does not exist"),
    )
    assert scan.configs_read == (CFG,)


def test_comments_quotes_and_relative_paths_without_base() -> None:
    fs = MemoryFS(
        {
            CFG: (
                "frontend f\n"
                '  bind :443 ssl crt "/etc/ssl/my cert.pem" # crt /etc/ssl/commented.pem\n'
                "  bind :444 ssl crt etc/ssl/relative.pem\n"
                "#  bind :445 ssl crt /etc/ssl/disabled.pem\n"
            ),
        },
        dirs=["/etc/ssl"],
    )

    assert [(u.line, u.path) for u in scan_haproxy(fs).uses] == [
        (2, "/etc/ssl/my cert.pem"),
        (3, "/etc/ssl/relative.pem"),
    ]


def test_environment_variables_are_reported() -> None:
    fs = MemoryFS({CFG: 'frontend f\n  bind :443 ssl crt "${CERT_DIR}/site.pem"\n'})

    assert scan_haproxy(fs) == ConsumerScan(
        problems=(
            _problem(
                CFG, 2, "crt uses a variable (${CERT_DIR}/site.pem); certdeck cannot follow it"
            ),
        ),
        configs_read=(CFG,),
    )


def test_conf_d_files_are_read_after_the_main_file_and_share_its_bases() -> None:
    extra = "/etc/haproxy/conf.d/10-web.cfg"
    fs = MemoryFS(
        {
            CFG: "global\n  crt-base /etc/ssl/private\n",
            extra: "frontend web\n  bind :443 ssl crt web.pem\n",
            "/etc/haproxy/conf.d/20-old.cfg.disabled": "frontend x\n  bind :1 ssl crt x.pem\n",
            "/etc/ssl/private/web.pem": "",
        }
    )

    scan = scan_haproxy(fs)
    assert scan.uses == (
        _use(extra, 2, "crt", "certificate", "/etc/ssl/private/web.pem", f"haproxy:{extra}:2"),
    )
    assert scan.configs_read == (CFG, extra)


def test_crt_store_load_lines_pair_certificate_and_key() -> None:
    fs = MemoryFS(
        {
            CFG: (
                "crt-store web\n"
                "  crt-base /etc/ssl/certs\n"
                "  key-base /etc/ssl/private\n"
                "  load crt site.pem key site.key alias site\n"
                "frontend f\n"
                "  bind :443 ssl crt @web/site\n"
            ),
            "/etc/ssl/certs/site.pem": "",
            "/etc/ssl/private/site.key": "",
        }
    )

    group = f"haproxy:{CFG}:4"
    assert scan_haproxy(fs).uses == (
        _use(CFG, 4, "crt", "certificate", "/etc/ssl/certs/site.pem", group),
        _use(CFG, 4, "key", "key", "/etc/ssl/private/site.key", group),
    )


def test_extension_replaced_key_companion() -> None:
    fs = MemoryFS(
        {
            CFG: "global\n  ssl-load-extra-del-ext\nfrontend f\n  bind :443 ssl crt /c/site.crt\n",
            "/c/site.crt": "",
            "/c/site.key": "",
        }
    )

    assert [(u.purpose, u.path) for u in scan_haproxy(fs).uses] == [
        ("certificate", "/c/site.crt"),
        ("key", "/c/site.key"),
    ]
