"""Roles killed with SIGKILL while requests flow: nothing lost, each user answered once."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.support.faults import FaultMesh

pytestmark = [pytest.mark.broker, pytest.mark.faults]


async def kill_and_restart(mesh: FaultMesh, role: str, every: float, stop: asyncio.Event) -> int:
    """SIGKILL the role every ``every`` seconds and start a fresh one; how many kills."""
    kills = 0
    while True:
        try:
            await asyncio.wait_for(stop.wait(), timeout=every)
            return kills
        except TimeoutError:
            pass
        mesh.kill(role)
        kills += 1
        await asyncio.to_thread(mesh.restart, role)


async def load_while_killing(mesh: FaultMesh, role: str, requests: int, every: float):
    stop = asyncio.Event()
    killer = asyncio.create_task(kill_and_restart(mesh, role, every, stop))
    started = time.monotonic()
    await mesh.load(requests)
    elapsed = time.monotonic() - started
    stop.set()
    return await killer, elapsed


async def test_worker_killed_every_few_seconds_loses_nothing(make_mesh, reliability):
    async with make_mesh() as mesh:
        mesh.start_worker()
        mesh.start_core()
        kills, elapsed = await load_while_killing(mesh, "worker", requests=5000, every=2.5)
        verdict = await mesh.verdict()
        dropped = mesh.chat.gateway.stats["duplicate_replies"]
    reliability.record(
        "worker_kill", kills=kills, seconds=round(elapsed, 1), duplicate_replies_dropped=dropped,
        **verdict.summary(),
    )  # fmt: skip
    assert kills >= 3
    assert verdict.clean, verdict.summary()
    assert verdict.answered == verdict.sent == 5000
    assert not verdict.errors and not verdict.unserved


async def test_worker_kill_negative_control_early_ack_loses_messages(make_mesh, reliability):
    async with make_mesh(deadline_ms=10_000) as mesh:  # what is lost ends as "took too long"
        mesh.start_worker(sabotage="early_ack")
        mesh.start_core()
        kills, _ = await load_while_killing(mesh, "worker", requests=1500, every=1.5)
        verdict = await mesh.verdict()
    reliability.record("worker_kill", negative_unserved=len(verdict.unserved), negative_kills=kills)
    assert verdict.unserved, "acking before the work is done must lose messages on a kill"


async def test_core_killed_during_requests_loses_nothing_and_reloads_no_model(
    make_mesh, reliability
):
    async with make_mesh() as mesh:
        worker = mesh.start_worker()
        mesh.start_core()
        kills, elapsed = await load_while_killing(mesh, "core", requests=3000, every=2.5)
        verdict = await mesh.verdict()
        loads = len(mesh.log_times(worker, "serving echo"))
        dropped = mesh.chat.gateway.stats["duplicate_replies"]
        alive = worker.poll() is None
    reliability.record(
        "core_kill", kills=kills, seconds=round(elapsed, 1), model_loads=loads,
        duplicate_replies_dropped=dropped, **verdict.summary(),
    )  # fmt: skip
    assert kills >= 2
    assert verdict.clean, verdict.summary()
    assert verdict.answered == verdict.sent == 3000
    assert not verdict.errors and not verdict.unserved
    assert alive and loads == 1


async def test_core_kill_negative_control_early_ack_loses_messages(make_mesh, reliability):
    async with make_mesh(deadline_ms=10_000) as mesh:
        mesh.start_worker()
        mesh.start_core(sabotage="early_ack")
        kills, _ = await load_while_killing(mesh, "core", requests=1500, every=1.5)
        verdict = await mesh.verdict()
    reliability.record("core_kill", negative_lost=len(verdict.lost), negative_kills=kills)
    assert verdict.lost, "acking before the work is done must lose messages on a kill"
