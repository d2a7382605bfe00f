"""The charrnn config: sizes and training settings, each default written once, here.

>>> config = CharRNNConfig(hidden=256, epochs=5)    # checked now: CharRNNConfig(layers=0) fails
>>> CharRNNConfig.from_dict(config.to_dict()) == config
True

``botwerk train charrnn`` takes its options from these fields (``--seq-len`` for
``seq_len``), with these defaults and descriptions; ``model.json`` of a trained model holds
the resolved config. The vocabulary comes from the corpus, not from here.
"""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta

from botwerk.workers.config import ModelConfig


class CharRNNConfig(ModelConfig, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Sizes and training settings of a character-level LSTM."""

    embed: Annotated[int, Meta(description="Character embedding size.")] = 64
    hidden: Annotated[int, Meta(description="LSTM units per layer.")] = 512
    layers: Annotated[int, Meta(description="LSTM layers.")] = 2
    dropout: Annotated[float, Meta(description="Dropout between layers and before the head.")] = 0.2
    seq_len: Annotated[int, Meta(description="BPTT window: characters per chunk.")] = 128
    batch_size: Annotated[int, Meta(description="Parallel streams through the corpus.")] = 64
    lr: Annotated[float, Meta(description="AdamW learning rate.")] = 2e-3
    weight_decay: Annotated[float, Meta(description="AdamW weight decay.")] = 0.01
    clip: Annotated[float, Meta(description="Gradient norm cap.")] = 1.0
    epochs: Annotated[int, Meta(description="Passes over the corpus.")] = 20
    val_fraction: Annotated[float, Meta(description="The corpus's tail held out.")] = 0.05
    checkpoint_minutes: Annotated[
        float, Meta(description="Also checkpoint mid-epoch this often (0: every step).")
    ] = 10.0
    seed: int = 1337

    def __post_init__(self) -> None:
        positive = ("embed", "hidden", "layers", "seq_len", "batch_size", "epochs")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"CharRNNConfig.{name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"CharRNNConfig.dropout must be in [0, 1), got {self.dropout}")
        if not 0 < self.val_fraction < 0.5:
            raise ValueError(
                f"CharRNNConfig.val_fraction must be in (0, 0.5), got {self.val_fraction}"
            )
        if self.lr <= 0 or self.clip <= 0 or self.weight_decay < 0:
            raise ValueError("CharRNNConfig: lr and clip must be > 0, weight_decay >= 0")
        if self.checkpoint_minutes < 0:
            raise ValueError(f"CharRNNConfig.checkpoint_minutes must be >= 0, got "
                             f"{self.checkpoint_minutes}")  # fmt: skip


DEMO_CONFIG = CharRNNConfig(
    embed=48, hidden=256, layers=1, dropout=0.0, seq_len=100, batch_size=16, lr=4e-3, epochs=30
)
"""Small enough to write word-like English from the Lee corpus in about a minute on 2 cores."""
