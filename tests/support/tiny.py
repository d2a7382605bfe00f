"""Tiny real models for tests: trained in seconds, stored like any other.

In a test::

    url = build_tiny_store(tmp_path / "models")   # "charrnn", "word2vec" and "chat", version 1
    env["BOTWERK_MODELS"] = url                    # workers serve them under those names

The char-RNN is one small LSTM layer trained for a few seconds on the Lee corpus: it writes
letters and spaces, not sense, which is all a test of the plumbing needs. The word vectors
come from the whole Lee corpus, so common news words (``police``, ``government``, ``fire``)
are in the vocabulary. The chat model learns chatterbot's greetings, small talk about food
and gossip (about 60 pairs) well enough to answer ``hello`` with a greeting, and reads one
turn of context.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from botwerk.workers.store import ModelStore

if TYPE_CHECKING:
    from botwerk.workers.store import TrainResult

CHARRNN_SECONDS = 8.0


def build_tiny_store(folder: Path) -> str:
    """Train both tiny models into a store at ``folder``; the store's URL."""
    from botwerk.workers.charrnn.config import CharRNNConfig
    from botwerk.workers.charrnn.train import train as train_charrnn
    from botwerk.workers.corpora.text import load_text
    from botwerk.workers.demo import CORPUS, demo_corpus
    from botwerk.workers.word2vec.config import DEMO_CONFIG
    from botwerk.workers.word2vec.train import train as train_word2vec

    store = ModelStore(f"file://{folder}")
    config = CharRNNConfig(embed=16, hidden=64, layers=1, dropout=0.0, seq_len=64, epochs=2)
    with tempfile.TemporaryDirectory() as work:
        text = load_text(demo_corpus())[:60_000]
        bard = train_charrnn(
            text, Path(work) / "charrnn", config, device="cpu", progress=False,
            log=lambda _: None, max_seconds=CHARRNN_SECONDS,
        )  # fmt: skip
        store.publish("charrnn", "charrnn", bard.folder, metrics=bard.metrics, corpus=CORPUS)
        vectors = train_word2vec(
            demo_corpus(), Path(work) / "word2vec", DEMO_CONFIG, progress=False
        )
        store.publish("word2vec", "word2vec", vectors.folder, metrics=vectors.metrics)
        chat = _train_chat(Path(work) / "chat")
        store.publish("chat", "chat", chat.folder, metrics=chat.metrics, corpus="chatterbot")
    return store.url


def _train_chat(work: Path) -> TrainResult:
    from botwerk.workers.chat.config import ChatConfig
    from botwerk.workers.chat.train import train
    from botwerk.workers.corpora.chatterbot import chatterbot_dialogs
    from botwerk.workers.corpora.dialogs import pairs, with_genres

    dialogs = with_genres(chatterbot_dialogs(), ["greetings", "food", "gossip", "conversations"])
    config = ChatConfig(
        embed=32, hidden=64, layers=1, dropout=0.0, max_vocab=600, min_count=1, max_len=16,
        batch_size=16, lr=1e-2, epochs=25, context=True,
    )  # fmt: skip
    return train(pairs(dialogs), work, config, device="cpu", progress=False, log=lambda _: None)
