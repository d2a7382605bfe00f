"""A torch model's folder: ``model.safetensors`` and ``model.json``, with a format name.

A kind's ``save`` and ``load``::

    write(folder, model, "botwerk.charrnn.v1", {"model": ..., "vocab": ..., "config": ...})
    meta = read_meta(folder, "botwerk.charrnn.v1", "charrnn")
    model.load_state_dict(read_weights(folder))

``model.json`` holds what rebuilds the network (its arguments, vocabulary, config) beside the
weights, and ``format`` says which code reads it, so inference needs the folder alone and a
folder of another kind is refused by name. Nothing is unpickled.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from botwerk.workers.errors import BadModelFolder

WEIGHTS = "model.safetensors"
META = "model.json"


def write(folder: Path, model: nn.Module, fmt: str, meta: dict[str, Any]) -> None:
    """The weights as safetensors and ``{"format": fmt, **meta}`` as JSON, into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    weights = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(weights, str(folder / WEIGHTS), metadata={"format": fmt})
    (folder / META).write_text(json.dumps({"format": fmt, **meta}, indent=1))


def read_meta(folder: Path, fmt: str, kind: str) -> dict[str, Any]:
    """``model.json`` of ``folder``; :class:`BadModelFolder` if it is missing, unreadable or
    not ``fmt``."""
    try:
        meta: dict[str, Any] = json.loads((folder / META).read_text())
    except (OSError, ValueError) as exc:
        raise BadModelFolder(f"{folder} holds no readable {kind} model: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != fmt:
        raise BadModelFolder(f"{folder / META} is not {fmt}: train the model again")
    return meta


def read_weights(folder: Path) -> dict[str, Tensor]:
    return load_file(str(folder / WEIGHTS), device="cpu")
