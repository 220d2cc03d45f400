"""Expected values for the consumer parser tests, one service at a time."""

from __future__ import annotations

from collections.abc import Callable

from core.consumers import ConfigProblem, FileUse, Purpose


def use_maker(service: str) -> Callable[..., FileUse]:
    """``use(config, line, directive, purpose, path, group, directory=False)`` for a service."""

    def use(
        config: str,
        line: int,
        directive: str,
        purpose: Purpose,
        path: str,
        group: str,
        directory: bool = False,
    ) -> FileUse:
        return FileUse(service, config, line, directive, purpose, path, group, directory)

    return use


def problem_maker(service: str) -> Callable[[str, int, str], ConfigProblem]:
    """``problem(config, line, message)`` for a service."""

    def problem(config: str, line: int, message: str) -> ConfigProblem:
        return ConfigProblem(service, config, line, message)

    return problem
