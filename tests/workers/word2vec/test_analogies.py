"""The fixed analogies, and the accuracy every stored word2vec model records."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from gensim.test.utils import datapath

from botwerk.workers.store import TrainResult
from botwerk.workers.word2vec.analogies import ANALOGIES, accuracy, answer, right
from botwerk.workers.word2vec.model import Vectors
from botwerk.workers.word2vec.train import import_vectors


def test_twenty_analogies_five_of_each_kind_whose_answer_is_never_an_input() -> None:
    assert len(ANALOGIES) == 20
    assert Counter(a.kind for a in ANALOGIES) == dict.fromkeys(
        ["capital-country", "gender", "plural", "comparative"], 5
    )
    for item in ANALOGIES:
        assert item.answer not in (item.a, item.b, item.c), item
        assert all(word.isalpha() and word.islower() for word in item[1:]), item


def test_accuracy_counts_top_answers_and_unknown_words_as_wrong(handmade: Vectors) -> None:
    # The hand-made vectors know man, woman, king and queen: one analogy of the 20.
    [known] = [
        a for a in ANALOGIES if {a.a, a.b, a.c, a.answer} <= {"man", "woman", "king", "queen"}
    ]
    assert answer(handmade, known) == "queen" and right(handmade, known)
    assert answer(handmade, ANALOGIES[0]) is None  # paris is unknown here
    assert accuracy(handmade) == 1 / 20


def test_trained_and_imported_vectors_record_their_accuracy(
    trained: TrainResult, tmp_path: Path
) -> None:
    assert trained.metrics["analogy_accuracy"] == 0.0  # animals, colours, tools: none of them
    imported = import_vectors(Path(datapath("euclidean_vectors.bin")), tmp_path / "out")
    assert imported.metrics["analogy_accuracy"] == accuracy(Vectors.open(imported.folder))
