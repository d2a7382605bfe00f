"""The shared epoch loop on a toy model: best kept, checkpoints resume, a wrong shape refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from botwerk.schemas import BotwerkError
from botwerk.workers.epochs import EpochLoop


class Line(EpochLoop[nn.Linear]):
    """Fits y = 3x; the score is a scripted list, so which epoch is best is known."""

    label, unit = "line", "point"

    def __init__(self, scores: list[float], width: int = 1, epochs: int = 3) -> None:
        model, self.lines = nn.Linear(width, 1), []
        super().__init__(model, torch.optim.SGD(model.parameters(), lr=0.1), self.lines.append,
                         epochs=epochs, seed=1)  # fmt: skip
        self.scores = scores

    def work(self) -> int:
        return 8

    def train_epoch(self, epoch: int, bar: Any, deadline: float | None) -> dict[str, float]:
        x = torch.rand(8, self.model.in_features)
        loss = ((self.model(x) - 3 * x[:, :1]) ** 2).mean()
        self.optimizer.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        self.optimizer.step()
        self.done.steps += 1
        return {"loss": loss.item()}

    def evaluate(self) -> dict[str, float]:
        return {"score": self.scores[self.done.epoch]}

    def score(self, figures: dict[str, float]) -> tuple[float, ...]:
        return (figures["score"],)

    def save_model(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        save_file(dict(self.model.state_dict()), str(folder / "line.safetensors"))

    def same_shape(self, checkpoint: Path) -> nn.Linear | None:
        weights = load_file(str(checkpoint / "line.safetensors"))
        if weights["weight"].shape != self.model.weight.shape:
            return None
        model = nn.Linear(self.model.in_features, 1)
        model.load_state_dict(weights)
        return model


def test_the_best_epoch_is_kept_and_every_epoch_logged(tmp_path: Path) -> None:
    loop = Line([0.2, 0.9, 0.5])
    loop.run(tmp_path, progress=False, max_seconds=None)
    assert [h["epoch"] for h in loop.done.history] == [1, 2, 3]
    assert loop.done.best_epoch == 2 and loop.metrics()["epochs"] == 3
    assert loop.keep_best(tmp_path) == tmp_path / "model"
    assert (tmp_path / "model" / "line.safetensors").read_bytes() == (
        tmp_path / "best" / "line.safetensors"
    ).read_bytes()
    assert any(line.startswith("line epoch 3/3: loss") for line in loop.lines)


def test_a_second_run_resumes_and_a_wrong_shape_is_refused(tmp_path: Path) -> None:
    first = Line([0.1, 0.2, 0.3], epochs=1)
    first.run(tmp_path, progress=False, max_seconds=None)
    again = Line([0.1, 0.2, 0.3], epochs=3)
    again.resume(tmp_path / "checkpoints")
    assert again.done.epoch == 1 and again.done.steps == 1
    torch.testing.assert_close(again.model.weight, first.model.weight)
    again.run(tmp_path, progress=False, max_seconds=None)
    assert [h["epoch"] for h in again.done.history] == [1, 2, 3]
    with pytest.raises(BotwerkError, match="fresh work folder"):
        Line([0.0], width=2).resume(tmp_path / "checkpoints")


def test_max_seconds_stops_after_the_epoch_that_passes_it(tmp_path: Path) -> None:
    loop = Line([0.1, 0.2, 0.3])
    loop.run(tmp_path, progress=False, max_seconds=0)
    assert loop.done.epoch == 1 and "line: stopping after epoch 1" in loop.lines[-1]
