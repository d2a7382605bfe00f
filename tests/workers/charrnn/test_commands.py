"""The charrnn commands, run as a user would: train, resume, store, list, generate."""

from __future__ import annotations

import re

import pytest

from botwerk.workers.store import ModelStore

pytestmark = pytest.mark.slow

TEXT = "the cat sat on the mat. the dog sat on the log. " * 200


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
