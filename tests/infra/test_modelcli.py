"""The model commands, run as a user would: train, store, list, import, generate, query."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner
from gensim.models import KeyedVectors
from gensim.test.utils import datapath

from botwerk.cli.app import main
from botwerk.workers.store import ModelStore

pytestmark = pytest.mark.slow

TEXT = "the cat sat on the mat. the dog sat on the log. " * 200


@pytest.fixture
def run(monkeypatch, tmp_path):
    monkeypatch.delenv("BOTWERK_AMQP_URL", raising=False)
    monkeypatch.setenv("BOTWERK_MODELS", f"file://{tmp_path / 'models'}")
    monkeypatch.chdir(tmp_path)

    def invoke(*args):
        result = CliRunner().invoke(main, [str(a) for a in args])
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result

    return invoke


def test_train_charrnn_then_generate_and_resume(run, tmp_path):
    corpus = tmp_path / "cats.txt"
    corpus.write_text(TEXT)
    sizes = ["--hidden", 32, "--layers", 1, "--embed", 8, "--seq-len", 32, "--batch-size", 8]
    first = run("train", "charrnn", corpus, "--name", "cats", "--epochs", 1, *sizes)
    assert first.exit_code == 0, first.output
    assert re.search(r"stored cats@1 \(charrnn\) in file://.*val_loss", first.output)

    again = run("train", "charrnn", corpus, "--name", "cats", "--epochs", 2, *sizes)
    assert again.exit_code == 0, again.output
    manifest = ModelStore(str(tmp_path / "models")).resolve("cats@2")
    assert manifest.metrics["epochs"] == 2  # resumed from the first run's checkpoint

    texts = [run("generate", "cats", "the c", "--length", 40, "--seed", 7).output for _ in "ab"]
    assert texts[0] == texts[1] and texts[0].startswith("the c") and len(texts[0]) > 40
    listed = run("models", "list").output
    assert "cats@1" in listed and "cats@2" in listed and "charrnn" in listed


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


def test_corpus_wiki_writes_plain_text(run, tmp_path):
    dump = datapath("enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2")
    result = run("corpus", "wiki", dump, tmp_path / "wiki.txt", "--no-headings")
    assert result.exit_code == 0, result.output
    count = int(re.search(r"wrote (\d+) articles", result.output).group(1))
    text = (tmp_path / "wiki.txt").read_text()
    assert count > 10 and "== " not in text and "[[" not in text


def test_missing_models_are_one_clear_line(run):
    result = run("generate", "nobody", "hi")
    assert result.exit_code == 1
    assert "no model 'nobody'" in result.output and "botwerk train" in result.output
    assert "Traceback" not in result.output
    assert "no models in" in run("models", "list").output
    bad = run("generate", "nobody", "hi", "--length", 0)
    assert bad.exit_code == 1 and "option.length" in bad.output
