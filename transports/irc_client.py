"""The IRC bridge's pydle client: registration, PRIVMSGs and why a connection closed.

Used like this::

    client = IrcClient(Login(nick="demobot", where="irc.libera.chat:6697"), on_privmsg, stats)
    await client.connect("irc.libera.chat", 6697, tls=True, channels=["#botwerk"])
    reason = await client.closed            # "ping timeout: ...", "ERROR :Closing link"...

It registers as its :class:`Login` says and reports back: ``ready`` once registered, each
PRIVMSG as a :class:`Privmsg` to ``on_privmsg``, a refused SASL login in ``stats``, and the
reason the connection ended in ``closed``. It knows nothing of the transport that made it
(``transports/irc.py``), which imports it, not the other way round. pydle's own
reconnecting is off (``serve_forever`` reconnects), and its raw-line DEBUG log never shows the
server password or SASL credentials.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

import pydle
from pydle.features.account import AccountSupport

log = logging.getLogger("botwerk.transport.irc")
UNKNOWN_MASK = "!" + "u" * 12 + "@" + "h" * 63  # room for a user@host we have not seen yet


class Privmsg(NamedTuple):
    """One PRIVMSG as the client received it."""

    sender: str
    target: str
    text: str
    tags: dict[str, object]
    nick: str
    """our own nick when it came"""
    channel: bool


class Login(NamedTuple):
    """Who the client registers as, where, and what it joins: the transport's config, resolved."""

    nick: str
    where: str
    """the server as logs name it, "host:port (TLS)" """
    fallback_nicks: tuple[str, ...] = ()
    username: str = ""
    realname: str = ""
    sasl_username: str = ""
    sasl_password: str | None = None
    channels: tuple[str, ...] = ()
    ping_timeout_s: float = 60.0


_RAW_LOG = logging.getLogger("botwerk.transport.irc.pydle")  # pydle's own lines, raw ones at DEBUG


class _Redact(logging.Filter):
    """Keep the server password and SASL credentials out of pydle's DEBUG log of raw lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and args and isinstance(args[0], str):
            command, _, rest = args[0].partition(" ")
            if command in ("PASS", "AUTHENTICATE") and rest.strip() not in ("PLAIN", "+", "*"):
                record.args = (f"{command} ***", *args[1:])
        return True


_RAW_LOG.addFilter(_Redact())


class IrcClient(pydle.Client):  # type: ignore[misc]  # pydle has no type hints
    """pydle's client, reporting to its transport: registered, closed (and why), each PRIVMSG."""

    RECONNECT_ON_ERROR = False  # serve_forever reconnects, with backoff, jitter and logging

    def __init__(
        self,
        login: Login,
        on_privmsg: Callable[[Privmsg], Awaitable[None]],
        stats: Counter[str],
    ) -> None:
        super().__init__(
            login.nick, fallback_nicknames=list(login.fallback_nicks),
            username=login.username or login.nick, realname=login.realname,
            sasl_username=login.sasl_username or None, sasl_password=login.sasl_password,
        )  # fmt: skip
        self.READ_TIMEOUT = login.ping_timeout_s  # silence before pinging, and before giving up
        self.login, self.on_privmsg, self.stats = login, on_privmsg, stats
        self.ready = asyncio.Event()
        self.closed: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.sasl_ok = False
        self._why = ""
        self._heard = time.monotonic()

    @property
    def logger(self) -> logging.Logger:
        return _RAW_LOG

    @logger.setter
    def logger(self, _: logging.Logger) -> None:
        """pydle renames its logger per server; ours keeps one name, and the filter."""

    def own_mask(self) -> str:
        """``nick!user@host`` as the server shows us (room for the longest, until it has)."""
        me = self.users.get(self.nickname) or {}
        if me.get("username") and me.get("hostname"):
            return f"{self.nickname}!{me['username']}@{me['hostname']}"
        return f"{self.nickname}{UNKNOWN_MASK}"

    async def close(self, message: str = "") -> None:
        """QUIT with ``message`` (if any) and close the socket; never raises."""
        with contextlib.suppress(Exception):
            if message and self.connected:
                await asyncio.wait_for(self.rawmsg("QUIT", message), 2)
            await self.disconnect(expected=True)
        self._finish()

    async def on_connect(self) -> None:
        await super().on_connect()  # joins the channels
        login = self.login
        log.info("connected to %s as %s; joining %s", login.where, self.nickname,
                 ", ".join(login.channels) or "no channels")  # fmt: skip
        if login.sasl_username and not self.sasl_ok:
            log.error("not logged in as %r: %s offers no SASL", login.sasl_username,
                      login.where)  # fmt: skip
        self.ready.set()

    async def on_raw_privmsg(self, message: Any) -> None:
        await super().on_raw_privmsg(message)  # pydle's bookkeeping, and CTCP answers
        sender, _ = self._parse_user(message.source)
        target, text = message.params[:2]
        heard = Privmsg(sender or "", target, text, dict(message.tags or {}),
                        self.nickname, bool(self.is_channel(target)))  # fmt: skip
        await self.on_privmsg(heard)

    async def on_raw_903(self, message: Any) -> None:
        self.sasl_ok = True
        log.info("SASL: logged in as %r", self.login.sasl_username)
        await super().on_raw_903(message)

    async def on_raw_904(self, message: Any) -> None:
        log.error("SASL login as %r refused (%s): check sasl_username and IRC_SASL_PASSWORD",
                  self.login.sasl_username, message.params[-1])  # fmt: skip
        self.stats["sasl_failed"] += 1
        await super().on_raw_904(message)

    on_raw_905 = on_raw_904

    async def on_unknown(self, message: Any) -> None:
        """pydle warns about every numeric it has no handler for; none matter to a bridge."""
        _RAW_LOG.debug("unhandled: %s %s", message.command, message.params)

    async def _create_user(self, nickname: str) -> None:
        # pydle's WHOX feature WHOISes every new user on a server without WHOX: lines we
        # neither need nor pace.
        AccountSupport._create_user(self, nickname)

    async def on_data(self, data: bytes) -> None:
        self._heard = time.monotonic()
        await super().on_data(data)

    async def on_raw_error(self, message: Any) -> None:
        self._why = "ERROR " + " ".join(message.params)  # the server says why, then hangs up
        await self.disconnect(expected=False)

    async def handle_forever(self) -> None:
        try:
            await super().handle_forever()
        except Exception as exc:  # pydle lets socket errors out of its read loop
            self._why = self._why or f"{type(exc).__name__}: {exc}"
            with contextlib.suppress(Exception):
                await self.disconnect(expected=False)
        self._finish()

    async def on_disconnect(self, expected: bool) -> None:
        self._finish()  # and no reconnect of pydle's own (its "giving up" log would mislead)

    def _finish(self) -> None:
        if self.closed.done():
            return
        silent = time.monotonic() - self._heard
        if not self._why and silent >= self.READ_TIMEOUT:
            self._why = f"ping timeout: nothing from the server for {silent:.0f}s"
        self.closed.set_result(self._why or "the server closed the connection")
