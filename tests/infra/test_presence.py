"""A model nobody serves is told at once; a worker restarting within the grace still answers.

The presence check (:class:`botwerk.infra.rpc.Presence`) counts a model queue's consumers
before each call, at most once per queue per TTL. These tests run on both buses, in a fresh
namespace each. The worker is a plain consumer of the model's queue (:func:`serve`), so it comes
and goes exactly when a test says.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from botwerk.infra import topology
from botwerk.infra.bus import Bus, Outgoing, Subscription, now_ms
from botwerk.infra.consumer import typed_handler
from botwerk.infra.errors import DeadlineExceeded, RemoteError
from botwerk.infra.memory import MemoryBus
from botwerk.infra.rpc import Replies, Rpc
from botwerk.schemas import InferReply, InferRequest

pytestmark = pytest.mark.broker

TTL_S = 0.1  # a short count TTL keeps the tests quick; the default (1 s) is a figure, not a rule


async def make_rpc(bus, settings, **presence) -> tuple[Rpc, topology.Names]:
    names = topology.Names(settings.namespace)
    await bus.declare(topology.base(names))
    replies = Replies(bus, names, names.reply_queue("test", settings.instance))
    await replies.start()
    return Rpc(bus, names, replies, **presence), names


async def declare_echo(bus, names) -> None:
    """The echo model's queue, as an earlier worker left it: there, and nobody consuming."""
    await bus.declare(topology.for_worker(names, "echo", topology.Limits()))


async def serve(bus: Bus, names: topology.Names) -> Subscription:
    """A worker of the echo model: it consumes the model's queue until cancelled."""
    await declare_echo(bus, names)

    async def handle(request: InferRequest, delivery) -> None:
        reply = InferReply(model="echo", version="1", outputs=request.inputs)
        message = Outgoing.of(reply, correlation_id=delivery.message.message_id)
        await bus.publish(names.replies, delivery.message.reply_to, message)

    handler = typed_handler(bus, names, (InferRequest,), handle)
    return await bus.consume(names.infer_queue("echo"), handler, prefetch=10)


async def ask(rpc: Rpc, text: str, within_ms: int = 5000) -> str:
    reply = await rpc.infer("echo", {"text": text}, deadline_ms=now_ms() + within_ms)
    return str(reply.outputs["text"])


async def test_a_declared_queue_nobody_ever_served_fails_at_once(bus, settings):
    rpc, names = await make_rpc(bus, settings)
    await declare_echo(bus, names)
    started = time.monotonic()
    with pytest.raises(RemoteError, match="no worker serves 'echo'") as caught:
        await ask(rpc, "anyone?", within_ms=30_000)
    assert (caught.value.code, caught.value.target) == ("no_worker", "echo")
    assert time.monotonic() - started < 1.0  # not the 30 s deadline


async def test_a_worker_that_comes_up_later_is_used(bus, settings):
    rpc, names = await make_rpc(bus, settings)  # the default TTL: the cache refreshes itself
    await declare_echo(bus, names)
    with pytest.raises(RemoteError, match="no worker"):
        await ask(rpc, "anyone?")
    worker = await serve(bus, names)
    try:
        started = time.monotonic()
        while True:
            try:
                assert await ask(rpc, "now?") == "now?"
                break
            except RemoteError as exc:
                assert exc.code == "no_worker" and time.monotonic() - started < 2.0
                await asyncio.sleep(0.05)
    finally:
        await worker.cancel()


async def test_within_the_grace_a_restarting_worker_answers_what_waited(bus, settings):
    rpc, names = await make_rpc(bus, settings, presence_ttl_s=TTL_S)  # grace: the default 10 s
    worker = await serve(bus, names)
    assert await ask(rpc, "first") == "first"
    await worker.cancel()  # the worker goes; its queue stays
    await asyncio.sleep(TTL_S * 2)  # the next call counts again, and sees nobody
    waiting = asyncio.create_task(ask(rpc, "still there?"))
    await asyncio.sleep(0.3)
    assert not waiting.done()  # published and held by the queue, not failed
    worker = await serve(bus, names)
    try:
        assert await asyncio.wait_for(waiting, 5) == "still there?"
    finally:
        await worker.cancel()


async def test_past_the_grace_a_worker_gone_for_good_is_told_at_once(bus, settings):
    rpc, names = await make_rpc(bus, settings, grace_s=0.3, presence_ttl_s=TTL_S)
    worker = await serve(bus, names)
    assert await ask(rpc, "first") == "first"
    await worker.cancel()
    await asyncio.sleep(0.4)
    started = time.monotonic()
    with pytest.raises(RemoteError, match="no worker") as caught:
        await ask(rpc, "gone?", within_ms=30_000)
    assert caught.value.code == "no_worker" and time.monotonic() - started < 1.0


class CountingBus(MemoryBus):
    """A memory bus that counts how often the consumers of a queue are asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.counts = 0

    async def consumers(self, queue: str) -> int | None:
        self.counts += 1
        await asyncio.sleep(0.01)  # a broker round trip: callers meanwhile share this count
        return await super().consumers(queue)


async def test_one_count_per_queue_per_ttl_however_many_calls(settings):
    bus = CountingBus()
    await bus.start()
    rpc, names = await make_rpc(bus, settings)
    worker = await serve(bus, names)
    try:
        answers = await asyncio.gather(*(ask(rpc, f"m{i}") for i in range(50)))
        answers += [await ask(rpc, "one more") for _ in range(20)]
    finally:
        await worker.cancel()
        await bus.close()
    assert len(answers) == 70 and bus.counts == 1


async def test_a_reconnect_restarts_the_grace(settings):
    """Roles reconnect after a broker restart at different times: not a worker gone for good."""
    bus = MemoryBus()
    await bus.start()
    rpc, names = await make_rpc(bus, settings, grace_s=0.3, presence_ttl_s=TTL_S)
    worker = await serve(bus, names)
    assert await ask(rpc, "first") == "first"
    await worker.cancel()
    await asyncio.sleep(0.4)  # past the grace, but then the bus connects again
    await bus.start()
    with pytest.raises(DeadlineExceeded):  # published and waited for, not failed at once
        await ask(rpc, "after the reconnect", within_ms=300)
    await bus.close()
