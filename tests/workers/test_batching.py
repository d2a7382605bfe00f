"""The batching owner loop: batch sizes, waits, failures and deadlines."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from botwerk.infra.bus import now_ms
from botwerk.infra.errors import DeadlineExceeded
from botwerk.workers.batching import Batcher, BatchMismatch


@pytest.fixture
def executor():
    with ThreadPoolExecutor(1) as pool:
        yield pool


class Recorder:
    def __init__(self, delay=0.0, fail_on=None, drop_one=False):
        self.batches: list[list[int]] = []
        self.threads: set[str] = set()
        self.idents: set[int] = set()
        self.delay, self.fail_on, self.drop_one = delay, fail_on, drop_one

    def __call__(self, items):
        self.batches.append(list(items))
        self.threads.add(threading.current_thread().name)
        self.idents.add(threading.get_ident())
        time.sleep(self.delay)
        if self.fail_on in items:
            raise ValueError(f"cannot take {self.fail_on}")
        outputs = [i * 10 for i in items]
        return outputs[:-1] if self.drop_one else outputs


async def run(batcher):
    return asyncio.create_task(batcher.run())


async def test_concurrent_requests_share_batches_up_to_the_max(executor):
    model = Recorder(delay=0.05)
    batcher = Batcher(model, max_batch=4, max_wait_ms=20, executor=executor)
    task = await run(batcher)
    results = await asyncio.gather(*(batcher.submit(i) for i in range(10)))
    task.cancel()
    assert [r.output for r in results] == [i * 10 for i in range(10)]
    assert max(len(b) for b in model.batches) == 4
    assert sum(len(b) for b in model.batches) == 10
    assert len(model.batches) <= 4
    assert {r.batch_size for r in results} <= {1, 2, 3, 4}


async def test_compute_runs_off_the_event_loop(executor):
    model = Recorder(delay=0.3)
    batcher = Batcher(model, max_batch=2, max_wait_ms=0, executor=executor)
    task = await run(batcher)
    ticks = 0

    async def tick():
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    ticker = asyncio.create_task(tick())
    await batcher.submit(1)
    ticker.cancel()
    task.cancel()
    assert ticks > 15  # the loop kept running while the model computed for 0.3 s
    assert model.threads and threading.main_thread().name not in model.threads


async def test_a_lone_request_waits_at_most_max_wait(executor):
    batcher = Batcher(Recorder(), max_batch=8, max_wait_ms=50, executor=executor)
    task = await run(batcher)
    started = time.perf_counter()
    result = await batcher.submit(7)
    elapsed = time.perf_counter() - started
    task.cancel()
    assert result.output == 70 and result.batch_size == 1
    assert 0.04 < elapsed < 0.5


async def test_one_bad_input_fails_only_its_own_request(executor):
    model = Recorder(fail_on=3)
    batcher = Batcher(model, max_batch=8, max_wait_ms=20, executor=executor)
    task = await run(batcher)
    results = await asyncio.gather(*(batcher.submit(i) for i in range(6)), return_exceptions=True)
    task.cancel()
    assert isinstance(results[3], ValueError)
    assert [r.output for i, r in enumerate(results) if i != 3] == [0, 10, 20, 40, 50]
    assert len(model.batches[0]) == 6  # tried together first, then one by one


async def test_outputs_must_match_inputs_one_to_one(executor):
    batcher = Batcher(Recorder(drop_one=True), max_batch=4, max_wait_ms=20, executor=executor)
    task = await run(batcher)
    results = await asyncio.gather(*(batcher.submit(i) for i in range(3)), return_exceptions=True)
    task.cancel()
    assert all(isinstance(r, BatchMismatch) for r in results)


async def test_expired_requests_are_never_computed(executor):
    model = Recorder(delay=0.2)
    batcher = Batcher(model, max_batch=1, max_wait_ms=0, executor=executor)
    task = await run(batcher)
    first = asyncio.create_task(batcher.submit(1))
    await asyncio.sleep(0.01)
    with pytest.raises(DeadlineExceeded):
        await batcher.submit(2, deadline_ms=now_ms() + 50)  # queued behind a 200 ms batch
    await first
    task.cancel()
    assert model.batches == [[1]]


def test_settings_are_checked(executor):
    with pytest.raises(ValueError, match="max_batch"):
        Batcher(Recorder(), max_batch=0, max_wait_ms=1, executor=executor)


async def test_a_swap_waits_for_the_batch_in_flight_and_no_batch_mixes_versions(executor):
    old, new = Recorder(delay=0.1), Recorder(delay=0.01)
    batcher = Batcher(old, max_batch=4, max_wait_ms=5, executor=executor, version="m@1")
    task = await run(batcher)
    first = [asyncio.create_task(batcher.submit(i)) for i in range(4)]
    await asyncio.sleep(0.03)  # the first batch is computing on m@1
    swapping = asyncio.create_task(batcher.swap(new, "m@2"))
    later = [asyncio.create_task(batcher.submit(i)) for i in range(4, 12)]
    await swapping
    assert all(f.done() for f in first), "swap returned before the old version's batch ended"
    results = [await f for f in (*first, *later)]
    task.cancel()
    assert [r.version for r in results] == ["m@1"] * 4 + ["m@2"] * 8
    assert old.batches == [[0, 1, 2, 3]]
    assert sorted(i for b in new.batches for i in b) == list(range(4, 12))


async def test_a_swap_while_idle_is_at_once(executor):
    batcher = Batcher(Recorder(), max_batch=2, max_wait_ms=0, executor=executor, version="m@1")
    task = await run(batcher)
    assert (await batcher.submit(1)).version == "m@1"
    await asyncio.wait_for(batcher.swap(Recorder(), "m@2"), 1)
    assert batcher.version == "m@2" and (await batcher.submit(2)).version == "m@2"
    task.cancel()


async def test_a_batch_retried_one_by_one_stays_on_its_version(executor):
    old, new = Recorder(delay=0.05, fail_on=3), Recorder()
    batcher = Batcher(old, max_batch=6, max_wait_ms=20, executor=executor, version="m@1")
    task = await run(batcher)
    submitted = [asyncio.create_task(batcher.submit(i)) for i in range(6)]
    await asyncio.sleep(0.04)  # the batch of six is computing; it will fail and be split
    await batcher.swap(new, "m@2")
    results = await asyncio.gather(*submitted, return_exceptions=True)
    task.cancel()
    assert isinstance(results[3], ValueError)
    assert {r.version for r in results if not isinstance(r, Exception)} == {"m@1"}
    assert new.batches == [] and len(old.batches) == 7  # together, then each alone, all on m@1


async def test_a_batch_the_model_calls_cheap_runs_on_the_loop_and_others_on_its_thread(executor):
    model = Recorder()
    batcher = Batcher(
        model, max_batch=4, max_wait_ms=0, executor=executor, on_loop=lambda items: 9 not in items
    )
    task = await run(batcher)
    loop_thread = threading.get_ident()
    assert (await batcher.submit(1)).output == 10
    assert model.idents == {loop_thread}  # cheap: computed right on the loop
    assert (await batcher.submit(9)).output == 90
    assert len(model.idents) == 2  # not cheap: on the executor
    await batcher.swap(new := Recorder(), "m@2")  # a version without on_loop: on the executor
    assert (await batcher.submit(1)).output == 10
    task.cancel()
    assert loop_thread not in new.idents


async def test_a_cheap_request_to_an_idle_batcher_is_computed_in_submit_itself(executor):
    """No owner loop runs here: only the direct path can answer (the old code waited forever)."""
    model = Recorder()
    cheap = Batcher(
        model, max_batch=4, max_wait_ms=0, executor=executor, on_loop=lambda items: 9 not in items
    )
    done = await asyncio.wait_for(cheap.submit(2, now_ms() + 5000), 1)
    assert (done.output, done.batch_size, model.idents) == (20, 1, {threading.get_ident()})
    with pytest.raises(DeadlineExceeded):
        await asyncio.wait_for(cheap.submit(3, now_ms() - 1), 1)  # expired: never computed
    assert model.batches == [[2]]

    # Not cheap, or a wait to fill a batch asked for: through the queue and the owner loop.
    waiting = Batcher(
        Recorder(), max_batch=4, max_wait_ms=5, executor=executor, on_loop=lambda items: True
    )
    for batcher, item in ((cheap, 9), (waiting, 1)):
        queued = asyncio.create_task(batcher.submit(item))
        await asyncio.sleep(0.05)
        assert not queued.done()
        task = await run(batcher)
        assert (await queued).output == item * 10
        task.cancel()


async def test_an_exception_on_the_loop_fails_only_its_own_request(executor):
    model = Recorder(fail_on=3)
    batcher = Batcher(
        model, max_batch=8, max_wait_ms=20, executor=executor, on_loop=lambda items: True
    )
    task = await run(batcher)
    results = await asyncio.gather(*(batcher.submit(i) for i in range(6)), return_exceptions=True)
    assert isinstance(results[3], ValueError)
    assert [r.output for i, r in enumerate(results) if i != 3] == [0, 10, 20, 40, 50]
    assert (await batcher.submit(7)).output == 70  # the owner loop carries on
    task.cancel()
    assert len(model.batches[0]) == 6 and model.idents == {threading.get_ident()}
