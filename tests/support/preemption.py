"""What the resume tests of every kind share: a preemption in process, and equal weights."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from safetensors.torch import load_file

from botwerk.workers.epochs import Cancelled, Step


def assert_same_weights(one: Path, other: Path) -> None:
    """The two model folders hold the very same tensors (``torch.equal``, not close)."""
    a, b = load_file(one / "model.safetensors"), load_file(other / "model.safetensors")
    assert sorted(a) == sorted(b)
    for name in a:
        assert torch.equal(a[name], b[name]), name


def stop_at(epoch: int, position: int) -> Callable[[Step], None]:
    """An ``on_step`` hook that stops training at that step of that epoch, as a preemption."""

    def on_step(step: Step) -> None:
        if (step.epoch, step.position) == (epoch, position) and not step.figures:
            raise Cancelled("a preemption, in process")

    return on_step
