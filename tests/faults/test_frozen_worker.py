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
