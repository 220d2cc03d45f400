"""nginx: which certificate and key files the reached configuration uses."""

from __future__ import annotations

import errno

from core.consumers import ConsumerScan, MemoryFS, scan_nginx
from tests.consumer_helpers import problem_maker, use_maker

MAIN = "/etc/nginx/nginx.conf"
SITE = "/etc/nginx/sites-enabled/example"

# Debian's nginx.conf, trimmed to what matters (line numbers below depend on it).
DEBIAN_MAIN = """\
user www-data;
worker_processes auto;
pid /run/nginx.pid;
include /etc/nginx/modules-enabled/*.conf;

events {
\tworker_connections 768;
}

http {
\tsendfile on;
\tinclude /etc/nginx/mime.types;
\tssl_protocols TLSv1.2 TLSv1.3; # Dropping SSLv3, ref: POODLE
\tssl_prefer_server_ciphers on;
\tinclude /etc/nginx/conf.d/*.conf;
\tinclude /etc/nginx/sites-enabled/*;
}

#mail {
#\tserver {
#\t\tssl_certificate /etc/ssl/mail.pem;
#\t}
#}
"""


_use = use_maker("nginx")
_problem = problem_maker("nginx")


def test_debian_site_pairs_certificate_and_key_of_its_server_block() -> None:
    site = """\
server {
\tlisten 80;
\tserver_name example.org;
\treturn 301 https://$host$request_uri;
}

server {
\tlisten 443 ssl;
\tserver_name example.org;
\tssl_certificate /etc/letsencrypt/live/example.org/fullchain.pem;
\tssl_certificate_key /etc/letsencrypt/live/example.org/privkey.pem;
\t# ssl_certificate /etc/ssl/certs/old.pem;
\tinclude snippets/ssl-params.conf;
}
"""
    fs = MemoryFS(
        {
            MAIN: DEBIAN_MAIN,
            "/etc/nginx/mime.types": "types { text/html html; }\n",
            "/etc/nginx/modules-enabled/50-mod-stream.conf": "load_module x.so;\n",
            SITE: site,
            "/etc/nginx/snippets/ssl-params.conf": (
                "ssl_session_cache shared:SSL:10m;\n"
                "ssl_trusted_certificate /etc/ssl/certs/ca-certificates.crt;\n"
            ),
            # Not enabled: never counts.
            "/etc/nginx/sites-available/old": "server { ssl_certificate /etc/ssl/old.pem; }\n",
            "/etc/nginx/conf.d/legacy.conf.disabled": "ssl_certificate /etc/ssl/x.pem;\n",
            "/etc/letsencrypt/live/example.org/fullchain.pem": "cert",
            "/etc/letsencrypt/live/example.org/privkey.pem": "key",
            "/etc/ssl/certs/ca-certificates.crt": "bundle",
        }
    )

    group = f"nginx:{SITE}:7"
    assert scan_nginx(fs) == ConsumerScan(
        uses=(
            _use(
                SITE,
                10,
                "ssl_certificate",
                "certificate",
                "/etc/letsencrypt/live/example.org/fullchain.pem",
                group,
            ),
            _use(
                SITE,
                11,
                "ssl_certificate_key",
                "key",
                "/etc/letsencrypt/live/example.org/privkey.pem",
                group,
            ),
            _use(
                "/etc/nginx/snippets/ssl-params.conf",
                2,
                "ssl_trusted_certificate",
                "ca",
                "/etc/ssl/certs/ca-certificates.crt",
                group,
            ),
        ),
        problems=(),
        configs_read=(
            MAIN,
            "/etc/nginx/modules-enabled/50-mod-stream.conf",
            "/etc/nginx/mime.types",
            SITE,
            "/etc/nginx/snippets/ssl-params.conf",
        ),
    )


def test_http_level_files_are_inherited_per_directive() -> None:
    main = """\
http {
    ssl_certificate /etc/ssl/default.pem;
    ssl_certificate_key /etc/ssl/default.key;
    server { listen 443 ssl; }
    server {
        listen 443 ssl;
        ssl_certificate /etc/ssl/own.pem;
    }
}
"""
    scan = scan_nginx(MemoryFS({MAIN: main}, dirs=["/etc/ssl"]))

    first, second = f"nginx:{MAIN}:4", f"nginx:{MAIN}:5"
    assert scan.uses == (
        _use(MAIN, 2, "ssl_certificate", "certificate", "/etc/ssl/default.pem", first),
        _use(MAIN, 3, "ssl_certificate_key", "key", "/etc/ssl/default.key", first),
        _use(MAIN, 7, "ssl_certificate", "certificate", "/etc/ssl/own.pem", second),
        _use(MAIN, 3, "ssl_certificate_key", "key", "/etc/ssl/default.key", second),
    )


def test_http_level_files_no_server_uses_keep_the_http_group() -> None:
    main = "http {\n  ssl_certificate /a.pem;\n  server { ssl_certificate /b.pem; }\n}\n"
    scan = scan_nginx(MemoryFS({MAIN: main, "/a.pem": "", "/b.pem": ""}))

    assert scan.uses == (
        _use(MAIN, 3, "ssl_certificate", "certificate", "/b.pem", f"nginx:{MAIN}:3"),
        _use(MAIN, 2, "ssl_certificate", "certificate", "/a.pem", f"nginx:{MAIN}:1"),
    )


def test_two_certificates_in_one_server_share_the_group() -> None:
    main = """\
http { server {
    ssl_certificate     rsa.pem;   ssl_certificate_key rsa.key;
    ssl_certificate     ecdsa.pem; ssl_certificate_key ecdsa.key;
} }
"""
    scan = scan_nginx(MemoryFS({MAIN: main}))

    group = f"nginx:{MAIN}:1"
    assert [(u.line, u.purpose, u.path, u.group) for u in scan.uses] == [
        (2, "certificate", "/etc/nginx/rsa.pem", group),
        (3, "certificate", "/etc/nginx/ecdsa.pem", group),
        (2, "key", "/etc/nginx/rsa.key", group),
        (3, "key", "/etc/nginx/ecdsa.key", group),
    ]


def test_relative_paths_start_at_the_folder_of_nginx_conf() -> None:
    main = "/usr/local/nginx/conf/nginx.conf"
    site = "/usr/local/nginx/conf/sites/a.conf"
    fs = MemoryFS(
        {
            main: "http { include sites/*.conf; }\n",
            site: "server {\n ssl_certificate ssl/a.pem;\n ssl_certificate_key ../a.key;\n}\n",
            "/usr/local/nginx/conf/ssl/a.pem": "",
            "/usr/local/nginx/a.key": "",
        }
    )

    group = f"nginx:{site}:1"
    assert scan_nginx(fs) == ConsumerScan(
        uses=(
            _use(
                site, 2, "ssl_certificate", "certificate", "/usr/local/nginx/conf/ssl/a.pem", group
            ),
            _use(site, 3, "ssl_certificate_key", "key", "/usr/local/nginx/a.key", group),
        ),
        configs_read=(main, site),
    )


def test_missing_key_is_a_problem_and_still_a_use() -> None:
    main = "http { server {\nssl_certificate /etc/ssl/x.pem;\nssl_certificate_key ssl/x.key;\n} }"
    scan = scan_nginx(MemoryFS({MAIN: main, "/etc/ssl/x.pem": "cert"}))

    assert scan.uses[1] == _use(
        MAIN, 3, "ssl_certificate_key", "key", "/etc/nginx/ssl/x.key", f"nginx:{MAIN}:1"
    )
    assert scan.problems == (
        _problem(
            MAIN,
            3,
            "ssl_certificate_key points to /etc/nginx/ssl/x.key, which does not exist",
        ),
    )


def test_certificate_path_that_is_a_folder_is_a_problem() -> None:
    main = "http { server { ssl_certificate /etc/ssl/certs; } }"
    scan = scan_nginx(MemoryFS({MAIN: main, "/etc/ssl/certs/a.pem": ""}))

    assert scan.problems == (
        _problem(MAIN, 1, "ssl_certificate points to /etc/ssl/certs, which is a folder"),
    )


def test_comments_and_quotes_are_tokenised_like_nginx() -> None:
    main = """\
http {
  # server { ssl_certificate /commented.pem; }
  server { # a comment { with braces }
    ssl_certificate "/etc/ssl/with space#hash.pem"; # trailing comment
    ssl_certificate_key '/etc/ssl/it\\'s.key';
    ssl_trusted_certificate /etc/ssl/a\\;b.pem;
  }
}
"""
    scan = scan_nginx(MemoryFS({MAIN: main}, dirs=["/etc/ssl"]))

    assert [(u.line, u.path) for u in scan.uses] == [
        (4, "/etc/ssl/with space#hash.pem"),
        (5, "/etc/ssl/it's.key"),
        # nginx keeps the backslash of an escape it does not know; the ";" is not an end.
        (6, "/etc/ssl/a\\;b.pem"),
    ]


def test_variable_is_reported_and_overrides_the_inherited_certificate() -> None:
    main = """\
http {
  ssl_certificate /etc/ssl/default.pem;
  ssl_certificate_key /etc/ssl/default.key;
  server {
    ssl_certificate /etc/ssl/$ssl_server_name.crt;
  }
}
"""
    scan = scan_nginx(MemoryFS({MAIN: main, "/etc/ssl/default.key": ""}))

    assert scan.uses == (
        _use(MAIN, 3, "ssl_certificate_key", "key", "/etc/ssl/default.key", f"nginx:{MAIN}:4"),
        _use(MAIN, 2, "ssl_certificate", "certificate", "/etc/ssl/default.pem", f"nginx:{MAIN}:1"),
    )
    assert scan.problems[0] == _problem(
        MAIN,
        5,
        "ssl_certificate uses a variable (/etc/ssl/$ssl_server_name.crt); "
        "certdeck cannot follow it",
    )


def test_inline_data_and_engine_keys_are_not_files() -> None:
    main = """\
http { server {
  ssl_certificate "data:-----BEGIN CERTIFICATE-----\\n...";
  ssl_certificate_key engine:pkcs11:id_45;
} }
"""
    assert scan_nginx(MemoryFS({MAIN: main})) == ConsumerScan(configs_read=(MAIN,))


def test_include_loop_terminates_with_one_problem() -> None:
    fs = MemoryFS(
        {
            MAIN: "http {\n  include conf.d/*.conf;\n}\n",
            "/etc/nginx/conf.d/a.conf": "include /etc/nginx/conf.d/b.conf;\n",
            "/etc/nginx/conf.d/b.conf": (
                "include /etc/nginx/conf.d/a.conf;\nserver { ssl_certificate /b.pem; }\n"
            ),
            "/b.pem": "",
        }
    )
    scan = scan_nginx(fs)

    loop = (
        "include loop: /etc/nginx/conf.d/a.conf -> /etc/nginx/conf.d/b.conf -> "
        "/etc/nginx/conf.d/a.conf; not reading /etc/nginx/conf.d/a.conf again"
    )
    assert scan.problems == (_problem("/etc/nginx/conf.d/b.conf", 1, loop),)
    assert scan.uses == (
        _use(
            "/etc/nginx/conf.d/b.conf",
            2,
            "ssl_certificate",
            "certificate",
            "/b.pem",
            "nginx:/etc/nginx/conf.d/b.conf:2",
        ),
    )


def test_file_including_itself_terminates() -> None:
    scan = scan_nginx(MemoryFS({MAIN: "include nginx.conf;\n"}))

    assert scan.problems == (
        _problem(
            MAIN,
            1,
            f"include loop: {MAIN} -> {MAIN}; not reading {MAIN} again",
        ),
    )


def test_missing_and_unreadable_includes_are_problems_but_empty_globs_are_not() -> None:
    fs = MemoryFS(
        {
            MAIN: (
                "include /etc/nginx/missing.conf;\n"
                "include /etc/nginx/nothing/*.conf;\n"
                "include /etc/nginx/secret.conf;\n"
            ),
            "/etc/nginx/secret.conf": PermissionError(errno.EACCES, "Permission denied"),
        }
    )

    assert scan_nginx(fs).problems == (
        _problem(
            MAIN,
            1,
            "cannot read included file /etc/nginx/missing.conf: No such file or directory",
        ),
        _problem(MAIN, 3, "cannot read included file /etc/nginx/secret.conf: Permission denied"),
    )


def test_proxy_certificate_of_a_location_pairs_with_the_servers_key() -> None:
    main = """\
http {
  server {
    proxy_ssl_certificate_key /etc/ssl/client.key;
    location / { proxy_pass https://a; }
    location /b {
      proxy_ssl_certificate /etc/ssl/b.pem;
      proxy_pass https://b;
    }
  }
}
"""
    scan = scan_nginx(MemoryFS({MAIN: main}, dirs=["/etc/ssl"]))

    server, location = f"nginx:{MAIN}:2:proxy", f"nginx:{MAIN}:5:proxy"
    assert [(u.directive, u.path, u.group) for u in scan.uses] == [
        ("proxy_ssl_certificate_key", "/etc/ssl/client.key", server),
        ("proxy_ssl_certificate", "/etc/ssl/b.pem", location),
        ("proxy_ssl_certificate_key", "/etc/ssl/client.key", location),
    ]


def test_stream_and_mail_servers_count() -> None:
    main = """\
stream {
  server { listen 993 ssl; ssl_certificate /s.pem; ssl_certificate_key /s.key; }
}
mail {
  ssl_certificate /m.pem;
  server { listen 465 ssl; }
}
"""
    scan = scan_nginx(MemoryFS({MAIN: main}))

    assert [(u.path, u.group) for u in scan.uses] == [
        ("/s.pem", f"nginx:{MAIN}:2"),
        ("/s.key", f"nginx:{MAIN}:2"),
        ("/m.pem", f"nginx:{MAIN}:6"),
    ]


def test_syntax_errors_are_problems_and_what_came_before_still_counts() -> None:
    main = 'http {\n  server { ssl_certificate /a.pem; }\n}\n}\nssl_certificate "/unterminated;\n'
    scan = scan_nginx(MemoryFS({MAIN: main, "/a.pem": ""}))

    assert [u.path for u in scan.uses] == ["/a.pem"]
    assert scan.problems == (
        _problem(MAIN, 4, 'unexpected "}"'),
        _problem(MAIN, 5, "unterminated quoted string"),
    )


def test_unclosed_block_at_end_of_file_is_a_problem() -> None:
    scan = scan_nginx(MemoryFS({MAIN: "http {\n  server {\n    listen 80;\n"}))

    assert scan.problems == (_problem(MAIN, 3, 'unexpected end of file, expecting "}"'),)


def test_every_existing_main_file_is_read_and_none_is_not_an_error() -> None:
    other = "/usr/local/etc/nginx/nginx.conf"
    fs = MemoryFS({other: "http { server { ssl_certificate cert.pem; } }", MAIN + ".bak": ""})

    scan = scan_nginx(fs)
    assert scan.configs_read == (other,)
    assert scan.uses[0].path == "/usr/local/etc/nginx/cert.pem"
    assert scan_nginx(MemoryFS({})) == ConsumerScan()
