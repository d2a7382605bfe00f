"""Continuous batching for generation: requests join the running batch at the next decode step
and leave it, answered, the step they finish.

Used like this, for a model with a ``session()`` (a :class:`Stepping` model)::

    batcher = ContinuousBatcher(model.session, max_batch=16, max_wait_ms=2, executor=executor)
    task = asyncio.create_task(batcher.run())
    output = await batcher.submit(model_input)

A :class:`Session` is one running batch on one model version: ``add`` primes newcomers and
joins them to its rows, ``step`` advances every row by one token and hands back the rows that
finished (and drops them), ``remove`` drops rows. The owner loop works in turns, each one call
on the model's own thread so the event loop (and with it the AMQP heartbeats) never stalls:
drop what expired or was given up, admit what queued (up to ``max_batch`` rows in all), then
step until a row finishes, a newcomer waits, a deadline passes or ``MAX_TURN_S`` is up, and
answer what finished. (A hop to the thread per step cost a quarter of the throughput on a
loaded 2-core machine, hence several steps per turn.) A 20-character request that arrives
while a 2,000-character one runs is answered about 20 steps later, not 2,000 (Orca, OSDI
2022; TGI's ``queue.rs`` admits newcomers the same way).

Same duties as :class:`~botwerk.workers.batching.Batcher`: an idle batcher waits up to
``max_wait_ms`` for the first batch to fill; a request whose deadline passed is failed with
:class:`DeadlineExceeded` at the next step, queued or running; if newcomers fail to join
together they join one by one, so bad input fails only its own request; if a step fails, each
of its rows is generated again alone from its start (seeded requests give the same text) and
only the rows that fail alone fail. :meth:`swap` switches versions without failing a request:
newcomers join a session of the new version while the old session's rows run to their end.

Limits: a session's rows must give the same result in any batch (per-request generators),
which is what lets a request join mid-way; beam search cannot (its hypotheses are re-ranked
together), so a chat session runs a beam request whole when it joins.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field
from math import inf
from typing import Any, Generic, Protocol, TypeVar, cast, runtime_checkable

from botwerk.infra import metrics
from botwerk.infra.bus import now_ms
from botwerk.infra.errors import DeadlineExceeded
from botwerk.infra.logs import in_context
from botwerk.workers.batching import Batched

log = logging.getLogger("botwerk.batching")

MAX_TURN_S = 0.25
"""The longest the model's thread steps before the loop looks at cancelled requests again."""

In = TypeVar("In")
Out = TypeVar("Out")
Raw = TypeVar("Raw")
In_contra = TypeVar("In_contra", contravariant=True)
Out_co = TypeVar("Out_co", covariant=True)


class Session(Protocol[In_contra, Out_co]):
    """One running batch on one model version; every method runs on the model's thread."""

    def __len__(self) -> int:
        """Rows running."""

    def add(self, items: Mapping[int, In_contra], /) -> None:
        """Join ``items`` (by key) to the batch; on an exception none of them joined."""

    def step(self) -> Mapping[int, Out_co]:
        """Advance every row one token; the rows that finished, by key, dropped from the batch."""

    def remove(self, keys: Iterable[int], /) -> None:
        """Drop these rows (unknown keys are ignored)."""


@runtime_checkable
class Stepping(Protocol):
    """A model that can decode step by step: served with continuous batching."""

    def session(self) -> Session[Any, dict[str, Any]]:
        """A new, empty running batch on this model."""


class Mapped(Generic[In, Raw, Out]):
    """``session`` with each finished output passed through ``convert``."""

    def __init__(self, session: Session[In, Raw], convert: Callable[[Raw], Out]) -> None:
        self._session, self._convert = session, convert

    def __len__(self) -> int:
        return len(self._session)

    def add(self, items: Mapping[int, In]) -> None:
        self._session.add(items)

    def step(self) -> dict[int, Out]:
        return {key: self._convert(raw) for key, raw in self._session.step().items()}

    def remove(self, keys: Iterable[int]) -> None:
        self._session.remove(keys)


def run_whole(session: Session[In, Out], items: list[In]) -> list[Out]:
    """Every item through ``session`` to its end: one-shot generation in input order."""
    session.add(dict(enumerate(items)))
    done: dict[int, Out] = {}
    while len(session):
        done.update(session.step())
    return [done[key] for key in range(len(items))]


@dataclass(slots=True)
class _Run(Generic[In, Out]):
    """A session with its version and the requests running in it."""

    session: Session[In, Out]
    version: str
    open: Callable[[], Session[In, Out]]
    """a new session of the same version: where a failed step's rows run again alone"""
    rows: set[int] = field(default_factory=set)


@dataclass(slots=True)
class _Request(Generic[In, Out]):
    item: In
    deadline_ms: int | None
    future: asyncio.Future[Batched[Out]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    run: _Run[In, Out] | None = None
    peak: int = 0  # the largest batch it stepped in
    compute_s: float = 0.0  # the seconds of the steps it took part in

    def expired(self) -> bool:
        return self.deadline_ms is not None and now_ms() >= self.deadline_ms


@dataclass(slots=True)
class _Turn(Generic[Out]):
    """What one turn on the model's thread produced."""

    finished: dict[int, Out] = field(default_factory=dict)
    failed: dict[int, Exception] = field(default_factory=dict)
    steps: list[tuple[int, float]] = field(default_factory=list)
    """the rows and seconds of each step"""


class ContinuousBatcher(Generic[In, Out]):
    """Steps concurrent generation requests as one batch that newcomers join between steps."""

    def __init__(
        self,
        session: Callable[[], Session[In, Out]],
        *,
        max_batch: int,
        max_wait_ms: float,
        executor: Executor,
        version: str = "",
        model: str = "",
    ) -> None:
        if max_batch < 1 or max_wait_ms < 0:
            raise ValueError("max_batch must be >= 1 and max_wait_ms >= 0")
        self._open = session
        self._max_batch = max_batch
        self._max_wait = max_wait_ms / 1000
        self._executor = executor
        self._queue: asyncio.Queue[_Request[In, Out]] = asyncio.Queue()
        self._held: list[_Request[In, Out]] = []  # taken from the queue while idle, not admitted
        self._arrived = threading.Event()  # set by submit, read by the model's thread
        self.version = version
        self._model = model  # its name in the metrics
        self._runs: list[_Run[In, Out]] = []  # the newest last: newcomers join it
        self._requests: dict[int, _Request[In, Out]] = {}  # running, by key
        self._keys = itertools.count()
        self._swaps: list[tuple[list[_Run[In, Out]], asyncio.Future[None]]] = []

    async def submit(self, item: In, deadline_ms: int | None = None) -> Batched[Out]:
        """The model's output for ``item``; raises what the model raised on it alone."""
        request: _Request[In, Out] = _Request(item, deadline_ms)
        self._queue.put_nowait(request)
        self._arrived.set()  # a turn stepping on the model's thread hands back at the next step
        return await request.future

    async def swap(self, predict: Callable[..., Any], version: str) -> None:
        """Newcomers join ``version`` from the next step; return once the old one is unused.

        ``predict`` is the new model's bound ``predict`` (what the rollout hands every
        batcher); its model must be :class:`Stepping`."""
        model = getattr(predict, "__self__", None)
        if not isinstance(model, Stepping):
            raise TypeError(f"{version} cannot decode step by step: it has no session()")
        self._open, self.version = cast(Callable[[], Session[In, Out]], model.session), version
        done = asyncio.get_running_loop().create_future()
        self._swaps.append((list(self._runs), done))
        self._settle_swaps()
        await done

    async def run(self) -> None:
        """The owner loop; runs until cancelled."""
        while True:
            if not self._requests:
                await self._fill()
            admitted = self._admit()
            leaving = self._leaving()
            if admitted or self._requests:
                await self._turn(admitted, leaving)

    async def _fill(self) -> None:
        """Idle: wait for a request, then up to ``max_wait_ms`` for the batch to fill."""
        self._held.append(await self._queue.get())
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self._max_wait
        while len(self._held) < self._max_batch:
            if not self._queue.empty():
                self._held.append(self._queue.get_nowait())
                continue
            remaining = give_up - loop.time()
            if remaining <= 0:
                break
            try:
                self._held.append(await asyncio.wait_for(self._queue.get(), remaining))
            except TimeoutError:
                break

    def _next(self) -> _Request[In, Out] | None:
        """The oldest request waiting, or None."""
        if self._held:
            return self._held.pop(0)
        return None if self._queue.empty() else self._queue.get_nowait()

    def _admit(self) -> dict[int, _Request[In, Out]]:
        """Queued requests that fit, keyed, in the newest run of the current version."""
        admitted: dict[int, _Request[In, Out]] = {}
        self._arrived.clear()  # on the loop, like submit: what is queued now is seen below
        while len(self._requests) + len(admitted) < self._max_batch:
            request = self._next()
            if request is None:
                break
            if request.future.done():
                continue
            if request.expired():
                request.future.set_exception(DeadlineExceeded("the deadline passed in the queue"))
                continue
            admitted[next(self._keys)] = request
        if admitted:
            if not self._runs or self._runs[-1].version != self.version or self._swapped():
                self._runs.append(_Run(self._open(), self.version, self._open))
            for key, request in admitted.items():
                request.run = self._runs[-1]
                self._runs[-1].rows.add(key)
        return admitted

    def _swapped(self) -> bool:
        """The newest run is one a pending swap waits to drain."""
        return any(self._runs[-1] in old for old, _ in self._swaps)

    def _leaving(self) -> list[int]:
        """Running requests whose deadline passed or whose caller gave up: failed, to drop."""
        leaving = []
        for key, request in self._requests.items():
            if request.future.done():
                leaving.append(key)
            elif request.expired():
                request.future.set_exception(DeadlineExceeded("the deadline passed mid-way"))
                leaving.append(key)
        return leaving

    async def _turn(self, admitted: dict[int, _Request[In, Out]], leaving: list[int]) -> None:
        for key in leaving:
            self._forget(key)
        self._requests.update(admitted)
        runs = [(run, {k: self._requests[k].item for k in run.rows}) for run in self._runs]
        joining = {key: request.item for key, request in admitted.items()}
        newest = self._runs[-1] if self._runs else None
        until_ms = min(
            (r.deadline_ms for r in self._requests.values() if r.deadline_ms), default=inf
        )
        turn: _Turn[Out] = await asyncio.get_running_loop().run_in_executor(
            self._executor, in_context(self._step), runs, newest, joining, leaving, until_ms
        )
        for rows, seconds in turn.steps:
            metrics.batch(self._model, rows, seconds)
        widest = max((rows for rows, _ in turn.steps), default=0)
        seconds = sum(s for _, s in turn.steps)
        for request in self._requests.values():
            request.peak = max(request.peak, widest)
            request.compute_s += seconds
        for key, output in turn.finished.items():
            request = self._forget(key)
            if not request.future.done():
                assert request.run is not None
                result = Batched(
                    output, request.peak, request.compute_s * 1000, request.run.version
                )
                request.future.set_result(result)
        for key, exc in turn.failed.items():
            request = self._forget(key)
            if not request.future.done():
                request.future.set_exception(exc)
        self._runs = [run for run in self._runs if run.rows or run is self._runs[-1]]
        self._settle_swaps()

    def _forget(self, key: int) -> _Request[In, Out]:
        request = self._requests.pop(key)
        if request.run is not None:
            request.run.rows.discard(key)
        return request

    def _settle_swaps(self) -> None:
        """A swap is done once every run it found has no rows left."""
        for old, done in list(self._swaps):
            if all(not run.rows for run in old):
                self._swaps.remove((old, done))
                self._runs = [run for run in self._runs if run not in old or run.rows]
                if not done.done():
                    done.set_result(None)

    def _step(
        self,
        runs: list[tuple[_Run[In, Out], dict[int, In]]],
        newest: _Run[In, Out] | None,
        joining: dict[int, In],
        leaving: list[int],
        until_ms: float,
    ) -> _Turn[Out]:
        """On the model's thread: drop and join, then step until a row finishes or fails, a
        newcomer waits (and fits), a deadline passes or ``MAX_TURN_S`` is up."""
        turn: _Turn[Out] = _Turn()
        for run, _ in runs:
            run.session.remove(leaving)
        if newest is not None and joining:
            turn.failed.update(_join(newest.session, joining))
        until_ms = min(until_ms, now_ms() + MAX_TURN_S * 1000)
        room = sum(len(items) for _, items in runs) < self._max_batch
        while not (turn.finished or turn.failed or (room and self._arrived.is_set())):
            started = time.perf_counter()
            rows = _step_once(runs, turn)
            if not rows:
                break
            turn.steps.append((rows, time.perf_counter() - started))
            if now_ms() >= until_ms:
                break
        return turn


def _step_once(runs: list[tuple[_Run[In, Out], dict[int, In]]], turn: _Turn[Out]) -> int:
    """Step every run once; the rows stepped."""
    stepped = 0
    for run, items in runs:
        if not len(run.session):
            continue
        stepped += len(run.session)
        try:
            turn.finished.update(run.session.step())
        except Exception as exc:
            log.warning("a step of %d rows failed (%s); each again alone", len(items), exc)
            run.session.remove(list(items))
            _alone(run.open, {k: v for k, v in items.items() if k not in turn.failed}, turn)
    return stepped


def _alone(open: Callable[[], Session[In, Out]], items: dict[int, In], turn: _Turn[Out]) -> None:
    """Each item generated whole in a session of its own, after a failed step."""
    for key, item in items.items():
        try:
            [turn.finished[key]] = run_whole(open(), [item])
        except Exception as exc:
            turn.failed[key] = exc


def _join(session: Session[In, Any], items: dict[int, In]) -> dict[int, Exception]:
    """Add ``items`` together, or one by one if that fails; what failed alone, by key."""
    try:
        session.add(items)
        return {}
    except Exception as exc:
        if len(items) == 1:
            return {key: exc for key in items}
        log.warning("%d requests failed to join (%s); joining one by one", len(items), exc)
    failed: dict[int, Exception] = {}
    for key, item in items.items():
        failed.update(_join(session, {key: item}))
    return failed
