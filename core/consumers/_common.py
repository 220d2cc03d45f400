"""What every service parser shares: bounded reading, recording, and inherited settings."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from ._fs import ConfigFS, normalise
from ._model import ConfigProblem, ConsumerScan, FileUse, Purpose

__all__ = [
    "MAX_BLOCKS",
    "MAX_CONFIG_FILES",
    "MAX_INCLUDE_DEPTH",
    "MAX_NESTING",
    "MAX_PROBLEMS",
    "MAX_STATEMENTS",
    "Collector",
    "Declaration",
    "Family",
    "Scope",
    "absolute",
    "emit_families",
    "has_magic",
    "logical_lines",
    "too_many_blocks",
]

MAX_INCLUDE_DEPTH = 32
"""Includes nested deeper than this are not followed (real configurations use 2 or 3)."""
MAX_CONFIG_FILES = 2000
"""At most this many configuration files are read per service."""
MAX_NESTING = 64
"""Blocks nested deeper than this are skipped."""
MAX_TOTAL_CHARS = 16 * 1024 * 1024
"""At most this much configuration text is parsed per service (a few seconds' work)."""
MAX_STATEMENTS = 1_000_000
"""At most this many directives and lines are looked at per service (a few seconds' work)."""
MAX_PROBLEMS = 10_000
"""At most this many problems are listed per service."""
MAX_BLOCKS = 100_000
"""Blocks after this many in one configuration are skipped."""

_MAGIC = re.compile(r"[*?[]")


def has_magic(path: str) -> bool:
    """Whether ``path`` holds shell wildcards."""
    return _MAGIC.search(path) is not None


def too_many_blocks(
    collector: Collector, scopes: Sequence[Scope], depth: int, config: str, line: int
) -> bool:
    """Whether a block opened at ``depth`` must be skipped (each reason reported once)."""
    if depth > MAX_NESTING:
        message = f"blocks nested deeper than {MAX_NESTING} levels are skipped"
    elif len(scopes) >= MAX_BLOCKS:
        message = f"more than {MAX_BLOCKS} blocks; the rest are skipped"
    else:
        return False
    collector.problem_once(message, config, line)
    return True


def absolute(value: str, base: str) -> str:
    """``value`` as a normalised machine path, relative values taken from folder ``base``."""
    return normalise(posixpath.join(base, value))


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__


class Collector:
    """Reads one service's configuration files within bounds and records what they say."""

    def __init__(self, fs: ConfigFS, service: str) -> None:
        self.fs = fs
        self.service = service
        self._uses: dict[FileUse, None] = {}
        self._problems: dict[ConfigProblem, None] = {}
        self._configs: dict[str, None] = {}
        self._texts: dict[str, str | OSError] = {}
        self._files_read = 0
        self._chars_read = 0
        self._budget_reported = False
        self._kinds: dict[str, str] = {}
        self._loops: set[frozenset[str]] = set()
        self._loop_sites: set[tuple[str, int]] = set()
        self._once: set[str] = set()
        self._statements = 0

    def scan(self) -> ConsumerScan:
        """Everything recorded so far."""
        return ConsumerScan(tuple(self._uses), tuple(self._problems), tuple(self._configs))

    def was_read(self, path: str) -> bool:
        """Whether ``path`` has already been reached as a configuration file."""
        return path in self._configs

    def problem(self, config: str, line: int, message: str) -> None:
        """Record a problem (each distinct one once, and at most :data:`MAX_PROBLEMS`)."""
        if len(self._problems) < MAX_PROBLEMS:
            self._problems.setdefault(ConfigProblem(self.service, config, line, message))
        elif len(self._problems) == MAX_PROBLEMS:
            message = f"more than {MAX_PROBLEMS} problems; the rest are not listed"
            self._problems.setdefault(ConfigProblem(self.service, config, line, message))

    def problem_once(self, message: str, config: str, line: int) -> None:
        """Record a problem only the first time ``message`` comes up, wherever it is."""
        if message not in self._once:
            self._once.add(message)
            self.problem(config, line, message)

    def tick(self, config: str, line: int) -> bool:
        """Count one directive or line; ``False`` once the work bound is reached."""
        self._statements += 1
        if self._statements <= MAX_STATEMENTS:
            return True
        self.problem_once(
            f"more than {MAX_STATEMENTS} directives; the rest of the configuration is skipped",
            config,
            line,
        )
        return False

    def read(
        self,
        path: str,
        *,
        stack: Sequence[str],
        config: str,
        line: int,
        what: str = "included file",
    ) -> str | None:
        """The text of configuration file ``path``, or ``None`` after recording why not.

        ``stack`` holds the files being read, outermost first; ``config``/``line`` name the
        directive that asks for ``path`` (the file itself, line 0, for a main file).
        """
        if path in stack:
            cycle = [*stack[stack.index(path) :]]
            # The same loop is met again from each of its files (a glob often matches them
            # all): report it once, and at most one loop per include directive.
            key = frozenset(cycle)
            if key not in self._loops and (config, line) not in self._loop_sites:
                self._loops.add(key)
                self._loop_sites.add((config, line))
                shown = " -> ".join([*cycle, path])
                self.problem(config, line, f"include loop: {shown}; not reading {path} again")
            return None
        if len(stack) >= MAX_INCLUDE_DEPTH:
            self.problem(
                config,
                line,
                f"includes nested deeper than {MAX_INCLUDE_DEPTH} levels; not reading {path}",
            )
            return None
        if self._files_read >= MAX_CONFIG_FILES or self._chars_read >= MAX_TOTAL_CHARS:
            if not self._budget_reported:
                self._budget_reported = True
                self.problem(
                    config,
                    line,
                    f"stopped at {path}: more than {MAX_CONFIG_FILES} configuration files or "
                    f"{MAX_TOTAL_CHARS // (1024 * 1024)} MiB of configuration to read",
                )
            return None
        cached = self._texts.get(path)
        if cached is None:
            try:
                cached = self.fs.read_text(path)
            except OSError as exc:
                cached = exc
            self._texts[path] = cached
        if isinstance(cached, OSError):
            self.problem(config, line, f"cannot read {what} {path}: {_reason(cached)}")
            return None
        self._files_read += 1
        self._chars_read += len(cached)
        self._configs.setdefault(path)
        return cached

    def glob(self, pattern: str) -> list[str]:
        """The machine paths matching ``pattern`` (normalised)."""
        return [normalise(path) for path in self.fs.glob(pattern)]

    def use(
        self,
        *,
        config: str,
        line: int,
        directive: str,
        purpose: Purpose,
        path: str,
        group: str,
        directory: bool = False,
        check: bool = True,
    ) -> None:
        """Record a file use and, when ``check``, a problem if the file is not there."""
        if not self.tick(config, line):
            return
        self._uses.setdefault(
            FileUse(self.service, config, line, directive, purpose, path, group, directory)
        )
        if not check:
            return
        trouble = self._check(path, directory)
        if trouble is not None:
            self.problem(config, line, f"{directive} points to {path}, which {trouble}")

    def is_file(self, path: str) -> bool:
        """Whether ``path`` is a file (asked of the file system once per path)."""
        return self._kind(path) == "file"

    def is_dir(self, path: str) -> bool:
        """Whether ``path`` is a folder (asked of the file system once per path)."""
        return self._kind(path) == "folder"

    def _kind(self, path: str) -> str:
        kind = self._kinds.get(path)
        if kind is None:
            if self.fs.is_file(path):
                kind = "file"
            elif self.fs.is_dir(path):
                kind = "folder"
            else:
                kind = "missing"
            self._kinds[path] = kind
        return kind

    def _check(self, path: str, directory: bool) -> str | None:
        kind = self._kind(path)
        if directory:
            return {"folder": None, "file": "is not a folder"}.get(kind, "does not exist")
        return {"file": None, "folder": "is a folder"}.get(kind, "does not exist")


@dataclass(frozen=True, slots=True)
class Declaration:
    """One directive naming a file, before it is known which contexts use it."""

    directive: str
    purpose: Purpose
    path: str
    config: str
    line: int
    directory: bool = False


@dataclass(eq=False)
class Scope:
    """A block of a configuration (an nginx ``server``, an Apache ``<VirtualHost>``, …).

    ``kind`` is the block's lower-case name, ``""`` for the top level.
    """

    kind: str
    group: str
    parent: Scope | None = None
    declared: dict[str, list[Declaration]] = field(default_factory=dict)

    def declare(self, name: str, declaration: Declaration, *, replace: bool = False) -> None:
        """Record a directive ``name``; ``replace`` when a repeat overrides the earlier one."""
        if replace:
            self.declared[name] = [declaration]
        else:
            self.declared.setdefault(name, []).append(declaration)

    def declare_unfollowable(self, name: str, *, replace: bool = False) -> None:
        """Record that directive ``name`` is set here to something that is not a file.

        It still overrides the enclosing levels' setting.
        """
        if replace:
            self.declared[name] = []
        else:
            self.declared.setdefault(name, [])

    def ancestors(self) -> Iterable[Scope]:
        """The enclosing scopes, innermost first."""
        scope = self.parent
        while scope is not None:
            yield scope
            scope = scope.parent


@dataclass(frozen=True)
class Family:
    """Directives a context uses together, e.g. a server's certificate, key and CA files.

    A scope of a kind in ``group_kinds`` forms its own group when it declares one of
    ``names``; one of a kind in ``inheriting_kinds`` also does when an enclosing scope does.
    A group uses, for each name, the nearest declaration (every declaration from the top
    down for names in ``appending``).  Declarations no group uses form their scope's group.
    """

    names: Sequence[str]
    group_kinds: frozenset[str]
    inheriting_kinds: frozenset[str] = frozenset()
    appending: frozenset[str] = frozenset()
    suffix: str = ""


def emit_families(
    collector: Collector, scopes: Sequence[Scope], families: Iterable[Family]
) -> None:
    """Record the file uses of ``scopes`` (in document order) for every family."""
    for family in families:
        emitted: set[int] = set()
        names = set(family.names)
        for scope in scopes:
            if scope.kind not in family.group_kinds:
                continue
            declares = not names.isdisjoint(scope.declared)
            if not declares and not (
                scope.kind in family.inheriting_kinds
                and any(not names.isdisjoint(up.declared) for up in scope.ancestors())
            ):
                continue
            for name in family.names:
                for declaration in _effective(scope, name, name in family.appending):
                    emitted.add(id(declaration))
                    _emit(collector, declaration, scope.group + family.suffix)
        for scope in scopes:
            for name in family.names:
                for declaration in scope.declared.get(name, ()):
                    if id(declaration) not in emitted:
                        _emit(collector, declaration, scope.group + family.suffix)


def _effective(scope: Scope, name: str, appending: bool) -> list[Declaration]:
    chain = [scope, *scope.ancestors()]
    if appending:
        return [d for s in reversed(chain) for d in s.declared.get(name, ())]
    for s in chain:
        if name in s.declared:
            return s.declared[name]
    return []


def _emit(collector: Collector, declaration: Declaration, group: str) -> None:
    collector.use(
        config=declaration.config,
        line=declaration.line,
        directive=declaration.directive,
        purpose=declaration.purpose,
        path=declaration.path,
        group=group,
        directory=declaration.directory,
    )


def logical_lines(text: str, *, escaped_backslash: bool = False) -> Iterator[tuple[int, str]]:
    """Lines joined at a trailing backslash, each with the number of its first line.

    Args:
        text: the configuration file.
        escaped_backslash: a line ending in two backslashes ends with a literal backslash
            and does not continue (Apache httpd); dovecot continues after any backslash.
    """
    parts: list[str] = []
    start = 1
    for number, raw in enumerate(text.split("\n"), 1):
        line = raw.removesuffix("\r")
        if not parts:
            start = number
        if line.endswith("\\") and not (escaped_backslash and line.endswith("\\\\")):
            parts.append(line[:-1])
            continue
        parts.append(line)
        yield start, "".join(parts)
        parts = []
    if parts:
        yield start, "".join(parts)
