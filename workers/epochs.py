"""One epoch loop for every torch model kind: train, evaluate, log, checkpoint, keep the best.

In a kind's ``train.py``::

    class BardLoop(EpochLoop):          # a kind writes what one epoch means, nothing else
        def train_epoch(self, epoch, bar):                 # -> {"train": 1.52}
            for batch in self.batches(epoch)[self.done.position:]:   # resumes mid-epoch
                ...one optimizer step...
                if self.stepped(bar, len(batch), loss.item()):       # checkpoint, hook, deadline
                    break
        def evaluate(self): ...                            # -> {"val": 1.61}
        def score(self, figures): return (-figures["val"],)

    loop = BardLoop(model, optimizer, say, epochs=config.epochs, seed=config.seed,
                    checkpoint_minutes=config.checkpoint_minutes)
    loop.resume("s3://models/.checkpoints/bard")   # or a local folder; after the latest one
    loop.run(workdir, progress=True, max_seconds=600, on_step=print)
    folder = loop.keep_best(workdir)               # workdir/model: the best epoch's model

Each epoch starts with the torch RNG seeded ``seed + epoch`` and :attr:`EpochLoop.rng` (a
``random.Random`` for a kind's own draws) seeded the same; :meth:`EpochLoop.train_epoch`
trains, calling :meth:`EpochLoop.stepped` after each step; :meth:`EpochLoop.evaluate` adds
held-out figures, :meth:`EpochLoop.report` logs them, and the loop writes a checkpoint
(:mod:`.checkpoints`). An epoch whose :meth:`EpochLoop.score` beats every earlier one is also
saved whole as ``best-NNNN`` beside the checkpoints. ``max_seconds`` stops after the step that
passes it; that epoch is evaluated and checkpointed like a full one and counts as done.

The progress bar measures what ends the run. Uncapped, it counts the epochs' work (tokens,
pairs). Capped by ``max_seconds``, it counts seconds of that budget, moved on to the share of
the epochs' work done when that is further, so it reaches 100% whichever runs out first::

    charrnn:  45%|████▌     | 27/60 s [00:27<00:33, epoch=3/20, loss=1.912]
    charrnn: the 60 s budget is spent, stopping after epoch 14; keeping the best epoch (12,
    validation loss 1.62)

Preemption. A checkpoint is also written mid-epoch every ``checkpoint_minutes`` (0: after
every step). It holds all a run needs to go on exactly as if never stopped: the weights, the
optimizer's state, the scheduler's (if any), :class:`Progress` (epoch, steps, position in the
epoch, the epoch's running totals), the RNG states (torch CPU and GPU, numpy, python
``random``, :attr:`EpochLoop.rng`) and the tensors a kind carries between steps
(:attr:`EpochLoop.carried`, e.g. an LSTM's state). A run killed -9 and started again resumes
from it and, on CPU, ends with the same weights, bit for bit, as a run never stopped (the data
order of an epoch must come from ``seed + epoch`` alone, and the kind skips the first
``done.position`` steps). A checkpoint of another shape (:meth:`EpochLoop.same_shape` says no)
or of the older format is refused with the fix.

Hooks. ``on_step(step)`` gets a :class:`Step` after every training step and after each epoch
(with its figures): progress for a job's progress bar. It may raise :class:`Cancelled` (or any
exception) to stop: the exception goes through, nothing more is written, and the last
checkpoint stays to resume from.

Limits: one process, one device; the learning rate and the like come from the config, not
from the checkpoint, so they may change between runs (and then the run is no longer exact).
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import torch
from torch import Tensor, nn
from torch.optim.lr_scheduler import LRScheduler
from tqdm import tqdm  # type: ignore[import-untyped, unused-ignore]

from botwerk.schemas import BotwerkError
from botwerk.workers import checkpoints
from botwerk.workers.checkpoints import Checkpoints

BEST = "best"
FORMAT = "botwerk.checkpoint.v2"
"""in ``progress.json``: checkpoints without it cannot resume exactly and are refused"""
PROGRESS = "progress.json"
Say = Callable[[str], None]
M = TypeVar("M", bound=nn.Module)
BUDGET_BAR = "{l_bar}{bar}| {n:.Df}/{total:.Df} s [{elapsed}<{remaining}{postfix}]"
"""a capped run's bar: seconds of its time budget (``D`` decimals: 1 under 10 s)"""
SPENT = "{label}: the {budget:g} s budget is spent, stopping after epoch {epoch}; keeping {best}"
"""the closing line of a run that its time budget stopped"""
FIGURE_WORDS = {"valid_bleu": "validation BLEU", "val": "validation loss",
                "valid_loss": "validation loss"}  # fmt: skip
"""the figure that names a best epoch, by preference; else the epoch's first figure"""


class Cancelled(BotwerkError):
    """Raised by an ``on_step`` hook to stop training; the last checkpoint stays."""


@dataclass(slots=True)
class Progress:
    """What a checkpoint remembers of the training besides the weights and the RNG."""

    epoch: int = 0
    """epochs done"""
    steps: int = 0
    seconds: float = 0.0
    best_epoch: int = -1
    best: tuple[float, ...] = (-math.inf,)
    """the best epoch's score, higher is better"""
    history: list[dict[str, float]] = field(default_factory=list)
    """each epoch's figures, with its number as ``epoch``"""
    counts: dict[str, float] = field(default_factory=dict)
    """a kind's own running totals (the tokens seen, say)"""
    position: int = 0
    """steps (batches) done in epoch ``epoch + 1``: 0 at an epoch's start"""
    units: int = 0
    """units of :attr:`EpochLoop.unit` done in epoch ``epoch + 1``"""
    sums: dict[str, float] = field(default_factory=dict)
    """the running totals of epoch ``epoch + 1``, from which a kind makes its figures"""

    @classmethod
    def of(cls, saved: dict[str, Any]) -> Progress:
        known = {f.name for f in dataclasses.fields(cls)}
        kept = {k: v for k, v in saved.items() if k in known}
        return cls(**kept | {"best": tuple(saved.get("best", (-math.inf,)))})

    def best_figures(self) -> dict[str, float]:
        """The best epoch's figures (the last epoch's if none was best; {} before any)."""
        found = [h for h in self.history if h["epoch"] == self.best_epoch]
        return found[0] if found else (self.history[-1] if self.history else {})


@dataclass(frozen=True, slots=True)
class Step:
    """What ``on_step`` is told, after every training step and after each epoch."""

    label: str
    epoch: int
    """the epoch in progress (after an epoch: that epoch), from 1"""
    epochs: int
    position: int
    """steps done in this epoch"""
    units: int
    """units (tokens, pairs, prompts) done in this epoch, of ``work``"""
    work: int
    steps: int
    """optimizer steps in all, across resumed runs"""
    loss: float
    """this step's loss; nan after an epoch"""
    seconds: float
    """training time in all, across resumed runs"""
    checkpoint: str | None = None
    """the checkpoint just written, if one was"""
    figures: dict[str, float] = field(default_factory=dict)
    """after an epoch: its figures (validation included); empty after a step"""
    share: float = 0.0
    """how far this run is, 0 to 1: the epochs' work done or the time budget spent, the more"""
    budget_s: float | None = None
    """this run's time budget (``max_seconds``), None when uncapped"""


class EpochLoop(Generic[M]):
    """Epochs of some training, each evaluated, checkpointed and compared with the best."""

    label = "model"
    """names the progress bar and starts each log line"""
    unit = "it"
    """what :meth:`work` counts, for the progress bar"""
    unit_scale = False

    def __init__(self, model: M, optimizer: torch.optim.Optimizer, say: Say, epochs: int,
                 seed: int, *, checkpoint_minutes: float = 10.0,
                 scheduler: LRScheduler | None = None) -> None:  # fmt: skip
        self.model, self.optimizer, self.scheduler, self.say = model, optimizer, scheduler, say
        self.epochs, self.seed, self.checkpoint_minutes = epochs, seed, checkpoint_minutes
        self.done = Progress()
        self.rng = random.Random(seed)
        """a kind's own draws within an epoch (sampling seeds, say): seeded, and checkpointed"""
        self.carried: dict[str, Tensor] = {}
        """tensors a kind carries from step to step within an epoch: checkpointed mid-epoch"""
        self.checkpoints: Checkpoints | None = None
        self.on_step: Callable[[Step], None] | None = None
        self._clock = (time.perf_counter(), 0.0)  # (this run's start, seconds before it)
        self._deadline: float | None = None
        self._budget: float | None = None  # this run's max_seconds
        self._span = (0, 0)  # (units done, units to do) of this run's epochs, for its share
        self._last_checkpoint = time.monotonic()

    # What a kind writes.
    def work(self) -> int:
        """Units of :attr:`unit` in one epoch, for the progress bar."""
        raise NotImplementedError

    def train_epoch(self, epoch: int, bar: tqdm[Any]) -> dict[str, float]:
        """One pass over the training data from step ``done.position``; its figures."""
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
    def run(self, workdir: Path, progress: bool, max_seconds: float | None,
            on_step: Callable[[Step], None] | None = None) -> None:  # fmt: skip
        """Train the epochs after the last one done, up to ``epochs``; see the module doc."""
        if self.checkpoints is None:
            self.checkpoints = Checkpoints(workdir / "checkpoints")
        self.on_step, self._clock = on_step, (time.perf_counter(), self.done.seconds)
        self._budget = max_seconds
        self._deadline = None if max_seconds is None else time.perf_counter() + max_seconds
        self._last_checkpoint = time.monotonic()
        epochs = range(self.done.epoch + 1, self.epochs + 1)
        self._span = (self.done.units, self.work() * len(epochs))
        with self._bar(progress) as bar:
            for epoch in epochs:
                if self.done.position == 0:  # else resumed mid-epoch: the RNG is as saved
                    self.start_epoch(epoch)
                figures = self.train_epoch(epoch, bar)
                figures |= self.evaluate()
                self.finish_epoch(epoch, figures)
                self._advance(bar, 0)
                if self._deadline is not None and time.perf_counter() > self._deadline:
                    bar.update(bar.total - bar.n)  # the budget is spent: the bar is full
                    self.say(SPENT.format(label=self.label, budget=max_seconds, epoch=epoch,
                                          best=self._best()))  # fmt: skip
                    break

    def _bar(self, progress: bool) -> tqdm[Any]:
        """The run's bar: the epochs' work, or seconds of ``max_seconds`` when capped."""
        done, work = self._span
        if self._budget is None:
            return tqdm(total=work, initial=done, unit=self.unit, unit_scale=self.unit_scale,
                        disable=not progress, desc=self.label)  # fmt: skip
        total = max(self._budget, 1e-3)  # a zero budget still runs one step: a full bar
        shape = BUDGET_BAR.replace("D", "0" if total >= 10 else "1")
        return tqdm(total=total, initial=self._share() * total, disable=not progress,
                    desc=self.label, bar_format=shape)  # fmt: skip

    def _advance(self, bar: tqdm[Any], units: int) -> None:
        """Count ``units`` more done and move the bar to where the run is."""
        done, work = self._span
        self._span = (done + units, work)
        if self._budget is None:
            bar.update(units)
        else:  # seconds of the budget, or the work's share of it when further
            bar.update(self._share() * bar.total - bar.n)

    def _share(self) -> float:
        """How far this run is, 0 to 1: its epochs' work done or its time budget spent."""
        done, work = self._span
        share = done / work if work else 1.0
        if self._budget is not None:
            spent = self._seconds() - self._clock[1]
            share = max(share, spent / self._budget if self._budget > 0 else 1.0)
        return min(share, 1.0)

    def _best(self) -> str:
        """``the best epoch (12, validation loss 1.62)``: what :meth:`keep_best` keeps."""
        figures = self.done.best_figures()
        if self.done.best_epoch < 0 or not figures:
            return "the model as it is"
        names = [k for k in FIGURE_WORDS if k in figures] + [k for k in figures if k != "epoch"]
        if not names:
            return f"the best epoch ({self.done.best_epoch})"
        words = FIGURE_WORDS.get(names[0], names[0].replace("_", " "))
        return f"the best epoch ({self.done.best_epoch}, {words} {figures[names[0]]:.3g})"

    def start_epoch(self, epoch: int) -> None:
        """Seed the epoch's draws from ``seed + epoch``: a resumed run draws the same."""
        torch.manual_seed(self.seed + epoch)
        self.rng.seed(self.seed + epoch)
        self.carried = {}

    def stepped(self, bar: tqdm[Any], units: int, loss: float) -> bool:
        """Call after each training step: count it, checkpoint when due, tell ``on_step``.
        True when the epoch must stop (``max_seconds`` passed)."""
        done = self.done
        done.position, done.units = done.position + 1, done.units + units
        bar.set_postfix(epoch=f"{done.epoch + 1}/{self.epochs}", loss=f"{loss:.3f}", refresh=False)
        self._advance(bar, units)
        written = None
        if time.monotonic() - self._last_checkpoint >= self.checkpoint_minutes * 60:
            written = self.checkpoint(checkpoints.name_of(done.epoch + 1, done.position))
        self.tell(done.epoch + 1, loss, written, {})
        return self._deadline is not None and time.perf_counter() > self._deadline

    def finish_epoch(self, epoch: int, figures: dict[str, float]) -> None:
        """Record, log and checkpoint ``epoch``; save it whole as the best if it is."""
        done = self.done
        done.epoch, done.position, done.units, done.sums = epoch, 0, 0, {}
        done.history.append({"epoch": epoch, **figures})
        self.report(epoch, figures)
        score = self.score(figures)
        store = self._store()
        if score > done.best:
            done.best_epoch, done.best = epoch, score
            store.write(f"{BEST}-{epoch:04d}", self.save_model)
        self.tell(epoch, math.nan, self.checkpoint(checkpoints.name_of(epoch)), figures)

    def tell(self, epoch: int, loss: float, written: str | None, figures: dict[str, float]) -> None:
        """Give ``on_step`` a :class:`Step`, if there is a hook."""
        if self.on_step is not None:
            d = self.done
            self.on_step(Step(self.label, epoch, self.epochs, d.position, d.units, self.work(),
                              d.steps, loss, self._seconds(), written, figures, self._share(),
                              self._budget))  # fmt: skip

    def checkpoint(self, name: str) -> str:
        """Write the checkpoint ``name``: everything needed to go on exactly from here."""
        self.done.seconds = self._seconds()
        store = self._store()

        def fill(folder: Path) -> None:
            self.save_model(folder)
            checkpoints.save_optimizer(self.optimizer, folder)
            checkpoints.save_state(folder, self.rng, self.carried, self.scheduler)
            progress = {"format": FORMAT, **dataclasses.asdict(self.done)}
            (folder / PROGRESS).write_text(json.dumps(progress, indent=1))

        store.write(name, fill)
        store.prune()
        self._last_checkpoint = time.monotonic()
        return name

    def resume(self, location: str | Path) -> None:
        """Continue from the latest checkpoint at ``location`` (a folder or an fsspec URL), if
        there is one; later checkpoints are written there too."""
        store = self.checkpoints = Checkpoints(location)
        _refuse_older_format(store)
        latest = store.latest()
        if latest is None:
            return
        with store.open(latest) as folder:
            if json.loads((folder / PROGRESS).read_text()).get("format") != FORMAT:
                raise BotwerkError(_older(store))
            saved = self.same_shape(folder)
            if saved is None:
                raise BotwerkError(
                    f"{store.location}/{latest} was trained on another corpus or with other "
                    f"sizes; to start over, give a fresh work folder (or delete {location})"
                )
            self.model.load_state_dict(saved.state_dict())
            checkpoints.restore_optimizer(self.optimizer, folder)
            self.done = Progress.of(json.loads((folder / PROGRESS).read_text()))
            device = next(self.model.parameters()).device
            self.carried = checkpoints.restore_state(folder, self.rng, self.scheduler, device)
        self.say(f"{self.label}: resuming from {latest} ({self.done.steps} steps done)")

    def keep_best(self, workdir: Path) -> Path:
        """``workdir/model``: the best epoch's model, ready to publish (and in ``workdir/best``)."""
        folder, best = workdir / "model", workdir / BEST
        shutil.rmtree(folder, ignore_errors=True)
        store = self._store()
        name = f"{BEST}-{self.done.best_epoch:04d}"
        if self.done.best_epoch < 0 or not store.complete(name):  # no epoch ran: as it is
            self.save_model(folder)
            return folder
        with store.open(name) as saved:
            checkpoints.write_whole(best, lambda into: _copy_model(saved, into))
        shutil.copytree(best, folder)
        return folder

    def metrics(self) -> dict[str, float]:
        """What every kind reports of a training: the best epoch, the work done, the size."""
        return {
            "best_epoch": float(self.done.best_epoch), "epochs": float(self.done.epoch),
            "steps": float(self.done.steps), "seconds": self.done.seconds,
            "parameters": float(sum(p.numel() for p in self.model.parameters())),
        }  # fmt: skip

    def _store(self) -> Checkpoints:
        if self.checkpoints is None:
            raise BotwerkError(f"{self.label}: call resume(location) or run() before checkpoints")
        return self.checkpoints

    def _seconds(self) -> float:
        started, before = self._clock
        return before + time.perf_counter() - started


def _copy_model(saved: Path, into: Path) -> None:
    for path in saved.iterdir():
        if path.is_file() and path.name != checkpoints.MARKER:
            shutil.copy2(path, into / path.name)


def _older(store: Checkpoints) -> str:
    return (
        f"{store.location} holds checkpoints of an older format, which cannot resume exactly: "
        f"delete {store.location} (or give a fresh work folder) to start over"
    )


def _refuse_older_format(store: Checkpoints) -> None:
    """Checkpoints from before the marker have a ``progress.json`` without ``format``."""
    for name in store.unmarked():
        path = f"{store.root}/{name}/{PROGRESS}"
        if store.fs.exists(path) and "format" not in json.loads(store.fs.cat_file(path)):
            raise BotwerkError(_older(store))
