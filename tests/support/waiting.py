"""Waiting in tests without sleeping blindly."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from botwerk.infra.bus import Bus, Delivery


async def eventually(check: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
    """Return as soon as ``check()`` is true; fail after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + timeout
    while not check():
        if loop.time() > give_up:
            raise AssertionError(f"not true after {timeout:g}s: {what or check}")
        await asyncio.sleep(0.01)


async def collect(bus: Bus, queue: str, prefetch: int = 100) -> list[Delivery]:
    """Consume ``queue`` into a list (acking each), for reading dead letters and the like."""
    got: list[Delivery] = []

    async def keep(delivery: Delivery) -> None:
        got.append(delivery)
        delivery.ack()

    await bus.consume(queue, keep, prefetch=prefetch)
    return got
