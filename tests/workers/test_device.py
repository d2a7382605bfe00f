"""One device resolver for training and serving alike."""

from __future__ import annotations

import pytest
import torch

from botwerk.schemas import BotwerkError
from botwerk.workers.device import resolve_device, rng_devices


def test_auto_and_cpu() -> None:
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device("cpu") == torch.device("cpu")
    assert rng_devices(torch.device("cpu")) == []
    assert rng_devices(torch.device("cuda", 1)) == [1]


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_a_gpu_asked_for_without_one_says_what_to_use() -> None:
    with pytest.raises(BotwerkError, match="use auto or cpu"):
        resolve_device("cuda:0")
