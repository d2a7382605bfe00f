"""Bots call models through the typed contracts: what is sent, read, and refused first."""

from __future__ import annotations

import pytest

from botwerk.cores import annalogue, billybard, moviebot
from botwerk.cores.annalogue import Annalogue
from botwerk.cores.billybard import BillyBard
from botwerk.cores.demo import DemoBot
from botwerk.cores.moviebot import MovieBot
from botwerk.infra.errors import RemoteError
from botwerk.infra.settings import Settings
from botwerk.infra.state import MemoryStore
from botwerk.schemas.models import CharRNNInput, CharRNNOutput, EchoInput, EchoOutput
from botwerk.schemas.models.charrnn import MAX_PRIME
from botwerk.schemas.models.chat import MAX_TEXT
from botwerk.schemas.models.echo import MAX_DELAY_MS
from botwerk.schemas.models.word2vec import MAX_WORDS
from botwerk.testing.canned import CannedModel, context

SETTINGS = Settings.load(namespace="unit")


async def test_a_typed_infer_sends_the_structs_map_and_reads_the_output_type():
    model = CannedModel({"text": " on", "extra": 1})
    ctx = context("billybard", "x", model)
    outputs = await ctx.infer("charrnn", CharRNNInput(prime="Go", length=3))
    assert outputs == CharRNNOutput(text=" on")
    assert model.sent == [("charrnn", {"prime": "Go", "length": 3, "temperature": 0.8, "top_k": 0})]


async def test_an_untyped_infer_still_gives_the_outputs_map():
    model = CannedModel({"anything": [1, 2]})
    assert await context("x", "x", model).infer("mine", a=1) == {"anything": [1, 2]}
    assert model.sent == [("mine", {"a": 1})]


async def test_outputs_that_do_not_fit_the_kind_are_a_model_error():
    ctx = context("demo", "x", CannedModel({"txt": "hi"}))
    with pytest.raises(RemoteError) as caught:
        await ctx.infer("echo", EchoInput(text="hi"))
    assert caught.value.code == "model_error" and caught.value.target == "echo"


async def test_the_demo_bot_sends_only_the_echo_fields_it_uses():
    model = CannedModel({"text": "hi"}, {"text": "yo"}, {"text": "x"})
    bot = DemoBot(SETTINGS)
    assert await bot.dispatch(context("demo", "hi", model)) == "echo: hi"
    assert await bot.dispatch(context("demo", "slow 99999999999999999999999 yo", model)) == (
        "echo: yo"
    )
    await bot.dispatch(context("demo", "fail boom", model))
    assert [inputs for _, inputs in model.sent] == [
        {"text": "hi"},
        {"text": "yo", "delay_ms": MAX_DELAY_MS},
        {"text": "boom", "fail": True},
    ]
    assert EchoOutput(text="hi").to_outputs() == {"text": "hi"}


async def test_billybard_refuses_a_beginning_over_the_models_limit_in_its_own_words():
    model = CannedModel()
    reply = await BillyBard(SETTINGS).dispatch(context("billybard", "x" * (MAX_PRIME + 1), model))
    assert reply == billybard.TOO_LONG.format(limit=MAX_PRIME)
    assert "prime" not in reply and model.sent == []


async def test_annalogue_refuses_too_many_terms_in_its_own_words():
    model = CannedModel()
    terms = ", ".join(f"w{i}" for i in range(MAX_WORDS + 1))
    reply = await Annalogue(SETTINGS).dispatch(context("annalogue", f"odd one out: {terms}", model))
    assert reply == annalogue.TOO_MANY.format(limit=MAX_WORDS)
    assert "words`" not in reply and model.sent == []


async def test_moviebot_sends_at_most_the_end_of_a_long_last_line_as_context():
    long_line = "la " * MAX_TEXT
    model = CannedModel(
        {"text": long_line, "context_used": True}, {"text": "Hm.", "context_used": True}
    )
    bot, store = MovieBot(SETTINGS), MemoryStore("unit")  # the bot's memory across messages
    await bot.dispatch(context("moviebot", "sing", model, store=store))
    await bot.dispatch(context("moviebot", "again", model, store=store))
    sent = model.sent[1][1]["context"]
    assert len(sent) == MAX_TEXT and long_line.strip().endswith(sent.strip())
    assert moviebot.TOO_LONG.format(limit=MAX_TEXT).endswith(f"{MAX_TEXT} characters.")
