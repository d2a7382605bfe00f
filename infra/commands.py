"""What every ``botwerk`` command shares, whichever package contributes it: its settings and
logs, and errors shown as one line that says what to do instead of a traceback.

A role package adds a command with these (``botwerk train ...`` lives with the models)::

    @click.command()
    @click.pass_obj
    @friendly                 # a BotwerkError or ValueError becomes "Error: <message>"
    def my_command(obj: dict[str, Any]) -> None:
        settings = load_settings(obj, "models", default_level="WARNING")
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from botwerk.schemas import BotwerkError

from . import logs
from .settings import Settings

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

EXISTING = click.Path(exists=True, path_type=Path)
"""A click argument type: a file or folder that must exist."""


def load_settings(
    obj: dict[str, Any] | None, role: str, default_level: str | None = None, **overrides: Any
) -> Settings:
    """Settings from the environment and botwerk.toml, and logging set up for ``role``.

    ``obj`` is the command group's context object (its ``--log-level``); ``default_level``
    quiets a local command's logs unless BOTWERK_LOG_LEVEL or ``--log-level`` asks otherwise.
    """
    asked = (obj or {}).get("log_level")
    try:
        settings = Settings.load(log_level=asked, **overrides)
    except BotwerkError as exc:
        raise click.ClickException(str(exc)) from None
    level = settings.log_level
    if default_level and asked is None and "BOTWERK_LOG_LEVEL" not in os.environ:
        level = default_level
    logs.setup(level, settings.log_format, role)
    return settings


def friendly(command: F) -> F:
    """Show a Botwerk error or a bad value as one line that says what to do, not a trace."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (BotwerkError, ValueError) as exc:
            raise click.ClickException(str(exc)) from None

    return run  # type: ignore[return-value]


def guard(call: Callable[[], T]) -> T:
    """``call()``, with a Botwerk error shown as a one-line message instead of a trace."""
    try:
        return call()
    except BotwerkError as exc:
        raise click.ClickException(str(exc)) from None
