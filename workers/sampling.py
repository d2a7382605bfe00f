"""Sampling one token per row, each row with its own seeded generator: the same text alone or
in any batch.

In a decoding step, for a batch of b rows::

    rngs = [seeded(7), seeded(None)]                      # None: a random seed
    sample(logits, rngs, temperatures, top_k, banned=[0])  # (b, V) -> (b,)

Each row draws one uniform number from its own ``torch.Generator`` and inverts its CDF
(float64, on the CPU), so what a row picks depends only on its own logits and generator.
Temperature divides the logits; ``top_k`` > 0 keeps that row's k likeliest tokens; ``banned``
tokens (padding, unknown and the like) are never picked.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

import torch
from torch import Tensor


def seeded(seed: int | None) -> torch.Generator:
    """A generator seeded with ``seed``, or with a random seed when it is None."""
    rng = torch.Generator()
    rng.manual_seed(secrets.randbits(63) if seed is None else seed % 2**64)
    return rng


def sample(
    logits: Tensor, rngs: list[torch.Generator], temps: Tensor, top_k: Tensor,
    banned: Sequence[int] = (),
) -> Tensor:  # fmt: skip
    """One token per row of ``logits`` (b, V), each row with its own generator -> (b,)."""
    logits = logits.to("cpu", torch.float64) / temps[:, None]  # (b, V)
    logits[:, list(banned)] = -torch.inf
    vocab = logits.shape[1]
    k = top_k.clamp(max=vocab - 1)  # (b,)
    if bool((k > 0).any()):
        kth = logits.sort(dim=1, descending=True).values.gather(1, (k - 1).clamp(min=0)[:, None])
        logits = logits.masked_fill((k[:, None] > 0) & (logits < kth), -torch.inf)  # (b, V)
    cdf = torch.softmax(logits, dim=1).cumsum(dim=1)  # (b, V)
    draws = torch.cat([torch.rand(1, generator=g, dtype=torch.float64) for g in rngs])  # (b,)
    # right=True: the first index whose CDF exceeds the draw, never a zero-probability token
    picked = torch.searchsorted(cdf, draws[:, None] * cdf[:, -1:], right=True)  # (b, 1)
    return picked[:, 0].clamp(max=vocab - 1)
