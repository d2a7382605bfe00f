"""The console transport: its pure functions, and a chat driven through a pipe."""

from __future__ import annotations

import io

import pytest

from botwerk.cores.demo import DemoBot
from botwerk.cores.runtime import Core
from botwerk.schemas import Reply
from botwerk.transports import console
from botwerk.transports.base import TransportRole
from botwerk.transports.console import (
    ConsoleTransport,
    addressed,
    asked_help,
    mentioned,
    parse_line,
    render,
)
from botwerk.workers.echo.serve import EchoModel
from botwerk.workers.runtime import Worker


def test_parse_and_render():
    assert parse_line("  hi there \n") == "hi there"
    assert parse_line(" \n") is None
    assert render(Reply(bot="demo", conversation="c", text="pong")) == "demo> pong"
    assert render(Reply(bot="demo", conversation="c", text="slow", error="timeout")) == "demo! slow"


async def chat(roles, transport_role):
    """Start ``roles`` and the console's role, wait for the end of input, stop them all."""
    roles = [*roles, transport_role]
    for role in roles:
        await role.start()
    await transport_role.finished
    for role in reversed(roles):
        await role.stop()


@pytest.mark.broker
async def test_a_piped_chat_is_answered_in_full_then_ends(bus, settings):
    stdin = io.StringIO("hello\n\n@nobody hi\nping\n/quit\nnever sent\n")
    stdout = io.StringIO()
    transport = ConsoleTransport(settings, "demo", stdin=stdin, stdout=stdout)
    await chat(
        [Worker(bus, settings, EchoModel(settings)), Core(bus, settings, DemoBot(settings))],
        TransportRole(bus, settings, transport, "demo"),
    )
    assert sorted(stdout.getvalue().splitlines()) == [
        console.NO_SUCH_BOT.format(name="nobody", bots="demo"),  # not sent to demo
        console.EMPTY_LINE.format(bot="demo"),  # the blank line: answered by the console
        "demo> echo: hello",
        "demo> pong",
    ]


def test_a_leading_mention_addresses_one_of_the_bots():
    bots = ("billybard", "annalogue")
    assert addressed("@annalogue king - man + woman", bots) == "annalogue"
    assert addressed("@Annalogue: hi", bots) == "annalogue"
    assert addressed("@nobody hi", bots) is None
    assert addressed("annalogue hi", bots) is None
    assert addressed("mail me @annalogue", bots) is None


@pytest.mark.broker
async def test_one_console_talks_to_several_bots(bus, settings):
    stdin = io.StringIO("@demo ping\n/bot nobody\n/bot demo\nping\n")
    stdout = io.StringIO()
    transport = ConsoleTransport(settings, "other", stdin=stdin, stdout=stdout)
    await chat(
        [Core(bus, settings, DemoBot(settings))],
        TransportRole(bus, settings, transport, "other", ("other", "demo")),
    )
    assert sorted(stdout.getvalue().splitlines()) == [
        "No bot 'nobody' here; there are: other, demo.",
        "Now chatting with demo.",
        "demo> pong",  # "@demo ping", to the bot it names
        "demo> pong",  # "ping", after switching
    ]


def test_a_leading_at_names_a_bot_and_help_names_the_bots_asked():
    bots = ("billybard", "annalogue")
    assert mentioned("@Nobody: hi") == "nobody" and mentioned("@ hi") is None
    assert mentioned("mail me @annalogue") is None
    assert asked_help("help", bots) == bots and asked_help("?", bots) == bots
    assert asked_help("HELP annalogue", bots) == ("annalogue",)
    assert asked_help("help me", bots) == () and asked_help("helpful", bots) == ()


def test_the_greeting_says_what_help_shows(settings):
    transport = ConsoleTransport(settings, "billybard", stdin=io.StringIO(), stdout=io.StringIO())
    greeting = transport._greeting(("billybard", "annalogue"))
    assert "`help` to see what each bot understands" in greeting and "@annalogue" in greeting


@pytest.mark.broker
async def test_help_asks_every_bot_or_the_one_named_and_the_console_answers_the_rest(bus, settings):
    bots = ("demo", "second")
    stdin = io.StringIO("help\nhelp second\n@demo help\n@nobody hi\n  \n/bot second\n?\n")
    stdout = io.StringIO()
    transport = ConsoleTransport(settings, "demo", stdin=stdin, stdout=stdout)
    await chat(
        [Core(bus, settings, DemoBot(settings)), Core(bus, settings, DemoBot(settings, "second"))],
        TransportRole(bus, settings, transport, "demo", bots),
    )
    out = stdout.getvalue()
    helps = {bot: out.count(f"{bot}> {DemoBot.description}") for bot in bots}
    assert helps == {"demo": 3, "second": 3}  # help, ?: both; help second, @demo help: one
    assert out.count(console.HELP_OF_ALL.format(bot="demo")) == 1
    assert out.count(console.HELP_OF_ALL.format(bot="second")) == 1  # after /bot second
    assert console.NO_SUCH_BOT.format(name="nobody", bots="demo, second") in out
    assert console.EMPTY_LINE.format(bot="demo") in out
    assert "demo! " not in out  # "@nobody hi" was not sent: demo would find no echo model
