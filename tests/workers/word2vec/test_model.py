"""Stored vectors: the store round trip, memory mapping, term resolution and every query."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from botwerk.workers.store import CorruptModel, ModelStore, TrainResult
from botwerk.workers.word2vec.model import MATRIX, UnknownWords, Vectors, load_folder, save_folder


def test_publish_open_and_map_equals_the_trained_vectors(
    trained: TrainResult, tmp_path: Path
) -> None:
    store = ModelStore(str(tmp_path))
    manifest = store.publish("grouped", "word2vec", trained.folder, metrics=trained.metrics,
                             config=trained.config)  # fmt: skip
    stored = store.open("grouped", kind="word2vec")
    assert stored.manifest.spec == manifest.spec == "grouped@1"
    mapped = load_folder(stored.path)
    original = load_folder(trained.folder)
    assert mapped.index_to_key == original.index_to_key
    np.testing.assert_array_equal(mapped.vectors, original.vectors)


def test_a_damaged_matrix_is_refused(trained: TrainResult, tmp_path: Path) -> None:
    store = ModelStore(str(tmp_path))
    store.publish("grouped", "word2vec", trained.folder)
    matrix = tmp_path / "grouped" / "1" / MATRIX
    matrix.write_bytes(matrix.read_bytes()[:-4] + b"\0\0\0\0")
    with pytest.raises(CorruptModel, match=r"vectors\.npy does not match"):
        store.open("grouped", kind="word2vec")


def test_the_matrix_stays_memory_mapped_through_queries(trained: TrainResult) -> None:
    vectors = Vectors.open(trained.folder)
    assert isinstance(vectors.kv.vectors, np.memmap)
    assert vectors.kv.vectors.dtype == np.float32 and not vectors.kv.vectors.flags.writeable
    vectors.most_similar(["cat"], ["red"])
    vectors.analogy("cat", "dog", "red")
    vectors.odd_one_out(["cat", "dog", "red"])
    assert isinstance(vectors.kv.vectors, np.memmap)
    assert vectors.kv.norms.shape == (len(vectors),)


def test_a_vocabulary_that_does_not_fit_the_matrix_is_refused(
    trained: TrainResult, tmp_path: Path
) -> None:
    save_folder(load_folder(trained.folder), tmp_path)
    lines = (tmp_path / "vocab.tsv").read_text().splitlines()
    (tmp_path / "vocab.tsv").write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(ValueError, match="publish the model again"):
        load_folder(tmp_path)


@pytest.mark.parametrize(
    ("term", "key"),
    [("king", "king"), ("KING", "king"), ("King", "king"), ("new york", "new_york"),
     ("New York", "New_York"), ("NEW  YORK", "new_york"), ("new-york", "new_york"),
     ("paris", "Paris"), ("nasa", "NASA"), ("well-known", "well-known"), (" apple ", "apple"),
     ("banana", None), ("", None)],
)  # fmt: skip
def test_terms_resolve_to_keys(handmade: Vectors, term: str, key: str | None) -> None:
    assert handmade.resolve(term) == key


def test_unknown_words_are_named_with_what_did_resolve(handmade: Vectors) -> None:
    with pytest.raises(UnknownWords, match="'banana', 'kiwi'") as caught:
        handmade.most_similar(["king", "banana"], ["kiwi"])
    assert caught.value.unknown == ["banana", "kiwi"]
    assert caught.value.resolved == {"king": "king"}
    assert isinstance(caught.value, LookupError)


def test_most_similar_excludes_its_inputs(handmade: Vectors) -> None:
    hits = handmade.most_similar(["king"], topn=3)
    assert [w for w, _ in hits] == ["new_york", "New_York", "Paris"]
    assert all(isinstance(score, float) for _, score in hits)
    assert handmade.most_similar(["king"], ["man"], topn=1)[0][0] == "New_York"


def test_analogy(handmade: Vectors) -> None:
    hits = handmade.analogy("man", "king", "woman", topn=2)
    assert hits[0][0] == "queen"
    assert not {"man", "king", "woman"} & {w for w, _ in hits}


def test_similarity(handmade: Vectors) -> None:
    assert handmade.similarity("king", "KING") == pytest.approx(1.0)
    assert handmade.similarity("king", "apple") == pytest.approx(0.0)


def test_odd_one_out_scores_every_word(handmade: Vectors) -> None:
    odd, scores = handmade.odd_one_out(["king", "queen", "Paris", "apple"])
    assert odd == "apple"
    assert [w for w, _ in scores] == ["king", "queen", "Paris", "apple"]
    assert min(scores, key=lambda pair: pair[1]) == ("apple", scores[3][1])
    with pytest.raises(ValueError, match="3 or more"):
        handmade.odd_one_out(["king", "queen"])


def test_frequency_is_count_and_rank(handmade: Vectors) -> None:
    assert handmade.frequency("king") == (100, 1)
    assert handmade.frequency("new york") == (94, 7)


def test_words_with_whitespace_cannot_be_saved(tmp_path: Path) -> None:
    from gensim.models import KeyedVectors

    kv = KeyedVectors(2, count=0)
    kv.add_vectors(["a b"], np.ones((1, 2), dtype=np.float32))
    with pytest.raises(ValueError, match="holds whitespace"):
        save_folder(kv, tmp_path)
