"""RabbitMQ-only behaviour: reconnecting, redeclaring, restarting consumers, clear errors."""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import urlsplit

import pytest

from botwerk.infra import topology
from botwerk.infra.bus import Outgoing
from botwerk.infra.errors import BrokerUnreachable, BusError, PublishFailed
from botwerk.infra.rabbit import RabbitBus
from botwerk.schemas import Reply
from tests.support.proxy import FaultProxy
from tests.support.waiting import eventually

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
