"""What the local ``botwerk`` model commands share: one-line errors, settings, publishing.

>>> @click.command()
... @friendly                      # a BotwerkError or ValueError becomes "Error: <message>"
... def my_command() -> None:
...     publish(command_settings(), "bard", "charrnn", result, "shakespeare.txt")
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from schemas import BotwerkError

from .settings import Settings

F = TypeVar("F", bound=Callable[..., Any])

EXISTING = click.Path(exists=True, path_type=Path)


def friendly(command: F) -> F:
    """Show a Botwerk error or a bad value as one line that says what to do, not a trace."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (BotwerkError, ValueError) as exc:
            raise click.ClickException(str(exc)) from None

    return run  # type: ignore[return-value]


def command_settings() -> Settings:
    """The settings of a local command, with its logs at WARNING unless asked otherwise."""
    from .cli import _settings as load

    return load({}, "models", default_level="WARNING")


def store(settings: Settings) -> Any:
    from workers.store import ModelStore

    return ModelStore.from_settings(settings)


def publish(settings: Settings, name: str, kind: str, result: Any, corpus: str) -> None:
    """Store a training result as the next version of ``name`` and say what was stored."""
    manifest = store(settings).publish(
        name, kind, result.folder, metrics=result.metrics, corpus=corpus, config=result.config
    )
    figures = ", ".join(f"{k} {v:.4g}" for k, v in sorted(manifest.metrics.items()))
    click.echo(f"stored {manifest.spec} ({kind}) in {settings.models}: {figures}")
