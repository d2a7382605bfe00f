"""Which torch device a model runs on: one resolver for every model kind.

>>> resolve_device("cpu")
device(type='cpu')

``resolve_device("auto")`` is the GPU when torch sees one, else the CPU;
``resolve_device("cuda:1")`` is that GPU, as asked, and a
:class:`~botwerk.schemas.BotwerkError` when torch sees no GPU.

``settings.device`` (``BOTWERK_DEVICE``) and the ``device=`` argument of every ``train`` and
``from_folder`` go through here, so "auto" means the same thing for training and serving.
"""

from __future__ import annotations

import torch

from botwerk.schemas import BotwerkError


def resolve_device(device: str) -> torch.device:
    """``auto`` -> the GPU when there is one, else the CPU; ``cpu``, ``cuda``, ``cuda:N`` as is."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise BotwerkError(f"device {device!r} asked for, but torch sees no GPU: use auto or cpu")
    return resolved


def rng_devices(device: torch.device) -> list[int]:
    """The GPUs whose random state ``torch.random.fork_rng`` must save for ``device``."""
    return [device.index or 0] if device.type == "cuda" else []
