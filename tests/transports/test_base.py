"""The gateway every transport shares, on both buses: dedup, deadlines, reconnects."""

from __future__ import annotations

import asyncio

import pytest

from botwerk.cores.demo import DemoBot
from botwerk.cores.runtime import Core
from botwerk.infra import messages, topology
from botwerk.infra.bus import Outgoing
from botwerk.infra.rabbit import RabbitBus
from botwerk.schemas import Inbound, Reply
from botwerk.testing import ChatClient
from botwerk.transports.base import serve_forever
from botwerk.workers.echo.serve import EchoModel
from botwerk.workers.runtime import Worker
from tests.support.nacks import drop_first, fill
from tests.support.proxy import FaultProxy
from tests.support.waiting import eventually

pytestmark = pytest.mark.broker


@pytest.fixture
async def mesh(bus, settings):
    roles = [Worker(bus, settings, EchoModel(settings)), Core(bus, settings, DemoBot(settings))]
    for role in roles:
        await role.start()
    yield
    for role in reversed(roles):
        await role.stop()


async def test_a_platform_event_seen_twice_is_answered_once(bus, settings, mesh):
    async with ChatClient(bus, settings) as chat:
        first = await chat.submit("hello", event_id="Ev1")
        assert (
            await chat.gateway.submit(
                conversation="x", user=chat_user(), text="hello", event_id="Ev1"
            )
            is None
        )
        await first
        await asyncio.sleep(0.2)
    assert [r.text for r in chat.replies] == ["echo: hello"]


def chat_user():
    from botwerk.schemas import User

    return User(id="u")


async def test_a_duplicate_reply_is_delivered_once(bus, settings, mesh):
    names = topology.Names(settings.namespace)
    async with ChatClient(bus, settings) as chat:
        answer = await chat.submit("ping")
        await answer
        # The same reply again, as after a core died between publishing and acking.
        message_id = next(iter(chat.gateway._answered._ids))
        again = Outgoing.of(
            Reply(bot="demo", conversation="c0", text="pong"), correlation_id=message_id
        )
        await bus.publish(chat.gateway.names.replies, chat.gateway.replies.queue, again)
        await asyncio.sleep(0.3)
    assert [r.text for r in chat.replies] == ["pong"]
    assert names  # namespace in use


async def test_no_reply_by_the_deadline_gets_one_took_too_long(bus, settings):
    quick = settings.model_copy(update={"deadline_ms": 400})
    names = topology.Names(settings.namespace)
    await bus.declare(topology.for_core(names, "demo", topology.Limits()))  # a queue, no core
    async with ChatClient(bus, quick) as chat:
        reply = await chat.ask("anyone?")
        await asyncio.sleep(0.3)
    assert (reply.error, reply.text) == ("timeout", messages.TOOK_TOO_LONG)
    assert len(chat.replies) == 1


async def test_a_message_asked_again_goes_until_its_queue_takes_it(bus, settings):
    """The gateway's reply queue moved (its cluster node died): each waiting message is sent
    again naming the new queue. The core's queue may nack that copy (a quorum queue whose
    leader died with the node nacks until a new one is elected; here it is full, which nacks
    the same way): it goes again until the queue takes it. Given up after one nack, as before,
    the user heard "took too long" (the cluster kill row lost 64 so, 1 run in about 10)."""
    settings = settings.model_copy(update={"max_queue_length": 1})
    names = topology.Names(settings.namespace)
    await bus.declare(topology.for_core(names, "demo", topology.limits_of(settings)))
    async with ChatClient(bus, settings) as chat:
        answer = await chat.submit("are you there?")
        filler = Inbound(bot="demo", transport="test", conversation="f", user=chat_user(),
                         text="filler", sent_at=0)  # fmt: skip
        ahead = await fill(bus, names.inbound, "demo.test", Outgoing.of(filler))
        chat.gateway.replies.on_moved()  # as the bus does when the reply queue moved
        await asyncio.sleep(0.5)  # the copy is nacked meanwhile
        await drop_first(bus, names.core_queue("demo"), ahead)
        roles = [Worker(bus, settings, EchoModel(settings)), Core(bus, settings, DemoBot(settings))]
        for role in roles:
            await role.start()
        reply = await answer
        for role in reversed(roles):
            await role.stop()
    assert (reply.error, reply.text) == (None, "echo: are you there?")
    assert chat.gateway.stats["asked_again"] == 1


async def test_a_message_nacked_just_after_a_reconnect_goes_until_its_queue_takes_it(settings):
    """Just after the gateway's bus lost the broker (a node lost), a nack means the core's
    quorum queue electing a new leader more likely than a full queue: the message goes again
    until the queue takes it (here the queue is full, which nacks alike). Before, its user
    heard "busy" at once; a gateway that never lost the broker still says so (the burst row of
    the fault suite)."""
    settings = settings.model_copy(update={"max_queue_length": 1})
    names = topology.Names(settings.namespace)
    proxy = FaultProxy("127.0.0.1", 5672).start()
    bus = RabbitBus(settings.model_copy(update={"amqp_url": proxy.url_for(settings.amqp_url)}))
    await bus.start(timeout=10)
    try:
        await bus.declare(topology.for_core(names, "demo", topology.limits_of(settings)))
        async with ChatClient(bus, settings) as chat:
            filler = Inbound(bot="demo", transport="test", conversation="f", user=chat_user(),
                             text="filler", sent_at=0)  # fmt: skip
            await bus.publish(names.inbound, "demo.test", Outgoing.of(filler))
            ahead = await fill(bus, names.inbound, "demo.test", Outgoing.of(filler))
            before = bus.connected_at
            proxy.reset()
            await eventually(lambda: bus.connected and bus.connected_at != before, timeout=10)
            answer = await chat.submit("are you there?")
            await asyncio.sleep(0.5)  # nacked meanwhile
            assert not answer.done(), answer.result()  # not "busy" at once
            await drop_first(bus, names.core_queue("demo"), ahead)
            roles = [
                Worker(bus, settings, EchoModel(settings)), Core(bus, settings, DemoBot(settings))
            ]  # fmt: skip
            for role in roles:
                await role.start()
            reply = await answer
            for role in reversed(roles):
                await role.stop()
    finally:
        await bus.close()
        proxy.close()
    assert (reply.error, reply.text) == (None, "echo: are you there?")


async def test_a_bot_with_no_core_is_said_at_once(bus, settings):
    async with ChatClient(bus, settings, bot="nobody") as chat:
        reply = await chat.ask("hello?")
    assert reply.error == "no_worker"
    assert reply.text == messages.NO_CORE.format(bot="nobody")


async def test_drain_waits_for_outstanding_replies(bus, settings, mesh):
    async with ChatClient(bus, settings) as chat:
        for i in range(5):
            await chat.submit(f"slow 100 m{i}")
        await chat.gateway.drain()
        assert sorted(r.text for r in chat.replies) == [f"echo: m{i}" for i in range(5)]


class Flaky:
    name = "flaky"
    max_text = None
    recoverable_errors = (ConnectionError,)

    def __init__(self):
        self.runs = 0

    async def run(self, gateway):
        self.runs += 1
        if self.runs < 3:
            raise ConnectionError("platform went away")

    async def send(self, reply):
        pass

    async def stop(self):
        pass


async def test_serve_forever_reconnects_after_recoverable_errors(settings):
    transport = Flaky()
    await asyncio.wait_for(serve_forever(transport, None, settings), timeout=10)
    assert transport.runs == 3


async def test_serve_forever_lets_other_errors_through(settings):
    class Broken(Flaky):
        async def run(self, gateway):
            raise ValueError("a bug, not a network problem")

    with pytest.raises(ValueError):
        await serve_forever(Broken(), None, settings)
    await eventually(lambda: True)


async def test_a_message_over_the_cap_is_answered_too_long(bus, settings, mesh):
    async with ChatClient(bus, settings) as chat:
        reply = await chat.ask("x" * settings.max_message_bytes)
    assert (reply.error, reply.text) == ("bad_request", messages.MESSAGE_TOO_LONG)
