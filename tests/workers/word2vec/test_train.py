"""word2vec training and import: sensible neighbours, metrics, phrases, both file formats."""

from __future__ import annotations

from pathlib import Path

import msgspec
import numpy as np
import pytest
from gensim.models import KeyedVectors
from gensim.test.utils import datapath

from botwerk.workers.store import TrainResult
from botwerk.workers.word2vec.config import DEMO_CONFIG, Word2VecConfig
from botwerk.workers.word2vec.model import BINARY, MATRIX, VOCAB, Vectors
from botwerk.workers.word2vec.train import import_vectors, is_binary_word2vec, train

from .conftest import GROUPS, TINY


def test_neighbours_come_from_the_same_group(trained: TrainResult) -> None:
    vectors = Vectors.open(trained.folder)
    for group in GROUPS.values():
        for word in group:
            neighbours = [w for w, _ in vectors.most_similar([word], topn=3)]
            assert set(neighbours) <= set(group), (word, neighbours)


def test_the_folder_and_metrics(trained: TrainResult) -> None:
    assert {p.name for p in trained.folder.iterdir()} == {BINARY, MATRIX, VOCAB}
    assert trained.metrics["vocab_size"] == 15
    assert trained.metrics["sentences"] == 600
    assert trained.metrics["words_trained"] > 0
    assert trained.metrics["training_loss"] > 0
    assert trained.config == msgspec.structs.asdict(TINY)
    portable = KeyedVectors.load_word2vec_format(str(trained.folder / BINARY), binary=True)
    mapped = Vectors.open(trained.folder).kv
    assert portable.index_to_key == mapped.index_to_key
    np.testing.assert_allclose(portable.vectors, mapped.vectors)
    assert mapped.get_vecattr("cat", "count") > 100


def test_phrases_join_words_that_go_together(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    filler = [f"{a}{b}" for a in ("al", "be", "ga", "de", "ze") for b in ("pha", "ta", "ma", "ra")]
    lines = [" ".join([*rng.choice(filler, 3), "new", "york", *rng.choice(filler, 3)])
             for _ in range(80)]  # fmt: skip
    (tmp_path / "c.txt").write_text("\n".join(lines))
    config = msgspec.structs.replace(TINY, phrases=True, phrase_threshold=0.5, epochs=2)
    result = train(tmp_path / "c.txt", tmp_path / "out", config, progress=False)
    vectors = Vectors.open(result.folder)
    assert "new_york" in vectors.kv.key_to_index
    assert vectors.resolve("New York") == "new_york"


def test_an_empty_vocabulary_says_how_to_fix_it(tmp_path: Path) -> None:
    (tmp_path / "c.txt").write_text("one two three\n")
    with pytest.raises(ValueError, match="lower min_count"):
        train(tmp_path / "c.txt", tmp_path / "out", Word2VecConfig(min_count=5), progress=False)


def test_the_config_is_checked() -> None:
    with pytest.raises(ValueError, match="epochs must be 1 or more"):
        Word2VecConfig(epochs=0)
    with pytest.raises(msgspec.ValidationError, match="unknown field"):
        msgspec.convert({"epoch": 3}, Word2VecConfig)
    assert DEMO_CONFIG.min_count == 2


@pytest.mark.parametrize(
    ("name", "binary"),
    [("euclidean_vectors.bin", True),
     ("high_precision.kv.txt", False), ("high_precision.kv.bin", True)],
)  # fmt: skip
def test_bundled_files_import_with_their_format_detected(
    tmp_path: Path, name: str, binary: bool
) -> None:
    file = Path(datapath(name))
    assert is_binary_word2vec(file) is binary
    result = import_vectors(file, tmp_path / "out")
    original = KeyedVectors.load_word2vec_format(str(file), binary=binary)
    imported = Vectors.open(result.folder).kv
    assert imported.index_to_key == original.index_to_key
    np.testing.assert_array_equal(imported.vectors, original.vectors)
    assert result.metrics["vocab_size"] == len(original.index_to_key)
    assert result.config["binary"] is binary


@pytest.mark.parametrize("binary", [True, False])
def test_written_files_round_trip_with_a_limit(
    trained: TrainResult, tmp_path: Path, binary: bool
) -> None:
    kv = Vectors.open(trained.folder).kv
    file = tmp_path / ("v.bin.gz" if binary else "v.txt")
    kv.save_word2vec_format(str(file), binary=binary)
    result = import_vectors(file, tmp_path / "out", limit=5)
    imported = Vectors.open(result.folder)
    assert imported.kv.index_to_key == kv.index_to_key[:5]
    np.testing.assert_allclose(imported.kv.vectors, kv.vectors[:5], rtol=1e-5)
    assert imported.frequency(kv.index_to_key[0]) == (0, 1)  # files carry no counts


def test_a_file_without_a_header_is_refused(tmp_path: Path) -> None:
    (tmp_path / "glove.txt").write_text("the 0.1 0.2\n")
    with pytest.raises(ValueError, match="glove2word2vec"):
        import_vectors(tmp_path / "glove.txt", tmp_path / "out")
