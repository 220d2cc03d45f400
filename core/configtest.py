"""The services' own configuration checks, offered after certdeck changed files.

``nginx -t``, ``apachectl configtest``, ``haproxy -c -f FILE``, ``postfix check`` and
``doveconf -n`` read the live configuration and every file it names, so they tell whether a
service would still start.  They are only offered on the machine itself (not under
``--root``: the binaries would check this host, not the copied tree), only for services the
scan found, and only when the program is installed.  They never run without confirmation.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from core.model import Consumer
from core.rootfs import RootFS
from core.text import visible

__all__ = ["ConfigTest", "ConfigTestResult", "config_tests", "run_config_test"]

DEFAULT_TIMEOUT = 60.0
_MAX_OUTPUT = 20_000
_HAPROXY_DEFAULT = "/etc/haproxy/haproxy.cfg"


@dataclass(frozen=True, slots=True)
class ConfigTest:
    """A service's configuration check, as the exact command that will run."""

    service: str
    argv: tuple[str, ...]
    show_stdout: bool = True
    """False for commands whose standard output is the configuration itself (which may hold
    secrets); only their messages on standard error and the exit status are shown."""

    @property
    def command(self) -> str:
        """The command line as a shell would read it."""
        return shlex.join(self.argv)


@dataclass(frozen=True, slots=True)
class ConfigTestResult:
    """What a configuration check said."""

    test: ConfigTest
    returncode: int | None
    """``None`` when the command could not run or timed out."""
    output: str

    @property
    def ok(self) -> bool:
        """The check passed."""
        return self.returncode == 0

    def describe(self) -> list[str]:
        """The command, its verdict and output, as lines of text safe for a terminal."""
        if self.returncode is None:
            verdict = "could not run"
        elif self.returncode == 0:
            verdict = "passed"
        else:
            verdict = f"FAILED (exit status {self.returncode})"
        lines = [f"$ {visible(self.test.command)}: {verdict}"]
        lines += [f"  {visible(line)}" for line in self.output.splitlines()]
        return lines


def config_tests(
    consumers: Iterable[Consumer],
    root: RootFS,
    *,
    which: Callable[[str], str | None] = shutil.which,
) -> tuple[ConfigTest, ...]:
    """The checks to offer for the services found by the scan (none under ``--root``)."""
    if root.root != "/":
        return ()
    services: dict[str, list[str]] = {}
    for consumer in consumers:
        services.setdefault(consumer.name, []).append(consumer.config)
    tests: list[ConfigTest] = []
    if "nginx" in services and (nginx := which("nginx")):
        tests.append(ConfigTest("nginx", (nginx, "-t")))
    if "apache" in services and (apache := which("apachectl") or which("apache2ctl")):
        tests.append(ConfigTest("apache", (apache, "configtest")))
    if "haproxy" in services and (haproxy := which("haproxy")):
        configs = sorted({c for c in services["haproxy"] if c.endswith(".cfg")}) or [
            _HAPROXY_DEFAULT
        ]
        tests += [ConfigTest("haproxy", (haproxy, "-c", "-f", config)) for config in configs]
    if "postfix" in services and (postfix := which("postfix")):
        tests.append(ConfigTest("postfix", (postfix, "check")))
    if "dovecot" in services and (doveconf := which("doveconf")):
        tests.append(ConfigTest("dovecot", (doveconf, "-n"), show_stdout=False))
    return tuple(tests)


def run_config_test(test: ConfigTest, *, timeout: float = DEFAULT_TIMEOUT) -> ConfigTestResult:
    """Run one check and capture what it says (never raises for the command's failures)."""
    try:
        done = subprocess.run(
            test.argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return ConfigTestResult(test, None, f"no answer within {timeout:g} seconds")
    except OSError as exc:
        return ConfigTestResult(test, None, exc.strerror or str(exc))
    parts = []
    if test.show_stdout and done.stdout:
        parts.append(done.stdout.decode("utf-8", "replace"))
    if done.stderr:
        parts.append(done.stderr.decode("utf-8", "replace"))
    if not test.show_stdout and done.stdout:
        parts.append("(the configuration it printed is not shown)")
    text = "\n".join(p.rstrip("\n") for p in parts)
    if len(text) > _MAX_OUTPUT:
        text = text[:_MAX_OUTPUT] + "\n… (output shortened)"
    return ConfigTestResult(test, done.returncode, text)
