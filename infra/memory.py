"""The bus in one process, for ``botwerk up`` with no broker, with RabbitMQ's semantics.

Used like this::

    bus = MemoryBus()
    await bus.start()

It keeps what roles rely on, so code proven here behaves the same on RabbitMQ (one test suite
runs on both): topic and direct exchanges and the default exchange; publishes confirmed or
refused (``Unroutable`` for a mandatory publish that matches no queue, ``Rejected`` when a
bounded queue is full); per-consumer prefetch; every delivery in its own task; unacked
messages requeued with ``x-delivery-count`` raised when a consumer goes away; dead-lettering
past the delivery limit, on reject and on expiry, with ``x-first-death-reason`` as RabbitMQ
sets it. Limits: nothing survives the process, and there is no flow control.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from functools import lru_cache

from botwerk.infra.bus import Delivery, Handler, Move, Moved, Outgoing, Settlement, check_size
from botwerk.infra.errors import BusError, NotConnected, Rejected, Unroutable
from botwerk.infra.topology import Binding, Declarable, Exchange, Queue
from botwerk.schemas import DEFAULT_MAX_BYTES

log = logging.getLogger("botwerk.memory")


@dataclass(slots=True)
class _Message:
    exchange: str
    routing_key: str
    message: Outgoing
    enqueued: float = field(default_factory=time.monotonic)
    deliveries: int = 0


@dataclass(eq=False)
class _Consumer:
    queue: _Queue
    handler: Handler
    prefetch: int
    unacked: dict[int, _Message] = field(default_factory=dict)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    active: bool = True

    @property
    def has_room(self) -> bool:
        return self.active and len(self.unacked) < self.prefetch


@dataclass(eq=False)
class _Queue:
    spec: Queue
    ready: deque[_Message] = field(default_factory=deque)
    consumers: list[_Consumer] = field(default_factory=list)
    turn: int = 0

    @property
    def full(self) -> bool:
        """Over its bound; like a quorum queue, it takes one message past the bound first."""
        limit = self.spec.max_length
        held = len(self.ready) + sum(len(c.unacked) for c in self.consumers)
        return limit is not None and held > limit

    @property
    def refuses(self) -> bool:
        """Full, and bounded with ``reject-publish``: a publish to it is nacked."""
        return self.full and self.spec.arguments.get("x-overflow") == "reject-publish"

    def append(self, item: _Message) -> None:
        """Enqueue ``item``; past a ``drop-head`` bound (RabbitMQ's default) the oldest go."""
        self.ready.append(item)
        while self.full and not self.refuses and self.ready:
            self.ready.popleft()


class MemorySubscription:
    def __init__(self, bus: MemoryBus, consumer: _Consumer) -> None:
        self._bus = bus
        self._consumer = consumer
        self.queue = consumer.queue.spec.name

    async def cancel(self) -> None:
        await self._bus._stop_consumer(self._consumer)


class MemoryBus:
    """:class:`botwerk.infra.bus.Bus` inside one process."""

    kind = "memory"

    def __init__(self, max_message_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self._max_bytes = max_message_bytes
        self._exchanges: dict[str, Exchange] = {}
        self._bindings: dict[str, list[Binding]] = {}
        self._queues: dict[str, _Queue] = {}
        self._tags = itertools.count(1)
        self._started = False
        self.connected_at = 0.0
        self.reconnected_at = 0.0  # one process: never loses its broker

    async def start(self) -> None:
        self._started = True
        self.connected_at = time.monotonic()

    async def close(self) -> None:
        for queue in list(self._queues.values()):
            for consumer in list(queue.consumers):
                await self._stop_consumer(consumer)
        self._started = False

    async def declare(self, items: Iterable[Declarable]) -> None:
        self._check_started()
        for item in items:
            if isinstance(item, Exchange):
                self._declare_exchange(item)
            elif isinstance(item, Queue):
                self._declare_queue(item)
            else:
                self._bind(item)

    async def publish(
        self,
        exchange: str,
        routing_key: str,
        message: Outgoing,
        *,
        mandatory: bool = False,
        timeout: float | None = None,
        cap: bool = True,
    ) -> None:
        self._check_started()
        if cap:
            check_size(message, self._max_bytes)
        targets = self._route(exchange, routing_key)
        where = f"{exchange or 'default exchange'}/{routing_key}"
        if not targets:
            if mandatory:
                raise Unroutable(f"{where}: returned: 312 NO_ROUTE")
            return
        if any(queue.refuses for queue in targets):
            raise Rejected(f"{where}: broker nacked it")
        for queue in targets:
            queue.append(_Message(exchange, routing_key, message))
            self._dispatch(queue)
        await asyncio.sleep(0)  # a publish yields, as a broker round trip would

    async def consume(self, queue: str, handler: Handler, *, prefetch: int) -> MemorySubscription:
        self._check_started()
        if queue not in self._queues:
            raise BusError(f"cannot consume {queue}: NOT_FOUND - no queue {queue!r}")
        target = self._queues[queue]
        consumer = _Consumer(target, handler, prefetch)
        target.consumers.append(consumer)
        self._dispatch(target)
        return MemorySubscription(self, consumer)

    def movable(self, queue: str, move: Move, moved: Moved) -> None:
        """Nothing to do: one process has no node to lose."""

    async def delete_queue(self, name: str) -> None:
        queue = self._queues.pop(name, None)
        for bindings in self._bindings.values():
            bindings[:] = [b for b in bindings if b.queue != name]
        if queue is not None:
            for consumer in list(queue.consumers):
                consumer.active = False
            queue.consumers.clear()

    async def delete_exchange(self, name: str) -> None:
        self._exchanges.pop(name, None)
        self._bindings.pop(name, None)

    # Declaring.

    def _declare_exchange(self, item: Exchange) -> None:
        known = self._exchanges.setdefault(item.name, item)
        if known != item:
            raise BusError(f"cannot declare {item}: PRECONDITION_FAILED - it is a {known.kind}")
        self._bindings.setdefault(item.name, [])

    def _declare_queue(self, item: Queue) -> None:
        queue = self._queues.setdefault(item.name, _Queue(item))
        if queue.spec.arguments != item.arguments:
            raise BusError(f"cannot declare {item}: PRECONDITION_FAILED - inequivalent arguments")

    def _bind(self, item: Binding) -> None:
        if item.exchange not in self._exchanges or item.queue not in self._queues:
            raise BusError(f"cannot declare {item}: NOT_FOUND - declare both ends first")
        if item not in self._bindings[item.exchange]:
            self._bindings[item.exchange].append(item)

    # Routing and delivering.

    def _route(self, exchange: str, key: str) -> list[_Queue]:
        if exchange == "":
            return [self._queues[key]] if key in self._queues else []
        if exchange not in self._exchanges:
            raise BusError(f"NOT_FOUND - no exchange {exchange!r}")
        kind = self._exchanges[exchange].kind
        names = {
            b.queue
            for b in self._bindings[exchange]
            if kind == "fanout"
            or (kind == "direct" and b.routing_key == key)
            or (kind == "topic" and topic_matches(b.routing_key, key))
        }
        return [self._queues[name] for name in names]

    def _dispatch(self, queue: _Queue) -> None:
        while queue.ready:
            ready = [c for c in queue.consumers if c.has_room]
            if not ready:
                return
            item = queue.ready.popleft()
            if self._expired(item):
                self._dead_letter(queue, item, "expired")
                continue
            consumer = ready[queue.turn % len(ready)]
            queue.turn += 1
            self._deliver(consumer, item)

    def _deliver(self, consumer: _Consumer, item: _Message) -> None:
        tag = next(self._tags)
        consumer.unacked[tag] = item
        message = item.message
        if item.deliveries:
            counted = {**message.headers, "x-delivery-count": item.deliveries}
            message = replace(message, headers=counted)
        delivery = Delivery(
            consumer.queue.spec.name, item.exchange, item.routing_key, message,
            item.deliveries > 0, lambda how: self._settle(consumer, tag, how),
        )  # fmt: skip
        # Always a task here, a plain callback's included: settling one delivers the next, and
        # in the callback that would recurse once per queued message.
        task = asyncio.get_running_loop().create_task(_handle(consumer.handler, delivery))
        consumer.tasks.add(task)
        task.add_done_callback(consumer.tasks.discard)

    def _settle(self, consumer: _Consumer, tag: int, how: Settlement) -> None:
        item = consumer.unacked.pop(tag, None)
        if item is None:
            return  # the consumer was stopped and the message already requeued
        queue = consumer.queue
        if how == "requeue":
            self._return(queue, item)
        elif how == "discard":
            self._dead_letter(queue, item, "rejected")
        self._dispatch(queue)

    def _return(self, queue: _Queue, item: _Message) -> None:
        item.deliveries += 1
        limit = queue.spec.delivery_limit
        if limit is not None and item.deliveries > limit:
            self._dead_letter(queue, item, "delivery_limit")
        else:
            queue.ready.appendleft(item)

    def _dead_letter(self, queue: _Queue, item: _Message, reason: str) -> None:
        dlx = queue.spec.dead_letter_exchange
        if dlx is None or dlx not in self._exchanges:
            log.info("dropped %s from %s (%s)", item.message.message_id, queue.spec.name, reason)
            return
        headers = dict(item.message.headers)
        headers.setdefault("x-first-death-reason", reason)
        headers.setdefault("x-first-death-queue", queue.spec.name)
        headers.setdefault("x-first-death-exchange", item.exchange)
        death = {"reason": reason, "queue": queue.spec.name, "count": 1, "exchange": item.exchange}
        headers["x-death"] = [death, *headers.get("x-death", [])]
        copy = replace(item.message, headers=headers, expiration_ms=None)
        for target in self._route(dlx, item.routing_key):
            target.append(_Message(dlx, item.routing_key, copy))
            self._dispatch(target)

    @staticmethod
    def _expired(item: _Message) -> bool:
        ttl = item.message.expiration_ms
        return ttl is not None and (time.monotonic() - item.enqueued) * 1000 >= ttl

    async def _stop_consumer(self, consumer: _Consumer, grace: float = 10.0) -> None:
        consumer.active = False
        if consumer.tasks:
            await asyncio.wait(consumer.tasks, timeout=grace)
        queue = consumer.queue
        if consumer in queue.consumers:
            queue.consumers.remove(consumer)
        for tag in sorted(consumer.unacked, reverse=True):  # back in their original order
            self._return(queue, consumer.unacked.pop(tag))
        self._dispatch(queue)

    def _check_started(self) -> None:
        if not self._started:
            raise NotConnected("the bus is not started: call `await bus.start()` first")

    async def consumers(self, queue: str) -> int | None:
        self._check_started()
        target = self._queues.get(queue)
        return None if target is None else sum(c.active for c in target.consumers)


@lru_cache(maxsize=4096)
def topic_matches(pattern: str, key: str) -> bool:
    """AMQP topic match: ``*`` is exactly one word, ``#`` zero or more words."""
    return _match(tuple(pattern.split(".")), tuple(key.split(".")))


def _match(pattern: tuple[str, ...], words: tuple[str, ...]) -> bool:
    if not pattern:
        return not words
    head, rest = pattern[0], pattern[1:]
    if head == "#":
        return any(_match(rest, words[i:]) for i in range(len(words) + 1))
    return bool(words) and head in ("*", words[0]) and _match(rest, words[1:])


async def _handle(handler: Handler, delivery: Delivery) -> None:
    """Run ``handler`` on ``delivery``, and the coroutine it returns, if any."""
    work = handler(delivery)
    if work is not None:
        await work
