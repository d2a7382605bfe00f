"""Bots as plain classes: marks that do not wrap, dispatch order, middleware, help."""

from __future__ import annotations

from typing import ClassVar

import pytest

from botwerk.cores.bot import Bot, Context, build_bot, command, fallback
from botwerk.cores.demo import DemoBot
from botwerk.infra.registry import UnknownName
from botwerk.infra.settings import ConfigError, Settings
from botwerk.schemas import Inbound, User


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
        "remind",
    ]


async def test_demo_answers_ping_without_models(settings):
    assert await DemoBot(settings).dispatch(ctx("ping")) == "pong"
    assert (await DemoBot(settings).dispatch(ctx("slow soon"))).startswith("Usage: slow MS text")


def room(text: str, *, direct: bool = False) -> Context:
    """A message said in a shared room (not to the bot directly)."""
    message = Inbound(
        bot="t",
        transport="test",
        conversation="c",
        user=User(id="u", name="Ann"),
        text=text,
        direct=direct,
    )
    return Context(message, deadline_ms=0)


@pytest.mark.parametrize(
    "text",
    [
        "@shouty hello there",
        "<@shouty> hello there",
        "shouty: hello there",
        "Shouty, hello there",
        "@SHOUTY: hello there",
        "hello @shouty there",
        "hello there @shouty",
        "hello, @shouty, there",
    ],
)
async def test_room_messages_that_mention_the_bot_route_without_the_mention(settings, text):
    assert await Shouty(settings).dispatch(room(text)) == "HELLO ANN there!"


@pytest.mark.parametrize(
    "text",
    ["hello there", "shouty hello", "@shoutyish hello", "mail me@shouty.org", "@shouty-bot hi"],
)
async def test_room_messages_that_do_not_mention_the_bot_get_no_reply(settings, text):
    Shouty.calls.clear()
    assert await Shouty(settings).dispatch(room(text)) == ""
    assert Shouty.calls == []  # middleware does not run either


async def test_direct_messages_need_no_mention_but_lose_one(settings):
    bot = Shouty(settings)
    assert await bot.dispatch(room("hello", direct=True)) == "HELLO ANN!"
    assert await bot.dispatch(room("@shouty hello", direct=True)) == "HELLO ANN!"
    assert await Plain(settings).dispatch(room("plain: what now", direct=True)) == "got what now"


async def test_handlers_and_fallback_see_the_text_without_the_mention(settings):
    c = room("@plain   whatever you say")
    assert await Plain(settings).dispatch(c) == "got whatever you say"
    assert c.message.text == "whatever you say"
    assert await Plain(settings).dispatch(room("@plain")) == "got "


def test_strip_mention_keeps_unmentioned_text_as_is():
    from botwerk.cores.bot import strip_mention

    assert strip_mention("  spaced  text ", "plain") == (False, "  spaced  text ")
    assert strip_mention("what do you say, @plain?", "plain") == (True, "what do you say?")


# --- names and personalities --------------------------------------------------------------


async def test_an_instance_may_be_named_otherwise_and_answers_to_that_name(settings):
    other = Plain(settings, "other")
    assert (other.name, Plain.name, Plain(settings).name) == ("other", "plain", "plain")
    assert await other.dispatch(room("@other hi")) == "got hi"
    assert await other.dispatch(room("@plain hi")) == ""


def personalities(**tables) -> Settings:
    return Settings.load(namespace="unit", bots=tables)


def test_a_table_with_a_kind_builds_that_kind_under_its_own_name_and_options():
    from botwerk.cores.moviebot import MovieBot

    settings = personalities(
        jester={"kind": "moviebot", "model": "chat-comedy", "mode": "sample"},
        moviebot={"model": "chat-drama"},
    )
    jester = build_bot(settings, "jester")
    assert isinstance(jester, MovieBot) and jester.name == "jester"
    assert (jester.config.model, jester.config.mode) == ("chat-comedy", "sample")
    plain = build_bot(settings, "moviebot")
    assert (plain.name, plain.config.model) == ("moviebot", "chat-drama")


def test_registered_names_build_as_before_with_or_without_a_table():
    from botwerk.cores.billybard import BillyBard

    bard = build_bot(personalities(billybard={"length": 300}), "billybard")
    assert isinstance(bard, BillyBard) and (bard.name, bard.config.length) == ("billybard", 300)
    assert build_bot(personalities(), "botwerk.cores.demo:DemoBot").name == "demo"
    poet = build_bot(personalities(poet={"kind": "billybard", "length": 50}), "poet")
    assert isinstance(poet, BillyBard) and (poet.name, poet.config.length) == ("poet", 50)


def test_unknown_names_and_kinds_get_the_registrys_suggestion():
    settings = personalities(jester={"kind": "moviebto"}, clown={"kind": 3})
    with pytest.raises(UnknownName, match=r"^unknown bot 'dem'; did you mean 'demo'\? Installed"):
        build_bot(settings, "dem")
    with pytest.raises(
        UnknownName,
        match=r"^\[bots.jester\] in .*: kind: unknown bot 'moviebto'; did you mean 'moviebot'\?",
    ):
        build_bot(settings, "jester")
    with pytest.raises(ConfigError, match=r"\[bots.clown\] in .*: kind must name the bot"):
        build_bot(settings, "clown")


def test_an_unknown_name_close_to_a_personality_suggests_it():
    settings = personalities(jester={"kind": "moviebot"})
    with pytest.raises(UnknownName, match=r"did you mean 'jester' \(\[bots.jester\] in "):
        build_bot(settings, "jestr")


def test_a_personalitys_own_table_is_checked_under_its_name():
    settings = personalities(jester={"kind": "moviebot", "mdoe": "beam"})
    with pytest.raises(ConfigError, match=r"\[bots.jester\] in .*: unknown key 'mdoe'"):
        build_bot(settings, "jester")
