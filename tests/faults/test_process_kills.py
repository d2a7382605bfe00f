"""Roles killed with SIGKILL while requests flow: nothing lost, each user answered once."""

from __future__ import annotations

import asyncio
import time

import pytest

from infra.testing.faults import FaultMesh

pytestmark = [pytest.mark.broker, pytest.mark.faults]


async def run_load(mesh: FaultMesh, requests: int, rate: float = 400, inflight: int = 64) -> list:
    """``requests`` questions at ``rate`` per second, at most ``inflight`` unanswered at once."""
    slots = asyncio.Semaphore(inflight)
    answers = []
    started = time.monotonic()
    for i in range(requests):
        await slots.acquire()
        if (ahead := started + i / rate - time.monotonic()) > 0:
            await asyncio.sleep(ahead)
        answer = await mesh.ledger.submit(mesh.chat, mesh.ledger.new_id())
        answer.add_done_callback(lambda _: slots.release())
        answers.append(answer)
    return await asyncio.gather(*answers)


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


async def killing(mesh: FaultMesh, role: str, requests: int, every: float) -> tuple[int, float]:
    stop = asyncio.Event()
    killer = asyncio.create_task(kill_and_restart(mesh, role, every, stop))
    started = time.monotonic()
    await run_load(mesh, requests)
    elapsed = time.monotonic() - started
    stop.set()
    return await killer, elapsed


@pytest.fixture
def patient(fault_mesh):
    fault_mesh.chat.gateway.settings = fault_mesh.settings.model_copy(
        update={"deadline_ms": 120_000}
    )
    return fault_mesh


async def test_worker_killed_every_few_seconds_loses_nothing(patient, reliability):
    mesh = patient
    mesh.start_worker()
    mesh.start_core()
    kills, elapsed = await killing(mesh, "worker", requests=5000, every=2.5)
    verdict = await mesh.verdict()
    reliability.record(
        "worker_kill", kills=kills, seconds=round(elapsed, 1), **verdict.summary(),
        duplicate_replies_dropped=mesh.chat.gateway.stats["duplicate_replies"],
    )  # fmt: skip
    assert kills >= 3
    assert verdict.clean, verdict.summary()
    assert verdict.answered == verdict.sent == 5000
    assert not verdict.errors


async def test_worker_kill_negative_control_early_ack_loses_messages(fault_mesh, reliability):
    mesh = fault_mesh  # deadline 10 s: what the sabotage loses ends as "took too long"
    mesh.start_worker(sabotage="early_ack")
    mesh.start_core()
    kills, _ = await killing(mesh, "worker", requests=1500, every=1.5)
    verdict = await mesh.verdict()
    reliability.record("worker_kill", negative_lost=len(verdict.lost), negative_kills=kills)
    assert verdict.lost, "acking before the work is done must lose messages on a kill"


async def test_core_killed_during_requests_loses_nothing_and_reloads_no_model(patient, reliability):
    mesh = patient
    worker = mesh.start_worker()
    mesh.start_core()
    kills, elapsed = await killing(mesh, "core", requests=3000, every=2.5)
    verdict = await mesh.verdict()
    loads = len(mesh.log_times(worker, "serving echo"))
    reliability.record(
        "core_kill", kills=kills, seconds=round(elapsed, 1), model_loads=loads, **verdict.summary(),
        duplicate_replies_dropped=mesh.chat.gateway.stats["duplicate_replies"],
    )  # fmt: skip
    assert kills >= 2
    assert verdict.clean, verdict.summary()
    assert verdict.answered == verdict.sent == 3000
    assert worker.poll() is None and loads == 1


async def test_core_kill_negative_control_early_ack_loses_messages(fault_mesh, reliability):
    mesh = fault_mesh
    mesh.start_worker()
    mesh.start_core(sabotage="early_ack")
    kills, _ = await killing(mesh, "core", requests=1500, every=1.5)
    verdict = await mesh.verdict()
    reliability.record("core_kill", negative_lost=len(verdict.lost), negative_kills=kills)
    assert verdict.lost, "acking before the work is done must lose messages on a kill"
