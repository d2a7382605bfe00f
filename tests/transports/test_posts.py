"""Posts reach each platform: the console's output, the web sockets of a named room, Slack's
``chat.postMessage`` (the real SDK against the local Slack server), and a Slack bridge that
was down when the post was made (OS processes, real RabbitMQ)."""

from __future__ import annotations

import asyncio
import io
import json
import logging

import pytest
from websockets.asyncio.client import connect

from botwerk.infra import topology
from botwerk.infra.memory import MemoryBus
from botwerk.infra.posts import Poster
from botwerk.infra.rabbit import RabbitBus
from botwerk.testing import admin
from botwerk.transports.base import Gateway, TransportRole
from botwerk.transports.console import ConsoleTransport
from botwerk.transports.irc import IrcTransport
from botwerk.transports.slack import SlackTransport
from botwerk.transports.web import WebTransport
from botwerk.transports.x import XTransport
from tests.support.slack import SECRETS
from tests.support.waiting import eventually
from tests.transports.test_irc import NICK, irc_settings, joined
from tests.transports.test_x import x_settings


@pytest.fixture
async def memory_bus(settings):
    bus = MemoryBus(settings.max_message_bytes)
    await bus.start()
    yield bus
    await bus.close()


async def test_a_post_prints_on_the_console(memory_bus, settings):
    out = io.StringIO()
    transport = ConsoleTransport(settings, "demo", stdin=io.StringIO(), stdout=out)
    gateway = Gateway(memory_bus, settings, transport, bot="demo")
    await gateway.start()
    try:
        poster = Poster(memory_bus, settings)
        await poster.post(bot="billybard", transport="console", conversation="console",
                          text="Good morning")  # fmt: skip
        await eventually(lambda: out.getvalue(), what="the post printed")
    finally:
        await gateway.stop()
    assert out.getvalue() == "billybard> Good morning\n"


async def test_a_post_to_a_room_reaches_every_socket_in_it_and_no_other(
    memory_bus, settings, caplog
):
    web = settings.model_copy(update={"transports": {"web": {"port": 0}}})
    transport = WebTransport(web, "demo")
    role = TransportRole(memory_bus, settings, transport, "demo")
    await role.start()
    base = transport.url.replace("http", "ws") + "/ws"
    poster = Poster(memory_bus, settings)
    try:
        async with (
            connect(base + "?room=lobby") as first,
            connect(base + "?room=lobby") as second,
            connect(base + "?room=kitchen") as elsewhere,
            connect(base) as alone,
        ):
            await eventually(lambda: len(transport._rooms.get("#lobby", ())) == 2)
            await poster.post(bot="demo", transport="web", conversation="#lobby", text="Tea!")
            frames = [json.loads(await asyncio.wait_for(p.recv(), 5)) for p in (first, second)]
            assert [(f["reply"], f["bot"]) for f in frames] == [("Tea!", "demo")] * 2
            for page in (elsewhere, alone):
                with pytest.raises(TimeoutError):
                    await asyncio.wait_for(page.recv(), 0.3)
            with caplog.at_level(logging.INFO, "botwerk.transport.web"):
                await poster.post(bot="demo", transport="web", conversation="#attic", text="?")
                await eventually(lambda: role.gateway.stats["posted"] == 2)
    finally:
        await role.stop()
    assert transport.stats["dropped_replies"] == 1  # nobody in #attic: dropped, and acked
    assert "reply for #attic dropped" in caplog.text


async def test_a_bad_room_name_is_refused(memory_bus, settings):
    web = settings.model_copy(update={"transports": {"web": {"port": 0}}})
    transport = WebTransport(web, "demo")
    role = TransportRole(memory_bus, settings, transport, "demo")
    await role.start()
    try:
        with pytest.raises(Exception, match="403"):
            async with connect(transport.url.replace("http", "ws") + "/ws?room=a.b"):
                pass
    finally:
        await role.stop()


async def test_a_post_goes_to_slack_through_chat_post_message(
    memory_bus, settings, fake_slack, slack_secrets
):
    options = {"slack": {"api_url": fake_slack.api_url}}
    transport = SlackTransport(settings.model_copy(update={"transports": options}), "demo")
    role = TransportRole(memory_bus, settings, transport, "demo")
    await role.start()
    try:
        await Poster(memory_bus, settings).post(
            bot="demo", transport="slack", conversation="C0POETRY", text="Good morning"
        )
        await eventually(lambda: fake_slack.posts, what="chat.postMessage")
    finally:
        await role.stop()
    assert fake_slack.posts == [{"channel": "C0POETRY", "text": "Good morning"}]


async def test_a_post_on_x_is_a_new_tweet_or_a_reply_in_its_thread(
    memory_bus, settings, x_api, x_secrets, tmp_path
):
    transport = XTransport(x_settings(settings, x_api, tmp_path), "demo")
    gateway = Gateway(memory_bus, settings, transport, bot="demo")
    await gateway.start()
    poster = Poster(memory_bus, settings)
    try:
        await poster.post(bot="demo", transport="x", conversation="x", text="Good morning, X")
        await eventually(lambda: x_api.posted, what="the new tweet")
        first = x_api.posted[0].id
        await poster.post(
            bot="demo", transport="x", conversation="x", text="and more", thread=first
        )
        await eventually(lambda: len(x_api.posted) == 2, what="the reply")
    finally:
        await gateway.stop()
    assert [(t.text, t.in_reply_to) for t in x_api.posted] == [
        ("Good morning, X", None),
        ("and more", first),
    ]


@pytest.mark.slow  # ngircd is a process
async def test_a_post_reaches_an_irc_channel_the_bot_joined(memory_bus, settings, ircd, irc_user):
    options = {"server": "127.0.0.1", "port": ircd.port, "tls": False, "nick": NICK,
               "channels": ["#room"]}  # fmt: skip
    transport = IrcTransport(irc_settings(settings, **options), "demo")
    role = TransportRole(memory_bus, settings, transport, "demo")
    ann = await irc_user(ircd.port, "ann", channels=("#room",))
    await role.start()
    try:
        await ann.wait_for(joined(NICK), what="the bot joined #room")
        await Poster(memory_bus, settings).post(
            bot="demo", transport="irc", conversation="#room", text="Good morning, #room"
        )
        [line] = await ann.expect(1, to="#room")
    finally:
        await role.stop()
    assert (line.source, line.text) == (NICK, "Good morning, #room")


@pytest.mark.slow
@pytest.mark.broker
async def test_a_post_made_while_the_bridge_is_down_arrives_once_after_it_restarts(
    processes, amqp_url, settings, fake_slack
):
    names = topology.Names(settings.namespace)
    processes.env.update(SECRETS)
    processes.env["BOTWERK_TRANSPORTS"] = json.dumps({"slack": {"api_url": fake_slack.api_url}})
    first = processes.start("transport", "slack", "--bot", "demo")
    admin.wait_for_consumers(amqp_url, names.post_queue("slack"))
    processes.kill(first)  # -9: down, its post queue stays
    bus = RabbitBus(settings, role="test", name="poster")
    await bus.start()
    try:
        await Poster(bus, settings).post(
            bot="demo", transport="slack", conversation="C7", text="while you were out"
        )
    finally:
        await bus.close()
    assert fake_slack.posts == []
    again = processes.start("transport", "slack", "--bot", "demo")
    try:
        await eventually(lambda: fake_slack.posts, timeout=30, what="the post after the restart")
        await asyncio.sleep(1)  # a second copy would come now
    finally:
        assert again.poll() is None, processes.log_of(again)
    assert fake_slack.posts == [{"channel": "C7", "text": "while you were out"}]
