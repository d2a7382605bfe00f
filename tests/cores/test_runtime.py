"""The core role on both buses: answers, and a clear sentence for every kind of failure."""

from __future__ import annotations

import pytest

from botwerk.cores.bot import command
from botwerk.cores.demo import DemoBot
from botwerk.cores.runtime import MODELS_META, Core
from botwerk.infra import messages, topology
from botwerk.infra.bus import Outgoing, dead_reason, now_ms
from botwerk.schemas import Inbound, User
from botwerk.testing import ChatClient
from botwerk.workers.echo.serve import EchoModel
from botwerk.workers.runtime import Worker
from tests.support.waiting import collect, eventually

pytestmark = pytest.mark.broker


@pytest.fixture
async def core(bus, settings):
    core = Core(bus, settings, DemoBot(settings))
    await core.start()
    yield core
    await core.stop()


@pytest.fixture
async def worker(bus, settings):
    worker = Worker(bus, settings, EchoModel(settings, "echo"))
    await worker.start()
    yield worker
    await worker.stop()


async def test_demo_echoes_through_the_worker(bus, settings, core, worker):
    async with ChatClient(bus, settings) as chat:
        reply = await chat.ask("hello mesh")
    assert (reply.text, reply.error, reply.bot) == ("echo: hello mesh", None, "demo")


async def test_a_reply_names_the_model_versions_that_made_it(bus, settings, core, worker):
    async with ChatClient(bus, settings) as chat:
        answered = await chat.ask("hello mesh")
        own = await chat.ask("ping")  # the demo bot answers this itself, no model asked
    assert answered.meta[MODELS_META] == "echo@1"
    assert MODELS_META not in own.meta and own.text


async def test_reply_goes_back_to_the_conversation_and_thread(bus, settings, core, worker):
    names = topology.Names(settings.namespace)
    queue = names.reply_queue("transport", "t")
    await bus.declare(topology.for_replies(names, queue))
    got = await collect(bus, queue)
    inbound = Inbound(
        bot="demo",
        transport="slack",
        conversation="C9",
        thread="17.1",
        meta={"team": "T1"},
        user=User(id="u"),
        text="ping",
    )
    sent = Outgoing.of(inbound, reply_to=queue, trace="tr", deadline_ms=now_ms() + 5000)
    await bus.publish(names.inbound, "demo.slack", sent)
    await eventually(lambda: len(got) == 1)
    assert got[0].message.correlation_id == sent.message_id
    assert got[0].trace == "tr"
    from botwerk.schemas import decode

    reply = decode(got[0].message.body, got[0].message.type)
    assert (reply.conversation, reply.thread, reply.text) == ("C9", "17.1", "pong")
    assert reply.meta == {"team": "T1"}


async def test_an_answer_to_a_post_queue_expires_with_its_prompt_a_reply_does_not(
    bus, settings, core
):
    """A scheduled prompt's answer waits in a transport's post queue, maybe for a transport
    that is down: it carries the prompt's deadline as its time to live. A reply to a caller's
    own reply queue does not (its caller keeps its own deadline and tells a late user)."""
    names = topology.Names(settings.namespace)
    limits = topology.limits_of(settings)
    await bus.declare(topology.for_posts(names, "web", limits))
    replies = names.reply_queue("transport", "t")
    await bus.declare(topology.for_replies(names, replies))
    posted, replied = await collect(bus, names.post_queue("web")), await collect(bus, replies)
    deadline = now_ms() + 60_000
    for reply_to in (names.post_queue("web"), replies):
        inbound = Inbound(bot="demo", transport="web", conversation="#lobby",
                          user=User(id="schedule:s"), text="ping")  # fmt: skip
        sent = Outgoing.of(inbound, reply_to=reply_to, deadline_ms=deadline)
        await bus.publish(names.inbound, "demo.web", sent)
    await eventually(lambda: len(posted) == len(replied) == 1)
    post, reply = posted[0], replied[0]
    assert post.deadline_ms == deadline
    assert post.message.expiration_ms is not None
    assert 50_000 < post.message.expiration_ms <= 60_000
    assert reply.deadline_ms is None and reply.message.expiration_ms is None


async def test_no_worker_gives_a_sentence_naming_the_model(bus, settings, core):
    async with ChatClient(bus, settings) as chat:
        reply = await chat.ask("hello?")
    assert reply.error == "no_worker"
    assert reply.text == messages.NO_WORKER.format(model="echo")


async def test_model_failure_gives_an_error_reply(bus, settings, core, worker):
    async with ChatClient(bus, settings) as chat:
        reply = await chat.ask("fail now")
        after = await chat.ask("still there?")
    assert (reply.error, reply.text) == ("model_error", messages.MODEL_FAILED)
    assert after.text == "echo: still there?"


async def test_slow_model_gives_took_too_long_before_the_deadline(bus, settings, core, worker):
    quick = settings.model_copy(update={"deadline_ms": 1000})
    async with ChatClient(bus, quick) as chat:
        reply = await chat.ask("slow 3000 zzz")
        assert (reply.error, reply.text) == ("timeout", messages.TOOK_TOO_LONG)
    assert len(chat.replies) == 1  # the core's apology, not also the gateway's


async def test_a_bug_in_the_bot_is_an_internal_error_reply(
    bus, settings, core, worker, monkeypatch
):
    @command("ping", help="broken on purpose")
    async def broken(self, ctx):
        raise KeyError("oops")

    monkeypatch.setattr(DemoBot, "ping", broken)
    core.bot = DemoBot(settings)
    async with ChatClient(bus, settings) as chat:
        reply = await chat.ask("ping")
    assert (reply.error, reply.text) == ("internal", messages.INTERNAL)


async def test_expired_and_unanswerable_messages_are_dead_lettered(bus, settings, core):
    names = topology.Names(settings.namespace)
    dead = await collect(bus, names.dead)
    inbound = Inbound(bot="demo", transport="t", conversation="c", user=User(id="u"), text="ping")
    await bus.publish(
        names.inbound, "demo.t", Outgoing.of(inbound, reply_to="q", deadline_ms=now_ms() - 1)
    )
    await bus.publish(names.inbound, "demo.t", Outgoing.of(inbound, deadline_ms=now_ms() + 5000))
    await bus.publish(names.inbound, "demo.t", Outgoing.of(inbound, reply_to="q"))
    await eventually(lambda: len(dead) == 3)
    assert sorted(dead_reason(d.headers) for d in dead) == [
        "deadline passed before the core started",
        "inbound message without a valid x-botwerk-deadline (an integer of epoch milliseconds)",
        "inbound message without reply_to: nowhere to answer",
    ]


async def test_a_request_the_broker_refuses_dead_letters_its_message_alone(rabbit_bus, settings):
    """The broker refusing what one message caused costs that message, not the core's others."""
    names = topology.Names(settings.namespace)
    core = Core(rabbit_bus, settings, DemoBot(settings))
    await core.start()
    try:
        dead = await collect(rabbit_bus, names.dead)
        await rabbit_bus.delete_exchange(names.infer)  # the echo request now gets 404 NOT_FOUND
        inbound = Inbound(bot="demo", transport="t", conversation="c", user=User(id="u"), text="hi")
        sent = Outgoing.of(inbound, reply_to="q", deadline_ms=now_ms() + 5000)
        await rabbit_bus.publish(names.inbound, "demo.t", sent)
        await eventually(lambda: len(dead) == 1, what="the refused message's dead letter")
        assert dead[0].message.message_id == sent.message_id
        assert dead_reason(dead[0].headers).startswith("the broker refused a request it caused")
        async with ChatClient(rabbit_bus, settings) as chat:
            assert (await chat.ask("ping")).text == "pong"  # the core serves on
    finally:
        await core.stop()
