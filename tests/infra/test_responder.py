"""The request path Core and Worker share: checks, correlation, confirmed reply, fallback, ack."""

from __future__ import annotations

import pytest

from botwerk.infra import topology
from botwerk.infra.bus import Outgoing, dead_reason, now_ms
from botwerk.infra.errors import TooLarge
from botwerk.infra.responder import Asked, Responder
from botwerk.infra.rpc import Inbox
from botwerk.schemas import Error, InferRequest, Reply
from botwerk.schemas.messages import MAX_DEADLINE_MS
from tests.support.waiting import collect, eventually

pytestmark = pytest.mark.broker
ASKED = Asked("test request", "the test started")


@pytest.fixture
async def served(bus, settings):
    names = topology.Names(settings.namespace)
    await bus.declare(topology.for_worker(names, "m", topology.Limits(delivery_limit=2)))
    dead = await collect(bus, names.dead)
    replies: list = []

    async def keep(reply, delivery) -> None:
        replies.append((reply, delivery))

    inbox = Inbox(bus, names, names.reply_queue("test", settings.instance), keep)
    await inbox.start()
    after: list = []

    async def answer(request: InferRequest, delivery) -> Reply:
        size = int(request.inputs.get("size", 0))
        return Reply(bot="b", conversation="c", text="x" * size or "ok")

    def too_large(reply: Reply, exc: TooLarge) -> Error:
        return Error(code="model_error", message="too large", detail=str(exc))

    responder = Responder(
        bus, names, InferRequest, answer, asked=ASKED, too_large=too_large,
        persistent=False, after=lambda d: after.append(d.settled), max_bytes=4096,
    )  # fmt: skip
    await bus.consume(names.infer_queue("m"), responder.handler(), prefetch=4)

    async def ask(deadline_ms=None, reply_to=inbox.queue, **inputs) -> Outgoing:
        deadline = now_ms() + 10_000 if deadline_ms is None else deadline_ms
        message = Outgoing.of(
            InferRequest(model="m", inputs=inputs), reply_to=reply_to, deadline_ms=deadline,
            trace="t-1",
        )  # fmt: skip
        await bus.publish(names.infer, "m", message)
        return message

    return ask, replies, dead, after


async def test_the_reply_goes_to_reply_to_correlated_traced_and_before_the_ack(served):
    ask, replies, _, after = served
    sent = await ask()
    await eventually(lambda: len(replies) == 1)
    reply, delivery = replies[0]
    assert reply.text == "ok"
    assert delivery.message.correlation_id == sent.message_id
    assert delivery.trace == "t-1"
    assert delivery.message.persistent is False
    assert after == [None]  # `after` ran once the reply was confirmed, before the ack


async def test_a_reply_over_the_cap_becomes_the_fallback(served, settings):
    ask, replies, _, _ = served
    await ask(size=settings.max_message_bytes)
    await eventually(lambda: len(replies) == 1)
    assert isinstance(replies[0][0], Error)
    assert replies[0][0].message == "too large"


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"reply_to": None}, "test request without reply_to: nowhere to answer"),
        ({"deadline_ms": 1}, "deadline passed before the test started"),
    ],
)
async def test_unanswerable_requests_are_dead_lettered_unstarted(served, kwargs, reason):
    ask, replies, dead, after = served
    await ask(**kwargs)
    await eventually(lambda: len(dead) == 1)
    assert dead_reason(dead[0].headers) == reason
    assert replies == [] and after == []


async def test_a_deadline_more_than_an_hour_ahead_is_refused_with_its_reason(served):
    # Issue 13, defect 1: ten years ahead made the core publish a TTL RabbitMQ refuses.
    ask, replies, dead, _ = served
    await ask(deadline_ms=now_ms() + 10 * 365 * 86_400_000)
    await ask(deadline_ms=now_ms() + MAX_DEADLINE_MS - 60_000)  # an hour is still fine
    await eventually(lambda: len(dead) == 1 and len(replies) == 1)
    reason = dead_reason(dead[0].headers)
    assert reason.startswith("test request whose x-botwerk-deadline lies 876")
    assert "hours ahead, over the 1 hour maximum" in reason
    assert "epoch milliseconds" in reason
    assert replies[0][0].text == "ok"


async def test_a_reply_no_queue_takes_is_dead_lettered_not_acked_as_answered(served):
    # Before replies were mandatory the broker confirmed such a reply and dropped it, and the
    # request was acked as answered: seen after a cluster partition healed with its nodes
    # disagreeing on which reply queues existed (the freeze row, 2026-12-03).
    ask, replies, dead, after = served
    await ask(reply_to="bwt-nobody.reply.core.gone")
    await eventually(lambda: len(dead) == 1)
    assert dead_reason(dead[0].headers) == (
        "no queue took the reply to bwt-nobody.reply.core.gone: its caller is gone, or the "
        "broker node this process uses does not know that queue"
    )
    assert replies == [] and after == []
