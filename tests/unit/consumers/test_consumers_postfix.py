"""postfix: which certificate and key files main.cf and master.cf use."""

from __future__ import annotations

from core.consumers import (
    ConsumerScan,
    MemoryFS,
    scan_postfix,
)
from tests.consumer_helpers import problem_maker, use_maker

MAIN = "/etc/postfix/main.cf"
MASTER = "/etc/postfix/master.cf"
SMTPD = f"postfix:{MAIN}:smtpd"
SMTP = f"postfix:{MAIN}:smtp"

# Debian's main.cf, trimmed (line numbers below depend on it).
DEBIAN_MAIN = """\
# See /usr/share/postfix/main.cf.dist for a commented, more complete version

smtpd_banner = $myhostname ESMTP $mail_name (Debian/GNU)
biff = no
append_dot_mydomain = no
readme_directory = no
compatibility_level = 3.6

# TLS parameters
smtpd_tls_cert_file=/etc/ssl/certs/ssl-cert-snakeoil.pem
smtpd_tls_key_file=/etc/ssl/private/ssl-cert-snakeoil.key
smtpd_tls_security_level=may

smtp_tls_CApath=/etc/ssl/certs
smtp_tls_security_level=may
smtp_tls_session_cache_database = btree:${data_directory}/smtp_scache

myhostname = mail.example.org
"""

# Debian's master.cf, trimmed: the submission service is commented out.
DEBIAN_MASTER = """\
# service type  private unpriv  chroot  wakeup  maxproc command + args
smtp      inet  n       -       y       -       -       smtpd
#submission inet n       -       y       -       -       smtpd
#  -o syslog_name=postfix/submission
#  -o smtpd_tls_security_level=encrypt
#  -o smtpd_tls_cert_file=/etc/ssl/certs/submission.pem
pickup    unix  n       -       y       60      1       pickup
"""


_use = use_maker("postfix")
_problem = problem_maker("postfix")


def test_debian_main_cf_gives_server_and_client_groups() -> None:
    fs = MemoryFS(
        {
            MAIN: DEBIAN_MAIN,
            MASTER: DEBIAN_MASTER,
            "/etc/ssl/certs/ssl-cert-snakeoil.pem": "cert",
            "/etc/ssl/private/ssl-cert-snakeoil.key": "key",
        }
    )

    assert scan_postfix(fs) == ConsumerScan(
        uses=(
            _use(
                MAIN,
                10,
                "smtpd_tls_cert_file",
                "certificate",
                "/etc/ssl/certs/ssl-cert-snakeoil.pem",
                SMTPD,
            ),
            _use(
                MAIN,
                11,
                "smtpd_tls_key_file",
                "key",
                "/etc/ssl/private/ssl-cert-snakeoil.key",
                SMTPD,
            ),
            _use(MAIN, 14, "smtp_tls_CApath", "ca", "/etc/ssl/certs", SMTP, directory=True),
        ),
        configs_read=(MAIN, MASTER),
    )


def test_parameters_are_expanded() -> None:
    main = """\
smtpd_tls_cert_file = $config_directory/certs/${myhostname}.pem
smtpd_tls_key_file = $(tls_dir)/key.pem
tls_dir = /etc/ssl/private
smtp_tls_CAfile = ${tls_dir?/etc/ssl/ca.pem}
smtp_tls_cert_file = ${unset_parameter:/etc/ssl/fallback.pem}
"""
    fs = MemoryFS({MAIN: main, "/etc/hostname": "mx1.example.org\n"}, dirs=["/etc/ssl"])

    assert [(u.directive, u.path) for u in scan_postfix(fs).uses] == [
        ("smtpd_tls_cert_file", "/etc/postfix/certs/mx1.example.org.pem"),
        ("smtpd_tls_key_file", "/etc/ssl/private/key.pem"),
        ("smtp_tls_cert_file", "/etc/ssl/fallback.pem"),
        ("smtp_tls_key_file", "/etc/ssl/fallback.pem"),
        ("smtp_tls_CAfile", "/etc/ssl/ca.pem"),
    ]


def test_unknown_parameter_is_reported_and_not_used() -> None:
    fs = MemoryFS({MAIN: "smtpd_tls_cert_file = $cert_dir/cert.pem\n"})

    assert scan_postfix(fs) == ConsumerScan(
        problems=(
            _problem(
                MAIN,
                1,
                "smtpd_tls_cert_file uses $cert_dir, which is not set; certdeck cannot follow it",
            ),
        ),
        configs_read=(MAIN,),
    )


def test_key_defaults_to_the_certificate_file_with_one_problem_when_missing() -> None:
    fs = MemoryFS({MAIN: "smtpd_tls_cert_file = /etc/postfix/combined.pem\n"})

    scan = scan_postfix(fs)
    assert scan.uses == (
        _use(MAIN, 1, "smtpd_tls_cert_file", "certificate", "/etc/postfix/combined.pem", SMTPD),
        _use(MAIN, 1, "smtpd_tls_key_file", "key", "/etc/postfix/combined.pem", SMTPD),
    )
    assert scan.problems == (
        _problem(
            MAIN,
            1,
            "smtpd_tls_cert_file points to /etc/postfix/combined.pem, which does not exist",
        ),
    )


def test_chain_files_list_spans_continuation_lines_and_replaces_legacy_files() -> None:
    main = """\
smtpd_tls_cert_file = /etc/ssl/legacy.pem
smtpd_tls_chain_files =
    /etc/letsencrypt/live/mail/privkey.pem,
    # a comment between continuation lines
    /etc/letsencrypt/live/mail/fullchain.pem, /etc/ssl/ecdsa.pem
"""
    fs = MemoryFS({MAIN: main}, dirs=["/etc/ssl", "/etc/letsencrypt/live/mail"])

    scan = scan_postfix(fs)
    assert [(u.line, u.directive, u.purpose, u.path) for u in scan.uses] == [
        (3, "smtpd_tls_chain_files", "chain", "/etc/letsencrypt/live/mail/privkey.pem"),
        (5, "smtpd_tls_chain_files", "chain", "/etc/letsencrypt/live/mail/fullchain.pem"),
        (5, "smtpd_tls_chain_files", "chain", "/etc/ssl/ecdsa.pem"),
    ]
    assert scan.problems[0] == _problem(
        MAIN, 1, "smtpd_tls_cert_file is ignored because smtpd_tls_chain_files is set"
    )


def test_master_cf_overrides_form_a_group_per_service() -> None:
    main = (
        "smtpd_tls_cert_file = /etc/ssl/mx.pem\n"
        "smtpd_tls_key_file = /etc/ssl/mx.key\n"
        "submission_cert = /etc/ssl/submission.pem\n"
    )
    master = """\
smtp      inet  n       -       y       -       -       smtpd
submission inet n       -       y       -       -       smtpd
  -o syslog_name=postfix/submission
#  -o smtpd_tls_key_file=/etc/ssl/commented.key
  -o smtpd_tls_cert_file=$submission_cert
submissions inet n      -       y       -       -       smtpd
  -o smtpd_tls_wrappermode=yes
  -o { smtpd_tls_key_file = /etc/ssl/with space.key }
relay     unix  -       -       y       -       -       smtp
  -o smtp_tls_cert_file=/etc/ssl/relay-client.pem
"""
    fs = MemoryFS({MAIN: main, MASTER: master}, dirs=["/etc/ssl"])

    submission = f"postfix:{MASTER}:submission/inet"
    submissions = f"postfix:{MASTER}:submissions/inet"
    relay = f"postfix:{MASTER}:relay/unix"
    assert scan_postfix(fs).uses == (
        _use(MAIN, 1, "smtpd_tls_cert_file", "certificate", "/etc/ssl/mx.pem", SMTPD),
        _use(MAIN, 2, "smtpd_tls_key_file", "key", "/etc/ssl/mx.key", SMTPD),
        _use(
            MASTER, 5, "smtpd_tls_cert_file", "certificate", "/etc/ssl/submission.pem", submission
        ),
        _use(MAIN, 2, "smtpd_tls_key_file", "key", "/etc/ssl/mx.key", submission),
        _use(MAIN, 1, "smtpd_tls_cert_file", "certificate", "/etc/ssl/mx.pem", submissions),
        _use(MASTER, 8, "smtpd_tls_key_file", "key", "/etc/ssl/with space.key", submissions),
        _use(MASTER, 10, "smtp_tls_cert_file", "certificate", "/etc/ssl/relay-client.pem", relay),
        _use(MASTER, 10, "smtp_tls_key_file", "key", "/etc/ssl/relay-client.pem", relay),
    )


def test_last_setting_wins_and_bad_lines_are_problems() -> None:
    main = (
        "smtpd_tls_cert_file = /etc/ssl/first.pem\n"
        "this line is not a setting\n"
        "smtpd_tls_cert_file = /etc/ssl/second.pem\n"
    )
    scan = scan_postfix(MemoryFS({MAIN: main, "/etc/ssl/second.pem": ""}))

    assert [(u.line, u.path) for u in scan.uses] == [
        (3, "/etc/ssl/second.pem"),
        (3, "/etc/ssl/second.pem"),
    ]
    assert scan.problems == (_problem(MAIN, 2, "not a parameter setting (expected name = value)"),)


def test_no_postfix_is_not_an_error() -> None:
    assert scan_postfix(MemoryFS({"/etc/hostname": "host\n"})) == ConsumerScan()


def test_self_referencing_and_exploding_values_are_problems() -> None:
    chain = "".join(
        f"{name} = {('$' + following) * 10}\n"
        for name, following in zip("abcd", "bcde", strict=True)
    )
    main = (
        "smtpd_tls_cert_file = $a\n"
        + chain
        + "e = /etc/ssl/x.pem\n"
        + "smtp_tls_cert_file = $smtp_tls_cert_file\n"
    )
    scan = scan_postfix(MemoryFS({MAIN: main}))

    assert scan.uses == ()
    assert scan.problems == (
        _problem(
            MAIN,
            1,
            "smtpd_tls_cert_file expands too deeply or to too much text; certdeck cannot follow it",
        ),
        _problem(
            MAIN,
            7,
            "smtp_tls_cert_file expands too deeply or to too much text; certdeck cannot follow it",
        ),
    )
