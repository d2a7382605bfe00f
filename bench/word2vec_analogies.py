"""Analogy accuracy of the GloVe demo vectors beside the Lee-trained word2vec, on 20 analogies.

    python bench/word2vec_analogies.py

Imports GloVe 6B 50d from its package (``import_glove``) and trains word2vec on gensim's
``lee_background.cor`` with ``DEMO_CONFIG`` (what ``botwerk train word2vec`` shows), both into
a temporary folder, then asks each the 20 analogies of
:data:`botwerk.workers.word2vec.analogies.ANALOGIES` as annalogue asks them (3CosMul, top
answer). Prints one line per analogy with each model's answer (``-`` marks a miss, ``?`` a
word the vectors do not know), each model's accuracy, and the seconds the import and the
training took. CPU only; about 30 s on two cores, most of it training.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from gensim.test.utils import datapath

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from botwerk.workers.word2vec.analogies import ANALOGIES, Analogy, accuracy, answer
from botwerk.workers.word2vec.config import DEMO_CONFIG
from botwerk.workers.word2vec.glove import import_glove
from botwerk.workers.word2vec.model import Vectors
from botwerk.workers.word2vec.train import train


def cell(vectors: Vectors, item: Analogy) -> str:
    """The answer; ``- word`` for a wrong one, ``?`` when a word of the analogy is unknown."""
    found = answer(vectors, item)
    if found is None:
        return "? (unknown word)"
    return found if found.lower() == item.answer else f"- {found}"


def main() -> None:
    with tempfile.TemporaryDirectory() as work:
        glove = import_glove(Path(work) / "glove")
        lee = train(Path(datapath("lee_background.cor")), Path(work) / "lee", DEMO_CONFIG,
                    progress=False)  # fmt: skip
        models = {"GloVe 6B 50d": Vectors.open(glove.folder),
                  "Lee word2vec": Vectors.open(lee.folder)}  # fmt: skip
        print(f"{'kind':16} {'analogy':38} " + " ".join(f"{name:22}" for name in models))
        for item in ANALOGIES:
            question = f"{item.a} : {item.b} :: {item.c} : {item.answer}"
            cells = " ".join(f"{cell(vectors, item):22}" for vectors in models.values())
            print(f"{item.kind:16} {question:38} {cells}")
        scores = " ".join(f"{accuracy(vectors):<22.0%}" for vectors in models.values())
        print(f"{'accuracy':55} {scores}")
        print(f"GloVe import {glove.metrics['seconds']:.2f} s ({len(models['GloVe 6B 50d']):,} "
              f"words), Lee training {lee.metrics['seconds']:.2f} s "
              f"({len(models['Lee word2vec']):,} words)")  # fmt: skip


if __name__ == "__main__":
    main()
