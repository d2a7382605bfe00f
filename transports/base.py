"""The transport contract, and the mesh side every transport shares.

A transport is a thin adapter between one platform connection and the mesh. It implements
:class:`Transport` (a handful of members) and leaves everything else to :class:`Gateway`::

    gateway = Gateway(bus, settings, transport, bot="demo")
    await gateway.start()
    await gateway.submit(conversation="C1", user=User(id="U1"), text="hi", event_id="Ev1")

The gateway publishes each message to ``{ns}.inbound`` with key ``<bot>.<transport>``, a
deadline and its own reply queue (an :class:`~botwerk.infra.rpc.Inbox`: nothing there waits
on a call, every reply is for a user); delivers each reply once through ``transport.send``,
then acks it; drops a platform event it has already seen (platform retries) and a reply it has
already delivered (redelivered work); and, when the deadline passes with no reply, sends the
user one "took too long" instead. It also consumes its kind's post queue (``{ns}.post.<kind>``,
:mod:`botwerk.infra.posts`): each post, once (by message id), through ``transport.send``,
acked after; a failed send is requeued a second later (the queue's delivery limit
dead-letters a post that always fails). Posts have no deadline timer: nobody waits on them.
Replies the gateway makes itself (that timeout, "busy", "no core") carry
``meta["botwerk.origin"] == "gateway"``: the bot never answered those.
:func:`serve_forever` reconnects a transport whose platform connection fails with one of its
``recoverable_errors``, with backoff, jitter and a cap.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, Protocol

from botwerk.infra import messages, metrics, topology
from botwerk.infra.backoff import Backoff
from botwerk.infra.bus import Bus, Delivery, Outgoing, Subscription, new_id, now_ms
from botwerk.infra.consumer import typed_handler
from botwerk.infra.errors import (
    DeadLetter,
    HandlerControl,
    PublishFailed,
    PublishRefused,
    Rejected,
    Requeue,
    TooLarge,
    Unroutable,
)
from botwerk.infra.logs import trace
from botwerk.infra.rpc import (
    ASK_AGAIN_CAP_S,
    ASK_AGAIN_FIRST_S,
    Inbox,
    SeenIds,
    failing_over,
    time_left,
)
from botwerk.infra.settings import Settings
from botwerk.schemas import Envelope, Inbound, Reply, User

log = logging.getLogger("botwerk.transport")

GOOD_RUN_S = 30.0  # a connection that lasted this long resets the backoff
POST_PREFETCH = 8  # posts handed to the platform at once
POST_RETRY_S = 1.0  # a post whose send failed goes back to its queue after this pause
FROM_GATEWAY = {"botwerk.origin": "gateway"}  # in the meta of replies the gateway makes itself
OUTCOME = {
    "no_worker": "unroutable",
    "busy": "busy",
    "bad_request": "too_large",
    "timeout": "expired",
}
"""The metrics' outcome of each failure the gateway tells the user about itself."""


class Transport(Protocol):
    """A platform bridge. Construct as ``cls(settings, bot)``."""

    name: ClassVar[str]
    """The kind, as in ``botwerk transport <name>``; also the inbound routing key's suffix."""
    max_text: ClassVar[int | None]
    """The longest reply text the platform takes in one message (``None``: no limit)."""
    recoverable_errors: ClassVar[tuple[type[BaseException], ...]]
    """Errors from ``run`` that mean "reconnect": ``serve_forever`` retries after them."""

    async def run(self, gateway: Gateway) -> None:
        """Connect and hand every message to ``gateway.submit`` until the platform ends."""

    async def send(self, reply: Reply) -> None:
        """Deliver one reply to the platform (into ``reply.conversation``/``reply.thread``)."""

    async def stop(self) -> None:
        """Make ``run`` return soon; never raises."""


class Gateway:
    """The mesh side of one transport process."""

    def __init__(
        self,
        bus: Bus,
        settings: Settings,
        transport: Transport,
        bot: str,
        bots: tuple[str, ...] = (),
    ) -> None:
        self.bus = bus
        self.settings = settings
        self.transport = transport
        self.bot = bot
        self.bots = bots or (bot,)
        """The bots this transport may address: ``submit(bot=...)`` picks one, else ``bot``."""
        self.names = topology.Names(settings.namespace)
        queue = self.names.reply_queue("transport", f"{transport.name}-{settings.instance}")
        self.replies = Inbox(
            bus, self.names, queue, self._on_reply, max_bytes=settings.max_message_bytes,
            on_moved=self._ask_again,
        )  # fmt: skip
        """The gateway's own reply inbox: every reply on it is for one of its users."""
        self._pending: dict[str, asyncio.TimerHandle] = {}
        self._asked: dict[str, tuple[Inbound, int]] = {}  # message id -> (inbound, deadline ms)
        self._sent: dict[str, tuple[float, str]] = {}  # message id -> (perf_counter, bot)
        self._answered = SeenIds()
        self._timed_out = SeenIds()
        self._events = SeenIds()
        self._posted = SeenIds()  # posts handed to the platform, by message (or correlation) id
        self._posts: Subscription | None = None
        self.on_late: Callable[[Reply], Awaitable[None]] | None = None
        """Called with a reply that came after its user was told "took too long"."""
        self._idle = asyncio.Event()
        self._idle.set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.stats: Counter[str] = Counter()
        """published, delivered, duplicate_events, duplicate_replies, posted, duplicate_posts,
        expired_posts, failed_posts, asked_again, and each failure code"""

    async def start(self) -> None:
        limits = topology.limits_of(self.settings)
        await self.bus.declare(topology.base(self.names, limits))
        await self.replies.start()
        await self.bus.declare(topology.for_posts(self.names, self.transport.name, limits))
        handler = typed_handler(
            self.bus, self.names, (Reply,), self._on_post, max_bytes=self.settings.max_message_bytes
        )
        queue = self.names.post_queue(self.transport.name)
        self._posts = await self.bus.consume(queue, handler, prefetch=POST_PREFETCH)

    async def stop(self) -> None:
        if self._posts is not None:
            await self._posts.cancel()
        await self.replies.stop()
        for timer in self._pending.values():
            timer.cancel()

    async def drain(self) -> None:
        """Wait until every message submitted so far is answered or has timed out."""
        await self._idle.wait()
        if self._tasks:
            await asyncio.wait(self._tasks)

    async def submit(
        self,
        *,
        conversation: str,
        user: User,
        text: str,
        thread: str | None = None,
        direct: bool = True,
        event_id: str | None = None,
        meta: dict[str, str] | None = None,
        bot: str | None = None,
    ) -> str | None:
        """Publish one user message (to ``bot``, default the gateway's own); its id, or None
        when ``event_id`` was seen already."""
        if event_id is not None:
            if event_id in self._events:
                log.info("platform event %s seen already; dropped", event_id)
                self.stats["duplicate_events"] += 1
                metrics.count(_labels(bot or self.bot), "duplicate")
                return None
            self._events.add(event_id)
        inbound = Inbound(
            bot=bot or self.bot, transport=self.transport.name, conversation=conversation,
            user=user, text=text, thread=thread, direct=direct, sent_at=time.time(),
            meta=meta or {},
        )  # fmt: skip
        message_id = new_id()
        with trace(message_id[:16]):
            await self._publish(inbound, message_id)
        return message_id

    async def _publish(self, inbound: Inbound, message_id: str) -> None:
        deadline = now_ms() + self.settings.deadline_ms
        loop = asyncio.get_running_loop()
        self._pending[message_id] = loop.call_later(
            self.settings.deadline_ms / 1000, self._expire, message_id, inbound
        )
        self._idle.clear()
        self._sent[message_id] = (time.perf_counter(), inbound.bot)
        self._asked[message_id] = (inbound, deadline)
        metrics.in_flight_add(_labels(inbound.bot), 1)
        try:
            await self._send(inbound, message_id, deadline)
            self.stats["published"] += 1
        except Unroutable:
            await self._fail(message_id, inbound, "no_worker", messages.NO_CORE)
        except Rejected:
            if failing_over(self.bus):  # a new leader being elected, most likely, not a full queue
                self._go_again(inbound, message_id, deadline)
            else:
                await self._fail(message_id, inbound, "busy", messages.BUSY)
        except TooLarge:
            await self._fail(message_id, inbound, "bad_request", messages.MESSAGE_TOO_LONG)
        except PublishFailed as exc:
            log.warning("could not publish %s: %s", message_id, exc)
            await self._fail(message_id, inbound, "timeout", messages.UNREACHABLE, "refused")

    async def _send(self, inbound: Inbound, message_id: str, deadline: int) -> None:
        message = Outgoing.of(
            inbound, message_id=message_id, reply_to=self.replies.queue,
            trace=message_id[:16], deadline_ms=deadline,
        )  # fmt: skip
        key = topology.Names.inbound_key(inbound.bot, self.transport.name)
        await self.bus.publish(
            self.names.inbound, key, message, mandatory=True,
            timeout=max(deadline - now_ms(), 1) / 1000,
        )  # fmt: skip
        log.info("message %s published to %s", message_id, key)

    def _ask_again(self) -> None:
        """The reply queue moved (its cluster node is down): every message still waiting for
        its reply is sent again naming the new queue, until a queue takes it (``_send_again``).
        A core may answer both copies; the user sees one (``_answered``), or "took too long"
        at the first copy's deadline."""
        for message_id, (inbound, deadline) in self._asked.items():
            self._go_again(inbound, message_id, deadline)

    def _go_again(self, inbound: Inbound, message_id: str, deadline: int) -> None:
        """:meth:`_send_again` in a task of its own: its user's timer runs meanwhile."""
        task = asyncio.get_running_loop().create_task(
            self._send_again(inbound, message_id, deadline)
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send_again(self, inbound: Inbound, message_id: str, deadline: int) -> None:
        """Send the copy (or a first publish nacked just after a reconnect) until a queue takes
        it, its user is answered, or its deadline passes.

        The broker took this message once already; a nack now is the moment, not the message:
        a quorum queue whose leader died with the node nacks until another is elected (seen
        in the cluster kill row: given up after one nack, 64 users heard "took too long")."""
        backoff = Backoff(first=ASK_AGAIN_FIRST_S, cap=ASK_AGAIN_CAP_S)
        while message_id in self._asked:
            try:
                await self._send(inbound, message_id, deadline)
                self.stats["asked_again"] += 1
                return
            except Exception as exc:
                # Nacked, unroutable or unconfirmed: again. Too large, refused for what it is,
                # or the bus closing: never. Its timer still runs: "took too long" at worst.
                again = isinstance(exc, PublishFailed) and not isinstance(
                    exc, TooLarge | PublishRefused
                )
                delay = min(backoff.next(), time_left(deadline)) if again else 0.0
                if delay <= 0:
                    log.warning("could not send %s again: %s", message_id, exc)
                    return
                log.info("could not send %s again (%s); trying in %.1fs", message_id, exc, delay)
                await asyncio.sleep(delay)

    async def _on_reply(self, reply: Envelope, delivery: Delivery) -> None:
        if not isinstance(reply, Reply):
            raise DeadLetter(
                f"a transport's reply queue takes {Reply.TYPE}, not {reply.TYPE}", "wrong_type"
            )
        correlation_id = delivery.message.correlation_id or ""
        if correlation_id in self._timed_out:
            log.info("reply to %s came after its deadline; not shown", correlation_id)
            self.stats["late_replies"] += 1
            metrics.count(_labels(reply.bot), "late")
            self._timed_out.discard(correlation_id)
            if self.on_late is not None:
                await self.on_late(reply)
            return
        if correlation_id in self._answered:
            log.info("reply to %s already delivered; duplicate dropped", correlation_id)
            self.stats["duplicate_replies"] += 1
            metrics.count(_labels(reply.bot), "duplicate")
            return
        sent = self._settle(correlation_id)
        await self._deliver(reply)
        metrics.count(_labels(reply.bot), "error" if reply.error else "ok")
        if sent is not None:
            metrics.observe(_labels(reply.bot), "end_to_end", time.perf_counter() - sent)

    async def _on_post(self, post: Reply, delivery: Delivery) -> None:
        """One post: dropped if seen already or past its deadline, else sent, then acked."""
        post_id = delivery.message.correlation_id or delivery.message.message_id
        labels = _labels(post.bot)
        if post_id in self._posted:
            log.info("post %s delivered already; duplicate dropped", post_id)
            self.stats["duplicate_posts"] += 1
            metrics.count(labels, "duplicate")
            return
        if delivery.expired():
            log.info("post %s outlived its time to live; dropped", post_id)
            self.stats["expired_posts"] += 1
            metrics.count(labels, "expired")
            return
        try:
            if post.text:
                await self.transport.send(post)
        except HandlerControl:
            raise  # the transport said what becomes of it (X: dead-letter, requeue)
        except Exception as exc:
            log.warning("post %s to %s not delivered (%s: %s); requeued", post_id,
                        post.conversation, type(exc).__name__, exc)  # fmt: skip
            self.stats["failed_posts"] += 1
            metrics.count(labels, "requeued")
            await asyncio.sleep(POST_RETRY_S)  # not at once: the platform may be back soon
            raise Requeue(f"post {post_id} not delivered") from None
        self._posted.add(post_id)
        self.stats["posted"] += 1
        metrics.count(labels, "posted")

    def _expire(self, message_id: str, inbound: Inbound) -> None:
        if message_id not in self._answered:
            self._timed_out.add(message_id)
        task = asyncio.get_running_loop().create_task(
            self._fail(message_id, inbound, "timeout", messages.TOOK_TOO_LONG)
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _fail(
        self, message_id: str, inbound: Inbound, code: str, text: str, outcome: str = ""
    ) -> None:
        if message_id in self._answered:
            return
        self._settle(message_id)
        log.info("message %s: %s", message_id, code)  # the user is told; the console stays clean
        self.stats[code] += 1
        metrics.count(_labels(inbound.bot), outcome or OUTCOME.get(code, "error"))
        reply = Reply(
            bot=inbound.bot, conversation=inbound.conversation, thread=inbound.thread,
            text=text.format(bot=inbound.bot), error=code, meta={**inbound.meta, **FROM_GATEWAY},
        )  # fmt: skip
        try:
            await self._deliver(reply)
        except Exception:
            log.exception("could not tell the user about %s", code)

    def _settle(self, message_id: str) -> float | None:
        """Mark ``message_id`` answered; when it was published (``perf_counter``), if it was."""
        self._answered.add(message_id)
        self._asked.pop(message_id, None)
        if timer := self._pending.pop(message_id, None):
            timer.cancel()
        if not self._pending:
            self._idle.set()
        if (sent := self._sent.pop(message_id, None)) is None:
            return None
        metrics.in_flight_add(_labels(sent[1]), -1)
        return sent[0]

    async def _deliver(self, reply: Reply) -> None:
        if reply.text:
            await self.transport.send(reply)
        self.stats["delivered"] += 1


def _labels(bot: str) -> metrics.Labels:
    return metrics.Labels("transport", bot=bot)


async def serve_forever(transport: Transport, gateway: Gateway, settings: Settings) -> None:
    """``transport.run`` until it returns, reconnecting after its recoverable errors."""
    loop = asyncio.get_running_loop()
    backoff = Backoff.reconnecting(settings)
    while True:
        started = loop.time()
        try:
            await transport.run(gateway)
            return
        except transport.recoverable_errors as exc:
            if loop.time() - started > GOOD_RUN_S:
                backoff.reset()
            delay = backoff.next()
            log.warning(
                "%s connection failed (%s); reconnecting in %.1fs", transport.name, exc, delay
            )
            await asyncio.sleep(delay)


class TransportRole:
    """A transport and its gateway as one role; ``finished`` is done when the platform ends."""

    role = "transport"

    def __init__(
        self,
        bus: Bus,
        settings: Settings,
        transport: Transport,
        bot: str,
        bots: tuple[str, ...] = (),
    ) -> None:
        self.transport = transport
        self.settings = settings
        self.gateway = Gateway(bus, settings, transport, bot, bots)
        self.finished: asyncio.Task[Any] | None = None

    @property
    def name(self) -> str:
        """The transport kind, as ``/readyz`` and the metrics name it."""
        return self.transport.name

    def not_ready(self) -> list[str]:
        """Why it cannot take messages (``/readyz``): not started, or its platform ended."""
        if self.finished is None:
            return ["not started"]
        return [f"{self.transport.name} has stopped"] if self.finished.done() else []

    async def start(self) -> None:
        await self.gateway.start()
        self.finished = asyncio.create_task(self._serve(), name=f"transport-{self.transport.name}")

    async def _serve(self) -> None:
        await serve_forever(self.transport, self.gateway, self.settings)
        await self.gateway.drain()

    async def stop(self) -> None:
        await self.transport.stop()
        if self.finished is not None and not self.finished.done():
            self.finished.cancel()
            await asyncio.wait([self.finished], timeout=5)
        await self.gateway.stop()
