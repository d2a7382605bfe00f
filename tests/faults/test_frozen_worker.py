"""A worker frozen (SIGSTOP) long enough for the broker to drop it, then resumed (SIGCONT).

While it is frozen the broker misses its heartbeats, closes its connection and gives what it
held to the other worker, which answers. Once resumed, the frozen worker still holds those
deliveries of its dead channel, now past their deadline: it must drop them silently, not
dead-letter as "deadline passed" requests that were answered meanwhile (issue 13, defect 6).
"""

from __future__ import annotations

import asyncio
import signal
import time
from typing import Any

import pytest

from tests.support.faults import FaultMesh
from tests.support.ledger import Verdict

pytestmark = [pytest.mark.broker, pytest.mark.faults]

HEARTBEAT_S = 2  # the roles' and the throwaway node's: a frozen worker is dropped in ~4-6 s
DEADLINE_MS = 10_000
FROZEN_S = 14  # past the deadline of everything the frozen worker held
ENV = {"BOTWERK_HEARTBEAT_S": str(HEARTBEAT_S), "BOTWERK_LEDGER_DELAY_MS": "100"}


def computed_by(mesh: FaultMesh, pid: int) -> set[str]:
    path = mesh.ledger.work_dir / f"computed-{pid}.txt"
    return set(path.read_text().splitlines()) if path.exists() else set()


async def frozen_run(mesh: FaultMesh, sabotage: str | None = None) -> dict[str, Any]:
    """Two workers under load; one frozen past the deadline of all it held, then resumed."""
    frozen = mesh.start_worker(sabotage=sabotage)
    mesh.start_core()
    await mesh.load(40, rate=200)  # out of probation: it takes full batches
    other = mesh.start_worker()
    load = asyncio.create_task(mesh.load(400, rate=20))  # 20 s of users
    await asyncio.sleep(3)
    frozen.send_signal(signal.SIGSTOP)
    stopped = time.time()
    await asyncio.sleep(FROZEN_S)
    frozen.send_signal(signal.SIGCONT)
    await load
    verdict = await mesh.verdict()
    answered_by_other = computed_by(mesh, other.pid)
    expired_dead = {text for text, why in verdict.dead.items() if "deadline passed" in why}
    return {
        "verdict": verdict,
        "wrongly_dead": sorted(expired_dead & answered_by_other),
        "dropped": mesh.log_times(frozen, "dropped unfinished")
        + mesh.log_times(frozen, "not dead-lettered"),
        "lost_at": [t for t in mesh.log_times(frozen, "lost the connection") if t > stopped],
        "alive": frozen.poll() is None,
    }


async def test_a_resumed_worker_drops_what_its_dead_channel_held(make_mesh, reliability):
    async with make_mesh(deadline_ms=DEADLINE_MS, env=ENV) as mesh:
        run = await frozen_run(mesh)
    verdict, wrongly_dead = run["verdict"], run["wrongly_dead"]
    reliability.record(
        "worker_frozen", frozen_s=FROZEN_S, dropped_on_resume=len(run["dropped"]),
        dead_letters_of_answered=len(wrongly_dead), **verdict.summary(),
    )  # fmt: skip
    assert run["lost_at"], "the frozen worker should notice its connection died"
    assert not wrongly_dead, f"answered by the other worker, yet dead-lettered: {wrongly_dead}"
    assert verdict.clean, verdict.summary()
    assert run["alive"], "the resumed worker should still run"


async def test_worker_frozen_negative_control_finishing_dead_deliveries_dead_letters_answers(
    make_mesh, reliability
):
    """A resumed worker that finishes what its dead channel held dead-letters, as "deadline
    passed", requests the other worker answered: the check above must see it."""
    async with make_mesh(deadline_ms=DEADLINE_MS, env=ENV) as mesh:
        run = await frozen_run(mesh, sabotage="keep_dead_deliveries")
    reliability.record("worker_frozen", negative_dead_letters_of_answered=len(run["wrongly_dead"]))
    assert run["wrongly_dead"], "the sabotaged worker should dead-letter answered requests"


# The only worker of a model away as long as a cluster failover keeps one away.

AWAY_S = 22  # a worker on a frozen cluster node was back 13-21 s after the freeze (cluster row)
AWAY_RATE = 5  # users' requests per second meanwhile


async def lone_worker_away(mesh: FaultMesh) -> tuple[Verdict, float]:
    """One worker, served and then frozen AWAY_S while users keep asking; the verdict and the
    seconds from the freeze until the broker dropped the worker (its consumer count fell)."""
    worker = mesh.start_worker()
    mesh.start_core()
    await mesh.load(20, rate=50)  # the core has seen the model served
    load = asyncio.create_task(mesh.load((AWAY_S + 6) * AWAY_RATE, rate=AWAY_RATE))
    await asyncio.sleep(2)
    worker.send_signal(signal.SIGSTOP)
    frozen = time.monotonic()
    dropped_s = await mesh.until_unserved(mesh.names.infer_queue("echo"), timeout=AWAY_S)
    await asyncio.sleep(max(AWAY_S - (time.monotonic() - frozen), 0))
    worker.send_signal(signal.SIGCONT)
    await load
    return await mesh.verdict(), round(dropped_s - frozen, 1)


async def test_a_lone_worker_away_as_long_as_a_failover_is_waited_for(make_mesh, reliability):
    """The broker counts the frozen worker out in seconds (2 s heartbeats), and the queue has
    no consumer for most of AWAY_S: the core must hold its users' requests for the worker that
    comes back (``no_worker_grace_s``, 30 s), not tell them the model is not running."""
    async with make_mesh(env=ENV) as mesh:
        verdict, dropped_s = await lone_worker_away(mesh)
    reliability.record("lone_worker_away", away_s=AWAY_S, dropped_after_s=dropped_s,
                       **verdict.summary())  # fmt: skip
    assert verdict.clean, verdict.summary()
    assert verdict.answered == verdict.sent and not verdict.errors, verdict.summary()


async def test_lone_worker_away_negative_control_the_old_10_s_grace_says_not_running(
    make_mesh, reliability
):
    """With the grace this was before (10 s), users asking while the worker is away past it
    hear "not running" though it is on its way back: the check above must see that."""
    async with make_mesh(env={**ENV, "BOTWERK_NO_WORKER_GRACE_S": "10"}) as mesh:
        verdict, _ = await lone_worker_away(mesh)
    reliability.record("lone_worker_away", negative_not_running=verdict.errors["no_worker"])
    assert verdict.errors["no_worker"], verdict.summary()
