"""One model served by a real :class:`~botwerk.workers.runtime.Worker`, and an RPC client.

In an async test, with the ``bus`` and ``settings`` fixtures::

    async with serving(bus, settings, CharRNNModel(settings, "charrnn", model="bard")) as ask:
        reply = await ask("charrnn", {"prime": "the ", "length": 12})
        assert reply.version == "bard@1"

The bus must be started; the worker is stopped afterwards (the bus is the caller's).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from botwerk.infra import topology
from botwerk.infra.bus import Bus, now_ms
from botwerk.infra.rpc import Replies, Rpc
from botwerk.infra.settings import Settings
from botwerk.schemas import InferReply
from botwerk.workers.runtime import Model, Worker

Ask = Callable[[str, dict[str, Any]], Awaitable[InferReply]]


@asynccontextmanager
async def serving(bus: Bus, settings: Settings, model: Model) -> AsyncIterator[Ask]:
    """A worker for ``model`` on ``bus``; yields ``ask(model name, inputs)`` (10 s deadline)."""
    names = topology.Names(settings.namespace)
    await bus.declare(topology.base(names, topology.limits_of(settings)))
    worker = Worker(bus, settings, model)
    await worker.start()
    replies = Replies(bus, names, names.reply_queue("core", settings.instance))
    await replies.start()
    rpc = Rpc(bus, names, replies)

    async def ask(name: str, inputs: dict[str, Any]) -> InferReply:
        return await rpc.infer(name, inputs, deadline_ms=now_ms() + 10_000)

    try:
        yield ask
    finally:
        await worker.stop()
