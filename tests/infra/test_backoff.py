"""One backoff for every reconnect loop: doubling, full jitter, a cap, a reset; stoppable pauses."""

from __future__ import annotations

import asyncio
import random
import time

from botwerk.infra.backoff import Backoff, delays, pause


def test_delays_double_with_jitter_up_to_the_cap():
    random.seed(7)
    drawn = [d for d, _ in zip(delays(0.5, 4.0), range(40), strict=False)]
    ceilings = [0.5, 1.0, 2.0, 4.0] + [4.0] * 36
    assert all(0.25 <= d <= ceiling for d, ceiling in zip(drawn, ceilings, strict=True))
    assert max(drawn[4:]) > 2.0  # the cap, not the first delay, bounds the later ones


def test_reset_starts_again_from_the_first_delay():
    backoff = Backoff(0.5, 10.0)
    for _ in range(10):
        backoff.next()
    backoff.reset()
    assert 0.25 <= backoff.next() <= 0.5


def test_reconnecting_reads_the_settings(settings):
    backoff = Backoff.reconnecting(settings)
    assert (backoff.first, backoff.cap) == (settings.reconnect_min_s, settings.reconnect_max_s)


async def test_pause_sleeps_unless_stopped():
    stop = asyncio.Event()
    assert await pause(0.01, stop) is False
    asyncio.get_running_loop().call_later(0.05, stop.set)
    started = time.monotonic()
    assert await pause(30, stop) is True
    assert time.monotonic() - started < 5
    assert await pause(0.01) is False  # no stop event: a plain sleep


async def test_sleep_takes_the_next_delay():
    backoff = Backoff(0.02, 0.02)
    started = time.monotonic()
    assert await backoff.sleep() is False
    assert time.monotonic() - started >= 0.009
