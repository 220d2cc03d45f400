"""postfix: the TLS file parameters of ``main.cf`` and the ``-o`` overrides of ``master.cf``.

``main.cf`` gives three contexts: the SMTP server (``smtpd_``), the SMTP client (``smtp_``) and
the LMTP client (``lmtp_``).  A ``master.cf`` service that overrides one of a context's file
parameters with ``-o`` forms a context of its own, with the other parameters from ``main.cf``.
``$name`` references are expanded from ``main.cf``, the service's overrides and postfix's
defaults.  As in postfix, a key file left empty means the key is in the certificate file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import NamedTuple

from ._common import Collector, absolute
from ._fs import ConfigFS
from ._model import ConsumerScan, Purpose

__all__ = ["POSTFIX_CONFIG_DIRECTORY", "scan_postfix"]

POSTFIX_CONFIG_DIRECTORY = "/etc/postfix"

_DEFAULTS = {
    "config_directory": POSTFIX_CONFIG_DIRECTORY,
    "queue_directory": "/var/spool/postfix",
    "data_directory": "/var/lib/postfix",
    "meta_directory": POSTFIX_CONFIG_DIRECTORY,
    "command_directory": "/usr/sbin",
    "daemon_directory": "/usr/lib/postfix/sbin",
    "shlib_directory": "/usr/lib/postfix",
}
_PREFIXES = ("smtpd", "smtp", "lmtp")
_MAX_EXPANSION = 20
_MAX_REFERENCES = 1000
_MAX_VALUE = 4096  # PATH_MAX: no file parameter needs more


class _Kind(NamedTuple):
    suffix: str
    purpose: Purpose
    is_list: bool = False
    directory: bool = False
    default_from: str | None = None


_KINDS = (
    _Kind("tls_cert_file", "certificate"),
    _Kind("tls_key_file", "key", default_from="tls_cert_file"),
    _Kind("tls_eccert_file", "certificate"),
    _Kind("tls_eckey_file", "key", default_from="tls_eccert_file"),
    _Kind("tls_dcert_file", "certificate"),
    _Kind("tls_dkey_file", "key", default_from="tls_dcert_file"),
    _Kind("tls_chain_files", "chain", is_list=True),
    _Kind("tls_CAfile", "ca"),
    _Kind("tls_CApath", "ca", directory=True),
)
_SUFFIXES = frozenset(kind.suffix for kind in _KINDS)

_ASSIGNMENT = re.compile(r"([A-Za-z0-9_.-]+)\s*=\s*(.*)", re.DOTALL)
_REFERENCE = re.compile(
    r"""\$(?:
        (?P<bare>[A-Za-z0-9_]+)
      | \{(?P<bname>[A-Za-z0-9_]+)(?:(?P<bop>[?:])(?P<barg>(?:[^{}]|\{[^{}]*\})*))?\}
      | \((?P<pname>[A-Za-z0-9_]+)(?:(?P<pop>[?:])(?P<parg>[^()]*))?\)
    )""",
    re.VERBOSE,
)
_LIST = re.compile(r"[\s,]+")


class _Param(NamedTuple):
    value: str
    config: str
    line: int
    parts: tuple[tuple[str, int], ...] = ()
    """The value's words with their line numbers (a value may span continuation lines)."""


class _Token(NamedTuple):
    text: str
    line: int


def _logical_lines(text: str) -> Iterator[tuple[int, list[_Token]]]:
    """postfix's lines: a line starting with whitespace continues the one before.

    Blank lines and lines whose first non-blank is ``#`` are skipped, even between a line
    and its continuation.  Each logical line comes as tokens with their line numbers.
    """
    tokens: list[_Token] = []
    start = 0
    for number, line in enumerate(text.split("\n"), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if not line[0].isspace() and tokens:
            yield start, tokens
            tokens = []
        if not tokens:
            start = number
        tokens.extend(_Token(word, number) for word in stripped.split())
    if tokens:
        yield start, tokens


class _Expander:
    """postfix's ``$name`` expansion, bounded against self-referencing or exploding values."""

    def __init__(self, params: Mapping[str, _Param], defaults: Mapping[str, str]) -> None:
        self.params = params
        self.defaults = defaults
        self.missing: list[str] = []
        self.failure: str | None = None
        self.references = 0

    def lookup(self, name: str) -> str | None:
        param = self.params.get(name)
        return param.value if param is not None else self.defaults.get(name)

    def expand(self, value: str, depth: int = 0) -> str:
        if self.failure is None and (depth > _MAX_EXPANSION or len(value) > _MAX_VALUE):
            self.failure = "expands too deeply or to too much text"
        if self.failure is not None:
            return value
        result = _REFERENCE.sub(lambda match: self.replace(match, depth), value)
        if len(result) > _MAX_VALUE and self.failure is None:
            self.failure = "expands too deeply or to too much text"
        return result

    def replace(self, match: re.Match[str], depth: int) -> str:
        self.references += 1
        if self.references > _MAX_REFERENCES and self.failure is None:
            self.failure = "expands too deeply or to too much text"
        if self.failure is not None:
            return match.group()
        name = match["bare"] or match["bname"] or match["pname"]
        operator = match["bop"] or match["pop"]
        raw = self.lookup(name)
        if operator:
            argument = (match["barg"] if match["bop"] else match["parg"]) or ""
            if argument.startswith("{") and argument.endswith("}"):
                argument = argument[1:-1]
            is_set = bool(raw and self.expand(raw, depth + 1))
            return self.expand(argument, depth + 1) if is_set == (operator == "?") else ""
        if raw is None:
            self.missing.append(name)
            return match.group()
        return self.expand(raw, depth + 1)


class _Parser:
    def __init__(self, collector: Collector, config_directory: str) -> None:
        self.collector = collector
        self.main = f"{config_directory}/main.cf"
        self.master = f"{config_directory}/master.cf"
        self.defaults = dict(_DEFAULTS, config_directory=config_directory)
        hostname = self.hostname()
        if hostname:
            self.defaults["myhostname"] = hostname
            self.defaults["myorigin"] = hostname
            if "." in hostname:
                self.defaults["mydomain"] = hostname.partition(".")[2]

    def hostname(self) -> str:
        try:
            text = self.collector.fs.read_text("/etc/hostname")
        except OSError:
            return ""
        words = text.split()
        return words[0] if words else ""

    def run(self) -> None:
        params: dict[str, _Param] = {}
        if self.collector.is_file(self.main):
            params = self.parse_main()
            for prefix in _PREFIXES:
                self.emit(prefix, params, f"postfix:{self.main}:{prefix}")
        if self.collector.is_file(self.master):
            self.parse_master(params)

    def parse_main(self) -> dict[str, _Param]:
        params: dict[str, _Param] = {}
        text = self.collector.read(
            self.main, stack=[], config=self.main, line=0, what="main configuration"
        )
        if text is None:
            return params
        for number, tokens in _logical_lines(text):
            if not self.collector.tick(self.main, number):
                break
            logical = " ".join(token.text for token in tokens)
            match = _ASSIGNMENT.fullmatch(logical)
            if match is None:
                self.collector.problem(
                    self.main, number, "not a parameter setting (expected name = value)"
                )
                continue
            params[match.group(1)] = _Param(
                match.group(2).strip(), self.main, number, _value_parts(tokens)
            )
        return params

    def parse_master(self, params: Mapping[str, _Param]) -> None:
        text = self.collector.read(
            self.master, stack=[], config=self.master, line=0, what="service table"
        )
        if text is None:
            return
        for number, tokens in _logical_lines(text):
            if not self.collector.tick(self.master, number):
                break
            if len(tokens) < 8:
                self.collector.problem(self.master, number, "service line has fewer than 8 fields")
                continue
            overrides = self.overrides(tokens[8:])
            service = f"{tokens[0].text}/{tokens[1].text}"
            for prefix in _PREFIXES:
                if any(_family_suffix(name, prefix) in _SUFFIXES for name in overrides):
                    effective = {**params, **overrides}
                    self.emit(prefix, effective, f"postfix:{self.master}:{service}")

    def overrides(self, tokens: list[_Token]) -> dict[str, _Param]:
        """The ``-o name=value`` (or ``-o { name = value }``) settings among ``tokens``."""
        found: dict[str, _Param] = {}
        index = 0
        while index < len(tokens):
            token = tokens[index]
            index += 1
            if token.text == "-o" and index < len(tokens):
                setting = tokens[index]
                index += 1
                text = setting.text
                if text.startswith("{"):
                    parts = [text]
                    while not parts[-1].endswith("}") and index < len(tokens):
                        parts.append(tokens[index].text)
                        index += 1
                    text = " ".join(parts)[1:].removesuffix("}")
            elif token.text.startswith("-o") and len(token.text) > 2:
                setting, text = token, token.text[2:]
            else:
                continue
            name, equals, value = text.partition("=")
            if equals:
                value = value.strip()
                found[name.strip()] = _Param(
                    value, self.master, setting.line, ((value, setting.line),)
                )
        return found

    def emit(self, prefix: str, params: Mapping[str, _Param], group: str) -> None:
        chain_files = params.get(f"{prefix}_tls_chain_files")
        for kind in _KINDS:
            name = f"{prefix}_{kind.suffix}"
            param = params.get(name)
            if chain_files and chain_files.value and kind.purpose in ("certificate", "key"):
                # postfix ignores the per-algorithm files once chain files are set.
                if param is not None and param.value:
                    self.collector.problem(
                        param.config,
                        param.line,
                        f"{name} is ignored because {prefix}_tls_chain_files is set",
                    )
                continue
            implicit = False
            if (param is None or not param.value) and kind.default_from is not None:
                param = params.get(f"{prefix}_{kind.default_from}")
                implicit = True
            if param is None or not param.value:
                continue
            parts = param.parts if kind.is_list and param.parts else ((param.value, param.line),)
            for text, line in parts:
                self.emit_value(name, kind, params, param.config, line, text, group, implicit)

    def emit_value(
        self,
        name: str,
        kind: _Kind,
        params: Mapping[str, _Param],
        config: str,
        line: int,
        text: str,
        group: str,
        implicit: bool,
    ) -> None:
        expander = _Expander(params, self.defaults)
        value = expander.expand(text)
        if expander.missing or expander.failure:
            if implicit:
                return
            reason = (
                expander.failure
                if expander.failure is not None
                else f"uses ${expander.missing[0]}, which is not set"
            )
            self.collector.problem(config, line, f"{name} {reason}; certdeck cannot follow it")
            return
        # postfix daemons run in the queue folder, so relative names start there.
        queue_directory = expander.expand(
            expander.lookup("queue_directory") or _DEFAULTS["queue_directory"]
        )
        for item in _LIST.split(value) if kind.is_list else [value.strip()]:
            if not item:
                continue
            self.collector.use(
                config=config,
                line=line,
                directive=name,
                purpose=kind.purpose,
                path=absolute(item, queue_directory),
                group=group,
                directory=kind.directory,
                # A key defaulting to the certificate file: the certificate's check covers it.
                check=not implicit,
            )


def _value_parts(tokens: list[_Token]) -> tuple[tuple[str, int], ...]:
    """The words after the ``=`` of a ``name = value`` line, with their line numbers."""
    parts: list[tuple[str, int]] = []
    seen_equals = False
    for token in tokens:
        if seen_equals:
            parts.append((token.text, token.line))
        elif "=" in token.text:
            seen_equals = True
            rest = token.text.partition("=")[2]
            if rest:
                parts.append((rest, token.line))
    return tuple(parts)


def _family_suffix(name: str, prefix: str) -> str:
    return name[len(prefix) + 1 :] if name.startswith(prefix + "_") else ""


def scan_postfix(fs: ConfigFS, config_directory: str = POSTFIX_CONFIG_DIRECTORY) -> ConsumerScan:
    """The files postfix uses, from ``main.cf`` and ``master.cf`` in ``config_directory``."""
    collector = Collector(fs, "postfix")
    _Parser(collector, config_directory).run()
    return collector.scan()
