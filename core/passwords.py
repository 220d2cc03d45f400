"""Where passwords come from: a prompt, a file or ``CERTDECK_PASSWORD`` — never argv.

Command-line arguments are visible to every user of the machine (``ps``, ``/proc``), so no
option takes a password.  Passwords are handled as the UTF-8 bytes of what was typed; they
are never logged, shown or written anywhere by certdeck.
"""

from __future__ import annotations

import getpass
import math
import os
import stat
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from core.errors import CertdeckError
from core.text import visible

__all__ = [
    "MAX_PASSWORD_FILE",
    "PASSWORD_ENV",
    "NoPassword",
    "PasswordError",
    "PasswordMismatch",
    "Strength",
    "can_prompt",
    "obtain_password",
    "password_from_env",
    "password_strength",
    "prompt_password",
    "read_password_file",
]

PASSWORD_ENV = "CERTDECK_PASSWORD"
"""The environment variable a password can come from (for scripts)."""

MAX_PASSWORD_FILE = 4096
"""A password file larger than this is not a password file."""

_PROMPT_ATTEMPTS = 3


class PasswordError(CertdeckError):
    """A password could not be obtained."""

    title = "Password problem"


class NoPassword(PasswordError):
    """A password is needed and there is no way to ask for it."""


class PasswordMismatch(PasswordError):
    """The two entries of a new password differed too often."""


def read_password_file(path: Path) -> bytes:
    """The password in a file: its content without one trailing newline.

    The file must be private to its owner (no permissions for group or others), like an SSH
    key.  Pipes such as ``--password-file <(pass show tls/export)`` are accepted as well.

    Raises:
        PasswordError: it is missing, unreadable, too large or readable by others.
    """
    shown = visible(os.fspath(path))
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise PasswordError(f"the password file {shown} does not exist") from None
    except PermissionError:
        raise PasswordError(f"cannot read the password file {shown}: permission denied") from None
    except OSError as exc:
        raise PasswordError(
            f"cannot read the password file {shown}: {exc.strerror or exc}"
        ) from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise PasswordError(f"the password file {shown} is a folder, not a file")
        mode = stat.S_IMODE(info.st_mode)
        if stat.S_ISREG(info.st_mode) and mode & 0o077:
            raise PasswordError(
                f"the password file {shown} is open to group or others (mode {mode:04o}); "
                f"make it private first: chmod 600 {shown}"
            )
        data = b""
        while len(data) <= MAX_PASSWORD_FILE:
            chunk = os.read(fd, MAX_PASSWORD_FILE + 1 - len(data))
            if not chunk:
                break
            data += chunk
    except OSError as exc:
        raise PasswordError(
            f"cannot read the password file {shown}: {exc.strerror or exc}"
        ) from None
    finally:
        os.close(fd)
    if len(data) > MAX_PASSWORD_FILE:
        raise PasswordError(
            f"the password file {shown} is larger than {MAX_PASSWORD_FILE} bytes; "
            "it should hold only the password"
        )
    if data.endswith(b"\r\n"):
        return data[:-2]
    if data.endswith(b"\n"):
        return data[:-1]
    return data


def password_from_env(environ: Mapping[str, str] | None = None) -> bytes | None:
    """The password in ``CERTDECK_PASSWORD`` (may be empty), or ``None`` when it is unset."""
    env = os.environ if environ is None else environ
    value = env.get(PASSWORD_ENV)
    if value is None:
        return None
    return value.encode("utf-8", "surrogateescape")


def can_prompt() -> bool:
    """Whether a person can be asked: standard input is a terminal."""
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (ValueError, OSError):  # closed or detached stdin
        return False


def prompt_password(
    prompt: str,
    *,
    confirm: bool = False,
    allow_empty: bool = True,
    ask: Callable[[str], str] | None = None,
) -> bytes:
    """Ask for a password on the terminal without echoing it.

    Args:
        prompt: What is asked, e.g. ``"Password for site.p12: "``.
        confirm: A new password: ask twice and ask again when the entries differ.
        allow_empty: Accept an empty entry (opening a file); otherwise ask again.
        ask: Reads one entry; ``getpass.getpass`` by default.

    Raises:
        PasswordMismatch: the entries differed (or stayed empty) three times.
    """
    reader = ask if ask is not None else getpass.getpass
    for _ in range(_PROMPT_ATTEMPTS):
        first = reader(prompt)
        if not first and not allow_empty:
            print("certdeck: the password must not be empty", file=sys.stderr)
            continue
        if confirm and reader("Repeat the password: ") != first:
            print("certdeck: the two entries differ; try again", file=sys.stderr)
            continue
        return first.encode("utf-8", "surrogateescape")
    if confirm:
        raise PasswordMismatch("no password was set: the entries differed or were empty")
    raise PasswordMismatch("no password was entered")


def obtain_password(
    *,
    password_file: Path | None,
    prompt: str,
    confirm: bool = False,
    allow_empty: bool = True,
    environ: Mapping[str, str] | None = None,
    interactive: bool | None = None,
) -> bytes:
    """A password from ``--password-file``, else ``CERTDECK_PASSWORD``, else the terminal.

    Raises:
        PasswordError: the file cannot be used, or no source is available (no terminal).
    """
    if password_file is not None:
        password = read_password_file(password_file)
    else:
        from_env = password_from_env(environ)
        if from_env is not None:
            password = from_env
        else:
            if not (can_prompt() if interactive is None else interactive):
                raise NoPassword(
                    "a password is needed and there is no terminal to ask for it; use "
                    f"--password-file FILE or set {PASSWORD_ENV}"
                )
            return prompt_password(prompt, confirm=confirm, allow_empty=allow_empty)
    if not password and not allow_empty:
        raise PasswordError("the password is empty; a non-empty password is needed here")
    return password


@dataclass(frozen=True, slots=True)
class Strength:
    """A rough idea of how hard a password is to guess, with advice."""

    score: int
    """0 (very weak) to 4 (strong)."""
    label: str
    hint: str
    bits: int
    """Estimated entropy in bits (an upper bound: real passwords are more predictable)."""


_LABELS = ("very weak", "weak", "fair", "good", "strong")
_COMMON = frozenset(
    {
        "password", "passw0rd", "123456", "12345678", "123456789", "qwerty", "letmein",
        "changeit", "changeme", "secret", "admin", "welcome", "iloveyou", "abc123",
        "000000", "111111", "password1", "certdeck", "test", "demo",
    }
)  # fmt: skip


def password_strength(password: bytes | str) -> Strength:
    """Estimate the strength of a new password, for the hint next to the password field."""
    text = password.decode("utf-8", "replace") if isinstance(password, bytes) else password
    if not text:
        return Strength(0, _LABELS[0], "a PKCS#12 export needs a password", 0)
    if text.lower() in _COMMON or len(set(text)) == 1:
        return Strength(0, _LABELS[0], "this password is among the first ones guessed", 0)
    pool = 0
    if any(c.islower() for c in text):
        pool += 26
    if any(c.isupper() for c in text):
        pool += 26
    if any(c.isdigit() for c in text):
        pool += 10
    if any(not c.isalnum() and c.isascii() for c in text):
        pool += 33
    if any(not c.isascii() for c in text):
        pool += 100
    bits = int(len(text) * math.log2(max(pool, 2)))
    score = 0 if bits < 28 else 1 if bits < 40 else 2 if bits < 60 else 3 if bits < 80 else 4
    if score >= 3:
        hint = "hard to guess"
    elif len(text) < 12:
        hint = "use at least 12 characters; a few random words are easy to type"
    else:
        hint = "mix in more words, digits or symbols"
    return Strength(score, _LABELS[score], hint, bits)
