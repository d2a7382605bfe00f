"""The one request/reply entrypoint: what every role that answers requests does the same way.

Used like this::

    responder = Responder(
        bus, names, InferRequest, answer, asked=WORK,
        too_large=lambda reply, exc: Error(code="model_error", message="too large"),
    )
    await bus.consume(queue, responder.handler(), prefetch=8)

For each delivery (decoded and traced by :func:`~botwerk.infra.consumer.typed_handler`), the
responder dead-letters, unstarted, a request without ``reply_to`` (nowhere to answer), without
a valid ``x-botwerk-deadline``, whose deadline lies more than an hour ahead
(:data:`~botwerk.schemas.messages.MAX_DEADLINE_MS`), or whose deadline has passed. Otherwise it
awaits ``answer(request, delivery)`` and publishes the reply to ``reply_to``, with
``correlation_id`` = the request's ``message_id`` and the request's trace. ``bus.publish``
returns only once the broker has confirmed the reply, and the delivery is acked only after that
(by the consumer, when the handler returns): a process killed midway leaves the request to
another. A reply over the size cap is replaced by ``too_large(reply, exc)``, a short reply that
says so, so the caller still hears back. ``after(delivery)`` then runs, before the ack. A
reply to a queue that ``kept_until_deadline(reply_to)`` names (a transport's post queue:
nobody waits there, and the reply may wait for a transport that is down) carries the
request's deadline and expires with it.

Core (``cores/runtime.py``) and Worker (``workers/runtime.py``) use it; they differ only in the
words of their dead-letter reasons (:class:`Asked`), the reply's durability, and the fallback.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from botwerk.infra import metrics
from botwerk.infra.bus import (
    DEADLINE_HEADER,
    MISSING_DEADLINE,
    Bus,
    Delivery,
    Handler,
    Outgoing,
    now_ms,
)
from botwerk.infra.consumer import typed_handler
from botwerk.infra.errors import DeadLetter, Rejected, TooLarge, Unroutable
from botwerk.infra.topology import Names
from botwerk.schemas import DEFAULT_MAX_BYTES, Envelope, Error
from botwerk.schemas.messages import MAX_DEADLINE_MS

Req = TypeVar("Req", bound=Envelope)
Rep = TypeVar("Rep", bound=Envelope)


@dataclass(frozen=True, slots=True)
class Asked:
    """How dead-letter reasons name a request and the start of its work."""

    what: str
    """"request" -> "request without reply_to: nowhere to answer" """
    start: str
    """"the work started" -> "deadline passed before the work started" """

    @property
    def expired(self) -> str:
        return f"deadline passed before {self.start}"


WORK = Asked("request", "the work started")
"""A worker's requests."""


class Responder(Generic[Req, Rep]):
    """Answers one queue's requests; see the module."""

    def __init__(
        self,
        bus: Bus,
        names: Names,
        expect: type[Req],
        answer: Callable[[Req, Delivery], Awaitable[Rep]],
        *,
        asked: Asked,
        too_large: Callable[[Rep, TooLarge], Envelope],
        persistent: bool = True,
        after: Callable[[Delivery], None] | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        labels: metrics.Labels | None = None,
        kept_until_deadline: Callable[[str], bool] = lambda reply_to: False,
    ) -> None:
        self.bus = bus
        self.names = names
        self.expect = expect
        self.asked = asked
        self._answer = answer
        self._too_large = too_large
        self._persistent = persistent
        self._after = after
        self._max_bytes = max_bytes
        self._labels = labels
        self._kept_until_deadline = kept_until_deadline

    def handler(self) -> Handler:
        """The bus handler: decode, check, answer, reply, then (on return) ack."""
        return typed_handler(
            self.bus, self.names, (self.expect,), self.respond, max_bytes=self._max_bytes,
            labels=self._labels,
        )  # fmt: skip

    async def respond(self, request: Req, delivery: Delivery) -> str:
        """Check ``delivery``, answer ``request`` and publish the reply (confirmed); the outcome
        for the metrics: ``error`` when the reply is an error, else ``ok``."""
        reply_to = self.check(delivery)
        reply = await self._answer(request, delivery)
        await self.reply(delivery, reply_to, reply)
        if self._after is not None:
            self._after(delivery)
        return "error" if isinstance(reply, Error) or getattr(reply, "error", None) else "ok"

    def check(self, delivery: Delivery) -> str:
        """Where to reply; :class:`DeadLetter` when the request cannot or must not be started."""
        reply_to = delivery.message.reply_to
        if not reply_to:
            raise DeadLetter(
                f"{self.asked.what} without reply_to: nowhere to answer", "no_reply_to"
            )
        if delivery.deadline_ms is None:
            raise DeadLetter(f"{self.asked.what} without {MISSING_DEADLINE}", "no_deadline")
        if (ahead_ms := delivery.deadline_ms - now_ms()) > MAX_DEADLINE_MS:
            raise DeadLetter(
                f"{self.asked.what} whose {DEADLINE_HEADER} lies {ahead_ms / 3_600_000:.1f} "
                f"hours ahead, over the {MAX_DEADLINE_MS // 3_600_000} hour maximum: "
                "check the sender's clock and that it sends epoch milliseconds",
                "deadline_too_far",
            )
        if delivery.expired():
            raise DeadLetter(self.asked.expired, "expired")
        return reply_to

    async def reply(self, delivery: Delivery, reply_to: str, reply: Rep) -> None:
        """Publish ``reply`` to ``reply_to``, or the too-large fallback if it is over the cap."""
        try:
            await self._send(reply_to, self._outgoing(delivery, reply_to, reply))
        except TooLarge as exc:
            fallback = self._too_large(reply, exc)
            await self._send(reply_to, self._outgoing(delivery, reply_to, fallback))

    async def _send(self, reply_to: str, message: Outgoing) -> None:
        """Publish a reply, confirmed; :class:`DeadLetter` where no queue will take it.

        A caller's reply queue has no length limit, so a broker that refuses a reply to one
        says the queue's cluster node is down: the caller, if alive, moved to a new queue and
        asked again, so this request is dead-lettered with that reason (a post queue that
        refuses is full: the error goes up as before).

        Replies are mandatory: one that no queue takes (its caller gone and its queue expired,
        or a cluster whose nodes disagree on which queues exist after a partition healed) would
        otherwise be confirmed and dropped, and its request acked as answered. It is
        dead-lettered instead, saying so.
        """
        try:
            await self.bus.publish(self.names.replies, reply_to, message, mandatory=True)
        except Rejected:
            if self._kept_until_deadline(reply_to):
                raise
            raise DeadLetter(
                f"the broker refused the reply to {reply_to} (its node is down)",
                "reply_unreachable",
            ) from None
        except Unroutable:
            raise DeadLetter(
                f"no queue took the reply to {reply_to}: its caller is gone, or the broker "
                "node this process uses does not know that queue",
                "reply_unroutable",
            ) from None

    def _outgoing(self, delivery: Delivery, reply_to: str, reply: Envelope) -> Outgoing:
        deadline = delivery.deadline_ms
        if not self._kept_until_deadline(reply_to) or deadline is None:
            deadline = None  # a reply queue of a live caller, who keeps its own deadline
        return Outgoing.of(
            reply,
            correlation_id=delivery.message.message_id,
            trace=delivery.trace,
            persistent=self._persistent,
            deadline_ms=deadline,
            expiration_ms=max(deadline - now_ms(), 1) if deadline is not None else None,
        )
