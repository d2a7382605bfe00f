"""Dynamic batching: one owner loop per resident model, compute on the model's own thread.

Used like this::

    batcher = Batcher(model.predict, max_batch=16, max_wait_ms=2, executor=executor)
    task = asyncio.create_task(batcher.run())
    output = await batcher.submit(model_input)

Each request carries its own future. The loop takes the first waiting request, then whatever
else is queued, waiting at most ``max_wait_ms`` for the batch to fill to ``max_batch`` (with 0,
the default, requests that queued while the last batch computed form the next one), and runs
``predict(inputs)`` on the executor so the event loop (and with it the AMQP heartbeats) never
stalls. A model whose predict takes microseconds says so with ``on_loop(inputs)``: a batch it
calls cheap runs right on the loop, saving a thread hop per batch (more than the echo model's
7 us predict); anything that could take milliseconds must answer False. With nothing queued,
nothing computing and ``max_wait_ms`` 0, such a request is computed in ``submit`` itself, a
batch of one, without the owner loop's two loop turns. It checks that
outputs match inputs one to one. If a batch raises, its requests are run again one by one, so
one bad input fails only its own request. A request whose deadline passed while it queued is
failed with :class:`DeadlineExceeded` and never computed.

:meth:`Batcher.swap` replaces ``predict`` (a new model version) between batches: a batch, its
one-by-one retries included, runs wholly on one version, and each output names that version.
The new version comes with its own ``on_loop`` (none: every batch on the executor).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from botwerk.infra import metrics
from botwerk.infra.bus import now_ms
from botwerk.infra.errors import DeadlineExceeded
from botwerk.infra.logs import in_context
from botwerk.schemas import BotwerkError

log = logging.getLogger("botwerk.batching")

In = TypeVar("In")
Out = TypeVar("Out")
Predict = Callable[[list[In]], Sequence[Out]]
OnLoop = Callable[[list[In]], bool]
"""True when ``predict`` may run these inputs on the event loop: microseconds, no blocking."""


class BatchMismatch(BotwerkError):
    """``predict`` returned a different number of outputs than it was given inputs."""


@dataclass(frozen=True, slots=True)
class Batched(Generic[Out]):
    """One request's output, with the batch it was computed in."""

    output: Out
    batch_size: int
    compute_ms: float
    version: str = ""
    """the model version that computed it"""


@dataclass(slots=True)
class _Pending(Generic[In, Out]):
    item: In
    deadline_ms: int | None
    future: asyncio.Future[Batched[Out]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class Batcher(Generic[In, Out]):
    """Collects concurrent requests into batches for one model."""

    def __init__(
        self,
        predict: Callable[[list[In]], Sequence[Out]],
        *,
        max_batch: int,
        max_wait_ms: float,
        executor: Executor,
        version: str = "",
        model: str = "",
        on_loop: OnLoop[In] | None = None,
    ) -> None:
        if max_batch < 1 or max_wait_ms < 0:
            raise ValueError("max_batch must be >= 1 and max_wait_ms >= 0")
        self._predict = predict
        self._on_loop = on_loop
        self._max_batch = max_batch
        self._max_wait = max_wait_ms / 1000
        self._executor = executor
        self._queue: asyncio.Queue[_Pending[In, Out]] = asyncio.Queue()
        self.version = version
        self._model = model  # its name in the metrics
        self._busy = False  # a batch is computing: a swap waits for it
        self._swaps: list[
            tuple[Predict[In, Out], str, OnLoop[In] | None, asyncio.Future[None]]
        ] = []

    async def submit(self, item: In, deadline_ms: int | None = None) -> Batched[Out]:
        """The model's output for ``item``; raises what ``predict`` raised on it alone."""
        pending: _Pending[In, Out] = _Pending(item, deadline_ms)
        if self._alone_now(item):
            # Computed right here: nothing queued to join it, nothing running, no wait to fill
            # a batch asked for, and a model that calls it cheap. The queue and the owner
            # loop's wake-up would cost two loop turns for a batch of one all the same.
            if not self._expire(pending):
                await self._compute([pending])  # on the loop: returns without suspending
            return pending.future.result()
        self._queue.put_nowait(pending)
        return await pending.future

    def _alone_now(self, item: In) -> bool:
        """Whether ``item`` would be a batch of one run on the loop, so it may run at once."""
        return (
            self._max_wait == 0
            and self._queue.empty()
            and not self._busy
            and not self._swaps
            and self._on_loop is not None
            and self._on_loop([item])
        )

    async def swap(
        self, predict: Predict[In, Out], version: str, on_loop: OnLoop[In] | None = None
    ) -> None:
        """Compute with ``predict`` from the next batch on; return once the old one is unused."""
        done = asyncio.get_running_loop().create_future()
        self._swaps.append((predict, version, on_loop, done))
        if not self._busy:
            self._apply_swaps()
        await done

    async def run(self) -> None:
        """The owner loop; runs until cancelled."""
        while True:
            batch = await self._collect()
            live = [p for p in batch if not p.future.done() and not self._expire(p)]
            if live:
                self._busy = True
                try:
                    await self._compute(live)
                finally:
                    self._busy = False
                    self._apply_swaps()

    def _apply_swaps(self) -> None:
        """Between batches only: the batch that just ran has finished with the old version."""
        while self._swaps:
            self._predict, self.version, self._on_loop, done = self._swaps.pop(0)
            if not done.done():
                done.set_result(None)

    async def _collect(self) -> list[_Pending[In, Out]]:
        batch = [await self._queue.get()]
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self._max_wait
        while len(batch) < self._max_batch:
            if not self._queue.empty():
                batch.append(self._queue.get_nowait())
                continue
            remaining = give_up - loop.time()
            if remaining <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), remaining))
            except TimeoutError:
                break
        return batch

    @staticmethod
    def _expire(pending: _Pending[In, Out]) -> bool:
        if pending.deadline_ms is None or now_ms() < pending.deadline_ms:
            return False
        pending.future.set_exception(DeadlineExceeded("the deadline passed in the batch queue"))
        return True

    async def _compute(self, batch: list[_Pending[In, Out]]) -> None:
        started = time.perf_counter()
        try:
            outputs = await self._run_predict([p.item for p in batch])
            if len(outputs) != len(batch):
                raise BatchMismatch(f"{len(batch)} inputs gave {len(outputs)} outputs")
        except Exception as exc:
            if len(batch) == 1:
                if not batch[0].future.done():
                    batch[0].future.set_exception(exc)
                return
            log.warning("batch of %d failed (%s); running its requests one by one", len(batch), exc)
            for pending in batch:
                await self._compute([pending])
            return
        compute_s = time.perf_counter() - started
        metrics.batch(self._model, len(batch), compute_s)
        compute_ms = compute_s * 1000
        for pending, output in zip(batch, outputs, strict=True):
            if not pending.future.done():
                pending.future.set_result(Batched(output, len(batch), compute_ms, self.version))

    async def _run_predict(self, items: list[In]) -> Sequence[Out]:
        """``predict(items)``: on the loop when the model calls them cheap, else on the executor."""
        if self._on_loop is not None and self._on_loop(items):
            return self._predict(items)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, in_context(self._predict), items)
