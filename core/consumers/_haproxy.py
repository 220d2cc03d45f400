"""haproxy: ``crt``, ``crt-list`` and ``ca-file`` on ``bind`` and ``server`` lines.

Relative paths take ``crt-base``/``ca-base`` from ``global`` (or a ``crt-store`` section);
without one they are relative to ``/``, systemd's working folder for the service.  On RHEL and
Fedora the service also reads every ``*.cfg`` file in ``/etc/haproxy/conf.d``, after the main
file and as part of the same configuration.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from itertools import pairwise

from ._common import Collector, absolute
from ._fs import ConfigFS
from ._model import ConsumerScan, Purpose

__all__ = ["HAPROXY_CONF_DIRS", "HAPROXY_MAIN_FILES", "scan_haproxy"]

HAPROXY_MAIN_FILES = ("/etc/haproxy/haproxy.cfg",)
HAPROXY_CONF_DIRS = ("/etc/haproxy/conf.d",)

_SECTIONS = frozenset(
    {
        "global",
        "defaults",
        "frontend",
        "backend",
        "listen",
        "peers",
        "resolvers",
        "userlist",
        "mailers",
        "program",
        "http-errors",
        "ring",
        "cache",
        "crt-store",
        "log-forward",
        "fcgi-app",
        "traces",
        "acme",
    }
)
_LINE_KEYWORDS = frozenset({"bind", "server", "default-server"})
_CA_KEYWORDS = frozenset({"ca-file", "ca-verify-file"})
# Files haproxy reads next to a certificate instead of as certificates of their own.
_COMPANIONS = (".key", ".ocsp", ".issuer", ".sctl")

_PIECE = re.compile(
    r"""
      (?P<space>[ \t\r\f\v]+)
    | (?P<comment>\#.*)
    | (?P<dquote>"(?:[^"\\]|\\.)*"?)
    | (?P<squote>'[^']*'?)
    | (?P<escape>\\.?)
    | (?P<text>[^\s"'\\#]+)
    """,
    re.VERBOSE | re.DOTALL,
)
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)
_VARIABLE = re.compile(r"\$(?:\{|[A-Za-z_])")


@dataclass(frozen=True, slots=True)
class _Word:
    text: str
    variable: bool


def _words(line: str) -> list[_Word]:
    """haproxy's line splitting: quotes and escapes join pieces, ``#`` starts a comment."""
    words: list[_Word] = []
    pieces: list[str] = []
    variable = False
    for match in _PIECE.finditer(line):
        kind = match.lastgroup
        piece = match.group()
        if kind in ("space", "comment"):
            if pieces:
                words.append(_Word("".join(pieces), variable))
                pieces, variable = [], False
            if kind == "comment":
                break
        elif kind == "squote":
            pieces.append(piece[1:].removesuffix("'"))
        elif kind == "dquote":
            body = piece[1:-1] if len(piece) > 1 and piece.endswith('"') else piece[1:]
            variable = variable or _VARIABLE.search(body) is not None
            pieces.append(_ESCAPE.sub(r"\1", body))
        elif kind == "escape":
            pieces.append(piece[1:])
        else:
            variable = variable or _VARIABLE.search(piece) is not None
            pieces.append(piece)
    if pieces:
        words.append(_Word("".join(pieces), variable))
    return words


class _Parser:
    def __init__(self, collector: Collector) -> None:
        self.collector = collector
        self.section = ""
        self.crt_base = ""
        self.ca_base = ""
        self.key_base = ""
        self.store_crt_base: str | None = None
        self.store_key_base: str | None = None
        self.del_ext = False

    def parse_file(self, path: str) -> None:
        text = self.collector.read(path, stack=[], config=path, line=0, what="configuration file")
        if text is None:
            return
        for number, line in enumerate(text.split("\n"), 1):
            if not self.collector.tick(path, number):
                break
            words = _words(line)
            if words:
                self.line(path, number, words)

    def line(self, path: str, number: int, words: list[_Word]) -> None:
        keyword = words[0].text
        value = words[1] if len(words) > 1 else None
        if keyword in _SECTIONS:
            self.section = keyword
            self.store_crt_base = self.store_key_base = None
        elif keyword.startswith("."):
            return  # .if/.else/.endif and friends: every branch is read
        elif keyword in ("crt-base", "ca-base", "key-base") and value is not None:
            base = absolute(value.text, "/")
            if self.section == "crt-store" and keyword != "ca-base":
                if keyword == "crt-base":
                    self.store_crt_base = base
                else:
                    self.store_key_base = base
            elif keyword == "crt-base":
                self.crt_base = base
            elif keyword == "ca-base":
                self.ca_base = base
            else:
                self.key_base = base
        elif keyword == "ssl-load-extra-del-ext":
            self.del_ext = True
        elif keyword in _LINE_KEYWORDS:
            self.options(path, number, words[1:], group=f"haproxy:{path}:{number}")
        elif keyword == "load" and self.section == "crt-store":
            self.load(path, number, words[1:])

    def options(self, path: str, number: int, words: list[_Word], *, group: str) -> None:
        for keyword, value in pairwise(words):
            name = keyword.text
            if name not in ("crt", "crt-list", *_CA_KEYWORDS):
                continue
            if value.text.startswith("@"):
                continue  # @store/name refers to a crt-store entry, @system-ca to the OS
            if value.variable:
                self.collector.problem(
                    path,
                    number,
                    f"{name} uses a variable ({value.text}); certdeck cannot follow it",
                )
                continue
            if name == "crt":
                self.crt(path, number, name, self.resolve(value.text, self.crt_base), group)
            elif name == "crt-list":
                self.crt_list(path, number, absolute(value.text, "/"), group)
            else:
                self.collector.use(
                    config=path,
                    line=number,
                    directive=name,
                    purpose="ca",
                    path=self.resolve(value.text, self.ca_base),
                    group=group,
                )

    def load(self, path: str, number: int, words: list[_Word]) -> None:
        group = f"haproxy:{path}:{number}"
        crt_base = self.crt_base if self.store_crt_base is None else self.store_crt_base
        key_base = self.key_base if self.store_key_base is None else self.store_key_base
        for keyword, value in pairwise(words):
            purpose: Purpose
            if keyword.text == "crt":
                purpose, base = "certificate", crt_base
            elif keyword.text == "key":
                purpose, base = "key", key_base
            else:
                continue
            if value.variable:
                self.collector.problem(
                    path,
                    number,
                    f"{keyword.text} uses a variable ({value.text}); certdeck cannot follow it",
                )
                continue
            self.collector.use(
                config=path,
                line=number,
                directive=keyword.text,
                purpose=purpose,
                path=self.resolve(value.text, base),
                group=group,
            )

    @staticmethod
    def resolve(value: str, base: str) -> str:
        return absolute(value, base or "/")

    def crt(self, path: str, number: int, directive: str, target: str, group: str) -> None:
        fs = self.collector.fs
        if not self.collector.is_dir(target):
            self.certificate(path, number, directive, target, group)
            return
        self.collector.use(
            config=path,
            line=number,
            directive=directive,
            purpose="certificate",
            path=target,
            group=group,
            directory=True,
        )
        try:
            entries = fs.list_dir(target)
        except OSError as exc:
            self.collector.problem(path, number, f"cannot list {target}: {exc.strerror or exc}")
            return
        for entry in entries:
            name = posixpath.basename(entry)
            if (
                name.startswith(".")
                or name.endswith(_COMPANIONS)
                or not self.collector.is_file(entry)
            ):
                continue
            self.certificate(path, number, directive, absolute(entry, "/"), group)

    def certificate(self, path: str, number: int, directive: str, target: str, group: str) -> None:
        """A certificate file and the key and issuer files haproxy looks for next to it."""
        self.collector.use(
            config=path,
            line=number,
            directive=directive,
            purpose="certificate",
            path=target,
            group=group,
        )
        keys = [target + ".key"]
        stem, extension = posixpath.splitext(target)
        if self.del_ext and extension:
            keys.insert(0, stem + ".key")
        key = next((key for key in keys if self.collector.is_file(key)), None)
        issuer = target + ".issuer"
        companions: list[tuple[str | None, Purpose]] = [
            (key, "key"),
            (issuer if self.collector.is_file(issuer) else None, "chain"),
        ]
        for companion, purpose in companions:
            if companion is not None:
                self.collector.use(
                    config=path,
                    line=number,
                    directive=directive,
                    purpose=purpose,
                    path=companion,
                    group=group,
                    check=False,
                )

    def crt_list(self, path: str, number: int, target: str, group: str) -> None:
        self.collector.use(
            config=path,
            line=number,
            directive="crt-list",
            purpose="crt-list",
            path=target,
            group=group,
        )
        if not self.collector.is_file(target):
            return
        text = self.collector.read(target, stack=[path], config=path, line=number, what="crt-list")
        if text is None:
            return
        for entry_number, line in enumerate(text.split("\n"), 1):
            if not self.collector.tick(target, entry_number):
                break
            words = _words(line)
            if not words:
                continue
            first = words[0]
            if first.variable:
                self.collector.problem(
                    target,
                    entry_number,
                    f"crt-list entry uses a variable ({first.text}); certdeck cannot follow it",
                )
                continue
            self.crt(target, entry_number, "crt", self.resolve(first.text, self.crt_base), group)
            options = _bracketed(words[1:])
            for keyword, value in pairwise(options):
                if keyword.text in _CA_KEYWORDS and not value.text.startswith("@"):
                    self.collector.use(
                        config=target,
                        line=entry_number,
                        directive=keyword.text,
                        purpose="ca",
                        path=self.resolve(value.text, self.ca_base),
                        group=group,
                    )


def _bracketed(words: list[_Word]) -> list[_Word]:
    """The SSL options between ``[`` and ``]`` after a crt-list entry's certificate."""
    options: list[_Word] = []
    inside = False
    for word in words:
        text = word.text
        if not inside and text.startswith("["):
            inside, text = True, text[1:]
        if not inside:
            continue
        end = text.endswith("]")
        text = text.removesuffix("]")
        if text:
            options.append(_Word(text, word.variable))
        if end:
            break
    return options


def scan_haproxy(
    fs: ConfigFS,
    main_files: tuple[str, ...] = HAPROXY_MAIN_FILES,
    conf_dirs: tuple[str, ...] = HAPROXY_CONF_DIRS,
) -> ConsumerScan:
    """The files haproxy uses, from ``main_files`` and the ``*.cfg`` files of ``conf_dirs``."""
    collector = Collector(fs, "haproxy")
    for main in main_files:
        if not fs.is_file(main):
            continue
        parser = _Parser(collector)
        parser.parse_file(main)
        for folder in conf_dirs:
            for extra in collector.glob(posixpath.join(folder, "*.cfg")):
                if fs.is_file(extra):
                    parser.parse_file(extra)
    return collector.scan()
