"""A local Slack for the Slack transport's tests: the Web API and Socket Mode, on 127.0.0.1.

In a transport test::

    slack = FakeSlack(); await slack.start()          # or the ``fake_slack`` fixture
    # point the transport at it: [transports.slack] api_url = slack.api_url
    await slack.wait_connected()                       # the transport opened its WebSocket
    await slack.push(envelope(message("<@UBOT> hi")))  # Slack delivers an event
    slack.posts                                        # what chat.postMessage was sent

It speaks Slack's wire protocol, so the real slack_sdk clients talk to it: ``auth.test``
(the bot is user ``UBOT``), ``apps.connections.open`` (a ``ws://127.0.0.1:PORT/link/`` URL)
and ``chat.postMessage`` over HTTP; over the WebSocket it sends ``hello``, then the envelopes a
test pushes, and records the acks. ``rate_limits = N`` answers the next N posts with HTTP 429
and ``Retry-After: retry_after``. Everything it is sent is counted (``calls``) or kept
(``posts``, ``acks``, ``tokens``). :func:`signed_headers` signs an Events API request the way
Slack does; :class:`RecordingGateway` stands in for the gateway in unit tests.

Limits: one workspace, no auth scopes, only the methods above (others get ``unknown_method``).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

import pytest
import pytest_asyncio

if TYPE_CHECKING:
    from aiohttp import web

BOT_USER = "UBOT"  # the bot's user id, as auth.test answers
HUMAN = "UANN"  # who says things in the tests
SECRETS = {
    "SLACK_BOT_TOKEN": "xoxb-test-bot-token",
    "SLACK_APP_TOKEN": "xapp-test-app-token",
    "SLACK_SIGNING_SECRET": "test-signing-secret",
}
_stamps = itertools.count(1)


def message(
    text: str,
    *,
    channel: str = "C1",
    user: str = HUMAN,
    ts: str | None = None,
    kind: str = "message",
    **fields: Any,
) -> dict[str, Any]:
    """A Slack ``message`` (or ``kind="app_mention"``) event; ``fields`` adds or overrides."""
    event = {"type": kind, "channel": channel, "user": user, "text": text,
             "ts": ts or f"1700000000.{next(_stamps):06d}", "channel_type": "channel"}  # fmt: skip
    return {**event, **fields}


def callback(event: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
    """The Events API ``event_callback`` payload that carries ``event``."""
    return {"type": "event_callback", "team_id": "T1", "api_app_id": "A1", "event": event,
            "event_id": event_id or f"Ev{uuid.uuid4().hex[:10]}",
            "event_time": int(time.time())}  # fmt: skip


def envelope(event: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
    """A Socket Mode envelope carrying ``event`` (a fresh envelope id each time)."""
    return {"envelope_id": str(uuid.uuid4()), "type": "events_api",
            "accepts_response_payload": False, "payload": callback(event, event_id)}  # fmt: skip


def signed_headers(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """The headers Slack sends with ``body``, signed with ``secret`` at ``timestamp``."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    base = b"v0:" + stamp.encode() + b":" + body
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": f"v0={digest}",
            "Content-Type": "application/json"}  # fmt: skip


class RecordingGateway:
    """What a transport sees of the gateway (``bot``, ``bots``, ``submit``), recording submits."""

    def __init__(self, bot: str = "demo") -> None:
        self.bot = bot
        self.bots = (bot,)
        self.submitted: list[dict[str, Any]] = []

    async def submit(self, **fields: Any) -> str:
        self.submitted.append(fields)
        return f"m{len(self.submitted)}"


class FakeSlack:
    """Slack's Web API and Socket Mode WebSocket on a free local port; see the module."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        """Web API calls by method, refused ones (429, bad token) included."""
        self.call_times: dict[str, list[float]] = {}
        """When each call came (``time.monotonic()``), by method."""
        self.posts: list[dict[str, Any]] = []
        """The bodies of the chat.postMessage calls that succeeded, in order."""
        self.tokens: list[str] = []
        self.acks: list[str] = []
        """Envelope ids acknowledged over the WebSocket, in order."""
        self.connections = 0
        """WebSockets opened so far."""
        self.rate_limits = 0
        self.retry_after = 1
        self.sockets: list[web.WebSocketResponse] = []
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    async def start(self) -> None:
        from aiohttp import web

        app = web.Application()
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/link/", self._socket)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]

    async def close(self) -> None:
        await self.drop()
        if self._runner is not None:
            await self._runner.cleanup()

    async def push(self, message: dict[str, Any]) -> None:
        """Send ``message`` (an envelope) down every open WebSocket."""
        for socket in list(self.sockets):
            await socket.send_json(message)

    async def drop(self) -> None:
        """Close every WebSocket from Slack's side, as when a connection is lost."""
        for socket in list(self.sockets):
            await socket.close()

    async def wait_connected(self, connections: int = 1, timeout: float = 20.0) -> None:
        """Return once ``connections`` WebSockets have been opened and one is open."""
        give_up = time.monotonic() + timeout
        while self.connections < connections or not self.sockets:
            if time.monotonic() > give_up:
                raise AssertionError(f"no Socket Mode connection #{connections} in {timeout:g}s")
            await asyncio.sleep(0.02)

    async def _api(self, request: web.Request) -> web.Response:
        from aiohttp import web

        method = request.match_info["method"]
        self.calls[method] += 1
        self.call_times.setdefault(method, []).append(time.monotonic())
        body = await self._body(request)
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        token = token or str(body.get("token", ""))
        self.tokens.append(token)
        answer = self._answer(method, token, body)
        if answer is None:
            self.rate_limits -= 1
            refusal = {"ok": False, "error": "ratelimited"}
            headers = {"Retry-After": str(self.retry_after)}
            return web.json_response(refusal, status=429, headers=headers)
        return web.json_response(answer)

    def _answer(self, method: str, token: str, body: dict[str, Any]) -> dict[str, Any] | None:
        """The JSON answer to one call; None for "rate limited"."""
        wanted = "xapp-" if method == "apps.connections.open" else "xoxb-"
        if not token.startswith(wanted):
            return {"ok": False, "error": "invalid_auth"}
        if method == "auth.test":
            return {"ok": True, "user_id": BOT_USER, "user": "demo", "bot_id": "BBOT",
                    "team": "Test", "team_id": "T1", "url": "https://test.slack.com/"}  # fmt: skip
        if method == "apps.connections.open":
            link = f"ws://127.0.0.1:{self.port}/link/?ticket={uuid.uuid4().hex}"
            return {"ok": True, "url": link}
        if method == "chat.postMessage":
            if self.rate_limits > 0:
                return None
            self.posts.append(body)
            return {"ok": True, "channel": body.get("channel"), "ts": f"{time.time():.6f}"}
        return {"ok": False, "error": "unknown_method"}

    @staticmethod
    async def _body(request: web.Request) -> dict[str, Any]:
        if request.content_type == "application/json":
            parsed = await request.json()
            return parsed if isinstance(parsed, dict) else {}
        return {key: str(value) for key, value in (await request.post()).items()}

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        from aiohttp import WSMsgType, web

        socket = web.WebSocketResponse()
        await socket.prepare(request)
        self.connections += 1
        self.sockets.append(socket)
        hello = {"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A1"}}
        await socket.send_json(hello)
        try:
            async for frame in socket:
                if frame.type == WSMsgType.TEXT:
                    sent = json.loads(frame.data)
                    if "envelope_id" in sent:
                        self.acks.append(sent["envelope_id"])
        finally:
            self.sockets.remove(socket)
        return socket


@pytest_asyncio.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    """A started :class:`FakeSlack`; closed after the test."""
    slack = FakeSlack()
    await slack.start()
    yield slack
    await slack.close()


@pytest.fixture
def slack_secrets(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """SLACK_BOT_TOKEN, SLACK_APP_TOKEN and SLACK_SIGNING_SECRET set to fake values."""
    for variable, value in SECRETS.items():
        monkeypatch.setenv(variable, value)
    yield dict(SECRETS)
