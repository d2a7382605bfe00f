"""Turn a typed message handler into a bus handler that never lets bad input kill a process.

Used like this::

    async def on_request(request: InferRequest, delivery: Delivery) -> None: ...
    await bus.consume(queue, typed_handler(bus, names, (InferRequest,), on_request), prefetch=8)

For each delivery: decode and validate (a :class:`SchemaError` dead-letters the message with
the field and reason), run the handler inside the message's trace, then settle: ack when it
returns, dead-letter on :class:`DeadLetter` or any other exception (with the exception as the
reason), requeue on :class:`Requeue`. The consumer carries on with the next message either way.
Given ``labels``, it also counts each message by outcome (``ok``, or what ``handle`` returns:
``error`` for an error reply; ``dead``, ``expired``, ``requeued``) and times its queue wait and
handling (:mod:`botwerk.infra.metrics`).
Roles that answer requests build on it through :mod:`botwerk.infra.responder`; reply queues
through :class:`botwerk.infra.rpc.Inbox`.

:func:`typed_callback` is the same for a ``handle`` that never waits (a reply handed to the call
that waits for it): each delivery is decoded, handled and acked in the bus's own callback, with
no task and no loop turn of its own; only dead-lettering, which publishes, takes a task.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from botwerk.infra import metrics
from botwerk.infra.bus import Bus, Delivery, Handler, dead_letter, now_ms
from botwerk.infra.errors import DeadLetter, Requeue
from botwerk.infra.logs import trace
from botwerk.infra.topology import Names
from botwerk.schemas import DEFAULT_MAX_BYTES, Envelope, SchemaError, decode

log = logging.getLogger("botwerk.consumer")

E = TypeVar("E", bound=Envelope)


def typed_handler(
    bus: Bus,
    names: Names,
    expect: tuple[type[E], ...],
    handle: Callable[[E, Delivery], Awaitable[str | None]],
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    labels: metrics.Labels | None = None,
) -> Handler:
    """A bus handler that decodes into one of ``expect`` and calls ``handle(message, delivery)``.

    ``handle`` may return an outcome for the metrics (``error``); None is ``ok``.
    """
    role = labels.role if labels is not None else ""

    async def settle(delivery: Delivery) -> str:
        raw = delivery.message
        with trace(delivery.trace or raw.message_id):
            try:
                message: E = decode(
                    raw.body, raw.type, raw.content_type, expect=expect, max_bytes=max_bytes
                )
            except SchemaError as exc:
                await dead_letter(
                    bus, names, delivery, f"schema error: {exc}", code="schema", role=role
                )
                return _final(delivery, "dead")
            return _final(
                delivery, await _run(bus, names, delivery, handle(message, delivery), role)
            )

    async def on_delivery(delivery: Delivery) -> None:
        if labels is None:
            await settle(delivery)
            return
        metrics.queue_wait(labels, delivery.sent_ms, now_ms())
        started = time.perf_counter()
        with metrics.in_flight(labels):
            outcome = await settle(delivery)
        metrics.observe(labels, "handle", time.perf_counter() - started)
        metrics.count(labels, outcome)

    return on_delivery


def typed_callback(
    bus: Bus,
    names: Names,
    expect: tuple[type[E], ...],
    handle: Callable[[E, Delivery], None],
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Handler:
    """:func:`typed_handler` for a ``handle`` that returns at once: a plain callback.

    ``handle`` returning acks the delivery there and then; :class:`DeadLetter`, or any other
    exception, dead-letters it (in a task: that publishes and waits for the confirm);
    :class:`Requeue` requeues it. No metrics: reply queues are not counted.
    """

    def on_delivery(delivery: Delivery) -> Coroutine[Any, Any, None] | None:
        raw = delivery.message
        trace_id = delivery.trace or raw.message_id
        with trace(trace_id):
            try:
                message: E = decode(
                    raw.body, raw.type, raw.content_type, expect=expect, max_bytes=max_bytes
                )
                handle(message, delivery)
            except SchemaError as exc:
                reason, code = f"schema error: {exc}", "schema"
            except DeadLetter as exc:
                reason, code = exc.reason, exc.code
            except Requeue:
                delivery.requeue()
                return None
            except Exception as exc:
                reason, code = _handler_error(exc, delivery), "handler_error"
            else:
                if delivery.settled is None:
                    delivery.ack()
                return None
        return _dead_letter_traced(bus, names, delivery, reason, code, trace_id)

    return on_delivery


async def _dead_letter_traced(
    bus: Bus, names: Names, delivery: Delivery, reason: str, code: str, trace_id: str
) -> None:
    if delivery.settled is None:
        with trace(trace_id):
            await dead_letter(bus, names, delivery, reason, code=code)


async def _run(
    bus: Bus, names: Names, delivery: Delivery, work: Awaitable[str | None], role: str
) -> str:
    """Await ``work`` and settle ``delivery`` as it ended; the outcome for the metrics."""
    try:
        outcome = await work
    except DeadLetter as exc:
        await dead_letter(bus, names, delivery, exc.reason, code=exc.code, role=role)
        return "expired" if exc.code == "expired" else "dead"
    except Requeue:
        delivery.requeue()
        return "requeued"
    except asyncio.CancelledError:
        if delivery.settled is None:
            delivery.requeue()  # shutting down mid-message: let another consumer have it
        raise
    except Exception as exc:
        reason = _handler_error(exc, delivery)
        if delivery.settled is None:
            await dead_letter(bus, names, delivery, reason, code="handler_error", role=role)
        return "dead"
    if delivery.settled is None:
        delivery.ack()
    return outcome or "ok"


def _handler_error(exc: Exception, delivery: Delivery) -> str:
    """Log the handler's failure on ``delivery`` with its traceback; the dead letter's reason."""
    log.exception("handler failed on %s", delivery.message.message_id)
    return f"handler error: {type(exc).__name__}: {exc}"


def _final(delivery: Delivery, outcome: str) -> str:
    """``outcome``, unless the delivery went back to its queue (a dead letter that failed)."""
    return "requeued" if delivery.settled in (None, "requeue") else outcome
