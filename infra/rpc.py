"""Request/reply over the bus: a reply queue per process, correlation ids, a deadline on every call.

Used like this::

    replies = Replies(bus, names, names.reply_queue("core", settings.instance))
    await replies.start()
    rpc = Rpc(bus, names, replies)
    reply = await rpc.infer("echo", {"text": "hi"}, deadline_ms=now_ms() + 5000)

A call publishes with ``mandatory`` so a model that no worker has ever served fails at once
(``no_worker``); a model whose workers are all down fails when the deadline passes
(``timeout``); the request also carries the remaining time as its TTL, so a worker that
comes back later never starts expired work. A reply that arrives after its caller gave up is
dropped; so is a duplicate (the same request answered twice after a redelivery).
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from botwerk.infra.bus import Bus, Delivery, Outgoing, new_id, now_ms
from botwerk.infra.consumer import typed_handler
from botwerk.infra.errors import (
    DeadlineExceeded,
    PublishFailed,
    PublishRefused,
    Rejected,
    RemoteError,
    Unroutable,
)
from botwerk.infra.logs import TRACE
from botwerk.infra.topology import Names, for_replies
from botwerk.schemas import DEFAULT_MAX_BYTES, Envelope, Error, InferReply, InferRequest, Reply

log = logging.getLogger("botwerk.rpc")

REPLY_TYPES: tuple[type[Envelope], ...] = (Reply, InferReply, Error)


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


class Inbox:
    """A process's own reply queue: each reply, decoded and traced, goes to ``handle``.

    Declared per process (``{ns}.reply.<role>.<id>``), it is consumed like any queue: ``handle``
    returning acks the reply, raising :class:`DeadLetter` dead-letters it. :class:`Replies`
    matches replies to the calls that wait for them; a transport's gateway takes every reply
    it gets to its user (``transports/base.py``).
    """

    def __init__(
        self,
        bus: Bus,
        names: Names,
        queue: str,
        handle: Callable[[Envelope, Delivery], Awaitable[None]],
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self.bus = bus
        self.names = names
        self.queue = queue
        self.max_bytes = max_bytes
        self._handle = handle
        self._subscription: Any = None

    async def start(self, prefetch: int = 256) -> None:
        await self.bus.declare(for_replies(self.names, self.queue))
        handler = typed_handler(
            self.bus, self.names, REPLY_TYPES, self._handle, max_bytes=self.max_bytes
        )
        self._subscription = await self.bus.consume(self.queue, handler, prefetch=prefetch)

    async def stop(self) -> None:
        if self._subscription is not None:
            await self._subscription.cancel()


class Replies(Inbox):
    """A reply inbox that hands each reply to whoever waits on its correlation id.

    A reply nobody waits for (its caller gave up, or a duplicate) is logged and dropped.
    """

    def __init__(
        self, bus: Bus, names: Names, queue: str, *, max_bytes: int = DEFAULT_MAX_BYTES
    ) -> None:
        super().__init__(bus, names, queue, self._on_reply, max_bytes=max_bytes)
        self._waiting: dict[str, asyncio.Future[Envelope]] = {}

    def expect(self, correlation_id: str) -> asyncio.Future[Envelope]:
        future: asyncio.Future[Envelope] = asyncio.get_running_loop().create_future()
        self._waiting[correlation_id] = future
        return future

    def forget(self, correlation_id: str) -> None:
        self._waiting.pop(correlation_id, None)

    async def _on_reply(self, reply: Envelope, delivery: Delivery) -> None:
        correlation_id = delivery.message.correlation_id or ""
        future = self._waiting.pop(correlation_id, None)
        if future is None:
            log.info("late or duplicate reply to %s dropped", correlation_id)
        elif not future.done():
            future.set_result(reply)


class Rpc:
    """Calls to models, each bounded by a deadline (epoch ms)."""

    def __init__(self, bus: Bus, names: Names, replies: Replies) -> None:
        self.bus = bus
        self.names = names
        self.replies = replies

    async def infer(self, model: str, inputs: dict[str, Any], *, deadline_ms: int) -> InferReply:
        """The model's reply; :class:`RemoteError` (with an ErrorCode) if there is none."""
        request = InferRequest(model=model, inputs=inputs)
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
        message = Outgoing.of(
            request,
            message_id=new_id(),
            reply_to=self.replies.queue,
            trace=TRACE.get(),
            deadline_ms=deadline_ms,
            expiration_ms=remaining_ms,
        )
        answer = self.replies.expect(message.message_id)
        try:
            await self.bus.publish(
                exchange, key, message, mandatory=True, timeout=remaining_ms / 1000
            )
            reply = await asyncio.wait_for(answer, timeout=max(deadline_ms - now_ms(), 0) / 1000)
        except Unroutable:
            hint = f"no worker serves {key!r}: start one with `botwerk worker {key}`"
            raise RemoteError("no_worker", hint, target=key) from None
        except Rejected:
            full = f"the queue for {key!r} is full; try again shortly"
            raise RemoteError("busy", full, target=key) from None
        except PublishRefused:
            raise  # the broker refused this one request: its cause is dead-lettered, not retried
        except (TimeoutError, PublishFailed):
            late = f"{key!r} did not answer within {remaining_ms} ms"
            raise DeadlineExceeded(late, key) from None
        finally:
            self.replies.forget(message.message_id)
        if isinstance(reply, Error):
            raise RemoteError(reply.code, reply.message, reply.detail, target=key)
        return reply
