"""Train word2vec on a corpus, or import pre-trained vectors, into a folder ready to publish.

Training and publishing, or importing vectors someone else trained::

    result = train(Path("corpus.txt"), Path("built"), Word2VecConfig(epochs=10))
    ModelStore(url).publish("lee", "word2vec", result.folder, metrics=result.metrics,
                            corpus="corpus.txt", config=result.config)
    imported = import_vectors(Path("GoogleNews-vectors-negative300.bin.gz"), Path("gnews"))

The corpus is a text file or a folder of them, read by
:class:`botwerk.workers.corpora.text.Sentences` (one sentence per line, lower-cased
letters-only words unless ``lowercase=False``), once to build the vocabulary and once per
epoch: a restartable iterable, never held in memory. With ``phrases=True``, gensim's
``Phrases`` first finds word pairs that occur together far more than by chance and joins them
("new york" -> ``new_york``), as in the GoogleNews vectors.

The folder holds the vectors as :mod:`botwerk.workers.word2vec.model` describes; nothing is
pickled. Trained and imported vectors alike record ``analogy_accuracy`` in their metrics (the
share of :mod:`~botwerk.workers.word2vec.analogies`' 20 analogies answered right), and every
import, of a file or of GloVe (:mod:`~botwerk.workers.word2vec.glove`), ends in
:func:`store_imported`.

Limits: runs reproduce exactly only with ``workers=1`` (thread scheduling otherwise reorders
updates). The training loss is gensim's figure for the last epoch, only with
``compute_loss``: not comparable across configurations, and gensim sums it in float32, so on
large corpora it stops growing and the last epoch's share reads low or 0.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from gensim.models import KeyedVectors, Word2Vec
from gensim.models.callbacks import CallbackAny2Vec
from gensim.models.phrases import FrozenPhrases, Phrases
from gensim.utils import open as open_any
from tqdm import tqdm  # type: ignore[import-untyped, unused-ignore]

from botwerk.workers.corpora.text import Sentences
from botwerk.workers.store import TrainResult
from botwerk.workers.word2vec.analogies import accuracy
from botwerk.workers.word2vec.config import Word2VecConfig
from botwerk.workers.word2vec.model import Vectors, save_folder


class PhrasedSentences:
    """Sentences with detected phrases joined: restartable, like the corpus under it."""

    def __init__(self, sentences: Iterable[list[str]], phrases: FrozenPhrases) -> None:
        self.sentences = sentences
        self.phrases = phrases

    def __iter__(self) -> Iterator[list[str]]:
        for sentence in self.sentences:
            yield self.phrases[sentence]


class EpochProgress(CallbackAny2Vec):  # type: ignore[misc]  # gensim has no type hints
    """A tqdm bar over epochs, and the training loss of each epoch."""

    def __init__(self, epochs: int, enabled: bool) -> None:
        self.bar = tqdm(total=epochs, desc="word2vec epochs", unit=" epoch", disable=not enabled)
        self.losses: list[float] = []
        self._total = 0.0

    def on_epoch_end(self, model: Word2Vec) -> None:
        total = float(model.get_latest_training_loss())
        self.losses.append(total - self._total)  # gensim's figure is cumulative
        self._total = total
        self.bar.update()
        if model.compute_loss:
            self.bar.set_postfix(loss=f"{self.losses[-1]:.4g}")

    def on_train_end(self, model: Word2Vec) -> None:
        self.bar.close()


def train(corpus: Path, out: Path, config: Word2VecConfig, *, progress: bool = True) -> TrainResult:
    """Train on ``corpus`` (a text file or folder) and write the vectors into ``out``."""
    started = time.perf_counter()
    sentences: Iterable[list[str]] = Sentences(corpus, lowercase=config.lowercase)
    if config.phrases:
        sentences = _with_phrases(sentences, config)
    model = Word2Vec(
        vector_size=config.vector_size, window=config.window, min_count=config.min_count,
        sg=int(config.sg), negative=config.negative, sample=config.sample, epochs=config.epochs,
        workers=config.workers, seed=config.seed, compute_loss=config.compute_loss,
    )  # fmt: skip
    model.build_vocab(sentences, progress_per=1_000_000)
    if not model.wv.index_to_key:
        raise ValueError(
            f"no word occurs {config.min_count} times in {corpus}: "
            "lower min_count or give a larger corpus"
        )
    bar = EpochProgress(config.epochs, progress)
    trained, _ = model.train(
        sentences, total_examples=model.corpus_count, epochs=config.epochs,
        compute_loss=config.compute_loss, callbacks=[bar],
    )  # fmt: skip
    save_folder(model.wv, out)
    metrics = _metrics(model, trained, time.perf_counter() - started, bar.losses)
    return TrainResult(out, metrics, config.to_dict())


def _metrics(
    model: Word2Vec, trained: int, seconds: float, losses: list[float]
) -> dict[str, float]:
    metrics = {
        "vocab_size": float(len(model.wv.index_to_key)),
        "vector_size": float(model.wv.vector_size),
        "sentences": float(model.corpus_count),
        "corpus_words": float(model.corpus_total_words),
        "words_trained": float(trained),
        "analogy_accuracy": accuracy(Vectors(model.wv)),
        "seconds": round(seconds, 3),
    }
    if model.compute_loss and losses:
        metrics["training_loss"] = losses[-1]
    return metrics


def _with_phrases(sentences: Iterable[list[str]], config: Word2VecConfig) -> PhrasedSentences:
    found = Phrases(sentences, min_count=config.phrase_min_count, threshold=config.phrase_threshold)
    return PhrasedSentences(sentences, found.freeze())


def import_vectors(
    file: Path, out: Path, *, binary: bool | None = None, limit: int | None = None
) -> TrainResult:
    """Pre-trained vectors in word2vec text or binary format (``.gz``/``.bz2`` too) -> ``out``.

    ``binary=None`` looks at the file to decide. ``limit`` keeps only the first (most
    frequent) words. The files carry no counts: they are stored as 0.
    """
    started = time.perf_counter()
    if binary is None:
        binary = is_binary_word2vec(file)
    kv = KeyedVectors.load_word2vec_format(
        str(file), binary=binary, limit=limit, unicode_errors="replace"
    )
    return store_imported(kv, out, {"imported": file.name, "binary": binary, "limit": limit},
                          started=started)  # fmt: skip


def store_imported(
    kv: KeyedVectors, out: Path, config: dict[str, Any], *, started: float
) -> TrainResult:
    """Vectors trained elsewhere -> ``out``: the one path of every import (files, GloVe).

    They carry no counts (stored as 0). The metrics say what they are and how good:
    ``analogy_accuracy`` on :data:`~.analogies.ANALOGIES`, as for trained vectors;
    ``seconds`` counts from ``started`` (a ``time.perf_counter()``), reading included.
    """
    save_folder(kv, out, counts=[0] * len(kv.index_to_key))
    metrics = {
        "vocab_size": float(len(kv.index_to_key)),
        "vector_size": float(kv.vector_size),
        "analogy_accuracy": accuracy(Vectors(kv)),
    }
    metrics["seconds"] = round(time.perf_counter() - started, 3)
    return TrainResult(out, metrics, config)


def is_binary_word2vec(file: Path) -> bool:
    """True unless the line after the header reads as ``word`` and ``size`` numbers."""
    with open_any(str(file), "rb") as handle:
        header = handle.readline().split()
        if len(header) != 2 or not all(part.isdigit() for part in header):
            raise ValueError(
                f"{file} does not start with a word2vec header 'WORDS DIMENSIONS': "
                "convert GloVe files with gensim.scripts.glove2word2vec first"
            )
        line = handle.readline(1 << 20)
    size = int(header[1])
    try:
        fields = line.decode("utf-8").split()
        [float(value) for value in fields[-size:]]
    except (UnicodeDecodeError, ValueError):
        return True
    return len(fields) != size + 1 or not line.endswith(b"\n")
