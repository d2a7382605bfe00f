"""A local X (Twitter) API v2 for tests: the endpoints the X transport calls, over real HTTP.

A test::

    def test_it(x_api, x_secrets):        # FakeX on 127.0.0.1 in its own thread; keys in env
        tweet = x_api.mention("@botwerkbot ping", author="alice")
        ...                                 # the transport runs with api_url = x_api.url
        assert [t.text for t in x_api.replies_to(tweet)] == ["pong"]

Serves ``GET /2/users/me``; ``GET /2/users/:id/mentions`` newest first, honouring
``since_id``, ``max_results`` and ``pagination_token``, with the ``author_id`` expansion and
text HTML-escaped as X sends it (``&amp;``); and ``POST /2/tweets``, recorded in ``posted``:
a tweet over 280 (weighted as X weighs it) is a 400, one answering an unknown tweet a 403, as
on X. A posted tweet that names the bot's @handle shows up in its mentions, as on X. Every
request needs an OAuth 1.0a header with the consumer key (else 401) and is logged in
``calls``. ``fail_next(route, 429)`` answers the next call to a route with a 429 and
``x-rate-limit-reset`` one to two seconds ahead (``reset_at[route]``), or any other status.

Limits: OAuth signatures are not checked (requests signs for api.twitter.com); one user's
mentions only; pagination tokens are plain offsets.
"""

from __future__ import annotations

import asyncio
import html
import itertools
import math
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any, NamedTuple

import pytest
from aiohttp import web

ME = "/2/users/me"
MENTIONS = "/2/users/:id/mentions"
TWEETS = "/2/tweets"
KEY = "test-x-api-key"
SECRETS = {
    "X_API_KEY": KEY,
    "X_API_SECRET": "test-x-api-secret",
    "X_ACCESS_TOKEN": "1000-test-access-token",
    "X_ACCESS_TOKEN_SECRET": "test-access-token-secret",
}
_LIGHT = ((0, 4351), (8192, 8205), (8208, 8223), (8242, 8247))  # weight 1; the rest weighs 2


class Call(NamedTuple):
    """One request the server answered."""

    method: str
    route: str  # ME, MENTIONS or TWEETS
    query: dict[str, str]
    at: float  # time.time()
    status: int


class Posted(NamedTuple):
    """One tweet created by ``POST /2/tweets``."""

    id: str
    text: str
    in_reply_to: str | None
    at: float


class FakeX:
    """The X API v2 as far as the transport uses it, for one bot account."""

    def __init__(self, user_id: str = "1000", username: str = "botwerkbot") -> None:
        self.me = {"id": user_id, "name": "Botwerk", "username": username}
        self.users: dict[str, dict[str, str]] = {user_id: self.me}
        self.tweets: dict[str, dict[str, Any]] = {}
        self.mentions: list[str] = []
        self.posted: list[Posted] = []
        self.calls: list[Call] = []
        self.reset_at: dict[str, int] = {}
        self._failing: dict[str, list[int]] = {}
        self._ids = itertools.count(1_790_000_000_000_000_000)
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    # What tests do.
    def mention(
        self, text: str, author: str = "alice", *, retweet: bool = False, reply_to: str = ""
    ) -> str:
        """A tweet by ``author`` (a username) that mentions the bot; its id."""
        with self._lock:
            author_id = next((u["id"] for u in self.users.values() if u["username"] == author),
                             str(2000 + len(self.users)))  # fmt: skip
            self.users[author_id] = {"id": author_id, "name": author.title(), "username": author}
            return self._add(text, author_id, reply_to, retweet)

    def replies_to(self, tweet_id: str) -> list[Posted]:
        """The tweets posted in answer to ``tweet_id``, then each to the one before (a thread)."""
        thread: list[Posted] = []
        while answer := next((p for p in self.posted if p.in_reply_to == tweet_id), None):
            thread.append(answer)
            tweet_id = answer.id
        return thread

    def count(self, route: str, method: str = "") -> int:
        return sum(1 for c in self.calls if c.route == route and method in ("", c.method))

    def fail_next(self, route: str, status: int = 429, times: int = 1) -> None:
        """Answer the next ``times`` calls to ``route`` with ``status``."""
        with self._lock:
            self._failing.setdefault(route, []).extend([status] * times)

    # The server.
    def start(self) -> None:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(sock, ready), daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the fake X API did not start in 10 s")

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    def _serve(self, sock: socket.socket, ready: threading.Event) -> None:
        self._loop = loop = asyncio.new_event_loop()
        app = web.Application(middlewares=[self._gate])
        app.router.add_get(ME, self._get_me)
        app.router.add_get("/2/users/{id}/mentions", self._get_mentions)
        app.router.add_post(TWEETS, self._post_tweet)
        runner = web.AppRunner(app, access_log=None)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.SockSite(runner, sock).start())
        ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    @web.middleware
    async def _gate(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """Auth, failures on demand, and the log of calls."""
        route = {"GET": MENTIONS, "POST": TWEETS}.get(request.method, request.path)
        route = ME if request.path == ME else route
        auth = request.headers.get("Authorization", "")
        with self._lock:
            failing = self._failing.get(route)
            status = failing.pop(0) if failing else 0
        if not (auth.startswith("OAuth ") and f'oauth_consumer_key="{KEY}"' in auth):
            response = _problem(401, "Unauthorized")
        elif status == 429:
            response = self._too_many(route)
        elif status:
            response = _problem(status, "Service Unavailable")
        else:
            response = await handler(request)
        with self._lock:
            self.calls.append(Call(request.method, route, dict(request.query), time.time(),
                                   response.status))  # fmt: skip
        return response

    def _too_many(self, route: str) -> web.Response:
        self.reset_at[route] = reset = math.ceil(time.time() + 1)
        response = _problem(429, "Too Many Requests")
        response.headers.update({"x-rate-limit-limit": "10", "x-rate-limit-remaining": "0",
                                 "x-rate-limit-reset": str(reset)})  # fmt: skip
        return response

    async def _get_me(self, request: web.Request) -> web.Response:
        return web.json_response({"data": self.me})

    async def _get_mentions(self, request: web.Request) -> web.Response:
        if request.match_info["id"] != self.me["id"]:
            return _problem(404, "Not Found Error")
        query = request.query
        size, start = int(query.get("max_results", "10")), int(query.get("pagination_token", "0"))
        if not 5 <= size <= 100:
            return _problem(400, "Invalid Request")
        since = int(query.get("since_id", "0"))
        with self._lock:
            ids = sorted((i for i in self.mentions if int(i) > since), key=int, reverse=True)
            page = [self._shape(self.tweets[i], query) for i in ids[start : start + size]]
        if not page:
            return web.json_response({"meta": {"result_count": 0}})
        meta = {"result_count": len(page), "newest_id": page[0]["id"], "oldest_id": page[-1]["id"]}
        if start + size < len(ids):
            meta["next_token"] = str(start + size)
        body: dict[str, Any] = {"data": page, "meta": meta}
        if "author_id" in query.get("expansions", ""):
            who = {t["author_id"] for t in page}
            body["includes"] = {"users": [self.users[a] for a in sorted(who)]}
        return web.json_response(body)

    def _shape(self, tweet: dict[str, Any], query: Any) -> dict[str, Any]:
        """The tweet as X returns it: id, escaped text, and the fields asked for."""
        asked = query.get("tweet.fields", "").split(",")
        shaped = {k: v for k, v in tweet.items() if k in asked}
        return {**shaped, "id": tweet["id"], "text": html.escape(tweet["text"], quote=False),
                "edit_history_tweet_ids": [tweet["id"]]}  # fmt: skip

    async def _post_tweet(self, request: web.Request) -> web.Response:
        body = await request.json()
        text, answering = body.get("text", ""), body.get("reply", {}).get("in_reply_to_tweet_id")
        if not text or _weighted(text) > 280:
            return _problem(400, "Invalid Request", "Your Tweet text is too long or empty.")
        with self._lock:
            if answering is not None and answering not in self.tweets:
                return _problem(403, "Forbidden", "You attempted to reply to a deleted Tweet.")
            tweet_id = self._add(text, self.me["id"], answering or "", retweet=False)
            self.posted.append(Posted(tweet_id, text, answering, time.time()))
        return web.json_response(
            {"data": {"id": tweet_id, "text": text, "edit_history_tweet_ids": [tweet_id]}},
            status=201,
        )

    def _add(self, text: str, author_id: str, reply_to: str, retweet: bool) -> str:
        """Store a tweet (with the lock held); a tweet naming the bot is one of its mentions."""
        tweet_id = str(next(self._ids))
        parent = self.tweets.get(reply_to, {})
        conversation = parent.get("conversation_id", tweet_id)
        tweet: dict[str, Any] = {"id": tweet_id, "text": text, "author_id": author_id,
                                 "conversation_id": conversation}  # fmt: skip
        if parent:
            tweet["in_reply_to_user_id"] = parent["author_id"]
            tweet["referenced_tweets"] = [{"type": "replied_to", "id": reply_to}]
        if retweet:
            tweet["referenced_tweets"] = [{"type": "retweeted", "id": reply_to or tweet_id}]
        self.tweets[tweet_id] = tweet
        if f"@{self.me['username']}".lower() in text.lower():
            self.mentions.append(tweet_id)
        return tweet_id


def _problem(status: int, title: str, detail: str = "") -> web.Response:
    """An error body shaped as X's (RFC 7807 problem details)."""
    body = {"title": title, "detail": detail or title, "type": "about:blank", "status": status}
    return web.json_response(body, status=status)


def _weighted(text: str) -> int:
    return sum(1 if any(a <= ord(c) <= b for a, b in _LIGHT) else 2 for c in text)


@pytest.fixture
def x_api() -> Iterator[FakeX]:
    """A :class:`FakeX` serving at ``x_api.url`` for one test."""
    server = FakeX()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def x_secrets(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The four X_* variables set to the keys :class:`FakeX` takes; also returned."""
    for variable, value in SECRETS.items():
        monkeypatch.setenv(variable, value)
    return dict(SECRETS)
