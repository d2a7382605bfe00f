"""Waiting before trying again, written once: every reconnect loop and every rate-limit wait.

Used like this::

    backoff = Backoff(first=0.5, cap=10.0)
    while True:
        try:
            await connect()
            backoff.reset()  # a good connection: the next outage starts from ``first`` again
        except ConnectionError:
            await backoff.sleep()

:class:`Backoff` is exponential backoff with full jitter and a cap: 0.5, 1, 2, 4 ... seconds up
to ``cap``, each drawn uniformly from [first/2, ceiling], so the processes that lost the same
broker do not all come back in the same instant. :func:`pause` sleeps a given time (a platform's
``Retry-After``) unless a stop event comes first, so ``stop()`` never waits out a rate limit.

Our own rather than tenacity: tenacity retries one call a bounded number of times, while these
loops run for the life of the process and reset their schedule after a good connection (the
broker supervisor resets on connect, a transport after a run that lasted ``GOOD_RUN_S``), and
the waits must end early on ``stop()``. Both fit in the forty lines below; with tenacity they
would need custom wait, stop and sleep callbacks and a runtime dependency besides.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Iterator

from botwerk.infra.settings import Settings


def delays(first: float, cap: float) -> Iterator[float]:
    """0.5, 1, 2, 4 ... seconds up to ``cap``, each drawn uniformly from [first/2, ceiling]

    Full jitter spreads the reconnects of many processes that lost the same broker.
    """
    ceiling = first
    while True:
        yield random.uniform(first / 2, ceiling)
        ceiling = min(cap, ceiling * 2)


class Backoff:
    """The delays of :func:`delays`, with :meth:`reset` for after a good connection."""

    def __init__(self, first: float, cap: float) -> None:
        self.first = first
        self.cap = cap
        self._delays = delays(first, cap)

    @classmethod
    def reconnecting(cls, settings: Settings) -> Backoff:
        """The reconnect schedule: ``reconnect_min_s`` first, capped at ``reconnect_max_s``."""
        return cls(settings.reconnect_min_s, settings.reconnect_max_s)

    def reset(self) -> None:
        """Start again from ``first``: the connection that just ended had been a good one."""
        self._delays = delays(self.first, self.cap)

    def next(self) -> float:
        """The next delay, in seconds."""
        return next(self._delays)

    async def sleep(self, stop: asyncio.Event | None = None) -> bool:
        """Sleep the next delay (see :func:`pause`); True when ``stop`` cut it short."""
        return await pause(self.next(), stop)


async def pause(seconds: float, stop: asyncio.Event | None = None) -> bool:
    """Sleep ``seconds`` unless ``stop`` is set first; True when stopping."""
    if stop is None:
        await asyncio.sleep(seconds)
        return False
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()
