"""Posts (infra/posts.py) and the gateway's post consumer (transports/base.py), on both buses.

Each test drives a real :class:`Gateway` with a transport that records what it is given, and
publishes through :class:`Poster` (or as a core's reply to a scheduled prompt would come).
"""

from __future__ import annotations

import asyncio
from typing import ClassVar

import pytest

from botwerk.cores.bot import Bot, Context, command
from botwerk.cores.runtime import Core
from botwerk.infra import topology
from botwerk.infra.bus import Delivery, Outgoing, dead_reason, now_ms
from botwerk.infra.errors import NotConnected, TooLarge
from botwerk.infra.posts import NoPostQueue, Poster
from botwerk.schemas import Inbound, Reply, User
from botwerk.transports import base
from botwerk.transports.base import Gateway
from tests.support.waiting import eventually

pytestmark = pytest.mark.broker


class Recorder:
    """A transport that keeps what it is sent; ``failures`` sends fail first (platform down)."""

    name: ClassVar[str] = "rec"
    max_text: ClassVar[int | None] = None
    recoverable_errors: ClassVar[tuple[type[BaseException], ...]] = ()

    def __init__(self, failures: int = 0) -> None:
        self.sent: list[Reply] = []
        self.failures = failures

    async def run(self, gateway: Gateway) -> None:
        await asyncio.Event().wait()

    async def send(self, reply: Reply) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("the platform is down")
        self.sent.append(reply)

    async def stop(self) -> None:
        pass


@pytest.fixture
async def gateway(bus, settings):
    gateway = Gateway(bus, settings, Recorder(), bot="demo")
    await gateway.start()
    yield gateway
    await gateway.stop()


async def settle() -> None:
    """Time for a stray second delivery to show up, had it been let through."""
    await asyncio.sleep(0.3)


async def test_a_post_reaches_its_transport_once_and_is_no_reply(bus, settings, gateway):
    poster = Poster(bus, settings)
    message_id = await poster.post(
        bot="demo", transport="rec", conversation="#lobby", text="Good morning", thread="t1"
    )
    await eventually(lambda: gateway.transport.sent, what="the post")
    await settle()
    assert gateway.transport.sent == [
        Reply(bot="demo", conversation="#lobby", thread="t1", text="Good morning")
    ]
    assert len(message_id) == 32
    assert gateway.stats["posted"] == 1
    # Not taken for a reply: no timer, nothing "delivered" or late, no "took too long".
    assert not gateway._pending and gateway.stats["delivered"] == gateway.stats["timeout"] == 0


async def test_a_duplicate_post_is_dropped_by_its_message_id(bus, settings, gateway):
    """Guards the dedup: a post published twice (a retried ``post``) is shown once."""
    poster = Poster(bus, settings)
    for _ in range(2):
        await poster.post(
            bot="demo", transport="rec", conversation="C1", text="hi", message_id="m1"
        )
    await poster.post(bot="demo", transport="rec", conversation="C1", text="other")
    await eventually(
        lambda: gateway.stats["duplicate_posts"] == 1 and len(gateway.transport.sent) == 2
    )
    await settle()
    assert [r.text for r in gateway.transport.sent] == ["hi", "other"]


async def test_a_scheduled_prompts_answer_lands_once_even_when_answered_twice(
    bus, settings, gateway
):
    """A core's reply to an inbound message whose ``reply_to`` is the post queue is a post; two
    answers to one prompt (a redelivery) share the ``correlation_id`` and show once."""
    names = topology.Names(settings.namespace)
    for _ in range(2):
        answer = Reply(bot="billybard", conversation="#poetry", text="Good morning, dew")
        message = Outgoing.of(answer, correlation_id="prompt-1")  # a new message_id each time
        await bus.publish(names.replies, names.post_queue("rec"), message, mandatory=True)
    await eventually(lambda: gateway.stats["duplicate_posts"] == 1)
    assert [r.text for r in gateway.transport.sent] == ["Good morning, dew"]


async def test_a_failed_send_is_requeued_and_delivered_later(bus, settings, monkeypatch):
    monkeypatch.setattr(base, "POST_RETRY_S", 0.05)
    gateway = Gateway(bus, settings, Recorder(failures=2), bot="demo")
    await gateway.start()
    try:
        await Poster(bus, settings).post(bot="demo", transport="rec", conversation="C", text="x")
        await eventually(lambda: gateway.transport.sent, what="the post, third time lucky")
    finally:
        await gateway.stop()
    assert gateway.stats["failed_posts"] == 2 and gateway.stats["posted"] == 1


async def test_a_post_whose_ttl_passes_while_no_transport_runs_is_gone(bus, settings):
    """Both buses drop it at its ``expiration`` (into ``{ns}.dead``, reason ``expired``). The
    post sent beside it with the default TTL arrives: the control that the short TTL is what
    removed the first."""
    names = topology.Names(settings.namespace)
    await bus.declare(topology.for_posts(names, "rec", topology.limits_of(settings)))
    dead: list[Delivery] = []

    async def keep(delivery: Delivery) -> None:
        dead.append(delivery)
        delivery.ack()

    await bus.consume(names.dead, keep, prefetch=10)
    poster = Poster(bus, settings)
    await poster.post(bot="demo", transport="rec", conversation="C", text="stale", ttl_s=0.3)
    await poster.post(bot="demo", transport="rec", conversation="C", text="fresh")
    await asyncio.sleep(0.6)
    gateway = Gateway(bus, settings, Recorder(), bot="demo")
    await gateway.start()
    try:
        await eventually(lambda: gateway.transport.sent, what="the fresh post")
        await settle()
    finally:
        await gateway.stop()
    assert [r.text for r in gateway.transport.sent] == ["fresh"]
    assert gateway.stats["expired_posts"] == 0  # the queue dropped it, not the gateway
    await eventually(lambda: dead, what="the expired post in the dead letters")
    assert dead_reason(dead[0].headers) == "expired"


async def test_a_post_past_its_deadline_is_dropped_by_the_gateway(bus, settings, gateway):
    """Guards the gateway's own check: a post redelivered (or copied) after its
    ``x-botwerk-deadline`` with no TTL left on it is not shown."""
    names = topology.Names(settings.namespace)
    late = Outgoing.of(Reply(bot="demo", conversation="C", text="late"), deadline_ms=now_ms() - 1)
    await bus.publish(names.replies, names.post_queue("rec"), late, mandatory=True)
    await eventually(lambda: gateway.stats["expired_posts"] == 1)
    assert gateway.transport.sent == []


async def test_a_post_to_an_unknown_transport_says_how_to_fix_it(bus, settings):
    await bus.declare(topology.base(topology.Names(settings.namespace)))
    with pytest.raises(NoPostQueue) as caught:
        await Poster(bus, settings).post(bot="demo", transport="smoke", conversation="C", text="x")
    said = str(caught.value)
    assert f"{settings.namespace}.post.smoke does not exist" in said
    assert "`botwerk broker setup`" in said and "`botwerk transport smoke`" in said


async def test_bad_posts_are_refused_before_publishing(bus, settings):
    poster = Poster(bus, settings)
    with pytest.raises(ValueError, match="text must not be empty"):
        await poster.post(bot="demo", transport="rec", conversation="C", text="  ")
    with pytest.raises(ValueError, match="ttl_s 0"):
        await poster.post(bot="demo", transport="rec", conversation="C", text="x", ttl_s=0)
    big = "x" * (settings.max_message_bytes + 1)
    with pytest.raises(TooLarge, match=r"a post to rec C: .* over the"):
        await poster.post(bot="demo", transport="rec", conversation="C", text=big)


class Reminder(Bot):
    name = "reminder"

    @command("remind", help="post something to #lobby")
    async def remind(self, ctx: Context) -> str:
        await ctx.post(ctx.args, conversation="#lobby")
        await ctx.post(f"also here: {ctx.args}")
        return "noted"


async def test_a_bot_posts_through_its_context(bus, settings, gateway):
    """``ctx.post`` defaults to the message's own transport and conversation."""
    core = Core(bus, settings, Reminder(settings))
    await core.start()
    try:
        said = Inbound(bot="reminder", transport="rec", conversation="C9",
                       user=User(id="U1"), text="remind tea")  # fmt: skip
        answer = await core.answer(said, deadline_ms=2**41)
        await eventually(lambda: len(gateway.transport.sent) == 2, what="both posts")
    finally:
        await core.stop()
    assert answer.text == "noted"
    got = sorted((r.conversation, r.text, r.bot) for r in gateway.transport.sent)
    assert got == [("#lobby", "tea", "reminder"), ("C9", "also here: tea", "reminder")]


async def test_a_context_outside_a_core_cannot_post():
    said = Inbound(bot="b", transport="rec", conversation="C", user=User(id="U"), text="x")
    with pytest.raises(NotConnected, match="run the bot in a core"):
        await Context(said, 0).post("hello")
