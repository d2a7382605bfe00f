"""The word2vec commands, run as a user would: train, import, query."""

from __future__ import annotations

import pytest
from gensim.models import KeyedVectors
from gensim.test.utils import datapath

pytestmark = pytest.mark.slow


def test_train_word2vec_then_query_it(run):
    trained = run("train", "word2vec", datapath("lee_background.cor"), "--name", "lee",
                  "--min-count", 2, "--epochs", 10)  # fmt: skip
    assert trained.exit_code == 0, trained.output and "stored lee@1 (word2vec)" in trained.output
    similar = run("similar", "lee", "police", "--topn", 3)
    assert similar.exit_code == 0
    assert len(similar.output.splitlines()) == 3
    unknown = run("similar", "lee", "flurbish")
    assert unknown.exit_code == 1 and "not in lee@1: flurbish" in unknown.output


@pytest.mark.parametrize("binary", [True, False])
def test_import_pre_trained_vectors_in_either_format(run, tmp_path, binary):
    vectors = KeyedVectors.load_word2vec_format(datapath("euclidean_vectors.bin"), binary=True)
    path = tmp_path / ("vectors.bin" if binary else "vectors.txt")
    vectors.save_word2vec_format(str(path), binary=binary)
    imported = run("models", "import", path, "--kind", "word2vec", "--name", "pre")
    assert imported.exit_code == 0, imported.output
    word = vectors.index_to_key[0]
    nearest = run("similar", "pre", word, "--topn", 1).output.split()[-1]
    assert nearest == vectors.most_similar(word, topn=1)[0][0]
