"""The character-level LSTM language model: vocabulary, network, and its files.

Building, running and storing one::

    vocab = Vocab.from_text("to be or not to be")
    model = CharRNN(ModelArgs.of(vocab, CharRNNConfig(hidden=64, layers=1)))
    logits, state = model(torch.tensor([vocab.encode("to b")]))  # (1, 4, vocab.size)
    save(folder, model, vocab, config)      # model.safetensors + model.json
    model, vocab, config = load(folder, torch.device("cpu"))

A model folder holds exactly two files: the weights as safetensors and ``model.json`` with the
model arguments, the vocabulary and the resolved training config, so inference rebuilds the
network from the folder alone and training and serving can never disagree on the vocabulary.
Nothing is unpickled.

The vocabulary is the sorted set of the corpus's characters plus an unknown token at index 0:
characters the corpus never had map to it on the way in, and it is never sampled on the way out.

Limits: characters, not words or bytes, so one model knows one corpus's alphabet; an LSTM
remembers a few hundred characters of context at best.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from botwerk.workers import modelfiles
from botwerk.workers.charrnn.config import CharRNNConfig
from botwerk.workers.errors import BadModelFolder

FORMAT = "botwerk.charrnn.v1"
UNK = 0
"""Index of the unknown token; real characters start at 1."""

State = tuple[Tensor, Tensor]
"""The LSTM's (h, c), each (layers, B, hidden)."""


@dataclass(frozen=True, slots=True)
class Vocab:
    """Characters <-> indices; index 0 is the unknown token."""

    chars: tuple[str, ...]
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    @classmethod
    def from_text(cls, text: str) -> Vocab:
        if not text:
            raise ValueError("the corpus is empty: give the model some text to learn from")
        return cls(tuple(sorted(set(text))))

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {c: i + 1 for i, c in enumerate(self.chars)})

    @property
    def size(self) -> int:
        return len(self.chars) + 1

    def encode(self, text: str) -> list[int]:
        return [self._index.get(c, UNK) for c in text]

    def decode(self, ids: list[int]) -> str:
        return "".join(self.chars[i - 1] for i in ids if i != UNK)

    def start(self) -> int:
        """The token an empty prime starts from: a newline, as at the start of a text."""
        return self.encode("\n")[0] if "\n" in self.chars else self.encode(" ")[0]


@dataclass(frozen=True, slots=True)
class ModelArgs:
    """What builds the network; saved beside the weights."""

    vocab_size: int
    embed: int
    hidden: int
    layers: int
    dropout: float

    @classmethod
    def of(cls, vocab: Vocab, config: CharRNNConfig) -> ModelArgs:
        return cls(vocab.size, config.embed, config.hidden, config.layers, config.dropout)


class CharRNN(nn.Module):
    """Embedding -> multi-layer LSTM -> dropout -> linear head over the vocabulary."""

    def __init__(self, args: ModelArgs) -> None:
        super().__init__()
        self.args = args
        self.embed = nn.Embedding(args.vocab_size, args.embed)
        between = args.dropout if args.layers > 1 else 0.0  # nn.LSTM drops between layers only
        self.lstm = nn.LSTM(args.embed, args.hidden, args.layers, batch_first=True, dropout=between)
        self.drop = nn.Dropout(args.dropout)
        self.head = nn.Linear(args.hidden, args.vocab_size)

    def forward(self, idx: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """``idx`` (B, T) token ids -> logits (B, T, vocab_size) and the new state."""
        x = self.embed(idx)  # (B, T, embed)
        out, state = self.lstm(x, state)  # (B, T, hidden); h, c each (layers, B, hidden)
        return self.head(self.drop(out)), state  # (B, T, vocab_size)

    def zero_state(self, batch: int, device: torch.device) -> State:
        shape = (self.args.layers, batch, self.args.hidden)
        return torch.zeros(shape, device=device), torch.zeros(shape, device=device)


def save(folder: Path, model: CharRNN, vocab: Vocab, config: CharRNNConfig) -> None:
    """Write ``model.safetensors`` and ``model.json`` into ``folder``."""
    meta = {"model": dataclasses.asdict(model.args), "vocab": list(vocab.chars),
            "config": config.to_dict()}  # fmt: skip
    modelfiles.write(folder, model, FORMAT, meta)


def load(folder: Path, device: torch.device) -> tuple[CharRNN, Vocab, CharRNNConfig]:
    """The model in ``folder`` on ``device``, in eval mode, with its vocabulary and config."""
    meta = modelfiles.read_meta(folder, FORMAT, "charrnn")
    try:
        vocab = Vocab(tuple(meta["vocab"]))
        args = ModelArgs(**meta["model"])
        config = CharRNNConfig.from_dict(meta["config"])
    except (ValueError, KeyError, TypeError) as exc:
        raise BadModelFolder(f"{folder} holds no readable charrnn model: {exc}") from None
    if args.vocab_size != vocab.size:
        raise BadModelFolder(f"{folder}/model.json: vocab_size {args.vocab_size} != {vocab.size}")
    model = CharRNN(args)
    model.load_state_dict(modelfiles.read_weights(folder))
    return model.to(device).eval(), vocab, config
