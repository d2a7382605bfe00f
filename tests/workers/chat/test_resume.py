"""Preemption: chat training and SCST fine-tuning stopped mid-epoch resume to the same weights.

Equality is ``torch.equal`` on every tensor: on CPU, in one process, a resumed run repeats
the float operations of an unbroken one in the same order (see charrnn's ``test_resume.py``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from msgspec.structs import replace

from botwerk.workers.chat.config import SCSTConfig
from botwerk.workers.chat.rl import finetune
from botwerk.workers.chat.train import train
from botwerk.workers.checkpoints import Checkpoints
from botwerk.workers.epochs import Cancelled
from tests.support.preemption import assert_same_weights, stop_at

from .conftest import TINY

QUIET = {"device": "cpu", "progress": False, "log": lambda _: None}


def _cut_back(checkpoints: Path, name: str) -> None:
    """As if killed while writing ``name``: the step before it is where the run resumes."""
    store = Checkpoints(checkpoints)
    assert store.latest() == name
    store.remove(name)


def test_cross_entropy_stopped_mid_epoch_resumes_to_the_same_weights(tiny_pairs, tmp_path):
    two, every_step = replace(TINY, epochs=2), replace(TINY, epochs=2, checkpoint_minutes=0)
    whole = train(tiny_pairs, tmp_path / "whole", two, **QUIET)
    cut = tmp_path / "cut"
    with pytest.raises(Cancelled):
        train(tiny_pairs, cut, every_step, **QUIET, on_step=stop_at(2, 3))
    _cut_back(cut / "checkpoints", "epoch-0002-step-00000003")
    lines: list[str] = []
    again = train(tiny_pairs, cut, every_step, device="cpu", progress=False, log=lines.append)
    assert any("resuming from epoch-0002-step-00000002" in line for line in lines)
    assert_same_weights(whole.folder, again.folder)
    for figure in ("loss", "valid_loss", "valid_bleu", "best_epoch", "steps"):
        assert again.metrics[figure] == whole.metrics[figure], figure


def test_scst_stopped_mid_epoch_resumes_to_the_same_weights(trained, tiny_pairs, tmp_path):
    config = SCSTConfig(epochs=1, samples=2, batch_size=8)  # its samples' seeds come from loop.rng
    whole = finetune(tiny_pairs, trained.folder, tmp_path / "whole", config, **QUIET)
    cut, every_step = tmp_path / "cut", replace(config, checkpoint_minutes=0)
    with pytest.raises(Cancelled):
        finetune(tiny_pairs, trained.folder, cut, every_step, **QUIET, on_step=stop_at(1, 2))
    _cut_back(cut / "checkpoints", "epoch-0001-step-00000002")
    again = finetune(tiny_pairs, trained.folder, cut, every_step, **QUIET)
    assert again.metrics["steps"] == whole.metrics["steps"] > 0
    # The last epoch's weights, whichever epoch was kept as the best:
    assert_same_weights(tmp_path / "whole" / "checkpoints" / "epoch-0001",
                         cut / "checkpoints" / "epoch-0001")  # fmt: skip
