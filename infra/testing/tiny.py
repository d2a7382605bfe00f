"""Tiny real models for tests: trained on the Lee corpus in seconds, stored like any other.

>>> url = build_tiny_store(tmp_path / "models")   # "charrnn" and "word2vec", version 1 each
>>> env["BOTWERK_MODELS"] = url                    # workers serve them under those names

The char-RNN is one small LSTM layer trained for a few seconds: it writes letters and spaces,
not sense, which is all a test of the plumbing needs. The word vectors come from the whole
Lee corpus, so common news words (``police``, ``government``, ``fire``) are in the vocabulary.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from workers.store import ModelStore

CHARRNN_SECONDS = 8.0


def build_tiny_store(folder: Path) -> str:
    """Train both tiny models into a store at ``folder``; the store's URL."""
    from workers.charrnn.model import CharRNNConfig
    from workers.charrnn.train import train as train_charrnn
    from workers.corpora import load_text
    from workers.demo import CORPUS, demo_corpus
    from workers.word2vec.train import DEMO_CONFIG
    from workers.word2vec.train import train as train_word2vec

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
    return store.url
