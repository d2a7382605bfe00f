"""Typed handlers: bad input is dead-lettered with its reason and good traffic keeps flowing.

Each test runs with a handler that is a coroutine (a task per delivery) and with a plain
callback (``typed_callback``: handled in the bus's own callback), on both buses.
"""

from __future__ import annotations

import asyncio

import msgpack
import pytest

from botwerk.infra import topology
from botwerk.infra.bus import Outgoing, dead_reason
from botwerk.infra.consumer import typed_callback, typed_handler
from botwerk.infra.errors import DeadLetter, Requeue
from botwerk.infra.rpc import Replies
from botwerk.schemas import InferReply, InferRequest, Reply
from tests.support.waiting import collect, eventually

pytestmark = pytest.mark.broker


@pytest.fixture(params=["task", "callback"])
async def setup(request, bus, settings):
    names = topology.Names(settings.namespace)
    await bus.declare(topology.for_worker(names, "m", topology.Limits(delivery_limit=2)))
    dead = await collect(bus, names.dead)
    handled: list = []

    def decide(request: InferRequest, delivery) -> None:
        command = request.inputs.get("do")
        if command == "raise":
            raise ValueError("boom")
        if command == "refuse":
            raise DeadLetter("refused on purpose")
        if command == "requeue" and delivery.delivery_count == 0:
            raise Requeue()
        handled.append(request)

    async def handle(request: InferRequest, delivery) -> None:
        decide(request, delivery)

    if request.param == "task":
        handler = typed_handler(bus, names, (InferRequest,), handle, max_bytes=4096)
    else:
        handler = typed_callback(bus, names, (InferRequest,), decide, max_bytes=4096)
    await bus.consume(names.infer_queue("m"), handler, prefetch=10)

    async def send(body: bytes, type_name: str = InferRequest.TYPE, content_type=None):
        message = Outgoing(body, type_name, content_type=content_type or "application/msgpack")
        await bus.publish(names.infer, "m", message)

    return names, send, handled, dead


def good(**inputs):
    return Outgoing.of(InferRequest(model="m", inputs=inputs)).body


BAD_BODIES = [
    (b"\xc1garbage", InferRequest.TYPE, None, "schema error: body: not MessagePack"),
    (msgpack.packb({"model": 1, "inputs": {}}), InferRequest.TYPE, None, "schema error: model:"),
    (msgpack.packb({"inputs": {}}), InferRequest.TYPE, None, "model: object missing required"),
    (good(), "botwerk.nope.v1", None, "schema error: type: unknown message type"),
    (
        Outgoing.of(Reply(bot="b", conversation="c", text="t")).body,
        Reply.TYPE,
        None,
        "not accepted here",
    ),
    (good(), InferRequest.TYPE, "application/json", "content_type: expected 'application/msgpack'"),
    (good(pad="x" * 5000), InferRequest.TYPE, None, "over the 4096-byte cap"),
]


async def test_bad_bodies_are_dead_lettered_with_reasons_while_good_ones_flow(setup):
    _, send, handled, dead = setup
    for i, (body, type_name, content_type, _) in enumerate(BAD_BODIES):
        await send(body, type_name, content_type)
        await send(good(n=i))
    await eventually(lambda: len(dead) == len(BAD_BODIES) and len(handled) == len(BAD_BODIES))
    reasons = sorted(dead_reason(d.headers) for d in dead)
    for _, _, _, expected in BAD_BODIES:
        assert any(expected in reason for reason in reasons), (expected, reasons)
    assert sorted(r.inputs["n"] for r in handled) == list(range(len(BAD_BODIES)))


async def test_handler_errors_dead_letter_and_the_consumer_carries_on(setup):
    _, send, handled, dead = setup
    await send(good(do="raise"))
    await send(good(do="refuse"))
    await send(good(do="fine"))
    await eventually(lambda: len(dead) == 2 and len(handled) == 1)
    reasons = sorted(dead_reason(d.headers) for d in dead)
    assert reasons == ["handler error: ValueError: boom", "refused on purpose"]


async def test_requeue_gives_the_message_another_delivery(setup):
    _, send, handled, dead = setup
    await send(good(do="requeue"))
    await eventually(lambda: len(handled) == 1)
    assert dead == []


async def test_replies_are_matched_in_the_bus_callback_without_a_task(rabbit_bus, settings):
    """A reply to a waiting call is handed over in pika's callback: no task, no loop turn."""
    names = topology.Names(settings.namespace)
    seen: list[asyncio.Task | None] = []

    class Watched(Replies):
        def _on_reply(self, reply, delivery) -> None:
            seen.append(asyncio.current_task())
            super()._on_reply(reply, delivery)

    replies = Watched(rabbit_bus, names, names.reply_queue("test", settings.instance))
    await replies.start()
    answer = replies.expect("call-1")
    reply = InferReply(model="m", version="1", outputs={"text": "hi"})
    await rabbit_bus.publish(
        names.replies, replies.queue, Outgoing.of(reply, correlation_id="call-1")
    )
    assert (await asyncio.wait_for(answer, 5)).outputs == {"text": "hi"}
    assert seen == [None]
    await replies.stop()
