"""More than the mesh can take: requests that expire unserved, and a burst past the queue bound."""

from __future__ import annotations

import asyncio

import pytest

from botwerk.infra import messages

pytestmark = [pytest.mark.broker, pytest.mark.faults]


async def expiry_run(mesh, sabotage=None) -> tuple[list, set[str]]:
    """50 requests whose 3 s deadline passes while no worker is up; then a worker comes back."""
    mesh.start_worker(sabotage=sabotage)
    mesh.start_core(sabotage=sabotage)
    await mesh.load(10)
    mesh.kill("worker")
    expiring = [mesh.ledger.new_id("X") for _ in range(50)]
    answers = await asyncio.gather(*(mesh.ledger.ask(mesh.chat, text) for text in expiring))
    await asyncio.to_thread(mesh.restart, "worker")
    await asyncio.sleep(3)
    processed = set(expiring) & set(mesh.ledger.computed())
    return answers, processed


async def test_requests_that_expire_while_no_worker_is_up_are_never_processed(
    make_mesh, reliability
):
    async with make_mesh(deadline_ms=3_000) as mesh:
        answers, processed = await expiry_run(mesh)
        verdict = await mesh.verdict()
        replies_each = {r.conversation for r in mesh.chat.replies}
    reliability.record(
        "deadline", expired=len(answers), processed_after_expiry=len(processed),
        took_too_long=sum(r.error == "timeout" for r in answers), **verdict.summary(),
    )  # fmt: skip
    assert all((r.error, r.text) == ("timeout", messages.TOOK_TOO_LONG) for r in answers)
    assert not processed
    assert verdict.clean, verdict.summary()  # each one answered once, or dead-lettered
    assert len(mesh.chat.replies) == len(replies_each)


async def test_deadline_negative_control_ignoring_deadlines_processes_expired_work(
    make_mesh, reliability
):
    async with make_mesh(deadline_ms=3_000) as mesh:
        _, processed = await expiry_run(mesh, sabotage="ignore_deadlines")
    reliability.record("deadline", negative_processed_after_expiry=len(processed))
    assert processed, "a worker that ignores deadlines must be caught doing expired work"


async def burst_run(mesh, sabotage=None) -> list:
    """1,000 requests at once into a core queue bounded at 100 while no core is up."""
    mesh.start_worker()
    mesh.start_core(sabotage=sabotage)
    mesh.kill("core")
    answers = [await mesh.ledger.submit(mesh.chat, mesh.ledger.new_id("B")) for _ in range(1000)]
    await asyncio.to_thread(mesh.restart, "core")
    return await asyncio.gather(*answers)


async def test_a_burst_past_the_bound_is_refused_as_busy_and_nothing_is_dropped(
    make_mesh, reliability
):
    async with make_mesh(env={"BOTWERK_MAX_QUEUE_LENGTH": "100"}) as mesh:
        answers = await burst_run(mesh)
        verdict = await mesh.verdict()
    busy = sum(r.error == "busy" for r in answers)
    reliability.record("burst", bound=100, burst=1000, busy=busy, **verdict.summary())
    assert busy >= 850 and all(r.text == messages.BUSY for r in answers if r.error == "busy")
    assert verdict.answered + busy == 1000
    assert verdict.clean, verdict.summary()


async def test_burst_negative_control_dropping_the_oldest_loses_silently(make_mesh, reliability):
    env = {"BOTWERK_MAX_QUEUE_LENGTH": "100"}
    async with make_mesh(deadline_ms=8_000, env=env) as mesh:
        answers = await burst_run(mesh, sabotage="drop_oldest")
        verdict = await mesh.verdict()
    reliability.record(
        "burst",
        negative_lost=len(verdict.lost),
        negative_busy=sum(r.error == "busy" for r in answers),
    )
    assert verdict.lost, "a queue that drops its oldest when full loses messages silently"
