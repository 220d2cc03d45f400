"""Apache httpd: mod_ssl's file directives, following ``Include`` and ``IncludeOptional``.

Sections other than ``<VirtualHost>`` (``<IfModule>``, ``<IfDefine>``, ``<Directory>``, …) are
read as if their condition held.  A ``<VirtualHost>`` gets the server-level certificates and
keys as well as its own (mod_ssl appends the lists) and the server-level chain and CA files
unless it sets its own.  ``<Macro>`` bodies are templates and are not read; ``Use`` lines are
reported instead.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field
from typing import NamedTuple

from ._common import (
    MAX_INCLUDE_DEPTH,
    Collector,
    Declaration,
    Family,
    Scope,
    absolute,
    emit_families,
    has_magic,
    logical_lines,
    too_many_blocks,
)
from ._fs import ConfigFS, normalise
from ._model import ConsumerScan, Purpose

__all__ = ["APACHE_MAIN_FILES", "scan_apache"]

APACHE_MAIN_FILES = (
    "/etc/apache2/apache2.conf",  # Debian, Ubuntu
    "/etc/httpd/conf/httpd.conf",  # RHEL, Fedora
    "/etc/apache2/httpd.conf",  # SUSE, Alpine
)


class _Kind(NamedTuple):
    directive: str
    purpose: Purpose
    directory: bool = False


_SERVER_SIDE = {
    kind.directive.lower(): kind
    for kind in (
        _Kind("SSLCertificateFile", "certificate"),
        _Kind("SSLCertificateKeyFile", "key"),
        _Kind("SSLCertificateChainFile", "chain"),
        _Kind("SSLCACertificateFile", "ca"),
        _Kind("SSLCACertificatePath", "ca", directory=True),
        _Kind("SSLCADNRequestFile", "ca"),
        _Kind("SSLCADNRequestPath", "ca", directory=True),
    )
}
_PROXY_SIDE = {
    kind.directive.lower(): kind
    for kind in (
        _Kind("SSLProxyMachineCertificateFile", "certificate"),
        _Kind("SSLProxyMachineCertificatePath", "certificate", directory=True),
        _Kind("SSLProxyMachineCertificateChainFile", "chain"),
        _Kind("SSLProxyCACertificateFile", "ca"),
        _Kind("SSLProxyCACertificatePath", "ca", directory=True),
    )
}
_KINDS = {**_SERVER_SIDE, **_PROXY_SIDE}
_GROUP_KINDS = frozenset({"", "virtualhost"})
_FAMILIES = (
    Family(
        names=tuple(_SERVER_SIDE),
        group_kinds=_GROUP_KINDS,
        inheriting_kinds=frozenset({"virtualhost"}),
        appending=frozenset({"sslcertificatefile", "sslcertificatekeyfile"}),
    ),
    Family(
        names=tuple(_PROXY_SIDE),
        group_kinds=_GROUP_KINDS,
        inheriting_kinds=frozenset({"virtualhost"}),
        suffix=":proxy",
    ),
)

# ap_getword_conf: a double- or single-quoted word (backslash escapes the quote) or a run of
# non-blanks.  An unterminated quote runs to the end of the line, as in httpd.
_WORD = re.compile(r"""\s*(?:"((?:\\"|[^"])*)"?|'((?:\\'|[^'])*)'?|(\S+))""")
_DEFINE = re.compile(r"\$\{([^}]*)\}")
_SECTION_END = re.compile(r"</\s*([^>\s]*)")
_MACRO_START = re.compile(r"<macro[\s>]", re.IGNORECASE)
_MACRO_END = re.compile(r"</macro\s*>", re.IGNORECASE)


def _words(text: str) -> list[str]:
    words: list[str] = []
    position = 0
    while position < len(text):
        match = _WORD.match(text, position)
        if match is None or match.end() == position:
            break
        position = match.end()
        if match.group(1) is not None:
            words.append(match.group(1).replace('\\"', '"'))
        elif match.group(2) is not None:
            words.append(match.group(2).replace("\\'", "'"))
        elif match.group(3) is not None:
            words.append(match.group(3))
    return words


class _Section(NamedTuple):
    name: str
    line: int
    outer: Scope


@dataclass
class _Sections:
    """The sections open in one file (httpd closes every section in the file it opened)."""

    open: list[_Section] = field(default_factory=list)
    skipped: int = 0
    """Sections opened past the nesting bound, still to be closed."""


def _default_server_root(main: str) -> str:
    folder = posixpath.dirname(main)
    # RHEL keeps httpd.conf in ServerRoot/conf/.
    return posixpath.dirname(folder) if posixpath.basename(folder) == "conf" else folder


class _Parser:
    def __init__(self, collector: Collector, main: str) -> None:
        self.collector = collector
        self.main = main
        self.server_root = _default_server_root(main)
        self.root = Scope("", f"apache:{main}")
        self.scope = self.root
        self.scopes: list[Scope] = [self.root]
        self.files: list[str] = []
        self.defines: dict[str, str] = {}

    def run(self) -> None:
        self.parse_file(self.main, config=self.main, line=0, what="main configuration")
        emit_families(self.collector, self.scopes, _FAMILIES)

    def parse_file(self, path: str, *, config: str, line: int, what: str) -> None:
        text = self.collector.read(path, stack=self.files, config=config, line=line, what=what)
        if text is None:
            return
        self.files.append(path)
        sections = _Sections()
        in_macro = 0
        for number, logical in logical_lines(text, escaped_backslash=True):
            if not self.collector.tick(path, number):
                break
            stripped = logical.strip()
            if not stripped or stripped.startswith("#"):
                continue
            if in_macro:
                if _MACRO_END.match(stripped):
                    in_macro -= 1
                elif _MACRO_START.match(stripped):
                    in_macro += 1
                continue
            if "${" in stripped:
                stripped = _DEFINE.sub(self.substitute, stripped)
            if stripped.startswith("</"):
                self.close(path, number, stripped, sections)
            elif stripped.startswith("<"):
                if _MACRO_START.match(stripped):
                    in_macro = 1
                else:
                    self.open(path, number, stripped, sections)
            else:
                self.directive(path, number, _words(stripped))
        for section in reversed(sections.open):
            self.collector.problem(path, section.line, f"<{section.name}> is not closed")
        if sections.open:
            self.scope = sections.open[0].outer
        self.files.pop()

    def substitute(self, match: re.Match[str]) -> str:
        return self.defines.get(match.group(1), match.group(0))

    def open(self, path: str, number: int, text: str, sections: _Sections) -> None:
        inner = text[1:]
        if inner.endswith(">"):
            inner = inner[:-1]
        else:
            self.collector.problem(path, number, "section is missing its closing '>'")
        if sections.skipped or too_many_blocks(
            self.collector, (), len(sections.open) + 1, path, number
        ):
            sections.skipped += 1
            return
        words = _words(inner)
        name = words[0] if words else ""
        sections.open.append(_Section(name, number, self.scope))
        if name.lower() == "virtualhost":
            if self.scope is not self.root:
                self.collector.problem(path, number, "<VirtualHost> inside <VirtualHost>")
            self.scope = Scope("virtualhost", f"apache:{path}:{number}", self.root)
            # Past the bound the host's directives land in a scope that is never reported.
            if not too_many_blocks(self.collector, self.scopes, 0, path, number):
                self.scopes.append(self.scope)

    def close(self, path: str, number: int, text: str, sections: _Sections) -> None:
        if sections.skipped:
            sections.skipped -= 1
            return
        match = _SECTION_END.match(text)
        name = match.group(1) if match else ""
        names = [section.name.lower() for section in sections.open]
        if name.lower() not in names:
            self.collector.problem(path, number, f"</{name}> without matching <{name}>")
            return
        index = len(names) - 1 - names[::-1].index(name.lower())
        if index != len(names) - 1:
            inner = sections.open[-1]
            self.collector.problem(
                path, number, f"</{name}> closes <{inner.name}> of line {inner.line}"
            )
        self.scope = sections.open[index].outer
        del sections.open[index:]

    def directive(self, path: str, number: int, words: list[str]) -> None:
        if not words:
            return
        name = words[0].lower()
        value = words[1] if len(words) > 1 else None
        if name == "serverroot" and value is not None:
            self.server_root = normalise(value)
        elif name == "define" and value is not None:
            self.defines[value] = words[2] if len(words) > 2 else ""
        elif name == "undefine" and value is not None:
            self.defines.pop(value, None)
        elif name in ("include", "includeoptional"):
            if value is None:
                self.collector.problem(path, number, f"{words[0]} without a file name")
            else:
                self.include(path, number, value, optional=name == "includeoptional")
        elif name == "use":
            self.collector.problem(path, number, "Use expands a macro; certdeck cannot follow it")
        elif name in _KINDS:
            self.file_directive(path, number, _KINDS[name], value)

    def file_directive(self, path: str, number: int, kind: _Kind, value: str | None) -> None:
        if value is None:
            self.collector.problem(path, number, f"{kind.directive} without a file name")
            return
        if value.lower().startswith("pkcs11:"):
            self.scope.declare_unfollowable(kind.directive.lower())
            return
        if "${" in value:
            self.collector.problem(
                path,
                number,
                f"{kind.directive} uses an undefined variable ({value}); certdeck cannot follow it",
            )
            self.scope.declare_unfollowable(kind.directive.lower())
            return
        declaration = Declaration(
            kind.directive,
            kind.purpose,
            absolute(value, self.server_root),
            path,
            number,
            kind.directory,
        )
        self.scope.declare(kind.directive.lower(), declaration)

    def include(self, path: str, number: int, value: str, *, optional: bool) -> None:
        directive = "IncludeOptional" if optional else "Include"
        if "${" in value:
            self.collector.problem(
                path,
                number,
                f"{directive} uses an undefined variable ({value}); certdeck cannot follow it",
            )
            return
        target = absolute(value, self.server_root)
        if has_magic(target):
            matches = self.collector.glob(target)
            if not matches and not optional:
                self.collector.problem(path, number, f"Include: no file matches {target}")
            for match in matches:
                self.include_path(match, path, number, depth=0)
        elif optional and not self.collector.is_dir(target):
            if self.collector.is_file(target):
                self.include_path(target, path, number, depth=0)
        else:
            self.include_path(target, path, number, depth=0)

    def include_path(self, target: str, config: str, number: int, *, depth: int) -> None:
        """Read ``target``, or every file below it when it is a folder (httpd recurses)."""
        if not self.collector.is_dir(target):
            self.parse_file(target, config=config, line=number, what="included file")
            return
        # Folder levels count with include levels: together they bound the recursion.
        if depth + len(self.files) >= MAX_INCLUDE_DEPTH:
            self.collector.problem(
                config, number, f"folders nested too deeply below {target}; not read"
            )
            return
        try:
            entries = self.collector.fs.list_dir(target)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            self.collector.problem(config, number, f"cannot list {target}: {reason}")
            return
        for entry in entries:
            self.include_path(normalise(entry), config, number, depth=depth + 1)


def scan_apache(fs: ConfigFS, main_files: tuple[str, ...] = APACHE_MAIN_FILES) -> ConsumerScan:
    """The files Apache httpd uses, from each of ``main_files`` that exists."""
    collector = Collector(fs, "apache")
    for main in main_files:
        if fs.is_file(main) and not collector.was_read(main):
            _Parser(collector, main).run()
    return collector.scan()
