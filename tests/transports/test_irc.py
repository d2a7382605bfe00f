"""The IRC transport: its pure functions, then pydle against a real ngircd, in one process.

The mesh is the real one on the in-process bus (echo worker, demo core, the transport's
gateway); the people are raw IRC clients (tests.support.irc.IrcUser) on the same ngircd. The
tests that start ngircd (an OS process, fast) are marked slow; SASL runs against a local
server in this process (ngircd has no SASL).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging

import pytest

from botwerk.cores.bot import Context, command
from botwerk.cores.demo import DemoBot
from botwerk.cores.runtime import Core
from botwerk.infra.memory import MemoryBus
from botwerk.infra.settings import ConfigError
from botwerk.schemas import Reply
from botwerk.transports.base import Gateway, TransportRole
from botwerk.transports.irc import IrcTransport, addressed, incoming, irc_lines, line_budget, render
from botwerk.transports.kit import MORE, MissingSecret, utf8_bytes
from botwerk.workers.echo.serve import EchoModel
from botwerk.workers.runtime import Worker
from tests.support.ports import free_port
from tests.support.waiting import eventually

NICK = "demobot"
WORDS = "grüße ☃☃ 日本語のテキスト naïve"  # 1, 2 and 3 bytes a character


class Talker(DemoBot):
    """The demo bot, plus answers longer than one IRC line."""

    @command("long", help="`long N`: N times a line of 1, 2 and 3 byte characters")
    async def long(self, ctx: Context) -> str:
        return " ".join([WORDS] * int(ctx.args))

    @command("lines", help="`lines N`: N short lines")
    async def lines(self, ctx: Context) -> str:
        return "\n".join(f"line {i}" for i in range(int(ctx.args)))


# Pure: IRC line -> what the bot sees.
def test_a_channel_line_reaches_the_bot_only_when_it_names_the_nick():
    assert addressed("demobot: ping", NICK, "demo") == "@demo: ping"
    assert addressed("DemoBot, ping", NICK, "demo") == "@demo, ping"
    assert addressed("what do you say, demobot?", NICK, "demo") == "what do you say, @demo?"
    assert addressed("@demobot ping", NICK, "demo") == "@demo ping"
    assert addressed("demobots are fun", NICK, "demo") is None  # a whole nick only
    assert addressed("mydemobot: hi", NICK, "demo") is None
    assert addressed("just chatting", NICK, "demo") is None

    said = incoming(sender="ann", target="#room", text="demobot: ping", tags={"msgid": "m1"},
                    nick=NICK, bot="demo", channel=True)  # fmt: skip
    assert said is not None
    assert (said.conversation, said.text, said.direct, said.event_id) == (
        "#room", "@demo: ping", False, "m1"
    )  # fmt: skip
    assert said.user.id == "ann" and said.meta == {"irc.target": "#room", "irc.nick": "ann"}
    private = incoming(sender="ann", target=NICK, text="ping", tags={}, nick=NICK, bot="demo",
                       channel=False)  # fmt: skip
    assert private is not None
    assert (private.conversation, private.text, private.direct, private.event_id) == (
        "ann", "ping", True, None
    )  # fmt: skip
    named = incoming(sender="ann", target=NICK, text="demobot: ping", tags={}, nick=NICK,
                     bot="demo", channel=False)  # fmt: skip
    assert named is not None and named.text == "@demo: ping"
    for sender, text in [("ann", "hello all"), ("ann", "\x01ACTION waves demobot\x01"),
                         ("DemoBot", "demobot: echo"), ("ann", "  ")]:  # fmt: skip
        assert incoming(sender=sender, target="#room", text=text, tags={}, nick=NICK,
                        bot="demo", channel=True) is None  # fmt: skip


# Pure: reply -> IRC lines.
def test_replies_are_cut_to_irc_lines_by_utf8_bytes_with_the_prefix_counted():
    mask = "demobot!~demobot@localhost"
    reply = Reply(bot="demo", conversation="#room", text=f"first line\n\n{WORDS * 40}\n" +
                  "☃" * 400, meta={"irc.target": "#room", "irc.nick": "ann"})  # fmt: skip
    target, lines, dropped = render(reply, mask, max_lines=50)
    assert (target, dropped) == ("#room", 0)
    assert lines[0] == "ann: first line"
    assert all(line.startswith("ann: ") for line in lines)
    relayed = [f":{mask} PRIVMSG #room :{line}\r\n".encode() for line in lines]
    assert max(len(r) for r in relayed) <= 512
    assert max(len(r) for r in relayed) > 480  # the budget is used, not wasted
    texts = [line.removeprefix("ann: ") for line in lines]
    assert texts[0] == "first line"
    assert " ".join(t for t in texts[1:] if "☃☃☃☃" not in t) == WORDS * 40
    assert "".join(t for t in texts if "☃☃☃☃" in t) == "☃" * 400  # cut between characters

    capped, dropped = irc_lines(WORDS * 200, 300, max_lines=3)
    assert len(capped) == 3 and capped[-1].endswith(MORE.strip())
    assert all(utf8_bytes(line) <= 300 for line in capped)
    assert dropped > len(WORDS) * 150

    private = Reply(bot="demo", conversation="ann", text="pong", error="timeout",
                    meta={"irc.target": "ann", "irc.nick": "ann"})  # fmt: skip
    assert render(private, mask, 10)[:2] == ("ann", ["⚠ pong"])  # no "ann: " in private
    assert line_budget(mask, "#room") == 512 - len(f":{mask} PRIVMSG #room :\r\n")


# Construction: settings and secrets.
def irc_settings(settings, **options):
    return settings.model_copy(update={"transports": {"irc": options}})


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, "server: name the IRC server"),
        ({"server": "irc.example", "channels": ["botwerk"]}, "'botwerk' is not a channel"),
        ({"server": "irc.example", "nick": "two words"}, "'two words' is not an IRC nick"),
        ({"server": "irc.example", "chanels": ["#a"]}, "unknown key 'chanels' (did you mean"),
        ({"server": "irc.example", "port": "6697"}, "port: expected `int`"),
    ],
)
def test_bad_options_stop_the_transport_with_one_line_naming_them(settings, options, expected):
    with pytest.raises(ConfigError) as error:
        IrcTransport(irc_settings(settings, **options), "demo")
    assert expected in str(error.value) and "\n" not in str(error.value)
    assert "[transports.irc]" in str(error.value)


def test_a_missing_sasl_password_is_one_line_naming_the_variable(settings, monkeypatch):
    monkeypatch.delenv("IRC_SASL_PASSWORD", raising=False)
    with pytest.raises(MissingSecret) as error:
        IrcTransport(irc_settings(settings, server="irc.example", sasl_username="demobot"), "demo")
    message = str(error.value)
    assert message.startswith("IRC_SASL_PASSWORD is not set") and "\n" not in message
    monkeypatch.setenv("IRC_SASL_PASSWORD", "s3cret")
    assert IrcTransport(irc_settings(settings, server="x", sasl_username="u"), "demo")


# Against ngircd.
@contextlib.asynccontextmanager
async def mesh(settings, port, **options):
    """The echo worker, a demo core and an IRC transport (as ``demobot``) on one bus."""
    options = {"server": "127.0.0.1", "port": port, "tls": False, "nick": NICK,
               "lines_per_second": 100, "burst": 20, **options}  # fmt: skip
    settings = irc_settings(settings, **options)
    bus = MemoryBus(settings.max_message_bytes)
    await bus.start()
    transport = IrcTransport(settings, "demo")
    roles = [Worker(bus, settings, EchoModel(settings)), Core(bus, settings, Talker(settings)),
             TransportRole(bus, settings, transport, "demo")]  # fmt: skip
    try:
        for role in roles:
            await role.start()
        await eventually(lambda: transport.stats["connects"] >= 1, 10, "the bot connected")
        yield transport
    finally:
        for role in reversed(roles):
            await role.stop()
        await bus.close()


def joined(nick):
    return lambda line: line.command == "JOIN" and line.source == nick


@pytest.mark.slow  # ngircd is a process
async def test_a_mention_and_a_private_message_are_answered_in_place(settings, ircd, irc_user):
    ann = await irc_user(ircd.port, "ann", channels=("#room",))
    async with mesh(settings, ircd.port, channels=["#room"]) as transport:
        await ann.wait_for(joined(NICK), what="the bot joined #room")
        await ann.say("#room", "just chatting, nobody in particular")
        await ann.say("#room", "demobot: ping")
        await ann.say("#room", "what do you say, demobot?")
        await ann.say(NICK, "ping")
        await ann.expect(2, to="#room")
        [private] = await ann.expect(1, to="ann")
    assert sorted(line.text for line in ann.privmsgs("#room")) == [
        "ann: echo: what do you say?",
        "ann: pong",
    ]
    assert (private.source, private.text) == (NICK, "pong")
    assert transport.stats["received"] == 3 and transport.stats["ignored"] == 1


@pytest.mark.slow  # ngircd is a process
async def test_a_long_reply_arrives_as_lines_within_512_bytes(settings, ircd, irc_user):
    ann = await irc_user(ircd.port, "ann", channels=("#room",))
    async with mesh(settings, ircd.port, channels=["#room"]):
        await ann.wait_for(joined(NICK))
        await ann.say("#room", "demobot: long 40")
        await ann.wait_for(lambda line: line.text.endswith(WORDS), what="the last line")
    lines = ann.privmsgs("#room")
    assert len(lines) >= 4
    assert all(len(line.raw) <= 512 for line in lines)
    assert max(len(line.raw) for line in lines) > 470
    texts = [line.text.removeprefix("ann: ") for line in lines]
    assert " ".join(texts) == " ".join([WORDS] * 40)


@pytest.mark.slow  # ngircd is a process
@pytest.mark.parametrize(("fallbacks", "expected"), [(["demobot2"], "demobot2"), ([], "demobot_")])
async def test_a_taken_nick_falls_back_and_the_bot_answers_to_it(
    settings, ircd, irc_user, fallbacks, expected
):
    await irc_user(ircd.port, NICK)  # someone has the bot's nick
    ann = await irc_user(ircd.port, "ann", channels=("#room",))
    async with mesh(settings, ircd.port, channels=["#room"], fallback_nicks=fallbacks):
        await ann.wait_for(joined(expected), what=f"the bot joined as {expected}")
        await ann.say("#room", f"{expected}: ping")
        await ann.say("#room", f"{NICK}: ping")  # the other demobot: not ours to answer
        [reply] = await ann.expect(1, to="#room")
        await ann.say(expected, "ping")
        await ann.expect(1, to="ann")
    assert (reply.source, reply.text) == (expected, "ann: pong")
    assert len(ann.privmsgs("#room")) == 1


@pytest.mark.slow  # ngircd is a process
async def test_after_the_server_restarts_the_bot_reconnects_rejoins_and_answers(
    settings, ircd, irc_user, caplog
):
    caplog.set_level(logging.WARNING, "botwerk.transport")
    ann = await irc_user(ircd.port, "ann", channels=("#room",))
    async with mesh(settings, ircd.port, channels=["#room"]) as transport:
        await ann.wait_for(joined(NICK))
        ircd.stop()
        await eventually(lambda: "irc connection failed" in caplog.text, 10, "the drop noticed")
        ircd.start()
        bea = await irc_user(ircd.port, "bea", channels=("#room",))
        await eventually(lambda: transport.stats["connects"] == 2, 10, "the bot reconnected")
        await bea.wait_for(joined(NICK), what="the bot joined #room again")
        await bea.say("#room", "demobot: ping")
        [reply] = await bea.expect(1, to="#room")
    assert reply.text == "bea: pong"
    assert "IRC connection to 127.0.0.1" in caplog.text and "lost" in caplog.text


@pytest.mark.slow  # ngircd is a process
async def test_a_server_that_goes_silent_is_dropped_after_the_ping_timeout(settings, ircd):
    transport = IrcTransport(irc_settings(settings, server="127.0.0.1", port=ircd.port,
                                          tls=False, ping_timeout_s=0.3), "demo")  # fmt: skip
    gateway = Gateway(MemoryBus(), settings, transport, "demo")
    running = asyncio.create_task(transport.run(gateway))
    await eventually(lambda: transport.stats["connects"] == 1, 10, "connected")
    ircd.freeze()
    try:
        with pytest.raises(ConnectionError, match="ping timeout"):
            await asyncio.wait_for(running, 5)
    finally:
        ircd.freeze(False)


async def test_an_unreachable_server_is_a_connection_error_that_names_it(settings):
    port = free_port()  # nobody listens there
    transport = IrcTransport(irc_settings(settings, server="127.0.0.1", port=port), "demo")
    with pytest.raises(ConnectionError, match=f"cannot reach 127.0.0.1:{port} \\(TLS\\): "):
        await transport.run(Gateway(MemoryBus(), settings, transport, "demo"))


@pytest.mark.slow  # ngircd is a process
async def test_a_reply_that_comes_while_offline_waits_for_the_connection(settings, ircd, irc_user):
    ann = await irc_user(ircd.port, "ann", channels=("#room",))
    transport = IrcTransport(irc_settings(settings, server="127.0.0.1", port=ircd.port,
                                          tls=False, channels=["#room"]), "demo")  # fmt: skip
    reply = Reply(bot="demo", conversation="#room", text="news",
                  meta={"irc.target": "#room", "irc.nick": "ann"})  # fmt: skip
    sending = asyncio.create_task(transport.send(reply))
    for _ in range(5):
        await asyncio.sleep(0)  # let it run until it waits
    assert not sending.done()  # waiting for the connection, not dropped
    running = asyncio.create_task(transport.run(Gateway(MemoryBus(), settings, transport, "demo")))
    try:
        [line] = await ann.expect(1, to="#room")
        await asyncio.wait_for(sending, 5)
    finally:
        await transport.stop()
        await asyncio.wait_for(running, 5)
    assert (line.source, line.text) == ("demo", "ann: news")
    assert transport.stats["undelivered"] == 0


@pytest.mark.slow  # ngircd is a process
async def test_tls_with_the_certificate_checked(settings, ircd, irc_user, monkeypatch):
    untrusted = IrcTransport(irc_settings(settings, server="localhost", port=ircd.tls_port),
                             "demo")  # fmt: skip
    with pytest.raises(ConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
        await untrusted.run(Gateway(MemoryBus(), settings, untrusted, "demo"))

    monkeypatch.setenv("SSL_CERT_FILE", str(ircd.cert))  # trust the test server's certificate
    ann = await irc_user(ircd.port, "ann", channels=("#room",))
    async with mesh(settings, ircd.tls_port, server="localhost", tls=True, channels=["#room"]):
        await ann.wait_for(joined(NICK))
        await ann.say("#room", "demobot: ping")
        [reply] = await ann.expect(1, to="#room")
    assert reply.text == "ann: pong"


@pytest.mark.slow  # ngircd is a process
async def test_a_burst_of_lines_is_paced(settings, ircd, irc_user):
    ann = await irc_user(ircd.port, "ann", channels=("#room",))
    async with mesh(settings, ircd.port, channels=["#room"], lines_per_second=10, burst=2):
        await ann.wait_for(joined(NICK))
        await ann.say("#room", "demobot: lines 7")
        lines = await ann.expect(7, to="#room")
    assert [line.text for line in lines] == [f"ann: line {i}" for i in range(7)]
    gaps = [b.at - a.at for a, b in itertools.pairwise(lines)]
    assert gaps[0] < 0.05, gaps  # the burst of two
    assert sorted(gaps[1:])[2] > 0.07, gaps  # then 10 a second (the median of the 5 gaps)
    assert 0.45 < lines[-1].at - lines[0].at < 1.5, gaps


async def test_sasl_plain_logs_in_before_registration(settings, sasl_ircd, monkeypatch, caplog):
    monkeypatch.setenv("IRC_SASL_PASSWORD", "s3cret")
    caplog.set_level(logging.DEBUG, "botwerk.transport.irc")
    async with mesh(settings, sasl_ircd.port, channels=["#room"], sasl_username="demobot"):
        await eventually(lambda: "JOIN #room" in sasl_ircd.heard, 10, "the bot joined")
    heard = sasl_ircd.heard
    assert heard.index("CAP REQ sasl") < heard.index("AUTHENTICATE PLAIN") < heard.index(
        "CAP END"
    ) < heard.index("JOIN #room")  # fmt: skip
    assert sasl_ircd.logins == ["demobot"]
    assert "AUTHENTICATE PLAIN" in caplog.text and "AUTHENTICATE ***" in caplog.text
    assert "s3cret" not in caplog.text and "AGRlbW9ib3QAczNjcmV0" not in caplog.text

    monkeypatch.setenv("IRC_SASL_PASSWORD", "wrong")
    async with mesh(settings, sasl_ircd.port, sasl_username="demobot") as transport:
        assert transport.stats["sasl_failed"] == 1
    assert sasl_ircd.refused == ["demobot"] and "AUTHENTICATE *" in sasl_ircd.heard
    assert "SASL login as 'demobot' refused" in caplog.text
