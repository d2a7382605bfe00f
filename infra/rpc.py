"""Request/reply over the bus: a reply queue per process, correlation ids, a deadline on every call.

Used like this::

    replies = Replies(bus, names, names.reply_queue("core", settings.instance))
    await replies.start()
    rpc = Rpc(bus, names, replies)
    reply = await rpc.infer("echo", {"text": "hi"}, deadline_ms=now_ms() + 5000)

A model nobody serves fails at once with ``no_worker`` ("The chat model isn't running right
now"), not a deadline later with "took too long". Two checks:

- The call publishes with ``mandatory``: a model whose queue was never declared is unroutable.
- Before publishing, :class:`Presence` counts the consumers of the model's queue (a passive
  declare, at most once per queue per second, shared by concurrent calls; between counts the
  check is a dict lookup). A queue with no consumer fails the call at once when this process
  has never seen the model served, or has seen no consumer of it and no reply from it for
  ``no_worker_grace_s`` (default 30 s, counted from this process's last reconnect at the
  earliest).

Why a grace: a worker killed and restarted (4-6.5 s in the fault suite here), a consumer
restarted after its channel closed, roles reconnecting after a broker restart (up to
``reconnect_max_s`` apart) all leave a queue briefly unserved, and the requests meanwhile must
still be answered: within the grace they are published as before, the queue holds them, and
a worker that comes back answers them (or they get ``timeout`` at their deadline). Why 30 s: a
worker whose cluster node froze is counted out by the new queue leader within seconds, but
notices it itself only at pika's next heartbeat check (10-20 s at the default ``heartbeat_s``
of 5) and may try the silent node first (``NODE_HANDSHAKE_S``, 5 s): up to about 25 s. The
cluster freeze row's worker came back 18.3 and 18.4 s after the freeze in two runs here, its
core (on the same node) 11.4 and 9.8 s after it: inside the old 10 s grace, counted from the
core's reconnect, by only 3.1 and 1.4 s. A little more load, and users would hear "not
running" while their worker was on its way back. Why no grace
for a model never seen served: a fresh core's first user would wait the whole deadline to hear
what the queue already says; the price is that a core started beside a worker still loading
says "not running" for those seconds, which is true.

Each request carries the remaining time as its TTL, so a worker that comes back later never
starts expired work. A reply that arrives after its caller gave up is dropped; so is a
duplicate (the same request answered twice after a redelivery).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

from botwerk.infra.backoff import Backoff
from botwerk.infra.bus import Bus, Delivery, Outgoing, new_id, now_ms
from botwerk.infra.consumer import typed_callback, typed_handler
from botwerk.infra.errors import (
    DeadlineExceeded,
    PublishFailed,
    PublishRefused,
    Rejected,
    RemoteError,
    Unroutable,
)
from botwerk.infra.logs import TRACE
from botwerk.infra.settings import NO_WORKER_GRACE_S
from botwerk.infra.topology import Declarable, Names, for_replies
from botwerk.schemas import DEFAULT_MAX_BYTES, Envelope, Error, InferReply, InferRequest, Reply

log = logging.getLogger("botwerk.rpc")

REPLY_TYPES: tuple[type[Envelope], ...] = (Reply, InferReply, Error)
PRESENCE_TTL_S = 1.0  # a queue's consumer count is trusted this long: one passive declare a second
PRESENCE_WAIT_S = 1.0  # longest a call waits for that count (a slow broker): then it publishes
ASK_AGAIN_FIRST_S = 0.2  # a copy asked again (its reply queue moved) that the broker nacked goes
ASK_AGAIN_CAP_S = 2.0  # again after about this long, doubling up to this (a new quorum leader
# is elected in 0.3-8 s on the cluster rows, docs/reliability.md)
FAILOVER_S = 30.0  # this long after a reconnect, a nacked publish goes again rather than "busy"


class SeenIds:
    """The most recent ``size`` ids, to drop duplicates in bounded memory."""

    def __init__(self, size: int = 100_000) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._size = size

    def __contains__(self, key: str) -> bool:
        return key in self._ids

    def discard(self, key: str) -> None:
        self._ids.pop(key, None)

    def add(self, key: str) -> None:
        self._ids[key] = None
        self._ids.move_to_end(key)
        if len(self._ids) > self._size:
            self._ids.popitem(last=False)


ReplyHandle = Callable[[Envelope, Delivery], Awaitable[None]]
"""An inbox's handler that waits (a gateway's: on the platform): a task per reply."""
PlainReplyHandle = Callable[[Envelope, Delivery], None]
"""An inbox's handler that returns at once (:class:`Replies`): run in the bus's callback."""


class Inbox:
    """A process's own reply queue: each reply, decoded and traced, goes to ``handle``.

    Declared per process (``{ns}.reply.<role>.<id>``), it is consumed like any queue: ``handle``
    returning acks the reply, raising :class:`DeadLetter` dead-letters it. :class:`Replies`
    matches replies to the calls that wait for them, in a plain function run in the bus's own
    callback (:func:`~botwerk.infra.consumer.typed_callback`: no task per reply); a transport's
    gateway takes every reply it gets to its user (``transports/base.py``), a coroutine run as
    a task per reply, since it waits on the platform.

    On a cluster the queue lives on one node. When that node is down the inbox moves to a new
    queue (``...-moved1``, ``-moved2``, ...): ``queue`` names the current one, and once it is
    declared ``on_moved`` is called, so that whoever waits for replies sent to the old one asks
    again, naming a queue that exists.
    """

    def __init__(
        self,
        bus: Bus,
        names: Names,
        queue: str,
        handle: ReplyHandle | PlainReplyHandle,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        on_moved: Callable[[], None] = lambda: None,
    ) -> None:
        self.bus = bus
        self.names = names
        self.queue = queue
        self.max_bytes = max_bytes
        self.on_moved = on_moved
        self._first = queue
        self._moves = 0
        self._handle = handle
        self._subscription: Any = None

    async def start(self, prefetch: int = 256) -> None:
        self.bus.movable(self.queue, self._move, lambda: self.on_moved())
        await self.bus.declare(for_replies(self.names, self.queue))
        handler = (
            typed_handler(self.bus, self.names, REPLY_TYPES, cast(ReplyHandle, self._handle),
                          max_bytes=self.max_bytes)
            if inspect.iscoroutinefunction(self._handle)
            else typed_callback(self.bus, self.names, REPLY_TYPES,
                                cast(PlainReplyHandle, self._handle), max_bytes=self.max_bytes)
        )  # fmt: skip
        self._subscription = await self.bus.consume(self.queue, handler, prefetch=prefetch)

    async def stop(self) -> None:
        if self._subscription is not None:
            await self._subscription.cancel()

    def _move(self, old: str) -> tuple[str, list[Declarable]]:
        self._moves += 1
        self.queue = Names.moved(self._first, self._moves)
        return self.queue, for_replies(self.names, self.queue)


class ReplyQueueMoved(Exception):
    """The reply queue a call named was lost with its node: the call asks again."""


class Replies(Inbox):
    """A reply inbox that hands each reply to whoever waits on its correlation id.

    A reply nobody waits for (its caller gave up, or a duplicate) is logged and dropped.
    """

    def __init__(
        self, bus: Bus, names: Names, queue: str, *, max_bytes: int = DEFAULT_MAX_BYTES
    ) -> None:
        super().__init__(
            bus, names, queue, self._on_reply, max_bytes=max_bytes, on_moved=self._ask_again
        )
        self._waiting: dict[str, asyncio.Future[Envelope]] = {}

    def expect(self, correlation_id: str) -> asyncio.Future[Envelope]:
        future: asyncio.Future[Envelope] = asyncio.get_running_loop().create_future()
        self._waiting[correlation_id] = future
        return future

    def forget(self, correlation_id: str) -> None:
        self._waiting.pop(correlation_id, None)

    def _ask_again(self) -> None:
        """Every call waiting now named the lost queue: each one asks again (:class:`Rpc`)."""
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(ReplyQueueMoved())
        self._waiting.clear()

    def _on_reply(self, reply: Envelope, delivery: Delivery) -> None:
        correlation_id = delivery.message.correlation_id or ""
        future = self._waiting.pop(correlation_id, None)
        if future is None:
            log.info("late or duplicate reply to %s dropped", correlation_id)
        elif not future.done():
            future.set_result(reply)


@dataclass(slots=True)
class _Watch:
    """What this process knows of one queue's consumers."""

    consumers: int | None = None  # at the last count; None: no such queue, or unknown
    counted_at: float = float("-inf")  # monotonic
    seen_at: float | None = None  # monotonic: last counted a consumer or got a reply
    counting: asyncio.Task[None] | None = None  # the count in flight, shared by every caller


class Presence:
    """Whether anyone serves a queue, counted at most once per ``ttl_s`` per queue.

    ``await presence.unserved(queue, wait_s)`` is True when the queue has no consumer and either
    this process never saw it served, or it saw none for ``grace_s`` (counted from the later
    of the last sighting and the bus's last reconnect). A count that fails or takes longer
    than ``wait_s`` says nothing: the caller publishes as it would without one.
    """

    def __init__(self, bus: Bus, *, grace_s: float, ttl_s: float = PRESENCE_TTL_S) -> None:
        self.bus = bus
        self.grace_s = grace_s
        self.ttl_s = ttl_s
        self._watches: dict[str, _Watch] = {}

    async def unserved(self, queue: str, wait_s: float) -> bool:
        watch = self._watches.setdefault(queue, _Watch())
        if time.monotonic() - watch.counted_at >= self.ttl_s:
            if watch.counting is None:
                watch.counting = asyncio.create_task(self._count(queue, watch))
            # Not cancelled by an impatient caller: the count lands for the next one.
            await asyncio.wait({watch.counting}, timeout=wait_s)
        if watch.counting is not None or watch.consumers != 0:  # still counting: unknown
            return False
        if watch.seen_at is None:
            return True
        since = max(watch.seen_at, self.bus.connected_at)
        return time.monotonic() - since >= self.grace_s

    def saw(self, queue: str) -> None:
        """Someone serves ``queue``: one of its consumers just answered."""
        self._watches.setdefault(queue, _Watch()).seen_at = time.monotonic()

    async def _count(self, queue: str, watch: _Watch) -> None:
        try:
            watch.consumers = await self.bus.consumers(queue)
        except Exception as exc:  # a broker down or slow: unknown, the publish will tell
            log.debug("could not count the consumers of %s: %s", queue, exc)
            watch.consumers = None
        finally:
            watch.counted_at = time.monotonic()
            watch.counting = None
        if watch.consumers:
            watch.seen_at = watch.counted_at


class Rpc:
    """Calls to models, each bounded by a deadline (epoch ms).

    ``grace_s``: how long a model's queue may go without a consumer before calls to it fail
    at once (``no_worker``); the setting ``no_worker_grace_s``. ``presence_ttl_s``: how long
    a consumer count is trusted.
    """

    def __init__(
        self, bus: Bus, names: Names, replies: Replies, *,
        grace_s: float = NO_WORKER_GRACE_S, presence_ttl_s: float = PRESENCE_TTL_S,
    ) -> None:  # fmt: skip
        self.bus = bus
        self.names = names
        self.replies = replies
        self.presence = Presence(bus, grace_s=grace_s, ttl_s=presence_ttl_s)

    async def infer(self, model: str, inputs: dict[str, Any], *, deadline_ms: int) -> InferReply:
        """The model's reply; :class:`RemoteError` (with an ErrorCode) if there is none."""
        request = InferRequest(model=model, inputs=inputs)
        queue = self.names.infer_queue(model)
        remaining_s = (deadline_ms - now_ms()) / 1000
        if remaining_s > 0 and await self.presence.unserved(
            queue, min(remaining_s, PRESENCE_WAIT_S)
        ):
            raise _no_worker(model)
        reply = await self.call(self.names.infer, model, request, deadline_ms=deadline_ms)
        if not isinstance(reply, InferReply):
            raise RemoteError("internal", f"model {model!r} answered with {reply.TYPE}")
        return reply

    async def call(
        self, exchange: str, key: str, request: Envelope, *, deadline_ms: int
    ) -> Envelope:
        remaining_ms = deadline_ms - now_ms()
        if remaining_ms <= 0:
            raise DeadlineExceeded(f"the deadline passed before {key!r} was asked", key)
        message_id = new_id()
        again: Backoff | None = None  # once the reply queue moved: when a nacked copy goes again
        try:
            while True:  # more than once only when the reply queue moved (a node lost)
                message = Outgoing.of(
                    request,
                    message_id=message_id,
                    reply_to=self.replies.queue,
                    trace=TRACE.get(),
                    deadline_ms=deadline_ms,
                    expiration_ms=max(deadline_ms - now_ms(), 1),
                )
                answer = self.replies.expect(message_id)
                try:
                    reply = await self._send(exchange, key, message, answer, deadline_ms)
                    break
                except ReplyQueueMoved:
                    log.info("reply queue moved; %s asks %r again", message_id, key)
                    again = again or Backoff(first=ASK_AGAIN_FIRST_S, cap=ASK_AGAIN_CAP_S)
                except Rejected:
                    # A nack of the copy asked again (the queue took the first), or of any
                    # publish just after a reconnect, is the moment (a quorum queue electing a
                    # new leader after its node died), not "busy": it goes again until its
                    # deadline, as a gateway's copies do. (Seen in CI's cluster kill row: 32 users
                    # told "busy", their core's model calls nacked while a leader was elected.)
                    if again is None and failing_over(self.bus):
                        again = Backoff(first=ASK_AGAIN_FIRST_S, cap=ASK_AGAIN_CAP_S)
                    delay = 0.0 if again is None else min(again.next(), time_left(deadline_ms))
                    if delay <= 0:
                        raise
                    log.info("%s asked again was nacked; again in %.1fs", message_id, delay)
                    await asyncio.sleep(delay)
        except Unroutable:
            raise _no_worker(key) from None
        except Rejected:
            full = f"the queue for {key!r} is full; try again shortly"
            raise RemoteError("busy", full, target=key) from None
        except PublishRefused:
            raise  # the broker refused this one request: its cause is dead-lettered, not retried
        except (TimeoutError, PublishFailed):
            late = f"{key!r} did not answer within {remaining_ms} ms"
            raise DeadlineExceeded(late, key) from None
        finally:
            self.replies.forget(message_id)
        if exchange == self.names.infer:  # a worker answered, if only with an error: it is up
            self.presence.saw(self.names.infer_queue(key))
        if isinstance(reply, Error):
            raise RemoteError(
                reply.code, reply.message, reply.detail, target=key, learning=reply.learning
            )
        return reply

    async def _send(
        self, exchange: str, key: str, message: Outgoing, answer: asyncio.Future[Envelope],
        deadline_ms: int,
    ) -> Envelope:  # fmt: skip
        await self.bus.publish(
            exchange, key, message, mandatory=True, timeout=time_left(deadline_ms)
        )
        async with asyncio.timeout(time_left(deadline_ms)):
            return await answer  # one timer, not wait_for's task and callbacks (issue 16)


def failing_over(bus: Bus) -> bool:
    """Whether ``bus`` reconnected within FAILOVER_S: its node was lost (or restarted).

    Then a quorum queue that nacks a publish is most likely electing a new leader for the one
    lost with the node (RabbitMQ 3.10 nacks a fresh channel's publishes until one is elected),
    and the publish goes again. Otherwise a nack means the queue is at its bound: "busy" at once,
    so a burst past the bound is refused, not retried into the broker."""
    return bus.reconnected_at > 0 and time.monotonic() - bus.reconnected_at < FAILOVER_S


def time_left(deadline_ms: int) -> float:
    """Seconds until ``deadline_ms`` (epoch ms); 0 once it has passed."""
    return max(deadline_ms - now_ms(), 0) / 1000


def _no_worker(model: str) -> RemoteError:
    hint = f"no worker serves {model!r}: start one with `botwerk worker {model}`"
    return RemoteError("no_worker", hint, target=model)
