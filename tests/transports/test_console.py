"""The console transport: its pure functions, and a chat driven through a pipe."""

from __future__ import annotations

import io

import pytest

from botwerk.cores.demo import DemoBot
from botwerk.cores.runtime import Core
from botwerk.schemas import Reply
from botwerk.transports.base import TransportRole
from botwerk.transports.console import ConsoleTransport, addressed, parse_line, render
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
    stdin = io.StringIO("hello\n\nping\n/quit\nnever sent\n")
    stdout = io.StringIO()
    transport = ConsoleTransport(settings, "demo", stdin=stdin, stdout=stdout)
    await chat(
        [Worker(bus, settings, EchoModel(settings)), Core(bus, settings, DemoBot(settings))],
        TransportRole(bus, settings, transport, "demo"),
    )
    assert sorted(stdout.getvalue().splitlines()) == ["demo> echo: hello", "demo> pong"]


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
