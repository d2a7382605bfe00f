"""The core role: one bot's logic between its inbound queue and the models.

Used like this::

    core = Core(bus, settings, DemoBot(settings))
    await core.start()

Cores of one bot compete on ``{ns}.core.<bot>``. For each inbound message the core runs the
bot, publishes the reply to the message's ``reply_to`` (``correlation_id`` = the inbound
``message_id``), waits for the broker's confirm, and only then acks: a core killed midway
leaves the message to another core. A message whose deadline already passed is
dead-lettered unstarted (its transport has already said "took too long"). That request
path is :class:`~botwerk.infra.responder.Responder`, shared with the workers. Cores hold no
models, so restarting one reloads nothing, and no state of their own: the bots' memory is in
the store of ``BOTWERK_STATE_URL`` (:mod:`botwerk.infra.state`), opened at start.
"""

from __future__ import annotations

import asyncio
import logging

from msgspec.structs import replace

from botwerk.cores.bot import Bot, Context
from botwerk.infra import messages, metrics, topology
from botwerk.infra.bus import Bus, Delivery, Subscription
from botwerk.infra.errors import DeadLetter, PublishRefused, RemoteError, TooLarge
from botwerk.infra.events import announce
from botwerk.infra.posts import Poster
from botwerk.infra.reminders import Reminders
from botwerk.infra.responder import Asked, Responder
from botwerk.infra.rpc import Replies, Rpc
from botwerk.infra.settings import Settings
from botwerk.infra.state import StateStore, open_store
from botwerk.schemas import Inbound, Reply

MODELS_META = "botwerk.models"
"""The reply's meta key naming the ``model@version`` answers that made it, comma-separated."""

log = logging.getLogger("botwerk.core")

INBOUND = Asked("inbound message", "the core started")
"""How a core's dead-letter reasons name what it was asked."""


class Core:
    """Runs one bot from its queue until stopped."""

    role = "core"

    def __init__(
        self, bus: Bus, settings: Settings, bot: Bot, store: StateStore | None = None
    ) -> None:
        """``store``: a state store to share (the caller closes it); None: the core opens
        ``settings.state_url`` at start and closes it at stop."""
        self.bus = bus
        self.settings = settings
        self.bot = bot
        self.names = topology.Names(settings.namespace)
        # The bot's name too: `botwerk up` runs several cores in one process (one instance id).
        queue = self.names.reply_queue(self.role, f"{bot.name}-{settings.instance}")
        self.replies = Replies(bus, self.names, queue, max_bytes=settings.max_message_bytes)
        self.rpc = Rpc(bus, self.names, self.replies, grace_s=settings.no_worker_grace_s)
        self.responder = Responder(
            bus, self.names, Inbound, self._on_message, asked=INBOUND,
            too_large=_too_long, max_bytes=settings.max_message_bytes,
            labels=metrics.Labels(self.role, bot=bot.name),
            kept_until_deadline=self._is_post_queue,
        )  # fmt: skip
        self._subscription: Subscription | None = None
        self._post_prefix = self.names.post_queue("")  # "{ns}.post.": every post queue's
        self.poster = Poster(bus, settings)  # ctx.post: posts nobody asked for
        self.store, self._own_store = store, store is None
        self.reminders: Reminders | None = None  # ctx.post_later: made with the store at start
        self._reminding: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self.store is None:  # before consuming: the first message may need it
            self.store = await open_store(self.settings)
        limits = topology.limits_of(self.settings)
        await self.bus.declare(topology.for_core(self.names, self.bot.name, limits))
        await self.replies.start()
        queue = self.names.core_queue(self.bot.name)
        handler = self.responder.handler()
        self._subscription = await self.bus.consume(queue, handler, prefetch=self.settings.prefetch)
        self.reminders = Reminders(self.store, self.poster, self.bot.name)
        self._reminding = asyncio.create_task(self.reminders.run(), name="reminders")
        await announce(self.bus, self.names, self.role, self.bot.name, self.settings.instance, True)
        log.info("bot %s answering %s", self.bot.name, queue)

    def _is_post_queue(self, reply_to: str) -> bool:
        """Whether ``reply_to`` is a transport's post queue: a scheduled prompt's answer waits
        there for its transport, within the prompt's deadline (its time to live)."""
        return reply_to.startswith(self._post_prefix)

    @property
    def name(self) -> str:
        """The bot it runs, as ``/readyz`` and the metrics name it."""
        return self.bot.name

    def not_ready(self) -> list[str]:
        """Why it cannot answer yet (``/readyz``)."""
        queue = self.names.core_queue(self.bot.name)
        return [] if self._subscription is not None else [f"not consuming {queue}"]

    async def stop(self) -> None:
        if self._subscription is not None:
            await self._subscription.cancel()
        await self.replies.stop()
        await announce(
            self.bus, self.names, self.role, self.bot.name, self.settings.instance, False
        )
        if self._reminding is not None:
            self._reminding.cancel()
            await asyncio.gather(self._reminding, return_exceptions=True)
        if self._own_store and self.store is not None:
            store, self.store = self.store, None
            await store.close()

    async def _on_message(self, message: Inbound, delivery: Delivery) -> Reply:
        deadline = delivery.deadline_ms
        assert deadline is not None  # the responder dead-letters a message without one
        return await self.answer(message, deadline)

    async def answer(self, message: Inbound, deadline_ms: int) -> Reply:
        """The bot's reply to ``message``, or a sentence saying what went wrong."""
        ctx = Context(message, deadline_ms, self.rpc, store=self.store)
        ctx.poster = self.poster
        ctx.reminders = self.reminders
        error: str | None = None
        try:
            text = await self.bot.dispatch(ctx)
        except PublishRefused as exc:  # costs this message only: its dead letter says why
            raise DeadLetter(f"the broker refused a request it caused: {exc}", "refused") from None
        except RemoteError as exc:
            say = log.info if exc.learning is not None else log.warning  # learning: expected
            say("%s: %s %s", exc.code, exc.message, exc.detail)  # detail: for logs only
            error = exc.code
            text = messages.for_error(exc.code, model=exc.target, detail=exc.message)
            if exc.learning is not None:  # the model is coming: say how soon
                text = messages.learning(self.bot.name, exc.learning.done, exc.learning.eta_s)
        except Exception:
            log.exception("bot %s failed", self.bot.name)
            error = "internal"
            text = messages.INTERNAL
        meta = message.meta
        if ctx.answered_by:  # which model versions made this answer, e.g. "bard@2"
            meta = {**meta, MODELS_META: ",".join(dict.fromkeys(ctx.answered_by))}
        return Reply(
            bot=self.bot.name,
            conversation=message.conversation,
            thread=message.thread,
            text=text,
            error=error,
            meta=meta,
        )


def _too_long(reply: Reply, exc: TooLarge) -> Reply:
    """What the user gets instead of a reply over the size cap."""
    return replace(reply, text=messages.ANSWER_TOO_LONG, error="model_error")
