"""Slack: a bot user in a Slack workspace, over Socket Mode (default) or the Events API.

    $ export SLACK_BOT_TOKEN=xoxb-... SLACK_APP_TOKEN=xapp-...
    $ botwerk transport slack --bot demo
    #general   ann: @demo hello          (in a thread under ann's message)  demo: echo: hello
    DM         ann: ping                                                     demo: pong

Options are ``[transports.slack]`` in botwerk.toml (:class:`SlackConfig`). ``mode = "socket"``
needs no public URL: it uses SLACK_APP_TOKEN (an app-level token with ``connections:write``).
``mode = "http"`` serves the Events API at ``http://host:port/path`` and checks every request
against SLACK_SIGNING_SECRET. Both need SLACK_BOT_TOKEN (scopes ``chat:write``,
``app_mentions:read``, ``channels:history``, ``im:history``) and the bot events
``app_mention`` and ``message.im`` (``message.channels`` too, for ``demo: hi`` mentions).

What reaches the bot: a DM (channel type ``im``) is direct, so every DM is answered; in a
channel the bot answers mentions. ``<@U0BOT>`` (the bot's own user id, from ``auth.test`` at
start) becomes ``@<bot>``, the mention the bot understands. Dropped: messages from bots (this
one included), edits, deletions and other subtypes, except ``thread_broadcast`` and
``file_share``, which a person typed. A mention arrives twice (as ``app_mention`` and as a
channel ``message``) and a retried event again: one message is keyed by its channel and ``ts``
and by Slack's event id, so it is answered once.

Replies go to the message's channel, in a thread: the message's own thread, else a new thread
under a channel message (a busy channel stays readable); a DM is answered inline unless it
was in a thread. A reply over ``max_text`` (4,000 characters, Slack's advice) goes as several
posts in that thread, at most ``max_parts`` (the rest is dropped, logged and counted in
``stats``). An error reply starts with ``:warning:``. HTTP 429 waits out its Retry-After
(``stop()`` ends the wait), at most ``max_retries`` times; posts to one channel are paced at
one a second after a burst of five, as Slack asks.

Limits: text only (no blocks, files or reactions); other users' ``<@U...>`` mentions are
passed on as they are; one workspace per process.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import msgspec

from botwerk.infra.backoff import pause
from botwerk.infra.rpc import SeenIds
from botwerk.infra.settings import ConfigError, Settings
from botwerk.schemas import BotwerkError, Reply, User
from botwerk.transports.base import Gateway
from botwerk.transports.kit import Pace, retry_after, secret, split_text, transport_options
from botwerk.transports.slack_inbound import (
    EventsApiSite,
    SlackDown,
    SlackRefused,
    events_api,
    failure,
    socket_mode,
)

try:
    import aiohttp
    from slack_sdk.errors import SlackApiError
    from slack_sdk.web.async_client import AsyncWebClient
except ImportError as missing:  # pragma: no cover - depends on the installed extras
    raise BotwerkError(
        f"the Slack transport needs slack_sdk and aiohttp ({missing.name} is missing): "
        "pip install 'botwerk[slack]'"
    ) from None

log = logging.getLogger("botwerk.transport.slack")

# Sections, in the same order in every transport module:
# 1. platform event -> envelope (pure); 2. reply -> platform call (pure); 3. the transport.


class SlackConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``[transports.slack]`` in botwerk.toml."""

    mode: Literal["socket", "http"] = "socket"
    api_url: str = "https://slack.com/api/"  # the Web API; tests point it at a local server
    host: str = "0.0.0.0"  # http mode: where the Events API server listens
    port: int = 3000
    path: str = "/slack/events"
    max_parts: int = 5  # posts one long reply may take
    max_retries: int = 3  # HTTP 429s one post waits out before giving up

    def __post_init__(self) -> None:
        if not self.api_url.startswith(("http://", "https://")):
            raise ValueError("api_url must be an http(s) URL, like https://slack.com/api/")
        if not 0 <= self.port <= 65535:
            raise ValueError("port must be from 1 to 65535 (0: any free port)")
        if not self.path.startswith("/"):
            raise ValueError("path must start with /, like /slack/events")
        if self.max_parts < 1 or self.max_retries < 0:
            raise ValueError("max_parts must be at least 1 and max_retries at least 0")


# 1. Platform event -> envelope.
KEPT_SUBTYPES = frozenset({"", "thread_broadcast", "file_share"})  # typed by a person
_MENTION = re.compile(r"<@([A-Z0-9]+)(?:\|[^>]*)?>")


@dataclass(frozen=True)
class Said:
    """One user message, as the mesh gets it; ``thread`` is where the reply goes."""

    channel: str
    user: str
    text: str
    ts: str
    thread: str | None
    direct: bool

    @property
    def key(self) -> str:
        """The same for every copy of one message (mention, plain message, retries)."""
        return f"{self.channel}:{self.ts}"


def parse_event(event: Mapping[str, Any], me: str, bot: str) -> Said | None:
    """The user message in an ``app_mention`` or ``message`` event; None for anything else."""
    if event.get("type") not in ("message", "app_mention") or event.get("bot_id"):
        return None
    if str(event.get("subtype") or "") not in KEPT_SUBTYPES:
        return None
    user, channel, ts = (str(event.get(k) or "") for k in ("user", "channel", "ts"))
    text = mesh_text(str(event.get("text") or ""), me, bot)
    if not (user and channel and ts and text) or user == me:
        return None
    direct = event.get("channel_type") == "im"
    thread = str(event.get("thread_ts") or "") or (None if direct else ts)
    return Said(channel, user, text, ts, thread, direct)


def mesh_text(text: str, me: str, bot: str) -> str:
    """Slack's text as the bot reads it: ``<@me>`` is ``@bot``; ``&lt;`` is ``<`` again."""
    named = _MENTION.sub(lambda m: f"@{bot}" if m.group(1) == me else m.group(0), text)
    return named.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").strip()


# 2. Reply -> platform call.
WARNING = ":warning:"


@dataclass(frozen=True)
class Post:
    """The arguments of one ``chat.postMessage``."""

    channel: str
    text: str
    thread_ts: str | None


def posts(reply: Reply, limit: int, max_parts: int) -> tuple[list[Post], int]:
    """The posts that deliver ``reply``, and how many characters were dropped past them."""
    text = f"{WARNING} {reply.text}" if reply.error else reply.text
    parts, dropped = split_text(text, limit, max_parts=max_parts)
    return [Post(reply.conversation, slack_text(p), reply.thread) for p in parts], dropped


def slack_text(text: str) -> str:
    """Plain text made safe for Slack: ``&``, ``<`` and ``>`` escaped, as Slack asks."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# 3. The transport.
BOT_TOKEN = "the Bot User OAuth Token (xoxb-...) from your Slack app's OAuth & Permissions page"
APP_TOKEN = "an app-level token (xapp-...) with connections:write, from Basic Information"
SIGNING = "the Signing Secret from your Slack app's Basic Information page"
PACE = (1.0, 5)  # chat.postMessage: one post a second per channel, short bursts allowed
MAX_PACED = 1000  # channels whose pace is remembered


class SlackTransport:
    """One Slack bot user; see the module docstring."""

    name: ClassVar[str] = "slack"
    max_text: ClassVar[int | None] = 4000
    recoverable_errors: ClassVar[tuple[type[BaseException], ...]] = (aiohttp.ClientError, OSError)
    """OSError covers SlackDown (a dropped socket, HTTP 5xx/429), refused connections, timeouts."""

    def __init__(self, settings: Settings, bot: str) -> None:
        self.bot = bot
        self.config = transport_options(settings, "slack", SlackConfig)
        self.web = AsyncWebClient(secret("SLACK_BOT_TOKEN", BOT_TOKEN), self.config.api_url)
        self.app_token = self.signing_secret = ""
        if self.config.mode == "socket":
            self.app_token = secret("SLACK_APP_TOKEN", APP_TOKEN)
            if not self.app_token.startswith("xapp-"):
                raise ConfigError(f"SLACK_APP_TOKEN must be {APP_TOKEN}, not a bot or user token")
        else:
            self.signing_secret = secret("SLACK_SIGNING_SECRET", SIGNING)
        self.me = ""
        """The bot's own Slack user id, from ``auth.test``."""
        self.events_url: str | None = None
        """http mode: where the Events API server listens, once it does."""
        self.stats: Counter[str] = Counter()
        """received, ignored, duplicate_events, posted, rate_limited, dropped_chars"""
        self._seen = SeenIds(10_000)
        self._stopping = asyncio.Event()
        self._paces: dict[str, Pace] = {}

    async def run(self, gateway: Gateway) -> None:
        self.me = await self._whoami()

        async def on_event(payload: dict[str, Any]) -> None:
            await self.receive(gateway, payload)

        if self.config.mode == "socket":
            await socket_mode(self.app_token, self.config.api_url, on_event, self._stopping)
        else:
            site = EventsApiSite(self.config.host, self.config.port, self.config.path)
            await events_api(self.signing_secret, site, on_event, self._stopping, self._listening)

    def _listening(self, url: str) -> None:
        self.events_url = url

    async def _whoami(self) -> str:
        try:
            answer = await self.web.auth_test()
        except SlackApiError as exc:
            raise failure(exc, "auth.test", "check SLACK_BOT_TOKEN") from None
        log.info("signed in to Slack as %s (%s)", answer.get("user"), answer.get("user_id"))
        return str(answer.get("user_id") or "")

    async def receive(self, gateway: Gateway, payload: Mapping[str, Any]) -> None:
        """Hand one ``event_callback`` payload's message to the gateway, unless seen or not one."""
        self.stats["received"] += 1
        event_id = str(payload.get("event_id") or "")
        if event_id in self._seen:
            log.info("Slack event %s seen already; dropped", event_id)
            self.stats["duplicate_events"] += 1
            return
        event = payload.get("event")
        said = parse_event(event, self.me, gateway.bot) if isinstance(event, Mapping) else None
        if said is None:
            self.stats["ignored"] += 1
            return
        if event_id:
            self._seen.add(event_id)
        try:
            await gateway.submit(
                conversation=said.channel, user=User(id=said.user), text=said.text,
                thread=said.thread, direct=said.direct, event_id=said.key,
                meta={"slack.ts": said.ts},
            )  # fmt: skip
        except Exception:
            log.exception("could not hand Slack message %s to the mesh", said.key)

    async def send(self, reply: Reply) -> None:
        parts, dropped = posts(reply, self.max_text or 4000, self.config.max_parts)
        if dropped:
            log.warning(
                "reply to %s too long for %d posts: its last %d characters were dropped",
                reply.conversation, self.config.max_parts, dropped,
            )  # fmt: skip
            self.stats["dropped_chars"] += dropped
        if len(self._paces) > MAX_PACED:
            self._paces.clear()  # forget idle channels; only the busy ones matter
        pace = self._paces.setdefault(reply.conversation, Pace(*PACE))
        for post in parts:
            await pace.wait()
            await self._post(post)

    async def _post(self, post: Post) -> None:
        """One chat.postMessage, waiting out HTTP 429s; SlackDown/SlackRefused if it fails."""
        for attempt in range(self.config.max_retries + 1):
            try:
                await self.web.chat_postMessage(
                    channel=post.channel, text=post.text, thread_ts=post.thread_ts
                )
                self.stats["posted"] += 1
                return
            except SlackApiError as exc:
                if exc.response.status_code != 429 or attempt == self.config.max_retries:
                    fix = "if the app is not in that channel, /invite it there"
                    raise failure(exc, f"chat.postMessage to {post.channel}", fix) from None
                delay = retry_after(exc.response.headers)
            self.stats["rate_limited"] += 1
            log.warning("Slack rate limit on %s; retrying in %.1fs", post.channel, delay)
            if await pause(delay, self._stopping):
                raise SlackDown(f"stopped while rate limited; a reply to {post.channel} lost")

    async def stop(self) -> None:
        self._stopping.set()


__all__ = [
    "Post",
    "SlackConfig",
    "SlackDown",
    "SlackRefused",
    "SlackTransport",
    "parse_event",
    "posts",
]
