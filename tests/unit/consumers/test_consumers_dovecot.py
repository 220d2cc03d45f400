"""dovecot: which certificate and key files the reached configuration uses."""

from __future__ import annotations

from core.consumers import (
    ConsumerScan,
    MemoryFS,
    scan_dovecot,
)
from tests.consumer_helpers import problem_maker, use_maker

MAIN = "/etc/dovecot/dovecot.conf"
SSL_CONF = "/etc/dovecot/conf.d/10-ssl.conf"
TOP = f"dovecot:{MAIN}"

# Debian's dovecot.conf, trimmed.
DEBIAN_MAIN = """\
## Dovecot configuration file
!include_try /usr/share/dovecot/protocols.d/*.protocol
#listen = *, ::
dict {
  #quota = mysql:/etc/dovecot/dovecot-dict-sql.conf.ext
}
!include conf.d/*.conf
!include_try local.conf
"""

# Debian's conf.d/10-ssl.conf, trimmed.
DEBIAN_SSL = """\
##
## SSL settings
##
ssl = yes
ssl_cert = </etc/dovecot/private/dovecot.pem
ssl_key = </etc/dovecot/private/dovecot.key
#ssl_ca =
ssl_client_ca_dir = /etc/ssl/certs
ssl_dh = </usr/share/dovecot/dh.pem
"""


_use = use_maker("dovecot")
_problem = problem_maker("dovecot")


def test_debian_layout() -> None:
    fs = MemoryFS(
        {
            MAIN: DEBIAN_MAIN,
            "/usr/share/dovecot/protocols.d/imapd.protocol": "protocols = $protocols imap\n",
            SSL_CONF: DEBIAN_SSL,
            "/etc/dovecot/conf.d/10-ssl.conf.disabled": "ssl_cert = </etc/ssl/old.pem\n",
            "/etc/dovecot/private/dovecot.pem": "cert",
            "/etc/dovecot/private/dovecot.key": "key",
            "/etc/ssl/certs/ca.pem": "ca",
        }
    )

    assert scan_dovecot(fs) == ConsumerScan(
        uses=(
            _use(SSL_CONF, 5, "ssl_cert", "certificate", "/etc/dovecot/private/dovecot.pem", TOP),
            _use(SSL_CONF, 6, "ssl_key", "key", "/etc/dovecot/private/dovecot.key", TOP),
            _use(
                SSL_CONF,
                8,
                "ssl_client_ca_dir",
                "ca",
                "/etc/ssl/certs",
                TOP + ":client",
                directory=True,
            ),
        ),
        configs_read=(MAIN, "/usr/share/dovecot/protocols.d/imapd.protocol", SSL_CONF),
    )


def test_sections_form_groups_and_inherit_what_they_do_not_set() -> None:
    main = """\
ssl_cert = </etc/ssl/default.pem
ssl_key = </etc/ssl/default.key
local_name mail.example.org {
  ssl_cert = </etc/ssl/mail.pem
}
local 10.0.0.1 {
  ssl_cert = </etc/ssl/ip.pem
  ssl_key = </etc/ssl/ip.key
}
local_name imap.example.org { ssl_cert = </etc/ssl/imap.pem }
protocol imap {
  mail_max_userip_connections = 10
}
"""
    paths = ["default.pem", "default.key", "mail.pem", "ip.pem", "ip.key", "imap.pem"]
    scan = scan_dovecot(MemoryFS({MAIN: main, **{f"/etc/ssl/{p}": "" for p in paths}}))

    named, local = f"dovecot:{MAIN}:3", f"dovecot:{MAIN}:6"
    assert [(u.line, u.path, u.group) for u in scan.uses] == [
        (1, "/etc/ssl/default.pem", TOP),
        (2, "/etc/ssl/default.key", TOP),
        (4, "/etc/ssl/mail.pem", named),
        (2, "/etc/ssl/default.key", named),
        (7, "/etc/ssl/ip.pem", local),
        (8, "/etc/ssl/ip.key", local),
        (10, "/etc/ssl/imap.pem", f"dovecot:{MAIN}:10"),
        (2, "/etc/ssl/default.key", f"dovecot:{MAIN}:10"),
    ]
    assert scan.problems == ()


def test_dovecot_2_4_names_and_ssl_server_filter() -> None:
    main = """\
ssl_server_cert_file = /etc/ssl/a.pem
ssl_server {
  key_file = /etc/ssl/a.key
  ca_file = /etc/ssl/clients.pem
}
ssl_client_ca_file = /etc/ssl/ca-bundle.pem
"""
    scan = scan_dovecot(MemoryFS({MAIN: main}, dirs=["/etc/ssl"]))

    assert scan.uses == (
        _use(MAIN, 1, "ssl_server_cert_file", "certificate", "/etc/ssl/a.pem", TOP),
        _use(MAIN, 3, "ssl_server_key_file", "key", "/etc/ssl/a.key", TOP),
        _use(MAIN, 4, "ssl_server_ca_file", "ca", "/etc/ssl/clients.pem", TOP),
        _use(MAIN, 6, "ssl_client_ca_file", "ca", "/etc/ssl/ca-bundle.pem", TOP + ":client"),
    )


def test_relative_paths_start_at_the_including_files_folder() -> None:
    fs = MemoryFS(
        {
            MAIN: "!include conf.d/ssl.conf\n",
            "/etc/dovecot/conf.d/ssl.conf": "ssl_cert = <../certs/x.pem\nssl_key = <x.key\n",
            "/etc/dovecot/certs/x.pem": "",
            "/etc/dovecot/conf.d/x.key": "",
        }
    )

    scan = scan_dovecot(fs)
    assert [u.path for u in scan.uses] == ["/etc/dovecot/certs/x.pem", "/etc/dovecot/conf.d/x.key"]
    assert scan.problems == ()


def test_comments_quotes_inline_pem_and_variables() -> None:
    main = """\
# ssl_cert = </etc/ssl/commented.pem
ssl_cert = "</etc/ssl/quoted #1.pem" # a comment
ssl_key = </etc/ssl/key.pem#no space before the comment
ssl_alt_cert = -----BEGIN CERTIFICATE-----
ssl_alt_key = </etc/ssl/%{user}.key
"""
    fs = MemoryFS({MAIN: main, "/etc/ssl/quoted #1.pem": "", "/etc/ssl/key.pem": ""})
    scan = scan_dovecot(fs)

    assert [(u.line, u.path) for u in scan.uses] == [
        (2, "/etc/ssl/quoted #1.pem"),
        (3, "/etc/ssl/key.pem"),
    ]
    assert scan.problems == (
        _problem(
            MAIN,
            5,
            "ssl_alt_key uses a variable (/etc/ssl/%{user}.key); certdeck cannot follow it",
        ),
    )


def test_include_missing_is_a_problem_include_try_is_not() -> None:
    main = "!include missing.conf\n!include_try also-missing.conf\n!include none/*.conf\n"
    scan = scan_dovecot(MemoryFS({MAIN: main}))

    assert scan.problems == (
        _problem(
            MAIN,
            1,
            "cannot read included file /etc/dovecot/missing.conf: No such file or directory",
        ),
        _problem(MAIN, 3, "!include: no file matches /etc/dovecot/none/*.conf"),
    )


def test_include_loop_terminates_with_one_problem() -> None:
    fs = MemoryFS(
        {
            MAIN: "!include conf.d/*.conf\n",
            "/etc/dovecot/conf.d/a.conf": "!include b.conf\n",
            "/etc/dovecot/conf.d/b.conf": "!include a.conf\nssl_cert = </b.pem\n",
            "/b.pem": "",
        }
    )

    scan = scan_dovecot(fs)
    assert scan.problems == (
        _problem(
            "/etc/dovecot/conf.d/b.conf",
            1,
            "include loop: /etc/dovecot/conf.d/a.conf -> /etc/dovecot/conf.d/b.conf -> "
            "/etc/dovecot/conf.d/a.conf; not reading /etc/dovecot/conf.d/a.conf again",
        ),
    )
    assert scan.uses == (
        _use("/etc/dovecot/conf.d/b.conf", 2, "ssl_cert", "certificate", "/b.pem", TOP),
    )


def test_missing_key_is_a_problem_and_still_a_use() -> None:
    main = "ssl_cert = </etc/ssl/c.pem\nssl_key = </etc/ssl/private/c.key\n"
    scan = scan_dovecot(MemoryFS({MAIN: main, "/etc/ssl/c.pem": ""}))

    assert scan.uses[1] == _use(MAIN, 2, "ssl_key", "key", "/etc/ssl/private/c.key", TOP)
    assert scan.problems == (
        _problem(MAIN, 2, "ssl_key points to /etc/ssl/private/c.key, which does not exist"),
    )


def test_unbalanced_sections_are_problems() -> None:
    scan = scan_dovecot(MemoryFS({MAIN: "}\nprotocol imap {\n  ssl_cert = </x.pem\n"}))

    assert scan.problems[:1] == (_problem(MAIN, 1, 'unexpected "}"'),)
    assert _problem(MAIN, 2, "section is not closed") in scan.problems
