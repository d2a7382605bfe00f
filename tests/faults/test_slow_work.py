"""Work that outlasts the broker's patience: consumer_timeout, and heartbeats during inference."""

from __future__ import annotations

import asyncio
import time

import pytest

from botwerk.testing.chat import ChatClient

pytestmark = [pytest.mark.broker, pytest.mark.faults]

CONSUMER_TIMEOUT_S = 20  # the throwaway node's consumer_timeout (tests.support.broker.NodeConfig)


async def consumer_timeout_run(mesh, reliability_row, sabotage=None):
    """One request outlasts consumer_timeout; then 100 normal ones: are they served?"""
    mesh.start_worker(sabotage=sabotage)
    mesh.start_core()
    await mesh.load(20)  # out of probation: full batches
    slow_chat = ChatClient(mesh.bus, mesh.settings.model_copy(update={"deadline_ms": 23_000}))
    async with slow_chat:
        sent = time.time()
        slow = await slow_chat.submit("slow 26000 outlasts the consumer timeout")
        await asyncio.sleep(CONSUMER_TIMEOUT_S + 1.5)
        after_close = time.monotonic()
        answers = await mesh.load(100, rate=20)
        await slow
    served = sum(r.error is None for r in answers)
    (worker, _) = mesh.roles["worker"]
    lost_at = [t for t in mesh.log_times(worker, "lost (channel closed") if t > sent]
    noticed = round(lost_at[0] - sent - CONSUMER_TIMEOUT_S, 1) if lost_at else None
    back = mesh.ledger.first_answer_after(after_close)
    return served, noticed, back


async def test_a_consumer_closed_by_consumer_timeout_is_noticed_and_restarted(
    make_mesh, reliability
):
    async with make_mesh(deadline_ms=30_000) as mesh:
        served, noticed, back = await consumer_timeout_run(mesh, "consumer_timeout")
        verdict = await mesh.verdict()
    reliability.record(
        "consumer_timeout", noticed_s=noticed, served_after=served,
        back_after_s=round(back, 1) if back is not None else None, **verdict.summary(),
    )  # fmt: skip
    assert noticed is not None and noticed <= 10
    assert served == 100
    assert verdict.clean, verdict.summary()


async def test_consumer_timeout_negative_control_a_consumer_never_restarted_serves_nobody(
    make_mesh, reliability
):
    async with make_mesh(deadline_ms=8_000) as mesh:
        served, _, _ = await consumer_timeout_run(mesh, "consumer_timeout", "no_consumer_restart")
    reliability.record("consumer_timeout", negative_served_after=served)
    assert served == 0, "a consumer the broker closed and nobody restarts serves nobody"


async def heartbeat_run(mesh, sabotage=None):
    """Inference of 7 s on a 2 s heartbeat (3.5 x the timeout): does the connection hold?"""
    worker = mesh.start_worker(sabotage=sabotage)
    mesh.start_core()
    await mesh.load(5)
    started = time.time()
    reply = await mesh.chat.ask("slow 7000 H1")
    await asyncio.sleep(1)
    drops = [t for t in mesh.log_times(worker, "lost the connection") if t > started]
    return reply, drops, mesh.ledger.computed(["H1"])["H1"]


async def test_inference_far_longer_than_the_heartbeat_keeps_the_connection(make_mesh, reliability):
    async with make_mesh(env={"BOTWERK_HEARTBEAT_S": "2"}) as mesh:
        reply, drops, computed = await heartbeat_run(mesh)
    reliability.record(
        "long_inference", heartbeat_s=2, inference_s=7, connections_dropped=len(drops),
        times_computed=computed,
    )  # fmt: skip
    assert reply.text == "echo: H1"
    assert not drops and computed == 1


async def test_long_inference_negative_control_on_the_event_loop_drops_and_repeats(
    make_mesh, reliability
):
    env = {"BOTWERK_HEARTBEAT_S": "2"}
    async with make_mesh(deadline_ms=12_000, env=env) as mesh:
        _, drops, computed = await heartbeat_run(mesh, sabotage="inline_compute")
    reliability.record("long_inference", negative_drops=len(drops), negative_computed=computed)
    assert drops or computed > 1, "inference on the I/O thread must cost the connection"
