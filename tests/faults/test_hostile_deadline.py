"""Hostile deadlines among good traffic: one message may cost only itself (issue 13, defect 1).

An outside client sends inbound messages whose ``x-botwerk-deadline`` lies eleven years ahead.
Before the fix the core turned that into an infer request whose ``expiration`` RabbitMQ refuses:
the broker closed the core's publish channel, the core dropped its connection, everything it
held was redelivered, and good messages reached the delivery limit unanswered. Now each such
message is dead-lettered with its reason and nothing else notices.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from botwerk.infra.bus import Outgoing, now_ms
from botwerk.infra.topology import Names
from botwerk.schemas import Inbound, User
from tests.support.faults import FaultMesh

pytestmark = [pytest.mark.broker, pytest.mark.faults]

ELEVEN_YEARS_MS = 11 * 365 * 86_400_000  # past RabbitMQ's largest TTL (ten years)


async def send_hostile(mesh: FaultMesh, text: str) -> None:
    """What an outside client written from docs/protocol.md can send: a far deadline."""
    names = Names(mesh.settings.namespace)
    inbound = Inbound(
        bot="demo", transport="hostile", conversation=text, user=User(id="x"), text=text
    )
    message = Outgoing.of(
        inbound, reply_to=names.reply_queue("hostile", "x"), deadline_ms=now_ms() + ELEVEN_YEARS_MS
    )
    await mesh.bus.publish(names.inbound, Names.inbound_key("demo", "hostile"), message)


HOSTILE = [f"P{i:06d}" for i in range(5)]


async def hostile_run(mesh: FaultMesh, sabotage: str | None = None) -> dict[str, Any]:
    """300 good messages with 5 far deadlines among them; what the core and the users saw."""
    mesh.start_worker()
    core = mesh.start_core(sabotage=sabotage)

    async def poison() -> None:
        for text in HOSTILE:
            await asyncio.sleep(0.5)
            await send_hostile(mesh, text)

    answers, _ = await asyncio.gather(mesh.load(300, rate=100), poison())
    verdict = await mesh.verdict()
    return {
        "answers": answers,
        "verdict": verdict,
        "reconnects": mesh.log_times(core, "lost the connection"),
        "channel_closed": mesh.log_times(core, "closed the publish channel"),
    }


async def test_far_deadlines_are_dead_lettered_alone_and_good_traffic_is_all_answered(
    make_mesh, reliability
):
    async with make_mesh(deadline_ms=20_000) as mesh:
        run = await hostile_run(mesh)
    verdict, reconnects = run["verdict"], run["reconnects"]
    reasons = {text: verdict.dead.get(text, "") for text in HOSTILE}
    reliability.record(
        "hostile_deadline", hostile=len(HOSTILE), core_reconnects=len(reconnects),
        publish_channel_closed=len(run["channel_closed"]), **verdict.summary(),
    )  # fmt: skip
    assert all("x-botwerk-deadline lies" in why for why in reasons.values()), reasons
    assert not reconnects and not run["channel_closed"]
    assert verdict.clean, verdict.summary()
    assert verdict.answered == verdict.sent == 300
    assert all(a.error is None for a in run["answers"])
    assert set(verdict.dead) == set(HOSTILE)


async def test_hostile_deadline_negative_control_unbounded_the_core_reconnects(
    make_mesh, reliability
):
    """No deadline bound, no time-to-live guard, and a refused publish drops the connection:
    the old core. The checks above must see it: the core loses its connection, and the far
    deadlines are not dead-lettered with their reason."""
    async with make_mesh(deadline_ms=20_000) as mesh:
        run = await hostile_run(mesh, sabotage="unbounded_deadlines")
    verdict, reconnects = run["verdict"], run["reconnects"]
    reasons = {text: verdict.dead.get(text, "") for text in HOSTILE}
    reliability.record(
        "hostile_deadline", negative_reconnects=len(reconnects),
        negative_answered=verdict.answered, negative_lost=verdict.summary().get("lost"),
    )  # fmt: skip
    assert reconnects, "without the protections the broker's refusal costs the connection"
    assert not any("x-botwerk-deadline lies" in why for why in reasons.values()), reasons
