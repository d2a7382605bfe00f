"""Awaitable pieces of pika for :mod:`botwerk.infra.rabbit`: channels, the publisher, consumers.

Everything here runs on the asyncio loop that drives pika's ``AsyncioConnection``, so no pika
object is ever touched from two threads. Every awaited broker call also watches its channel:
when the broker closes the channel, the call raises instead of waiting forever.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from typing import Any

import pika
from pika import spec
from pika.channel import Channel
from pika.exceptions import ChannelClosedByBroker

from botwerk.infra.acks import ChannelAcks
from botwerk.infra.bus import Delivery, Handler, Outgoing, Settlement
from botwerk.infra.errors import BusError, PublishRefused
from botwerk.infra.topology import Binding, Declarable, Exchange, Queue

log = logging.getLogger("botwerk.rabbit")

LOST = "lost"  # outcome of a publish whose channel closed before the broker confirmed it
CLOSED = "closed by the broker"  # ... when the broker closed it, maybe because of this one

MAX_EXPIRATION_MS = 315_360_000_000
"""The largest ``expiration`` RabbitMQ takes: ten years (measured on 3.10.8: one more, or a
negative one, and it closes the channel with PRECONDITION_FAILED - invalid expiration)."""


class ChannelClosed(BusError):
    """The broker or the connection closed the channel during a call."""


class AmqpChannel:
    """A pika channel whose RPCs are awaitable and fail, not hang, when it closes."""

    def __init__(self, connection: Any) -> None:
        self._loop = asyncio.get_running_loop()
        self.closed: asyncio.Future[BaseException] = self._loop.create_future()
        self._opened: asyncio.Future[Channel] = self._loop.create_future()
        self.pika: Channel = connection.channel(on_open_callback=self._on_open)
        self.pika.add_on_close_callback(self._on_close)

    async def open(self) -> AmqpChannel:
        await self._wait(self._opened)
        return self

    async def call(self, method: str, **kwargs: Any) -> Any:
        """Run a synchronous AMQP method (``queue_declare``...) and await its ``*-ok`` frame."""
        done: asyncio.Future[Any] = self._loop.create_future()

        def on_ok(frame: Any) -> None:
            if not done.done():
                done.set_result(frame)

        getattr(self.pika, method)(callback=on_ok, **kwargs)
        return await self._wait(done)

    def close(self) -> None:
        if self.pika.is_open:
            self.pika.close()

    async def _wait(self, fut: asyncio.Future[Any]) -> Any:
        await asyncio.wait([fut, self.closed], return_when=asyncio.FIRST_COMPLETED)
        if fut.done():
            return fut.result()
        fut.cancel()
        raise ChannelClosed(str(self.closed.result()))

    def _on_open(self, channel: Channel) -> None:
        if not self._opened.done():
            self._opened.set_result(channel)

    def _on_close(self, channel: Channel, reason: BaseException) -> None:
        if not self.closed.done():
            self.closed.set_result(reason)


STALL_S = 5.0
"""A publish unconfirmed this long on a connection no alarm blocks: the channel is taken as
stuck. Confirms come in milliseconds here, and in under a second on a loaded machine. Why: a
channel that keeps a dead quorum leader (RabbitMQ 3.10, rabbitmq-server#9241) nacks, and may
also answer nothing. Seen once in the cluster kill row: 64 requests computed after the node
died, and their users heard nothing for their whole 30 s deadline. A later loss of the same
shape came without this firing: that loss's cause is still open (docs/reliability.md)."""


class Publisher:
    """A confirm-mode channel: many publishes in flight, each awaiting its own broker ack.

    Publishes are pipelined (windowed asynchronous confirms), which is why durability costs
    almost nothing here, where one-at-a-time confirms halve throughput.

    ``on_stall`` is called (with the publisher) when its oldest unconfirmed publish is
    :data:`STALL_S` old; one timer per publisher watches that, not one per publish.
    """

    def __init__(
        self, channel: AmqpChannel, on_stall: Callable[[Publisher], None] | None = None
    ) -> None:
        self.channel = channel
        self.on_stall = on_stall
        self._loop = asyncio.get_running_loop()
        self._seq = 0
        self._pending: dict[int, tuple[asyncio.Future[str], str | None, float]] = {}
        self._returned: dict[str, str] = {}
        self._watch: asyncio.TimerHandle | None = None
        channel.closed.add_done_callback(self._fail_all)

    async def setup(self) -> Publisher:
        await self.channel.call("confirm_delivery", ack_nack_callback=self._on_confirm)
        self.channel.pika.add_on_return_callback(self._on_return)
        return self

    def publish(
        self, exchange: str, key: str, msg: Outgoing, mandatory: bool
    ) -> asyncio.Future[str]:
        """Send now; the future resolves to ``ack``, ``nack``, ``returned: ...``, ``lost`` or
        ``closed by the broker: ...`` (the channel died; this message may be the cause).

        Raises :class:`PublishRefused`, sending nothing, for a property the broker refuses.
        """
        properties = _properties(msg)
        done: asyncio.Future[str] = self._loop.create_future()
        if self.channel.closed.done():
            done.set_result(LOST)
            return done
        self.channel.pika.basic_publish(exchange, key, msg.body, properties, mandatory)
        self._seq += 1
        now = self._loop.time()
        self._pending[self._seq] = (done, msg.message_id if mandatory else None, now)
        if self._watch is None and self.on_stall is not None:
            self._watch = self._loop.call_at(now + STALL_S, self._check_stall)
        return done

    def _check_stall(self) -> None:
        """While publishes wait: tell ``on_stall`` once the oldest has waited STALL_S (once:
        it is told to replace this channel), else look again when it will have."""
        self._watch = None
        if not self._pending or self.channel.closed.done():
            return
        oldest = next(iter(self._pending.values()))[2]
        if self._loop.time() - oldest >= STALL_S:
            if self.on_stall is not None:
                self.on_stall(self)
            return
        self._watch = self._loop.call_at(oldest + STALL_S, self._check_stall)

    @property
    def unconfirmed(self) -> int:
        return len(self._pending)

    def _on_confirm(self, frame: Any) -> None:
        method = frame.method
        outcome = "ack" if isinstance(method, spec.Basic.Ack) else "nack"
        if not method.multiple:
            if entry := self._pending.pop(method.delivery_tag, None):
                self._resolve(entry, outcome)
            return
        while self._pending:  # tags are ascending: settle from the front up to this one
            tag = next(iter(self._pending))
            if tag > method.delivery_tag:
                break
            self._resolve(self._pending.pop(tag), outcome)

    def _resolve(self, entry: tuple[asyncio.Future[str], str | None, float], outcome: str) -> None:
        done, message_id, _ = entry
        if message_id is not None and message_id in self._returned:
            outcome = f"returned: {self._returned.pop(message_id)}"
        if not done.done():
            done.set_result(outcome)

    def _on_return(self, channel: Channel, method: Any, props: Any, body: bytes) -> None:
        # The broker sends basic.return before the basic.ack of the same message.
        self._returned[props.message_id] = f"{method.reply_code} {method.reply_text}"

    def _fail_all(self, closed: asyncio.Future[BaseException]) -> None:
        reason = closed.result()
        outcome = f"{CLOSED}: {reason}" if isinstance(reason, ChannelClosedByBroker) else LOST
        for done, _, _ in self._pending.values():
            if not done.done():
                done.set_result(outcome)
        self._pending.clear()
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None


async def open_publisher(
    connection: Any, on_stall: Callable[[Publisher], None] | None = None
) -> Publisher:
    """A fresh confirm-mode channel on ``connection``."""
    return await Publisher(await AmqpChannel(connection).open(), on_stall).setup()


async def publish_alone(
    connection: Any, exchange: str, key: str, msg: Outgoing, mandatory: bool
) -> str:
    """Publish ``msg`` on a channel of its own, closed after: if the broker closes that
    channel, ``msg`` is to blame. The outcome, as :meth:`Publisher.publish` resolves it."""
    publisher = await open_publisher(connection)
    try:
        return await publisher.publish(exchange, key, msg, mandatory)
    finally:
        publisher.channel.close()


def _properties(msg: Outgoing) -> pika.BasicProperties:
    """The AMQP properties of ``msg``; :class:`PublishRefused` for one the broker would refuse
    (it would close the channel, and every publish in flight on it would go with it)."""
    if msg.expiration_ms is not None and not 0 <= msg.expiration_ms <= MAX_EXPIRATION_MS:
        raise PublishRefused(
            f"{msg.type} {msg.message_id}: a time to live of {msg.expiration_ms} ms is outside "
            f"the 0 to {MAX_EXPIRATION_MS} ms RabbitMQ accepts; bound its deadline"
        )
    return pika.BasicProperties(
        content_type=msg.content_type,
        type=msg.type,
        message_id=msg.message_id,
        correlation_id=msg.correlation_id,
        reply_to=msg.reply_to,
        headers=msg.headers or None,
        expiration=str(msg.expiration_ms) if msg.expiration_ms is not None else None,
        delivery_mode=2 if msg.persistent else 1,
    )


def _incoming(props: Any, body: bytes) -> Outgoing:
    expiration = props.expiration
    return Outgoing(
        body=body,
        type=props.type or "",
        message_id=props.message_id or "",
        correlation_id=props.correlation_id,
        reply_to=props.reply_to,
        headers=dict(props.headers or {}),
        expiration_ms=int(expiration) if expiration and expiration.isdigit() else None,
        content_type=props.content_type or "",
        persistent=props.delivery_mode == 2,
    )


class Consumer:
    """One queue consumed on a channel of its own, each delivery handled in its own task (or,
    by a plain callback, in pika's callback: :data:`botwerk.infra.bus.Handler`)."""

    def __init__(self, queue: str, handler: Handler, prefetch: int, tag: str | None = None) -> None:
        self.queue = queue
        self.tag = tag  # None: the broker makes one up
        self.handler = handler
        self.prefetch = prefetch
        self.channel: AmqpChannel | None = None
        self.acks: ChannelAcks | None = None
        self.tasks: set[asyncio.Task[None]] = set()
        self.on_lost: Callable[[Consumer, str], None] = lambda consumer, why: None
        self.active = True

    async def start(self, connection: Any) -> None:
        channel = await AmqpChannel(connection).open()
        self.channel, self.acks = channel, ChannelAcks(channel.pika)
        # Each delivery settles through the acks of its own channel, not of the newest one:
        # a restart may open another channel while this one still delivers.
        on_message = functools.partial(self._on_message, self.acks)
        await channel.call("basic_qos", prefetch_count=self.prefetch)
        channel.pika.add_on_cancel_callback(lambda frame: self._lost("cancelled by the broker"))
        await channel.call(
            "basic_consume",
            queue=self.queue,
            on_message_callback=on_message,
            consumer_tag=self.tag,
        )
        channel.closed.add_done_callback(lambda fut: self._lost(f"channel closed: {fut.result()}"))

    def _lost(self, why: str) -> None:
        # Deliveries of a dead channel can never be acked and come back to some consumer:
        # finishing their handlers would only do the work twice, send stray replies, or
        # dead-letter what another consumer answers meanwhile.
        if self.tasks:
            log.info(
                "%d deliveries of %s dropped unfinished (%s): the broker delivers them again",
                len(self.tasks), self.queue, why,
            )  # fmt: skip
        for task in list(self.tasks):
            task.cancel()
        if self.active:
            self.on_lost(self, why)

    def _on_message(
        self, acks: ChannelAcks, channel: Channel, method: Any, props: Any, body: bytes
    ) -> None:
        tag = method.delivery_tag
        acks.received(tag)

        def settle(how: Settlement) -> None:
            if not channel.is_open:
                log.info(
                    "channel gone before %s of delivery %s; the broker redelivers it", how, tag
                )
            else:
                acks.settle(tag, how)  # acks go with the others of this loop turn

        delivery = Delivery(
            self.queue, method.exchange, method.routing_key, _incoming(props, body),
            method.redelivered, settle, _alive=lambda: channel.is_open,
        )  # fmt: skip
        work = self.handler(delivery)
        if work is None:
            return  # a plain callback: handled and settled already
        task = asyncio.get_running_loop().create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def stop(self, grace: float) -> None:
        """Stop taking messages, let the handlers in flight finish, close the channel."""
        self.active = False
        channel = self.channel
        if channel is not None and not channel.closed.done():
            try:
                for tag in list(channel.pika.consumer_tags):
                    await asyncio.wait_for(channel.call("basic_cancel", consumer_tag=tag), grace)
            except (BusError, TimeoutError) as exc:
                log.debug("cancel of %s: %s", self.queue, exc)
        if self.tasks:
            await asyncio.wait(self.tasks, timeout=grace)
        if self.acks is not None:
            self.acks.flush()
        if channel is not None:
            channel.close()


async def declare_one(channel: AmqpChannel, item: Declarable) -> None:
    """Declare one exchange, queue or binding (durable, as Botwerk declares everything)."""
    if isinstance(item, Exchange):
        await channel.call(
            "exchange_declare", exchange=item.name, exchange_type=item.kind, durable=True
        )
    elif isinstance(item, Queue):
        await channel.call(
            "queue_declare", queue=item.name, durable=item.durable, arguments=item.arguments
        )
    elif isinstance(item, Binding):
        await channel.call(
            "queue_bind", queue=item.queue, exchange=item.exchange, routing_key=item.routing_key
        )
