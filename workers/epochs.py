"""One epoch loop for every torch model kind: train, evaluate, log, checkpoint, keep the best.

In a kind's ``train.py``::

    class BardLoop(EpochLoop):          # a kind writes what one epoch means, nothing else
        def train_epoch(self, epoch, bar, deadline): ...   # -> {"train": 1.52}
        def evaluate(self): ...                            # -> {"val": 1.61}
        def score(self, figures): return (-figures["val"],)

    loop = BardLoop(model, optimizer, say, epochs=config.epochs, seed=config.seed)
    loop.resume(workdir / "checkpoints")   # after the latest checkpoint, if there is one
    loop.run(workdir, progress=True, max_seconds=600)
    folder = loop.keep_best(workdir)       # workdir/model: the best epoch's model

Each epoch: the global RNG is seeded with ``seed + epoch`` (a resumed run draws what an
unbroken one would), :meth:`EpochLoop.train_epoch` trains and returns its figures,
:meth:`EpochLoop.evaluate` adds held-out ones, :meth:`EpochLoop.report` logs them, and then
the loop writes a checkpoint (:mod:`.checkpoints`: the model by :meth:`EpochLoop.save_model`,
the optimizer, and :class:`Progress`). An epoch whose :meth:`EpochLoop.score` beats every
earlier one is copied whole to ``workdir/best``. ``max_seconds`` stops after the step that
passes it; that epoch is evaluated and checkpointed like a full one and counts as done.

Started again with the same ``workdir``, the loop resumes after the latest checkpoint; a
checkpoint of another shape (:meth:`EpochLoop.same_shape` says no) is refused with the fix.

Limits: one process, one device; the learning rate and the like come from the config, not
from the checkpoint, so they may change between runs.
"""

from __future__ import annotations

import dataclasses
import math
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import torch
from torch import nn
from tqdm import tqdm  # type: ignore[import-untyped, unused-ignore]

from botwerk.schemas import BotwerkError
from botwerk.workers import checkpoints

BEST = "best"
Say = Callable[[str], None]
M = TypeVar("M", bound=nn.Module)


@dataclass(slots=True)
class Progress:
    """What a checkpoint remembers besides the weights and the optimizer."""

    epoch: int = 0
    steps: int = 0
    seconds: float = 0.0
    best_epoch: int = -1
    best: tuple[float, ...] = (-math.inf,)
    """the best epoch's score, higher is better"""
    history: list[dict[str, float]] = field(default_factory=list)
    """each epoch's figures, with its number as ``epoch``"""
    counts: dict[str, float] = field(default_factory=dict)
    """a kind's own running totals (the tokens seen, say)"""

    @classmethod
    def of(cls, saved: dict[str, Any]) -> Progress:
        known = {f.name for f in dataclasses.fields(cls)}
        kept = {k: v for k, v in saved.items() if k in known}
        return cls(**kept | {"best": tuple(saved.get("best", (-math.inf,)))})

    def best_figures(self) -> dict[str, float]:
        """The best epoch's figures (the last epoch's if none was best; {} before any)."""
        found = [h for h in self.history if h["epoch"] == self.best_epoch]
        return found[0] if found else (self.history[-1] if self.history else {})


class EpochLoop(Generic[M]):
    """Epochs of some training, each evaluated, checkpointed and compared with the best."""

    label = "model"
    """names the progress bar and starts each log line"""
    unit = "it"
    """what :meth:`work` counts, for the progress bar"""
    unit_scale = False

    def __init__(self, model: M, optimizer: torch.optim.Optimizer, say: Say,
                 epochs: int, seed: int) -> None:  # fmt: skip
        self.model, self.optimizer, self.say = model, optimizer, say
        self.epochs, self.seed = epochs, seed
        self.done = Progress()

    # What a kind writes.
    def work(self) -> int:
        """Units of :attr:`unit` in one epoch, for the progress bar."""
        raise NotImplementedError

    def train_epoch(self, epoch: int, bar: tqdm[Any], deadline: float | None) -> dict[str, float]:
        """One pass over the training data; its figures. Stops early past ``deadline``."""
        raise NotImplementedError

    def evaluate(self) -> dict[str, float]:
        """Figures on held-out data, after an epoch."""
        raise NotImplementedError

    def score(self, figures: dict[str, float]) -> tuple[float, ...]:
        """How good an epoch's figures are: the higher, the better."""
        raise NotImplementedError

    def save_model(self, folder: Path) -> None:
        """Write the model's files (weights and what rebuilds it) into ``folder``."""
        raise NotImplementedError

    def same_shape(self, checkpoint: Path) -> M | None:
        """The model saved in ``checkpoint`` if this loop's model can continue it, else None."""
        raise NotImplementedError

    def report(self, epoch: int, figures: dict[str, float]) -> None:
        """Log an epoch's figures (a kind adds samples)."""
        shown = ", ".join(f"{k.replace('_', ' ')} {v:.4g}" for k, v in figures.items())
        self.say(f"{self.label} epoch {epoch}/{self.epochs}: {shown}")

    # The loop.
    def run(self, workdir: Path, progress: bool, max_seconds: float | None) -> None:
        """Train the epochs after the last one done, up to ``epochs``; see the module doc."""
        started, before = time.perf_counter(), self.done.seconds
        deadline = None if max_seconds is None else started + max_seconds
        epochs = range(self.done.epoch + 1, self.epochs + 1)
        with tqdm(total=self.work() * len(epochs), unit=self.unit, unit_scale=self.unit_scale,
                  disable=not progress, desc=self.label) as bar:  # fmt: skip
            for epoch in epochs:
                torch.manual_seed(self.seed + epoch)  # a resumed run draws the same
                figures = self.train_epoch(epoch, bar, deadline)
                figures |= self.evaluate()
                self.done.seconds = before + time.perf_counter() - started
                self.finish_epoch(epoch, figures, workdir)
                if deadline is not None and time.perf_counter() > deadline:
                    self.say(
                        f"{self.label}: stopping after epoch {epoch}: max_seconds={max_seconds}"
                    )
                    break

    def finish_epoch(self, epoch: int, figures: dict[str, float], workdir: Path) -> None:
        """Record, log and checkpoint ``epoch``; keep it whole in ``workdir/best`` if best."""
        done = self.done
        done.epoch = epoch
        done.history.append({"epoch": epoch, **figures})
        self.report(epoch, figures)
        score = self.score(figures)
        if score > done.best:
            done.best_epoch, done.best = epoch, score
            checkpoints.write_whole(workdir / BEST, self.save_model)
        checkpoints.save_checkpoint(
            workdir / "checkpoints",
            epoch,
            self.save_model,
            self.optimizer,
            dataclasses.asdict(done),
        )

    def resume(self, folder: Path) -> None:
        """Continue from the latest checkpoint in ``folder``, if there is one."""
        latest = checkpoints.latest_checkpoint(folder)
        if latest is None:
            return
        saved = self.same_shape(latest)
        if saved is None:
            raise BotwerkError(
                f"{latest} was trained on another corpus or with other sizes; to start over, "
                f"give a fresh work folder (or delete {folder})"
            )
        self.model.load_state_dict(saved.state_dict())
        checkpoints.restore_optimizer(self.optimizer, latest)
        self.done = Progress.of(checkpoints.read_progress(latest))
        self.say(f"{self.label}: resuming from {latest.name} ({self.done.steps} steps done)")

    def keep_best(self, workdir: Path) -> Path:
        """``workdir/model``: the best epoch's model, ready to publish."""
        folder = workdir / "model"
        shutil.rmtree(folder, ignore_errors=True)
        if (workdir / BEST).is_dir():
            shutil.copytree(workdir / BEST, folder)
        else:  # no epoch ran: the config asks for no more than the checkpoint has
            self.save_model(folder)
        return folder

    def metrics(self) -> dict[str, float]:
        """What every kind reports of a training: the best epoch, the work done, the size."""
        return {
            "best_epoch": float(self.done.best_epoch), "epochs": float(self.done.epoch),
            "steps": float(self.done.steps), "seconds": self.done.seconds,
            "parameters": float(sum(p.numel() for p in self.model.parameters())),
        }  # fmt: skip
