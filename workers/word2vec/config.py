"""The word2vec config: gensim's training settings, each default written once, here.

>>> config = Word2VecConfig(vector_size=300, sg=True)   # checked now: epochs=0 fails

``botwerk train word2vec`` takes its options from these fields (``--vector-size``,
``--sg/--cbow``, ``--phrases/--no-phrases``); the stored model's manifest holds the config.
"""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta

from botwerk.workers.config import ModelConfig


class Word2VecConfig(ModelConfig, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Training settings; checked on construction."""

    vector_size: Annotated[int, Meta(description="Dimensions of a word vector.")] = 100
    window: Annotated[int, Meta(description="Words either side that count as context.")] = 5
    min_count: Annotated[int, Meta(description="Rarer words are left out.")] = 5
    sg: Annotated[bool, Meta(description="Skip-gram or CBOW.")] = False
    """skip-gram (True) or CBOW (False)."""
    negative: int = 5
    sample: float = 1e-3
    epochs: Annotated[int, Meta(description="Passes over the corpus.")] = 5
    workers: int = 2
    seed: int = 1
    lowercase: bool = True
    phrases: Annotated[
        bool, Meta(description="Join frequent word pairs into phrase tokens (new_york).")
    ] = False
    phrase_min_count: int = 5
    phrase_threshold: float = 10.0
    compute_loss: bool = True

    def __post_init__(self) -> None:
        positive = ("vector_size", "window", "min_count", "epochs", "workers", "phrase_min_count")
        for field in positive:
            if getattr(self, field) < 1:
                raise ValueError(f"{field} must be 1 or more, got {getattr(self, field)}")
        if self.negative < 1:
            raise ValueError("negative must be 1 or more: hierarchical softmax is not supported")


DEMO_CONFIG = Word2VecConfig(vector_size=50, window=5, min_count=2, epochs=20, sg=False)
"""For ``gensim.test.utils.datapath("lee_background.cor")``: a few seconds on two cores."""
