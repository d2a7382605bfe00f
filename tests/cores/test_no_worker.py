"""A bot whose model is not running says so at once, in the core's one sentence for it.

Issue 14: with the chat worker down, moviebot waited the whole deadline and then said "I lost
my line: that took too long". The model's queue exists (an earlier worker declared it) and
nobody consumes it; the core now tells its user at once (:class:`botwerk.infra.rpc.Presence`).
"""

from __future__ import annotations

import asyncio
import time

import pytest

from botwerk.cores import DEMO_BOTS
from botwerk.cores.bot import build_bot
from botwerk.cores.runtime import Core
from botwerk.infra import messages, topology
from botwerk.infra.memory import MemoryBus
from botwerk.testing import ChatClient, admin

pytestmark = pytest.mark.broker

# What each bot is asked, so that it asks its model (not one of its own commands).
QUESTIONS = {
    "billybard": "To be, or not to be",
    "annalogue": "king - man + woman",
    "moviebot": "hi, how are you?",
    "demo": "hello?",
}


def model_of(bot) -> str:
    config = getattr(bot, "config", None)
    return config.model if config is not None else "echo"  # the demo bot has no options


@pytest.mark.parametrize("name", DEMO_BOTS)
async def test_every_demo_bot_says_its_model_is_not_running(settings, name):
    bus = MemoryBus(settings.max_message_bytes)
    await bus.start()
    bot = build_bot(settings, name)
    names = topology.Names(settings.namespace)
    await bus.declare(topology.base(names))
    model = model_of(bot)
    await bus.declare(topology.for_worker(names, model, topology.Limits()))  # nobody serves it
    core = Core(bus, settings.model_copy(update={"deadline_ms": 30_000}), bot)
    await core.start()
    try:
        async with ChatClient(bus, settings, bot=name) as chat:
            started = time.monotonic()
            reply = await chat.ask(QUESTIONS[name])
            elapsed = time.monotonic() - started
    finally:
        await core.stop()
        await bus.close()
    assert (reply.error, reply.text) == ("no_worker", messages.NO_WORKER.format(model=model))
    assert elapsed < 1.0


@pytest.mark.slow
async def test_a_moviebot_core_process_without_its_chat_worker_says_so_at_once(
    processes, amqp_url, settings, rabbit_bus
):
    names = topology.Names(settings.namespace)
    await rabbit_bus.declare(topology.base(names))
    await rabbit_bus.declare(topology.for_worker(names, "chat", topology.Limits()))  # no worker
    processes.start("core", "moviebot")
    await asyncio.to_thread(admin.wait_for_consumers, amqp_url, names.core_queue("moviebot"))
    patient = settings.model_copy(update={"deadline_ms": 30_000})
    async with ChatClient(rabbit_bus, patient, bot="moviebot") as chat:
        started = time.monotonic()
        reply = await chat.ask("hi, how are you?")
        elapsed = time.monotonic() - started
    assert reply.text == "The chat model isn't running right now, so I can't answer that."
    assert reply.error == "no_worker" and elapsed < 2.0
