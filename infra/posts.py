"""Posts: messages to a conversation that nobody asked for (a schedule, a reminder, a bot's own).

A post is a ``botwerk.reply.v1`` message published to ``{ns}.replies`` with the routing key
``{ns}.post.<transport>``: that transport kind's durable quorum queue
(:func:`botwerk.infra.topology.for_posts`), declared by ``botwerk broker setup`` for every
installed kind and by each transport's gateway when it starts. The gateway consumes it beside
its reply queue and hands each post to its platform (``transports/base.py``)::

    poster = Poster(bus, settings)
    message_id = await poster.post(
        bot="billybard", transport="slack", conversation="C0POETRY", text="Good morning"
    )

Guarantees: the publish is confirmed before ``post`` returns; the post waits in its queue
while the transport is down, for at most its time to live (``ttl_s``, default
``BOTWERK_POST_TTL_S``: the AMQP ``expiration``; the ``x-botwerk-deadline`` header says the
same, so a post redelivered past it is dropped too); delivery is at least once, and the
gateway drops a second copy of the same ``message_id`` (give your own to make a retry of
``post`` idempotent). A transport kind this broker never heard of (no post queue) fails at
once with :class:`NoPostQueue`, which says how to fix it.

Limits: the transport kinds of one namespace share one queue each, so with two processes of
one kind a post reaches one of them (a web room open only on the other misses it).
"""

from __future__ import annotations

import logging

from botwerk.infra.bus import Bus, Outgoing, check_size, new_id, now_ms
from botwerk.infra.errors import TooLarge, Unroutable
from botwerk.infra.logs import TRACE
from botwerk.infra.settings import Settings
from botwerk.infra.topology import Names
from botwerk.schemas import Reply

log = logging.getLogger("botwerk.posts")

MAX_TTL_S = 30 * 24 * 3600  # as BOTWERK_POST_TTL_S: a month; a longer wait is a mistake


class NoPostQueue(Unroutable):
    """No queue takes posts for that transport kind: setup never ran for it, nor did it start."""


class Poster:
    """Publishes posts for any bot to any transport kind's post queue; see the module."""

    def __init__(self, bus: Bus, settings: Settings) -> None:
        self.bus = bus
        self.settings = settings
        self.names = Names(settings.namespace)

    async def post(
        self,
        *,
        bot: str,
        transport: str,
        conversation: str,
        text: str,
        thread: str | None = None,
        ttl_s: float | None = None,
        message_id: str | None = None,
        meta: dict[str, str] | None = None,
    ) -> str:
        """Publish one post and wait for the broker's confirm; its ``message_id``.

        Raises ValueError (empty text, a TTL out of range), :class:`TooLarge` (over
        ``BOTWERK_MAX_MESSAGE_BYTES``) or :class:`NoPostQueue`; other bus errors as
        ``bus.publish`` raises them.
        """
        ttl_ms = _ttl_ms(self.settings.post_ttl_s if ttl_s is None else ttl_s)
        if not text.strip():
            raise ValueError(f"a post to {transport} {conversation}: text must not be empty")
        reply = Reply(bot=bot, conversation=conversation, text=text, thread=thread, meta=meta or {})
        key = self.names.post_queue(transport)
        trace = TRACE.get()
        message = Outgoing.of(
            reply, message_id=message_id or new_id(), trace=None if trace == "-" else trace,
            deadline_ms=now_ms() + ttl_ms, expiration_ms=ttl_ms,
        )  # fmt: skip
        try:
            check_size(message, self.settings.max_message_bytes)
        except TooLarge as exc:
            raise TooLarge(f"a post to {transport} {conversation}: {exc}") from None
        try:
            await self.bus.publish(self.names.replies, key, message, mandatory=True)
        except Unroutable:
            raise NoPostQueue(_no_queue(transport, key)) from None
        log.info("post %s for %s %s queued (%s)", message.message_id, transport, conversation, bot)
        return message.message_id


def _ttl_ms(ttl_s: float) -> int:
    if not 0 < ttl_s <= MAX_TTL_S:
        raise ValueError(f"ttl_s {ttl_s}: give seconds above 0 and at most {MAX_TTL_S} (30 days)")
    return max(1, round(ttl_s * 1000))


def _no_queue(transport: str, key: str) -> str:
    return (
        f"no transport {transport!r} takes posts here: the queue {key} does not exist. "
        "Run `botwerk broker setup` (it declares the post queue of every installed transport "
        f"kind), or start `botwerk transport {transport}` once; check the name for a typo"
    )
