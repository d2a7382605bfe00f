"""How Slack's events reach the Slack transport: Socket Mode, or the Events API over HTTP.

In the transport's serve loop, one or the other::

    await socket_mode(app_token, "https://slack.com/api/", on_event, stopping)
    await events_api(signing_secret, EventsApiSite("0.0.0.0", 3000, "/slack/events"),
                     on_event, stopping)

Both hand each ``event_callback`` payload (the JSON of Slack's Events API, the same in both
modes: ``{"event_id": ..., "event": {...}}``) to ``on_event`` *after* acknowledging it, so
Slack never waits on the mesh; both return when ``stopping`` is set.

- :func:`socket_mode` opens the WebSocket that ``apps.connections.open`` names (no public
  URL needed) with slack_sdk's aiohttp ``SocketModeClient``, its own reconnecting switched
  off: when the socket closes or goes stale it raises :class:`SlackDown`, and the transport's
  ``serve_forever`` reconnects with backoff. Slack's planned hand-over (a ``disconnect``
  envelope, every few hours) is left to slack_sdk, which opens the next socket at once.
- :func:`events_api` serves Slack's POSTs: a request whose signature does not match the
  signing secret, or whose timestamp is more than five minutes off (a replay), gets 401 and
  is never handled; the ``url_verification`` challenge is answered; an event gets 200 at once
  and is handled after.

Limits: slash commands and interactive payloads are acked and ignored; the Events API server
speaks plain HTTP (put TLS in front of it: a reverse proxy or a tunnel).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

from botwerk.schemas import BotwerkError

try:
    from aiohttp import web
    from slack_sdk.errors import SlackApiError
    from slack_sdk.signature import SignatureVerifier
    from slack_sdk.socket_mode.aiohttp import SocketModeClient
    from slack_sdk.socket_mode.async_client import AsyncBaseSocketModeClient
    from slack_sdk.socket_mode.request import SocketModeRequest
    from slack_sdk.socket_mode.response import SocketModeResponse
    from slack_sdk.web.async_client import AsyncWebClient
except ImportError as missing:  # pragma: no cover - depends on the installed extras
    raise BotwerkError(
        f"the Slack transport needs slack_sdk and aiohttp ({missing.name} is missing): "
        "pip install 'botwerk[slack]'"
    ) from None

log = logging.getLogger("botwerk.transport.slack")
sdk_log = logging.getLogger("botwerk.transport.slack.sdk")

OnEvent = Callable[[dict[str, Any]], Coroutine[Any, Any, None]]
CONNECT_TIMEOUT_S = 15.0  # slack_sdk retries a failing WebSocket connect; we give up after this
WATCH_S = 0.5  # how often the socket's health is looked at
MAX_BODY = 1 << 20  # Slack's event payloads are a few KiB


class SlackDown(ConnectionError):
    """Slack is unreachable, overloaded (HTTP 5xx or 429), or the WebSocket dropped: retry."""


class SlackRefused(BotwerkError):
    """Slack refused a token or a call for good (``invalid_auth``...): retrying cannot help."""


def failure(exc: SlackApiError, method: str, fix: str) -> Exception:
    """What a Slack API error means: :class:`SlackDown` (try again) or :class:`SlackRefused`."""
    status = exc.response.status_code
    error = exc.response.get("error", "no error code") if exc.response.data else "empty answer"
    if status == 429 or status >= 500:
        return SlackDown(f"Slack answered {method} with HTTP {status} ({error})")
    return SlackRefused(f"Slack refused {method}: {error}; {fix}")


# Socket Mode.
async def socket_mode(
    app_token: str, api_url: str, on_event: OnEvent, stopping: asyncio.Event
) -> None:
    """Receive events over a Socket Mode WebSocket until ``stopping``; SlackDown if it drops."""
    client = SocketModeClient(
        app_token, logger=sdk_log, web_client=AsyncWebClient(base_url=api_url),
        auto_reconnect_enabled=False,
    )  # fmt: skip
    client.socket_mode_request_listeners.append(_acknowledging(on_event))
    try:
        try:
            client.wss_uri = await client.issue_new_wss_url()
        except SlackApiError as exc:
            raise failure(exc, "apps.connections.open", "check SLACK_APP_TOKEN") from None
        await _connect(client)
        log.info("Slack Socket Mode connected")
        while not stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), WATCH_S)
            if not stopping.is_set() and await _dropped(client):
                raise SlackDown("the Socket Mode WebSocket closed or stopped answering pings")
    finally:
        await _close(client)


async def _connect(client: SocketModeClient) -> None:
    try:
        await asyncio.wait_for(client.connect(), CONNECT_TIMEOUT_S)  # type: ignore[no-untyped-call]
    except TimeoutError:
        raise SlackDown(f"no WebSocket to Slack within {CONNECT_TIMEOUT_S:g}s") from None


async def _dropped(client: SocketModeClient) -> bool:
    """True when the socket is gone, unless slack_sdk is in the middle of a planned hand-over."""
    return not client.connect_operation_lock.locked() and not await client.is_connected()


async def _close(client: SocketModeClient) -> None:
    try:
        await client.close()  # type: ignore[no-untyped-call]
    except Exception as exc:  # closing a socket that already failed can fail again
        log.debug("closing the Socket Mode client: %s", exc)


def _acknowledging(
    on_event: OnEvent,
) -> Callable[[AsyncBaseSocketModeClient, SocketModeRequest], Awaitable[None]]:
    """A request listener that acks each envelope first, then hands Events API ones on."""

    async def listener(client: AsyncBaseSocketModeClient, request: SocketModeRequest) -> None:
        try:
            await client.send_socket_mode_response(SocketModeResponse(request.envelope_id))
        except Exception as exc:  # Slack sends it again; the event id drops the copy
            log.warning("could not ack Slack envelope %s: %s", request.envelope_id, exc)
        if request.type == "events_api":
            await on_event(request.payload)
        else:
            log.info("Slack %s envelope acked and ignored", request.type)

    return listener


# The Events API.
@dataclass(frozen=True)
class EventsApiSite:
    """Where the Events API server listens; ``port`` 0 picks a free one."""

    host: str
    port: int
    path: str


async def events_api(
    signing_secret: str,
    site: EventsApiSite,
    on_event: OnEvent,
    stopping: asyncio.Event,
    listening: Callable[[str], None] = lambda url: None,
) -> None:
    """Serve Slack's signed POSTs at ``site`` until ``stopping``; ``listening(url)`` once up."""
    app = web.Application(client_max_size=MAX_BODY)
    app.router.add_post(site.path, _receiver(SignatureVerifier(signing_secret), on_event))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, site.host, site.port).start()
        host, port = runner.addresses[0][:2]
        url = f"http://{host}:{port}{site.path}"
        log.info("listening for Slack events at %s", url)
        listening(url)
        await stopping.wait()
    finally:
        await runner.cleanup()


def _receiver(
    verifier: SignatureVerifier, on_event: OnEvent
) -> Callable[[web.Request], Awaitable[web.Response]]:
    tasks: set[asyncio.Task[None]] = set()

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        if not signed(verifier, body, request.headers):
            log.warning("Slack request refused: bad signature or timestamp over 5 minutes off")
            return web.Response(status=401, text="bad signature or stale timestamp")
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            return web.Response(status=400, text="the body is not a JSON object")
        if payload.get("type") == "url_verification":
            return web.json_response({"challenge": payload.get("challenge", "")})
        if payload.get("type") == "event_callback":
            task = asyncio.create_task(on_event(payload))  # acked now, handled after
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        return web.Response(status=200)

    return receive


def signed(verifier: SignatureVerifier, body: bytes, headers: Mapping[str, str]) -> bool:
    """True when Slack signed ``body`` with the secret within the last five minutes."""
    try:
        return verifier.is_valid_request(body, dict(headers))
    except (ValueError, TypeError):  # a timestamp header that is not a number
        return False
