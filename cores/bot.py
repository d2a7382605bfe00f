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

Mentions: a bot answers every direct message, and a message in a shared room only when it
names the bot: ``@name``, ``<@name>``, ``name:`` or ``name,`` at the start, or ``@name``
(or ``<@name>``) anywhere, in any case. The mention is taken out before routing, so
``"@greeter hello"`` reaches ``hello`` and handlers see the text without it. An unmentioned
room message gets ``""`` (nothing is sent) and runs no middleware. Limit: a mention must use
the bot's own name; platform user ids (Slack's ``<@U123>``) are the transport's to translate.

Memory: ``ctx.conversation_memory`` and ``ctx.user_memory`` keep what a bot must remember
between messages (:mod:`botwerk.infra.state`), shared by every core of the bot and kept across
restarts when ``BOTWERK_STATE_URL`` is Redis or SQLite. Never keep it in the bot object: the
next message may reach another core::

    @command("count", help="how many times you asked")
    async def count(self, ctx: Context) -> str:
        n = await ctx.user_memory.update("asked", lambda n: (n or 0) + 1)
        return f"You asked {n} times."

Personalities: one bot class can run under several names, each with its own options, by a
``[bots.<name>]`` table in botwerk.toml that names the class's registered ``kind``::

    [bots.jester]
    kind = "moviebot"
    model = "chat-comedy"

``botwerk core jester`` then runs a MovieBot named ``jester`` (see :func:`build_bot`).
"""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, ClassVar, TypeVar, overload

import msgspec
from msgspec.structs import replace

from botwerk.infra import messages
from botwerk.infra.errors import NotConnected, RemoteError
from botwerk.infra.posts import Poster
from botwerk.infra.registry import BOTS, UnknownName
from botwerk.infra.reminders import Reminders
from botwerk.infra.rpc import Rpc
from botwerk.infra.settings import ConfigError, Settings, config_path, typed_table
from botwerk.infra.state import Memory, MemoryStore, StateStore
from botwerk.schemas import Inbound, SchemaError
from botwerk.schemas.models import ModelInput, ModelOutput

log = logging.getLogger("botwerk.core")

KIND = "kind"  # the [bots.<name>] key that makes <name> a personality of another bot
DEADLINE_MARGIN_MS = 250  # give up on a model this early, so our apology beats the deadline

F = TypeVar("F", bound=Callable[..., Any])
S = TypeVar("S", bound=msgspec.Struct)
Out = TypeVar("Out", bound=ModelOutput)


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
    answered_by: list[str] = field(default_factory=list)
    """``model@version`` of every answer this message got, in order: the reply names them."""
    store: StateStore | None = None
    """The bots' state store (the core's); None: a private in-memory one, for unit tests."""

    @property
    def conversation_memory(self) -> Memory:
        """This bot's memory of this conversation (transport, conversation, thread)."""
        m = self.message
        return Memory.of_conversation(self._store(), m.bot, m.transport, m.conversation, m.thread)

    @property
    def user_memory(self) -> Memory:
        """This bot's memory of the user who sent the message, on this transport."""
        m = self.message
        return Memory.of_user(self._store(), m.bot, m.transport, m.user.id)

    def _store(self) -> StateStore:
        if self.store is None:
            self.store = MemoryStore("local")  # unit tests: handlers work, nothing outlives it
        return self.store

    @overload
    async def infer(self, model: str, request: ModelInput[Out], /) -> Out: ...
    @overload
    async def infer(self, model: str, /, **inputs: Any) -> dict[str, Any]: ...

    async def infer(
        self, model: str, request: ModelInput[Any] | None = None, /, **inputs: Any
    ) -> ModelOutput | dict[str, Any]:
        """The model's outputs; :class:`RemoteError` if it cannot answer in time.

        Typed: ``await ctx.infer("charrnn", CharRNNInput(prime="To be"))`` sends the struct's
        map (:mod:`botwerk.schemas.models`) and reads the answer as its output type,
        ``CharRNNOutput``; an answer that does not fit it is a ``model_error``. Untyped, for
        a model with no contract: ``await ctx.infer("mine", text="hi")`` gives the outputs map.
        """
        if self.rpc is None:
            raise RemoteError("no_worker", f"no bus to reach {model!r}", target=model)
        sent = request.to_inputs() if request is not None else inputs
        deadline = self.deadline_ms - DEADLINE_MARGIN_MS
        reply = await self.rpc.infer(model, sent, deadline_ms=deadline)
        made = reply.version if "@" in reply.version else f"{reply.model}@{reply.version}"
        self.answered_by.append(made)
        if request is None:
            return reply.outputs
        try:
            return request.Output.from_outputs(reply.outputs)
        except SchemaError as exc:
            why = f"the {model} model answered with outputs that do not fit its kind: {exc}"
            raise RemoteError("model_error", why, target=model) from None

    reminders: Reminders | None = None
    """Keeps the bot's one-off posts (the core's); None outside a core: ``post_later`` refuses."""

    async def post_later(
        self, delay_s: float, text: str, *, transport: str | None = None,
        conversation: str | None = None, thread: str | None = None,
    ) -> float:  # fmt: skip
        """Post ``text`` in ``delay_s`` seconds, whichever core of the bot is up then
        (:mod:`botwerk.infra.reminders`); when it is due, in epoch seconds. Defaults: this
        message's transport, conversation and thread."""
        if self.reminders is None:
            raise NotConnected("this context keeps no reminders: run the bot in a core")
        m = self.message
        return await self.reminders.add(
            delay_s, text, transport=transport or m.transport,
            conversation=conversation or m.conversation, thread=thread or m.thread,
        )  # fmt: skip

    poster: Poster | None = None
    """Publishes the bot's posts (the core's); None outside a core: ``post`` refuses."""

    async def post(
        self, text: str, *, transport: str | None = None, conversation: str | None = None,
        thread: str | None = None, ttl_s: float | None = None,
    ) -> str:  # fmt: skip
        """Say ``text`` unasked, now or whenever the transport is back (within ``ttl_s``,
        default ``BOTWERK_POST_TTL_S``); the post's message id. Defaults: this message's
        transport and conversation. ``await ctx.post("Tea is ready", conversation="#lobby")``
        """
        if self.poster is None:
            raise NotConnected("this context has no bus to post through: run the bot in a core")
        m = self.message
        return await self.poster.post(
            bot=m.bot, transport=transport or m.transport, text=text, thread=thread,
            conversation=conversation or m.conversation, ttl_s=ttl_s,
        )  # fmt: skip


Handler = Callable[[Context], Awaitable[str]]
Middleware = Callable[[Context, Handler], Awaitable[str]]


class Bot:
    """Base of every bot. Subclasses set ``name`` and mark handlers.

    ``name`` on the class is the default; an instance given another (a personality, see
    :func:`build_bot`) answers its own queue and mentions and reads its own ``[bots.<name>]``.
    """

    name: str
    description: ClassVar[str] = ""
    middleware: ClassVar[tuple[Middleware, ...]] = ()

    def __init__(self, settings: Settings, name: str | None = None) -> None:
        self.settings = settings
        self.name = name or type(self).name
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
        """Middleware in order, then the matching handler; the reply text.

        A room message that does not mention the bot gets ``""`` at once; a mention is
        removed from ``ctx.message.text`` before anything else sees it. A blank message
        (``""``, spaces, or a mention alone) is never answered with silence: the bot's own
        sentence, else :data:`~botwerk.infra.messages.EMPTY`.
        """
        mentioned, text = strip_mention(ctx.message.text, self.name)
        if not (ctx.message.direct or mentioned):
            return ""
        if text != ctx.message.text:
            ctx.message = replace(ctx.message, text=text)
        handler = self._route(ctx)
        for middleware in reversed(self.middleware):
            handler = _chain(middleware, handler)
        answer = await handler(ctx)
        return answer if answer.strip() or text.strip() else messages.EMPTY

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


def bot_options(settings: Settings, bot: str, kind: type[S]) -> S:
    """``settings.bots[bot]`` (a ``[bots.<bot>]`` table) as the typed config ``kind``.

    Unknown keys and bad values raise :class:`ConfigError` naming the key and the fix; ``kind``
    checks its own bounds in ``__post_init__`` with a ValueError that names the key. The
    table's ``kind`` key belongs to :func:`build_bot` and is left out.
    """
    options = {k: v for k, v in settings.bots.get(bot, {}).items() if k != KIND}
    return typed_table(options, f"[bots.{bot}] in {config_path()}", kind)


def build_bot(settings: Settings, name: str) -> Bot:
    """The bot called ``name``: a registered bot, or a personality of one.

    A registered name (or ``module:Class``) gives that class under its own name, as it always
    did. Otherwise a ``[bots.<name>]`` table with ``kind = "<registered bot>"`` gives that kind
    named ``name``: its queue, its mentions and its options are ``name``'s. An unknown name or
    kind raises :class:`UnknownName` with a did-you-mean.
    """
    table = settings.bots.get(name, {})
    if KIND not in table:
        return _registered(settings, name)(settings)
    where = f"[bots.{name}] in {config_path()}"
    kind = table[KIND]
    if not isinstance(kind, str):
        raise ConfigError(f'{where}: kind must name the bot to build on, such as "moviebot"')
    try:
        cls: type[Bot] = BOTS.load(kind)
    except UnknownName as exc:
        raise UnknownName(f"{where}: kind: {exc}") from None
    return cls(settings, name)


def _registered(settings: Settings, name: str) -> type[Bot]:
    """The registered class ``name``; an unknown name close to a personality suggests that."""
    try:
        cls: type[Bot] = BOTS.load(name)
    except UnknownName:
        personalities = [bot for bot, table in settings.bots.items() if KIND in table]
        close = difflib.get_close_matches(name, [*BOTS.names(), *personalities], n=1)
        if not close or close[0] not in personalities:
            raise
        hint = f"did you mean {close[0]!r} ([bots.{close[0]}] in {config_path()})?"
        raise UnknownName(f"unknown bot {name!r}; {hint}") from None
    return cls


def strip_mention(text: str, name: str) -> tuple[bool, str]:
    """Whether ``text`` mentions the bot ``name``, and the text without the mention.

    >>> strip_mention("Annalogue: king - man + woman", "annalogue")
    (True, 'king - man + woman')
    >>> strip_mention("what do you say, @annalogue?", "annalogue")
    (True, 'what do you say?')
    """
    leading, inside = _mention_patterns(name)
    stripped, count = leading.subn("", text, count=1)
    stripped, more = inside.subn("", stripped)
    if count or more:
        return True, stripped.strip()
    return False, text


@lru_cache(maxsize=64)
def _mention_patterns(name: str) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """(a mention opening the text with what follows it, an @-mention anywhere)."""
    bot = re.escape(name)
    end = r"(?![\w-])"  # a whole name: "@anna" does not mention "annalogue"
    leading = rf"^\s*(?:<@{bot}>|@{bot}{end}|{bot}\s*[:,])[\s:,]*"
    inside = rf"[\s,]*(?<![\w@<])(?:<@{bot}>|@{bot}{end})[:,]?"
    return re.compile(leading, re.IGNORECASE), re.compile(inside, re.IGNORECASE)


def _definition_order(cls: type) -> list[str]:
    """Attribute names as the class body defines them, base classes first."""
    return list(dict.fromkeys(name for klass in reversed(cls.__mro__) for name in vars(klass)))


def _chain(middleware: Middleware, handler: Handler) -> Handler:
    async def call(ctx: Context) -> str:
        return await middleware(ctx, handler)

    return call
