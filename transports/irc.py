"""IRC: a bot in the channels of one IRC network, and in private queries, through pydle.

    [transports.irc]                            $ botwerk transport irc --bot demo
    server = "irc.libera.chat"                  #botwerk <ann> demobot: hello
    nick = "demobot"                                     <demobot> ann: echo: hello
    channels = ["#botwerk"]                     query    <ann> ping   <demobot> pong

Options: ``[transports.irc]`` (:class:`IrcConfig`). In a channel the bot sees only lines that
name its nick (``demobot: hi``, ``demobot, hi``, or anywhere as a word), with the nick turned
into ``@<bot>``, the mention bots understand; it answers there as ``ann: ...``. A private
message is direct: always answered, in private.

A reply is cut into IRC lines of 512 bytes as the server relays them (``:nick!user@host
PRIVMSG target :``, the text in UTF-8, CRLF), at most ``max_lines`` (the rest is dropped,
logged and counted in ``stats``), sent at ``lines_per_second`` after a ``burst`` by
:class:`~botwerk.transports.kit.Pace` (pydle 1.2 has no throttle). An error reply starts with ⚠.

TLS by default, SASL PLAIN with ``sasl_username`` (password: IRC_SASL_PASSWORD), a server
password from IRC_PASSWORD. A taken nick falls back to ``fallback_nicks``, then gets ``_``
appended. pydle answers PINGs and pings a server silent for ``ping_timeout_s``; no answer in
as long again, or a closed connection, makes ``run`` raise ConnectionError; ``serve_forever``
reconnects with backoff (pydle's own reconnect is off) and the channels are joined again.

A post (:mod:`botwerk.infra.posts`) goes to its ``conversation``: a channel in ``channels``
(a server refuses lines to a channel the bot has not joined) or a nick.

Limits: only IRCv3 ``msgid`` tags give event ids (plain IRC has none); CTCP (``/me``) and
notices are ignored; no channel keys, invites, or rejoining after a kick. A reply or post that
finds the bridge offline for ``SEND_WAIT_S`` (30 s) is dropped and counted, not requeued.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import os
import re
from collections import Counter
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, ClassVar

import msgspec

from botwerk.infra.settings import ConfigError, Settings
from botwerk.schemas import BotwerkError, Reply, User
from botwerk.transports.base import Gateway
from botwerk.transports.kit import Pace, secret, split_text, transport_options, utf8_bytes

try:
    from botwerk.transports.irc_client import IrcClient, Login, Privmsg
except ImportError as exc:  # pragma: no cover - the extra is installed in development
    raise BotwerkError("the IRC transport needs pydle: pip install 'botwerk[irc]'") from exc

log = logging.getLogger("botwerk.transport.irc")

LINE_BYTES = 512  # an IRC line as the server relays it, ":prefix PRIVMSG target :text\r\n"
REGISTER_TIMEOUT_S = 30.0
SEND_WAIT_S = 30.0  # a reply that comes while reconnecting waits this long for the connection
TARGET, NICK = "irc.target", "irc.nick"  # reply.meta: where to answer, and whom
_NICK = re.compile(r"[A-Za-z\[\]\\`_^{|}][A-Za-z0-9\[\]\\`_^{|}-]*\Z")
_CHANNEL = re.compile(r"[#&+!][^\s,\x07]+\Z")
_NICK_CHARS = r"\w\-\[\]\\`^{|}"  # what a nick is made of, inside [...]


class IrcConfig(msgspec.Struct, frozen=True, kw_only=True):
    """``[transports.irc]``: the server, who the bot is there, and how fast it may talk."""

    server: str = ""
    port: int = 6697
    tls: bool = True
    tls_verify: bool = True
    nick: str = ""  # default: the bot's name
    fallback_nicks: tuple[str, ...] = ()
    username: str = ""  # default: the nick
    realname: str = ""  # default: "Botwerk <bot>"
    channels: tuple[str, ...] = ()
    sasl_username: str = ""  # SASL PLAIN; the password comes from IRC_SASL_PASSWORD
    lines_per_second: float = 1.0
    burst: int = 4
    max_lines: int = 10
    ping_timeout_s: float = 60.0  # silence before we PING the server; as long again: it is dead

    def __post_init__(self) -> None:
        if not self.server:
            raise ValueError('server: name the IRC server, e.g. server = "irc.libera.chat"')
        if not 0 < self.port < 65536:
            raise ValueError(f"port: {self.port} is not a TCP port (6697 for TLS, 6667 plain)")
        for nick in (n for n in (self.nick, *self.fallback_nicks) if n):
            if not _NICK.match(nick):
                raise ValueError(f"nick: {nick!r} is not an IRC nick (letters, digits, -_[]^)")
        for channel in self.channels:
            if not _CHANNEL.match(channel):
                raise ValueError(f"channels: {channel!r} is not a channel; write '#{channel}'")
        if self.lines_per_second <= 0 or self.burst < 1 or self.max_lines < 1:
            raise ValueError("lines_per_second must be > 0, burst and max_lines at least 1")
        if self.ping_timeout_s <= 0:
            raise ValueError("ping_timeout_s must be > 0")


# Sections, in the same order in every transport module:
# 1. platform event -> envelope (pure); 2. reply -> platform call (pure); 3. the transport.


# 1. Platform event -> envelope.
@dataclass(frozen=True)
class Said:
    """One IRC line for the bot, as ``gateway.submit`` takes it."""

    conversation: str
    user: User
    text: str
    direct: bool
    event_id: str | None
    meta: dict[str, str]


def addressed(text: str, nick: str, bot: str) -> str | None:
    """``text`` with the IRC ``nick`` (``nick:``, ``@nick``, or anywhere as a whole word)
    rewritten to ``@bot``; None when the line does not name the nick."""
    pattern = rf"(?<![{_NICK_CHARS}@])@?{re.escape(nick)}(?![{_NICK_CHARS}])"
    rewritten, count = re.subn(pattern, f"@{bot}", text, flags=re.IGNORECASE)
    return rewritten if count else None


def incoming(
    *, sender: str, target: str, text: str, tags: Mapping[str, object], nick: str, bot: str,
    channel: bool,
) -> Said | None:  # fmt: skip
    """What the bot should see of a PRIVMSG from ``sender`` to ``target``, or None: a line
    of our own, an empty or CTCP one, or a channel line that does not address ``nick``."""
    if not text.strip() or text.startswith("\x01") or sender.lower() == nick.lower():
        return None
    for_bot = addressed(text, nick, bot)
    if channel and for_bot is None:
        return None
    where = target if channel else sender
    msgid = tags.get("msgid")
    return Said(
        conversation=where, user=User(id=sender, name=sender), text=for_bot or text,
        direct=not channel,
        event_id=msgid if isinstance(msgid, str) else None,
        meta={TARGET: where, NICK: sender},
    )  # fmt: skip


# 2. Reply -> platform call.
def line_budget(mask: str, target: str) -> int:
    """Bytes left for the text of one PRIVMSG to ``target`` relayed as coming from ``mask``."""
    return LINE_BYTES - utf8_bytes(f":{mask} PRIVMSG {target} :\r\n")


def irc_lines(text: str, budget: int, max_lines: int) -> tuple[list[str], int]:
    """``text`` as IRC lines of at most ``budget`` UTF-8 bytes, at most ``max_lines`` of them
    (the last one ending in ``…`` when cut), and how many characters were dropped."""
    lines: list[str] = []
    for line in text.replace("\x00", "").splitlines():
        lines += split_text(line, budget, measure=utf8_bytes)[0]
    if len(lines) <= max_lines:
        return lines, 0
    tail = " ".join(lines[max_lines - 1 :])
    last, dropped = split_text(tail, budget, measure=utf8_bytes, max_parts=1)
    return [*lines[: max_lines - 1], *last], dropped


def render(reply: Reply, mask: str, max_lines: int) -> tuple[str, list[str], int]:
    """Where ``reply`` goes, its PRIVMSG texts, and the characters dropped past ``max_lines``.

    In a channel every line starts ``sender: `` so people see whom it answers."""
    target = reply.meta.get(TARGET, reply.conversation)
    sender = reply.meta.get(NICK, "")
    prefix = f"{sender}: " if sender and sender != target else ""
    prefix += "⚠ " if reply.error else ""
    budget = max(line_budget(mask, target) - utf8_bytes(prefix), 32)
    lines, dropped = irc_lines(reply.text, budget, max_lines)
    return target, [prefix + line for line in lines], dropped


# 3. The transport.
class IrcTransport:
    """One IRC connection; see the module."""

    name: ClassVar[str] = "irc"
    max_text: ClassVar[int | None] = LINE_BYTES  # bytes a line; send() splits longer replies
    recoverable_errors: ClassVar[tuple[type[BaseException], ...]] = (ConnectionError,)

    def __init__(self, settings: Settings, bot: str) -> None:
        self.bot = bot
        self.config = config = transport_options(settings, "irc", IrcConfig)
        self.nick = config.nick or bot
        if not _NICK.match(self.nick):
            raise ConfigError(f"[transports.irc] nick: the bot's name {bot!r} is not an IRC "
                              "nick; set nick = \"...\"")  # fmt: skip
        self.sasl_password = None
        if config.sasl_username:
            if importlib.util.find_spec("puresasl") is None:
                raise ConfigError("SASL needs pure-sasl: pip install 'botwerk[irc]'")
            self.sasl_password = secret(
                "IRC_SASL_PASSWORD", f"the SASL password of {config.sasl_username!r}"
            )
        self.password = os.environ.get("IRC_PASSWORD") or None
        self.where = f"{config.server}:{config.port}{' (TLS)' if config.tls else ''}"
        self.pace = Pace(config.lines_per_second, config.burst)
        self.stats: Counter[str] = Counter()
        """connects, received, ignored, lines_sent, dropped_chars, undelivered, sasl_failed"""
        self._client: IrcClient | None = None
        self._online = asyncio.Event()
        self._stopped = asyncio.Event()
        self._sending = asyncio.Lock()

    async def run(self, gateway: Gateway) -> None:
        client = self._client = IrcClient(self.login(), partial(self.heard, gateway), self.stats)
        try:
            await self._connect(client)
            reason = await _first(client.closed, self._stopped.wait())
        finally:
            self._online.clear()
            await client.close()
        if not self._stopped.is_set():
            raise ConnectionError(f"IRC connection to {self.where} lost: {reason}")

    def login(self) -> Login:
        """What the client registers with: the config, the defaults filled in."""
        config = self.config
        return Login(
            nick=self.nick, where=self.where, fallback_nicks=config.fallback_nicks,
            username=config.username or self.nick,
            realname=config.realname or f"Botwerk {self.bot}",
            sasl_username=config.sasl_username, sasl_password=self.sasl_password,
            channels=config.channels, ping_timeout_s=config.ping_timeout_s,
        )  # fmt: skip

    async def _connect(self, client: IrcClient) -> None:
        config = self.config
        try:
            await client.connect(
                config.server, config.port, tls=config.tls, tls_verify=config.tls_verify,
                password=self.password, channels=list(config.channels),
            )  # fmt: skip
        except OSError as exc:
            hint = "; a self-signed server? set tls_verify = false" if "CERT" in str(exc) else ""
            raise ConnectionError(f"cannot reach {self.where}: {exc}{hint}") from exc
        ready = client.ready.wait()
        await _first(ready, client.closed, self._stopped.wait(), timeout=REGISTER_TIMEOUT_S)
        if client.closed.done():
            raise ConnectionError(f"{self.where} hung up on us: {client.closed.result()}")
        if not client.ready.is_set() and not self._stopped.is_set():
            raise ConnectionError(f"{self.where} did not register us in {REGISTER_TIMEOUT_S:g}s")
        self.stats["connects"] += 1
        self._online.set()

    async def heard(self, gateway: Gateway, message: Privmsg) -> None:
        """Hand one PRIVMSG to the mesh, if it is for the bot (see :func:`incoming`)."""
        said = incoming(
            sender=message.sender, target=message.target, text=message.text, tags=message.tags,
            nick=message.nick, bot=self.bot, channel=message.channel,
        )  # fmt: skip
        if said is None:
            self.stats["ignored"] += 1
            return
        self.stats["received"] += 1
        await gateway.submit(
            conversation=said.conversation, user=said.user, text=said.text,
            direct=said.direct, event_id=said.event_id, meta=said.meta,
        )  # fmt: skip

    async def send(self, reply: Reply) -> None:
        await _first(self._online.wait(), self._stopped.wait(), timeout=SEND_WAIT_S)
        client = self._client
        if client is None or not self._online.is_set():
            log.warning("reply to %s dropped: not connected to %s", reply.conversation, self.where)
            self.stats["undelivered"] += 1
            return
        target, lines, dropped = render(reply, client.own_mask(), self.config.max_lines)
        if dropped:
            log.warning("reply to %s: %d characters past %d lines dropped",
                        target, dropped, self.config.max_lines)  # fmt: skip
            self.stats["dropped_chars"] += dropped
        async with self._sending:  # the lines of one reply stay together
            for sent, line in enumerate(lines):
                await self.pace.wait()
                try:
                    if not client.connected:
                        raise ConnectionError("the connection closed")
                    await client.rawmsg("PRIVMSG", target, line)
                except OSError as exc:
                    log.warning("reply to %s cut after %d of %d lines: %s",
                                target, sent, len(lines), exc)  # fmt: skip
                    self.stats["undelivered"] += 1
                    return
                self.stats["lines_sent"] += 1

    async def stop(self) -> None:
        self._stopped.set()
        if self._client is not None:
            with contextlib.suppress(Exception):
                await self._client.close("Botwerk stopping")


async def _first(*waits: Awaitable[Any], timeout: float | None = None) -> Any:
    """The result of whichever of ``waits`` ends first (None after ``timeout``); the others
    are cancelled, except futures passed in, which belong to their owner."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        done, _ = await asyncio.wait(tasks, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        return next(iter(done)).result() if done else None
    finally:
        for task, wait in zip(tasks, waits, strict=True):
            if task is not wait:
                task.cancel()
