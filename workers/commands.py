"""What the local ``botwerk`` model commands share: settings, one-line errors, publishing::

@click.command()
@friendly                      # a BotwerkError or ValueError becomes "Error: <message>"
def my_command() -> None:
    publish(command_settings(), "bard", "charrnn", result, "shakespeare.txt")
"""

from __future__ import annotations

from typing import Any

import click

from botwerk.infra.commands import EXISTING, friendly, load_settings
from botwerk.infra.settings import Settings

__all__ = ["EXISTING", "command_settings", "friendly", "publish", "store"]


def command_settings() -> Settings:
    """The settings of a local command, with its logs at WARNING unless asked otherwise."""
    return load_settings({}, "models", default_level="WARNING")


def store(settings: Settings) -> Any:
    from botwerk.workers.store import ModelStore

    return ModelStore.from_settings(settings)


def publish(settings: Settings, name: str, kind: str, result: Any, corpus: str) -> None:
    """Store a training result as the next version of ``name`` and say what was stored."""
    manifest = store(settings).publish(
        name, kind, result.folder, metrics=result.metrics, corpus=corpus, config=result.config
    )
    figures = ", ".join(f"{k} {v:.4g}" for k, v in sorted(manifest.metrics.items()))
    click.echo(f"stored {manifest.spec} ({kind}) in {settings.models}: {figures}")
