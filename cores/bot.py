"""Bots: plain classes whose marked methods answer messages.

>>> class Greeter(Bot):
...     name = "greeter"
...     @command("hello", help="say hello")
...     async def hello(self, ctx: Context) -> str:
...         return f"Hello, {ctx.message.user.name}!"

Handlers are plain async methods marked by :func:`command` or :func:`fallback`; the marks
record metadata and do not wrap, so tests call handlers directly. Dispatch runs the bot's
middleware in order, then the first handler whose command word starts the message, else the
fallback. A handler returns the reply text (``""``: answer nothing visible). It may call models
through ``ctx.infer``; a model that is missing, slow or failing becomes a clear sentence to the
user, never silence and never a dead process.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from infra import messages
from infra.errors import RemoteError
from infra.rpc import Rpc
from infra.settings import Settings
from schemas import Inbound

log = logging.getLogger("botwerk.core")

DEADLINE_MARGIN_MS = 250  # give up on a model this early, so our apology beats the deadline

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class CommandSpec:
    """What :func:`command` records on a handler."""

    word: str
    help: str
    aliases: tuple[str, ...] = ()


def command(word: str, *, help: str, aliases: tuple[str, ...] = ()) -> Callable[[F], F]:
    """Mark a handler for messages starting with ``word`` (case-insensitive)."""

    def mark(fn: F) -> F:
        fn.__botwerk_command__ = CommandSpec(word.lower(), help, aliases)  # type: ignore[attr-defined]
        return fn

    return mark


def fallback(fn: F) -> F:
    """Mark the handler for messages no command matches."""
    fn.__botwerk_fallback__ = True  # type: ignore[attr-defined]
    return fn


@dataclass
class Context:
    """One message being handled: what was said, the words after the command, model access."""

    message: Inbound
    deadline_ms: int
    rpc: Rpc | None = None
    args: str = ""

    async def infer(self, model: str, **inputs: Any) -> dict[str, Any]:
        """The model's outputs for ``inputs``; :class:`RemoteError` if it cannot answer in time."""
        if self.rpc is None:
            raise RemoteError("no_worker", f"no bus to reach {model!r}")
        deadline = self.deadline_ms - DEADLINE_MARGIN_MS
        reply = await self.rpc.infer(model, inputs, deadline_ms=deadline)
        return reply.outputs


Handler = Callable[[Context], Awaitable[str]]
Middleware = Callable[[Context, Handler], Awaitable[str]]


class Bot:
    """Base of every bot. Subclasses set ``name`` and mark handlers."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    middleware: ClassVar[tuple[Middleware, ...]] = ()

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.commands: dict[str, tuple[CommandSpec, Handler]] = {}
        self.fallback: Handler | None = None
        for attribute in _definition_order(type(self)):
            member = getattr(self, attribute)
            if spec := getattr(member, "__botwerk_command__", None):
                for word in (spec.word, *spec.aliases):
                    self.commands[word] = (spec, member)
            if getattr(member, "__botwerk_fallback__", False):
                self.fallback = member

    def help_text(self) -> str:
        specs = dict.fromkeys(spec for spec, _ in self.commands.values())
        lines = [self.description] if self.description else []
        lines += [f"{spec.word}: {spec.help}" for spec in specs]
        return "\n".join(lines)

    async def dispatch(self, ctx: Context) -> str:
        """Middleware in order, then the matching handler; the reply text."""
        handler = self._route(ctx)
        for middleware in reversed(self.middleware):
            handler = _chain(middleware, handler)
        return await handler(ctx)

    def _route(self, ctx: Context) -> Handler:
        word, _, rest = ctx.message.text.strip().partition(" ")
        if entry := self.commands.get(word.lower()):
            ctx.args = rest.strip()
            return entry[1]
        if self.fallback is not None:
            ctx.args = ctx.message.text.strip()
            return self.fallback
        return self._unmatched

    async def _unmatched(self, ctx: Context) -> str:
        word = ctx.message.text.strip().split(" ")[0]
        log.info("no handler for %r", word)
        return messages.UNKNOWN_COMMAND.format(word=word) if word else messages.EMPTY


def _definition_order(cls: type) -> list[str]:
    """Attribute names as the class body defines them, base classes first."""
    return list(dict.fromkeys(name for klass in reversed(cls.__mro__) for name in vars(klass)))


def _chain(middleware: Middleware, handler: Handler) -> Handler:
    async def call(ctx: Context) -> str:
        return await middleware(ctx, handler)

    return call
