"""dovecot: ``ssl_cert = <file`` and friends, following ``!include`` and ``!include_try``.

A section (``local 10.0.0.1 { … }``, ``local_name mail.example.org { … }``, ``protocol imap
{ … }``) that sets one of the file settings forms its own group and takes the settings it does
not set from the enclosing level.  Both the 2.3 names (``ssl_cert``, with ``<``) and the 2.4
names (``ssl_server_cert_file``, a plain path, also inside ``ssl_server { … }``) are read.
Relative paths are taken from the folder of the file that holds them.
"""

from __future__ import annotations

import posixpath
import re
from typing import NamedTuple

from ._common import (
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
from ._fs import ConfigFS
from ._model import ConsumerScan, Purpose

__all__ = ["DOVECOT_MAIN_FILES", "scan_dovecot"]

DOVECOT_MAIN_FILES = ("/etc/dovecot/dovecot.conf",)


class _Kind(NamedTuple):
    purpose: Purpose
    # 2.3's certificate settings hold PEM text; "<path" reads it from a file.
    reads_file: bool = True
    directory: bool = False


_SERVER_SIDE = {
    "ssl_cert": _Kind("certificate"),
    "ssl_key": _Kind("key"),
    "ssl_alt_cert": _Kind("certificate"),
    "ssl_alt_key": _Kind("key"),
    "ssl_ca": _Kind("ca"),
    "ssl_server_cert_file": _Kind("certificate", reads_file=False),
    "ssl_server_key_file": _Kind("key", reads_file=False),
    "ssl_server_ca_file": _Kind("ca", reads_file=False),
}
_CLIENT_SIDE = {
    "ssl_client_cert": _Kind("certificate"),
    "ssl_client_key": _Kind("key"),
    "ssl_client_ca_file": _Kind("ca", reads_file=False),
    "ssl_client_ca_dir": _Kind("ca", reads_file=False, directory=True),
    "ssl_client_cert_file": _Kind("certificate", reads_file=False),
    "ssl_client_key_file": _Kind("key", reads_file=False),
}
_KINDS = {**_SERVER_SIDE, **_CLIENT_SIDE}
_GROUP_KINDS = frozenset({"", "section"})
_FAMILIES = (
    Family(names=tuple(_SERVER_SIDE), group_kinds=_GROUP_KINDS),
    Family(names=tuple(_CLIENT_SIDE), group_kinds=_GROUP_KINDS, suffix=":client"),
)
# 2.4 settings may be written inside a named filter: ssl_server { cert_file = … }
_PREFIX_SECTIONS = frozenset({"ssl_server", "ssl_client"})

# Everything up to an unquoted '#', which starts a comment anywhere on the line.
_CODE = re.compile(r"""(?:[^#"']++|"(?:[^"\\]|\\.)*+"|'(?:[^'\\]|\\.)*+')*+""")
_SETTING = re.compile(r"([^\s=]+)\s*=\s*(.*)", re.DOTALL)
_ONE_LINE_SECTION = re.compile(r"([^{}=]*)\{([^{}]*)\}")
_INCLUDE = re.compile(r"!(include|include_try)\s+(.*)", re.DOTALL)
_VARIABLE = re.compile(r"\$(?:\{|[A-Za-z_])|%\{")


def _strip_comment(line: str) -> str:
    end = _CODE.match(line)
    code_end = end.end() if end else 0
    if code_end < len(line) and line[code_end] == "#":
        return line[:code_end]
    return line


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


class _Block(NamedTuple):
    scope: Scope | None  # None: a block skipped for nesting too deep
    prefix: str
    line: int


class _Parser:
    def __init__(self, collector: Collector, main: str) -> None:
        self.collector = collector
        self.main = main
        self.root = Scope("", f"dovecot:{main}")
        self.scopes: list[Scope] = [self.root]
        self.blocks: list[_Block] = [_Block(self.root, "", 0)]
        self.files: list[str] = []

    def run(self) -> None:
        self.parse_file(self.main, config=self.main, line=0, what="main configuration")
        emit_families(self.collector, self.scopes, _FAMILIES)

    def parse_file(self, path: str, *, config: str, line: int, what: str) -> None:
        text = self.collector.read(path, stack=self.files, config=config, line=line, what=what)
        if text is None:
            return
        self.files.append(path)
        base = len(self.blocks)
        for number, logical in logical_lines(text):
            if not self.collector.tick(path, number):
                break
            self.line(path, number, _strip_comment(logical).strip(), base)
        for block in reversed(self.blocks[base:]):
            self.collector.problem(path, block.line, "section is not closed")
        del self.blocks[base:]
        self.files.pop()

    def line(self, path: str, number: int, text: str, base: int) -> None:
        if not text:
            return
        block = self.blocks[-1]
        if text == "}":
            if len(self.blocks) <= base:
                self.collector.problem(path, number, 'unexpected "}"')
            else:
                self.blocks.pop()
            return
        if text.endswith("{"):
            self.open(path, number, text[:-1].split(), block)
            return
        one_line = _ONE_LINE_SECTION.fullmatch(text)
        if one_line is not None:  # name { key = value }
            self.open(path, number, one_line.group(1).split(), block)
            self.line(path, number, one_line.group(2).strip(), base)
            self.line(path, number, "}", base)
            return
        scope = block.scope
        if scope is None:
            return
        include = _INCLUDE.fullmatch(text)
        if include is not None:
            self.include(path, number, _unquote(include.group(2).strip()), include.group(1))
            return
        setting = _SETTING.fullmatch(text)
        if setting is None:
            self.collector.problem(path, number, "not a setting (expected name = value)")
            return
        name = block.prefix + setting.group(1)
        kind = _KINDS.get(name)
        if kind is not None:
            self.setting(path, number, name, kind, _unquote(setting.group(2).strip()), scope)

    def open(self, path: str, number: int, words: list[str], block: _Block) -> None:
        if block.scope is None or too_many_blocks(
            self.collector, self.scopes, len(self.blocks), path, number
        ):
            self.blocks.append(_Block(None, "", number))
            return
        if len(words) == 1 and words[0] in _PREFIX_SECTIONS:
            self.blocks.append(_Block(block.scope, words[0] + "_", number))
            return
        scope = Scope("section", f"dovecot:{path}:{number}", block.scope)
        self.scopes.append(scope)
        self.blocks.append(_Block(scope, "", number))

    def setting(
        self, path: str, number: int, name: str, kind: _Kind, value: str, scope: Scope
    ) -> None:
        if kind.reads_file and value.startswith("<"):
            value = value[1:].strip()
        elif kind.reads_file:
            value = ""  # inline PEM text: no file
        if not value or _VARIABLE.search(value):
            if value:
                self.collector.problem(
                    path, number, f"{name} uses a variable ({value}); certdeck cannot follow it"
                )
            scope.declare_unfollowable(name, replace=True)
            return
        target = absolute(value, posixpath.dirname(path))
        declaration = Declaration(name, kind.purpose, target, path, number, kind.directory)
        scope.declare(name, declaration, replace=True)

    def include(self, path: str, number: int, value: str, directive: str) -> None:
        target = absolute(value, posixpath.dirname(path))
        optional = directive == "include_try"
        if has_magic(target):
            matches = self.collector.glob(target)
            if not matches and not optional:
                self.collector.problem(path, number, f"!include: no file matches {target}")
        elif optional and not self.collector.is_file(target):
            matches = []
        else:
            matches = [target]
        for match in matches:
            self.parse_file(match, config=path, line=number, what="included file")


def scan_dovecot(fs: ConfigFS, main_files: tuple[str, ...] = DOVECOT_MAIN_FILES) -> ConsumerScan:
    """The files dovecot uses, from each of ``main_files`` that exists."""
    collector = Collector(fs, "dovecot")
    for main in main_files:
        if fs.is_file(main) and not collector.was_read(main):
            _Parser(collector, main).run()
    return collector.scan()
