"""Which certificate and key files the machine's services use (DESIGN.md, *Consumer*).

Pure parsers for nginx, Apache httpd, haproxy, postfix and dovecot configurations.  They read
through a :class:`ConfigFS`, so they work on the machine (``LocalFS(Path("/"))``), on a fake
server tree (``LocalFS(root)``) or on a few files in memory (:class:`MemoryFS`).  Only
configuration reached from a service's main file counts; what cannot be followed or is
broken comes back as :class:`ConfigProblem` values, never as exceptions.
"""

from __future__ import annotations

from ._apache import APACHE_MAIN_FILES, scan_apache
from ._common import MAX_CONFIG_FILES, MAX_INCLUDE_DEPTH
from ._dovecot import DOVECOT_MAIN_FILES, scan_dovecot
from ._fs import ConfigFS, LocalFS, MemoryFS
from ._haproxy import HAPROXY_CONF_DIRS, HAPROXY_MAIN_FILES, scan_haproxy
from ._model import ConfigProblem, ConsumerScan, FileUse, Purpose
from ._nginx import NGINX_MAIN_FILES, scan_nginx
from ._postfix import POSTFIX_CONFIG_DIRECTORY, scan_postfix

__all__ = [
    "APACHE_MAIN_FILES",
    "DOVECOT_MAIN_FILES",
    "HAPROXY_CONF_DIRS",
    "HAPROXY_MAIN_FILES",
    "MAX_CONFIG_FILES",
    "MAX_INCLUDE_DEPTH",
    "NGINX_MAIN_FILES",
    "POSTFIX_CONFIG_DIRECTORY",
    "ConfigFS",
    "ConfigProblem",
    "ConsumerScan",
    "FileUse",
    "LocalFS",
    "MemoryFS",
    "Purpose",
    "find_consumers",
    "scan_apache",
    "scan_dovecot",
    "scan_haproxy",
    "scan_nginx",
    "scan_postfix",
]


def find_consumers(fs: ConfigFS) -> ConsumerScan:
    """Every service's file uses, from the standard main configuration files."""
    scans = [
        scan_nginx(fs),
        scan_apache(fs),
        scan_haproxy(fs),
        scan_postfix(fs),
        scan_dovecot(fs),
    ]
    return ConsumerScan(
        uses=tuple(use for scan in scans for use in scan.uses),
        problems=tuple(problem for scan in scans for problem in scan.problems),
        configs_read=tuple(dict.fromkeys(path for scan in scans for path in scan.configs_read)),
    )
