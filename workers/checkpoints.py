"""Training checkpoints that appear whole, in a local folder or at any fsspec URL; no pickle.

In a training loop (:mod:`botwerk.workers.epochs` does this for every kind)::

    store = Checkpoints("s3://models/.checkpoints/bard")     # or a local folder
    store.write(name_of(epoch=2, position=40), everything)   # ``everything(folder)`` fills it
    latest = store.latest()                                  # None on a fresh start
    with store.open(latest) as folder: ...                   # a local folder to read
    save_state(folder, rng, carried, scheduler)              # every RNG state, for an exact resume
    write_whole(workdir / "best", write_model)               # a local folder, swapped in whole

A checkpoint is a folder named by where training stood: ``epoch-0002`` after epoch 2,
``epoch-0003-step-00000040`` 40 steps into epoch 3; ``best-0002`` is the best epoch's model.
It holds whatever the writer puts there (the loop: the model's files,
``optimizer.safetensors``, ``progress.json``, ``state.json``, ``state.safetensors``) and,
last, the marker ``complete``. Only folders with the marker are read.

Whole, wherever it lives. In a local folder (``file://`` or a plain path) the files are
written into a hidden sibling, the marker last, and the sibling is renamed into place: a run
killed mid-write leaves the previous checkpoint, and at worst a hidden folder that the next
write clears. An object store has no rename: the files are uploaded first and the marker
last, so a half-uploaded checkpoint has no marker and is never read (it is cleared when the
same name is written again, or pruned). The last :data:`KEEP` are kept.

Limits: one writer per location (one trainer per job). A remote checkpoint is read by copying
it into a temporary local folder, since the model kinds read local files.
"""

from __future__ import annotations

import json
import math
import random
import re
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import fsspec
import numpy as np
import torch
from fsspec.implementations.local import LocalFileSystem
from safetensors.torch import load_file, save_file
from torch import Tensor
from torch.optim.lr_scheduler import LRScheduler

KEEP = 2
MARKER = "complete"
"""written last: a checkpoint without it is half written and never read"""
OPTIMIZER = "optimizer.safetensors"
STATE, TENSORS = "state.json", "state.safetensors"
_NAME = re.compile(r"^epoch-(\d{4,})(?:-step-(\d{8,}))?$")
_BEST = re.compile(r"^best-\d{4,}$")


def name_of(epoch: int, position: int = 0) -> str:
    """``epoch-0002`` after epoch 2 (``position`` 0); ``epoch-0003-step-00000040`` within it."""
    return f"epoch-{epoch:04d}" if position == 0 else f"epoch-{epoch:04d}-step-{position:08d}"


def order_of(name: str) -> tuple[float, float] | None:
    """Where a checkpoint name stands (later sorts higher); None for other names."""
    found = _NAME.match(name)
    if found is None:
        return None
    epoch, step = found.groups()
    return (int(epoch), int(step)) if step else (int(epoch), math.inf)


class Checkpoints:
    """The checkpoints at one location: a local folder or an fsspec URL (``s3://``, ...)."""

    def __init__(self, location: str | Path) -> None:
        self.location = str(location)
        self.fs, self.root = fsspec.core.url_to_fs(self.location)
        self.local = isinstance(self.fs, LocalFileSystem)

    def __repr__(self) -> str:
        return f"Checkpoints({self.location!r})"

    def write(self, name: str, fill: Callable[[Path], None]) -> None:
        """The checkpoint ``name``, with the files ``fill(folder)`` writes, appearing whole."""
        if self.local:
            write_whole(Path(self.root) / name, lambda folder: _filled(folder, fill))
            return
        target = f"{self.root}/{name}"
        if self.fs.exists(target):  # a half upload of a killed run
            self.fs.rm(target, recursive=True)
        with tempfile.TemporaryDirectory(prefix="botwerk-checkpoint-") as scratch:
            fill(Path(scratch))
            for path in sorted(Path(scratch).iterdir()):
                self.fs.put_file(str(path), f"{target}/{path.name}")
        self.fs.pipe_file(f"{target}/{MARKER}", b"")  # last: now it may be read

    def names(self) -> list[str]:
        """The complete checkpoints, oldest first."""
        return sorted((n for n in self._entries(True) if order_of(n)), key=_order)

    def latest(self) -> str | None:
        found = self.names()
        return found[-1] if found else None

    def latest_best(self) -> str | None:
        """The newest complete ``best-NNNN``: the best epoch's model, numbered by its epoch."""
        return max((n for n in self._entries(True) if _BEST.match(n)), key=_number, default=None)

    def complete(self, name: str) -> bool:
        """Whether ``name`` was written whole (its marker exists)."""
        return bool(self.fs.exists(f"{self.root}/{name}/{MARKER}"))

    def unmarked(self) -> list[str]:
        """Checkpoint folders without the marker: half uploaded, or of an older format."""
        return [n for n in self._entries(False) if order_of(n)]

    @contextmanager
    def open(self, name: str) -> Iterator[Path]:
        """The checkpoint ``name`` as a local folder (a temporary copy of a remote one)."""
        if self.local:
            yield Path(self.root) / name
            return
        with tempfile.TemporaryDirectory(prefix="botwerk-checkpoint-") as scratch:
            for remote in self.fs.ls(f"{self.root}/{name}", detail=False):
                self.fs.get_file(remote, str(Path(scratch) / remote.rstrip("/").rsplit("/")[-1]))
            yield Path(scratch)

    def remove(self, name: str) -> None:
        """Remove ``name``: its marker first, so a reader never sees it half gone."""
        target = f"{self.root}/{name}"
        if self.local:
            shutil.rmtree(target, ignore_errors=True)
        elif self.fs.exists(target):
            if self.fs.exists(f"{target}/{MARKER}"):
                self.fs.rm_file(f"{target}/{MARKER}")
            self.fs.rm(target, recursive=True)

    def prune(self, keep: int = KEEP) -> None:
        """Keep the last ``keep`` checkpoints, none from inside an epoch that has ended, the
        newest best, and no half upload older than the latest checkpoint."""
        found = self.names()
        ended = max((_order(n)[0] for n in found if _order(n)[1] == math.inf), default=0)
        stale = [n for n in found if _order(n)[1] != math.inf and _order(n)[0] <= ended]
        kept = [n for n in found if n not in stale]
        best = self.latest_best()
        older = [n for n in self._entries(True) if _BEST.match(n) and n != best]
        newest = _order(found[-1]) if found else (-1, -1)
        halves = [n for n in self.unmarked() if _order(n) < newest]  # uploads of a killed run
        for name in stale + kept[:-keep] + older + halves:
            self.remove(name)

    def _entries(self, complete: bool) -> list[str]:
        """The names at the root whose marker exists (``complete``) or not."""
        if not self.fs.isdir(self.root):
            return []
        entries = [e.rstrip("/").rsplit("/", 1)[-1] for e in self.fs.ls(self.root, detail=False)]
        marked = {n: self.fs.exists(f"{self.root}/{n}/{MARKER}") for n in entries}
        return [n for n in entries if marked[n] == complete and not n.startswith(".")]


def _order(name: str) -> tuple[float, float]:
    return order_of(name) or (-1, -1)


def _number(name: str) -> int:
    return int(name.rsplit("-", 1)[-1])


def _filled(folder: Path, fill: Callable[[Path], None]) -> None:
    fill(folder)
    (folder / MARKER).write_bytes(b"")


def write_whole(folder: Path, write: Callable[[Path], None]) -> None:
    """Write ``folder`` whole: into a hidden sibling, then swapped in for the old one."""
    incoming = folder.with_name(f".incoming-{folder.name}-{uuid.uuid4().hex[:8]}")
    for stale in folder.parent.glob(f".incoming-{folder.name}*"):  # of a killed run
        shutil.rmtree(stale, ignore_errors=True)
    incoming.mkdir(parents=True)
    try:
        write(incoming)
        shutil.rmtree(folder, ignore_errors=True)
        incoming.rename(folder)
    except BaseException:
        shutil.rmtree(incoming, ignore_errors=True)
        raise


def save_optimizer(optimizer: torch.optim.Optimizer, folder: Path) -> None:
    """Every per-parameter tensor of ``optimizer``'s state, as ``folder/optimizer.safetensors``.

    The param groups (learning rate and the like) are not saved: they come from the config,
    which may change between runs.
    """
    flat = {}
    for index, state in optimizer.state_dict()["state"].items():
        for name, value in state.items():
            tensor = value if isinstance(value, Tensor) else torch.tensor(value)
            flat[f"{index}.{name}"] = tensor.detach().contiguous().cpu()
    save_file(flat, str(folder / OPTIMIZER))


def restore_optimizer(optimizer: torch.optim.Optimizer, folder: Path) -> None:
    """Load the per-parameter state saved in ``folder`` into ``optimizer``."""
    state: dict[int, dict[str, Tensor]] = {}
    for key, value in load_file(str(folder / OPTIMIZER)).items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    groups = optimizer.state_dict()["param_groups"]
    optimizer.load_state_dict({"state": state, "param_groups": groups})


def save_state(folder: Path, rng: random.Random, carried: dict[str, Tensor],
               scheduler: LRScheduler | None) -> None:  # fmt: skip
    """The RNG states (torch CPU and GPU, numpy, python ``random``, ``rng``), the tensors a
    loop carries between steps and the scheduler's state, as ``state.safetensors`` and
    ``state.json``."""
    tensors = {"rng.cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():  # type: ignore[no-untyped-call]
        for index, gpu in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{index}"] = gpu
    for name, tensor in carried.items():
        tensors[f"carried.{name}"] = tensor.detach().contiguous().cpu()
    save_file(tensors, str(folder / TENSORS))
    kind, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    state = {
        "python": random.getstate(), "rng": rng.getstate(),
        "numpy": [kind, np.asarray(keys).tolist(), pos, has_gauss, cached],
        "scheduler": None if scheduler is None else scheduler.state_dict(),
    }  # fmt: skip
    (folder / STATE).write_text(json.dumps(state))


def restore_state(folder: Path, rng: random.Random, scheduler: LRScheduler | None,
                  device: torch.device) -> dict[str, Tensor]:  # fmt: skip
    """Set what :func:`save_state` saved in ``folder``; the carried tensors, on ``device``."""
    state = json.loads((folder / STATE).read_text())
    random.setstate(_python_state(state["python"]))
    rng.setstate(_python_state(state["rng"]))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))
    if scheduler is not None and state["scheduler"] is not None:
        scheduler.load_state_dict(state["scheduler"])
    tensors = load_file(str(folder / TENSORS))
    torch.set_rng_state(tensors["rng.cpu"])
    cuda = [tensors[k] for k in sorted(tensors) if k.startswith("rng.cuda.")]
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)
    return {
        k.removeprefix("carried."): t.to(device) for k, t in tensors.items()
        if k.startswith("carried.")
    }  # fmt: skip


def _python_state(saved: list[Any]) -> tuple[Any, ...]:
    """``random.getstate()``'s tuple, from its JSON lists."""
    version, internal, gauss = saved
    return (version, tuple(internal), gauss)
