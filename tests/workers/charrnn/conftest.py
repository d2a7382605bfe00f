"""A tiny charrnn model, trained once per session on CPU, for every charrnn test."""

from __future__ import annotations

import pytest

from botwerk.workers.charrnn.config import CharRNNConfig
from botwerk.workers.charrnn.train import train
from botwerk.workers.store import TrainResult

CORPUS = (
    "the quick brown fox jumps over the lazy dog.\n"
    "a bard sings of the king, the queen and the fox.\n"
) * 40
TINY = CharRNNConfig(
    embed=16, hidden=32, layers=2, dropout=0.1, seq_len=16, batch_size=8, lr=1e-2, epochs=2
)


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> TrainResult:
    work = tmp_path_factory.mktemp("charrnn-work")
    return train(CORPUS, work, TINY, device="cpu", progress=False, log=lambda line: None)
