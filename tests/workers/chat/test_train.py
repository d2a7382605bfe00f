"""Cross-entropy training: the loss falls, BLEU is logged, the best epoch is kept, resume works."""

from __future__ import annotations

import json
import math

import pytest
from msgspec.structs import replace

from botwerk.schemas import BotwerkError
from botwerk.workers.chat.train import train
from botwerk.workers.corpora.dialogs import Pair

from .conftest import TINY


def _history(workdir):
    latest = sorted((workdir / "checkpoints").glob("epoch-*"))[-1]
    return json.loads((latest / "progress.json").read_text())["history"]


def test_training_lowers_the_loss_and_logs_bleu_each_epoch(trained, responder):
    history = _history(trained.folder.parent)
    assert [h["epoch"] for h in history] == list(range(1, 11))
    uniform = math.log(responder.vocab.size)  # the loss of knowing nothing
    assert history[-1]["loss"] < 0.5 * history[0]["loss"] < uniform
    assert all(0 <= h["valid_bleu"] <= 100 and 0 <= h["test_bleu"] <= 100 for h in history)
    assert max(h["valid_bleu"] for h in history) > 0


def test_the_kept_model_is_the_epoch_with_the_best_validation_bleu(trained):
    history = _history(trained.folder.parent)
    best = max(history, key=lambda h: (h["valid_bleu"], -h["valid_loss"]))
    metrics = trained.metrics
    assert metrics["best_epoch"] == best["epoch"] and metrics["epochs"] == 10
    assert metrics["valid_bleu"] == best["valid_bleu"] and metrics["test_bleu"] == best["test_bleu"]
    assert trained.config == TINY.to_dict()
    assert sorted(p.name for p in trained.folder.iterdir()) == ["model.json", "model.safetensors"]


def test_a_second_run_resumes_from_the_latest_checkpoint(tiny_pairs, tmp_path):
    lines: list[str] = []
    one = replace(TINY, epochs=1)
    first = train(tiny_pairs, tmp_path, one, device="cpu", progress=False, log=lines.append)
    assert first.metrics["epochs"] == 1
    assert any(line.startswith("chat epoch 1/1: loss") for line in lines)
    assert any(" -> " in line for line in lines)  # sample replies to validation prompts
    lines.clear()
    second = train(tiny_pairs, tmp_path, replace(one, epochs=2), device="cpu", progress=False,
                   log=lines.append)  # fmt: skip
    assert "resuming from epoch-0001" in "\n".join(lines)
    assert second.metrics["epochs"] == 2 and second.metrics["steps"] == 2 * first.metrics["steps"]


def test_max_seconds_stops_after_a_step_and_counts_the_epoch(tiny_pairs, tmp_path):
    lines: list[str] = []
    result = train(tiny_pairs, tmp_path, TINY, device="cpu", progress=False, log=lines.append,
                   max_seconds=0)  # fmt: skip
    assert result.metrics["epochs"] == 1 and result.metrics["steps"] == 1
    assert "stopping after epoch 1" in lines[-1]


def test_resuming_on_another_corpus_is_refused(tiny_pairs, tmp_path):
    one = replace(TINY, epochs=1)
    train(tiny_pairs, tmp_path, one, device="cpu", progress=False, log=lambda _: None)
    other = [Pair(f"question {i}", f"answer {i}") for i in range(20)]
    with pytest.raises(BotwerkError, match="another corpus"):
        train(other, tmp_path, one, device="cpu", progress=False, log=lambda _: None)
