"""The bus contract: every test here runs on the in-process bus and on RabbitMQ."""

from __future__ import annotations

import asyncio

import pytest

from botwerk.infra import topology
from botwerk.infra.bus import REASON_HEADER, Outgoing, dead_letter, dead_reason
from botwerk.infra.errors import BusError, NotConnected, Rejected, TooLarge, Unroutable
from botwerk.schemas import Reply
from tests.support.waiting import collect, eventually

pytestmark = pytest.mark.broker


def _msg(text="hi", **props):
    return Outgoing.of(Reply(bot="b", conversation="c", text=text), **props)


@pytest.fixture
def names(settings):
    return topology.Names(settings.namespace)


async def _work_queue(bus, names, name="work", *, delivery_limit=5, max_length=1000):
    limits = topology.Limits(delivery_limit, max_length)
    await bus.declare(topology.base(names))
    queue = topology.work_queue(f"{names.ns}.{name}", names.dlx, limits)
    await bus.declare([queue, topology.Binding(queue.name, names.infer, name)])
    return queue.name


async def test_publish_and_consume_keep_every_property(bus, names):
    queue = await _work_queue(bus, names)
    got = await collect(bus, queue)
    sent = _msg(
        correlation_id="corr", reply_to="rq", trace="t1", deadline_ms=123, headers={"k": "v"}
    )
    await bus.publish(names.infer, "work", sent)
    await eventually(lambda: len(got) == 1)
    received = got[0].message
    assert received.body == sent.body
    assert (received.type, received.content_type) == (Reply.TYPE, "application/msgpack")
    assert (received.message_id, received.correlation_id, received.reply_to) == (
        sent.message_id, "corr", "rq",
    )  # fmt: skip
    assert got[0].trace == "t1" and got[0].deadline_ms == 123 and got[0].headers["k"] == "v"
    assert (got[0].redelivered, got[0].delivery_count) == (False, 0)


async def test_topic_routing_by_bot(bus, names):
    await bus.declare(topology.for_core(names, "demo", topology.Limits()))
    got = await collect(bus, names.core_queue("demo"))
    await bus.publish(names.inbound, "demo.console", _msg("mine"))
    await bus.publish(names.inbound, "other.console", _msg("not mine"))
    await bus.publish(names.inbound, "demo.slack", _msg("mine too"))
    await eventually(lambda: len(got) == 2)
    await asyncio.sleep(0.1)
    assert len(got) == 2


async def test_mandatory_publish_without_a_queue_is_unroutable(bus, names):
    await bus.declare(topology.base(names))
    with pytest.raises(Unroutable, match="NO_ROUTE"):
        await bus.publish(names.infer, "nobody", _msg(), mandatory=True)
    await bus.publish(names.infer, "nobody", _msg())  # not mandatory: dropped, no error


async def test_default_exchange_routes_by_queue_name(bus, names):
    queue = names.reply_queue("test", "x")
    await bus.declare([topology.reply_queue(queue)])
    got = await collect(bus, queue)
    await bus.publish("", queue, _msg())
    await eventually(lambda: len(got) == 1)


async def test_prefetch_bounds_unacked_deliveries(bus, names):
    queue = await _work_queue(bus, names)
    held: list = []
    release = asyncio.Event()

    async def hold(delivery):
        held.append(delivery)
        await release.wait()
        delivery.ack()

    await bus.consume(queue, hold, prefetch=3)
    for i in range(10):
        await bus.publish(names.infer, "work", _msg(str(i)))
    await eventually(lambda: len(held) == 3)
    await asyncio.sleep(0.2)
    assert len(held) == 3
    release.set()
    await eventually(lambda: len(held) == 10)


async def test_requeue_counts_the_delivery(bus, names):
    queue = await _work_queue(bus, names)
    seen: list = []

    async def twice(delivery):
        seen.append(delivery)
        if len(seen) == 1:
            delivery.requeue()

    await bus.consume(queue, twice, prefetch=1)
    await bus.publish(names.infer, "work", _msg())
    await eventually(lambda: len(seen) == 2)
    assert (seen[1].redelivered, seen[1].delivery_count) == (True, 1)
    assert seen[1].message.message_id == seen[0].message.message_id


async def test_over_the_delivery_limit_goes_to_dead_with_the_reason(bus, names):
    queue = await _work_queue(bus, names, delivery_limit=2)
    dead = await collect(bus, names.dead)
    attempts: list = []

    async def always_requeue(delivery):
        attempts.append(delivery.delivery_count)
        delivery.requeue()

    await bus.consume(queue, always_requeue, prefetch=1)
    await bus.publish(names.infer, "work", _msg("poison"))
    await eventually(lambda: len(dead) == 1)
    assert attempts == [0, 1, 2]
    assert dead_reason(dead[0].headers) == "delivery_limit"
    assert dead[0].headers["x-first-death-queue"] == queue


async def test_discard_dead_letters_as_rejected(bus, names):
    queue = await _work_queue(bus, names)
    dead = await collect(bus, names.dead)

    async def discard(delivery):
        delivery.discard()

    await bus.consume(queue, discard, prefetch=1)
    await bus.publish(names.infer, "work", _msg())
    await eventually(lambda: len(dead) == 1)
    assert dead_reason(dead[0].headers) == "rejected"


async def test_dead_letter_with_a_reason_header(bus, names):
    queue = await _work_queue(bus, names)
    dead = await collect(bus, names.dead)

    async def refuse(delivery):
        await dead_letter(bus, names, delivery, "text: expected str")

    await bus.consume(queue, refuse, prefetch=1)
    sent = _msg(trace="t9")
    await bus.publish(names.infer, "work", sent)
    await eventually(lambda: len(dead) == 1)
    letter = dead[0]
    assert letter.headers[REASON_HEADER] == "text: expected str"
    assert dead_reason(letter.headers) == "text: expected str"
    assert letter.headers["x-botwerk-queue"] == queue
    assert (letter.headers["x-botwerk-exchange"], letter.headers["x-botwerk-routing-key"]) == (
        names.infer,
        "work",
    )
    assert (letter.message.message_id, letter.message.body, letter.trace) == (
        sent.message_id, sent.body, "t9",
    )  # fmt: skip


async def test_a_full_queue_rejects_the_publish(bus, names):
    # Quorum queues bound softly: they take messages until they are over the limit.
    await _work_queue(bus, names, max_length=3)
    for i in range(4):
        await bus.publish(names.infer, "work", _msg(str(i)))
    with pytest.raises(Rejected):
        await bus.publish(names.infer, "work", _msg("one too many"))


async def test_the_dead_letter_queue_keeps_the_newest_past_its_bound(bus, names):
    # {ns}.dead drops its oldest (drop-head), never refuses: a dead letter is never nacked back.
    await bus.declare(topology.base(names, topology.Limits(dead_max_length=2)))
    for i in range(4):
        await bus.publish(names.dlx, "x", _msg(str(i)))
    got = await collect(bus, names.dead)
    await eventually(lambda: len(got) == 2)
    await asyncio.sleep(0.1)
    assert [d.message.body for d in got] == [_msg("2").body, _msg("3").body]


async def test_unacked_messages_return_when_the_consumer_goes(bus, names):
    queue = await _work_queue(bus, names)
    first: list = []
    never = asyncio.Event()

    async def stall(delivery):
        first.append(delivery)
        await never.wait()

    subscription = await bus.consume(queue, stall, prefetch=5)
    for i in range(3):
        await bus.publish(names.infer, "work", _msg(str(i)))
    await eventually(lambda: len(first) == 3)
    cancelling = asyncio.create_task(subscription.cancel())
    await asyncio.sleep(0.05)
    never.set()  # the stalled handlers return without settling
    await cancelling
    second = await collect(bus, queue)
    await eventually(lambda: len(second) == 3)
    assert {d.message.message_id for d in second} == {d.message.message_id for d in first}


async def test_expired_messages_are_dead_lettered_not_delivered(bus, names):
    queue = await _work_queue(bus, names)
    dead = await collect(bus, names.dead)
    await bus.publish(names.infer, "work", _msg("stale", expiration_ms=50))
    await asyncio.sleep(0.3)
    fresh = await collect(bus, queue)
    await bus.publish(names.infer, "work", _msg("fresh"))
    await eventually(lambda: len(fresh) == 1 and len(dead) == 1)
    assert dead_reason(dead[0].headers) == "expired"


async def test_declare_is_idempotent_and_conflicts_are_explained(bus, names):
    await _work_queue(bus, names, delivery_limit=5)
    await _work_queue(bus, names, delivery_limit=5)
    with pytest.raises(BusError, match="PRECONDITION_FAILED"):
        await _work_queue(bus, names, delivery_limit=7)


async def test_a_closed_bus_says_so(bus, names):
    await bus.declare(topology.base(names))
    await bus.close()
    with pytest.raises(NotConnected, match=r"bus\.start"):
        await bus.publish(names.events, "x", _msg())


async def test_deleting_a_queue_stops_its_consumers(bus, names):
    queue = await _work_queue(bus, names)
    got = await collect(bus, queue)
    await bus.delete_queue(queue)
    await asyncio.sleep(0.3)  # a consumer that tried to come back would fail and retry here
    await _work_queue(bus, names)
    await bus.publish(names.infer, "work", _msg())
    await asyncio.sleep(0.3)
    assert got == []


async def test_a_body_over_the_cap_is_refused_before_it_is_sent(bus, names, settings):
    await _work_queue(bus, names)
    with pytest.raises(TooLarge, match="over the 262144-byte cap"):
        await bus.publish(names.infer, "work", _msg("x" * settings.max_message_bytes))


async def test_an_over_cap_message_is_dead_lettered_whole(bus, names, settings):
    # The consumer refuses it for its size; the dead-letter copy must not be refused the same
    # way (a requeue loop on a queue with no delivery limit would spin forever).
    queue = names.reply_queue("test", "big")
    await bus.declare([*topology.base(names), topology.reply_queue(queue)])
    dead = await collect(bus, names.dead)

    async def refuse(delivery):
        await dead_letter(bus, names, delivery, "body: over the cap")

    await bus.consume(queue, refuse, prefetch=1)
    big = _msg("x" * (settings.max_message_bytes + 10))
    await bus.publish("", queue, big, cap=False)
    await eventually(lambda: len(dead) == 1)
    assert dead[0].message.body == big.body
