"""Live rollout: say that a model version is stored, and let workers switch to it while serving.

Whatever stores a version (``botwerk train``, ``botwerk models import``, the trainer) announces it
with one call, from async code or, with a short-lived connection, from sync code::

    await announce_published(bus, names, manifest, store=settings.models)
    announce_published_now(settings, manifest)     # skips, at debug level, with no broker set

Both send a :class:`ModelPublished` on ``{ns}.events`` with key ``model.published.<name>``;
``botwerk models promote`` and ``rollback`` send a :class:`ModelPromoted` with key
``model.promoted.<name>``. A worker serving a stored model unpinned (``--model bard``, not
``bard@2``) follows both through a :class:`Follower`: it loads the named version beside the one
in use on a thread of its own, warms it up with a full batch, has the batcher switch between
batches (:meth:`Batcher.swap`), and drops the old one once its last batch is done, so at most two
versions are in memory, and only during the switch. A version that fails to load or to warm up
is refused: the old one keeps serving, the worker logs why and sends :class:`ModelRejected` with
key ``model.rejected.<name>``.

Limits: events are hints, not commands in a log: a worker that is down when one is sent does not
see it, and loads the latest version when it starts. Each worker has its own events queue,
``{ns}.events.worker.<served>-<instance>``, which the broker deletes a minute after its worker is
gone (the bus contract declares named queues, so it is not a server-named exclusive one).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import sys
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from botwerk.infra import topology
from botwerk.infra.bus import Bus, Delivery, Outgoing, Subscription
from botwerk.infra.consumer import typed_handler
from botwerk.infra.settings import Settings
from botwerk.schemas import Envelope
from botwerk.schemas.messages import ModelPromoted, ModelPublished, ModelRejected

if TYPE_CHECKING:
    from botwerk.workers.batching import Batcher
    from botwerk.workers.store import Manifest

log = logging.getLogger("botwerk.rollout")

EVENTS_QUEUE_EXPIRES_MS = 60_000  # a worker's events queue outlives a reconnect, not the worker
ANNOUNCE_TIMEOUT_S = 5.0


@runtime_checkable
class Followable(Protocol):
    """A model that can follow new versions: the stored kinds (charrnn, word2vec, chat)."""

    @property
    def follows(self) -> str | None:
        """The stored model name whose events it follows; None when pinned to a version."""

    def at(self, version: str) -> Any:
        """A fresh, unloaded copy of this model serving ``version`` under the same name."""

    def latest(self) -> str:
        """The version that "latest" of the followed name means in the store now."""


# Announcing.


async def announce_published(
    bus: Bus, names: topology.Names, manifest: Manifest, *, store: str = ""
) -> None:
    """Send ``model.published.<name>`` for a version just stored in the store at ``store``."""
    event = ModelPublished(
        name=manifest.name, kind=manifest.kind, version=manifest.version,
        uri=f"{store.rstrip('/')}/{manifest.name}/{manifest.version}/",
        created_at=manifest.created or time.time(),
    )  # fmt: skip
    await _send(bus, names, f"model.published.{manifest.name}", event)


async def announce_promoted(
    bus: Bus, names: topology.Names, manifest: Manifest, previous: str, *, rollback: bool
) -> None:
    """Send ``model.promoted.<name>``: ``manifest`` is now what "latest" means."""
    event = ModelPromoted(
        name=manifest.name, kind=manifest.kind, version=manifest.version, previous=previous,
        rollback=rollback, at=time.time(),
    )  # fmt: skip
    await _send(bus, names, f"model.promoted.{manifest.name}", event)


def announce_published_now(settings: Settings, manifest: Manifest) -> bool:
    """:func:`announce_published` from sync code over a short-lived connection; False if not sent.

    With no ``BOTWERK_AMQP_URL`` it skips, saying so at debug level; a broker that cannot be
    reached is a warning: the version is stored either way, and workers load it when they start.
    """
    store = settings.models
    return _now(settings, manifest, lambda bus, names: announce_published(
        bus, names, manifest, store=store))  # fmt: skip


def announce_promoted_now(
    settings: Settings, manifest: Manifest, previous: str, *, rollback: bool
) -> bool:
    """:func:`announce_promoted` from sync code, as :func:`announce_published_now` does."""
    return _now(settings, manifest, lambda bus, names: announce_promoted(
        bus, names, manifest, previous, rollback=rollback))  # fmt: skip


Send = Callable[[Bus, topology.Names], Awaitable[None]]


def _now(settings: Settings, manifest: Manifest, send: Send) -> bool:
    if not settings.amqp_url:
        log.debug("BOTWERK_AMQP_URL is not set: %s is stored but not announced", manifest.spec)
        return False
    try:
        asyncio.run(_over_short_lived_bus(settings, send))
    except Exception as exc:
        log.warning("%s is stored but could not be announced: %s", manifest.spec, exc)
        return False
    return True


async def _over_short_lived_bus(settings: Settings, send: Send) -> None:
    from botwerk.infra.rabbit import RabbitBus

    bus = RabbitBus(settings, role="cli", name="announce")
    try:
        await bus.start(timeout=ANNOUNCE_TIMEOUT_S)
        await send(bus, topology.Names(settings.namespace))
    finally:
        await bus.close()


async def _send(bus: Bus, names: topology.Names, key: str, event: Envelope) -> None:
    await bus.declare([topology.Exchange(names.events, "topic")])
    await bus.publish(names.events, key, Outgoing.of(event), timeout=ANNOUNCE_TIMEOUT_S)


# Following, inside a worker.


class Follower:
    """Switches a worker's model to each version its events name; refuses what will not load."""

    def __init__(
        self,
        bus: Bus,
        settings: Settings,
        model: Any,
        batcher: Batcher[Any, Any],
        swapped: Callable[[Any], None],
    ) -> None:
        if not isinstance(model, Followable) or model.follows is None:
            raise ValueError(f"{model.name} is pinned or cannot change versions: nothing to follow")
        self.bus = bus
        self.settings = settings
        self.names = topology.Names(settings.namespace)
        self.model: Any = model  # a workers.runtime.Model; Any: runtime imports this module
        self.follows: str = model.follows
        self._batcher = batcher
        self._swapped = swapped
        self._subscription: Subscription | None = None
        self._catching_up: asyncio.Task[None] | None = None
        self._switching = asyncio.Lock()  # events and the catch-up switch one at a time
        self._events = 0  # events handled so far: newer news than a catch-up read before them
        served: Any = model  # narrowed to Followable above, which names no model
        self.queue = f"{self.names.events}.worker.{served.name}-{settings.instance}"
        self._first = self.queue
        self._moves = 0

    def _declarations(self) -> list[topology.Declarable]:
        queue = self.queue
        return [
            *topology.base(self.names, topology.limits_of(self.settings)),
            topology.Queue(queue, {"x-expires": EVENTS_QUEUE_EXPIRES_MS}),
            topology.Binding(queue, self.names.events, f"model.published.{self.follows}"),
            topology.Binding(queue, self.names.events, f"model.promoted.{self.follows}"),
        ]

    def _move(self, old: str) -> tuple[str, list[topology.Declarable]]:
        """The events queue's cluster node is down: a new queue (then :meth:`_moved`)."""
        self._moves += 1
        self.queue = topology.Names.moved(self._first, self._moves)
        return self.queue, self._declarations()

    def _moved(self) -> None:
        """The new events queue is declared: catch up with the store for what was announced
        meanwhile (events sent to the lost queue are missed; from now on they reach the new)."""
        if self._catching_up is None or self._catching_up.done():
            self._catching_up = asyncio.get_running_loop().create_task(self._catch_up())

    async def start(self) -> None:
        queue = self.queue
        self.bus.movable(queue, self._move, self._moved)
        await self.bus.declare(self._declarations())
        events = (ModelPublished, ModelPromoted)
        handler = typed_handler(self.bus, self.names, events, self._on_event)
        self._subscription = await self.bus.consume(queue, handler, prefetch=1)  # one at a time
        self._catching_up = asyncio.create_task(self._catch_up(), name=f"catch-up-{queue}")

    async def stop(self) -> None:
        if self._catching_up is not None:
            self._catching_up.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._catching_up
        if self._subscription is not None:
            await self._subscription.cancel()

    async def _on_event(self, event: Envelope, delivery: Delivery) -> None:
        if not isinstance(event, ModelPublished | ModelPromoted) or event.name != self.follows:
            return
        self._events += 1
        await self._follow(event.version)

    async def _catch_up(self) -> None:
        """A version published after this worker loaded and before it subscribed has no event
        left to hear: once subscribed, ask the store what "latest" means now, and follow it."""
        seen = self._events
        try:
            latest = await asyncio.to_thread(self.model.latest)
        except Exception as exc:  # the store is unreachable: events still move the worker
            log.warning("could not read the latest version of %s: %s", self.follows, exc)
            return
        if self._events != seen:  # an event came while we read: it is at least as new
            return
        await self._follow(latest)

    async def _follow(self, version: str) -> None:
        async with self._switching:
            if self.model.version in (version, f"{self.follows}@{version}"):
                log.info("%s@%s is already serving", self.follows, version)
                return
            await self.switch(version)

    async def switch(self, version: str) -> bool:
        """Load ``version`` beside the one in use, warm it, swap between batches; True if done."""
        old = self.model
        candidate: Any = None
        try:
            candidate = old.at(version)
            await asyncio.to_thread(candidate.load)  # beside the serving thread, never the loop
            warmup = [candidate.example()] * self.settings.max_batch
            outputs = await asyncio.to_thread(candidate.predict, warmup)
            if len(outputs) != len(warmup):
                raise ValueError(f"warm-up: {len(warmup)} inputs gave {len(outputs)} outputs")
        except Exception as exc:
            del candidate
            await self._reject(version, f"{type(exc).__name__}: {exc}")
            return False
        await self._batcher.swap(candidate.predict, candidate.version)
        self.model = candidate
        self._swapped(candidate)
        log.info("now serving %s (was %s)", candidate.version, old.version)
        del old
        await asyncio.to_thread(_free)
        return True

    async def _reject(self, version: str, reason: str) -> None:
        log.warning(
            "refused %s@%s: %s; still serving %s", self.follows, version, reason, self.model.version
        )
        event = ModelRejected(
            name=self.follows, version=version, serving=self.model.version,
            instance=self.settings.instance, reason=reason[:1000], at=time.time(),
        )  # fmt: skip
        try:
            await _send(self.bus, self.names, f"model.rejected.{self.follows}", event)
        except Exception as exc:
            log.warning("could not announce that %s@%s was refused: %s", self.follows, version, exc)


def _free() -> None:
    """Free the old version's memory now, not at some later collection (GPU memory too)."""
    gc.collect()
    torch = sys.modules.get("torch")  # only a kind that uses torch has imported it
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()
