"""X (Twitter): answer the mentions of the bot's account with replies in their thread.

    $ export X_API_KEY=... X_API_SECRET=... X_ACCESS_TOKEN=... X_ACCESS_TOKEN_SECRET=...
    $ botwerk transport x --bot demo
    @alice:    @demobot hello there
    @demobot:  echo: hello there                  (posted as a reply under alice's tweet)

The bridge polls; it does not stream. Every ``poll_s`` seconds (default 20) it reads
``GET /2/users/:id/mentions`` since the last mention it handled and submits them oldest
first. The filtered stream needs an app-only token and a higher API tier; the mentions
timeline, read with the account's own OAuth 1.0a keys (the ones that post the replies),
works on every tier. Its 15-minute rate-limit window depends on the tier, so fit ``poll_s``
to yours: a 429 is honoured either way, by sleeping (logged, and ended by ``stop()``) until
``x-rate-limit-reset``, never by hammering.

Every mention is addressed to the bot: it goes in as a direct message without its leading
@handles (``@demobot @bob ping`` -> ``ping``); the bot's own tweets, retweets and empty
mentions are skipped. The id of the newest tweet handled is kept in ``state_file``, replaced
atomically after each one, so a restarted bridge neither answers a mention twice nor skips
one. On the very first start (no state file) the backlog is NOT answered: the bridge starts
after the newest mention there is, and logs it (``answer_backlog = true`` answers it).

A reply goes under its mention; one longer than a tweet (280, as X weighs characters: CJK
and emoji count 2) becomes a thread of at most ``max_tweets``, each tweet answering the one
before, the rest dropped and logged. ``api_url`` sends every call to another host (an API
gateway, a proxy, a test server): a requests adapter on tweepy's session rewrites
``https://api.twitter.com`` to it.

A post (:mod:`botwerk.infra.posts`) with a ``thread`` (a tweet id) goes under that tweet;
without one it is a new tweet of the account (``conversation`` is not used).

Limits: at least once: a crash between submitting a mention and saving its id answers it
again, and a reply cut short mid-thread is posted again from its start. A reply X refuses (a
duplicate, a deleted tweet) is dead-lettered with X's reason. URLs count as their length (X
counts 23). A poll reads at most ``MAX_PAGES`` pages of 100; older mentions are skipped.
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, NamedTuple, TypeVar

import msgspec

from botwerk.infra.backoff import pause
from botwerk.infra.errors import Requeue
from botwerk.infra.settings import ConfigError, Settings
from botwerk.schemas import BotwerkError, Reply, User
from botwerk.transports.base import Gateway
from botwerk.transports.kit import secret, split_text, transport_options
from botwerk.transports.x_api import TWITTER, Rehost, SinceId

try:
    import requests  # type: ignore[import-untyped, unused-ignore]
    import tweepy
except ImportError as exc:
    raise BotwerkError(f"the X transport needs tweepy ({exc}): pip install 'botwerk[x]'") from None

log = logging.getLogger("botwerk.transport.x")
for _chatty in ("oauthlib", "requests_oauthlib"):  # at DEBUG they log the access token
    logging.getLogger(_chatty).setLevel(logging.INFO)

T = TypeVar("T")
TWEET = 280  # X's weighted length limit
MAX_PAGES = 10  # of 100 mentions, per poll
SECRETS = {
    "X_API_KEY": "your X app's API key (consumer key)",
    "X_API_SECRET": "your X app's API key secret (consumer secret)",
    "X_ACCESS_TOKEN": "the bot account's access token (OAuth 1.0a, read and write)",
    "X_ACCESS_TOKEN_SECRET": "the bot account's access token secret",
}
TWEET_FIELDS = ["author_id", "conversation_id", "in_reply_to_user_id", "referenced_tweets"]
_HANDLES = re.compile(r"^(?:\s*@[A-Za-z0-9_]+[:,]?)+\s*")
_LIGHT = ((0, 4351), (8192, 8205), (8208, 8223), (8242, 8247))  # X's weight-1 code points


class XConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``[transports.x]`` in botwerk.toml."""

    api_url: str = TWITTER
    poll_s: float = 20.0
    state_file: str = "./x-state.json"
    answer_backlog: bool = False
    max_tweets: int = 4
    timeout_s: float = 20.0

    def __post_init__(self) -> None:
        if not self.api_url.startswith(("http://", "https://")):
            raise ValueError(f"api_url must start with http:// or https://: {self.api_url!r}")
        if self.poll_s <= 0 or self.timeout_s <= 0:
            raise ValueError("poll_s and timeout_s must be more than 0 (seconds)")
        if not 1 <= self.max_tweets <= 25:
            raise ValueError(f"max_tweets must be 1 to 25 (a reply's tweets): {self.max_tweets}")


# Sections, in the same order in every transport module:
# 1. platform event -> envelope (pure); 2. reply -> platform call (pure); 3. the transport.


# 1. Platform event -> envelope.
class Mention(NamedTuple):
    """A tweet to answer, as the gateway takes it."""

    tweet_id: str
    conversation: str
    author_id: str
    author: str
    text: str


def strip_handles(text: str) -> str:
    """The tweet's text, unescaped (X sends ``&amp;``), without its leading @handles."""
    return _HANDLES.sub("", html.unescape(text), count=1).strip()


def authors(pages: list[dict[str, Any]]) -> dict[str, str]:
    """User id -> @username, from the pages' ``includes.users`` (the author expansion)."""
    users = [user for page in pages for user in page.get("includes", {}).get("users", [])]
    return {user["id"]: user.get("username", "") for user in users}


def oldest_first(pages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every tweet of the pages once, oldest first (ids are snowflakes: they grow in time)."""
    tweets = {tweet["id"]: tweet for page in pages for tweet in page.get("data", [])}
    return sorted(tweets.values(), key=lambda tweet: int(tweet["id"]))


def parse_mention(tweet: dict[str, Any], users: dict[str, str], me: str) -> Mention | None:
    """The mention in ``tweet``; None for the bot's own tweets, retweets, and no text."""
    retweet = any(ref.get("type") == "retweeted" for ref in tweet.get("referenced_tweets", []))
    text = strip_handles(tweet.get("text", ""))
    author_id = str(tweet.get("author_id", ""))
    if author_id == me or retweet or not text:
        return None
    tweet_id = str(tweet["id"])
    conversation = str(tweet.get("conversation_id") or tweet_id)
    return Mention(tweet_id, conversation, author_id, users.get(author_id, ""), text)


# 2. Reply -> platform call.
def weighted_length(text: str) -> int:
    """A tweet's length as X counts it: 1 for Latin and common punctuation, else 2."""
    return sum(1 if any(a <= ord(c) <= b for a, b in _LIGHT) else 2 for c in text)


def tweets_for(reply: Reply, max_tweets: int) -> tuple[list[str], int]:
    """The reply's text as tweets of at most 280 (weighted), and how many characters were
    dropped past ``max_tweets``. An error reply is posted like any other: it explains."""
    return split_text(reply.text, TWEET, measure=weighted_length, max_parts=max_tweets)


# 3. The transport.
class XTransport:
    """One X account: answers its mentions, polling every ``poll_s`` seconds."""

    name: ClassVar[str] = "x"
    max_text: ClassVar[int | None] = TWEET
    recoverable_errors: ClassVar[tuple[type[BaseException], ...]] = (
        requests.ConnectionError, requests.Timeout, tweepy.TwitterServerError, OSError,
    )  # fmt: skip

    def __init__(self, settings: Settings, bot: str) -> None:
        self.bot = bot
        self.config = transport_options(settings, "x", XConfig)
        key, key_secret, token, token_secret = (secret(v, what) for v, what in SECRETS.items())
        self.client = tweepy.Client(
            consumer_key=key, consumer_secret=key_secret, access_token=token,
            access_token_secret=token_secret, return_type=dict,
        )  # fmt: skip
        self.client.session.mount(f"{TWITTER}/", Rehost(self.config.api_url, self.config.timeout_s))
        self.since = SinceId(Path(self.config.state_file))
        self.me = ""
        self._stopped = asyncio.Event()
        self._lock = asyncio.Lock()  # one tweepy call at a time: they share a requests.Session
        self.stats: Counter[str] = Counter()
        """mentions, skipped, tweets, dropped_chars, rate_limited"""

    async def run(self, gateway: Gateway) -> None:
        if not await self._connect():
            return
        while not self._stopped.is_set():
            pages = await self._call(self._fetch_pages)
            if pages is None:
                return
            await self._submit(gateway, pages)
            if await pause(self.config.poll_s, self._stopped):
                return

    async def _connect(self) -> bool:
        """Learn the bot's own id; on a first start, skip the backlog. False when stopping."""
        try:
            me = await self._call(self.client.get_me, user_auth=True)
        except (tweepy.Unauthorized, tweepy.Forbidden) as exc:
            why = " ".join(str(exc).split())  # tweepy's text has a line per API message
            raise ConfigError(f"X refused the keys ({why}): check {', '.join(SECRETS)}") from exc
        if me is None:
            return False
        self.me = me["data"]["id"]
        name, every, url = me["data"].get("username"), self.config.poll_s, self.config.api_url
        log.info("answering mentions of @%s (user %s) every %gs at %s", name, self.me, every, url)
        if self.since.value is None and not self.config.answer_backlog:
            return await self._skip_backlog()
        return True

    async def _skip_backlog(self) -> bool:
        page = await self._call(
            self.client.get_users_mentions, self.me, max_results=5, user_auth=True
        )
        if page is None:
            return False
        if tweets := oldest_first([page]):
            self.since.save(tweets[-1]["id"])
        log.info("first start (no %s): earlier mentions are not answered, only those after "
                 "tweet %s (answer_backlog = true answers them)",
                 self.since.path, self.since.value or "none yet")  # fmt: skip
        return True

    def _fetch_pages(self) -> list[dict[str, Any]]:
        """The mentions since the last one handled, newest page first (on a worker thread)."""
        pages: list[dict[str, Any]] = []
        token = None
        while len(pages) < MAX_PAGES:
            pages.append(self.client.get_users_mentions(
                self.me, since_id=self.since.value, pagination_token=token, max_results=100,
                tweet_fields=TWEET_FIELDS, expansions=["author_id"], user_fields=["username"],
                user_auth=True,
            ))  # fmt: skip
            if not (token := pages[-1].get("meta", {}).get("next_token")):
                return pages
        log.warning("over %d new mentions since tweet %s: the older ones are skipped",
                    MAX_PAGES * 100, self.since.value)  # fmt: skip
        return pages

    async def _submit(self, gateway: Gateway, pages: list[dict[str, Any]]) -> None:
        users = authors(pages)
        for tweet in oldest_first(pages):
            mention = parse_mention(tweet, users, self.me)
            if mention is None:
                log.info("tweet %s skipped: the bot's own, a retweet, or no text", tweet["id"])
                self.stats["skipped"] += 1
            else:
                await gateway.submit(
                    conversation=mention.conversation, thread=mention.tweet_id, direct=True,
                    user=User(id=mention.author_id, name=mention.author), text=mention.text,
                    event_id=mention.tweet_id, meta={"x.author": mention.author},
                )  # fmt: skip
                self.stats["mentions"] += 1
            self.since.save(tweet["id"])

    async def send(self, reply: Reply) -> None:
        parts, dropped = tweets_for(reply, self.config.max_tweets)
        if dropped:
            log.warning("reply to tweet %s: %d characters past %d tweets dropped",
                        reply.thread, dropped, self.config.max_tweets)  # fmt: skip
            self.stats["dropped_chars"] += dropped
        answering = reply.thread  # None: a post, a new tweet (its thread follows under it)
        for part in parts:
            posted = await self._call(
                self.client.create_tweet, text=part, in_reply_to_tweet_id=answering,
                user_auth=True,
            )  # fmt: skip
            if posted is None:  # stopped while X's rate limit held it back
                raise Requeue(f"reply to tweet {reply.thread} not posted: stopping")
            answering = posted["data"]["id"]
            self.stats["tweets"] += 1

    async def stop(self) -> None:
        self._stopped.set()

    async def _call(self, call: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        """``call`` on a worker thread; after a 429, sleep until X's reset and call again.
        None when ``stop`` came first."""
        while not self._stopped.is_set():
            try:
                async with self._lock:
                    return await asyncio.to_thread(call, *args, **kwargs)
            except tweepy.TooManyRequests as exc:
                wait = _until(exc.reset_time)
                self.stats["rate_limited"] += 1
                asked = f"{exc.response.request.method} {exc.response.request.path_url}"
                log.warning("X rate limit on %s: waiting %.1fs for it to reset", asked, wait)
                await pause(wait, self._stopped)
        return None


def _until(reset: int | None) -> float:
    """Seconds to wait for an ``x-rate-limit-reset`` (epoch seconds): past it, within 16 min."""
    if reset is None:
        return 60.0
    return min(max(reset - time.time() + 0.5, 1.0), 960.0)
