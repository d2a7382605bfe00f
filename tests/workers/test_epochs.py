"""The shared epoch loop on a toy model: best kept, checkpoints resume, a wrong shape refused."""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from botwerk.schemas import BotwerkError
from botwerk.workers.checkpoints import Checkpoints
from botwerk.workers.epochs import Cancelled, EpochLoop, Step


class Line(EpochLoop[nn.Linear]):
    """Fits y = 3x; the score is a scripted list, so which epoch is best is known."""

    label, unit = "line", "point"

    def __init__(self, scores: list[float], width: int = 1, epochs: int = 3, steps: int = 1,
                 checkpoint_minutes: float = 10.0) -> None:  # fmt: skip
        torch.manual_seed(0)
        model, self.lines = nn.Linear(width, 1), []
        optimizer = torch.optim.AdamW(model.parameters(), lr=0.1)
        super().__init__(model, optimizer, self.lines.append, epochs=epochs, seed=1,
                         checkpoint_minutes=checkpoint_minutes)  # fmt: skip
        self.scores, self.steps = scores, steps

    def work(self) -> int:
        return 8 * self.steps

    def train_epoch(self, epoch: int, bar: Any) -> dict[str, float]:
        for _ in range(self.steps)[self.done.position :]:
            # torch's RNG draws the data, the loop's rng a noise term: both must be restored
            x = torch.rand(8, self.model.in_features) + self.rng.random()
            loss = ((self.model(x) - 3 * x[:, :1]) ** 2).mean()
            self.optimizer.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            self.optimizer.step()
            self.done.steps += 1
            self.done.sums["loss"] = self.done.sums.get("loss", 0.0) + loss.item()
            if self.stepped(bar, 8, loss.item()):
                break
        return {"loss": self.done.sums["loss"] / self.done.position}

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
    assert loop.done.epoch == 1
    assert loop.lines[-1].startswith("line: the 0 s budget is spent, stopping after epoch 1;")


class SlowLine(Line):
    """A Line whose steps take 20 ms, so that a time budget stops it part way."""

    def train_epoch(self, epoch: int, bar: Any) -> dict[str, float]:
        time.sleep(0.02 * self.steps)
        return super().train_epoch(epoch, bar)


def _last_bar(drawn: str) -> str:
    return [frame for frame in re.split(r"[\r\n]", drawn) if "|" in frame][-1]


# issue 14: a capped bar stopped at 26% with an ETA, then "stopping after epoch 14:
# max_seconds=60.0", which read like an abort.
def test_a_capped_bar_counts_seconds_of_its_budget_and_ends_full(tmp_path, capsys) -> None:
    loop = SlowLine([0.1, 0.9, *[0.5] * 98], epochs=100)
    loop.run(tmp_path, progress=True, max_seconds=0.5)
    bar = _last_bar(capsys.readouterr().err)
    assert 1 < loop.done.epoch < 100, loop.done.history
    assert re.match(r"line: 100%\|█+\| 0\.5/0\.5 s \[.*epoch=\d+/100, loss=", bar), bar
    best = loop.done.best_figures()["loss"]
    assert loop.lines[-1] == (
        f"line: the 0.5 s budget is spent, stopping after epoch {loop.done.epoch}; keeping the "
        f"best epoch (2, loss {best:.3g})"
    )


def test_a_capped_run_whose_epochs_end_first_still_ends_at_a_full_bar(tmp_path, capsys):
    loop = Line([0.1, 0.2], epochs=2)
    loop.run(tmp_path, progress=True, max_seconds=60)
    bar = _last_bar(capsys.readouterr().err)
    assert re.match(r"line: 100%\|█+\| 60/60 s \[.*epoch=2/2, loss=", bar), bar
    assert not any("budget" in line for line in loop.lines), loop.lines


def _stop_at(epoch: int, position: int):
    def on_step(step: Step) -> None:
        if (step.epoch, step.position) == (epoch, position) and not step.figures:
            raise Cancelled("stop")

    return on_step


def test_a_run_stopped_mid_epoch_resumes_to_the_same_weights(tmp_path: Path) -> None:
    whole = Line([0.1, 0.5, 0.3], steps=5)
    whole.run(tmp_path / "whole", progress=False, max_seconds=None)
    # Checkpoints every step, on an object store (fsspec's memory://, no rename there).
    location = f"memory://line-{uuid.uuid4().hex}"
    first = Line([0.1, 0.5, 0.3], steps=5, checkpoint_minutes=0)
    first.resume(location)
    with pytest.raises(Cancelled):
        first.run(tmp_path / "cut", progress=False, max_seconds=None, on_step=_stop_at(2, 4))
    store = Checkpoints(location)
    assert store.latest() == "epoch-0002-step-00000004"
    store.remove("epoch-0002-step-00000004")  # killed just before that checkpoint was whole
    again = Line([0.1, 0.5, 0.3], steps=5, checkpoint_minutes=0)
    again.resume(location)
    assert again.lines == ["line: resuming from epoch-0002-step-00000003 (8 steps done)"]
    again.run(tmp_path / "cut", progress=False, max_seconds=None)
    for name, tensor in whole.model.state_dict().items():
        assert torch.equal(tensor, again.model.state_dict()[name]), name
    assert again.done.history == whole.done.history  # the resumed epoch's figures too
    kept, other = again.keep_best(tmp_path / "cut"), whole.keep_best(tmp_path / "whole")
    assert (kept / "line.safetensors").read_bytes() == (other / "line.safetensors").read_bytes()


def test_on_step_hears_every_step_and_every_epoch(tmp_path: Path) -> None:
    heard: list[Step] = []
    Line([0.1, 0.2], epochs=2, steps=3).run(tmp_path, False, None, on_step=heard.append)
    assert [(s.epoch, s.position, bool(s.figures)) for s in heard] == [
        (1, 1, False), (1, 2, False), (1, 3, False), (1, 0, True),
        (2, 1, False), (2, 2, False), (2, 3, False), (2, 0, True),
    ]  # fmt: skip
    assert heard[2].units == heard[2].work == 24 and heard[-1].checkpoint == "epoch-0002"
    assert heard[-1].figures["score"] == 0.2 and heard[-1].steps == 6


def test_checkpoints_of_the_older_format_are_refused_with_the_folder_to_delete(tmp_path):
    old = tmp_path / "checkpoints" / "epoch-0001"
    old.mkdir(parents=True)
    (old / "progress.json").write_text('{"epoch": 1, "steps": 1}')  # no format, no marker
    with pytest.raises(BotwerkError, match=f"older format.*delete {tmp_path / 'checkpoints'}"):
        Line([0.1]).resume(tmp_path / "checkpoints")
