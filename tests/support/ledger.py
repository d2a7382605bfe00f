"""A ledger of every message a fault test sends, and the checker that finds what went missing.

In a fault test::

    ledger = Ledger(work_dir)
    answer = await ledger.ask(chat, ledger.new_id())   # records sent, confirmed, replied
    verdict = ledger.check(dead_letters)                # after healing and a final drain
    verdict.lost, verdict.duplicates, verdict.unexpected

Every message's text is a unique id (``L000042``). The ledger records what was sent, what the
broker confirmed, each reply the user saw, and reads what the workers computed (written by
:class:`tests.support.models.LedgerEcho`) and what reached the dead-letter queue. The checker
computes, as Jepsen's RabbitMQ test does:

- lost: confirmed, yet nothing in the mesh ever answered it (an answer, or the bot's own error
  reply, in time or late) and it never reached the dead-letter queue. The gateway's own
  "took too long" does not count: the user is the last consumer, so work that was done but
  whose answer died on the way (a core killed after acking early) is lost too;
- unserved: confirmed, yet no worker ever computed it and it never reached the dead-letter
  queue: lost one hop down, even when the bot then told its user "took too long";
- duplicates: answered to the user more than once (at-least-once must not show);
- unexpected: a reply nobody asked for, or whose text is not its question's;
- duplicate work: computed more than once (allowed: redelivered work), reported as a figure.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botwerk.infra.bus import Delivery, dead_reason
from botwerk.schemas import Envelope, Inbound, InferRequest, Reply, SchemaError, decode
from botwerk.testing.chat import ChatClient

REFUSED = {"busy", "no_worker", "timeout", "bad_request"}  # the gateway's own answers at submit


@dataclass
class Verdict:
    sent: int
    confirmed: int
    refused: Counter[str]
    answered: int
    errors: Counter[str]
    lost: list[str]
    unserved: list[str]
    duplicates: list[str]
    unexpected: list[str]
    duplicate_work: int
    dead: dict[str, str]
    late: int = 0

    @property
    def clean(self) -> bool:
        return not (self.lost or self.duplicates or self.unexpected)

    def summary(self) -> dict[str, Any]:
        return {
            "sent": self.sent, "confirmed": self.confirmed, "answered": self.answered,
            "lost": len(self.lost), "unserved": len(self.unserved),
            "duplicates": len(self.duplicates),
            "unexpected": len(self.unexpected), "duplicate_work": self.duplicate_work,
            "dead_lettered": len(self.dead), "late": self.late, "refused": dict(self.refused),
            "errors": dict(self.errors),
        }  # fmt: skip


@dataclass
class Ledger:
    """What was sent, confirmed and answered, by message text."""

    work_dir: Path
    sent: list[str] = field(default_factory=list)
    confirmed: set[str] = field(default_factory=set)
    refused: dict[str, str] = field(default_factory=dict)
    replies: dict[str, list[Reply]] = field(default_factory=dict)
    submitted_at: dict[str, float] = field(default_factory=dict)
    answered_at: dict[str, float] = field(default_factory=dict)  # monotonic, first reply
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    def new_id(self, prefix: str = "L") -> str:
        return f"{prefix}{next(self._ids):06d}"

    async def submit(self, chat: ChatClient, text: str) -> asyncio.Future[Reply]:
        """Send ``text`` through ``chat``; record it; the future of its reply."""
        self.sent.append(text)
        self.submitted_at[text] = time.monotonic()
        answer = await chat.submit(text)
        if answer.done() and answer.result().error in REFUSED:
            self.refused[text] = answer.result().error or ""
        else:
            self.confirmed.add(text)

        def record(done: asyncio.Future[Reply]) -> None:
            self.answered_at.setdefault(text, time.monotonic())
            self.replies.setdefault(text, []).append(done.result())

        answer.add_done_callback(record)
        return answer

    def first_answer_after(self, moment: float) -> float | None:
        """Seconds from ``moment`` (monotonic) to the first real answer after it."""
        times = [
            at for text, at in self.answered_at.items()
            if at >= moment and any(r.error is None for r in self.replies.get(text, []))
        ]  # fmt: skip
        return min(times) - moment if times else None

    async def ask(self, chat: ChatClient, text: str) -> Reply:
        return await (await self.submit(chat, text))

    def computed(self, ids: Iterable[str] | None = None) -> Counter[str]:
        """How often LedgerEcho workers computed each of ``ids`` (default: every id sent)."""
        sent = set(self.sent if ids is None else ids)
        counts: Counter[str] = Counter()
        for path in self.work_dir.glob("computed-*.txt"):
            counts.update(line for line in path.read_text().splitlines() if line in sent)
        return counts

    def check(self, dead: list[Delivery], chat: ChatClient | None = None) -> Verdict:
        dead_ids = {text: dead_reason(d.headers) for d in dead if (text := _text_of(d))}
        computed = self.computed()
        answered = {t for t, rs in self.replies.items() if any(_from_the_mesh(r) for r in rs)}
        late = {chat.texts.get(r.conversation, "") for r in chat.late} if chat else set()
        lost = sorted(self.confirmed - answered - late - set(dead_ids))
        unserved = sorted(self.confirmed - set(computed) - set(dead_ids))
        seen_by_user = Counter(r.conversation for r in chat.replies) if chat else Counter()
        duplicates = sorted(c for c, n in seen_by_user.items() if n > 1)
        unexpected = sorted(
            text for text, replies in self.replies.items()
            for r in replies if r.error is None and not r.text.endswith(text)
        )  # fmt: skip
        errors = Counter(r.error for rs in self.replies.values() for r in rs if r.error)
        return Verdict(
            sent=len(self.sent), confirmed=len(self.confirmed),
            refused=Counter(self.refused.values()),
            answered=len(answered), errors=errors, lost=lost, unserved=unserved,
            duplicates=duplicates,
            unexpected=unexpected, duplicate_work=sum(n - 1 for n in computed.values() if n > 1),
            dead=dead_ids, late=len(late - answered),
        )  # fmt: skip


def _from_the_mesh(reply: Reply) -> bool:
    """An answer or a bot's error reply, not a reply the transport's gateway made itself."""
    return reply.error is None or reply.meta.get("botwerk.origin") != "gateway"


def _text_of(delivery: Delivery) -> str | None:
    """The ledger id inside a dead letter (the user's text), if it is one of ours."""
    message = delivery.message
    try:
        decoded: Envelope = decode(message.body, message.type, message.content_type)
    except SchemaError:
        return None
    if isinstance(decoded, Inbound):
        return decoded.text
    if isinstance(decoded, InferRequest):
        text = decoded.inputs.get("text")
        return text if isinstance(text, str) else None
    return None
