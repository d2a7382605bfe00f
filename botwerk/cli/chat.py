"""``botwerk`` commands for the chat model: look into a dialog corpus, train, fine-tune, try.

    botwerk corpus cornell "cornell movie-dialogs corpus"             # what was read, skipped
    botwerk corpus cornell DIR --genres                               # genres, most dialogs first
    botwerk corpus cornell DIR --show 3 --genre comedy --seed 7       # three comedy dialogs
    botwerk train chat DIR --genre comedy --name comedy               # cross-entropy
    botwerk train chat DIR --genre comedy --name comedy --rl          # then SCST fine-tuning
    botwerk train chat chatterbot --name chat                         # no download needed
    botwerk reply comedy "where have you been?" --mode beam

:mod:`.modelcli` puts them in its groups (``corpus cornell``, ``train chat``); nothing heavy
is imported until a command runs.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from botwerk.infra.settings import Settings

from .kit import command_settings, friendly, publish, store

if TYPE_CHECKING:
    from botwerk.workers.chat.dialogs import Dialog, Pair
    from botwerk.workers.store import TrainResult


@click.command("cornell")
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--genres", "list_genres", is_flag=True, help="List every genre with its counts.")
@click.option("--show", type=int, is_flag=False, flag_value=1, default=0, metavar="N",
              help="Print N sample dialogs (1 with no N).")  # fmt: skip
@click.option("--genre", multiple=True, help="Only dialogs of this genre; repeat for more.")
@click.option("--seed", type=int, default=1, show_default=True, help="Which samples --show picks.")
@friendly
def corpus_cornell(
    folder: Path, list_genres: bool, show: int, genre: tuple[str, ...], seed: int
) -> None:
    """What FOLDER, the Cornell Movie-Dialogs corpus, holds: dialogs, pairs, genres, samples.

    FOLDER holds movie_lines.txt (or is the folder the corpus's zip was unpacked in).
    """
    from botwerk.workers.chat.cornell import cornell_folder
    from botwerk.workers.chat.dialogs import load_dialogs

    dialogs, notes = load_dialogs(cornell_folder(folder), genre)
    for note in notes:
        click.echo(note)
    click.echo(f"{len(dialogs):,} dialogs, {sum(len(d.utterances) - 1 for d in dialogs):,} pairs")
    if list_genres:
        _echo_genres(dialogs)
    for dialog in random.Random(seed).sample(dialogs, min(max(show, 0), len(dialogs))):
        _echo_dialog(dialog)


def _echo_genres(dialogs: Sequence[Dialog]) -> None:
    """One row per genre: movies, dialogs and pairs in it, most dialogs first."""
    movies: dict[str, set[str]] = {}
    counts: Counter[str] = Counter()
    found: Counter[str] = Counter()
    for dialog in dialogs:
        for genre in dialog.genres or {"(none)"}:
            movies.setdefault(genre, set()).add(dialog.id.split(":")[0])
            counts[genre] += 1
            found[genre] += len(dialog.utterances) - 1
    click.echo(f"\n{'genre':16} {'movies':>7} {'dialogs':>9} {'pairs':>9}")
    for genre, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        click.echo(f"{genre:16} {len(movies[genre]):7,} {count:9,} {found[genre]:9,}")


def _echo_dialog(dialog: Dialog) -> None:
    """The movie's title and genres, then each utterance on its own line, like a script."""
    genres = ", ".join(sorted(dialog.genres)) or "no genre"
    click.echo(f"\n{dialog.source} ({genres}) {dialog.id}")
    for utterance in dialog.utterances:
        click.echo(f"  {utterance}")


CE_ONLY = ("hidden", "layers", "embed", "dropout", "attention", "max_len", "max_vocab",
           "min_count", "context")  # fmt: skip


@click.command("chat")
@click.argument("corpus")
@click.option("--name", required=True, help="Store it under this name (workers serve it by name).")
@click.option(
    "--genre", "genres", multiple=True, help="Only dialogs of this genre; repeat for more."
)
@click.option("--rl", is_flag=True, help="Fine-tune the stored model by SCST instead.")
@click.option("--from", "start", metavar="NAME[@VERSION]", help="--rl: the model to fine-tune  "
              "[default: the latest --name]")  # fmt: skip
@click.option("--epochs", type=int, help="[default: 20, or 10 with --rl]")
@click.option("--batch-size", type=int, help="[default: 64 pairs, or 32 prompts with --rl]")
@click.option("--lr", type=float, help="[default: 1e-3, or 5e-5 with --rl]")
@click.option("--hidden", type=int, help="LSTM units per layer  [default: 512]")
@click.option("--layers", type=int, help="[default: 2]")
@click.option("--embed", type=int, help="Word embedding size, shared  [default: 256]")
@click.option("--dropout", type=float, help="[default: 0.1]")
@click.option("--attention", type=click.Choice(["dot", "general", "concat"]),
              help="Luong's score function  [default: general]")  # fmt: skip
@click.option(
    "--max-len", type=int, help="Tokens per reply; longer ones are left out  [default: 20]"
)
@click.option("--max-vocab", type=int, help="[default: 8000]")
@click.option("--min-count", type=int, help="Rarer words are <unk>  [default: 2]")
@click.option("--context/--no-context", default=None, help="Read the utterance before the prompt.")
@click.option("--samples", type=int, default=5, show_default=True, help="--rl: samples per prompt.")
@click.option("--reward", default="bleu", show_default=True, help="--rl: a reward name or "
              "module:function")  # fmt: skip
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
    from botwerk.workers.chat.dialogs import load_dialogs, pairs

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
        from botwerk.workers.chat.model import ChatConfig
        from botwerk.workers.chat.train import train

        result = train(pairs(dialogs), workdir or Path("runs") / name, ChatConfig(**given),
                       device=settings.device, max_seconds=seconds)  # fmt: skip
    publish(settings, name, "chat", result, label)


def _finetune(settings: Settings, found: list[Pair], start: str, workdir: Path | None,
              given: dict[str, Any], samples: int, reward: str,
              seconds: float | None) -> TrainResult:  # fmt: skip
    from botwerk.workers.chat.rl import SCSTConfig, finetune

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
    from botwerk.workers.chat.serve import ChatInput, ChatModel

    request = validate({"text": text, **options}, ChatInput, "option")
    model = ChatModel(command_settings(), name)
    model.load()
    [output] = model.predict([request])
    click.echo(output["text"])
