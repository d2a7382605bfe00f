"""The bus on RabbitMQ: one pika connection per process, driven by the asyncio loop.

Used like this::

    bus = RabbitBus(Settings.load(amqp_url="amqp://guest:guest@127.0.0.1:5672/"), name="core demo")
    await bus.start()

A supervisor task owns the connection: it connects with backoff and jitter, redeclares the
topology, restarts every consumer, and does it all again whenever the connection drops. A
consumer whose channel alone is closed by the broker (``consumer_timeout``, queue deleted) is
restarted on its own, its queue redeclared first. Handlers never run on pika's behalf in a
thread: compute belongs in an executor, so the loop keeps heartbeats going.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pika
from pika.adapters.asyncio_connection import AsyncioConnection

from botwerk.infra.amqp import AmqpChannel, Consumer, Publisher, declare_one
from botwerk.infra.backoff import Backoff
from botwerk.infra.bus import Handler, Outgoing, check_size
from botwerk.infra.errors import (
    BrokerUnreachable,
    BusError,
    NotConnected,
    PublishFailed,
    Rejected,
    Unroutable,
)
from botwerk.infra.settings import Settings
from botwerk.infra.topology import Declarable, Exchange, Queue

log = logging.getLogger("botwerk.rabbit")

FIX = "start RabbitMQ with `rabbitmq-server -detached` (or `docker compose up -d rabbitmq`)"


class RabbitBus:
    """:class:`botwerk.infra.bus.Bus` over RabbitMQ."""

    kind = "rabbitmq"

    def __init__(self, settings: Settings, *, name: str = "botwerk") -> None:
        if not settings.amqp_url:
            raise BusError(
                "BOTWERK_AMQP_URL is not set: point it at RabbitMQ, amqp://user:pw@host:5672/"
            )
        self._settings = settings
        self._params = _parameters(settings, name)
        self._topology: dict[Declarable, None] = {}  # an ordered set: declared in this order
        self._consumers: set[Consumer] = set()
        self._connection: Any = None
        self._publisher: Publisher | None = None
        self._ready = asyncio.Event()
        self._closing = False
        self._supervisor: asyncio.Task[None] | None = None
        self._lost: asyncio.Future[BaseException] | None = None
        self._backoff = Backoff.reconnecting(settings)

    @property
    def connected(self) -> bool:
        return self._ready.is_set()

    def is_closing(self) -> bool:
        return self._closing

    async def start(self, timeout: float | None = None) -> None:
        """Connect, retrying with backoff; return once connected (or raise after ``timeout``)."""
        if self._supervisor is None:
            self._supervisor = asyncio.create_task(self._supervise(), name="rabbit-supervisor")
        try:
            await asyncio.wait_for(self._ready.wait(), timeout)
        except TimeoutError:
            raise BrokerUnreachable(self._unreachable("no connection in time")) from None

    async def close(self) -> None:
        """Stop consumers (handlers in flight finish), close the connection. Never raises."""
        self._closing = True
        for consumer in list(self._consumers):
            await consumer.stop(grace=10.0)
        self._consumers.clear()
        if self._connection is not None and self._connection.is_open:
            self._connection.close()
            if self._lost is not None:
                await asyncio.wait([self._lost], timeout=5)
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._supervisor
        self._ready.clear()

    async def declare(self, items: Iterable[Declarable]) -> None:
        new = [item for item in items if item not in self._topology]
        self._topology.update(dict.fromkeys(new))
        if new:
            await self._wait_ready(self._settings.publish_timeout_s)
            await self._declare(new)

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
        if cap:
            check_size(message, self._settings.max_message_bytes)
        loop = asyncio.get_running_loop()
        limit = timeout if timeout is not None else self._settings.publish_timeout_s
        give_up = loop.time() + limit
        while True:
            await self._wait_ready(give_up - loop.time())
            assert self._publisher is not None
            confirm = self._publisher.publish(exchange, routing_key, message, mandatory)
            try:
                outcome = await asyncio.wait_for(asyncio.shield(confirm), give_up - loop.time())
            except TimeoutError:
                raise PublishFailed(f"no confirm for {message.message_id} in {limit:g}s") from None
            if outcome == "ack":
                return
            if outcome == "nack":
                raise Rejected(f"{exchange or 'default exchange'}/{routing_key}: broker nacked it")
            if outcome.startswith("returned"):
                raise Unroutable(f"{exchange or 'default exchange'}/{routing_key}: {outcome}")
            log.info("connection lost before confirm of %s; publishing again", message.message_id)

    async def consume(self, queue: str, handler: Handler, *, prefetch: int) -> RabbitSubscription:
        consumer = Consumer(queue, handler, prefetch)
        consumer.on_lost = self._on_consumer_lost
        self._consumers.add(consumer)
        await self._wait_ready(self._settings.publish_timeout_s)
        await consumer.start(self._connection)
        return RabbitSubscription(self, consumer)

    async def _unsubscribe(self, consumer: Consumer) -> None:
        self._consumers.discard(consumer)
        await consumer.stop(grace=10.0)

    async def delete_queue(self, name: str) -> None:
        for consumer in [c for c in self._consumers if c.queue == name]:
            await self._unsubscribe(consumer)  # deleted on purpose: not a consumer to restart
        self._forget(lambda item: _named(item, Queue, name) or getattr(item, "queue", None) == name)
        await self._one_off("queue_delete", queue=name)

    async def delete_exchange(self, name: str) -> None:
        self._forget(
            lambda item: _named(item, Exchange, name) or getattr(item, "exchange", None) == name
        )
        await self._one_off("exchange_delete", exchange=name)

    # The supervisor: connect, serve until the connection drops, back off, again.

    async def _supervise(self) -> None:
        while not self.is_closing():
            try:
                lost = await self._connect()
            except Exception as exc:
                log.warning("%s", self._unreachable(exc))
            else:
                self._backoff.reset()
                reason = await lost
                self._ready.clear()
                if self.is_closing():
                    return
                log.warning(
                    "lost the connection to RabbitMQ (%s); reconnecting", reason or "closed"
                )
            await self._backoff.sleep()

    async def _connect(self) -> asyncio.Future[BaseException]:
        loop = asyncio.get_running_loop()
        opened: asyncio.Future[Any] = loop.create_future()
        lost: asyncio.Future[BaseException] = loop.create_future()

        def on_open_error(conn: Any, exc: BaseException) -> None:
            if not opened.done():
                opened.set_exception(BrokerUnreachable(str(exc) or type(exc).__name__))

        def on_close(conn: Any, exc: BaseException) -> None:
            if not lost.done():
                lost.set_result(exc)

        connection = AsyncioConnection(
            self._params,
            lambda c: opened.set_result(c),
            on_open_error,
            on_close,
            custom_ioloop=loop,
        )
        try:
            await opened
            publisher = await Publisher(await AmqpChannel(connection).open()).setup()
            self._connection, self._publisher, self._lost = connection, publisher, lost
            publisher.channel.closed.add_done_callback(self._on_publisher_lost)
            await self._declare(list(self._topology))
            for consumer in list(self._consumers):
                await consumer.start(connection)
        except BaseException:
            if connection.is_open:
                connection.close()
            raise
        log.info("connected to %s", self._settings.amqp_url_redacted)
        self._ready.set()
        return lost

    async def _declare(self, items: list[Declarable]) -> None:
        channel = await AmqpChannel(self._connection).open()
        try:
            for item in items:
                try:
                    await declare_one(channel, item)
                except BusError as exc:
                    raise BusError(
                        f"cannot declare {item}: {exc}; if it exists with other arguments, "
                        "delete it (dashboard or rabbitmqctl) or use another BOTWERK_NAMESPACE"
                    ) from None
        finally:
            channel.close()

    async def _one_off(self, method: str, **kwargs: Any) -> None:
        await self._wait_ready(self._settings.publish_timeout_s)
        channel = await AmqpChannel(self._connection).open()
        try:
            await channel.call(method, **kwargs)
        finally:
            channel.close()

    def _forget(self, match: Any) -> None:
        for item in [item for item in self._topology if match(item)]:
            del self._topology[item]

    def _on_publisher_lost(self, closed: asyncio.Future[BaseException]) -> None:
        connection = self._connection
        if self._closing or connection is None or not connection.is_open:
            return  # the supervisor handles a lost connection
        log.warning("publish channel closed (%s); reopening", closed.result())
        self._ready.clear()
        connection.close()  # reconnect from a clean state: simplest correct recovery

    def _on_consumer_lost(self, consumer: Consumer, why: str) -> None:
        if self._closing or self._connection is None or not self._connection.is_open:
            return  # the supervisor restarts every consumer after reconnecting
        log.warning("consumer of %s lost (%s); restarting it", consumer.queue, why)
        asyncio.get_running_loop().create_task(self._restart(consumer))

    async def _restart(self, consumer: Consumer) -> None:
        if consumer.channel is not None:
            consumer.channel.close()
        backoff = Backoff.reconnecting(self._settings)
        while not self._closing and consumer in self._consumers:
            try:
                await self._wait_ready(self._settings.publish_timeout_s)
                await self._declare(list(self._topology))
                await consumer.start(self._connection)
                log.info("consumer of %s restarted", consumer.queue)
                return
            except BusError as exc:
                delay = backoff.next()
                log.warning(
                    "restarting consumer of %s: %s; retry in %.1fs", consumer.queue, exc, delay
                )
                await asyncio.sleep(delay)

    async def _wait_ready(self, timeout: float) -> None:
        if self._supervisor is None or self._closing:
            raise NotConnected("the bus is not started: call `await bus.start()` first")
        if self._ready.is_set():
            return
        try:
            await asyncio.wait_for(self._ready.wait(), max(timeout, 0))
        except TimeoutError:
            raise PublishFailed(self._unreachable("not connected")) from None

    def _unreachable(self, why: object) -> str:
        return f"BOTWERK_AMQP_URL {self._settings.amqp_url_redacted} unreachable ({why}): {FIX}"


class RabbitSubscription:
    """What :meth:`RabbitBus.consume` returns: ``cancel()`` stops that one consumer."""

    def __init__(self, bus: RabbitBus, consumer: Consumer) -> None:
        self._bus = bus
        self._consumer = consumer
        self.queue = consumer.queue

    async def cancel(self) -> None:
        await self._bus._unsubscribe(self._consumer)


def _named(item: Declarable, kind: type, name: str) -> bool:
    return isinstance(item, kind) and getattr(item, "name", None) == name


def _parameters(settings: Settings, name: str) -> pika.URLParameters:
    url = settings.amqp_url or ""
    params = pika.URLParameters(url)
    if "heartbeat" not in parse_qs(urlsplit(url).query):
        params.heartbeat = settings.heartbeat_s
    params.client_properties = {"connection_name": name, "product": "botwerk"}
    params.connection_attempts = 1
    return params
