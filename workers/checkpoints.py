"""Training checkpoints that appear whole, with the optimizer's state, and no pickle.

In a training loop (:mod:`botwerk.workers.epochs` does this for every kind)::

    save_checkpoint(workdir / "checkpoints", epoch, write_model, optimizer, {"epoch": epoch})
    latest = latest_checkpoint(workdir / "checkpoints")    # None on a fresh start
    restore_optimizer(optimizer, latest); progress = read_progress(latest)
    write_whole(workdir / "best", write_model)             # the best weights so far

A checkpoint is a folder ``epoch-NNNN`` holding whatever ``write`` puts there (a model kind's
own files), ``optimizer.safetensors`` (every per-parameter tensor of the optimizer's state)
and ``progress.json``. Folders are written into a hidden sibling and renamed into place, so a
run killed mid-write leaves the previous checkpoint intact; the last :data:`KEEP` are kept.
The optimizer's param groups (learning rate and the like) are not saved: they come from the
config, which may change between runs.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor

KEEP = 2
OPTIMIZER = "optimizer.safetensors"
PROGRESS = "progress.json"


def write_whole(folder: Path, write: Callable[[Path], None]) -> None:
    """Write ``folder`` whole: into a hidden sibling, then swapped in for the old one."""
    incoming = folder.with_name(f".incoming-{folder.name}")
    shutil.rmtree(incoming, ignore_errors=True)
    incoming.mkdir(parents=True)
    write(incoming)
    shutil.rmtree(folder, ignore_errors=True)
    incoming.rename(folder)


def save_checkpoint(
    checkpoints: Path,
    epoch: int,
    write: Callable[[Path], None],
    optimizer: torch.optim.Optimizer,
    progress: dict[str, Any],
) -> None:
    """``checkpoints/epoch-NNNN``: the model (by ``write``), the optimizer and ``progress``."""

    def everything(folder: Path) -> None:
        write(folder)
        save_file(_flatten(optimizer), str(folder / OPTIMIZER))
        (folder / PROGRESS).write_text(json.dumps(progress, indent=2))

    write_whole(checkpoints / f"epoch-{epoch:04d}", everything)
    for old in checkpoint_folders(checkpoints)[:-KEEP]:
        shutil.rmtree(old, ignore_errors=True)


def checkpoint_folders(checkpoints: Path) -> list[Path]:
    """The complete checkpoints under ``checkpoints``, oldest first."""
    if not checkpoints.is_dir():
        return []
    found = [p for p in checkpoints.glob("epoch-*") if (p / PROGRESS).is_file()]
    return sorted(found, key=lambda p: p.name)


def latest_checkpoint(checkpoints: Path) -> Path | None:
    found = checkpoint_folders(checkpoints)
    return found[-1] if found else None


def read_progress(checkpoint: Path) -> dict[str, Any]:
    progress: dict[str, Any] = json.loads((checkpoint / PROGRESS).read_text())
    return progress


def restore_optimizer(optimizer: torch.optim.Optimizer, checkpoint: Path) -> None:
    """Load the per-parameter state saved in ``checkpoint`` into ``optimizer``."""
    state: dict[int, dict[str, Tensor]] = {}
    for key, value in load_file(str(checkpoint / OPTIMIZER)).items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    groups = optimizer.state_dict()["param_groups"]
    optimizer.load_state_dict({"state": state, "param_groups": groups})


def _flatten(optimizer: torch.optim.Optimizer) -> dict[str, Tensor]:
    """The optimizer's per-parameter state as ``"<param>.<name>"`` tensors."""
    flat = {}
    for index, state in optimizer.state_dict()["state"].items():
        for name, value in state.items():
            tensor = value if isinstance(value, Tensor) else torch.tensor(value)
            flat[f"{index}.{name}"] = tensor.detach().contiguous().cpu()
    return flat
