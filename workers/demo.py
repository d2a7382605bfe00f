"""The demo models that ``botwerk up`` chats with, trained on first run and reused after.

At ``botwerk up``::

    ensure_demo_models(settings, ["echo", "charrnn", "word2vec", "chat"])  # trains what is missing

``botwerk models demo`` (:func:`demo_models`) does the same from the command line.

The corpora ship inside installed packages, so a fresh machine needs no download: gensim's
test data carries the Lee news corpus (about 360 KB of English news text), which is enough
for a small character-level LSTM to write word-like English and for word2vec to find
neighbours among its ~10,000 words; chatterbot-corpus carries about 2,300 English prompt and
reply pairs, enough for a small seq2seq chat model to answer greetings and small talk. Each
is stored under its kind's name (``charrnn``, ``word2vec``, ``chat``) in the model store,
which is the name its worker serves by default. Training shows a progress bar and is capped
(:data:`SECONDS`, or ``seconds`` for every model): together they take about two and a half
minutes on two CPU cores. A model already in the store is never trained again; train a
better one with ``botwerk train ... --name charrnn`` and the demo uses that.

Limits: a minute of training on news text makes a bard that babbles plausibly, not one that
writes sense; vectors of a small corpus know few words (``king``, ``queen`` are there;
many others are not; ``botwerk models import`` takes real pre-trained vectors); the chat
model answers what chatterbot's scripts cover and is vague about the rest.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

import click

from botwerk.infra.settings import Settings
from botwerk.workers.commands import command_settings, friendly
from botwerk.workers.store import ModelNotFound, ModelStore

DEMO_MODELS = ("echo", "charrnn", "word2vec", "chat")
"""The models ``botwerk up`` serves unless told otherwise."""
SECONDS = {"charrnn": 75.0, "chat": 60.0}
"""Training time caps of the demo models that take long to train."""
SECONDS_HELP = ", ".join(f"{kind} {cap:g}" for kind, cap in SECONDS.items())
"""The caps as ``--help`` shows them: ``charrnn 75, chat 60``."""
CORPUS = "lee_background.cor"


def demo_corpus() -> Path:
    """gensim's bundled Lee background corpus: one news story per line."""
    from gensim.test.utils import datapath

    return Path(datapath(CORPUS))


def ensure_demo_models(
    settings: Settings,
    kinds: Iterable[str],
    *,
    seconds: float | None = None,
    say: Callable[[str], None] = print,
) -> list[str]:
    """Train and store each of ``kinds`` that has a demo and no stored model; what was trained.

    ``seconds`` caps the training of each model instead of :data:`SECONDS`.
    """
    store = ModelStore.from_settings(settings)
    trained = []
    for kind in kinds:
        if kind not in TRAINERS:
            continue
        try:
            store.resolve(kind)
            continue
        except ModelNotFound:
            pass
        corpus = "chatterbot-corpus" if kind == "chat" else CORPUS
        say(f"botwerk: no {kind} model in {settings.models} yet; training the demo one on {corpus}")
        cap = seconds if seconds is not None else SECONDS.get(kind, 0.0)
        with tempfile.TemporaryDirectory() as work:
            TRAINERS[kind](settings, store, Path(work), cap, say)
        trained.append(kind)
    return trained


def _train_charrnn(
    settings: Settings, store: ModelStore, work: Path, seconds: float, say: Callable[[str], None]
) -> None:
    from botwerk.workers.charrnn.config import DEMO_CONFIG
    from botwerk.workers.charrnn.train import train
    from botwerk.workers.corpora.text import load_text

    result = train(
        load_text(demo_corpus()), work, DEMO_CONFIG, device=settings.device, log=say,
        max_seconds=seconds,
    )  # fmt: skip
    store.publish(
        "charrnn", "charrnn", result.folder, metrics=result.metrics, corpus=CORPUS,
        config=result.config,
    )  # fmt: skip


def _train_word2vec(
    settings: Settings, store: ModelStore, work: Path, seconds: float, say: Callable[[str], None]
) -> None:
    from botwerk.workers.word2vec.config import DEMO_CONFIG
    from botwerk.workers.word2vec.train import train

    result = train(demo_corpus(), work, DEMO_CONFIG)
    store.publish(
        "word2vec", "word2vec", result.folder, metrics=result.metrics, corpus=CORPUS,
        config=result.config,
    )  # fmt: skip


def _train_chat(
    settings: Settings, store: ModelStore, work: Path, seconds: float, say: Callable[[str], None]
) -> None:
    from botwerk.workers.chat.config import DEMO_CONFIG
    from botwerk.workers.chat.train import train
    from botwerk.workers.corpora.chatterbot import chatterbot_dialogs
    from botwerk.workers.corpora.dialogs import pairs

    result = train(
        pairs(chatterbot_dialogs()), work, DEMO_CONFIG, device=settings.device, log=say,
        max_seconds=seconds,
    )  # fmt: skip
    store.publish(
        "chat", "chat", result.folder, metrics=result.metrics, corpus="chatterbot",
        config=result.config,
    )  # fmt: skip


Trainer = Callable[[Settings, ModelStore, Path, float, Callable[[str], None]], None]
TRAINERS: dict[str, Trainer] = {
    "charrnn": _train_charrnn,
    "word2vec": _train_word2vec,
    "chat": _train_chat,
}


@click.command("demo")
@click.option("--seconds", type=float, help=f"Training time cap of each  [default: {SECONDS_HELP}]")
@friendly
def demo_models(seconds: float | None) -> None:
    """Train the demo models that `botwerk up` uses, unless the store has them already."""
    settings = command_settings()
    trained = ensure_demo_models(settings, list(TRAINERS), seconds=seconds)
    click.echo(f"demo models in {settings.models}: " + ("trained " + ", ".join(trained)
               if trained else "already there"))  # fmt: skip
