"""The charrnn commands: train one on a text corpus, and continue a text with it here.

    botwerk train charrnn wiki.txt --name bard --epochs 5 --hidden 256
    botwerk generate bard "To be or not" --length 300 --seed 7
    botwerk train charrnn s3://corpora/plays.txt --name bard --submit   # a job for a trainer

``train charrnn``'s sizes and settings are :class:`~.config.CharRNNConfig`'s fields, with its
defaults and help; ``generate`` asks the stored model directly, with no broker or worker.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from botwerk.infra.settings import Settings
from botwerk.schemas import validate
from botwerk.workers.charrnn.config import CharRNNConfig
from botwerk.workers.commands import EXISTING, command_settings, friendly, publish
from botwerk.workers.jobs.commands import SUBMIT, submit_job
from botwerk.workers.options import config_options

if TYPE_CHECKING:
    from botwerk.workers.epochs import Say
    from botwerk.workers.store import TrainResult

    Fitted = tuple[str, TrainResult, str]
    """the model's kind, the training's result, and the corpus's label for the manifest"""

SIZES = ("epochs", "hidden", "layers", "embed", "dropout", "seq_len", "batch_size", "lr",
         "checkpoint_minutes")  # fmt: skip


@click.command("charrnn")
@click.argument("corpus")
@click.option("--name", required=True, help="Store it under this name (workers serve it by name).")
@config_options(CharRNNConfig, *SIZES)
@click.option("--max-minutes", type=float, help="Stop after this long, keeping the best so far.")
@click.option(
    "--workdir", type=click.Path(path_type=Path),
    help="Checkpoints; training resumes from the latest one here  [default: ./runs/NAME]",
)  # fmt: skip
@SUBMIT
@friendly
def train_charrnn(corpus: str, name: str, workdir: Path | None, max_minutes: float | None,
                  submit: bool, **sizes: Any) -> None:  # fmt: skip
    """A character-level LSTM language model, by truncated backpropagation through time.

    CORPUS is a text file or a folder of them (with --submit, also an s3:// or file:// URL).
    Each epoch prints validation loss and perplexity and samples at several temperatures; a
    checkpoint is kept every epoch, and running the same command again resumes from it.
    """
    settings = command_settings()
    CharRNNConfig(**sizes)  # refuse a bad size here, not on the trainer
    options = {"max_minutes": max_minutes, **sizes}
    if submit:
        if workdir is not None:
            raise click.UsageError("--workdir: a job keeps its checkpoints on its trainer")
        submit_job(settings, "charrnn", name, corpus, options)
        return
    path = EXISTING.convert(corpus, None, click.get_current_context())
    kind, result, label = fit(settings, name, str(path), options, workdir=workdir)
    publish(settings, name, kind, result, label)


def fit(settings: Settings, name: str, corpus: str, options: dict[str, Any], *,
        workdir: Path | None, log: Say = print, progress: bool = True,
        **hooks: Any) -> Fitted:  # fmt: skip
    """Train ``name`` on the local ``corpus``: ``train charrnn``'s work, here or as a job.

    ``hooks`` (``on_step``, ``checkpoints``) go to the training function as they are."""
    from botwerk.workers.charrnn.train import train as run
    from botwerk.workers.corpora.text import load_text

    minutes = options.pop("max_minutes", None)
    result = run(
        load_text(corpus), workdir or Path("runs") / name, CharRNNConfig(**options),
        device=settings.device, progress=progress, log=log,
        max_seconds=minutes * 60 if minutes else None, **hooks,
    )  # fmt: skip
    return "charrnn", result, Path(corpus).name


@click.command()
@click.argument("name")
@click.argument("prime", default="")
@click.option("--length", type=int, default=300, show_default=True)
@click.option("--temperature", type=float, default=0.8, show_default=True)
@click.option("--top-k", type=int, default=0, help="Sample from the K likeliest only.")
@click.option("--seed", type=int, help="Repeatable output.")
@friendly
def generate(name: str, prime: str, **options: Any) -> None:
    """Continue PRIME with the char-RNN stored as NAME[@VERSION], here, with no broker."""
    from botwerk.schemas.models.charrnn import CharRNNInput
    from botwerk.workers.charrnn.serve import CharRNNModel

    request = validate({"prime": prime, **options}, CharRNNInput, "option")
    model = CharRNNModel(command_settings(), name)
    model.load()
    [output] = model.predict([request])
    click.echo(prime + output["text"])
