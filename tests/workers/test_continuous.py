"""Continuous batching: joining between steps, leaving when done, deadlines, failures, swaps.

A counting session stands in for a model: item ``(name, steps)`` finishes after ``steps`` steps
with the list of global step numbers it took part in, so the tests count decode steps, not
seconds.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor

import pytest

from botwerk.infra.bus import now_ms
from botwerk.infra.errors import DeadlineExceeded
from botwerk.workers.continuous import ContinuousBatcher
from tests.support.waiting import eventually

Item = tuple[str, int]


class Counting:
    """A session; ``bad`` fails to join, ``boom`` breaks the step it reaches its third step in,
    ``held`` runs on while its tally holds it."""

    def __init__(self, tally: Tally) -> None:
        self.tally = tally
        self.rows: dict[int, tuple[Item, list[int]]] = {}

    def __len__(self) -> int:
        return len(self.rows)

    def add(self, items: Mapping[int, Item]) -> None:
        if any(name == "bad" for name, _ in items.values()):
            raise ValueError("cannot take bad")
        self.rows.update({key: (item, []) for key, item in items.items()})

    def step(self) -> dict[int, tuple[str, list[int]]]:
        self.tally.step(len(self.rows))
        for (name, _), seen in self.rows.values():
            if name == "boom" and len(seen) == 2:
                raise RuntimeError("boom")
            seen.append(self.tally.steps)
        done = [key for key, ((name, n), seen) in self.rows.items()
                if len(seen) >= n and not (name == "held" and self.tally.held)]  # fmt: skip
        return {key: (self.rows[key][0][0], self.rows.pop(key)[1]) for key in done}

    def remove(self, keys: Iterable[int]) -> None:
        for key in keys:
            self.rows.pop(key, None)


class Tally:
    """Steps taken by every session of one model, and the most rows one step held."""

    def __init__(self) -> None:
        self.steps = 0
        self.widest = 0
        self.held = True
        self.lock = threading.Lock()

    def step(self, rows: int) -> None:
        with self.lock:
            self.steps += 1
            self.widest = max(self.widest, rows)

    def session(self) -> Counting:
        return Counting(self)

    def predict(self, items: list[Item]) -> list[object]:  # what a rollout hands to swap
        raise AssertionError("a continuous batcher steps sessions, it never calls predict")


@pytest.fixture
async def batcher():
    tally = Tally()
    with ThreadPoolExecutor(1) as executor:
        batcher = ContinuousBatcher(
            tally.session, max_batch=4, max_wait_ms=5, executor=executor, version="m@1"
        )
        batcher.tally = tally
        task = asyncio.create_task(batcher.run())
        yield batcher
        task.cancel()


async def test_a_short_request_joins_a_long_one_and_leaves_first(batcher):
    long = asyncio.create_task(batcher.submit(("long", 100_000)))
    await eventually(lambda: batcher.tally.steps >= 10)
    name, seen = (await batcher.submit(("short", 5))).output
    assert name == "short" and len(seen) == 5
    assert seen == list(range(seen[0], seen[0] + 5))  # one step each, none skipped
    assert not long.done()  # answered mid-way through the long one, not after it
    long.cancel()  # the caller gives up: the row leaves at the next step
    assert (await batcher.submit(("after", 1))).batch_size == 1


async def test_at_most_max_batch_rows_run_and_the_rest_join_as_rows_leave(batcher):
    done = await asyncio.gather(*(batcher.submit((f"r{i}", 3 + i)) for i in range(10)))
    assert [d.output[0] for d in done] == [f"r{i}" for i in range(10)]
    assert batcher.tally.widest == 4
    assert all(d.batch_size <= 4 and d.version == "m@1" for d in done)
    assert batcher.tally.steps < sum(3 + i for i in range(10))  # rows shared steps


async def test_an_expired_request_is_dropped_at_the_next_step_and_others_carry_on(batcher):
    doomed = asyncio.create_task(batcher.submit(("doomed", 100_000), deadline_ms=now_ms() + 50))
    ok = asyncio.create_task(batcher.submit(("ok", 3)))
    stale = batcher.submit(("stale", 1), deadline_ms=now_ms() - 1)
    with pytest.raises(DeadlineExceeded):
        await stale
    assert (await ok).output[0] == "ok"
    with pytest.raises(DeadlineExceeded, match="mid-way"):
        await doomed
    assert (await batcher.submit(("next", 2))).output[0] == "next"


async def test_a_request_that_cannot_join_fails_alone(batcher):
    done = await asyncio.gather(
        *(batcher.submit((name, 4)) for name in ("a", "bad", "b")), return_exceptions=True
    )
    assert done[0].output[0] == "a" and done[2].output[0] == "b"
    assert isinstance(done[1], ValueError)


async def test_a_failed_step_fails_only_the_request_that_breaks_it(batcher):
    long = asyncio.create_task(batcher.submit(("long", 40)))
    await eventually(lambda: batcher.tally.steps >= 2)
    done = await asyncio.gather(
        *(batcher.submit((name, 6)) for name in ("a", "boom", "b")), return_exceptions=True
    )
    assert isinstance(done[1], RuntimeError)
    assert done[0].output[0] == "a" and len(done[0].output[1]) == 6  # run again, alone, whole
    assert done[2].output[0] == "b"
    assert (await long).output[0] == "long" and len((await long).output[1]) == 40


async def test_a_swap_lets_running_rows_finish_on_the_old_version(batcher):
    old = asyncio.create_task(batcher.submit(("held", 2)))
    await eventually(lambda: batcher.tally.steps >= 2)
    swapped = asyncio.create_task(batcher.swap(Tally().predict, "m@2"))
    new = await batcher.submit(("new", 3))
    assert new.version == "m@2" and not old.done() and not swapped.done()
    batcher.tally.held = False
    assert (await old).version == "m@1"
    await swapped  # once the old session has no rows left
