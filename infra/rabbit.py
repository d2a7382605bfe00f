"""The bus on RabbitMQ: one pika connection per process, driven by the asyncio loop.

Used like this::

    settings = Settings.load(amqp_url="amqp://guest:guest@127.0.0.1:5672/")
    bus = RabbitBus(settings, role="core", name="demo")  # the dashboard: "botwerk core demo @..."
    await bus.start()

A supervisor task owns the connection: it connects with backoff and jitter, redeclares the
topology, restarts every consumer, and does it all again whenever the connection drops. With
several hosts in the URL (a cluster: infra/amqphosts.py) each connect tries them in a fresh
random order, moving on past a node that does not answer but not past one that refuses the
login. A consumer whose channel alone is closed by the broker (``consumer_timeout``, queue
deleted) is restarted on its own, its queue redeclared first. When the broker closes the
publish channel over one message (a property or an exchange it refuses), the connection and the
consumers stay: the publishes in flight go again, each on a channel of its own, and only the one
refused again fails (``PublishRefused``). Handlers never run on pika's behalf in a thread:
compute belongs in an executor, so the loop keeps heartbeats going.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

import pika
from pika.exceptions import ChannelClosedByBroker

from botwerk.infra import metrics
from botwerk.infra.amqp import (
    CLOSED,
    LOST,
    STALL_S,
    AmqpChannel,
    ChannelClosed,
    Consumer,
    Publisher,
    declare_one,
    open_publisher,
    publish_alone,
)
from botwerk.infra.amqphosts import host_port
from botwerk.infra.backoff import Backoff
from botwerk.infra.bus import Handler, Move, Moved, Outgoing, check_size
from botwerk.infra.errors import (
    BrokerUnreachable,
    BusError,
    NotConnected,
    PublishFailed,
    PublishRefused,
    Rejected,
    Unroutable,
)
from botwerk.infra.naming import Identity
from botwerk.infra.settings import Settings
from botwerk.infra.tls import client_context
from botwerk.infra.tls import explain as explain_tls
from botwerk.infra.topology import Binding, Declarable, Exchange, Queue, is_shared
from botwerk.infra.wire import CoalescingConnection

log = logging.getLogger("botwerk.rabbit")
T = TypeVar("T")

SETUP_HINT = (
    ": the namespace's exchanges and dead-letter queue are missing; create them once with "
    "`botwerk broker setup` (an administrator's credentials)"
)
NODE_HANDSHAKE_S = 5.0  # a cluster node that has not finished the handshake by then is skipped
EXISTS_WAIT_S = 1.0  # a shared queue's passive check slower than this counts it as there
REHOME_POLL_S = 2.0  # how often the node a queue moved away from is asked after
REHOME_SETTLE_POLLS = 3  # polls in a row that find it back before the queue is declared anew
FIX = "start RabbitMQ with `rabbitmq-server -detached` (or `docker compose up -d rabbitmq`)"
REFUSED_LOGIN = (
    "BOTWERK_AMQP_URL {url}: the broker refused this user name or password; check the user "
    "and password in BOTWERK_AMQP_URL (a role's own user: `botwerk broker setup` creates them, "
    "`--rotate ROLE` makes a new password)"
)
NO_VHOST = (
    "BOTWERK_AMQP_URL {url}: the virtual host {vhost!r} does not exist ({why}); create it with "
    "`rabbitmqctl add_vhost {vhost}` and grant it with `rabbitmqctl set_permissions -p {vhost} "
    "{user} '.*' '.*' '.*'` (or `botwerk broker setup`), or fix the URL's path"
)
NO_ACCESS = (
    "BOTWERK_AMQP_URL {url}: this user may not use the virtual host {vhost!r} ({why}); grant "
    "it with `rabbitmqctl set_permissions -p {vhost} {user} '.*' '.*' '.*'` (or `botwerk "
    "broker setup` for the role users), or fix the URL's path"
)


class BrokerRefused(BrokerUnreachable):
    """The broker answered and refused this client (login, virtual host, TLS): no retry helps."""


class HomeNodeDown(BusError):
    """A classic queue cannot be declared: the cluster node it lives on is down."""

    def __init__(self, queue: str, why: str) -> None:
        super().__init__(f"the queue {queue} is on a node that is down ({why})")
        self.queue = queue


class RabbitBus:
    """:class:`botwerk.infra.bus.Bus` over RabbitMQ."""

    kind = "rabbitmq"

    def __init__(self, settings: Settings, *, role: str = "cli", name: str = "botwerk") -> None:
        if not settings.amqp_url:
            raise BusError(
                "BOTWERK_AMQP_URL is not set: point it at RabbitMQ, amqp://user:pw@host:5672/"
            )
        self._settings = settings
        self.identity = Identity.here(settings, role, name)  # the dashboard shows it
        self._params: list[pika.URLParameters] = []  # made by start(): TLS files read there
        self.rng = random.Random()  # the nodes' order on each connect; a test may seed it
        self.node = ""  # host:port of the node connected to, for logs and tests
        self._topology: dict[Declarable, None] = {}  # an ordered set: declared in this order
        self._consumers: set[Consumer] = set()
        self._movable: dict[str, tuple[Move, Moved]] = {}  # queue -> what names its replacement
        self._moved: dict[str, Moved] = {}  # a moved queue's new name, until it is declared
        self._away: dict[str, str] = {}  # a moved queue's name -> the queue whose node was down
        self._homing: asyncio.Task[None] | None = None  # watches those nodes come back
        self._consumed = 0
        self._connection: Any = None
        self._publisher: Publisher | None = None
        self._publisher_lock = asyncio.Lock()  # one publish reopens a closed publish channel
        self._ready = asyncio.Event()
        self._closing = False
        self._blocked = False  # an alarm blocks this connection's publishers (broker-told)
        self._supervisor: asyncio.Task[None] | None = None
        self._lost: asyncio.Future[BaseException] | None = None
        self._last_error: BaseException | None = None  # why the last connect failed
        self._connected_once = False  # after one good connect, any failure is an outage
        self._backoff = Backoff.reconnecting(settings)
        self.connected_at = 0.0
        self.reconnected_at = 0.0

    @property
    def connected(self) -> bool:
        return self._ready.is_set()

    def is_closing(self) -> bool:
        return self._closing

    async def start(self, timeout: float | None = None) -> None:
        """Connect, retrying with backoff; return once connected (or raise after ``timeout``).

        TLS settings that cannot be used (a missing CA file, a key without its certificate)
        raise :class:`ConfigError` at once, and a first connection that the broker refuses (the
        password, the virtual host, TLS) :class:`BrokerRefused`: no retry mends them. Only an
        unreachable broker is waited for.
        """
        if self._supervisor is None:
            self._params = _parameters(self._settings, self.identity)
            self._supervisor = asyncio.create_task(self._supervise(), name="rabbit-supervisor")
        ready = asyncio.ensure_future(self._ready.wait())
        try:  # the supervisor ends only when the broker refused the first connection
            waits = [ready, self._supervisor]
            await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ready.cancel()
        if self._ready.is_set():
            return
        supervisor = self._supervisor
        if supervisor.done() and not supervisor.cancelled():
            refused = supervisor.exception()
            if refused is not None:
                raise refused
        raise BrokerUnreachable(self._unreachable(self._last_error or "no connection in time"))

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
        if self._homing is not None:
            self._homing.cancel()
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
        where = f"{exchange or 'default exchange'}/{routing_key}"
        alone = False  # once the broker closed the channel under it: it may be the cause
        stale: Publisher | None = None  # the shared channel, when it nacked this message
        while True:
            await self._wait_ready(give_up - loop.time())
            try:  # not wait_for: on 3.11 it can swallow a cancel that comes with the outcome
                async with asyncio.timeout(give_up - loop.time()):
                    outcome = await self._send(exchange, routing_key, message, mandatory, alone)
            except TimeoutError:
                raise PublishFailed(f"no confirm for {message.message_id} in {limit:g}s") from None
            if outcome == "ack":
                if stale is not None:  # nacked on the shared channel, taken alone: stale
                    self._retire_publisher(stale, "nacked what a fresh one took")
                return
            if outcome == "nack":
                if alone:
                    raise Rejected(f"{where}: broker nacked it")
                # Once more on a fresh channel: RabbitMQ 3.10's channel that first publishes to
                # a quorum queue just after its leader's node died keeps that leader, and nacks
                # every later publish to the queue (rabbitmq-server#9241, fixed in 3.11.x).
                alone, stale = True, self._publisher
                continue
            if outcome.startswith("returned"):
                raise Unroutable(f"{where}: {outcome}")
            if outcome.startswith(CLOSED) and alone:
                raise PublishRefused(f"{where}: {message.type} {message.message_id} {outcome}")
            alone = alone or outcome.startswith(CLOSED)
            log.info("%s before confirm of %s; publishing again", outcome, message.message_id)

    async def _send(
        self, exchange: str, key: str, message: Outgoing, mandatory: bool, alone: bool
    ) -> str:
        """One try: on the shared publish channel, or ``alone`` on one of its own."""
        try:
            if alone:
                return await publish_alone(self._connection, exchange, key, message, mandatory)
            publisher = self._publisher
            if publisher is None or publisher.channel.closed.done():
                publisher = await self._live_publisher()
            # Not shielded: a timeout that cancels this future leaves the confirm to find it
            # done and pass it by (Publisher._resolve), and saves a future per publish.
            return await publisher.publish(exchange, key, message, mandatory)
        except (ChannelClosed, pika.exceptions.AMQPError) as exc:
            log.debug("no channel to publish %s on: %r", message.message_id, exc)
            await asyncio.sleep(0.05)  # the connection is going: let the supervisor see it
            return LOST

    def _retire_publisher(self, stale: Publisher, why: str) -> None:
        """Close the shared publish channel if it is still ``stale`` (``why``: what it did); the
        next publish opens another. Publishes waiting on it for a confirm go again (a message
        may arrive twice, never zero times)."""
        if self._publisher is not stale:
            return  # another publish replaced it already
        publisher, self._publisher = self._publisher, None
        if not publisher.channel.closed.done():
            log.warning("the publish channel %s; replacing it", why)
            publisher.channel.close()

    async def _live_publisher(self) -> Publisher:
        """The shared publish channel, reopened if the broker closed it (the connection stays)."""
        async with self._publisher_lock:
            if self._publisher is None or self._publisher.channel.closed.done():
                self._publisher = await open_publisher(self._connection, self._on_stall)
                self._publisher.channel.closed.add_done_callback(self._on_publisher_lost)
            return self._publisher

    async def consume(self, queue: str, handler: Handler, *, prefetch: int) -> RabbitSubscription:
        self._consumed += 1  # the tag names this connection's n-th consumer, for the dashboard
        consumer = Consumer(queue, handler, prefetch, self.identity.consumer_tag(self._consumed))
        consumer.on_lost = self._on_consumer_lost
        self._consumers.add(consumer)
        await self._wait_ready(self._settings.publish_timeout_s)
        await consumer.start(self._connection)
        return RabbitSubscription(self, consumer)

    def movable(self, queue: str, move: Move, moved: Moved) -> None:
        self._movable[queue] = (move, moved)

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
                self._last_error = exc
                if not self._connected_once and self._refused(exc):
                    raise BrokerRefused(self._unreachable(exc)) from None
                log.warning("%s", self._unreachable(exc))
            else:
                self._last_error = None
                if self._connected_once:
                    self.reconnected_at = self.connected_at
                    metrics.reconnected()
                self._connected_once = True
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
        """Connect to the first node that answers, in a fresh random order, and set up on it.

        The node this bus was last connected to goes last: it has just been lost. An
        unreachable node moves on to the next; a node that refuses the login, the virtual
        host or TLS ends the try at once (every node shares users and certificates, so the
        others would refuse too). All unreachable: one error naming each node and why.
        """
        failures: list[BrokerUnreachable] = []
        lost = next((p for p in self._params if _where(p) == self.node), None)
        for params in connect_order(self._params, self.rng, last=lost):
            try:
                return await self._connect_to(params)
            except BrokerUnreachable as exc:
                if self._refused(exc) or len(self._params) == 1:
                    raise
                log.info("%s; trying the next node", exc)
                failures.append(exc)
        error = BrokerUnreachable("; ".join(str(f) for f in failures) or "no node")
        error.__cause__ = failures[-1].__cause__ if failures else None  # a TLS failure's kind
        raise error

    async def _connect_to(self, params: pika.URLParameters) -> asyncio.Future[BaseException]:
        loop = asyncio.get_running_loop()
        opened: asyncio.Future[Any] = loop.create_future()
        lost: asyncio.Future[BaseException] = loop.create_future()
        many = len(self._params) > 1  # one node: its errors read as they always did

        def on_open_error(conn: Any, exc: BaseException) -> None:
            if not opened.done():
                why = str(exc) or type(exc).__name__
                error = BrokerUnreachable(f"{_where(params)}: {why}" if many else why)
                error.__cause__ = exc  # kept: a TLS failure is told apart by what pika raised
                opened.set_exception(error)

        def on_close(conn: Any, exc: BaseException) -> None:
            if not lost.done():
                lost.set_result(exc)

        connection = CoalescingConnection(
            params,
            lambda c: opened.set_result(c),
            on_open_error,
            on_close,
            custom_ioloop=loop,
        )
        try:
            await opened
            self._connection, self._publisher, self._lost = connection, None, lost
            self._blocked = False
            connection.add_on_connection_blocked_callback(lambda *_: self._set_blocked(True))
            connection.add_on_connection_unblocked_callback(lambda *_: self._set_blocked(False))
            await self._live_publisher()
            await self._declare(list(self._topology))
            for consumer in list(self._consumers):
                await consumer.start(connection)
        except BaseException:
            if connection.is_open:
                connection.close()
            raise
        self.node = _where(params)
        log.info("connected to %s (node %s)", self._settings.amqp_url_redacted, self.node)
        self.connected_at = time.monotonic()
        self._ready.set()
        return lost

    async def _declare(self, items: list[Declarable]) -> None:
        """Declare what this role owns; create the shared topology only if some of it is missing.

        The shared part (exchanges, the dead-letter queue) is checked passively, which needs no
        permission, so a least-privilege role never needs the right to create or delete it.
        A movable queue whose node is down is replaced by its owner's new one, and everything
        is declared again (rare: a cluster node lost).
        """
        while True:
            try:
                await self._declare_once(items)
                break
            except HomeNodeDown as down:
                if not self._move(down.queue):
                    raise
                items = list(self._topology)
        for item in items:  # a new queue exists now: what is asked again can reach it
            if isinstance(item, Queue) and (moved := self._moved.pop(item.name, None)):
                moved()

    def _move(self, queue: str) -> bool:
        """Replace the movable ``queue`` (its node is down) in the topology and its consumers;
        its owner hears of it (``moved``) once the replacement is declared. True also when
        another declare (a second restart of the same consumer) replaced it meanwhile. The
        replacement is watched until that node is back (:meth:`_watch_away`)."""
        if queue not in self._movable:
            return not any(_named(item, Queue, queue) for item in self._topology)
        new = self._replace(queue)
        log.warning("the queue %s is on a cluster node that is down; %s replaces it", queue, new)
        self._away[new] = queue
        if self._homing is None or self._homing.done():
            self._homing = asyncio.get_running_loop().create_task(
                self._watch_away(), name="rabbit-rehome"
            )
        return True

    def _replace(self, queue: str) -> str:
        """The movable ``queue``'s replacement, in the topology and its consumers; the name."""
        move, moved = entry = self._movable.pop(queue)
        new, declarations = move(queue)
        self._movable[new] = entry
        self._moved.pop(queue, None)  # moved again before it was declared: told once, for new
        self._moved[new] = moved
        self._away.pop(queue, None)
        self._forget(lambda it: _named(it, Queue, queue) or getattr(it, "queue", None) == queue)
        self._topology.update(dict.fromkeys(declarations))
        for consumer in self._consumers:
            if consumer.queue == queue:
                consumer.queue = new
        return new

    async def _watch_away(self) -> None:
        """Once the node a queue moved away from is back, move that queue once more.

        The replacement was declared while a node was away, and with a frozen node that is a
        partition: when it ends, autoheal restarts one side, and RabbitMQ 3.10's metadata (in
        Mnesia) keeps the winners' view. A queue and binding declared on the losing side can
        be gone from some nodes and not others: a reply published through such a node is
        routed nowhere while this process still consumes the queue on its own node. Seen in
        the cluster freeze row: a worker's replies to a core's moved queue vanished for the
        rest of the run. A queue declared after the nodes are back is known to all of them,
        so once the old queue's node answers for REHOME_SETTLE_POLLS polls in a row (autoheal
        restarts nodes for a few seconds after a partition ends), the queue moves again and
        its owner asks again whatever waited for a reply. A node lost for good is asked after
        every REHOME_POLL_S for as long as the process runs: one passive declare each time.
        """
        back: dict[str, int] = {}
        while self._away and not self._closing:
            await asyncio.sleep(REHOME_POLL_S)
            if not self._ready.is_set():
                continue
            for current, old in list(self._away.items()):
                back[current] = back.get(current, 0) + 1 if await self._node_back(old) else 0
                if back[current] >= REHOME_SETTLE_POLLS and self._away.get(current) == old:
                    self._rehome(current, old)

    async def _node_back(self, old: str) -> bool:
        """Whether the node of ``old`` (a queue that moved off it) answers for it again: the
        queue is there, or gone (expired) without a word about its node."""
        try:
            channel = await AmqpChannel(self._connection).open()
        except Exception:  # the connection is going: asked again on the next poll
            return False
        try:
            await channel.call("queue_declare", queue=old, passive=True)
        except ChannelClosed as exc:  # NOT_FOUND: its node is down, or the queue is gone
            return "404" in str(exc) and not _lost_with_its_node(str(exc))
        except Exception:
            return False
        finally:
            channel.close()
        return True

    def _rehome(self, current: str, old: str) -> None:
        """Move ``current`` to a fresh queue; its consumers restart there (closing their
        channels hands them to :meth:`_on_consumer_lost`, which declares the topology, where
        the owner hears ``moved``, and consumes the new queue)."""
        if current not in self._movable:
            return
        new = self._replace(current)
        log.warning(
            "the node %s was on is back; %s, declared while it was away, may be unknown to "
            "some nodes, so %s replaces it", old, current, new,
        )  # fmt: skip
        for consumer in self._consumers:
            if consumer.queue == new and consumer.channel is not None:
                consumer.channel.close()

    async def _declare_once(self, items: list[Declarable]) -> None:
        shared = [item for item in items if is_shared(item)]
        own = [item for item in items if not is_shared(item)]
        if shared and not await self._exists(shared):
            await self._declare_each(shared, SETUP_HINT)
        await self._declare_each(own, "")

    async def _exists(self, items: list[Declarable]) -> bool:
        """Whether every one of ``items`` exists, asked passively (no rights needed).

        A queue that takes longer than EXISTS_WAIT_S to answer counts as there: a missing
        one is refused at once (NOT_FOUND, from the metadata every node holds), while an
        existing stream answers only once its leader's node does. With that node frozen,
        Erlang waits out its connection setup (7 s, ``net_setuptime``): measured in the
        cluster freeze row, the passive declare of ``{ns}.components`` took 6.98 s on each
        reconnect, which kept a core from serving for 8 s after it found another node.
        """
        channel = await AmqpChannel(self._connection).open()
        try:
            for item in items:
                if isinstance(item, Exchange):
                    await channel.call("exchange_declare", exchange=item.name, passive=True)
                elif isinstance(item, Queue):
                    try:
                        await asyncio.wait_for(
                            channel.call("queue_declare", queue=item.name, passive=True),
                            EXISTS_WAIT_S,
                        )
                    except TimeoutError:  # it is there; the channel still waits for the answer
                        channel.close()
                        channel = await AmqpChannel(self._connection).open()
        except ChannelClosed:
            return False  # NOT_FOUND closed the channel
        finally:
            channel.close()
        return True

    async def _declare_each(self, items: list[Declarable], hint: str) -> None:
        channel = await AmqpChannel(self._connection).open()
        try:
            for item in items:
                try:
                    await declare_one(channel, item)
                except BusError as exc:
                    if isinstance(item, Queue) and _lost_with_its_node(str(exc)):
                        raise HomeNodeDown(item.name, str(exc)) from None
                    if "ACCESS_REFUSED" in str(exc):
                        raise BusError(
                            f"the broker user of {self._settings.amqp_url_redacted} may not "
                            f"declare {_describe(item)} ({exc}){hint or ''}; check the "
                            "role's credentials (BOTWERK_AMQP_URL)"
                        ) from None
                    raise BusError(
                        f"cannot declare {_describe(item)}: {exc}; if it exists with other "
                        "arguments, delete it (dashboard or rabbitmqctl) or use another "
                        "BOTWERK_NAMESPACE"
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

    def _set_blocked(self, blocked: bool) -> None:
        self._blocked = blocked
        log.info("the broker %s this connection's publishers", "blocks" if blocked else "unblocks")

    def _on_stall(self, publisher: Publisher) -> None:
        """The shared publish channel has confirmed nothing for STALL_S: replace it, and what
        waits on it goes again on the new one (a message may arrive twice, never zero times).
        Not while an alarm blocks the connection: then every channel waits, and rightly."""
        if self._blocked or self._closing:
            return
        why = f"confirmed nothing for {STALL_S:g}s ({publisher.unconfirmed} waiting)"
        self._retire_publisher(publisher, why)

    def _on_publisher_lost(self, closed: asyncio.Future[BaseException]) -> None:
        # A lost connection is the supervisor's. A channel the broker closed (one message it
        # refused) costs nothing else: the next publish opens another, the publishes in flight
        # go again, each alone, and the one refused again fails to its caller.
        if not self._closing and isinstance(closed.result(), ChannelClosedByBroker):
            log.warning("the broker closed the publish channel: %s", closed.result())

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
            raise PublishFailed(self._unreachable(self._last_error or "not connected")) from None

    def _refused(self, exc: BaseException) -> bool:
        """Whether opening the connection met a no (login, virtual host, TLS), not an outage."""
        if not isinstance(exc, BrokerUnreachable):  # it opened: a declare failed after
            return False
        text = str(exc)
        tls = explain_tls(exc, self._settings)
        return "ACCESS_REFUSED" in text or "NOT_ALLOWED" in text or tls is not None

    def _unreachable(self, why: object) -> str:
        """Why there is no connection and the fix: a TLS failure's own, else start RabbitMQ."""
        if isinstance(why, BaseException) and (tls := explain_tls(why, self._settings)):
            return tls
        if isinstance(why, BusError) and not isinstance(why, BrokerUnreachable):
            return str(why)  # it connected, then a declare failed: that error says what to fix
        url = self._settings.amqp_url_redacted
        refused = explain_refusal(why, self._settings)
        return refused or f"BOTWERK_AMQP_URL {url} unreachable ({why}): {FIX}"

    async def consumers(self, queue: str) -> int | None:
        await self._wait_ready(self._settings.publish_timeout_s)
        channel = await AmqpChannel(self._connection).open()
        try:  # passive: needs no permission on the queue, so a least-privilege role may ask
            ok = await channel.call("queue_declare", queue=queue, passive=True)
        except ChannelClosed as exc:
            if "NOT_FOUND" in str(exc):
                return None
            raise
        finally:
            channel.close()
        return int(ok.method.consumer_count)


class RabbitSubscription:
    """What :meth:`RabbitBus.consume` returns: ``cancel()`` stops that one consumer."""

    def __init__(self, bus: RabbitBus, consumer: Consumer) -> None:
        self._bus = bus
        self._consumer = consumer
        self.queue = consumer.queue

    async def cancel(self) -> None:
        await self._bus._unsubscribe(self._consumer)


def explain_refusal(why: object, settings: Settings) -> str | None:
    """What to fix when the broker refused the login or the virtual host; None for others.

    For every client of ``BOTWERK_AMQP_URL`` (this bus, the Celery trainer): they see the same
    AMQP reply text, ``ACCESS_REFUSED - Login was refused...`` or ``NOT_ALLOWED - vhost...``.
    """
    url, text = settings.amqp_url_redacted, str(why)
    if "ACCESS_REFUSED" in text:
        return REFUSED_LOGIN.format(url=url)
    if "NOT_ALLOWED" not in text:
        return None
    parts = urlsplit(settings.amqp_url or "")
    vhost = unquote(parts.path.split("/")[1]) if parts.path.count("/") else ""  # as pika reads it
    advice = NO_VHOST if "not found" in text else NO_ACCESS
    before, _, reason = text.rpartition("NOT_ALLOWED - ")  # "...(530) 'NOT_ALLOWED - why'"
    reason = reason.rstrip(")")
    if before[-1:] in ("'", '"') and reason.endswith(before[-1]):
        reason = reason[:-1]
    return advice.format(url=url, vhost=vhost or "/", why=reason, user=parts.username or "USER")


def _describe(item: Declarable) -> str:
    if isinstance(item, Exchange):
        return f"the exchange {item.name}"
    if isinstance(item, Binding):
        return f"the binding of {item.queue} to {item.exchange} ({item.routing_key!r})"
    return f"the queue {item.name}"


def _lost_with_its_node(error: str) -> bool:
    """Whether a queue's declare failed because the one node it lives on is down or stopping.

    RabbitMQ 3.10 words it two ways: ``404 NOT_FOUND - home node ... is down or inaccessible``
    once the node is gone, and ``404 NOT_FOUND - queue ... process is stopped by supervisor``
    while it stops gracefully: it stops its queues first and closes its connections last. In a
    CI run's rolling restart a transport connected to a stopping node was told the second for
    over 8 s, moved only after, and 64 of its users heard "took too long". Either way the
    queue is of no use until its node is back.
    """
    return "404" in error and ("home node" in error or "stopped by supervisor" in error)


def _named(item: Declarable, kind: type, name: str) -> bool:
    return isinstance(item, kind) and getattr(item, "name", None) == name


def _where(params: pika.URLParameters) -> str:
    """``host:port`` of one node (``[::1]:5672`` for IPv6), for logs and errors."""
    return host_port(params.host, params.port)


def connect_order(nodes: Sequence[T], rng: random.Random, last: T | None = None) -> list[T]:
    """``nodes`` in a random order, drawn anew on each connect so clients spread over a cluster;
    ``last`` (the node just lost), if given, after all the others.

    A node lost by a silent connection (frozen, cut off) still takes TCP connections, and one
    tried first costs the handshake's timeout (NODE_HANDSHAKE_S) before the next: in a CI run
    of the freeze row a worker reconnected 21.9 s after its node froze, past the row's bound."""
    order = rng.sample(list(nodes), len(nodes))
    if last is not None and last in order:
        order.remove(last)
        order.append(last)
    return order


def _parameters(settings: Settings, identity: Identity) -> list[pika.URLParameters]:
    """One pika parameter set per node of ``BOTWERK_AMQP_URL`` (one for a single broker).

    With several nodes, a node that takes the TCP connection but does not finish the AMQP
    handshake within NODE_HANDSHAKE_S (frozen, overloaded, partitioned) is passed over for the
    next; one broker keeps pika's own, longer, timeouts: there is no other node to try.
    """
    nodes = [_node_parameters(url, settings, identity) for url in settings.amqp_urls]
    if len(nodes) > 1:
        for params in nodes:
            params.socket_timeout = params.stack_timeout = NODE_HANDSHAKE_S
    return nodes


def _node_parameters(url: str, settings: Settings, identity: Identity) -> pika.URLParameters:
    params = pika.URLParameters(url)
    if "heartbeat" not in parse_qs(urlsplit(url).query):
        params.heartbeat = settings.heartbeat_s
    params.client_properties = identity.client_properties()
    params.connection_attempts = 1
    context = client_context(settings)  # None for amqp://; verifies the broker's name and CA
    if context is not None:
        params.ssl_options = pika.SSLOptions(context, server_hostname=params.host)
    return params
