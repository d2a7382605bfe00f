"""Reminders: one-off posts a bot keeps in the state store, posted once by whichever core is up.

Real RabbitMQ (the post queue, its confirms) and the in-process store; the Redis store's own
contract is tests/infra/test_state.py's.
"""

from __future__ import annotations

import asyncio
import re

import pytest

from botwerk.cores.demo import DemoBot
from botwerk.cores.runtime import Core
from botwerk.infra import topology
from botwerk.infra.bus import Delivery
from botwerk.infra.posts import Poster
from botwerk.infra.reminders import Reminders, TooManyReminders
from botwerk.infra.state import MemoryStore
from botwerk.schemas import Reply, decode
from botwerk.testing import ChatClient
from tests.support.waiting import collect, eventually

pytestmark = pytest.mark.broker


@pytest.fixture
async def posts(rabbit_bus, settings) -> list[Delivery]:
    """What reaches the console's post queue, as a console transport would take it."""
    names = topology.Names(settings.namespace)
    await rabbit_bus.declare(topology.for_posts(names, "console", topology.limits_of(settings)))
    return await collect(rabbit_bus, names.post_queue("console"))


def _reminders(bus, settings, store, **kwargs) -> Reminders:
    return Reminders(store, Poster(bus, settings), "demo", **kwargs)


def _texts(deliveries: list[Delivery]) -> list[str]:
    return [decode(d.message.body, d.message.type, expect=(Reply,)).text for d in deliveries]


async def test_a_due_reminder_is_posted_once_with_its_own_id(rabbit_bus, settings, posts):
    store = MemoryStore(settings.namespace)
    reminders = _reminders(rabbit_bus, settings, store)
    await reminders.add(0.2, "stretch", transport="console", conversation="c1")
    (entry,) = await reminders.pending()
    assert await reminders.fire_due() == 0  # not yet due
    await asyncio.sleep(0.25)
    assert await reminders.fire_due() == 1
    assert await reminders.fire_due() == 0  # taken off the list: never twice
    await eventually(lambda: len(posts) == 1, what="the post")
    assert _texts(posts) == ["stretch"]
    # the reminder's id is the post's: a transport drops a second copy of it
    assert posts[0].message.message_id == entry["id"]
    assert await reminders.pending() == []


async def test_two_cores_sharing_the_store_post_a_reminder_once(rabbit_bus, settings, posts):
    """Without the claim both cores would post every due reminder (the negative control:
    two stores of their own, each with the reminder, post it twice)."""
    shared = f"reminders-{settings.namespace}"
    one, two = (
        _reminders(rabbit_bus, settings, MemoryStore(settings.namespace, shared)) for _ in range(2)
    )
    for n in range(5):
        await one.add(0, f"r{n}", transport="console", conversation="c1")
    fired = await asyncio.gather(one.fire_due(), two.fire_due(), one.fire_due(), two.fire_due())
    assert sum(fired) == 5
    await eventually(lambda: len(posts) == 5, what="five posts")
    await asyncio.sleep(0.2)
    assert sorted(_texts(posts)) == [f"r{n}" for n in range(5)]

    apart = [_reminders(rabbit_bus, settings, MemoryStore(settings.namespace)) for _ in range(2)]
    for reminders in apart:
        await reminders.add(0, "twice", transport="console", conversation="c1")
    assert sum(await asyncio.gather(*(r.fire_due() for r in apart))) == 2


async def test_a_claim_left_by_a_dead_core_expires_and_another_core_posts(
    rabbit_bus, settings, posts
):
    store = MemoryStore(settings.namespace)
    reminders = _reminders(rabbit_bus, settings, store, claim_ttl_s=0.3)
    await reminders.add(0, "late but sent", transport="console", conversation="c1")
    (entry,) = await reminders.pending()
    await store.add(f"reminder:{entry['id']}", 1, 0.3)  # a core claimed it, then died
    assert await reminders.fire_due() == 0
    await asyncio.sleep(0.35)
    assert await reminders.fire_due() == 1
    await eventually(lambda: _texts(posts) == ["late but sent"], what="the post")


async def test_what_can_never_be_posted_is_dropped_not_retried(rabbit_bus, settings, posts):
    store = MemoryStore(settings.namespace)
    clock = [1_000.0]
    reminders = _reminders(rabbit_bus, settings, store, clock=lambda: clock[0])
    await reminders.add(0, "to nowhere", transport="no-such-kind", conversation="c1")
    await reminders.add(0, "too late", transport="console", conversation="c1")
    clock[0] += settings.post_ttl_s + 1  # no core ran for longer than a post may wait
    await reminders.add(0, "on time", transport="console", conversation="c1")
    assert await reminders.fire_due() == 1
    assert await reminders.pending() == []
    await eventually(lambda: _texts(posts) == ["on time"], what="the one post")


async def test_bad_reminders_are_refused(rabbit_bus, settings, monkeypatch):
    reminders = _reminders(rabbit_bus, settings, MemoryStore(settings.namespace))
    with pytest.raises(ValueError, match="delay"):
        await reminders.add(-1, "x", transport="console", conversation="c1")
    with pytest.raises(ValueError, match="empty"):
        await reminders.add(1, "  ", transport="console", conversation="c1")
    monkeypatch.setattr("botwerk.infra.reminders.MAX_PENDING", 2)
    for _ in range(2):
        await reminders.add(60, "x", transport="console", conversation="c1")
    with pytest.raises(TooManyReminders, match="2 reminders"):
        await reminders.add(60, "x", transport="console", conversation="c1")


async def test_the_demo_bot_reminds_the_user_unasked(rabbit_bus, settings):
    """`remind me in 1 second to stretch`: an answer now, and a post in the same conversation
    about a second later, through the core's reminders and the transport's post queue."""
    core = Core(rabbit_bus, settings, DemoBot(settings))
    await core.start()
    try:
        async with ChatClient(rabbit_bus, settings) as chat:
            answer = await chat.ask("remind me in 1 second to stretch")
            assert re.fullmatch(
                r"OK: in 1 second \(at \d\d:\d\d UTC\) I'll say it here\.", answer.text
            )
            await eventually(lambda: len(chat.replies) == 2, timeout=10, what="the reminder")
            posted = chat.replies[1]
            assert posted.text == "Reminder for Tester: stretch"
            assert posted.conversation == answer.conversation
            assert (await chat.ask("remind me tomorrow")).text.startswith("Usage: remind")
    finally:
        await core.stop()
