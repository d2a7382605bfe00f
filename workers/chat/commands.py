"""The chat commands: train a chat model on dialogs, fine-tune it by SCST, and ask it here.

    botwerk train chat DIR --genre comedy --name comedy               # cross-entropy
    botwerk train chat DIR --genre comedy --name comedy --rl          # then SCST fine-tuning
    botwerk train chat chatterbot --name chat                         # no download needed
    botwerk reply comedy "where have you been?" --mode beam
    botwerk train chat chatterbot --name chat --submit               # a job for a trainer

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
from botwerk.workers.jobs.commands import SUBMIT, submit_job
from botwerk.workers.options import config_options, default_of

if TYPE_CHECKING:
    from botwerk.workers.corpora.dialogs import Pair
    from botwerk.workers.epochs import Say
    from botwerk.workers.store import TrainResult

    Fitted = tuple[str, TrainResult, str]
    """the model's kind, the training's result, and the corpus's label for the manifest"""

NAMED = ("chatterbot",)
"""Corpora known by name, read from an installed package: a trainer needs no upload."""


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
@click.option("--checkpoint-minutes", type=float, help="Also checkpoint mid-epoch this often "
              f"(0: every step)  {_both('checkpoint_minutes')}")  # fmt: skip
@config_options(ChatConfig, *CE_ONLY, defaults=False)
@config_options(SCSTConfig, "samples", "reward")
@click.option("--max-minutes", type=float, help="Stop after this long, keeping the best so far.")
@click.option("--workdir", type=click.Path(path_type=Path), help="Checkpoints; resumes from "
              "here  [default: runs/NAME, with --rl runs/FROM-VERSION-rl]")  # fmt: skip
@SUBMIT
@friendly
def train_chat(corpus: str, name: str, genres: tuple[str, ...], rl: bool, start: str | None,
               samples: int, reward: str, max_minutes: float | None, workdir: Path | None,
               submit: bool, **options: Any) -> None:  # fmt: skip
    """A seq2seq LSTM with attention that answers, on the dialogs of CORPUS.

    CORPUS is the Cornell Movie-Dialogs folder, chatterbot-corpus YAML (a file or folder), or
    `chatterbot` for the English dialogs that ship with the chatterbot-corpus package (with
    --submit, also an s3:// or file:// URL). Each epoch prints the loss, validation and test
    BLEU and sample replies; the best epoch by validation BLEU is stored. With --rl, the
    stored model (--from, else the latest --name) is fine-tuned by self-critical sequence
    training on the same corpus and stored as the next version of --name; its epoch 0 is
    where it started.
    """
    given = {k: v for k, v in options.items() if v is not None}
    if rl and (shaping := sorted(set(given) & set(CE_ONLY))):
        flags = ", ".join("--" + k.replace("_", "-") for k in shaping)
        raise click.UsageError(f"{flags}: --rl keeps the sizes and data settings of the model")
    settings = command_settings()
    job = {"genres": list(genres), "max_minutes": max_minutes, **given}
    if rl:
        job |= {"start": start, "samples": samples, "reward": reward}
        SCSTConfig(samples=samples, reward=reward, **given)  # refuse bad values here
    else:
        ChatConfig(**given)
    if submit:
        if workdir is not None:
            raise click.UsageError("--workdir: a job keeps its checkpoints on its trainer")
        submit_job(settings, "chat-rl" if rl else "chat", name, corpus, job, names=NAMED)
        return
    kind, result, label = (fit_rl if rl else fit)(settings, name, corpus, job, workdir=workdir)
    publish(settings, name, kind, result, label)


def fit(settings: Settings, name: str, corpus: str, options: dict[str, Any], *,
        workdir: Path | None, log: Say = print, progress: bool = True,
        **hooks: Any) -> Fitted:  # fmt: skip
    """Train ``name`` on the dialogs of ``corpus``: ``train chat``'s work, here or as a job.

    ``hooks`` (``on_step``, ``checkpoints``) go to the training function as they are."""
    from botwerk.workers.chat.train import train

    found, label, seconds = _read(corpus, options, log)
    result = train(found, workdir or Path("runs") / name, ChatConfig(**options),
                   device=settings.device, max_seconds=seconds, progress=progress,
                   log=log, **hooks)  # fmt: skip
    return "chat", result, label


def fit_rl(settings: Settings, name: str, corpus: str, options: dict[str, Any], *,
           workdir: Path | None, log: Say = print, progress: bool = True,
           **hooks: Any) -> Fitted:  # fmt: skip
    """Fine-tune by SCST on ``corpus``'s dialogs: ``train chat --rl``'s work."""
    found, label, seconds = _read(corpus, options, log)
    start = options.pop("start", None) or name
    samples, reward = options.pop("samples"), options.pop("reward")
    result = _finetune(settings, found, start, workdir, options, samples, reward, seconds,
                       log=log, progress=progress, **hooks)  # fmt: skip
    return "chat", result, label


def _read(corpus: str, options: dict[str, Any], log: Say) -> tuple[list[Pair], str, float | None]:
    """The pairs of ``corpus``, its label for the manifest, and the time allowed."""
    from botwerk.workers.corpora.dialogs import pairs
    from botwerk.workers.corpora.sources import load_dialogs

    genres, minutes = tuple(options.pop("genres", ())), options.pop("max_minutes", None)
    dialogs, notes = load_dialogs(corpus, genres)
    for note in notes:
        (log if log is not print else lambda line: click.echo(line, err=True))(note)
    label = Path(corpus).name + (f" [{', '.join(genres)}]" if genres else "")
    return pairs(dialogs), label, minutes * 60 if minutes else None


def _finetune(settings: Settings, found: list[Pair], start: str, workdir: Path | None,
              given: dict[str, Any], samples: int, reward: str, seconds: float | None,
              log: Say = print, progress: bool = True, **hooks: Any) -> TrainResult:  # fmt: skip
    from botwerk.workers.chat.rl import finetune

    stored = store(settings).open(start, kind="chat")
    spec = stored.manifest
    workdir = workdir or Path("runs") / f"{spec.name}-{spec.version}-rl"  # one per start model
    click.echo(f"fine-tuning {spec.spec} by SCST in {workdir}", err=True)
    config = SCSTConfig(samples=samples, reward=reward, **given)
    return finetune(found, stored.path, workdir, config, device=settings.device,
                    max_seconds=seconds, progress=progress, log=log, **hooks)  # fmt: skip


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
