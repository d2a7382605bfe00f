"""RabbitMQ-only behaviour: reconnecting, redeclaring, restarting consumers, clear errors."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from urllib.parse import urlsplit

import pika
import pytest

from botwerk.infra import topology
from botwerk.infra.amqp import MAX_EXPIRATION_MS, STALL_S
from botwerk.infra.bus import Outgoing, dead_letter
from botwerk.infra.errors import BrokerUnreachable, BusError, PublishFailed, PublishRefused
from botwerk.infra.rabbit import RabbitBus
from botwerk.schemas import Reply
from tests.support.proxy import FaultProxy
from tests.support.waiting import collect, eventually

pytestmark = pytest.mark.broker


def _msg(text: str) -> Outgoing:
    return Outgoing.of(Reply(bot="b", conversation="c", text=text))


@pytest.fixture
async def proxied(amqp_url, settings):
    parts = urlsplit(amqp_url)
    proxy = FaultProxy(parts.hostname or "127.0.0.1", parts.port or 5672).start()
    bus = RabbitBus(
        settings.model_copy(update={"amqp_url": proxy.url_for(amqp_url)}), name="proxied"
    )
    await bus.start(timeout=10)
    yield bus, proxy
    await bus.close()
    proxy.close()


async def test_reconnects_redeclares_and_resumes_consuming_after_a_cut(proxied, settings):
    bus, proxy = proxied
    names = topology.Names(settings.namespace)
    await bus.declare(topology.for_worker(names, "m", topology.Limits()))
    got: list[str] = []

    async def keep(delivery):
        got.append(delivery.message.message_id)
        delivery.ack()

    await bus.consume(names.infer_queue("m"), keep, prefetch=10)
    before = _msg("before")
    await bus.publish(names.infer, "m", before)
    await eventually(lambda: got == [before.message_id])

    proxy.reset()
    await eventually(lambda: not bus.connected, timeout=5)
    await eventually(lambda: bus.connected, timeout=10)
    assert proxy.connections == 2

    after = _msg("after")
    await bus.publish(names.infer, "m", after)
    # An ack still in the socket buffer at the cut is lost with it: "before" may come twice
    # (at least once), "after" must come.
    await eventually(lambda: after.message_id in got)


async def test_publishes_in_flight_during_a_cut_are_confirmed_after_reconnecting(proxied, settings):
    bus, proxy = proxied
    names = topology.Names(settings.namespace)
    await bus.declare(topology.for_worker(names, "m", topology.Limits()))
    ids: set[str] = set()

    async def keep(delivery):
        ids.add(delivery.message.message_id)
        delivery.ack()

    await bus.consume(names.infer_queue("m"), keep, prefetch=100)
    messages = [_msg(str(i)) for i in range(200)]
    publishing = asyncio.gather(*(bus.publish(names.infer, "m", m) for m in messages))
    await asyncio.sleep(0.01)
    proxy.reset()
    await publishing  # each either confirmed before the cut or published again after it
    await eventually(lambda: ids >= {m.message_id for m in messages}, timeout=15)


async def test_a_queue_deleted_under_its_consumer_is_redeclared(rabbit_bus, settings, caplog):
    names = topology.Names(settings.namespace)
    await rabbit_bus.declare(topology.for_worker(names, "m", topology.Limits()))
    got: list[str] = []

    async def keep(delivery):
        got.append(delivery.message.message_id)
        delivery.ack()

    await rabbit_bus.consume(names.infer_queue("m"), keep, prefetch=10)
    other = RabbitBus(settings, name="vandal")
    await other.start(timeout=10)
    with caplog.at_level(logging.WARNING, logger="botwerk.rabbit"):
        await other.delete_queue(names.infer_queue("m"))
        await other.close()
        await eventually(lambda: "restarted" in caplog.text or "lost" in caplog.text, timeout=10)
    await asyncio.sleep(1.0)  # the consumer restarts: queue and binding redeclared
    await rabbit_bus.publish(names.infer, "m", _msg("back"), mandatory=True)
    await eventually(lambda: len(got) == 1, timeout=10)


async def test_an_unreachable_broker_names_the_url_and_the_fix(settings):
    bus = RabbitBus(settings.model_copy(update={"amqp_url": "amqp://guest:secret@127.0.0.1:1/"}))
    with pytest.raises(BrokerUnreachable) as caught:
        await bus.start(timeout=1.5)
    text = str(caught.value)
    assert "BOTWERK_AMQP_URL amqp://guest:***@127.0.0.1:1/ unreachable" in text
    assert "rabbitmq-server -detached" in text and "secret" not in text
    with pytest.raises(PublishFailed, match="unreachable"):
        await bus.publish("x", "y", _msg("z"), timeout=0.3)
    await bus.close()


def test_a_bus_needs_a_url(settings):
    with pytest.raises(BusError, match="BOTWERK_AMQP_URL is not set"):
        RabbitBus(settings.model_copy(update={"amqp_url": None}))


async def test_handlers_of_a_lost_channel_are_cancelled_not_finished(proxied, settings):
    bus, proxy = proxied
    names = topology.Names(settings.namespace)
    await bus.declare(topology.for_worker(names, "m", topology.Limits()))
    started, cancelled, finished = [], [], []

    async def slow(delivery):
        started.append(delivery.redelivered)
        try:
            await asyncio.sleep(2)
        except asyncio.CancelledError:
            cancelled.append(delivery.message.message_id)
            raise
        finished.append(delivery.redelivered)
        delivery.ack()

    await bus.consume(names.infer_queue("m"), slow, prefetch=1)
    await bus.publish(names.infer, "m", _msg("long job"))
    await eventually(lambda: started == [False])
    proxy.reset()
    await eventually(lambda: len(cancelled) == 1, timeout=5)
    await eventually(lambda: finished == [True], timeout=15)  # done once, on redelivery


async def test_a_publish_the_broker_refuses_fails_alone_and_costs_no_one_else(
    rabbit_bus, settings, caplog
):
    # Issue 13, defect 1: the broker closes the publish channel over one message. Before, the
    # bus dropped the connection and every consumer, and the culprit looped until its timeout.
    names = topology.Names(settings.namespace)
    await rabbit_bus.declare(topology.for_worker(names, "m", topology.Limits()))
    ids: set[str] = set()

    async def keep(delivery):
        ids.add(delivery.message.message_id)
        delivery.ack()

    await rabbit_bus.consume(names.infer_queue("m"), keep, prefetch=100)
    connection = rabbit_bus._connection
    good = [_msg(str(i)) for i in range(300)]
    with caplog.at_level(logging.INFO, logger="botwerk.rabbit"):
        outcomes = await asyncio.gather(
            *(rabbit_bus.publish(names.infer, "m", m, timeout=10) for m in good[:150]),
            rabbit_bus.publish(f"{settings.namespace}.nowhere", "m", _msg("bad"), timeout=10),
            *(rabbit_bus.publish(names.infer, "m", m, timeout=10) for m in good[150:]),
            return_exceptions=True,
        )
    refused = [o for o in outcomes if o is not None]
    assert len(refused) == 1 and isinstance(refused[0], PublishRefused), refused
    assert "NOT_FOUND" in str(refused[0]) and ".nowhere" in str(refused[0])
    await eventually(lambda: ids >= {m.message_id for m in good}, timeout=10)
    assert rabbit_bus._connection is connection and connection.is_open
    assert "lost the connection" not in caplog.text and "restarting" not in caplog.text
    await rabbit_bus.publish(names.infer, "m", _msg("after"), timeout=5)  # channel reopened


async def test_a_time_to_live_past_the_brokers_limit_is_refused_before_it_is_sent(
    rabbit_bus, settings, amqp_url
):
    names = topology.Names(settings.namespace)
    await rabbit_bus.declare(topology.for_worker(names, "m", topology.Limits()))
    connection = rabbit_bus._connection
    longest = replace(_msg("ten years"), expiration_ms=MAX_EXPIRATION_MS)
    await rabbit_bus.publish(names.infer, "m", longest, timeout=5)
    for ttl in (MAX_EXPIRATION_MS + 1, -1):
        with pytest.raises(PublishRefused, match=f"time to live of {ttl} ms is outside"):
            await rabbit_bus.publish(
                names.infer, "m", replace(_msg("x"), expiration_ms=ttl), timeout=5
            )
    await rabbit_bus.publish(names.infer, "m", _msg("still fine"), timeout=5)
    assert rabbit_bus._connection is connection

    # The limit is the broker's own: one more millisecond and it closes the channel.
    def raw(ttl: int) -> None:
        with pika.BlockingConnection(pika.URLParameters(amqp_url)) as conn:
            channel = conn.channel()
            channel.confirm_delivery()
            properties = pika.BasicProperties(expiration=str(ttl))
            channel.basic_publish(names.infer, "m", b"x", properties)

    await asyncio.to_thread(raw, MAX_EXPIRATION_MS)
    with pytest.raises(pika.exceptions.ChannelClosedByBroker, match="invalid expiration"):
        await asyncio.to_thread(raw, MAX_EXPIRATION_MS + 1)


async def test_a_delivery_of_a_closed_channel_is_not_dead_lettered(proxied, settings, caplog):
    # Issue 13, defect 6: a worker resumed after its connection died still holds deliveries
    # the broker gave to another worker; dead-lettering them would bury answered requests.
    bus, proxy = proxied
    names = topology.Names(settings.namespace)
    await bus.declare(topology.for_worker(names, "m", topology.Limits()))
    dead = await collect(bus, names.dead)
    seen: list[bool] = []

    async def too_late(delivery):
        seen.append(delivery.redelivered)
        if delivery.redelivered:
            delivery.ack()
            return
        await eventually(lambda: not delivery.live, timeout=10)
        await dead_letter(bus, names, delivery, "deadline passed before the work started")

    async def handler(delivery):
        await asyncio.shield(too_late(delivery))  # outlives the cancel, as a late handler may

    await bus.consume(names.infer_queue("m"), handler, prefetch=1)
    with caplog.at_level(logging.INFO, logger="botwerk.bus"):
        await bus.publish(names.infer, "m", _msg("held when the connection died"))
        await eventually(lambda: seen == [False])
        proxy.reset()
        await eventually(lambda: seen == [False, True], timeout=15)  # the broker redelivered it
        await eventually(lambda: "not dead-lettered" in caplog.text)
    await asyncio.sleep(0.5)
    assert dead == []


async def _publish_while(node_fault, fault_node, settings, caplog) -> list:
    """A bus on the throwaway node publishes once while ``node_fault(on)`` holds the broker back
    for STALL_S + 2 s; what the queue got.

    The publish may wait 30 s for its confirm (the settings' default), not the test settings'
    10 s: ``rabbitmqctl`` lifting the fault takes seconds of its own on a loaded machine, and
    those seconds are no part of what is under test. It runs in a thread so the bus's loop
    keeps turning meanwhile, as it would beside an operator's ``rabbitmqctl``."""
    caplog.set_level(logging.INFO, logger="botwerk.rabbit")
    patient = settings.model_copy(
        update={"amqp_url": fault_node.url, "heartbeat_s": 60, "publish_timeout_s": 30}
    )
    bus = RabbitBus(patient, name="stall test")
    await bus.start(timeout=30)
    try:
        names = topology.Names(settings.namespace)
        await bus.declare(topology.for_worker(names, "m", topology.Limits()))
        got = await collect(bus, names.infer_queue("m"))
        await bus.publish(names.infer, "m", _msg("before"))  # the publish channel is open
        node_fault(True)
        try:
            sent = asyncio.create_task(bus.publish(names.infer, "m", _msg("held")))
            await asyncio.sleep(STALL_S + 2)
        finally:
            await asyncio.to_thread(node_fault, False)
        await sent
        await eventually(lambda: len(got) >= 2)
        await asyncio.sleep(0.5)  # a second copy of "held", if one comes
        return got
    finally:
        await bus.close()


async def test_a_publish_channel_that_confirms_nothing_is_replaced_and_the_message_goes_again(
    fault_node, settings, caplog
):
    """A channel that confirms nothing (on a cluster, one that kept a dead quorum leader), played
    by a frozen node: the socket stays open and nothing answers. After STALL_S the channel is
    replaced and the message published again on the new one."""
    got = await _publish_while(
        lambda on: fault_node.pause() if on else fault_node.resume(), fault_node, settings, caplog
    )  # fmt: skip
    assert caplog.text.count("confirmed nothing for 5s (1 waiting); replacing it") == 1
    assert len(got) >= 2  # "before", and "held" at least once (twice is allowed: at least once)


async def test_a_publish_held_by_an_alarm_keeps_its_channel(fault_node, settings, caplog):
    """Negative control: a memory alarm blocks the connection (the broker says so), and every
    channel would wait alike: the channel is kept and the message is sent once."""
    got = await _publish_while(fault_node.memory_alarm, fault_node, settings, caplog)
    assert "the broker blocks this connection's publishers" in caplog.text
    assert "confirmed nothing" not in caplog.text
    assert len(got) == 2
