"""The web chat's server plumbing: the listening socket, uvicorn, and pushing to a page.

As :mod:`botwerk.transports.web` uses them::

    listener = claim_port("127.0.0.1", 8080)   # PortUnavailable names the problem and the fix
    server = Server(uvicorn.Config(app, lifespan="off")); await server.serve([listener])
    await push(page, {"reply": "pong", ...})   # a page that has just closed is not an error

The port is claimed when the transport is built, so a port in use stops ``botwerk transport
web`` with one line before it connects to anything, and it is never retried: it is a setting
to fix. :class:`Server` is uvicorn without signal handlers of its own (the process's handlers
call the transport's ``stop()``). :class:`HostGuard` refuses requests for host names the
server does not answer to (DNS rebinding); :class:`CoreWatch` asks the broker, once a second,
whether each bot's core queue has a consumer, so no request waits on a bot nobody serves.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
from collections.abc import Iterable, Iterator, Mapping
from urllib.parse import urlsplit

import uvicorn
from fastapi import WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from botwerk.infra.bus import Bus
from botwerk.infra.settings import ConfigError, config_path

log = logging.getLogger("botwerk.transport.web")
UNUSABLE = {errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL}  # a setting to fix, not retry
ANY_ADDRESS = {"", "0.0.0.0", "::"}  # listening on every interface names no host
CANNOT_ASK = "cannot ask the broker whether the cores run: {}"


class PortUnavailable(ConfigError):
    """The web chat cannot listen where it is told to; the message says why and the fix."""


class Server(uvicorn.Server):
    """uvicorn without signal handlers of its own: the process's handlers call ``stop()``."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def push(page: WebSocket, frame: dict[str, str]) -> None:
    """Send ``frame`` to a page; a page that has just gone is not an error."""
    try:
        await page.send_json(frame)
    except (WebSocketDisconnect, OSError, RuntimeError) as exc:
        log.info("a page closed before its reply could be shown (%s)", type(exc).__name__)


def claim_port(host: str, port: int) -> socket.socket:
    """A TCP socket listening on ``host:port``; :class:`PortUnavailable` says why it cannot be."""
    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a restart may reuse it
    try:
        listener.bind((host, port))
        listener.listen(128)  # connections wait in the backlog until uvicorn serves them
    except OSError as exc:
        listener.close()
        if exc.errno not in UNUSABLE and not isinstance(exc, socket.gaierror):
            raise  # something passing (out of file descriptors, say): worth a retry
        why = "in use by another program" if exc.errno == errno.EADDRINUSE else exc.strerror
        raise PortUnavailable(
            f"the web chat cannot listen on {host}:{port} ({why}): stop what uses it, or pick "
            f"another host or port in [transports.web] of {config_path()} or in "
            f'BOTWERK_TRANSPORTS=\'{{"web": {{"port": 8081}}}}\''
        ) from None
    return listener


def host_name(host: str) -> str | None:
    """The name in a ``Host`` header or an ``allowed_hosts`` entry, lowercase, without port or
    IPv6 brackets: ``"[::1]:8080"`` -> ``"::1"``; None when it is not a host name at all."""
    try:
        return urlsplit(f"//{host.strip()}").hostname or None
    except ValueError:  # "[::1" and other malformed names
        return None


class HostGuard:
    """ASGI middleware: answers only requests whose ``Host`` names one of ``allowed`` (any port).

    The Origin check alone does not stop DNS rebinding: a page on evil.example whose name is
    re-pointed at 127.0.0.1 reaches this server with ``Host`` and ``Origin`` both
    ``evil.example:<port>``. The Host check does. HTTP gets 421 with a JSON sentence that
    names the fix; a WebSocket is closed before it opens (1008; the client sees HTTP 403).
    ``"*"`` in ``allowed`` turns the check off (a proxy in front that checks ``Host`` itself).
    """

    def __init__(self, app: ASGIApp, allowed: Iterable[str], where: str) -> None:
        self.app = app
        self.allowed = {host_name(host) or host for host in allowed}
        self.where = where  # where to change allowed_hosts, for the refusal's sentence
        self.refused = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and "*" not in self.allowed:
            host = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
            if host_name(host) not in self.allowed:
                self.refused += 1
                return await self._refuse(host, scope, receive, send)
        await self.app(scope, receive, send)

    async def _refuse(self, host: str, scope: Scope, receive: Receive, send: Send) -> None:
        name = host_name(host) or host
        log.info("refused a request for the host %r", host[:100])
        if scope["type"] == "websocket":
            reason = "this server does not answer to that host name (allowed_hosts)"
            await send({"type": "websocket.close", "code": 1008, "reason": reason})
            return
        message = (
            f"this chat server does not answer to the host name {name[:100]!r}; if it is "
            f"yours, add it to allowed_hosts in {self.where}"
        )
        await JSONResponse({"error": message}, 421)(scope, receive, send)


class CoreWatch:
    """How many consumers each bot's core queue has, asked of the broker every ``every_s``.

    A count of 0 (or no queue at all) means no core serves the bot: requests for it are
    answered at once instead of waiting out the deadline. Until the first answer, and while
    the broker cannot be asked, a bot counts as served (the gateway then says what failed).
    The passive question needs no permission on the queues, so a least-privilege transport
    user may ask it. ``problems()`` says what is wrong, for ``/healthz``.
    """

    def __init__(self, bus: Bus, queues: Mapping[str, str], every_s: float = 1.0) -> None:
        self.bus = bus
        self.queues = dict(queues)  # bot -> its core queue
        self.every_s = every_s
        self.counts: dict[str, int | None] = {}
        self.failure: str | None = None  # why the broker could not be asked, if it could not
        self._asking: asyncio.Future[dict[str, int | None]] | None = None

    async def run(self) -> None:
        """Ask every ``every_s`` until cancelled."""
        try:
            while True:
                await self.check()
                await asyncio.sleep(self.every_s)
        finally:
            if self._asking is not None:
                self._asking.cancel()

    async def check(self) -> None:
        """Ask once; a question still unanswered after 5 periods (a frozen broker) is a
        failure, and is left to finish rather than cancelled mid-call or asked again."""
        if self._asking is None or self._asking.done():
            self._asking = asyncio.ensure_future(self._ask())
        limit, was = 5 * self.every_s, self.failure
        done, _ = await asyncio.wait({self._asking}, timeout=limit)
        try:
            self.counts = self._asking.result() if done else self.counts
            self.failure = None if done else f"no answer in {limit:g}s"
        except Exception as exc:  # the bus reconnects on its own; keep asking meanwhile
            self.failure = str(exc) or type(exc).__name__
        if self.failure is not None:
            self.counts = {}
        if self.failure and self.failure != was:  # log changes, not every second of an outage
            log.warning(CANNOT_ASK.format(self.failure))
        elif was and not self.failure:
            log.info("the broker answers again: the cores are watched")

    async def _ask(self) -> dict[str, int | None]:
        return {bot: await self.bus.consumers(queue) for bot, queue in self.queues.items()}

    def unserved(self, bot: str) -> bool:
        """Whether the broker said that no core consumes ``bot``'s queue."""
        return bot in self.counts and not self.counts[bot]

    def problems(self) -> list[str]:
        """What stops a bot from answering, one sentence each; empty when all is well."""
        found = [CANNOT_ASK.format(self.failure)] if self.failure else []
        return found + [
            f"no {bot} core is running (nothing consumes {self.queues[bot]}): start one with "
            f"`botwerk core {bot}`"
            for bot in self.queues
            if self.unserved(bot)
        ]
