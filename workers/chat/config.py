"""The chat configs: the model's sizes, data and training settings, and SCST fine-tuning's.

>>> config = ChatConfig(hidden=256, context=True)   # checked now: ChatConfig(layers=0) fails
>>> rl = SCSTConfig(samples=5, epochs=10)           # fine-tuning keeps the model's ChatConfig

``botwerk train chat`` takes its options from these fields (``--max-len`` for ``max_len``),
with these descriptions; ``model.json`` of a trained model holds the resolved ChatConfig
(and, after fine-tuning, the SCSTConfig). The vocabulary comes from the corpus.
"""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import Meta

from botwerk.workers.config import ModelConfig

Attention = Literal["dot", "general", "concat"]


class ChatConfig(ModelConfig, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Sizes, data and training settings of the seq2seq model."""

    embed: Annotated[int, Meta(description="Word embedding size, shared")] = 256
    hidden: Annotated[int, Meta(description="LSTM units per layer")] = 512
    layers: Annotated[int, Meta(description="LSTM layers")] = 2
    dropout: Annotated[float, Meta(description="Dropout")] = 0.1
    attention: Annotated[Attention, Meta(description="Luong's score function")] = "general"
    bidirectional: bool = True
    max_vocab: Annotated[int, Meta(description="Most words in the vocabulary")] = 8000
    min_count: Annotated[int, Meta(description="Rarer words are <unk>")] = 2
    max_len: Annotated[int, Meta(description="Tokens per reply; longer ones are left out")] = 20
    """longer prompts keep their end"""
    context: Annotated[bool, Meta(description="Read the utterance before the prompt.")] = False
    """context <sep> prompt"""
    batch_size: Annotated[int, Meta(description="Pairs per step")] = 64
    lr: Annotated[float, Meta(description="AdamW learning rate")] = 1e-3
    weight_decay: float = 0.0
    clip: Annotated[float, Meta(description="Gradient norm cap")] = 5.0
    epochs: Annotated[int, Meta(description="Passes over the training pairs")] = 20
    checkpoint_minutes: Annotated[
        float, Meta(description="Also checkpoint mid-epoch this often (0: every step).")
    ] = 10.0
    valid_fraction: float = 0.1
    test_fraction: float = 0.1
    seed: int = 1337

    def __post_init__(self) -> None:
        for name in ("embed", "hidden", "layers", "max_len", "batch_size", "epochs", "min_count"):
            if getattr(self, name) < 1:
                raise ValueError(f"ChatConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.max_vocab < 16:
            raise ValueError(f"ChatConfig.max_vocab must be >= 16, got {self.max_vocab}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"ChatConfig.dropout must be in [0, 1), got {self.dropout}")
        if self.attention not in ("dot", "general", "concat"):
            raise ValueError(f"ChatConfig.attention must be dot, general or concat, not "
                             f"{self.attention!r}")  # fmt: skip
        if self.lr <= 0 or self.clip <= 0 or self.weight_decay < 0:
            raise ValueError("ChatConfig: lr and clip must be > 0, weight_decay >= 0")
        if self.checkpoint_minutes < 0:
            raise ValueError(f"ChatConfig.checkpoint_minutes must be >= 0, got "
                             f"{self.checkpoint_minutes}")  # fmt: skip


DEMO_CONFIG = ChatConfig(embed=128, hidden=256, layers=1, max_vocab=3000, min_count=1,
                         max_len=24, batch_size=32, lr=2e-3, epochs=40)  # fmt: skip
"""Small enough to learn chatterbot's English dialogs in about a minute on two cores."""


class SCSTConfig(ModelConfig, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Fine-tuning settings; the model's own config still holds its sizes and data split."""

    samples: Annotated[int, Meta(description="Sampled replies per prompt")] = 5
    lr: Annotated[float, Meta(description="Adam learning rate")] = 5e-5
    batch_size: Annotated[int, Meta(description="Prompts per step")] = 32
    epochs: Annotated[int, Meta(description="Passes over the training prompts")] = 10
    checkpoint_minutes: Annotated[
        float, Meta(description="Also checkpoint mid-epoch this often (0: every step).")
    ] = 10.0
    skip_above: float = 0.95
    """a prompt whose greedy reply scores this much or more is skipped"""
    clip: float = 5.0
    reward: Annotated[str, Meta(description="A reward name or module:function")] = "bleu"
    """a name in botwerk.workers.chat.reward.REWARDS, or module:function"""
    seed: int = 1337

    def __post_init__(self) -> None:
        for name in ("samples", "batch_size", "epochs"):
            if getattr(self, name) < 1:
                raise ValueError(f"SCSTConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0 or self.clip <= 0:
            raise ValueError("SCSTConfig: lr and clip must be > 0")
        if self.checkpoint_minutes < 0:
            raise ValueError(f"SCSTConfig.checkpoint_minutes must be >= 0, got "
                             f"{self.checkpoint_minutes}")  # fmt: skip
        if not 0 < self.skip_above <= 1:
            raise ValueError(f"SCSTConfig.skip_above must be in (0, 1], got {self.skip_above}")
