"""One-off posts a bot schedules itself: "remind me in 10 minutes to stretch".

A bot asks through its context (the demo bot's ``remind`` command is the worked example)::

    due = await ctx.post_later(600, "Reminder: stretch")  # epoch seconds it is due

A reminder is kept in the bots' state store (:mod:`botwerk.infra.state`), in one list per bot,
so it outlives the core that took it. Every core of the bot looks at the list about once a
second (:meth:`Reminders.run`); the core that claims a due reminder (``add`` of its claim key:
set if absent, one winner) posts it (:mod:`botwerk.infra.posts`) and takes it off the list.

Guarantees: at least once. A core that dies after its claim and before the post's confirm
leaves the claim to expire (:data:`CLAIM_TTL_S`), and a core of the bot posts it then; the post's
message id is the reminder's, so a transport drops a second copy. When no core of the bot runs
at the due time, the reminder goes out when one starts, unless it is more than
``BOTWERK_POST_TTL_S`` late: then it is dropped with a line in the log. A reminder to a
transport kind the broker has no post queue for is dropped the same way (nothing would ever
take it).

Limits: :data:`MAX_PENDING` reminders per bot (the list is one value of the store); due to
about a second. Why the store and not Celery's ``countdown``: a Celery worker holds a task
with a countdown unacknowledged until it is due, and RabbitMQ closes a channel that holds a
delivery longer than its ``consumer_timeout`` (30 minutes by default); and ``botwerk up`` has
no Celery at all. The store is in every deployment, the embedded one included.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from botwerk.infra.bus import new_id
from botwerk.infra.errors import TooLarge
from botwerk.infra.posts import NoPostQueue, Poster
from botwerk.infra.state import StateStore

log = logging.getLogger("botwerk.reminders")

MAX_PENDING = 10_000
MAX_DELAY_S = 30 * 24 * 3600  # a month, as a post's longest time to live
CLAIM_TTL_S = 60.0
"""how long a core's claim on a due reminder stands: long enough to post it, short enough that
another core posts it soon after the claimer died"""
EVERY_S = 1.0


class TooManyReminders(ValueError):
    """The bot has :data:`MAX_PENDING` reminders waiting already."""


class Reminders:
    """The reminders of one bot, in ``store``; posted through ``poster``. See the module."""

    def __init__(
        self,
        store: StateStore,
        poster: Poster,
        bot: str,
        *,
        clock: Callable[[], float] = time.time,
        claim_ttl_s: float = CLAIM_TTL_S,
    ) -> None:
        self.store, self.poster, self.bot, self.clock = store, poster, bot, clock
        self.claim_ttl_s = claim_ttl_s
        self.key = f"reminders:{bot}"

    async def add(
        self, delay_s: float, text: str, *, transport: str, conversation: str,
        thread: str | None = None,
    ) -> float:  # fmt: skip
        """Keep a post of ``text`` for ``delay_s`` from now; when it is due (epoch seconds)."""
        if not 0 <= delay_s <= MAX_DELAY_S:
            raise ValueError(f"a reminder's delay must be 0 to {MAX_DELAY_S} s, not {delay_s}")
        if not text.strip():
            raise ValueError("a reminder's text must not be empty")
        due = self.clock() + delay_s
        entry = {
            "id": new_id(), "due": due, "text": text, "transport": transport,
            "conversation": conversation, "thread": thread,
        }  # fmt: skip

        def added(pending: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
            pending = pending or []
            if len(pending) >= MAX_PENDING:
                raise TooManyReminders(
                    f"{self.bot} has {MAX_PENDING} reminders waiting already; wait for some"
                )
            return [*pending, entry]

        await self.store.update(self.key, added)
        return due

    async def pending(self) -> list[dict[str, Any]]:
        """The reminders waiting, oldest due first."""
        return sorted(await self.store.get(self.key) or [], key=lambda entry: entry["due"])

    async def fire_due(self) -> int:
        """Post every due reminder this core claims; how many it posted."""
        now = self.clock()
        posted = 0
        for entry in await self.pending():
            if entry["due"] > now:
                break
            if not await self.store.add(f"reminder:{entry['id']}", 1, self.claim_ttl_s):
                continue  # another core has it
            if await self._post(entry, late_s=now - entry["due"]):
                posted += 1
        return posted

    async def run(self, every_s: float = EVERY_S) -> None:
        """Fire due reminders every ``every_s`` until cancelled; a failure costs one round."""
        while True:
            try:
                await self.fire_due()
            except Exception as exc:  # the store or the broker away: the next round retries
                log.warning("reminders of %s: %s; trying again shortly", self.bot, exc)
            await asyncio.sleep(every_s)

    async def _post(self, entry: dict[str, Any], late_s: float) -> bool:
        """Post ``entry`` and take it off the list; False when it was dropped instead.

        A bus error leaves it on the list and raises: its claim expires and a core tries
        again. What can never be posted (no post queue, too large) is dropped with a warning.
        """
        ttl_s = self.poster.settings.post_ttl_s
        where = f"{entry['transport']} {entry['conversation']}"
        posted = False
        if late_s > ttl_s:
            log.info("reminder %s for %s dropped: %.0f s late", entry["id"], where, late_s)
        else:
            try:
                await self.poster.post(
                    bot=self.bot, transport=entry["transport"], thread=entry["thread"],
                    conversation=entry["conversation"], text=entry["text"],
                    message_id=entry["id"], ttl_s=max(ttl_s - late_s, 1.0),
                    meta={"botwerk.origin": "reminder"},
                )  # fmt: skip
                posted = True
            except (NoPostQueue, TooLarge, ValueError) as exc:
                log.warning("reminder %s for %s dropped: %s", entry["id"], where, exc)
        await self.store.update(self.key, _without(entry["id"]))
        return posted


def _without(reminder_id: str) -> Callable[[list[dict[str, Any]] | None], list[dict[str, Any]]]:
    def remove(pending: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
        return [entry for entry in pending or [] if entry["id"] != reminder_id]

    return remove
