"""The chat commands: train a chat model on dialogs, fine-tune it by SCST, and ask it here.

    botwerk train chat DIR --genre comedy --name comedy               # cross-entropy
    botwerk train chat DIR --genre comedy --name comedy --rl          # then SCST fine-tuning
    botwerk train chat chatterbot --name chat                         # no download needed
    botwerk reply comedy "where have you been?" --mode beam

``train chat``'s sizes and settings are :class:`~.config.ChatConfig`'s fields and, with
``--rl``, :class:`~.config.SCSTConfig`'s: only the options given are passed on, so each
config's own defaults apply. Nothing heavy is imported until a command runs;
``botwerk corpus cornell`` (:mod:`botwerk.workers.corpora.commands`) looks into a corpus first.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from botwerk.infra.settings import Settings
from botwerk.workers.chat.config import ChatConfig, SCSTConfig
from botwerk.workers.commands import command_settings, friendly, publish, store
from botwerk.workers.options import config_options, default_of

if TYPE_CHECKING:
    from botwerk.workers.corpora.dialogs import Pair
    from botwerk.workers.store import TrainResult


def _both(name: str, unit: str = "", rl_unit: str = "") -> str:
    """Help naming the default of ``name`` in both configs: ``[default: 20, or 10 with --rl]``."""
    ce, rl = default_of(ChatConfig, name), default_of(SCSTConfig, name)
    return f"[default: {ce:g}{unit}, or {rl:g}{rl_unit} with --rl]"


CE_ONLY = ("hidden", "layers", "embed", "dropout", "attention", "max_len", "max_vocab",
           "min_count", "context")  # fmt: skip
"""The options that shape the model or its data: --rl keeps the stored model's."""


@click.command("chat")
@click.argument("corpus")
@click.option("--name", required=True, help="Store it under this name (workers serve it by name).")
@click.option(
    "--genre", "genres", multiple=True, help="Only dialogs of this genre; repeat for more."
)
@click.option("--rl", is_flag=True, help="Fine-tune the stored model by SCST instead.")
@click.option("--from", "start", metavar="NAME[@VERSION]", help="--rl: the model to fine-tune  "
              "[default: the latest --name]")  # fmt: skip
@click.option("--epochs", type=int, help=_both("epochs"))
@click.option("--batch-size", type=int, help=_both("batch_size", " pairs", " prompts"))
@click.option("--lr", type=float, help=_both("lr"))
@config_options(ChatConfig, *CE_ONLY, defaults=False)
@config_options(SCSTConfig, "samples", "reward")
@click.option("--max-minutes", type=float, help="Stop after this long, keeping the best so far.")
@click.option("--workdir", type=click.Path(path_type=Path), help="Checkpoints; resumes from "
              "here  [default: runs/NAME, with --rl runs/FROM-VERSION-rl]")  # fmt: skip
@friendly
def train_chat(corpus: str, name: str, genres: tuple[str, ...], rl: bool, start: str | None,
               samples: int, reward: str, max_minutes: float | None, workdir: Path | None,
               **options: Any) -> None:  # fmt: skip
    """A seq2seq LSTM with attention that answers, on the dialogs of CORPUS.

    CORPUS is the Cornell Movie-Dialogs folder, chatterbot-corpus YAML (a file or folder), or
    `chatterbot` for the English dialogs that ship with the chatterbot-corpus package. Each
    epoch prints the loss, validation and test BLEU and sample replies; the best epoch by
    validation BLEU is stored. With --rl, the stored model (--from, else the latest --name) is
    fine-tuned by self-critical sequence training on the same corpus and stored as the next
    version of --name; its epoch 0 is where it started.
    """
    from botwerk.workers.corpora.dialogs import pairs
    from botwerk.workers.corpora.sources import load_dialogs

    given = {k: v for k, v in options.items() if v is not None}
    if rl and (shaping := sorted(set(given) & set(CE_ONLY))):
        flags = ", ".join("--" + k.replace("_", "-") for k in shaping)
        raise click.UsageError(f"{flags}: --rl keeps the sizes and data settings of the model")
    settings = command_settings()
    dialogs, notes = load_dialogs(corpus, genres)
    for note in notes:
        click.echo(note, err=True)
    label = Path(corpus).name + (f" [{', '.join(genres)}]" if genres else "")
    seconds = max_minutes * 60 if max_minutes else None
    if rl:
        result = _finetune(settings, pairs(dialogs), start or name, workdir, given, samples,
                           reward, seconds)  # fmt: skip
    else:
        from botwerk.workers.chat.train import train

        result = train(pairs(dialogs), workdir or Path("runs") / name, ChatConfig(**given),
                       device=settings.device, max_seconds=seconds)  # fmt: skip
    publish(settings, name, "chat", result, label)


def _finetune(settings: Settings, found: list[Pair], start: str, workdir: Path | None,
              given: dict[str, Any], samples: int, reward: str,
              seconds: float | None) -> TrainResult:  # fmt: skip
    from botwerk.workers.chat.rl import finetune

    stored = store(settings).open(start, kind="chat")
    spec = stored.manifest
    workdir = workdir or Path("runs") / f"{spec.name}-{spec.version}-rl"  # one per start model
    click.echo(f"fine-tuning {spec.spec} by SCST in {workdir}", err=True)
    config = SCSTConfig(samples=samples, reward=reward, **given)
    return finetune(found, stored.path, workdir, config, device=settings.device,
                    max_seconds=seconds)  # fmt: skip


@click.command()
@click.argument("name")
@click.argument("text")
@click.option("--context", default="", help="What was said before TEXT.")
@click.option("--mode", type=click.Choice(["greedy", "sample", "beam"]), default="greedy",
              show_default=True)  # fmt: skip
@click.option("--beam", type=int, default=4, show_default=True, help="Beam width.")
@click.option("--temperature", type=float, default=0.8, show_default=True)
@click.option("--top-k", type=int, default=0, help="Sample from the K likeliest only.")
@click.option("--max-len", type=int, default=0, help="Tokens at most  [default: the model's]")
@click.option("--seed", type=int, help="Repeatable samples.")
@friendly
def reply(name: str, text: str, **options: Any) -> None:
    """Answer TEXT with the chat model stored as NAME[@VERSION], here, with no broker."""
    from botwerk.schemas import validate
    from botwerk.schemas.models.chat import ChatInput
    from botwerk.workers.chat.serve import ChatModel

    request = validate({"text": text, **options}, ChatInput, "option")
    model = ChatModel(command_settings(), name)
    model.load()
    [output] = model.predict([request])
    click.echo(output["text"])
