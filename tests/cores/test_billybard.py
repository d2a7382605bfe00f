"""BillyBard: option syntax and bounds, per-bot config, what it asks the model, reply shape."""

from __future__ import annotations

from typing import Any

import pytest
from msgspec.structs import replace

from botwerk.cores import billybard
from botwerk.cores.billybard import BillyBard, Config, OptionError, compose, parse
from botwerk.cores.bot import Context
from botwerk.infra.errors import RemoteError
from botwerk.infra.settings import ConfigError, Settings
from botwerk.infra.state import MemoryStore
from botwerk.schemas import User
from botwerk.testing.canned import CannedModel, context


def ctx(
    text: str, rpc: CannedModel | None = None, store: MemoryStore | None = None, user: str = "u"
) -> Context:
    c = context("billybard", text, rpc, store=store)
    c.message = replace(c.message, user=User(id=user))
    return c


def bard(**options: Any) -> BillyBard:
    return BillyBard(Settings.load(namespace="unit", bots={"billybard": options}))


# --- options in a message -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "length", "temperature", "top_k", "prime"),
    [
        ("Once upon a time", 200, 0.8, 0, "Once upon a time"),
        ("length=300 temp=1.2 Once upon a time", 300, 1.2, 0, "Once upon a time"),
        ("len=5 k=3 temperature=0.1 To be", 5, 0.1, 3, "To be"),
        ("  LENGTH=2000   top_k=1000  x", 2000, 0.8, 1000, "x"),
        ("temp=5 so what", 200, 5.0, 0, "so what"),
        ("length=1\nline one\nline two", 1, 0.8, 0, "line one\nline two"),
        ("To be temp=3", 200, 0.8, 0, "To be temp=3"),
    ],
)
def test_leading_key_value_words_are_options(text, length, temperature, top_k, prime):
    request = parse(text, Config())
    c = request.config
    assert (c.length, c.temperature, c.top_k, request.prime) == (length, temperature, top_k, prime)


def test_a_leading_word_with_an_equals_sign_is_read_as_an_option():
    with pytest.raises(OptionError, match="I don't know the option 'x'"):
        parse("x=1 is the answer", Config())


@pytest.mark.parametrize(
    ("text", "sentence"),
    [
        ("length=0 hi", "length must be a whole number from 1 to 2000; you wrote '0'."),
        ("length=2001 hi", "length must be a whole number from 1 to 2000; you wrote '2001'."),
        ("len=ten hi", "length must be a whole number from 1 to 2000; you wrote 'ten'."),
        ("temp=0 hi", "temp must be a number above 0 and at most 5; you wrote '0'."),
        ("temp=5.5 hi", "temp must be a number above 0 and at most 5; you wrote '5.5'."),
        ("temp=nan hi", "temp must be a number above 0 and at most 5; you wrote 'nan'."),
        ("top_k=-1 hi", "top_k must be a whole number from 0 to 1000; you wrote '-1'."),
        ("lenght=3 hi", billybard.UNKNOWN_OPTION.format(key="lenght")),
    ],
)
async def test_out_of_range_options_get_a_friendly_sentence_not_a_model_call(text, sentence):
    model = CannedModel()
    assert await bard().dispatch(ctx(text, model)) == sentence
    assert model.sent == []


# --- replies ------------------------------------------------------------------------------


async def test_asks_the_model_with_the_options_and_replies_with_prime_and_continuation():
    model = CannedModel({"text": ", or not to be: that is the question. Whether 'tis"})
    reply = await bard().dispatch(ctx("length=50 temp=0.5 top_k=4 To be", model))
    assert reply == "To be, or not to be: that is the question."
    assert model.sent == [
        ("charrnn", {"prime": "To be", "length": 50, "temperature": 0.5, "top_k": 4})
    ]


@pytest.mark.parametrize(
    ("prime", "continuation", "reply"),
    [
        ("To be", ", or not. That is the qu", "To be, or not."),
        ("Once upon a ti", "me there was a ki", "Once upon a time there was a…"),
        ("Once", " upon a time ", "Once upon a time…"),
        ("Hi", ". A tail with no sentence end at all", "Hi. A tail with no sentence end at…"),
        ("Once upon a ti", "me", "Once upon a time…"),
        ("What", "? Nothing! Said he.", "What? Nothing! Said he."),
    ],
)  # fmt: skip
def test_replies_end_at_a_sentence_or_word_boundary(prime, continuation, reply):
    assert compose(prime, continuation) == reply


async def test_empty_text_help_and_empty_continuation():
    bot = bard(length=300)
    assert await bot.dispatch(ctx("")) == billybard.ASK_FOR_BEGINNING
    assert (await bot.dispatch(ctx("temp=0.5"))).startswith("I'll use temperature 0.5 for")
    assert "now 300" in await bot.dispatch(ctx("help"))
    assert await bot.dispatch(ctx("hi", CannedModel({"text": "  "}))) == billybard.NOTHING_TO_ADD


async def test_model_errors_reach_the_core_untouched():
    model = CannedModel(RemoteError("timeout", "too slow", target="charrnn"))
    with pytest.raises(RemoteError):
        await bard().dispatch(ctx("To be", model))


# --- a user's options, kept ---------------------------------------------------------------


def asked(model: CannedModel) -> list[tuple[int, float, int]]:
    return [(i["length"], i["temperature"], i["top_k"]) for _, i in model.sent]


async def test_a_users_options_are_kept_until_they_change_them():
    """The per-user memory: later messages (on any core sharing the store) use them too."""
    store, model = MemoryStore("unit"), CannedModel(*[{"text": " end."}] * 5)
    await bard().dispatch(ctx("length=80 temp=0.5 Once", model, store))
    await bard().dispatch(ctx("Twice", model, store))  # another bot object: another core
    await bard().dispatch(ctx("temp=1.5 Thrice", model, store))
    await bard().dispatch(ctx("Again", model, store))
    await bard().dispatch(ctx("Mine", model, store, user="someone-else"))
    assert asked(model) == [(80, 0.5, 0), (80, 0.5, 0), (80, 1.5, 0), (80, 1.5, 0), (200, 0.8, 0)]


async def test_options_alone_set_them_help_shows_them_and_reset_forgets_them():
    store, model = MemoryStore("unit"), CannedModel(*[{"text": " end."}] * 3)
    bot = bard()
    assert await bot.dispatch(ctx("len=50 k=7", None, store)) == billybard.KEPT.format(
        options="length 50, top_k 7"
    )
    assert "(now 50)" in await bot.dispatch(ctx("help", None, store))
    await bot.dispatch(ctx("Once", model, store))
    assert (await bot.dispatch(ctx("reset", None, store))).startswith("Back to my defaults")
    await bot.dispatch(ctx("Once", model, store))
    assert await bot.dispatch(ctx("reset the clocks", model, store)) == "reset the clocks end."
    assert asked(model) == [(50, 0.8, 7), (200, 0.8, 0), (200, 0.8, 0)]


async def test_kept_options_that_break_the_rules_now_are_dropped():
    """A stored value is data from the past: a bound tightened since must not reach the model."""
    store, model = MemoryStore("unit"), CannedModel({"text": " end."})
    memory = ctx("", None, store).user_memory
    await memory.set("options", {"length": 99_999, "top_k": 3, "junk": 1})
    await bard().dispatch(ctx("Once", model, store))
    assert asked(model) == [(200, 0.8, 3)]


# --- per-bot config -----------------------------------------------------------------------


async def test_per_bot_defaults_come_from_settings():
    model = CannedModel({"text": " end."})
    bot = bard(model="bard-v2", length=40, temperature=1, top_k=7)
    assert await bot.dispatch(ctx("The", model)) == "The end."
    assert model.sent == [
        ("bard-v2", {"prime": "The", "length": 40, "temperature": 1.0, "top_k": 7})
    ]


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"lenght": 3}, r"\[bots.billybard\] in .*: unknown key 'lenght' \(did you mean 'length'"),
        ({"lenght": 3}, r"; known keys: model, length, temperature, top_k$"),
        ({"colour": "red"}, r"unknown key 'colour'; known keys"),
        ({"length": "300"}, r"\[bots.billybard\] in .*: length: expected `int`, got `str`"),
        ({"length": 0}, r"length must be a whole number from 1 to 2000; fix it or remove it"),
        ({"temperature": 0}, r"temperature must be a number above 0 and at most 5"),
        ({"top_k": 5000}, r"top_k must be a whole number from 0 to 1000"),
    ],
)  # fmt: skip
def test_bad_per_bot_config_fails_at_construction_naming_key_and_fix(options, error):
    with pytest.raises(ConfigError, match=error):
        bard(**options)
