"""A test transport: ask a bot something and await its answer, through the real Gateway.

In an async test, with the ``bus`` and ``settings`` fixtures, the demo bot and echo model running::

    async with ChatClient(bus, settings, bot="demo") as chat:
        reply = await chat.ask("hello")
        assert reply.text == "echo: hello"

Each question gets a conversation id of its own, so answers are matched to questions even
when they arrive out of order; ``replies`` keeps every reply delivered, duplicates included.
"""

from __future__ import annotations

import asyncio
import itertools
from types import TracebackType
from typing import ClassVar

from botwerk.infra.bus import Bus
from botwerk.infra.settings import Settings
from botwerk.schemas import Reply, User
from botwerk.transports.base import Gateway

_clients = itertools.count()


class ChatClient:
    """A :class:`botwerk.transports.base.Transport` driven by the test instead of a platform."""

    name: ClassVar[str] = "test"
    max_text: ClassVar[int | None] = None
    recoverable_errors: ClassVar[tuple[type[BaseException], ...]] = ()

    def __init__(self, bus: Bus, settings: Settings, bot: str = "demo") -> None:
        # A reply queue of its own: two clients on one queue would take each other's replies.
        own = settings.model_copy(update={"instance": f"{settings.instance}-{next(_clients)}"})
        self.gateway = Gateway(bus, own, self, bot)
        self.replies: list[Reply] = []
        self.late: list[Reply] = []
        self.texts: dict[str, str] = {}  # conversation -> what was asked in it
        self._waiting: dict[str, asyncio.Future[Reply]] = {}
        self.gateway.on_late = self._on_late
        self._ids = itertools.count()

    async def __aenter__(self) -> ChatClient:
        await self.gateway.start()
        return self

    async def __aexit__(self, *exc: object | TracebackType) -> None:
        await self.gateway.stop()

    async def ask(
        self, text: str, *, event_id: str | None = None, direct: bool = True,
        conversation: str | None = None,
    ) -> Reply:  # fmt: skip
        """Send ``text`` as a new conversation (or in ``conversation``, to go on with one: one
        question at a time in it); the reply (or the gateway's timeout reply)."""
        answer = await self.submit(
            text, event_id=event_id, direct=direct, conversation=conversation
        )
        return await answer

    async def submit(
        self, text: str, *, event_id: str | None = None, direct: bool = True,
        conversation: str | None = None,
    ) -> asyncio.Future[Reply]:  # fmt: skip
        """Send ``text`` (``direct``: in private, else in a channel); a future for its reply."""
        conversation = conversation or f"c{next(self._ids)}"
        answer: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._waiting[conversation] = answer
        self.texts[conversation] = text
        user = User(id="tester", name="Tester")
        await self.gateway.submit(
            conversation=conversation, user=user, text=text, event_id=event_id, direct=direct
        )
        return answer

    async def run(self, gateway: Gateway) -> None:
        """Nothing to read: the test submits."""

    async def send(self, reply: Reply) -> None:
        self.replies.append(reply)
        answer = self._waiting.get(reply.conversation)
        if answer is not None and not answer.done():
            answer.set_result(reply)

    async def _on_late(self, reply: Reply) -> None:
        self.late.append(reply)

    async def stop(self) -> None:
        """Nothing to stop."""
