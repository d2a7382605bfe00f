"""The Slack transport through the real slack_sdk clients, against a local Slack (FakeSlack)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time

import pytest

from botwerk.cores.demo import DemoBot
from botwerk.cores.runtime import Core
from botwerk.infra import logs
from botwerk.infra.memory import MemoryBus
from botwerk.infra.settings import ConfigError
from botwerk.schemas import Reply
from botwerk.transports.base import TransportRole
from botwerk.transports.kit import MissingSecret
from botwerk.transports.slack import (
    WARNING,
    SlackDown,
    SlackRefused,
    SlackTransport,
    parse_event,
    posts,
)
from botwerk.workers.echo.serve import EchoModel
from botwerk.workers.runtime import Worker
from tests.support.slack import BOT_USER, HUMAN, RecordingGateway, envelope, message
from tests.support.waiting import eventually


def slack_settings(settings, **options):
    return settings.model_copy(update={"transports": {"slack": options}})


@contextlib.asynccontextmanager
async def running(transport, gateway):
    """``transport.run(gateway)`` in the background; stopped (and awaited) afterwards."""
    task = asyncio.create_task(transport.run(gateway))
    try:
        yield task
    finally:
        await transport.stop()
        await asyncio.wait_for(task, 10)


@pytest.fixture
async def socket(settings, fake_slack, slack_secrets):
    """A Slack transport in Socket Mode, connected to the fake Slack, with a stub gateway."""
    transport = SlackTransport(slack_settings(settings, api_url=fake_slack.api_url), "demo")
    gateway = RecordingGateway()
    async with running(transport, gateway):
        await fake_slack.wait_connected()
        yield transport, gateway


# 1. Slack event -> what the mesh gets (pure).
def test_a_mention_is_renamed_and_threaded_a_dm_is_direct():
    said = parse_event(message("<@UBOT> hi &lt;3 &amp; <@UOTHER>", ts="1.5"), BOT_USER, "demo")
    assert (said.text, said.thread, said.direct) == ("@demo hi <3 & <@UOTHER>", "1.5", False)
    assert said.key == "C1:1.5"
    dm = parse_event(message("ping", ts="2.0", channel="D1", channel_type="im"), BOT_USER, "demo")
    assert (dm.text, dm.thread, dm.direct, dm.channel) == ("ping", None, True, "D1")
    threaded = parse_event(message("<@UBOT|demo> x", thread_ts="1.0"), BOT_USER, "demo")
    assert (threaded.text, threaded.thread) == ("@demo x", "1.0")
    mention = parse_event(message("<@UBOT> y", kind="app_mention", ts="3.0"), BOT_USER, "demo")
    assert mention.direct is False and mention.thread == "3.0"


@pytest.mark.parametrize(
    "event",
    [
        message("edited", subtype="message_changed"),
        message("", subtype="message_deleted"),
        message("joined", subtype="channel_join"),
        message("from a bot", bot_id="B2", subtype="bot_message"),
        message("from another bot's user", bot_id="B2"),
        message("my own post", user=BOT_USER),
        message("   "),
        {"type": "reaction_added", "user": HUMAN, "reaction": "tada"},
    ],
    ids=["edit", "delete", "join", "bot_message", "bot_user", "own", "blank", "reaction"],
)
def test_what_is_not_a_user_message_is_ignored(event):
    assert parse_event(event, BOT_USER, "demo") is None


def test_a_thread_broadcast_is_a_user_message():
    said = parse_event(message("hi", subtype="thread_broadcast", thread_ts="1.0"), "U", "demo")
    assert said.thread == "1.0"


# 2. Reply -> chat.postMessage calls (pure).
def test_a_long_reply_is_split_in_its_thread_and_capped():
    reply = Reply(bot="demo", conversation="C1", thread="1.5", text=("word " * 2000).strip())
    parts, dropped = posts(reply, 4000, max_parts=5)
    assert len(parts) == 3 and dropped == 0
    assert all(len(p.text) <= 4000 and (p.channel, p.thread_ts) == ("C1", "1.5") for p in parts)
    parts, dropped = posts(reply, 1000, max_parts=2)
    assert len(parts) == 2 and dropped > 7000
    error = Reply(bot="demo", conversation="D1", text="a < b & c", error="timeout")
    [only], _ = posts(error, 4000, max_parts=5)
    assert (only.text, only.thread_ts) == (f"{WARNING} a &lt; b &amp; c", None)


# Construction: options and secrets.
def test_a_missing_bot_token_is_one_line_naming_it(settings, monkeypatch):
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-1")
    with pytest.raises(MissingSecret) as caught:
        SlackTransport(settings, "demo")
    assert str(caught.value).startswith("SLACK_BOT_TOKEN is not set: export it with")
    assert "\n" not in str(caught.value)


def test_bad_options_and_a_wrong_app_token_stop_it_at_construction(settings, slack_secrets):
    with pytest.raises(ConfigError, match=r"unknown key 'prot' \(did you mean 'port'\?\)"):
        SlackTransport(slack_settings(settings, prot=1), "demo")
    with pytest.raises(ConfigError, match="mode"):
        SlackTransport(slack_settings(settings, mode="rtm"), "demo")
    with pytest.raises(ConfigError, match="path must start with /"):
        SlackTransport(slack_settings(settings, mode="http", path="events"), "demo")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SLACK_APP_TOKEN", "xoxb-wrong-kind")
        with pytest.raises(ConfigError, match="SLACK_APP_TOKEN must be an app-level token"):
            SlackTransport(settings, "demo")


# 3. Socket Mode, through slack_sdk's SocketModeClient.
async def test_a_mention_is_acked_submitted_and_answered_in_its_thread(socket, fake_slack):
    transport, gateway = socket
    sent = envelope(message("<@UBOT> hello", ts="1700.000100", kind="app_mention"))
    await fake_slack.push(sent)
    await eventually(lambda: gateway.submitted, what="the mention submitted")
    assert fake_slack.acks == [sent["envelope_id"]]
    [submitted] = gateway.submitted
    assert (submitted["conversation"], submitted["thread"], submitted["text"]) == (
        "C1", "1700.000100", "@demo hello"
    )  # fmt: skip
    assert (submitted["direct"], submitted["event_id"], submitted["user"].id) == (
        False, "C1:1700.000100", HUMAN
    )  # fmt: skip
    # The gateway hands the bot's reply back with the conversation and thread it was given.
    reply = Reply(bot="demo", conversation="C1", thread=submitted["thread"], text="echo: hello")
    await transport.send(reply)
    assert fake_slack.posts == [
        {"channel": "C1", "text": "echo: hello", "thread_ts": "1700.000100"}
    ]
    assert fake_slack.tokens[0] == "xoxb-test-bot-token"  # auth.test, with the bot token


async def test_a_replay_is_dropped_an_edit_ignored_a_dm_answered(socket, fake_slack):
    transport, gateway = socket
    first = envelope(message("<@UBOT> once", ts="5.1"), event_id="EvSAME")
    replay = {**envelope(message("<@UBOT> once", ts="5.1"), event_id="EvSAME"), "retry_attempt": 1}
    edit = envelope(message("", subtype="message_changed", message={"text": "<@UBOT> twice"}))
    dm = envelope(message("no mention needed", ts="6.1", channel="D9", channel_type="im"))
    for sent in (first, replay, edit, dm):
        await fake_slack.push(sent)
    await eventually(lambda: len(fake_slack.acks) == 4, what="every envelope acked")
    await eventually(lambda: transport.stats["received"] == 4, what="every envelope handled")
    assert [s["text"] for s in gateway.submitted] == ["@demo once", "no mention needed"]
    assert (transport.stats["duplicate_events"], transport.stats["ignored"]) == (1, 1)
    dm_submit = gateway.submitted[1]
    assert (dm_submit["direct"], dm_submit["thread"]) == (True, None)
    await transport.send(Reply(bot="demo", conversation="D9", thread=None, text="hi"))
    assert fake_slack.posts == [{"channel": "D9", "text": "hi"}]  # inline, not in a thread


async def test_a_dropped_socket_raises_a_recoverable_error(settings, fake_slack, slack_secrets):
    transport = SlackTransport(slack_settings(settings, api_url=fake_slack.api_url), "demo")
    task = asyncio.create_task(transport.run(RecordingGateway()))
    await fake_slack.wait_connected()
    await fake_slack.drop()
    with pytest.raises(SlackDown) as caught:
        await asyncio.wait_for(task, 10)
    assert isinstance(caught.value, transport.recoverable_errors)


async def test_an_unreachable_slack_is_recoverable_a_refused_token_is_not(settings, monkeypatch):
    monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-1")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    nowhere = SlackTransport(slack_settings(settings, api_url="http://127.0.0.1:9/api/"), "demo")
    with pytest.raises(nowhere.recoverable_errors):
        await nowhere.run(RecordingGateway())


async def test_a_refused_bot_token_is_not_retried(settings, fake_slack, monkeypatch):
    monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-1")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxp-not-a-bot-token")
    transport = SlackTransport(slack_settings(settings, api_url=fake_slack.api_url), "demo")
    with pytest.raises(SlackRefused, match=r"Slack refused auth\.test: invalid_auth") as caught:
        await transport.run(RecordingGateway())
    assert not isinstance(caught.value, transport.recoverable_errors)


# Sending: rate limits and long replies.
async def test_a_429_is_waited_out_then_posted(settings, fake_slack, slack_secrets):
    transport = SlackTransport(slack_settings(settings, api_url=fake_slack.api_url), "demo")
    fake_slack.rate_limits, fake_slack.retry_after = 1, 1
    await transport.send(Reply(bot="demo", conversation="C1", thread="1.0", text="later"))
    first, second = fake_slack.call_times["chat.postMessage"]
    assert second - first >= 1.0  # Retry-After: 1
    assert fake_slack.posts == [{"channel": "C1", "text": "later", "thread_ts": "1.0"}]
    assert transport.stats["rate_limited"] == 1


async def test_stop_ends_a_rate_limit_wait(settings, fake_slack, slack_secrets):
    transport = SlackTransport(slack_settings(settings, api_url=fake_slack.api_url), "demo")
    fake_slack.rate_limits, fake_slack.retry_after = 1, 60
    sending = asyncio.create_task(transport.send(Reply(bot="demo", conversation="C1", text="x")))
    await eventually(lambda: transport.stats["rate_limited"] == 1)
    started = time.monotonic()
    await transport.stop()
    with pytest.raises(SlackDown, match="stopped while rate limited"):
        await sending
    assert time.monotonic() - started < 2 and fake_slack.posts == []


async def test_a_long_reply_goes_as_several_posts_in_the_thread(
    settings, fake_slack, slack_secrets
):
    options = {"api_url": fake_slack.api_url, "max_parts": 3}
    transport = SlackTransport(slack_settings(settings, **options), "demo")
    text = "\n\n".join(f"paragraph {i} " + "x" * 1500 for i in range(12))  # ~18,000 characters
    await transport.send(Reply(bot="demo", conversation="C1", thread="9.9", text=text))
    assert len(fake_slack.posts) == 3
    assert all(p["thread_ts"] == "9.9" and len(p["text"]) <= 4000 for p in fake_slack.posts)
    assert fake_slack.posts[0]["text"].startswith("paragraph 0 ")
    assert fake_slack.posts[-1]["text"].endswith("…")
    assert transport.stats["dropped_chars"] > 5000


# The whole path in one process: real Gateway, core and worker on the in-process bus.
async def test_one_message_seen_as_mention_message_and_retry_is_answered_once(
    settings, fake_slack, slack_secrets
):
    bus = MemoryBus(settings.max_message_bytes)
    await bus.start()
    transport = SlackTransport(slack_settings(settings, api_url=fake_slack.api_url), "demo")
    roles = [Worker(bus, settings, EchoModel(settings)), Core(bus, settings, DemoBot(settings))]
    roles.append(TransportRole(bus, settings, transport, "demo"))
    for role in roles:
        await role.start()
    try:
        await fake_slack.wait_connected()
        said = message("<@UBOT> hello there", ts="42.000001")
        await fake_slack.push(envelope({**said, "type": "app_mention"}, event_id="EvA"))
        await fake_slack.push(envelope(said, event_id="EvB"))  # the same message, as `message`
        await fake_slack.push(envelope(said, event_id="EvB"))  # and Slack's retry of that
        await eventually(lambda: fake_slack.posts, what="a reply posted")
        await eventually(lambda: transport.stats["received"] == 3)
        await roles[-1].gateway.drain()
    finally:
        for role in reversed(roles):
            await role.stop()
        await bus.close()
    assert fake_slack.posts == [
        {"channel": "C1", "text": "echo: hello there", "thread_ts": "42.000001"}
    ]


async def test_after_a_dropped_socket_it_reconnects_and_answers(
    settings, fake_slack, slack_secrets
):
    bus = MemoryBus(settings.max_message_bytes)
    await bus.start()
    transport = SlackTransport(slack_settings(settings, api_url=fake_slack.api_url), "demo")
    roles = [
        Core(bus, settings, DemoBot(settings)),
        TransportRole(bus, settings, transport, "demo"),
    ]
    for role in roles:
        await role.start()
    try:
        await fake_slack.wait_connected()
        await fake_slack.drop()
        await fake_slack.wait_connected(2)  # serve_forever ran the transport again
        await fake_slack.push(envelope(message("ping", channel="D1", channel_type="im")))
        await eventually(lambda: fake_slack.posts, what="a reply after reconnecting")
    finally:
        for role in reversed(roles):
            await role.stop()
        await bus.close()
    assert fake_slack.posts == [{"channel": "D1", "text": "pong"}]
    assert fake_slack.calls["apps.connections.open"] == 2


async def test_at_debug_the_socket_mode_ticket_is_never_logged(
    settings, fake_slack, slack_secrets, capsys
):
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    logs.setup("DEBUG", "text", "transport:slack")  # as `botwerk --log-level DEBUG` does
    try:
        transport = SlackTransport(slack_settings(settings, api_url=fake_slack.api_url), "demo")
        async with running(transport, RecordingGateway()):
            await fake_slack.wait_connected()
            await fake_slack.push(envelope(message("ping", channel="D1", channel_type="im")))
            await eventually(lambda: fake_slack.acks, what="the envelope acked")
    finally:
        root.handlers[:], root.level = handlers, level
    err = capsys.readouterr().err
    assert "ticket=***" in err  # slack_sdk did log the URL, masked
    assert re.findall(r"ticket=(?!\*\*\*)\S{0,40}", err) == []
