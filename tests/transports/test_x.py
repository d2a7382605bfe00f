"""The X transport through the real tweepy client, against a local X API (tests.support.x)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time

import pytest

from botwerk.cores.demo import DemoBot
from botwerk.cores.runtime import Core
from botwerk.infra import topology
from botwerk.infra.errors import Requeue
from botwerk.infra.memory import MemoryBus
from botwerk.infra.settings import ConfigError
from botwerk.schemas import Reply
from botwerk.testing import admin
from botwerk.transports.base import Gateway, serve_forever
from botwerk.transports.kit import MissingSecret
from botwerk.transports.x import (
    XTransport,
    parse_mention,
    strip_handles,
    tweets_for,
    weighted_length,
)
from botwerk.workers.echo.serve import EchoModel
from botwerk.workers.runtime import Worker
from tests.support.waiting import eventually
from tests.support.x import ME, MENTIONS, SECRETS, TWEETS

BOT = "@botwerkbot"


class Recording(Gateway):
    """The real gateway, keeping what the transport submitted."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.submitted = []

    async def submit(self, **kwargs):
        self.submitted.append(kwargs)
        return await super().submit(**kwargs)


def x_settings(settings, x_api, tmp_path, **options):
    options = {"api_url": x_api.url, "poll_s": 0.1, "state_file": str(tmp_path / "x.json"),
               **options}  # fmt: skip
    return settings.model_copy(update={"transports": {"x": options}})


@contextlib.asynccontextmanager
async def bridge(settings, x_api, tmp_path, **options):
    """The X transport serving the demo bot (core and echo worker) on the in-process bus."""
    settings = x_settings(settings, x_api, tmp_path, **options)
    bus = MemoryBus(settings.max_message_bytes)
    await bus.start()
    roles = [Worker(bus, settings, EchoModel(settings)), Core(bus, settings, DemoBot(settings))]
    for role in roles:
        await role.start()
    transport = XTransport(settings, "demo")
    gateway = Recording(bus, settings, transport, "demo")
    await gateway.start()
    serving = asyncio.create_task(serve_forever(transport, gateway, settings))
    try:
        yield transport, gateway
    finally:
        await transport.stop()
        try:
            await asyncio.wait_for(serving, 10)  # raises what run() raised, if anything
        finally:
            await gateway.stop()
            for role in reversed(roles):
                await role.stop()
            await bus.close()


def answered(x_api, tweet, count=1):
    return lambda: len(x_api.replies_to(tweet)) >= count


def test_a_tweet_becomes_a_direct_message_without_its_leading_handles():
    assert strip_handles(f"{BOT} @bob  hello &amp; &lt;welcome&gt;") == "hello & <welcome>"
    assert strip_handles(f"{BOT}: ping") == "ping"
    assert strip_handles(f"ping {BOT} later") == f"ping {BOT} later"
    assert strip_handles(f"{BOT} ") == ""
    tweet = {"id": "7", "text": f"{BOT} hi", "author_id": "2", "conversation_id": "5"}
    mention = parse_mention(tweet, {"2": "alice"}, me="1")
    assert mention == ("7", "5", "2", "alice", "hi")
    assert parse_mention({**tweet, "author_id": "1"}, {}, me="1") is None  # its own
    retweet = [{"type": "retweeted", "id": "3"}]
    assert parse_mention({**tweet, "referenced_tweets": retweet}, {}, me="1") is None
    assert parse_mention({**tweet, "text": BOT}, {}, me="1") is None


def test_replies_are_measured_as_x_weighs_them():
    assert weighted_length("abc é") == 5 and weighted_length("日本語") == 6
    parts, dropped = tweets_for(Reply(bot="demo", conversation="c", text="日本語。" * 100), 9)
    assert len(parts) == 3 and dropped == 0
    assert all(weighted_length(p) <= 280 for p in parts)


async def test_mentions_are_submitted_oldest_first_and_answered_in_their_thread(
    settings, x_api, x_secrets, tmp_path
):
    first = x_api.mention(f"{BOT} @bob hello & <welcome>", author="alice")
    own = x_api.mention(f"{BOT} a note to self", author="botwerkbot")
    retweet = x_api.mention(f"RT @alice: {BOT} hello", author="carol", retweet=True)
    second = x_api.mention(f"{BOT} ping", author="bob", reply_to=first)
    async with bridge(settings, x_api, tmp_path, answer_backlog=True) as (transport, gateway):
        await eventually(answered(x_api, first), what="a reply to the first mention")
        await eventually(answered(x_api, second), what="a reply to the second mention")
    got = [(s["text"], s["user"].name, s["thread"], s["event_id"], s["direct"])
           for s in gateway.submitted]  # fmt: skip
    assert got == [
        ("hello & <welcome>", "alice", first, first, True),
        ("ping", "bob", second, second, True),
    ]
    assert gateway.submitted[1]["conversation"] == first  # bob answered alice: one thread
    assert [t.text for t in x_api.replies_to(first)] == ["echo: hello & <welcome>"]
    assert [t.text for t in x_api.replies_to(second)] == ["pong"]
    assert x_api.replies_to(own) == x_api.replies_to(retweet) == []
    assert transport.stats["skipped"] == 2 and x_api.count(ME) == 1


async def test_a_long_reply_is_a_thread_of_tweets_capped(settings, x_api, x_secrets, tmp_path):
    transport = XTransport(x_settings(settings, x_api, tmp_path, max_tweets=3), "demo")
    mention = x_api.mention(f"{BOT} tell me a story")
    story = " ".join(f"Sentence {i} of a long story." for i in range(60))  # ~1,800 characters
    await transport.send(Reply(bot="demo", conversation=mention, thread=mention, text=story))
    thread = x_api.replies_to(mention)
    assert len(thread) == 3 == len(x_api.posted)  # each tweet answers the one before it
    assert all(len(t.text) <= 280 for t in thread) and thread[-1].text.endswith(" …")
    assert thread[0].text.startswith("Sentence 0 of") and transport.stats["dropped_chars"] > 900

    other = x_api.mention(f"{BOT} slow 99999 hi")
    took_too_long = Reply(bot="demo", conversation=other, thread=other, text="Sorry, too slow.",
                          error="timeout")  # fmt: skip
    await transport.send(took_too_long)
    assert [t.text for t in x_api.replies_to(other)] == ["Sorry, too slow."]


async def test_a_rate_limited_poll_waits_for_the_reset(settings, x_api, x_secrets, tmp_path):
    x_api.fail_next(MENTIONS, 429)
    mention = x_api.mention(f"{BOT} ping")
    async with bridge(settings, x_api, tmp_path, answer_backlog=True) as (transport, _):
        await eventually(answered(x_api, mention), what="the mention answered after the reset")
    polls = [c for c in x_api.calls if c.route == MENTIONS]
    assert polls[0].status == 429 and polls[1].status == 200
    assert polls[1].at >= x_api.reset_at[MENTIONS]  # not one call before X's reset
    assert transport.stats["rate_limited"] == 1


async def test_a_rate_limited_post_waits_and_stop_ends_the_wait(
    settings, x_api, x_secrets, tmp_path
):
    transport = XTransport(x_settings(settings, x_api, tmp_path), "demo")
    mention = x_api.mention(f"{BOT} ping")
    x_api.fail_next(TWEETS, 429)
    await transport.send(Reply(bot="demo", conversation=mention, thread=mention, text="pong"))
    assert [t.text for t in x_api.replies_to(mention)] == ["pong"]
    assert x_api.count(TWEETS) == 2 and x_api.posted[0].at >= x_api.reset_at[TWEETS]

    x_api.fail_next(TWEETS, 429)
    sending = asyncio.create_task(
        transport.send(Reply(bot="demo", conversation=mention, thread=mention, text="again"))
    )
    await eventually(lambda: x_api.count(TWEETS) == 3, what="the second 429")
    started = time.monotonic()
    await transport.stop()
    with pytest.raises(Requeue):
        await asyncio.wait_for(sending, 5)
    assert time.monotonic() - started < 0.5  # not at X's reset, a second or two away
    assert len(x_api.posted) == 1


async def test_a_server_error_reconnects(settings, x_api, x_secrets, tmp_path):
    x_api.fail_next(MENTIONS, 503)
    mention = x_api.mention(f"{BOT} ping")
    async with bridge(settings, x_api, tmp_path, answer_backlog=True):
        await eventually(answered(x_api, mention), what="the mention answered after a 503")
    assert x_api.count(ME) == 2  # run() raised TwitterServerError; serve_forever ran it again


async def test_refused_keys_stop_the_bridge_naming_the_variables(
    settings, x_api, x_secrets, tmp_path, monkeypatch
):
    monkeypatch.setenv("X_API_KEY", "a-revoked-key")
    with pytest.raises(
        ConfigError,
        match=r"X refused the keys \(401 Unauthorized[^\n]*\): check X_API_KEY, X_API_S",
    ):
        async with bridge(settings, x_api, tmp_path):
            await eventually(lambda: x_api.count(ME) == 1, what="the bridge asking who it is")
    assert x_api.count(ME) == 1  # not recoverable: serve_forever raised it, no retry


async def test_since_id_survives_a_restart(settings, x_api, x_secrets, tmp_path):
    old = x_api.mention(f"{BOT} first")
    async with bridge(settings, x_api, tmp_path, answer_backlog=True):
        await eventually(answered(x_api, old))
    assert json.loads((tmp_path / "x.json").read_text()) == {"since_id": old}
    new = x_api.mention(f"{BOT} second")
    calls_before = len(x_api.calls)
    async with bridge(settings, x_api, tmp_path, answer_backlog=True) as (_, gateway):
        await eventually(answered(x_api, new))
    polls = [c for c in x_api.calls[calls_before:] if c.route == MENTIONS]
    assert polls[0].query["since_id"] == old
    assert [s["text"] for s in gateway.submitted] == ["second"]
    assert len(x_api.replies_to(old)) == 1


async def test_a_first_start_skips_the_backlog(settings, x_api, x_secrets, tmp_path):
    backlog = [x_api.mention(f"{BOT} old {i}") for i in range(3)]
    async with bridge(settings, x_api, tmp_path) as (_, gateway):
        await eventually(lambda: x_api.count(MENTIONS) >= 3, what="polls after the first start")
        new = x_api.mention(f"{BOT} new")
        await eventually(answered(x_api, new))
    first = next(c for c in x_api.calls if c.route == MENTIONS)
    assert "since_id" not in first.query
    assert [s["text"] for s in gateway.submitted] == ["new"]
    assert all(x_api.replies_to(t) == [] for t in backlog)


async def test_a_backlog_of_many_pages_is_answered_in_order(settings, x_api, x_secrets, tmp_path):
    mentions = [x_api.mention(f"{BOT} n{i}", author=f"user{i % 7}") for i in range(120)]
    async with bridge(settings, x_api, tmp_path, answer_backlog=True) as (_, gateway):
        await eventually(lambda: len(x_api.posted) == 120, what="120 replies")
    assert [s["text"] for s in gateway.submitted] == [f"n{i}" for i in range(120)]
    assert [s["user"].name for s in gateway.submitted[:8]] == [f"user{i % 7}" for i in range(8)]
    pages = [c.query.get("pagination_token") for c in x_api.calls if c.route == MENTIONS][:2]
    assert pages == [None, "100"]
    assert all(x_api.replies_to(t)[0].text == f"echo: n{i}" for i, t in enumerate(mentions))


def test_settings_and_secrets_are_checked_before_connecting(
    settings, x_api, x_secrets, tmp_path, monkeypatch
):
    monkeypatch.delenv("X_ACCESS_TOKEN")
    with pytest.raises(MissingSecret) as missing:
        XTransport(x_settings(settings, x_api, tmp_path), "demo")
    assert str(missing.value).startswith("X_ACCESS_TOKEN is not set: export it with")
    assert "\n" not in str(missing.value)
    monkeypatch.setenv("X_ACCESS_TOKEN", SECRETS["X_ACCESS_TOKEN"])
    with pytest.raises(ConfigError, match=r"\[transports.x\].*poll_s"):
        XTransport(x_settings(settings, x_api, tmp_path, poll_s=0), "demo")
    with pytest.raises(ConfigError, match=r"unknown key 'pol_s' \(did you mean 'poll_s'"):
        XTransport(x_settings(settings, x_api, tmp_path, pol_s=5), "demo")
    (tmp_path / "x.json").write_text("{not json")
    with pytest.raises(ConfigError, match=r"state_file .*x.json has no since_id"):
        XTransport(x_settings(settings, x_api, tmp_path), "demo")


def test_a_missing_secret_stops_the_command_with_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("X_")}
    env.update(BOTWERK_AMQP_URL="amqp://guest:guest@127.0.0.1:1/", X_API_KEY="k")
    done = subprocess.run(
        [sys.executable, "-m", "botwerk", "transport", "x", "--bot", "demo"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "Error: X_API_SECRET is not set: export it with your X app's API key secret "
        "(consumer secret)"
    ]


@pytest.mark.broker
@pytest.mark.slow
async def test_a_mention_is_answered_by_the_mesh_as_processes(
    processes, amqp_url, settings, x_api, tmp_path
):
    names = topology.Names(settings.namespace)
    processes.start("worker", "echo")
    processes.start("core", "demo")
    options = {"api_url": x_api.url, "poll_s": 0.2, "state_file": str(tmp_path / "x.json")}
    processes.env.update(SECRETS, BOTWERK_TRANSPORTS=json.dumps({"x": options}))
    bridge_process = processes.start("transport", "x", "--bot", "demo")
    for queue in (names.infer_queue("echo"), names.core_queue("demo")):
        await asyncio.to_thread(admin.wait_for_consumers, amqp_url, queue)
    await eventually(lambda: x_api.count(MENTIONS) >= 2, timeout=30, what="the bridge polling")
    mention = x_api.mention(f"{BOT} hello from X", author="alice")
    await eventually(answered(x_api, mention), timeout=20, what="the mesh's reply on X")
    assert [t.text for t in x_api.replies_to(mention)] == ["echo: hello from X"]
    assert bridge_process.poll() is None, processes.log_of(bridge_process)
    assert "answering mentions of @botwerkbot" in processes.log_of(bridge_process)
