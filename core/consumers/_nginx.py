"""nginx: ``ssl_certificate`` and friends, following ``include``.

Relative paths (of includes and of certificate files) are taken from the folder of the main
``nginx.conf``, which is nginx's configuration prefix in every distribution build.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass

from ._common import (
    Collector,
    Declaration,
    Family,
    Scope,
    absolute,
    emit_families,
    has_magic,
    too_many_blocks,
)
from ._fs import ConfigFS
from ._model import ConsumerScan, Purpose

__all__ = ["NGINX_MAIN_FILES", "scan_nginx"]

NGINX_MAIN_FILES = (
    "/etc/nginx/nginx.conf",
    "/usr/local/etc/nginx/nginx.conf",
    "/usr/local/nginx/conf/nginx.conf",
)

_SERVER_SIDE: dict[str, Purpose] = {
    "ssl_certificate": "certificate",
    "ssl_certificate_key": "key",
    "ssl_trusted_certificate": "ca",
    "ssl_client_certificate": "ca",
}
_CLIENT_PREFIXES = ("proxy", "grpc", "uwsgi")


def _client_side(prefix: str) -> dict[str, Purpose]:
    return {
        f"{prefix}_ssl_certificate": "certificate",
        f"{prefix}_ssl_certificate_key": "key",
        f"{prefix}_ssl_trusted_certificate": "ca",
    }


_PURPOSES: dict[str, Purpose] = dict(_SERVER_SIDE)
for _prefix in _CLIENT_PREFIXES:
    _PURPOSES.update(_client_side(_prefix))

_FAMILIES = (
    Family(
        names=tuple(_SERVER_SIDE),
        group_kinds=frozenset({"server"}),
        inheriting_kinds=frozenset({"server"}),
        appending=frozenset(),
    ),
    *(
        Family(
            names=tuple(_client_side(prefix)),
            group_kinds=frozenset({"server", "location"}),
            inheriting_kinds=frozenset({"server"}),
            suffix=f":{prefix}",
        )
        for prefix in _CLIENT_PREFIXES
    ),
)

# Values that name something other than a file (OpenSSL engines and stores, inline PEM).
_NOT_FILES = ("data:", "engine:", "store:")
_VARIABLE = re.compile(r"\$(?:\{?[A-Za-z0-9_])")

# Blanks and comments are skipped before each token, so one match is one token.
_TOKEN = re.compile(
    r"""
    (?:\s++|\#[^\n]*+)*+
    (?:
      (?P<dquote>"(?:[^"\\]|\\.)*+")
    | (?P<squote>'(?:[^'\\]|\\.)*+')
    | (?P<special>[;{}])
    | (?P<word>(?:\\.|\$\{|[^\s;{"'\\}])(?:\\.|\$\{|[^\s;{\\])*+)
    | (?P<bad>.)
    | \Z  # blanks or a comment ending the text
    )
    """,
    re.VERBOSE | re.DOTALL,
)
_ESCAPES = {'"': '"', "'": "'", "\\": "\\", "t": "\t", "r": "\r", "n": "\n"}
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)


def _unescape(text: str) -> str:
    return _ESCAPE.sub(lambda m: _ESCAPES.get(m.group(1), m.group(0)), text)


@dataclass(frozen=True, slots=True)
class _Statement:
    kind: str  # "directive", "open", "close" or "error"
    args: tuple[str, ...]
    line: int


def _statements(text: str) -> Iterator[_Statement]:
    """nginx's tokeniser: words, quoted strings, ``#`` comments, ``;``, ``{`` and ``}``."""
    args: list[str] = []
    start = 0
    line = 1
    position = 0
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup
        if kind is None:
            continue
        begin = match.start(kind)
        line += text.count("\n", position, begin)
        position = begin
        token = match.group(kind)
        if kind == "bad":
            message = "unterminated quoted string" if token in "\"'" else "stray backslash"
            yield _Statement("error", (message,), line)
            return
        if not args:
            start = line
        if kind == "special":
            if token == ";":
                if args:
                    yield _Statement("directive", tuple(args), start)
            elif token == "{":
                yield _Statement("open", tuple(args), start if args else line)
            else:
                if args:
                    yield _Statement("error", (f'"{args[0]}" is missing its ";"',), start)
                yield _Statement("close", (), line)
            args = []
        else:
            if kind != "word":
                token = token[1:-1]
            args.append(_unescape(token) if "\\" in token else token)
    if args:
        yield _Statement("error", (f'unexpected end of file: "{args[0]}" has no ";"',), start)


class _Parser:
    def __init__(self, collector: Collector, main: str) -> None:
        self.collector = collector
        self.main = main
        self.prefix = posixpath.dirname(main)
        self.root = Scope("", f"nginx:{main}")
        self.scopes: list[Scope] = [self.root]
        # The open blocks; None marks one skipped for nesting too deep.
        self.blocks: list[Scope | None] = [self.root]
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
        last_line = 1
        for statement in _statements(text):
            last_line = statement.line
            if not self.collector.tick(path, last_line):
                break
            self.statement(path, statement, base)
        if len(self.blocks) > base:
            self.collector.problem(path, last_line, 'unexpected end of file, expecting "}"')
            del self.blocks[base:]
        self.files.pop()

    def statement(self, path: str, statement: _Statement, base: int) -> None:
        line = statement.line
        if statement.kind == "error":
            self.collector.problem(path, line, statement.args[0])
        elif statement.kind == "close":
            if len(self.blocks) <= base:
                self.collector.problem(path, line, 'unexpected "}"')
            else:
                self.blocks.pop()
        elif statement.kind == "open":
            parent = self.blocks[-1]
            if parent is None or too_many_blocks(
                self.collector, self.scopes, len(self.blocks), path, line
            ):
                self.blocks.append(None)
                return
            name = statement.args[0].lower() if statement.args else ""
            scope = Scope(name, f"nginx:{path}:{line}", parent)
            self.scopes.append(scope)
            self.blocks.append(scope)
        else:
            current = self.blocks[-1]
            if current is not None:
                self.directive(path, statement.args, line, current)

    def directive(self, path: str, args: tuple[str, ...], line: int, scope: Scope) -> None:
        name = args[0]
        if name == "include":
            if len(args) != 2:
                self.collector.problem(path, line, "include takes exactly one file name")
                return
            self.include(path, line, args[1])
            return
        purpose = _PURPOSES.get(name)
        if purpose is None:
            return
        if len(args) != 2:
            self.collector.problem(path, line, f"{name} takes exactly one file name")
            return
        value = args[1]
        if value.startswith(_NOT_FILES):
            scope.declare_unfollowable(name)
            return
        if _VARIABLE.search(value):
            self.collector.problem(
                path, line, f"{name} uses a variable ({value}); certdeck cannot follow it"
            )
            scope.declare_unfollowable(name)
            return
        declaration = Declaration(name, purpose, absolute(value, self.prefix), path, line)
        scope.declare(name, declaration)

    def include(self, path: str, line: int, value: str) -> None:
        target = absolute(value, self.prefix)
        if not has_magic(target):
            self.parse_file(target, config=path, line=line, what="included file")
            return
        for match in self.collector.glob(target):
            self.parse_file(match, config=path, line=line, what="included file")


def scan_nginx(fs: ConfigFS, main_files: tuple[str, ...] = NGINX_MAIN_FILES) -> ConsumerScan:
    """The files nginx uses, from each of ``main_files`` that exists."""
    collector = Collector(fs, "nginx")
    for main in main_files:
        if fs.is_file(main) and not collector.was_read(main):
            _Parser(collector, main).run()
    return collector.scan()
