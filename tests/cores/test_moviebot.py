"""MovieBot: what it asks the chat model, one turn of memory per conversation, genres, errors."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from msgspec.structs import replace

from botwerk.cores import moviebot
from botwerk.cores.bot import Context
from botwerk.cores.moviebot import LAST_LINE, Config, MovieBot, parse
from botwerk.infra import messages
from botwerk.infra.errors import RemoteError
from botwerk.infra.settings import ConfigError, Settings
from botwerk.infra.state import MemoryStore
from botwerk.testing.canned import CannedModel, context

DEFAULTS = {"mode": "greedy", "temperature": 0.8, "top_k": 0, "beam": 4, "max_len": 0}


STORE = MemoryStore("unit")  # replaced by a fresh one for each test (the fixture below)


@pytest.fixture(autouse=True)
def fresh_store() -> Iterator[MemoryStore]:
    """Each test's messages share one store, the bots' memory, and start with it empty."""
    global STORE
    STORE = MemoryStore("unit")
    yield STORE


def ctx(text: str, rpc: CannedModel | None = None, **fields: Any) -> Context:
    c = context("moviebot", text, rpc, store=STORE)
    if fields:
        c.message = replace(c.message, **fields)
    return c


def movie(**options: Any) -> MovieBot:
    settings = Settings.load(namespace="unit", bots={"moviebot": options})
    return MovieBot(settings)


def said(*lines: str) -> CannedModel:
    return CannedModel(*({"text": line, "context_used": True} for line in lines))


# --- what it sends ------------------------------------------------------------------------


async def test_asks_the_chat_model_with_the_defaults_and_answers_its_line():
    model = said("I'm fine.")
    assert await movie().dispatch(ctx("how are you?", model)) == "I'm fine."
    assert model.sent == [("chat", {"text": "how are you?", **DEFAULTS})]


@pytest.mark.parametrize(
    ("text", "changed"),
    [
        ("mode=beam beam=8 how are you?", {"mode": "beam", "beam": 8}),
        ("temp=1.2 mode=SAMPLE k=5 how are you?",
         {"temperature": 1.2, "mode": "sample", "top_k": 5}),
        ("temperature=0.1 top_k=3 how are you?", {"temperature": 0.1, "top_k": 3}),
        ("len=12 how are you?", {"max_len": 12}),
        ("max_len=0 max_len=100 how are you?", {"max_len": 100}),
        ("seed=7 mode=sample how are you?", {"seed": 7, "mode": "sample"}),
    ],
)  # fmt: skip
async def test_leading_options_change_this_message_only(text, changed):
    model = said("Fine.", "Fine.")
    bot = movie()
    await bot.dispatch(ctx(text, model))
    await bot.dispatch(ctx("forget"))
    await bot.dispatch(ctx("how are you?", model))
    assert model.sent[0] == ("chat", {"text": "how are you?", **DEFAULTS, **changed})
    assert model.sent[1] == ("chat", {"text": "how are you?", **DEFAULTS})


async def test_per_bot_defaults_come_from_settings():
    model = said("Boo.")
    bot = movie(model="chat-v2", mode="sample", temperature=1, top_k=40, beam=2, max_len=20)
    await bot.dispatch(ctx("hello", model))
    assert model.sent == [
        ("chat-v2", {"text": "hello", "mode": "sample", "temperature": 1.0, "top_k": 40,
                     "beam": 2, "max_len": 20}),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "sentence"),
    [
        ("mode=fast hi", "mode must be greedy, sample or beam; you wrote 'fast'."),
        ("temp=0 hi", "temp must be a number above 0 and at most 5; you wrote '0'."),
        ("temperature=inf hi", "temp must be a number above 0 and at most 5; you wrote 'inf'."),
        ("k=-1 hi", "top_k must be a whole number, 0 or more; you wrote '-1'."),
        ("beam=17 hi", "beam must be a whole number from 1 to 16; you wrote '17'."),
        ("beam=two hi", "beam must be a whole number from 1 to 16; you wrote 'two'."),
        ("max_len=101 hi", "max_len must be a whole number from 0 to 100; you wrote '101'."),
        ("seed=1.5 hi", "seed must be a whole number, 0 or more; you wrote '1.5'."),
        ("colour=red hi", moviebot.UNKNOWN_OPTION.format(key="colour")),
    ],
)
async def test_bad_options_get_a_sentence_not_a_model_call(text, sentence):
    model = CannedModel()
    assert await movie().dispatch(ctx(text, model)) == sentence
    assert model.sent == []


async def test_empty_input_and_a_message_too_long_are_answered_without_the_model():
    model = CannedModel()
    bot = movie()
    assert await bot.dispatch(ctx("", model)) == moviebot.ASK_SOMETHING
    assert await bot.dispatch(ctx("@moviebot", model, direct=False)) == moviebot.ASK_SOMETHING
    assert await bot.dispatch(ctx("mode=beam   ", model)) == moviebot.ASK_SOMETHING
    assert await bot.dispatch(ctx("x" * 2001, model)) == moviebot.TOO_LONG.format(limit=2000)
    assert model.sent == []


async def test_room_messages_need_a_mention():
    model = said("Hi.")
    bot = movie()
    assert await bot.dispatch(ctx("hello all", model, direct=False)) == ""
    assert await bot.dispatch(ctx("@moviebot hello", model, direct=False)) == "Hi."
    assert model.sent == [("chat", {"text": "hello", **DEFAULTS})]


# --- one turn of memory -------------------------------------------------------------------


async def test_its_last_line_is_sent_as_the_context_of_the_next_message():
    model = said("I'm fine.", "Out.", "Home.")
    bot = movie()
    await bot.dispatch(ctx("how are you?", model))
    await bot.dispatch(ctx("where have you been?", model))
    await bot.dispatch(ctx("where?", model))
    assert [inputs.get("context") for _, inputs in model.sent] == [None, "I'm fine.", "Out."]


async def test_conversations_and_threads_do_not_share_their_context():
    model = said("One.", "Two.", "Three.", "Four.")
    bot = movie()
    await bot.dispatch(ctx("hi", model, conversation="a"))
    await bot.dispatch(ctx("hi", model, conversation="b"))
    await bot.dispatch(ctx("hi", model, conversation="a", thread="t1"))
    await bot.dispatch(ctx("hi", model, conversation="a", transport="irc"))
    assert all("context" not in inputs for _, inputs in model.sent)
    again = said("Five.")
    await bot.dispatch(ctx("and?", again, conversation="a"))
    assert again.sent[0][1]["context"] == "One."


async def test_forget_and_reset_drop_the_last_turn():
    model = said("One.", "Two.", "Three.")
    bot = movie()
    await bot.dispatch(ctx("hi", model))
    assert await bot.dispatch(ctx("forget")) == moviebot.FORGOTTEN
    assert await bot.dispatch(ctx("forget")) == moviebot.NOTHING_TO_FORGET
    await bot.dispatch(ctx("hi", model))
    assert await bot.dispatch(ctx("RESET")) == moviebot.FORGOTTEN
    await bot.dispatch(ctx("hi", model))
    assert all("context" not in inputs for _, inputs in model.sent)


async def test_a_command_word_with_more_words_is_chat():
    model = said("Fine.", "Why?", "Sure.")
    bot = movie()
    await bot.dispatch(ctx("hi", model))
    assert await bot.dispatch(ctx("forget it, let's dance", model)) == "Why?"
    assert await bot.dispatch(ctx("help me", model)) == "Sure."
    texts = [inputs["text"] for _, inputs in model.sent]
    assert texts == ["hi", "forget it, let's dance", "help me"]
    assert model.sent[1][1]["context"] == "Fine."


async def test_a_stale_turn_is_not_sent():
    """forget_after_s is the line's time to live in the store."""
    model = said("One.", "Two.", "Three.")
    bot = movie(forget_after_s=0.3)
    await bot.dispatch(ctx("hi", model))
    await bot.dispatch(ctx("still there?", model))
    await asyncio.sleep(0.35)
    await bot.dispatch(ctx("hello?", model))
    assert [inputs.get("context") for _, inputs in model.sent] == [None, "One.", None]


async def test_another_bot_object_on_the_same_store_continues_the_conversation():
    """What two competing cores (or a restarted one) need: the context is in the store, not
    in the bot object that answered."""
    model = said("I'm fine.", "Out.")
    await movie().dispatch(ctx("how are you?", model))
    await movie().dispatch(ctx("where have you been?", model))
    assert model.sent[1][1]["context"] == "I'm fine."


async def test_no_context_when_the_config_says_so():
    model = said("One.", "Two.")
    bot = movie(context=False)
    await bot.dispatch(ctx("hi", model))
    await bot.dispatch(ctx("and?", model))
    assert all("context" not in inputs for _, inputs in model.sent)
    assert await ctx("").conversation_memory.get(LAST_LINE) is None  # nothing stored
    assert moviebot.MEMORY_OFF in await bot.dispatch(ctx("help"))


# --- replies and errors -------------------------------------------------------------------


async def test_an_empty_line_gets_a_sentence_and_forgets_the_turn():
    model = said("One.", "  ", "Three.")
    bot = movie()
    await bot.dispatch(ctx("hi", model))
    assert await bot.dispatch(ctx("hm", model)) == moviebot.NOTHING_TO_SAY
    await bot.dispatch(ctx("hi", model))
    assert "context" not in model.sent[2][1]


async def test_a_timeout_gets_its_own_sentence_and_keeps_the_turn():
    model = CannedModel(
        {"text": "One.", "context_used": True},
        RemoteError("timeout", "too slow", target="chat"),
        {"text": "Two.", "context_used": True},
    )
    bot = movie()
    await bot.dispatch(ctx("hi", model))
    assert await bot.dispatch(ctx("a long story", model)) == moviebot.TOO_SLOW
    await bot.dispatch(ctx("short", model))
    assert model.sent[2][1]["context"] == "One."


async def test_other_model_errors_reach_the_core_untouched():
    model = CannedModel(RemoteError("no_worker", "no consumer", target="chat"))
    with pytest.raises(RemoteError) as raised:
        await movie().dispatch(ctx("hi", model))
    assert messages.for_error(raised.value.code, model="chat").startswith("The chat model")


async def test_help_shows_what_it_does_and_its_settings():
    text = await movie(mode="beam", beam=6, forget_after_s=600).dispatch(ctx("help"))
    assert "I talk like people in the movies" in text
    assert "(now beam)" in text and "(now 6)" in text and "for 10 minutes" in text
    assert moviebot.NO_GENRES in text


# --- genres -------------------------------------------------------------------------------

GENRES = {"comedy": "chat-comedy", "horror": "chat-horror"}


async def test_a_genre_in_meta_picks_its_model():
    model = said("Ha.", "Boo.", "Hm.")
    bot = movie(genres=GENRES)
    await bot.dispatch(ctx("hi", model, meta={"genre": "comedy"}))
    await bot.dispatch(ctx("hi", model, meta={"genre": "Horror"}))
    await bot.dispatch(ctx("hi", model, meta={"team": "T1"}))
    assert [name for name, _ in model.sent] == ["chat-comedy", "chat-horror", "chat"]


async def test_a_genre_option_wins_over_meta():
    model = said("Boo.")
    await movie(genres=GENRES).dispatch(ctx("genre=horror hi", model, meta={"genre": "comedy"}))
    assert model.sent[0][0] == "chat-horror"


async def test_an_unknown_genre_lists_the_genres_there_are():
    model = CannedModel()
    text = await movie(genres=GENRES).dispatch(ctx("hi", model, meta={"genre": "western"}))
    assert text == (
        "I don't know the genre 'western'. I can talk like comedy or horror movies; "
        "start with `genre=comedy` to pick one."
    )
    alone = await movie().dispatch(ctx("genre=western hi", model))
    assert alone == f"I don't know the genre 'western'. {moviebot.NO_GENRES}"
    assert model.sent == []


async def test_the_genre_command_lists_the_genres():
    assert "comedy or horror" in await movie(genres=GENRES).dispatch(ctx("genre"))
    three = {"a": "m1", "b": "m2", "c": "m3"}
    assert "like a, b or c movies" in await movie(genres=three).dispatch(ctx("genre"))
    assert await movie().dispatch(ctx("genre")) == moviebot.NO_GENRES


def test_parse_reads_options_genre_and_seed():
    request = parse("seed=3 genre=comedy mode=sample hi there", Config(genres=GENRES))
    assert (request.model, request.seed, request.config.mode) == ("chat-comedy", 3, "sample")
    assert request.text == "hi there"


# --- per-bot config -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"mdoe": "beam"}, r"\[bots.moviebot\] in .*: unknown key 'mdoe' \(did you mean 'mode'"),
        ({"mode": "fast"}, r"mode must be greedy, sample or beam; fix it or remove it"),
        ({"temperature": 0}, r"temperature must be a number above 0 and at most 5"),
        ({"beam": 0}, r"beam must be a whole number from 1 to 16"),
        ({"max_len": 101}, r"max_len must be a whole number from 0 to 100"),
        ({"top_k": -1}, r"top_k must be a whole number, 0 or more"),
        ({"memory": 10_000}, r"memory is no longer an option: the state store .* remove memory"),
        ({"forget_after_s": 0}, r"forget_after_s must be seconds, above 0; fix it or remove it"),
        ({"genres": {"comedy": ""}}, r"genres maps a genre to a model"),
        ({"genres": ["comedy"]}, r"genres: expected `object`, got `array`"),
        ({"context": "yes"}, r"context: expected `bool`, got `str`"),
    ],
)  # fmt: skip
def test_bad_config_fails_at_construction_naming_key_and_fix(options, error):
    with pytest.raises(ConfigError, match=error):
        movie(**options)
