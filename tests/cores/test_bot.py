"""Bots as plain classes: marks that do not wrap, dispatch order, middleware, help."""

from __future__ import annotations

from typing import ClassVar

import pytest

from cores.bot import Bot, Context, command, fallback
from cores.demo import DemoBot
from infra.settings import Settings
from schemas import Inbound, User


def ctx(text: str) -> Context:
    message = Inbound(
        bot="t", transport="test", conversation="c", user=User(id="u", name="Ann"), text=text
    )
    return Context(message, deadline_ms=0)


class Shouty(Bot):
    name = "shouty"
    description = "I shout."
    calls: ClassVar[list[str]] = []

    @staticmethod
    async def log_calls(c: Context, handler):
        Shouty.calls.append(f"before {c.message.text}")
        reply = await handler(c)
        return reply + "!"

    middleware = (log_calls,)

    @command("hello", help="greet", aliases=("hi",))
    async def hello(self, c: Context) -> str:
        return f"HELLO {c.message.user.name.upper()} {c.args}".strip()

    @command("help", help="this")
    async def help(self, c: Context) -> str:
        return self.help_text()


class Plain(Bot):
    name = "plain"

    @fallback
    async def anything(self, c: Context) -> str:
        return f"got {c.args}"


@pytest.fixture
def settings():
    return Settings.load(namespace="unit")


def test_marks_do_not_wrap_so_handlers_are_called_directly(settings):
    import asyncio

    assert asyncio.run(Shouty(settings).hello(ctx("hello"))) == "HELLO ANN"
    assert Shouty.hello.__botwerk_command__.word == "hello"


async def test_commands_match_the_first_word_case_insensitively_with_aliases(settings):
    bot = Shouty(settings)
    assert await bot.dispatch(ctx("Hello there")) == "HELLO ANN there!"
    assert await bot.dispatch(ctx("hi")) == "HELLO ANN!"


async def test_unmatched_messages_get_a_helpful_reply_not_an_exception(settings):
    bot = Shouty(settings)
    assert (
        await bot.dispatch(ctx("dance"))
        == "I don't know 'dance'. Say `help` to see what I can do.!"
    )
    assert await bot.dispatch(ctx("   ")) == "Say something, or `help` to see what I can do.!"


async def test_middleware_runs_around_the_handler(settings):
    Shouty.calls.clear()
    await Shouty(settings).dispatch(ctx("hello"))
    assert Shouty.calls == ["before hello"]


async def test_fallback_takes_what_no_command_matches(settings):
    assert await Plain(settings).dispatch(ctx("  whatever you say ")) == "got whatever you say"


def test_help_lists_commands_in_definition_order(settings):
    assert Shouty(settings).help_text() == "I shout.\nhello: greet\nhelp: this"
    demo_help = DemoBot(settings).help_text()
    assert [line.split(":")[0] for line in demo_help.splitlines()[1:]] == [
        "help",
        "ping",
        "slow",
        "fail",
    ]


async def test_demo_answers_ping_without_models(settings):
    assert await DemoBot(settings).dispatch(ctx("ping")) == "pong"
    assert (await DemoBot(settings).dispatch(ctx("slow soon"))).startswith("Usage: slow MS text")
