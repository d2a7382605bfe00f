"""Request/reply: correlation, deadlines, and the errors a caller sees instead of a hang."""

from __future__ import annotations

import asyncio
import time

import pytest

from botwerk.infra import topology
from botwerk.infra.bus import Outgoing, now_ms
from botwerk.infra.consumer import typed_handler
from botwerk.infra.errors import DeadlineExceeded, RemoteError
from botwerk.infra.rabbit import RabbitBus
from botwerk.infra.rpc import Replies, Rpc, SeenIds
from botwerk.schemas import Error, InferReply, InferRequest
from tests.support.nacks import drop_first, fill
from tests.support.proxy import FaultProxy
from tests.support.waiting import eventually

pytestmark = pytest.mark.broker


@pytest.fixture
async def rpc(bus, settings):
    names = topology.Names(settings.namespace)
    await bus.declare(topology.base(names))
    replies = Replies(bus, names, names.reply_queue("test", settings.instance))
    await replies.start()
    return Rpc(bus, names, replies), names


async def serve(bus, names, model, answer, limits=None):
    await bus.declare(topology.for_worker(names, model, limits or topology.Limits()))

    async def handle(request: InferRequest, delivery) -> None:
        reply = await answer(request)
        message = Outgoing.of(reply, correlation_id=delivery.message.message_id)
        await bus.publish(names.replies, delivery.message.reply_to, message)

    handler = typed_handler(bus, names, (InferRequest,), handle)
    return await bus.consume(names.infer_queue(model), handler, prefetch=10)


async def test_concurrent_calls_get_their_own_replies(bus, rpc):
    rpc, names = rpc

    async def upper(request):
        await asyncio.sleep(0.01 * (request.inputs["i"] % 3))  # replies come back out of order
        return InferReply(model="m", version="1", outputs={"i": request.inputs["i"]})

    await serve(bus, names, "m", upper)
    deadline = now_ms() + 5000
    replies = await asyncio.gather(
        *(rpc.infer("m", {"i": i}, deadline_ms=deadline) for i in range(30))
    )
    assert [r.outputs["i"] for r in replies] == list(range(30))


async def test_a_model_no_worker_ever_served_fails_at_once(rpc):
    rpc, _ = rpc
    started = time.monotonic()
    with pytest.raises(RemoteError, match="no worker serves 'ghost'") as caught:
        await rpc.infer("ghost", {}, deadline_ms=now_ms() + 5000)
    assert caught.value.code == "no_worker" and caught.value.target == "ghost"
    assert time.monotonic() - started < 2


async def test_a_model_whose_workers_just_went_down_fails_at_its_deadline(bus, rpc):
    """Within the grace (a worker may be restarting) a call waits, and times out at its deadline;
    a model never served fails at once instead (tests/infra/test_presence.py)."""
    rpc, names = rpc

    async def answer(request):
        return InferReply(model="down", version="1", outputs={})

    consumer = await serve(bus, names, "down", answer)
    await rpc.infer("down", {}, deadline_ms=now_ms() + 5000)  # seen serving
    await consumer.cancel()  # the queue stays, with no consumer
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded, match="'down' did not answer within") as caught:
        await rpc.infer("down", {}, deadline_ms=now_ms() + 700)
    elapsed = time.monotonic() - started
    assert caught.value.code == "timeout"
    assert 0.6 < elapsed < 1.5


async def test_an_error_reply_raises_with_its_code(bus, rpc):
    rpc, names = rpc

    async def refuse(request):
        return Error(code="bad_request", message="no thanks", detail="why")

    await serve(bus, names, "m", refuse)
    with pytest.raises(RemoteError, match="no thanks") as caught:
        await rpc.infer("m", {}, deadline_ms=now_ms() + 5000)
    assert (caught.value.code, caught.value.detail, caught.value.target) == (
        "bad_request",
        "why",
        "m",
    )


async def test_an_expired_deadline_is_not_even_sent(rpc):
    rpc, _ = rpc
    with pytest.raises(DeadlineExceeded, match="deadline passed before"):
        await rpc.infer("m", {}, deadline_ms=now_ms() - 1)


async def test_late_and_duplicate_replies_are_dropped(bus, rpc):
    rpc, names = rpc
    calls = 0

    async def twice_and_slow(request):
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.5 if request.inputs.get("slow") else 0)
        return InferReply(model="m", version="1", outputs={})

    await serve(bus, names, "m", twice_and_slow)
    with pytest.raises(DeadlineExceeded):
        await rpc.infer("m", {"slow": True}, deadline_ms=now_ms() + 200)
    await asyncio.sleep(0.5)  # the late reply arrives and is dropped, nothing breaks
    reply = await rpc.infer("m", {}, deadline_ms=now_ms() + 2000)
    assert isinstance(reply, InferReply) and calls == 2


async def test_a_call_asked_again_goes_until_the_queue_takes_it(bus, rpc):
    """Its reply queue moved (a cluster node died): the call asks again, the same id. The
    model's queue may nack the copy (a quorum queue electing a new leader; here full, which
    nacks alike): the copy goes again until the queue takes it. Before, the caller heard
    "busy" after that one nack."""
    rpc, names = rpc
    limits = topology.Limits(max_length=1)
    await bus.declare(topology.for_worker(names, "m", limits))
    request = InferRequest(model="m", inputs={"i": 1})
    call = asyncio.create_task(rpc.call(names.infer, "m", request, deadline_ms=now_ms() + 8000))
    await asyncio.sleep(0.3)  # the first copy waits in the queue
    ahead = await fill(bus, names.infer, "m", Outgoing.of(InferRequest(model="m", inputs={})))
    rpc.replies.on_moved()  # as the bus does when the reply queue moved
    await asyncio.sleep(0.5)  # the copy is nacked meanwhile
    await drop_first(bus, names.infer_queue("m"), ahead)

    async def answer(request):
        return InferReply(model="m", version="1", outputs=request.inputs)

    await serve(bus, names, "m", answer, limits)
    reply = await call
    assert reply.outputs == {"i": 1}


async def nacked_call(bus, settings, reconnect: FaultProxy | None) -> asyncio.Task:
    """A call to a model queue at its bound, so the broker nacks it (as a quorum queue electing
    a new leader does); with ``reconnect``, its bus lost the broker through that proxy just
    before. The call's task, and the queue."""
    names = topology.Names(settings.namespace)
    await bus.declare(topology.base(names))
    replies = Replies(bus, names, names.reply_queue("test", settings.instance))
    await replies.start()
    rpc = Rpc(bus, names, replies)
    await bus.declare(topology.for_worker(names, "m", topology.Limits(max_length=1)))
    await bus.publish(names.infer, "m", Outgoing.of(InferRequest(model="m", inputs={})))
    ahead = await fill(bus, names.infer, "m", Outgoing.of(InferRequest(model="m", inputs={})))
    if reconnect is not None:
        before = bus.connected_at
        reconnect.reset()
        await eventually(lambda: bus.connected and bus.connected_at != before, timeout=10)
    request = InferRequest(model="m", inputs={"i": 1})
    call = asyncio.create_task(rpc.call(names.infer, "m", request, deadline_ms=now_ms() + 8000))
    await asyncio.sleep(0.5)  # nacked meanwhile
    return call, names, ahead


async def test_a_call_nacked_just_after_a_reconnect_goes_until_the_queue_takes_it(settings):
    """Just after its bus lost the broker (a node lost), a nack means a quorum queue electing a
    new leader more likely than a full one: the call goes again until the queue takes it."""
    proxy = FaultProxy("127.0.0.1", 5672).start()
    bus = RabbitBus(settings.model_copy(update={"amqp_url": proxy.url_for(settings.amqp_url)}))
    await bus.start(timeout=10)
    try:
        call, names, ahead = await nacked_call(bus, settings, reconnect=proxy)
        assert not call.done(), call  # not "busy" at once
        await drop_first(bus, names.infer_queue("m"), ahead)

        async def answer(request):
            return InferReply(model="m", version="1", outputs=request.inputs)

        await serve(bus, names, "m", answer, topology.Limits(max_length=1))
        assert (await call).outputs == {"i": 1}
    finally:
        await bus.close()
        proxy.close()


async def test_a_call_nacked_with_no_reconnect_is_busy_at_once(rabbit_bus, settings):
    """The control: a bus that never lost the broker takes a nack for a full queue."""
    call, _, _ = await nacked_call(rabbit_bus, settings, reconnect=None)
    with pytest.raises(RemoteError, match="is full") as caught:
        await call
    assert caught.value.code == "busy"


def test_seen_ids_are_bounded():
    seen = SeenIds(size=3)
    for key in "abcd":
        seen.add(key)
    assert "a" not in seen and all(k in seen for k in "bcd")
