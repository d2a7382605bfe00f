"""The core role: one bot's logic between its inbound queue and the models.

>>> core = Core(bus, settings, DemoBot(settings))
>>> await core.start()

Cores of one bot compete on ``{ns}.core.<bot>``. For each inbound message the core runs the
bot, publishes the reply to the message's ``reply_to`` (``correlation_id`` = the inbound
``message_id``), waits for the broker's confirm, and only then acks: a core killed midway
leaves the message to another core. A message whose deadline already passed is
dead-lettered unstarted (its transport has already said "took too long"). Cores hold no
models, so restarting one reloads nothing.
"""

from __future__ import annotations

import logging
from functools import partial

from msgspec.structs import replace

from botwerk.infra import messages, topology
from botwerk.infra.bus import MISSING_DEADLINE, Bus, Delivery, Outgoing, Subscription
from botwerk.infra.consumer import typed_handler
from botwerk.infra.errors import DeadLetter, RemoteError, TooLarge
from botwerk.infra.events import announce
from botwerk.infra.rpc import Replies, Rpc
from botwerk.infra.settings import Settings
from botwerk.schemas import Inbound, Reply

from .bot import Bot, Context

log = logging.getLogger("botwerk.core")


class Core:
    """Runs one bot from its queue until stopped."""

    role = "core"

    def __init__(self, bus: Bus, settings: Settings, bot: Bot) -> None:
        self.bus = bus
        self.settings = settings
        self.bot = bot
        self.names = topology.Names(settings.namespace)
        # The bot's name too: `botwerk up` runs several cores in one process (one instance id).
        queue = self.names.reply_queue(self.role, f"{bot.name}-{settings.instance}")
        self.replies = Replies(bus, self.names, queue, max_bytes=settings.max_message_bytes)
        self.rpc = Rpc(bus, self.names, self.replies)
        self._subscription: Subscription | None = None

    async def start(self) -> None:
        limits = topology.Limits(self.settings.delivery_limit, self.settings.max_queue_length)
        await self.bus.declare(topology.for_core(self.names, self.bot.name, limits))
        await self.replies.start()
        handler = typed_handler(
            self.bus, self.names, (Inbound,), self._on_message,
            max_bytes=self.settings.max_message_bytes,
        )  # fmt: skip
        queue = self.names.core_queue(self.bot.name)
        self._subscription = await self.bus.consume(queue, handler, prefetch=self.settings.prefetch)
        await announce(self.bus, self.names, self.role, self.bot.name, self.settings.instance, True)
        log.info("bot %s answering %s", self.bot.name, queue)

    async def stop(self) -> None:
        if self._subscription is not None:
            await self._subscription.cancel()
        await self.replies.stop()
        await announce(
            self.bus, self.names, self.role, self.bot.name, self.settings.instance, False
        )

    async def _on_message(self, message: Inbound, delivery: Delivery) -> None:
        reply_to = delivery.message.reply_to
        deadline = delivery.deadline_ms
        if not reply_to:
            raise DeadLetter("inbound message without reply_to: nowhere to answer")
        if deadline is None:
            raise DeadLetter(f"inbound message without {MISSING_DEADLINE}")
        if delivery.expired():
            raise DeadLetter("deadline passed before the core started")
        reply = await self.answer(message, deadline)
        out = partial(Outgoing.of, correlation_id=delivery.message.message_id, trace=delivery.trace)
        try:
            await self.bus.publish("", reply_to, out(reply))
        except TooLarge:
            apology = replace(reply, text=messages.ANSWER_TOO_LONG, error="model_error")
            await self.bus.publish("", reply_to, out(apology))

    async def answer(self, message: Inbound, deadline_ms: int) -> Reply:
        """The bot's reply to ``message``, or a sentence saying what went wrong."""
        ctx = Context(message, deadline_ms, self.rpc)
        error: str | None = None
        try:
            text = await self.bot.dispatch(ctx)
        except RemoteError as exc:
            log.warning("%s: %s", exc.code, exc.message)
            error = exc.code
            text = messages.for_error(exc.code, model=exc.target, detail=exc.message)
        except Exception:
            log.exception("bot %s failed", self.bot.name)
            error = "internal"
            text = messages.INTERNAL
        return Reply(
            bot=self.bot.name,
            conversation=message.conversation,
            thread=message.thread,
            text=text,
            error=error,
            meta=message.meta,
        )
