"""Exponential backoff with full jitter and a cap, reset after a good connection."""

from __future__ import annotations

import random
from collections.abc import Iterator


def delays(first: float, cap: float) -> Iterator[float]:
    """0.5, 1, 2, 4 ... seconds up to ``cap``, each drawn uniformly from [first/2, ceiling]

    Full jitter spreads the reconnects of many processes that lost the same broker.
    """
    ceiling = first
    while True:
        yield random.uniform(first / 2, ceiling)
        ceiling = min(cap, ceiling * 2)
