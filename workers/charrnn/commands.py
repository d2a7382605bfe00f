"""The charrnn commands: train one on a text corpus, and continue a text with it here.

    botwerk train charrnn wiki.txt --name bard --epochs 5 --hidden 256
    botwerk generate bard "To be or not" --length 300 --seed 7

``train charrnn``'s sizes and settings are :class:`~.config.CharRNNConfig`'s fields, with its
defaults and help; ``generate`` asks the stored model directly, with no broker or worker.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from botwerk.schemas import validate
from botwerk.workers.charrnn.config import CharRNNConfig
from botwerk.workers.commands import EXISTING, command_settings, friendly, publish
from botwerk.workers.options import config_options

SIZES = ("epochs", "hidden", "layers", "embed", "dropout", "seq_len", "batch_size", "lr")


@click.command("charrnn")
@click.argument("corpus", type=EXISTING)
@click.option("--name", required=True, help="Store it under this name (workers serve it by name).")
@config_options(CharRNNConfig, *SIZES)
@click.option("--max-minutes", type=float, help="Stop after this long, keeping the best so far.")
@click.option(
    "--workdir", type=click.Path(path_type=Path),
    help="Checkpoints; training resumes from the latest one here  [default: ./runs/NAME]",
)  # fmt: skip
@friendly
def train_charrnn(corpus: Path, name: str, workdir: Path | None, max_minutes: float | None,
                  **sizes: Any) -> None:  # fmt: skip
    """A character-level LSTM language model, by truncated backpropagation through time.

    CORPUS is a text file or a folder of them. Each epoch prints validation loss and
    perplexity and samples at several temperatures; a checkpoint is kept every epoch, and
    running the same command again resumes from it.
    """
    from botwerk.workers.charrnn.train import train as run
    from botwerk.workers.corpora.text import load_text

    settings = command_settings()
    config = CharRNNConfig(**sizes)
    result = run(
        load_text(corpus), workdir or Path("runs") / name, config, device=settings.device,
        max_seconds=max_minutes * 60 if max_minutes else None,
    )  # fmt: skip
    publish(settings, name, "charrnn", result, corpus.name)


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
