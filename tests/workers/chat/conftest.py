"""A tiny chat model, trained once per session on CPU on a few chatterbot genres."""

from __future__ import annotations

import pytest
import torch

from botwerk.workers.chat.config import ChatConfig
from botwerk.workers.chat.decode import Responder
from botwerk.workers.chat.train import train
from botwerk.workers.corpora.chatterbot import chatterbot_dialogs
from botwerk.workers.corpora.dialogs import Pair, pairs, with_genres
from botwerk.workers.store import TrainResult

GENRES = ("greetings", "food", "gossip")
TINY = ChatConfig(
    embed=32, hidden=64, layers=1, dropout=0.0, max_vocab=500, min_count=1, max_len=12,
    batch_size=16, lr=1e-2, epochs=10, seed=2,
)  # fmt: skip
"""Learns the tiny set halfway in 10 epochs (about 1.5 s): room left for RL to help."""


@pytest.fixture(scope="session")
def tiny_pairs() -> list[Pair]:
    return pairs(with_genres(chatterbot_dialogs(), GENRES))


@pytest.fixture(scope="session")
def trained(tiny_pairs: list[Pair], tmp_path_factory: pytest.TempPathFactory) -> TrainResult:
    work = tmp_path_factory.mktemp("chat-work")
    return train(tiny_pairs, work, TINY, device="cpu", progress=False, log=lambda line: None)


@pytest.fixture(scope="session")
def responder(trained: TrainResult) -> Responder:
    return Responder.from_folder(trained.folder, "cpu")


@pytest.fixture
def untrained() -> Responder:
    """A fresh, untrained model of a tiny vocabulary: random but deterministic."""
    from botwerk.workers.chat.model import ModelArgs, Seq2Seq
    from botwerk.workers.chat.tokens import SPECIALS, Vocab

    vocab = Vocab(SPECIALS + tuple(f"w{i}" for i in range(40)))
    config = ChatConfig(embed=16, hidden=24, layers=2, max_len=9, attention="concat")
    torch.manual_seed(0)
    return Responder(Seq2Seq(ModelArgs.of(vocab, config)).eval(), vocab, config,
                     torch.device("cpu"))  # fmt: skip
