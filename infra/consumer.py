"""Turn a typed message handler into a bus handler that never lets bad input kill a process.

Used like this::

    async def on_request(request: InferRequest, delivery: Delivery) -> None: ...
    await bus.consume(queue, typed_handler(bus, names, (InferRequest,), on_request), prefetch=8)

For each delivery: decode and validate (a :class:`SchemaError` dead-letters the message with
the field and reason), run the handler inside the message's trace, then settle: ack when it
returns, dead-letter on :class:`DeadLetter` or any other exception (with the exception as the
reason), requeue on :class:`Requeue`. The consumer carries on with the next message either way.
Roles that answer requests build on it through :mod:`botwerk.infra.responder`; reply queues
through :class:`botwerk.infra.rpc.Inbox`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from botwerk.infra.bus import Bus, Delivery, Handler, dead_letter
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
    handle: Callable[[E, Delivery], Awaitable[None]],
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Handler:
    """A bus handler that decodes into one of ``expect`` and calls ``handle(message, delivery)``."""

    async def on_delivery(delivery: Delivery) -> None:
        raw = delivery.message
        with trace(delivery.trace or raw.message_id):
            try:
                message: E = decode(
                    raw.body, raw.type, raw.content_type, expect=expect, max_bytes=max_bytes
                )
            except SchemaError as exc:
                await dead_letter(bus, names, delivery, f"schema error: {exc}")
                return
            await _run(bus, names, delivery, handle(message, delivery))

    return on_delivery


async def _run(bus: Bus, names: Names, delivery: Delivery, work: Awaitable[None]) -> None:
    try:
        await work
    except DeadLetter as exc:
        await dead_letter(bus, names, delivery, exc.reason)
    except Requeue:
        delivery.requeue()
    except asyncio.CancelledError:
        if delivery.settled is None:
            delivery.requeue()  # shutting down mid-message: let another consumer have it
        raise
    except Exception as exc:
        log.exception("handler failed on %s", delivery.message.message_id)
        if delivery.settled is None:
            await dead_letter(bus, names, delivery, f"handler error: {type(exc).__name__}: {exc}")
    else:
        if delivery.settled is None:
            delivery.ack()
