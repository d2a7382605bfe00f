"""Fixtures for the word2vec tests: one tiny trained model per session, and hand-made vectors."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from gensim.models import KeyedVectors

from botwerk.workers.store import TrainResult
from botwerk.workers.word2vec.config import Word2VecConfig
from botwerk.workers.word2vec.model import Vectors, save_folder
from botwerk.workers.word2vec.train import train

GROUPS = {
    "animals": ["cat", "dog", "mouse", "horse", "cow"],
    "colours": ["red", "green", "blue", "yellow", "purple"],
    "tools": ["hammer", "saw", "drill", "wrench", "chisel"],
}
TINY = Word2VecConfig(
    vector_size=16, window=3, min_count=1, sg=True, epochs=15, workers=1, seed=7, sample=0.0
)


def write_grouped_corpus(path: Path, sentences: int = 600) -> Path:
    """Each line draws its words from one group, so words of a group share contexts."""
    rng = random.Random(3)
    lines = []
    for _ in range(sentences):
        group = GROUPS[rng.choice(sorted(GROUPS))]
        lines.append(" ".join(rng.choice(group) for _ in range(8)))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> TrainResult:
    root = tmp_path_factory.mktemp("w2v")
    corpus = write_grouped_corpus(root / "grouped.txt")
    return train(corpus, root / "built", TINY, progress=False)


# Hand-made vectors: queries with answers known exactly.
HANDMADE = {
    "king": [1.0, 1.0, 0.0, 0.0],
    "queen": [1.0, 0.0, 1.0, 0.0],
    "man": [0.0, 1.0, 0.0, 0.1],
    "woman": [0.0, 0.0, 1.0, 0.1],
    "apple": [0.0, 0.0, 0.0, 1.0],
    "New_York": [0.9, 0.1, 0.1, 0.0],
    "new_york": [0.8, 0.2, 0.1, 0.0],
    "Paris": [0.7, 0.1, 0.3, 0.0],
    "NASA": [0.2, 0.2, 0.2, 0.9],
    "well-known": [0.3, 0.3, 0.3, 0.3],
}


@pytest.fixture(scope="session")
def handmade_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    kv = KeyedVectors(4, count=0)
    kv.add_vectors(list(HANDMADE), np.array(list(HANDMADE.values()), dtype=np.float32))
    folder = tmp_path_factory.mktemp("handmade")
    save_folder(kv, folder, counts=[100 - i for i in range(len(HANDMADE))])
    return folder


@pytest.fixture(scope="session")
def handmade(handmade_folder: Path) -> Vectors:
    return Vectors.open(handmade_folder)
