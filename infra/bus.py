"""The bus contract every role is written against, and what is common to both buses.

Two implementations keep the same semantics: :class:`botwerk.infra.rabbit.RabbitBus` (pika, one
connection per process) and :class:`botwerk.infra.memory.MemoryBus` (in-process, for ``botwerk up``
with no broker). One test suite runs against both.

Used like this::

    await bus.declare(topology.for_worker(names, "echo", limits))
    await bus.publish(names.infer, "echo", Outgoing.of(request, reply_to=my_queue))
    sub = await bus.consume(names.infer_queue("echo"), handler, prefetch=8)

Semantics both keep:
- ``publish`` returns once the broker has confirmed the message. It raises ``Unroutable``
  (mandatory and no queue matched), ``Rejected`` (nack: queue full), ``TooLarge`` (over the
  body cap, refused before sending), ``PublishRefused`` (the broker refused that one message:
  only it fails) or ``PublishFailed`` (no confirm in time). If the
  connection drops first, it publishes again once reconnected, so a message may arrive twice
  (consumers deduplicate by ``message_id``), never zero times.
- ``consume`` hands each delivery to ``handler`` in its own task, at most ``prefetch``
  unsettled at a time. The handler settles each delivery exactly once (``ack``, ``requeue``,
  ``discard``); :mod:`~botwerk.infra.consumer` wraps typed handlers: returning acks, raising
  dead-letters. Deliveries still unsettled when their consumer goes return to the queue.
- Work queues count deliveries (``x-delivery-count``) and dead-letter past their limit.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol

from botwerk.infra import metrics
from botwerk.infra.errors import TooLarge
from botwerk.infra.topology import Declarable, Names
from botwerk.schemas import CONTENT_TYPE, Envelope, encode

log = logging.getLogger("botwerk.bus")

TRACE_HEADER = "x-botwerk-trace"
DEADLINE_HEADER = "x-botwerk-deadline"
SENT_HEADER = "x-botwerk-sent"  # epoch ms at publish: the queue wait in the metrics
REASON_HEADER = "x-botwerk-reason"
DEAD_QUEUE_HEADER = "x-botwerk-queue"
DEAD_EXCHANGE_HEADER = "x-botwerk-exchange"
DEAD_KEY_HEADER = "x-botwerk-routing-key"
DEAD_AT_HEADER = "x-botwerk-dead-at"  # epoch ms when Botwerk dead-lettered it: `dead purge`
MISSING_DEADLINE = f"a valid {DEADLINE_HEADER} (an integer of epoch milliseconds)"

Settlement = Literal["ack", "requeue", "discard"]


def new_id() -> str:
    return uuid.uuid4().hex


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message to publish: body plus the AMQP properties Botwerk uses."""

    body: bytes
    type: str
    message_id: str = field(default_factory=new_id)
    correlation_id: str | None = None
    reply_to: str | None = None
    headers: dict[str, Any] = field(default_factory=dict)
    expiration_ms: int | None = None
    content_type: str = CONTENT_TYPE
    persistent: bool = True

    @classmethod
    def of(
        cls,
        message: Envelope,
        *,
        trace: str | None = None,
        deadline_ms: int | None = None,
        **properties: Any,
    ) -> Outgoing:
        """Encode ``message``; ``trace``/``deadline_ms`` and the time now go into the headers."""
        headers: dict[str, Any] = dict(properties.pop("headers", {}))
        headers[SENT_HEADER] = now_ms()
        if trace:
            headers[TRACE_HEADER] = trace
        if deadline_ms is not None:
            headers[DEADLINE_HEADER] = deadline_ms
        return cls(encode(message), message.TYPE, headers=headers, **properties)


@dataclass(slots=True, eq=False)
class Delivery:
    """One message handed to a consumer; settle it exactly once."""

    queue: str
    exchange: str
    routing_key: str
    message: Outgoing
    redelivered: bool
    _settle: Callable[[Settlement], None] = field(repr=False)
    settled: Settlement | None = None
    _alive: Callable[[], bool] = field(default=lambda: True, repr=False)

    @property
    def live(self) -> bool:
        """False once the channel it came on has closed: it can no longer be settled, and the
        broker has given it (or will give it) to a consumer again."""
        return self._alive()

    @property
    def headers(self) -> dict[str, Any]:
        return self.message.headers

    @property
    def delivery_count(self) -> int:
        """Earlier deliveries of this message that were not acked (quorum queues count them)."""
        return int(self.headers.get("x-delivery-count") or 0)

    @property
    def trace(self) -> str | None:
        value = self.headers.get(TRACE_HEADER)
        return str(value) if value else None

    @property
    def deadline_ms(self) -> int | None:
        """The ``x-botwerk-deadline`` header: epoch milliseconds; None if absent or not an int."""
        return self._epoch_ms(DEADLINE_HEADER)

    @property
    def sent_ms(self) -> int | None:
        """The ``x-botwerk-sent`` header (epoch ms of publishing); None if absent or not an int."""
        return self._epoch_ms(SENT_HEADER)

    def _epoch_ms(self, header: str) -> int | None:
        """A header of epoch milliseconds; None when absent, not an int, or not positive."""
        value = self.headers.get(header)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            return None
        return value

    def expired(self) -> bool:
        deadline = self.deadline_ms
        return deadline is not None and now_ms() >= deadline

    def ack(self) -> None:
        self._settle_once("ack")

    def requeue(self) -> None:
        self._settle_once("requeue")

    def discard(self) -> None:
        """Reject without requeue: the queue's own dead-lettering takes it (reason ``rejected``)."""
        self._settle_once("discard")

    def _settle_once(self, how: Settlement) -> None:
        if self.settled is not None:
            log.warning("%s already %s; ignoring %s", self.message.message_id, self.settled, how)
            return
        self.settled = how
        self._settle(how)


Handler = Callable[[Delivery], Coroutine[Any, Any, None] | None]
"""Called with each delivery in the bus's own callback. It returns a coroutine, which the bus
runs as a task of its own, or None when it settled the delivery there and then (a plain
callback: no task and no loop turn for a delivery that needs no waiting, issue 16)."""


class Subscription(Protocol):
    queue: str

    async def cancel(self) -> None:
        """Stop receiving; wait for the handlers in flight; never raises."""


Move = Callable[[str], tuple[str, list[Declarable]]]
"""What :meth:`Bus.movable` calls with a queue whose node is down: its new name, declarations."""
Moved = Callable[[], None]
"""What :meth:`Bus.movable` calls once the new queue is declared: whoever waits asks again."""


class Bus(Protocol):
    kind: str
    """``rabbitmq`` or ``memory``."""
    connected_at: float
    """``time.monotonic()`` of the latest (re)connect; 0.0 before the first. What a process saw
    of the broker before a reconnect may be stale (see :class:`botwerk.infra.rpc.Presence`)."""
    reconnected_at: float
    """``time.monotonic()`` of the latest connect after losing the broker; 0.0 if it never lost
    it. Just after one, a nack means a node was lost more likely than a full queue
    (:func:`botwerk.infra.rpc.failing_over`)."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def declare(self, items: Iterable[Declarable]) -> None:
        """Declare idempotently, and again after every reconnect."""

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
        """``cap=False`` skips the body-size cap: for copies of messages already on the broker."""

    async def consume(self, queue: str, handler: Handler, *, prefetch: int) -> Subscription: ...

    def movable(self, queue: str, move: Move, moved: Moved) -> None:
        """``queue`` lives on one node of a cluster and its owner can do without it: when it
        cannot be declared because that node is down (or stopping), ``move(queue)`` names the
        queue to use instead and what to declare for it, and the bus takes those
        (docs/protocol.md, "On a cluster"). ``moved()`` is called once they are declared, so
        that what is asked again names a queue that exists. A process's reply and events
        queues are movable; work queues are replicated.
        """

    async def delete_queue(self, name: str) -> None: ...

    async def delete_exchange(self, name: str) -> None: ...

    async def consumers(self, queue: str) -> int | None:
        """How many consumers ``queue`` has now; None when there is no such queue.

        Asked passively (RabbitMQ: a passive declare), which needs no permission on the queue,
        so a least-privilege role can see whether anyone serves a queue it may not read.
        """


async def dead_letter(
    bus: Bus, names: Names, delivery: Delivery, reason: str, *, code: str = "other", role: str = ""
) -> None:
    """Move ``delivery`` to ``{ns}.dead`` with ``reason`` in a header, then ack it.

    ``code`` is the reason's short, bounded name that ``botwerk_dead_letters_total{role}``
    counts it under (the metrics never carry the free text).

    The copy keeps its body and properties, and says where it came from (queue, exchange,
    routing key) so it can be replayed once the cause is fixed. The body-size cap does not
    apply: the broker already took the message, and an over-cap body is a reason to be here.

    If the dead letter cannot be published, the original is requeued instead: it comes back,
    counts toward the delivery limit, and the broker dead-letters it at the limit. Never lost.
    A delivery whose channel has closed is not dead-lettered at all: the broker redelivers it,
    and another consumer may well have answered it meanwhile (a worker frozen past its
    heartbeat, then resumed, still holds deliveries of its dead connection).
    """
    if not delivery.live:
        log.info(
            "%s not dead-lettered (%s): its channel closed, so the broker delivers it again",
            delivery.message.message_id, reason,
        )  # fmt: skip
        return
    headers = {
        **delivery.headers,
        REASON_HEADER: reason[:1000],
        DEAD_QUEUE_HEADER: delivery.queue,
        DEAD_EXCHANGE_HEADER: delivery.exchange,
        DEAD_KEY_HEADER: delivery.routing_key,
        DEAD_AT_HEADER: now_ms(),
    }
    copy = replace(delivery.message, headers=headers, expiration_ms=None)
    try:
        await bus.publish(names.dlx, delivery.queue, copy, cap=False)
    except Exception as exc:
        log.error("could not dead-letter %s (%s); requeued", delivery.message.message_id, exc)
        delivery.requeue()
        return
    log.warning("dead-lettered %s from %s: %s", delivery.message.message_id, delivery.queue, reason)
    metrics.dead_lettered(role, code)
    delivery.ack()


def check_size(message: Outgoing, max_bytes: int) -> None:
    """Refuse a body over the cap before it is sent: the broker would close the channel."""
    if len(message.body) > max_bytes:
        raise TooLarge(
            f"{message.type} body of {len(message.body)} bytes is over the {max_bytes}-byte cap "
            "(BOTWERK_MAX_MESSAGE_BYTES)"
        )


def dead_reason(headers: dict[str, Any]) -> str:
    """Why a message in ``{ns}.dead`` is there: our header, or the broker's x-death reason."""
    if reason := headers.get(REASON_HEADER):
        return str(reason)
    return str(headers.get("x-first-death-reason", "unknown"))
