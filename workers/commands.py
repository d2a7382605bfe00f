"""The model commands' shared part: the ``train`` and ``models`` groups, settings, publishing.

    botwerk train charrnn wiki.txt --name bard --epochs 5       # each kind adds `train KIND`
    botwerk models list
    botwerk models promote bard@2      # what "bard" means; serving workers follow
    botwerk models rollback bard       # back to the version made latest before it

Each model kind contributes its own commands in ``workers/<kind>/commands.py`` (``train
KIND``, a command to try the model here, with no broker) and registers them under the
``botwerk.commands`` entry-point group, as any other package would; ``botwerk.cli`` adds what
it finds there and knows no model by name. An entry named ``GROUP.NAME`` goes into the group
``GROUP`` (``train.charrnn`` -> ``botwerk train charrnn``)::

    [project.entry-points."botwerk.commands"]
    "train.bard" = "botwerk_bard.commands:train_bard"

A command reads its settings with :func:`command_settings`, stores what it trained with
:func:`publish` (which announces the new version to the mesh when ``BOTWERK_AMQP_URL`` is set,
so workers serving it unpinned switch to it), and shows errors as one line with ``@friendly``.
Heavy libraries (torch, gensim) are imported only by the command that needs them.
"""

from __future__ import annotations

from typing import Any

import click

from botwerk.infra.commands import EXISTING, friendly, load_settings
from botwerk.infra.settings import Settings

__all__ = ["EXISTING", "command_settings", "friendly", "models", "publish", "store", "train"]


def command_settings() -> Settings:
    """The settings of a local command, with its logs at WARNING unless asked otherwise."""
    return load_settings({}, "models", default_level="WARNING")


def store(settings: Settings) -> Any:
    from botwerk.workers.store import ModelStore

    return ModelStore.from_settings(settings)


def publish(settings: Settings, name: str, kind: str, result: Any, corpus: str) -> None:
    """Store a training result as the next version of ``name``, say so, and announce it."""
    from botwerk.workers.rollout import announce_published_now

    manifest = store(settings).publish(
        name, kind, result.folder, metrics=result.metrics, corpus=corpus, config=result.config
    )
    figures = ", ".join(f"{k} {v:.4g}" for k, v in sorted(manifest.metrics.items()))
    click.echo(f"stored {manifest.spec} ({kind}) in {settings.models}: {figures}")
    if announce_published_now(settings, manifest):
        click.echo(f"announced {manifest.spec}: workers serving {name} switch to it")


@click.group()
def train() -> None:
    """Train a model on a corpus and store it as the next version of --name."""


@click.group()
def models() -> None:
    """List stored models, import pre-trained ones, move what "latest" means."""


@models.command("list")
@friendly
def list_models() -> None:
    """Every stored version, with its kind, corpus and metrics."""
    settings = command_settings()
    found = store(settings).manifests()
    if not found:
        click.echo(f"no models in {settings.models} yet: `botwerk train ...` or `botwerk up`")
    for m in found:
        figures = " ".join(f"{k}={v:.4g}" for k, v in sorted(m.metrics.items()))
        click.echo(f"{m.spec:24} {m.kind:9} {m.corpus[:24]:24} {figures}")


@models.command("promote")
@click.argument("spec", metavar="NAME@VERSION")
@friendly
def promote(spec: str) -> None:
    """Make NAME@VERSION what NAME means; workers serving NAME unpinned switch to it."""
    settings = command_settings()
    models_ = store(settings)
    previous = models_.latest(spec.partition("@")[0]).version
    _moved(settings, models_.promote(spec), previous, rollback=False)


@models.command("rollback")
@click.argument("name")
@friendly
def rollback(name: str) -> None:
    """Make NAME mean the version made latest before the current one; workers follow."""
    settings = command_settings()
    models_ = store(settings)
    previous = models_.latest(name.partition("@")[0]).version
    _moved(settings, models_.rollback(name), previous, rollback=True)


def _moved(settings: Settings, manifest: Any, previous: str, *, rollback: bool) -> None:
    from botwerk.workers.rollout import announce_promoted_now

    click.echo(f"{manifest.name} is now {manifest.spec} (was {manifest.name}@{previous})")
    if announce_promoted_now(settings, manifest, previous, rollback=rollback):
        click.echo(f"announced: workers serving {manifest.name} switch to {manifest.spec}")
