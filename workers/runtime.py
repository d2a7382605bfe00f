"""The worker role: load one model once, keep it resident, answer its queue in batches.

Used like this::

    worker = Worker(bus, settings, EchoModel(settings, "echo"))
    await worker.start()   # load, warm up with a full batch, consume, then announce "up"

A model is any object with the :class:`Model` shape; the worker owns everything else: the
queue ``{ns}.infer.<name>``, input checking, deadlines (expired work is dead-lettered, never
started), batching, and replies. A model that decodes step by step (a ``session()``:
charrnn, chat) gets continuous batching (:mod:`botwerk.workers.continuous`): a request joins
the running batch at the next step and is answered the step it is done.

A worker starts on probation, taking one request at a time, and takes up to ``max_batch`` at
once only after it has answered a fresh request (delivery count 0). A quorum queue hands back
what a crashed consumer held before anything new, so a request that kills its worker comes
back, alone, to the restarted one: only its own delivery count rises until the broker
dead-letters it, instead of the whole batch that died with it reaching the limit together.
Input the model refuses gets a ``bad_request`` error reply; an exception in the model gets a
``model_error`` reply. The process carries on either way.

A model served unpinned (``--model bard``, not ``bard@2``) follows new versions as they are
published or promoted, switching between batches without failing a request; each answer names
the version that computed it (:mod:`botwerk.workers.rollout`). A stand-in for a model that is not
there yet (:mod:`botwerk.workers.learning`, what ``botwerk up`` serves) is consumed from the
start: while its model learns, each request is answered at once with how far the training is;
once a version exists and loads, requests wait for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any, ClassVar, Protocol, runtime_checkable

from botwerk.infra import metrics, topology
from botwerk.infra.bus import Bus, Delivery, Subscription
from botwerk.infra.errors import DeadLetter, DeadlineExceeded, TooLarge
from botwerk.infra.events import announce
from botwerk.infra.responder import WORK, Responder
from botwerk.infra.settings import Settings
from botwerk.schemas import Envelope, Error, InferReply, InferRequest, SchemaError, validate
from botwerk.workers.batching import Batcher
from botwerk.workers.continuous import ContinuousBatcher, Stepping
from botwerk.workers.learning import Learning
from botwerk.workers.rollout import Followable, Follower

log = logging.getLogger("botwerk.worker")


class Model(Protocol):
    """What a worker serves. ``load`` and ``predict`` run on the model's own thread.

    A model whose ``predict`` takes microseconds may also be :class:`OnLoop`: the batches it
    calls cheap run on the event loop instead, without a thread hop.
    """

    name: str
    """The name it is served under: the queue is ``{ns}.infer.<name>``."""
    version: str
    Input: ClassVar[type[Any]]
    """A msgspec Struct for one request's ``inputs``; checked before batching."""

    def load(self) -> None:
        """Load the weights, once."""

    def example(self) -> Any:
        """A typical input, used to warm up with a full batch before serving."""

    def predict(self, batch: list[Any]) -> list[dict[str, Any]]:
        """One output per input, in the same order."""


@runtime_checkable
class OnLoop(Protocol):
    """A model that can say a batch is cheap enough for the event loop (echo: no ``delay_ms``).

    Only for microseconds of pure computation: the loop carries the AMQP heartbeats and every
    other request, so a batch that could take milliseconds, wait on I/O or sleep must answer
    False (a torch model, a scan of a large word-vector matrix). The worker asks before each
    batch; False, or a model without ``on_loop``, computes on the model's thread.
    """

    def on_loop(self, batch: list[Any]) -> bool:
        """True when ``predict(batch)`` is safe to run on the event loop."""


class Worker:
    """Serves one model from its queue until stopped."""

    role = "worker"

    def __init__(self, bus: Bus, settings: Settings, model: Model) -> None:
        self.bus = bus
        self.settings = settings
        self.model = model
        self.names = topology.Names(settings.namespace)
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"model-{model.name}")
        self._batcher = _batcher_for(model, settings, self._executor)
        self._follower: Follower | None = None
        self._loop_task: asyncio.Task[None] | None = None
        self._subscription: Subscription | None = None
        self._loaded = False
        self._probation = True
        self._arrived = asyncio.Event()  # a stand-in (Learning) was swapped for a real version
        self._background: set[asyncio.Task[None]] = set()
        # Transient replies on purpose: only the live caller can use one. If the caller or the
        # broker dies, the caller's own message was never acked and is asked again.
        self._responder = Responder(
            bus, self.names, InferRequest, self._answer, asked=WORK, too_large=_too_large,
            persistent=False, after=self._answered, max_bytes=settings.max_message_bytes,
            labels=metrics.Labels(self.role, model=model.name),
        )  # fmt: skip

    async def start(self) -> None:
        await self._timed("load", self.model.load)
        warmup = [self.model.example()] * self.settings.max_batch
        await self._timed("warmup", self.model.predict, warmup)
        self._loaded = True
        self._batcher.version = self.model.version  # known once loaded
        self._loop_task = asyncio.create_task(
            self._batcher.run(), name=f"batcher-{self.model.name}"
        )
        limits = topology.limits_of(self.settings)
        await self.bus.declare(topology.for_worker(self.names, self.model.name, limits))
        self._subscription = await self._subscribe(prefetch=1)  # on probation: see the module
        await self._announce(up=True)
        log.info("serving %s %s from %s", self.model.name, self.model.version, self.queue)
        if isinstance(self.model, Followable) and self.model.follows is not None:
            self._follower = Follower(self.bus, self.settings, self.model, self._batcher, self._use)
            await self._follower.start()

    @property
    def queue(self) -> str:
        return self.names.infer_queue(self.model.name)

    @property
    def name(self) -> str:
        """The model it serves, as ``/readyz`` and the metrics name it."""
        return self.model.name

    def not_ready(self) -> list[str]:
        """Why it cannot answer yet (``/readyz``): the model loading, or no consumer."""
        if not self._loaded:
            return [f"model {self.model.name} not loaded yet"]
        return [] if self._subscription is not None else [f"not consuming {self.queue}"]

    async def _timed(self, phase: str, work: Any, *args: Any) -> None:
        """``work(*args)`` on the model's thread, its seconds in ``botwerk_model_load_seconds``."""
        started = time.perf_counter()
        await asyncio.get_running_loop().run_in_executor(self._executor, work, *args)
        metrics.model_loaded(self.model.name, phase, time.perf_counter() - started)

    def _use(self, model: Model) -> None:
        """The follower switched versions: answers name the new one from now on."""
        self.model = model
        self._arrived.set()
        task = asyncio.get_running_loop().create_task(self._announce(up=True))  # new version
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def stop(self) -> None:
        self._probation = False  # an answer confirmed from now on subscribes nothing anew
        if self._follower is not None:
            await self._follower.stop()
        if self._background:  # leaving probation swaps subscriptions: let it finish first
            await asyncio.wait(self._background)
        if self._subscription is not None:
            await self._subscription.cancel()
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        await self._announce(up=False)
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def _subscribe(self, prefetch: int) -> Subscription:
        return await self.bus.consume(self.queue, self._responder.handler(), prefetch=prefetch)

    async def _leave_probation(self) -> None:
        """Consume with the full batch size, once the redelivered backlog is worked off."""
        probation = self._subscription
        self._subscription = await self._subscribe(prefetch=self.settings.max_batch)
        if probation is not None:
            await probation.cancel()
        log.info("probation over: taking up to %d requests at once", self.settings.max_batch)

    def _answered(self, delivery: Delivery) -> None:
        """After each reply: a fresh message ends probation (what a crash returned is done)."""
        if self._probation and delivery.delivery_count == 0:
            self._probation = False
            task = asyncio.create_task(self._leave_probation(), name="leave-probation")
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _answer(self, request: InferRequest, delivery: Delivery) -> Envelope:
        name = self.model.name
        if request.model != name:
            return Error(
                code="bad_request", message=f"this worker serves {name!r}, not {request.model!r}"
            )
        if isinstance(self.model, Learning):
            if not self.model.arriving:  # no version yet: say how far its training is
                return self.model.answer()
            try:  # a version is loading: this request waits for it
                async with asyncio.timeout_at(_loop_time(delivery.deadline_ms)):
                    await self._arrived.wait()
            except TimeoutError:
                raise DeadLetter(WORK.expired, "expired") from None
        try:
            inputs = validate(request.inputs, self.model.Input, "inputs")
            done = await self._batcher.submit(inputs, delivery.deadline_ms)
        except SchemaError as exc:
            return Error(  # words for the user; the path and type names for the logs only
                code="bad_request", message=exc.for_user(self.model.Input),
                detail=f"{name} cannot take that input: {exc}",
            )  # fmt: skip
        except DeadlineExceeded:
            raise DeadLetter(WORK.expired, "expired") from None
        except Exception as exc:
            log.warning("model %s failed: %s: %s", name, type(exc).__name__, exc)
            return Error(
                code="model_error",
                message=f"the {name} model failed on that input",
                detail=f"{type(exc).__name__}: {exc}",
            )
        return InferReply(
            model=name,
            version=done.version or self.model.version,  # the version that computed it
            outputs=done.output,
            batch_size=done.batch_size,
            compute_ms=round(done.compute_ms, 3),
        )

    async def _announce(self, up: bool) -> None:
        model = f"{self.model.name}@{self.model.version}" if self.model.version else None
        await announce(
            self.bus, self.names, self.role, self.model.name, self.settings.instance, up, model
        )


def _batcher_for(model: Model, settings: Settings, executor: Executor) -> Any:
    """Continuous batching for a model that decodes step by step, whole batches otherwise."""
    limits: dict[str, Any] = {
        "max_batch": settings.max_batch, "max_wait_ms": settings.max_wait_ms,
        "executor": executor, "version": model.version, "model": model.name,
    }  # fmt: skip
    if isinstance(model, Stepping):
        return ContinuousBatcher(model.session, **limits)
    on_loop = model.on_loop if isinstance(model, OnLoop) else None
    return Batcher(model.predict, on_loop=on_loop, **limits)


def _loop_time(deadline_ms: int | None) -> float | None:
    """An epoch-ms deadline on the running loop's clock (None: no deadline)."""
    if deadline_ms is None:
        return None
    loop = asyncio.get_running_loop()
    return loop.time() + (deadline_ms - time.time() * 1000) / 1000


def _too_large(answer: Envelope, exc: TooLarge) -> Error:
    """The error reply sent instead of an answer over the size cap."""
    return Error(code="model_error", message="the answer was too large", detail=str(exc))
