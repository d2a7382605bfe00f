"""charrnn training: the loss falls, checkpoints resume, the folder holds what to publish."""

from __future__ import annotations

import json
import math

import pytest
from msgspec.structs import replace

from botwerk.schemas import BotwerkError
from botwerk.workers.charrnn.model import Vocab
from botwerk.workers.charrnn.train import train

from .conftest import CORPUS, TINY


def test_training_lowers_the_loss(trained):
    history = _history(trained.folder.parent)
    uniform = math.log(Vocab.from_text(CORPUS).size)  # the loss of knowing nothing
    assert [h["epoch"] for h in history] == [1, 2]
    assert history[-1]["val"] < history[0]["val"] < uniform
    assert trained.metrics["val_loss"] < 0.5 * uniform
    assert trained.metrics["val_perplexity"] == pytest.approx(math.exp(trained.metrics["val_loss"]))
    assert trained.metrics["epochs"] == 2 and trained.metrics["tokens_per_s"] > 0
    assert trained.config == TINY.to_dict()


def test_the_folder_holds_exactly_the_files_to_publish(trained):
    assert sorted(p.name for p in trained.folder.iterdir()) == ["model.json", "model.safetensors"]
    meta = json.loads((trained.folder / "model.json").read_text())
    assert meta["vocab"] == sorted(set(CORPUS)) and meta["config"] == TINY.to_dict()


def test_a_second_run_resumes_from_the_latest_checkpoint(tmp_path):
    lines: list[str] = []
    first = train(CORPUS, tmp_path, TINY, device="cpu", progress=False, log=lines.append,
                  max_seconds=0)  # fmt: skip
    assert first.metrics["epochs"] == 1 and first.metrics["steps"] == 1  # stopped after a step
    assert "stopping after epoch 1" in lines[-1]
    assert any("sample at temperature 0.5" in line for line in lines)
    lines.clear()
    again = train(CORPUS, tmp_path, TINY, device="cpu", progress=False, log=lines.append)
    assert lines[0] == "charrnn: resuming from epoch-0001 (1 steps done)"
    assert again.metrics["epochs"] == 2 and again.metrics["steps"] > 1
    assert [h["epoch"] for h in _history(tmp_path)] == [1, 2]
    done = train(CORPUS, tmp_path, TINY, device="cpu", progress=False, log=lines.append)
    assert done.metrics["steps"] == again.metrics["steps"]  # nothing left to do


def test_resuming_with_another_corpus_or_size_is_refused(trained):
    work = trained.folder.parent
    with pytest.raises(BotwerkError, match="fresh work folder"):
        train(CORPUS + "Z", work, TINY, device="cpu", progress=False, log=lambda _: None)
    with pytest.raises(BotwerkError, match="fresh work folder"):
        train(CORPUS, work, replace(TINY, hidden=16), device="cpu", progress=False)


def test_bad_settings_are_refused_with_the_fix(tmp_path):
    with pytest.raises(ValueError, match=r"CharRNNConfig\.hidden must be >= 1"):
        replace(TINY, hidden=0)
    with pytest.raises(BotwerkError, match="too few for seq_len"):
        train("abc" * 10, tmp_path, TINY, device="cpu", progress=False)


def _history(work):
    latest = sorted((work / "checkpoints").glob("epoch-*"))[-1]
    return json.loads((latest / "progress.json").read_text())["history"]
