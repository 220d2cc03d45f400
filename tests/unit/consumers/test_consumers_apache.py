"""Apache httpd: which certificate and key files the reached configuration uses."""

from __future__ import annotations

from core.consumers import ConsumerScan, MemoryFS, scan_apache
from tests.consumer_helpers import problem_maker, use_maker

DEBIAN = "/etc/apache2/apache2.conf"
RHEL = "/etc/httpd/conf/httpd.conf"
DEFAULT_SSL = "/etc/apache2/sites-enabled/default-ssl.conf"

# Debian's apache2.conf, trimmed (line numbers below depend on it).
DEBIAN_MAIN = """\
# ServerRoot: The top of the directory tree under which the server's
# configuration, error, and log files are kept.
#ServerRoot "/etc/apache2"
DefaultRuntimeDir ${APACHE_RUN_DIR}
PidFile ${APACHE_PID_FILE}
Timeout 300
IncludeOptional mods-enabled/*.load
IncludeOptional mods-enabled/*.conf
Include ports.conf
<Directory />
\tOptions FollowSymLinks
\tAllowOverride None
\tRequire all denied
</Directory>
IncludeOptional conf-enabled/*.conf
IncludeOptional sites-enabled/*.conf
"""

# Debian's default-ssl.conf, trimmed.
DEFAULT_SSL_TEXT = """\
<VirtualHost *:443>
\tServerAdmin webmaster@localhost
\tDocumentRoot /var/www/html
\tErrorLog ${APACHE_LOG_DIR}/error.log
\tSSLEngine on
\t#   A self-signed (snakeoil) certificate can be created by installing
\tSSLCertificateFile      /etc/ssl/certs/ssl-cert-snakeoil.pem
\tSSLCertificateKeyFile   /etc/ssl/private/ssl-cert-snakeoil.key
\t#SSLCertificateChainFile /etc/apache2/ssl.crt/server-ca.crt
\t#SSLCACertificatePath /etc/ssl/certs/
\t<FilesMatch "\\.(?:cgi|shtml|phtml|php)$">
\t\tSSLOptions +StdEnvVars
\t</FilesMatch>
</VirtualHost>
"""


_use = use_maker("apache")
_problem = problem_maker("apache")


def test_debian_default_ssl_site() -> None:
    fs = MemoryFS(
        {
            DEBIAN: DEBIAN_MAIN,
            "/etc/apache2/ports.conf": (
                "Listen 80\n<IfModule ssl_module>\n\tListen 443\n</IfModule>\n"
            ),
            "/etc/apache2/mods-enabled/ssl.load": "LoadModule ssl_module mod_ssl.so\n",
            "/etc/apache2/mods-enabled/ssl.conf": "<IfModule mod_ssl.c>\n</IfModule>\n",
            DEFAULT_SSL: DEFAULT_SSL_TEXT,
            "/etc/apache2/sites-enabled/000-default.conf": "<VirtualHost *:80>\n</VirtualHost>\n",
            # Neither enabled nor matched by the include globs.
            "/etc/apache2/sites-available/other-ssl.conf": "SSLCertificateFile /etc/ssl/o.pem\n",
            "/etc/apache2/sites-enabled/old.conf.disabled": "SSLCertificateFile /etc/ssl/d.pem\n",
            "/etc/ssl/certs/ssl-cert-snakeoil.pem": "cert",
            "/etc/ssl/private/ssl-cert-snakeoil.key": "key",
        }
    )

    group = f"apache:{DEFAULT_SSL}:1"
    assert scan_apache(fs) == ConsumerScan(
        uses=(
            _use(
                DEFAULT_SSL,
                7,
                "SSLCertificateFile",
                "certificate",
                "/etc/ssl/certs/ssl-cert-snakeoil.pem",
                group,
            ),
            _use(
                DEFAULT_SSL,
                8,
                "SSLCertificateKeyFile",
                "key",
                "/etc/ssl/private/ssl-cert-snakeoil.key",
                group,
            ),
        ),
        problems=(),
        configs_read=(
            DEBIAN,
            "/etc/apache2/mods-enabled/ssl.load",
            "/etc/apache2/mods-enabled/ssl.conf",
            "/etc/apache2/ports.conf",
            "/etc/apache2/sites-enabled/000-default.conf",
            DEFAULT_SSL,
        ),
    )


def test_rhel_layout_resolves_relative_paths_from_server_root() -> None:
    ssl_conf = "/etc/httpd/conf.d/ssl.conf"
    fs = MemoryFS(
        {
            RHEL: 'ServerRoot "/etc/httpd"\nInclude conf.modules.d/*.conf\n'
            "IncludeOptional conf.d/*.conf\n",
            "/etc/httpd/conf.modules.d/00-ssl.conf": "LoadModule ssl_module mod_ssl.so\n",
            ssl_conf: (
                "Listen 443 https\n"
                "<VirtualHost _default_:443>\n"
                "SSLCertificateFile /etc/pki/tls/certs/localhost.crt\n"
                "SSLCertificateKeyFile /etc/pki/tls/private/localhost.key\n"
                "SSLCACertificateFile conf/ca-bundle.crt\n"
                "</VirtualHost>\n"
            ),
        },
        dirs=["/etc/pki/tls/certs"],
    )

    scan = scan_apache(fs)
    group = f"apache:{ssl_conf}:2"
    assert scan.uses == (
        _use(
            ssl_conf,
            3,
            "SSLCertificateFile",
            "certificate",
            "/etc/pki/tls/certs/localhost.crt",
            group,
        ),
        _use(
            ssl_conf,
            4,
            "SSLCertificateKeyFile",
            "key",
            "/etc/pki/tls/private/localhost.key",
            group,
        ),
        _use(ssl_conf, 5, "SSLCACertificateFile", "ca", "/etc/httpd/conf/ca-bundle.crt", group),
    )
    assert scan.configs_read == (RHEL, "/etc/httpd/conf.modules.d/00-ssl.conf", ssl_conf)


def test_server_root_defaults_to_the_parent_of_conf_and_can_change() -> None:
    fs = MemoryFS(
        {
            RHEL: (
                "SSLCertificateFile certs/a.pem\n"
                "ServerRoot /opt/httpd\n"
                "SSLCertificateKeyFile keys/a.key\n"
            ),
        }
    )

    assert [u.path for u in scan_apache(fs).uses] == [
        "/etc/httpd/certs/a.pem",
        "/opt/httpd/keys/a.key",
    ]


def test_directives_are_case_insensitive_quoted_and_continued() -> None:
    main = (
        "<virtualhost *:443>\n"
        'sslcertificatefile "/etc/ssl/my site/cert.pem"\n'
        "SSLCERTIFICATEKEYFILE \\\n"
        "    '/etc/ssl/key.pem'\n"
        "SSLCertificateChainFile /etc/ssl/chain.pem\n"
        "</VIRTUALHOST>\n"
    )
    scan = scan_apache(MemoryFS({DEBIAN: main}, dirs=["/etc/ssl"]))

    group = f"apache:{DEBIAN}:1"
    assert scan.uses == (
        _use(DEBIAN, 2, "SSLCertificateFile", "certificate", "/etc/ssl/my site/cert.pem", group),
        _use(DEBIAN, 3, "SSLCertificateKeyFile", "key", "/etc/ssl/key.pem", group),
        _use(DEBIAN, 5, "SSLCertificateChainFile", "chain", "/etc/ssl/chain.pem", group),
    )


def test_commented_directives_never_count_even_when_continued() -> None:
    main = (
        "  # SSLCertificateFile /etc/ssl/a.pem\n"
        "# continued comment \\\n"
        "SSLCertificateFile /etc/ssl/b.pem\n"
        "SSLCertificateFile /etc/ssl/c.pem\n"
    )
    scan = scan_apache(MemoryFS({DEBIAN: main}, dirs=["/etc/ssl"]))

    # httpd joins a continued comment with the next line, which is then part of the comment.
    assert [(u.line, u.path) for u in scan.uses] == [(4, "/etc/ssl/c.pem")]


def test_virtual_hosts_add_their_certificates_to_the_server_level_ones() -> None:
    main = """\
SSLCertificateFile /etc/ssl/global.pem
SSLCertificateKeyFile /etc/ssl/global.key
SSLCertificateChainFile /etc/ssl/global-chain.pem
<VirtualHost *:443>
  SSLCertificateFile /etc/ssl/ecdsa.pem
  SSLCertificateKeyFile /etc/ssl/ecdsa.key
  SSLCertificateChainFile /etc/ssl/own-chain.pem
</VirtualHost>
"""
    scan = scan_apache(MemoryFS({DEBIAN: main}, dirs=["/etc/ssl"]))

    server, vhost = f"apache:{DEBIAN}", f"apache:{DEBIAN}:4"
    assert [(u.line, u.path, u.group) for u in scan.uses] == [
        (1, "/etc/ssl/global.pem", server),
        (2, "/etc/ssl/global.key", server),
        (3, "/etc/ssl/global-chain.pem", server),
        (1, "/etc/ssl/global.pem", vhost),
        (5, "/etc/ssl/ecdsa.pem", vhost),
        (2, "/etc/ssl/global.key", vhost),
        (6, "/etc/ssl/ecdsa.key", vhost),
        (7, "/etc/ssl/own-chain.pem", vhost),
    ]


def test_proxy_client_certificate_has_its_own_group() -> None:
    main = (
        "<VirtualHost *:443>\n"
        "SSLCertificateFile /etc/ssl/site.pem\n"
        "SSLProxyMachineCertificateFile /etc/ssl/client.pem\n"
        "SSLProxyCACertificatePath /etc/ssl/backend-cas\n"
        "</VirtualHost>\n"
    )
    fs = MemoryFS({DEBIAN: main, "/etc/ssl/backend-cas/ca.pem": ""}, dirs=["/etc/ssl"])

    scan = scan_apache(fs)
    group = f"apache:{DEBIAN}:1"
    assert scan.uses[1:] == (
        _use(
            DEBIAN,
            3,
            "SSLProxyMachineCertificateFile",
            "certificate",
            "/etc/ssl/client.pem",
            group + ":proxy",
        ),
        _use(
            DEBIAN,
            4,
            "SSLProxyCACertificatePath",
            "ca",
            "/etc/ssl/backend-cas",
            group + ":proxy",
            directory=True,
        ),
    )


def test_missing_files_are_problems_and_still_uses() -> None:
    main = "<VirtualHost *:443>\nSSLCertificateFile /etc/ssl/a.pem\nSSLCertificateKeyFile /k\n"
    scan = scan_apache(MemoryFS({DEBIAN: main + "</VirtualHost>\n", "/etc/ssl/a.pem": ""}))

    assert [u.path for u in scan.uses] == ["/etc/ssl/a.pem", "/k"]
    assert scan.problems == (
        _problem(DEBIAN, 3, "SSLCertificateKeyFile points to /k, which does not exist"),
    )


def test_include_versus_include_optional() -> None:
    main = """\
Include missing.conf
IncludeOptional optional-missing.conf
Include nothing/*.conf
IncludeOptional nothing/*.conf
IncludeOptional present.conf
"""
    fs = MemoryFS({DEBIAN: main, "/etc/apache2/present.conf": "SSLCACertificateFile /ca.pem\n"})
    scan = scan_apache(fs)

    assert scan.problems == (
        _problem(
            DEBIAN,
            1,
            "cannot read included file /etc/apache2/missing.conf: No such file or directory",
        ),
        _problem(DEBIAN, 3, "Include: no file matches /etc/apache2/nothing/*.conf"),
        _problem(
            "/etc/apache2/present.conf",
            1,
            "SSLCACertificateFile points to /ca.pem, which does not exist",
        ),
    )
    assert scan.configs_read == (DEBIAN, "/etc/apache2/present.conf")


def test_include_of_a_folder_reads_every_file_below_it_in_order() -> None:
    fs = MemoryFS(
        {
            DEBIAN: "Include conf.d\n",
            "/etc/apache2/conf.d/b.conf": "",
            "/etc/apache2/conf.d/a.conf": "",
            "/etc/apache2/conf.d/sub/c.conf": "",
        }
    )

    assert scan_apache(fs).configs_read == (
        DEBIAN,
        "/etc/apache2/conf.d/a.conf",
        "/etc/apache2/conf.d/b.conf",
        "/etc/apache2/conf.d/sub/c.conf",
    )


def test_include_loop_terminates_with_one_problem() -> None:
    fs = MemoryFS(
        {
            DEBIAN: "IncludeOptional conf-enabled/*.conf\n",
            "/etc/apache2/conf-enabled/a.conf": "Include conf-enabled/b.conf\n",
            "/etc/apache2/conf-enabled/b.conf": "Include conf-enabled/a.conf\n",
        }
    )

    assert scan_apache(fs).problems == (
        _problem(
            "/etc/apache2/conf-enabled/b.conf",
            1,
            "include loop: /etc/apache2/conf-enabled/a.conf -> /etc/apache2/conf-enabled/b.conf"
            " -> /etc/apache2/conf-enabled/a.conf; not reading /etc/apache2/conf-enabled/a.conf"
            " again",
        ),
    )


def test_defined_variables_are_expanded_and_undefined_ones_reported() -> None:
    main = """\
Define SSLDIR /etc/ssl/site
SSLCertificateFile ${SSLDIR}/cert.pem
SSLCertificateKeyFile ${KEYDIR}/key.pem
"""
    scan = scan_apache(MemoryFS({DEBIAN: main, "/etc/ssl/site/cert.pem": ""}))

    assert scan.uses == (
        _use(
            DEBIAN,
            2,
            "SSLCertificateFile",
            "certificate",
            "/etc/ssl/site/cert.pem",
            f"apache:{DEBIAN}",
        ),
    )
    assert scan.problems == (
        _problem(
            DEBIAN,
            3,
            "SSLCertificateKeyFile uses an undefined variable (${KEYDIR}/key.pem); "
            "certdeck cannot follow it",
        ),
    )


def test_macro_bodies_are_not_read_and_uses_are_reported() -> None:
    main = """\
<Macro SSLHost $name>
  <VirtualHost *:443>
    SSLCertificateFile /etc/ssl/$name.pem
  </VirtualHost>
</Macro>
Use SSLHost example
"""
    scan = scan_apache(MemoryFS({DEBIAN: main}))

    assert scan.uses == ()
    assert scan.problems == (_problem(DEBIAN, 6, "Use expands a macro; certdeck cannot follow it"),)


def test_unbalanced_sections_are_problems() -> None:
    main = (
        "<VirtualHost *:443>\n<IfModule ssl>\n</VirtualHost>\n</Directory>\n<VirtualHost *:8443>\n"
    )
    scan = scan_apache(MemoryFS({DEBIAN: main}))

    assert scan.problems == (
        _problem(DEBIAN, 3, "</VirtualHost> closes <IfModule> of line 2"),
        _problem(DEBIAN, 4, "</Directory> without matching <Directory>"),
        _problem(DEBIAN, 5, "<VirtualHost> is not closed"),
    )


def test_the_suse_main_file_is_not_read_twice_when_included() -> None:
    suse = "/etc/apache2/httpd.conf"
    fs = MemoryFS({DEBIAN: "Include httpd.conf\n", suse: "SSLCertificateFile /a.pem\n"})

    scan = scan_apache(fs)
    assert scan.configs_read == (DEBIAN, suse)
    assert [u.group for u in scan.uses] == [f"apache:{DEBIAN}"]
