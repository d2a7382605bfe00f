"""Web chat: a chat page and a REST endpoint, served by FastAPI on uvicorn.

    $ botwerk transport web --bot demo,moviebot        # then open http://127.0.0.1:8080/
    $ curl -s localhost:8080/api/chat -d '{"text": "ping"}'
    {"reply":"pong","bot":"demo","time":"2026-12-01T10:00:00Z"}

``GET /`` is the chat page (:mod:`botwerk.transports.webpage`); it talks over a WebSocket at
``/ws``, one conversation per socket: it sends ``{"text", "bot"?, "genre"?}`` and gets
``{"reply", "bot", "time", "error"?}`` for every reply (``error``: the failure's code).
Rooms: the page at ``/?room=lobby`` opens ``/ws?room=lobby`` and so also joins the room
conversation ``#lobby``; a post (:mod:`botwerk.infra.posts`) to ``#lobby`` reaches every socket
in it, one to ``ws-<id>`` that socket alone. A post to a room nobody has open is dropped (INFO).
``POST /api/chat`` takes the same JSON, as a conversation of its own, and answers 200
``{"reply", "bot", "time"}`` (ISO 8601 UTC), or ``{"error": <sentence>, ...}`` with 400 (not
JSON, nested too deeply, unknown bot), 422 (a field missing or mistyped, named), 413 (over
``max_body_bytes``), 403 (a browser on another site), 421 (a host name not in
``allowed_hosts``), 503 (busy, no core running for the bot: at once) or 504 (took too long).
``bot`` defaults to the first of ``--bot``; ``genre`` reaches the bot as
``Inbound.meta["genre"]`` (the page offers the genres of a bot's ``[bots.<bot>] genres`` table,
and no genre box for a bot without one). ``GET /healthz`` says ``{"status": "ok", "bots":
[...]}``, or 503 ``{"status": "unavailable", "bots": [...], "problems": [<sentence>, ...]}``
while a bot has no core consuming its queue (asked of the broker once a second).

Options, ``[transports.web]``: ``host`` (127.0.0.1), ``port`` (8080; 0: any free port),
``max_body_bytes`` (8192), ``title``, ``allowed_hosts`` (the host names the server answers to,
any port; default the loopback names ``localhost``, ``127.0.0.1``, ``[::1]``, plus ``host`` when
it names one; ``["*"]``: any, for a proxy that checks ``Host`` itself). The constructor claims
the port, so a port in use stops ``botwerk transport web`` before it connects to RabbitMQ.

Limits: no authentication (put a proxy with a login in front before listening beyond
127.0.0.1); a browser request whose ``Origin`` is not ``Host`` is refused, and so is any
request whose ``Host`` is not allowed (DNS rebinding), so such a proxy must pass ``Host`` on. A
reply for a page closed meanwhile is dropped and counted. The gateway sends nothing for an
empty reply, so a REST request that a bot answers with silence gets a 504.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket
import uuid
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import urlsplit

import msgspec

from botwerk.infra import messages
from botwerk.infra.settings import Settings
from botwerk.schemas import BotwerkError, Reply, User

from .base import Gateway
from .kit import transport_options
from .webpage import render_page

try:
    import uvicorn
    from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
    from fastapi.responses import HTMLResponse, JSONResponse

    from .webserver import (
        ANY_ADDRESS,
        CoreWatch,
        HostGuard,
        PortUnavailable,
        Server,
        claim_port,
        push,
    )
except ImportError as exc:  # pragma: no cover - the extra is not installed
    raise BotwerkError(f"the web transport needs {exc.name}: pip install 'botwerk[web]'") from None

__all__ = ["PortUnavailable", "WebConfig", "WebTransport"]

log = logging.getLogger("botwerk.transport.web")

STOP_GRACE_S = 5  # how long stop() lets open requests and pages finish
SHUTTING_DOWN = "The chat server is shutting down; please try again in a moment."
NO_REPLY = "No reply came in time; please try again in a moment."
ROOM = re.compile(r"[A-Za-z0-9_-]{1,64}")  # a room's name, as in /?room=lobby
STATUS = {"timeout": 504, "busy": 503, "no_worker": 503, "bad_request": 400, "internal": 500}
"""The HTTP status of a reply whose ``error`` is this code (502 for others, 200 for none)."""


class WebConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``[transports.web]`` in botwerk.toml."""

    host: str = "127.0.0.1"
    port: int = 8080
    max_body_bytes: int = 8192
    title: str = "Botwerk chat"
    allowed_hosts: tuple[str, ...] = ("localhost", "127.0.0.1", "[::1]")
    """Host names (any port) the server answers to; ``"*"``: any."""

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError("port must be 0-65535 (0: any free port)")
        if self.max_body_bytes < 64:
            raise ValueError("max_body_bytes must be at least 64")
        if not self.allowed_hosts or not all(host.strip() for host in self.allowed_hosts):
            raise ValueError('allowed_hosts must list host names, such as ["chat.example.org"]')

    def hosts(self) -> tuple[str, ...]:
        """``allowed_hosts``, and ``host`` when it names one (not every interface)."""
        return self.allowed_hosts + (() if self.host in ANY_ADDRESS else (self.host,))


# 1. Platform event -> envelope.
class ChatRequest(msgspec.Struct, frozen=True):
    """One message from the page or a REST client."""

    text: str
    bot: str | None = None
    genre: str | None = None


class BadRequest(Exception):
    """A request refused before it reaches the mesh: ``status`` and a sentence saying why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class TooDeep(BadRequest):
    """JSON nested deeper than the decoder goes: a hostile body, so a socket is closed."""

    def __init__(self) -> None:
        super().__init__(400, 'the body is JSON nested too deeply; send {"text": "hello"}')


def parse_request(body: bytes | str, bots: tuple[str, ...]) -> ChatRequest:
    """The message in a JSON body, its ``bot`` filled in (default: the first of ``bots``)."""
    try:
        request = msgspec.convert(msgspec.json.decode(body), ChatRequest)
    except msgspec.ValidationError as exc:  # "Expected `str`, got `int` - at `$.text`"
        problem, _, at = str(exc).partition(" - at `$.")
        field = f"{at.rstrip('`')}: " if at else ""
        raise BadRequest(422, f"{field}{problem[:1].lower()}{problem[1:]}") from None
    except msgspec.DecodeError as exc:  # after ValidationError, its subclass
        raise BadRequest(400, f'the body is not JSON ({exc}); send {{"text": "hello"}}') from None
    except RecursionError:  # [[[[...]]]] a thousand deep: the decoder's own limit
        raise TooDeep() from None
    if not request.text.strip():
        raise BadRequest(422, "text: must not be empty")
    bot = request.bot or bots[0]
    if bot not in bots:
        raise BadRequest(400, f"unknown bot {bot!r}; this server talks to: {', '.join(bots)}")
    return msgspec.structs.replace(request, text=request.text.strip(), bot=bot)


def submission(request: ChatRequest, conversation: str) -> dict[str, Any]:
    """The ``gateway.submit`` arguments for ``request`` in ``conversation``."""
    return {
        "conversation": conversation, "user": User(id=conversation, name="web"),
        "text": request.text, "direct": True, "bot": request.bot,
        "meta": {"genre": request.genre} if request.genre else {},
    }  # fmt: skip


def genres_of(settings: Settings, bots: tuple[str, ...]) -> dict[str, list[str]]:
    """The genres each of ``bots`` offers: the keys of its ``[bots.<bot>] genres`` table."""
    tables = {bot: settings.bots.get(bot, {}).get("genres") for bot in bots}
    return {bot: sorted(map(str, t)) for bot, t in tables.items() if isinstance(t, dict) and t}


def cross_origin(headers: Mapping[str, str]) -> bool:
    """Whether a browser sent this from another site's page (its ``Origin`` is not ``Host``)."""
    origin = headers.get("origin")
    return origin is not None and urlsplit(origin).netloc != headers.get("host")


# 2. Reply -> platform call.
def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def socket_frame(reply: Reply, time: str) -> dict[str, str]:
    """What the page gets for ``reply``: the text, who said it, when, and any error code."""
    frame = {"reply": reply.text, "bot": reply.bot, "time": time}
    return {**frame, "error": reply.error} if reply.error else frame


def http_answer(reply: Reply, time: str) -> tuple[int, dict[str, str]]:
    """The HTTP status and JSON body answering a REST request with ``reply``."""
    if reply.error is None:
        return 200, {"reply": reply.text, "bot": reply.bot, "time": time}
    body = {"error": reply.text, "code": reply.error, "bot": reply.bot, "time": time}
    return STATUS.get(reply.error, 502), body


def failure(conversation: str, text: str, code: str, bot: str | None = "") -> Reply:
    """A reply the bridge makes itself when there is no answer to give (``code``: why)."""
    return Reply(bot=bot or "", conversation=conversation, text=text, error=code)


# 3. The transport.
class WebTransport:
    """A chat page, its WebSocket and a REST endpoint on one uvicorn server."""

    name: ClassVar[str] = "web"
    max_text: ClassVar[int | None] = None
    recoverable_errors: ClassVar[tuple[type[BaseException], ...]] = (OSError,)

    def __init__(self, settings: Settings, bot: str) -> None:
        self.config = transport_options(settings, "web", WebConfig)
        self.settings = settings
        self.bot = bot
        self.wait_s = settings.deadline_ms / 1000 + 1  # the gateway answers within the deadline
        self.app = self._routes(FastAPI(title=self.config.title, openapi_url=None))
        self.guard = HostGuard(self.app, self.config.hosts(), f"[transports.{self.name}]")
        self.watch: CoreWatch | None = None
        self.stats: Counter[str] = Counter()
        """requests, socket_messages, refused, no_core, dropped_replies"""
        self._listener: socket.socket | None = claim_port(self.config.host, self.config.port)
        self.port: int = self._listener.getsockname()[1]
        self.url = f"http://{self.config.host}:{self.port}"
        self._gateway: Gateway | None = None
        self._server: uvicorn.Server | None = None
        self._pages: dict[str, WebSocket] = {}  # conversation -> its page's socket
        self._rooms: dict[str, set[WebSocket]] = {}  # "#lobby" -> the sockets in it
        self._waiting: dict[str, asyncio.Future[Reply]] = {}  # conversation -> REST request
        self._stopping = False
        self._idle = asyncio.Event()
        self._idle.set()

    async def run(self, gateway: Gateway) -> None:
        self._gateway = gateway
        if self._stopping:
            return
        listener, self._listener = self._listener or claim_port(self.config.host, self.port), None
        queues = {bot: gateway.names.core_queue(bot) for bot in gateway.bots}
        self.watch = CoreWatch(gateway.bus, queues)
        watching = asyncio.create_task(self.watch.run(), name="web-core-watch")
        self._server = Server(uvicorn.Config(
            self.guard, lifespan="off", log_config=None, access_log=False,
            ws_max_size=4 * self.config.max_body_bytes, timeout_graceful_shutdown=STOP_GRACE_S,
        ))  # fmt: skip
        self._idle.clear()
        log.info("web chat on %s/ for %s", self.url, ", ".join(gateway.bots))
        try:
            await self._server.serve(sockets=[listener])
        finally:
            watching.cancel()
            listener.close()
            self._idle.set()
        if not self._stopping:
            raise ConnectionError(f"the web server on {self.url} stopped on its own")

    async def send(self, reply: Reply) -> None:
        if (answer := self._waiting.get(reply.conversation)) is not None:
            if not answer.done():
                answer.set_result(reply)
        elif (page := self._pages.get(reply.conversation)) is not None:
            await push(page, socket_frame(reply, utc_now()))
        elif room := self._rooms.get(reply.conversation):
            frame = socket_frame(reply, utc_now())
            await asyncio.gather(*(push(page, frame) for page in list(room)))
        else:
            log.info("reply for %s dropped: its page or request is gone", reply.conversation)
            self.stats["dropped_replies"] += 1

    async def stop(self) -> None:
        self._stopping = True
        try:
            for conversation, answer in self._waiting.items():
                if not answer.done():
                    answer.set_result(failure(conversation, SHUTTING_DOWN, "busy"))
            if self._server is not None:
                self._server.should_exit = True
            await asyncio.wait_for(self._idle.wait(), STOP_GRACE_S + 1)
            if self._listener is not None:
                self._listener.close()
        except Exception:
            log.exception("the web server did not stop cleanly")

    def _routes(self, app: FastAPI) -> FastAPI:
        app.get("/", response_class=HTMLResponse)(self._page)
        app.get("/healthz")(self._health)
        app.post("/api/chat")(self._chat)
        app.websocket("/ws")(self._socket)
        return app

    async def _page(self) -> HTMLResponse:
        bots = self._bots()
        return HTMLResponse(render_page(self.config.title, bots, genres_of(self.settings, bots)))

    async def _health(self) -> JSONResponse:
        bots = list(self._bots())
        if problems := self.watch.problems() if self.watch is not None else []:
            return JSONResponse({"status": "unavailable", "bots": bots, "problems": problems}, 503)
        return JSONResponse({"status": "ok", "bots": bots})

    async def _chat(self, request: Request) -> JSONResponse:
        self.stats["requests"] += 1
        try:
            if cross_origin(request.headers):
                raise BadRequest(403, "cross-origin requests are refused")
            message = parse_request(await self._body(request), self._bots())
        except BadRequest as problem:
            self.stats["refused"] += 1
            return JSONResponse({"error": str(problem)}, problem.status)
        status, body = http_answer(await self._ask(message), utc_now())
        return JSONResponse(body, status)

    async def _ask(self, message: ChatRequest) -> Reply:
        """Submit ``message`` as a conversation of its own; its reply."""
        conversation = f"rest-{uuid.uuid4().hex[:16]}"
        self._waiting[conversation] = answer = asyncio.get_running_loop().create_future()
        try:
            if failed := await self._submit(message, conversation):
                return failed
            return await asyncio.wait_for(answer, self.wait_s)
        except TimeoutError:
            return failure(conversation, NO_REPLY, "timeout", message.bot)
        finally:
            self._waiting.pop(conversation, None)

    async def _socket(self, page: WebSocket) -> None:
        if cross_origin(page.headers):
            await page.close(code=1008, reason="cross-origin sockets are refused")
            return
        room = page.query_params.get("room")
        if room is not None and not ROOM.fullmatch(room):
            await page.close(code=1008, reason="room: 1-64 letters, digits, '-' or '_'")
            return
        await page.accept()
        conversation = f"ws-{uuid.uuid4().hex[:16]}"
        self._pages[conversation] = page
        if room is not None:
            self._rooms.setdefault(f"#{room}", set()).add(page)
        try:
            while (frame := await page.receive())["type"] == "websocket.receive":
                body = frame.get("text") or frame.get("bytes") or b""
                await self._on_frame(conversation, page, body)
        except TooDeep:  # 1007: "inconsistent data"; a page never sends such a thing
            self.stats["refused"] += 1
            await page.close(code=1007, reason="that message is JSON nested too deeply")
        except WebSocketDisconnect:
            pass
        except Exception:  # never drop a socket without a close frame
            log.exception("a chat socket failed; closing it")
            with contextlib.suppress(Exception):  # it may be gone already
                await page.close(code=1011, reason="the server failed; reconnect")
        finally:
            self._pages.pop(conversation, None)
            if room is not None:
                self._leave(f"#{room}", page)

    def _leave(self, room: str, page: WebSocket) -> None:
        pages = self._rooms.get(room, set())
        pages.discard(page)
        if not pages:
            self._rooms.pop(room, None)

    async def _on_frame(self, conversation: str, page: WebSocket, body: bytes | str) -> None:
        self.stats["socket_messages"] += 1
        failed: Reply | None
        try:
            if len(body if isinstance(body, bytes) else body.encode()) > self.config.max_body_bytes:
                raise BadRequest(413, f"that message is over {self.config.max_body_bytes} bytes")
            message = parse_request(body, self._bots())
        except TooDeep:
            raise
        except BadRequest as problem:
            self.stats["refused"] += 1
            failed = failure(conversation, str(problem), "bad_request")
        else:
            failed = await self._submit(message, conversation)
        if failed is not None:
            await push(page, socket_frame(failed, utc_now()))

    async def _submit(self, message: ChatRequest, conversation: str) -> Reply | None:
        """Hand ``message`` to the gateway; None, or a reply saying why it could not be."""
        if self._gateway is None:  # the server only serves once run() has a gateway
            raise RuntimeError("the web transport got a request before run()")
        if self.watch is not None and self.watch.unserved(message.bot or self.bot):
            self.stats["no_core"] += 1  # answered now, not with a 504 at the deadline
            text = messages.NO_CORE.format(bot=message.bot)
            return failure(conversation, text, "no_worker", message.bot)
        try:
            await self._gateway.submit(**submission(message, conversation))
        except BotwerkError as exc:
            log.warning("could not submit a message of %s: %s", conversation, exc)
            text = messages.UNREACHABLE.format(bot=message.bot)
            return failure(conversation, text, "busy", message.bot)
        return None

    async def _body(self, request: Request) -> bytes:
        """The request's body; :class:`BadRequest` 413 as soon as it passes the limit."""
        limit = self.config.max_body_bytes
        too_big = BadRequest(413, f"the body is over {limit} bytes (max_body_bytes)")
        if int(request.headers.get("content-length") or 0) > limit:
            raise too_big
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise too_big
        return bytes(body)

    def _bots(self) -> tuple[str, ...]:
        return self._gateway.bots if self._gateway is not None else (self.bot,)
