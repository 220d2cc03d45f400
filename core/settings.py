"""The settings file: one frozen dataclass per TOML section, checked generically.

Each field carries its rules in ``field(metadata=...)`` so that loading, saving, the Settings
tab and its editor all work from one description:

- ``doc``: one or two sentences for the user (shown in the TUI and written as a comment),
- ``min`` / ``max``: bounds of an integer,
- ``choices``: the allowed values of a string,
- ``path``: the value (or every list item) is an absolute path on the machine; an empty
  string stays allowed for a plain string field and means "use the default",
- ``nonempty``: a string or list that must not be empty,
- ``toml``: the TOML name when it differs from the Python attribute (``import_``).

Supported field types are ``int``, ``bool``, ``str`` and ``tuple[str, ...]``.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import json
import os
import re
import stat
import textwrap
import tomllib
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import platformdirs
import tomli_w

from core.errors import SettingsError
from core.fsutil import atomic_write, ensure_private_dir, free_name

__all__ = [
    "BackupSettings",
    "ChecksSettings",
    "ConsumerSetting",
    "ExportSettings",
    "ImportSettings",
    "ScanSettings",
    "SettingInfo",
    "SettingKind",
    "SettingValue",
    "Settings",
    "TrustSettings",
    "default_settings_path",
    "describe_settings",
    "load_settings",
    "save_settings",
    "with_value",
]

SettingValue = int | bool | str | tuple[str, ...]
SettingKind = Literal["int", "bool", "str", "list", "choice"]


@dataclass(frozen=True, slots=True)
class ScanSettings:
    """Where certdeck looks for certificates."""

    paths: tuple[str, ...] = field(
        default=(),
        metadata={
            "doc": "Extra files or folders to scan for certificates, as absolute paths on the "
            'machine, for example "/opt/app/tls".',
            "path": True,
        },
    )
    exclude: tuple[str, ...] = field(
        default=(),
        metadata={
            "doc": "Paths to skip while scanning, as shell-style patterns matched against the "
            'full path, for example "/etc/ssl/old/*".',
        },
    )
    max_file_size: int = field(
        default=10 * 1024 * 1024,
        metadata={
            "doc": "Files larger than this many bytes are skipped and listed as unreadable, "
            "so a stray disk image cannot slow the scan down.",
            "min": 1,
        },
    )
    default_locations: bool = field(
        default=True,
        metadata={
            "doc": "Scan /etc, /usr/local/etc, /usr/local/share/ca-certificates and the system "
            "trust store. Set to false to scan only scan.paths and the files consumers use.",
        },
    )


@dataclass(frozen=True, slots=True)
class TrustSettings:
    """Which certificates count as trust anchors besides the system trust store."""

    anchors: tuple[str, ...] = field(
        default=(),
        metadata={
            "doc": "Extra certificate files or folders whose certificates are trusted as roots, "
            "in addition to the system trust store, for example your company's own CA.",
            "path": True,
        },
    )


@dataclass(frozen=True, slots=True)
class ChecksSettings:
    """Thresholds of the checks that produce findings."""

    expiring_days: int = field(
        default=30,
        metadata={
            "doc": "A certificate that expires within this many days is reported as "
            "expiring. 0 turns the warning off.",
            "min": 0,
            "max": 3650,
        },
    )
    min_rsa_bits: int = field(
        default=2048,
        metadata={
            "doc": "RSA keys shorter than this many bits are reported as weak.",
            "min": 1024,
            "max": 16384,
        },
    )
    min_ec_bits: int = field(
        default=256,
        metadata={
            "doc": "Elliptic-curve keys smaller than this many bits are reported as weak.",
            "min": 160,
            "max": 571,
        },
    )


@dataclass(frozen=True, slots=True)
class ExportSettings:
    """How certificates are exported."""

    directory: str = field(
        default="",
        metadata={
            "doc": "Folder that exports are written to. Leave empty to be asked each time.",
            "path": True,
        },
    )
    one_file_per_certificate: bool = field(
        default=True,
        metadata={
            "doc": "Write each exported certificate to its own file. Set to false to put all "
            "selected certificates into one file.",
        },
    )
    pkcs12_encryption: str = field(
        default="modern",
        metadata={
            "doc": 'Encryption of password-protected PKCS#12 (.p12/.pfx) exports: "modern" '
            '(AES-256) for current systems, "legacy" (triple DES) for old Windows, Java and '
            "appliances that cannot open modern files.",
            "choices": ("modern", "legacy"),
        },
    )


@dataclass(frozen=True, slots=True)
class ImportSettings:
    """Where imported certificates and keys are stored."""

    directory: str = field(
        default="",
        metadata={
            "doc": "Folder that imported certificates and keys are written to. Leave empty for "
            "a certdeck folder under /etc/ssl when run as root, or in your data folder "
            "otherwise.",
            "path": True,
        },
    )


@dataclass(frozen=True, slots=True)
class BackupSettings:
    """Cyclic backups of certificates and keys."""

    directory: str = field(
        default="",
        metadata={
            "doc": "Folder that backups are written to. Leave empty to use certdeck's default "
            "backup folder.",
            "path": True,
        },
    )
    keep: int = field(
        default=10,
        metadata={
            "doc": "How many backups to keep; after a new backup the oldest ones beyond this "
            "number are deleted.",
            "min": 1,
        },
    )
    password_file: str = field(
        default="",
        metadata={
            "doc": "File holding the password that protects backups; keep it readable by its "
            "owner only (mode 0600). Leave empty to be asked for the password.",
            "path": True,
        },
    )


@dataclass(frozen=True, slots=True)
class ConsumerSetting:
    """Files something on this machine uses, declared by hand."""

    name: str = field(
        metadata={
            "doc": 'What uses the files, shown in the "used by" column, for example '
            '"billing database".',
            "nonempty": True,
        },
    )
    files: tuple[str, ...] = field(
        metadata={
            "doc": "Certificate and key files it uses, as absolute paths on the machine. The "
            "certificates in them count as required.",
            "path": True,
            "nonempty": True,
        },
    )
    role: str = field(
        default="",
        metadata={"doc": 'A label for what the files are, for example "database key".'},
    )
    check_expiry: bool = field(
        default=True,
        metadata={
            "doc": "Report expired and expiring certificates in these files. Set to false "
            "where expiry does not matter.",
        },
    )


@dataclass(frozen=True, slots=True)
class Settings:
    """All of certdeck's settings; every section has working defaults."""

    scan: ScanSettings = field(default_factory=ScanSettings, metadata={"doc": ScanSettings.__doc__})
    trust: TrustSettings = field(
        default_factory=TrustSettings, metadata={"doc": TrustSettings.__doc__}
    )
    checks: ChecksSettings = field(
        default_factory=ChecksSettings, metadata={"doc": ChecksSettings.__doc__}
    )
    export: ExportSettings = field(
        default_factory=ExportSettings, metadata={"doc": ExportSettings.__doc__}
    )
    import_: ImportSettings = field(
        default_factory=ImportSettings, metadata={"doc": ImportSettings.__doc__, "toml": "import"}
    )
    backup: BackupSettings = field(
        default_factory=BackupSettings, metadata={"doc": BackupSettings.__doc__}
    )
    consumers: tuple[ConsumerSetting, ...] = field(
        default=(),
        metadata={
            "doc": "Files that something on this machine uses, so that their certificates "
            "count as required even when no service configuration names them.",
        },
    )


@dataclass(frozen=True, slots=True)
class SettingInfo:
    """One editable setting as the Settings tab shows it.

    Attributes:
        section: TOML section name, e.g. ``"import"``.
        key: TOML key inside the section, e.g. ``"directory"``.
        value: The current value.
        default: The value used when the file does not set it.
        doc: What the setting does, for the user.
        kind: How to edit it: ``int``, ``bool``, ``str``, ``list`` or ``choice``.
        choices: The allowed values of a ``choice`` setting, else empty.
        expected: What a valid value looks like, e.g. ``"an integer from 0 to 3650"``.
    """

    section: str
    key: str
    value: SettingValue
    default: SettingValue
    doc: str
    kind: SettingKind
    choices: tuple[str, ...] = ()
    expected: str = ""

    @property
    def name(self) -> str:
        """The dotted name used in messages, e.g. ``checks.expiring_days``."""
        return f"{self.section}.{self.key}"

    @property
    def text(self) -> str:
        """The current value as text that :func:`with_value` accepts back."""
        return _as_text(self.value)

    @property
    def default_text(self) -> str:
        """The default value as text."""
        return _as_text(self.default)


def default_settings_path() -> Path:
    """``$CERTDECK_CONFIG`` if set, else ``settings.toml`` in the user's config folder."""
    override = os.environ.get("CERTDECK_CONFIG")
    if override:
        return Path(override).expanduser()
    return platformdirs.user_config_path("certdeck") / "settings.toml"


def load_settings(path: Path) -> Settings:
    """Read and check the settings file; a missing file gives the defaults.

    Raises:
        SettingsError: The file cannot be read, is not UTF-8 or TOML, or holds an unknown
            key or a bad value.  Every problem found is reported, one per line, each naming
            the file, the key and what was expected.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Settings()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise SettingsError(f"{path}: cannot read the settings file: {reason}") from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SettingsError(
            f"{path}: the settings file is not UTF-8 text "
            f"(byte 0x{raw[exc.start]:02x} on line {line})"
        ) from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: the settings file is not valid TOML: {exc}") from exc
    try:
        return _settings_from(data)
    except _Problems as exc:
        raise SettingsError("\n".join(f"{path}: {problem}" for problem in exc.problems)) from None


def save_settings(settings: Settings, path: Path) -> Path | None:
    """Write every setting to ``path`` as commented TOML, atomically.

    A new file gets mode 0600 (its folder 0700 when created); an existing file keeps its
    mode, and a symlink keeps pointing at the file it names.  An existing file that does not
    load (broken by hand) is kept beside it as ``NAME.broken`` (or a free variant) before it
    is replaced, so nothing typed into it is lost.

    Returns:
        The path the broken file was kept at, or ``None``.

    Raises:
        SettingsError: A value would be refused when loading, or the file cannot be written.
    """
    try:
        _settings_from(_as_data(settings))
    except _Problems as exc:
        raise SettingsError(
            "\n".join(f"{path}: not saved: {problem}" for problem in exc.problems)
        ) from None
    content = _render(settings).encode("utf-8")
    try:
        target = Path(os.path.realpath(path)) if path.is_symlink() else path
        try:
            mode = stat.S_IMODE(target.stat().st_mode)
        except FileNotFoundError:
            mode = 0o600
        kept: Path | None = None
        if target.exists():
            try:
                load_settings(target)
            except SettingsError:
                kept = free_name(target.with_name(target.name + ".broken"))
                atomic_write(kept, target.read_bytes(), mode=mode)
        ensure_private_dir(target.parent)
        atomic_write(target, content, mode=mode, overwrite=True)
        return kept
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise SettingsError(f"{path}: cannot save the settings: {reason}") from exc


def describe_settings(settings: Settings) -> list[SettingInfo]:
    """Every editable setting with its value, default and documentation, in file order.

    Consumers are not included: they are tables, edited in the settings file.
    """
    infos: list[SettingInfo] = []
    for section in _sections():
        current = getattr(settings, section.attr)
        for spec in _specs(section.cls):
            infos.append(
                SettingInfo(
                    section=section.key,
                    key=spec.key,
                    value=getattr(current, spec.attr),
                    default=spec.default,
                    doc=spec.doc,
                    kind=spec.kind,
                    choices=spec.choices,
                    expected=spec.expected,
                )
            )
    return infos


def with_value(settings: Settings, section: str, key: str, text: str) -> Settings:
    """Return ``settings`` with one value replaced by what a user typed.

    ``text`` is read according to the setting's kind: an integer; ``true``/``false``,
    ``yes``/``no`` or ``on``/``off``; a comma-separated list (empty for none); one of the
    choices; or a string.  Surrounding spaces are ignored.

    Raises:
        SettingsError: Unknown setting, a consumer, or a value that would be refused when
            loading; the message says why.
    """
    if section == "consumers":
        raise SettingsError(
            "consumers cannot be changed here; edit the [[consumers]] tables in the settings file"
        )
    by_key = {candidate.key: candidate for candidate in _sections()}
    found = by_key.get(section)
    if found is None:
        raise SettingsError(_unknown("section", section, list(by_key)))
    specs = {spec.key: spec for spec in _specs(found.cls)}
    spec = specs.get(key)
    if spec is None:
        raise SettingsError(
            _unknown("setting", f"{section}.{key}", [f"{section}.{k}" for k in specs])
        )
    name = f"{section}.{key}"
    try:
        value = _check(spec, _parse_text(spec, text, name), name)
    except _Invalid as exc:
        raise SettingsError(str(exc)) from None
    current = getattr(settings, found.attr)
    changed = dataclasses.replace(current, **{spec.attr: value})
    return dataclasses.replace(settings, **{found.attr: changed})


class _Invalid(Exception):
    """One refused value, phrased for the user."""


class _Problems(Exception):
    """Everything wrong with a settings document."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(problems)
        self.problems = problems


@dataclass(frozen=True, slots=True)
class _Spec:
    """The rules of one field, read from its type and metadata."""

    attr: str
    key: str
    kind: SettingKind
    doc: str
    default: SettingValue
    required: bool
    minimum: int | None
    maximum: int | None
    choices: tuple[str, ...]
    path: bool
    nonempty: bool

    @property
    def expected(self) -> str:
        """What a valid value is, as in "… must be <expected>, not …"."""
        if self.kind == "int":
            if self.minimum is not None and self.maximum is not None:
                return f"an integer from {self.minimum} to {self.maximum}"
            if self.minimum is not None:
                return f"an integer of at least {self.minimum}"
            if self.maximum is not None:
                return f"an integer of at most {self.maximum}"
            return "an integer"
        if self.kind == "bool":
            return "true or false"
        if self.kind == "choice":
            return _alternatives(self.choices)
        if self.kind == "list":
            items = "absolute paths" if self.path else "strings"
            return f"a non-empty list of {items}" if self.nonempty else f"a list of {items}"
        if self.path:
            return "an absolute path (starting with /) or empty"
        return "a non-empty string" if self.nonempty else "a string"

    @property
    def item_expected(self) -> str:
        """What one item of a list is."""
        return "an absolute path (starting with /)" if self.path else "a non-empty string"


@dataclass(frozen=True, slots=True)
class _Section:
    attr: str
    key: str
    cls: type[Any]
    doc: str


_SPECS: dict[type[Any], tuple[_Spec, ...]] = {}


def _specs(cls: type[Any]) -> tuple[_Spec, ...]:
    """The rules of every field of a settings dataclass, in declaration order."""
    cached = _SPECS.get(cls)
    if cached is None:
        cached = _SPECS[cls] = _read_specs(cls)
    return cached


def _read_specs(cls: type[Any]) -> tuple[_Spec, ...]:
    hints = typing.get_type_hints(cls)
    specs: list[_Spec] = []
    for item in dataclasses.fields(cls):
        meta = item.metadata
        hint = hints[item.name]
        kind: SettingKind
        if hint is bool:
            kind = "bool"
        elif hint is int:
            kind = "int"
        elif hint is str:
            kind = "choice" if "choices" in meta else "str"
        elif typing.get_origin(hint) is tuple and typing.get_args(hint) == (str, ...):
            kind = "list"
        else:
            raise TypeError(f"{cls.__name__}.{item.name}: unsupported setting type {hint!r}")
        required = item.default is dataclasses.MISSING
        # Required fields have no default; the empty value of their kind stands in.
        default: SettingValue = (
            (() if kind == "list" else "")
            if required
            else typing.cast("SettingValue", item.default)
        )
        specs.append(
            _Spec(
                attr=item.name,
                key=meta.get("toml", item.name),
                kind=kind,
                doc=meta["doc"],
                default=default,
                required=required,
                minimum=meta.get("min"),
                maximum=meta.get("max"),
                choices=tuple(meta.get("choices", ())),
                path=bool(meta.get("path", False)),
                nonempty=bool(meta.get("nonempty", False)),
            )
        )
    return tuple(specs)


@functools.cache
def _sections() -> tuple[_Section, ...]:
    hints = typing.get_type_hints(Settings)
    return tuple(
        _Section(
            attr=item.name,
            key=item.metadata.get("toml", item.name),
            cls=hints[item.name],
            doc=item.metadata["doc"],
        )
        for item in dataclasses.fields(Settings)
        if item.name != "consumers"
    )


def _check(spec: _Spec, value: object, name: str) -> SettingValue:
    """Return ``value`` as the field stores it, or raise :class:`_Invalid`."""
    if spec.kind == "list":
        if not isinstance(value, list | tuple):
            hint = f" (for one entry write [{json.dumps(value)}])" if isinstance(value, str) else ""
            raise _Invalid(f"{name} must be {spec.expected}, not {_show(value)}{hint}")
        items: list[str] = []
        for index, item in enumerate(value):
            if not isinstance(item, str) or not _text_ok(spec, item, item=True):
                raise _Invalid(f"{name}[{index}] must be {spec.item_expected}, not {_show(item)}")
            items.append(item)
        if spec.nonempty and not items:
            raise _Invalid(f"{name} must be {spec.expected}, not []")
        return tuple(items)
    ok: bool
    if spec.kind == "bool":
        ok = isinstance(value, bool)
    elif spec.kind == "int":
        # TOML's true/false are Python bools, which are ints: refuse them explicitly.
        ok = (
            isinstance(value, int)
            and not isinstance(value, bool)
            and (spec.minimum is None or value >= spec.minimum)
            and (spec.maximum is None or value <= spec.maximum)
        )
    elif spec.kind == "choice":
        ok = isinstance(value, str) and value in spec.choices
    else:
        ok = isinstance(value, str) and _text_ok(spec, value, item=False)
    if not ok:
        raise _Invalid(f"{name} must be {spec.expected}, not {_show(value)}")
    return typing.cast("SettingValue", value)


def _text_ok(spec: _Spec, value: str, *, item: bool) -> bool:
    """Whether a string (or, with ``item``, one list entry) follows the field's rules."""
    if item or spec.nonempty:
        if not value.strip():
            return False
    elif not value:
        return True
    if spec.path:
        # A NUL byte cannot be part of a path on Linux.
        return value.startswith("/") and "\0" not in value
    return True


def _parse_text(spec: _Spec, text: str, name: str) -> object:
    """Turn what a user typed into the value :func:`_check` expects."""
    text = text.strip()
    if spec.kind == "int":
        try:
            return int(text)
        except ValueError:
            raise _Invalid(f"{name} must be {spec.expected}, not {_show(text)}") from None
    if spec.kind == "bool":
        word = text.lower()
        if word in _TRUE_WORDS:
            return True
        if word in _FALSE_WORDS:
            return False
        raise _Invalid(f"{name} must be true or false (or yes or no), not {_show(text)}")
    if spec.kind == "list":
        return [part.strip() for part in text.split(",") if part.strip()]
    if spec.kind == "choice":
        return text.lower()
    return text


_TRUE_WORDS = frozenset({"true", "yes", "on", "1"})
_FALSE_WORDS = frozenset({"false", "no", "off", "0"})


def _settings_from(data: Mapping[str, object]) -> Settings:
    """Build :class:`Settings` from parsed TOML, or raise :class:`_Problems` with every issue."""
    problems: list[str] = []
    values: dict[str, Any] = {}
    sections = {section.key: section for section in _sections()}
    for key, value in data.items():
        if key == "consumers":
            values["consumers"] = _consumers_from(value, problems)
            continue
        section = sections.get(key)
        if section is None:
            problems.append(_unknown_top_level(key, value))
        elif not isinstance(value, dict):
            problems.append(f"{key} must be a table (a [{key}] section), not {_show(value)}")
        else:
            built = _build(section.cls, value, f"{key}.", problems)
            if built is not None:
                values[section.attr] = built
    if problems:
        raise _Problems(problems)
    return Settings(**values)


def _consumers_from(value: object, problems: list[str]) -> tuple[ConsumerSetting, ...]:
    if isinstance(value, dict):
        problems.append(
            "consumers must be an array of tables: write [[consumers]] (double brackets) "
            "above each consumer, not [consumers]"
        )
        return ()
    if not isinstance(value, list):
        problems.append(f"consumers must be an array of [[consumers]] tables, not {_show(value)}")
        return ()
    consumers: list[ConsumerSetting] = []
    for index, item in enumerate(value):
        prefix = f"consumers[{index}]"
        if not isinstance(item, dict):
            problems.append(f"{prefix} must be a [[consumers]] table, not {_show(item)}")
            continue
        first = len(problems)
        built = _build(ConsumerSetting, item, f"{prefix}.", problems)
        if built is not None:
            consumers.append(built)
            continue
        # The index alone is hard to find in a long file; the name points at the table.
        name = item.get("name")
        if isinstance(name, str) and name.strip():
            for position in range(first, len(problems)):
                problems[position] += f" (consumer {_show(name)})"
    return tuple(consumers)


_T = typing.TypeVar("_T")


def _build(
    cls: type[_T], table: Mapping[str, object], prefix: str, problems: list[str]
) -> _T | None:
    """One dataclass from one TOML table; problems are appended, None returned if any."""
    specs = {spec.key: spec for spec in _specs(cls)}
    values: dict[str, Any] = {}
    first = len(problems)
    for key, value in table.items():
        spec = specs.get(key)
        if spec is None:
            known = [f"{prefix}{candidate}" for candidate in specs]
            problems.append(_unknown("key", f"{prefix}{_show_key(key)}", known))
            continue
        try:
            values[spec.attr] = _check(spec, value, f"{prefix}{key}")
        except _Invalid as exc:
            problems.append(str(exc))
    for spec in specs.values():
        if spec.required and spec.key not in table:
            problems.append(f"{prefix}{spec.key} is missing; it must be {spec.expected}")
    if len(problems) > first:
        return None
    return cls(**values)


def _unknown(what: str, name: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    if close:
        return f"unknown {what} {name}; did you mean {close[0]}?"
    return f"unknown {what} {name}; known: {', '.join(known)}"


def _unknown_top_level(key: str, value: object) -> str:
    shown = _show_key(key)
    sections = [section.key for section in _sections()]
    if isinstance(value, dict) or (
        isinstance(value, list) and value and all(isinstance(item, dict) for item in value)
    ):
        header = f"[{shown}]" if isinstance(value, dict) else f"[[{shown}]]"
        headers = [f"[{name}]" for name in sections] + ["[[consumers]]"]
        close = difflib.get_close_matches(key, [*sections, "consumers"], n=1)
        if close:
            suggestion = "[[consumers]]" if close[0] == "consumers" else f"[{close[0]}]"
            return f"unknown section {header}; did you mean {suggestion}?"
        return f"unknown section {header}; known sections: {', '.join(headers)}"
    # A key above the first section header: point at the section it belongs to.
    homes = {
        spec.key: f"{section.key}.{spec.key}"
        for section in _sections()
        for spec in _specs(section.cls)
    }
    close = difflib.get_close_matches(key, list(homes), n=1)
    if close:
        home = homes[close[0]]
        section_key = home.split(".", 1)[0]
        return f"unknown key {shown}; did you mean {home} (in the [{section_key}] section)?"
    return f"unknown key {shown}; settings belong in sections such as [scan] or [checks]"


def _as_data(settings: Settings) -> dict[str, Any]:
    """Settings as plain TOML values, every section complete."""
    data: dict[str, Any] = {}
    for section in _sections():
        current = getattr(settings, section.attr)
        data[section.key] = {
            spec.key: _plain(getattr(current, spec.attr)) for spec in _specs(section.cls)
        }
    if settings.consumers:
        data["consumers"] = [
            {spec.key: _plain(getattr(consumer, spec.attr)) for spec in _specs(ConsumerSetting)}
            for consumer in settings.consumers
        ]
    return data


def _render(settings: Settings) -> str:
    """The settings file: every section in full, each key preceded by its documentation."""
    data = _as_data(settings)
    lines = _comment(
        "certdeck settings. Every key is optional: a missing key takes the value shown in the "
        "Settings tab as its default. certdeck rewrites this file when settings are changed "
        "in the app, so comments added here are not kept."
    )
    for section in _sections():
        lines += ["", *_comment(section.doc), f"[{section.key}]"]
        for key, value in data[section.key].items():
            spec = next(spec for spec in _specs(section.cls) if spec.key == key)
            lines += [*_comment(spec.doc), tomli_w.dumps({key: value}).rstrip("\n")]
    lines += ["", *_comment(_consumers_doc())]
    if "consumers" not in data:
        lines += [f"# {line}" for line in _CONSUMER_EXAMPLE.splitlines()]
    else:
        lines += ["", tomli_w.dumps({"consumers": data["consumers"]}).rstrip("\n")]
    return "\n".join(lines) + "\n"


def _consumers_doc() -> str:
    consumers_field = next(f for f in dataclasses.fields(Settings) if f.name == "consumers")
    parts = [
        str(consumers_field.metadata["doc"]),
        "Add one [[consumers]] table per consumer, with these keys:",
    ]
    for spec in _specs(ConsumerSetting):
        need = "required" if spec.required else "optional"
        parts.append(f"- {spec.key} ({need}): {spec.doc}")
    return "\n".join(parts)


_CONSUMER_EXAMPLE = """\
For example:
[[consumers]]
name = "billing database"
files = ["/etc/pki/billing/server.crt", "/etc/pki/billing/server.key"]
role = "database key"
"""


def _comment(text: str) -> list[str]:
    lines: list[str] = []
    for paragraph in text.splitlines():
        # List items ("- key: …") continue indented under their first line.
        indent = "  " if paragraph.startswith("- ") else ""
        wrapped = textwrap.wrap(paragraph, width=96, subsequent_indent=indent)
        lines += [f"# {line}" for line in wrapped]
    return lines


def _plain(value: SettingValue) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _as_text(value: SettingValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ", ".join(value)
    return str(value)


def _alternatives(choices: Sequence[str]) -> str:
    quoted = [_show(choice) for choice in choices]
    if len(quoted) == 1:
        return quoted[0]
    return f"{', '.join(quoted[:-1])} or {quoted[-1]}"


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_SHOW_LIMIT = 80


def _show_key(key: str) -> str:
    """A TOML key as written in the file; quoted (and escaped) unless it is a bare key."""
    return key if _BARE_KEY.fullmatch(key) else json.dumps(key)


def _show(value: object) -> str:
    """A value as the user wrote it, escaped so that it cannot control the terminal."""
    if isinstance(value, bool):
        shown = "true" if value else "false"
    elif isinstance(value, list | tuple):
        shown = "[" + ", ".join(_show(item) for item in value) + "]"
    elif isinstance(value, dict):
        shown = "a table"
    elif isinstance(value, str | int | float):
        shown = repr(value)
    else:
        shown = str(value)  # TOML dates and times
    if len(shown) > _SHOW_LIMIT:
        shown = shown[: _SHOW_LIMIT - 1] + "…"
    return shown
