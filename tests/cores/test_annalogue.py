"""Annalogue: every pattern parses to the right query; replies from canned model outputs."""

from __future__ import annotations

from typing import Any

import pytest

from botwerk.cores import annalogue
from botwerk.cores.annalogue import Annalogue
from botwerk.cores.annalogue_parse import (
    Analogy,
    Arithmetic,
    Frequency,
    Help,
    Neighbours,
    OddOneOut,
    Relation,
    Similarity,
    parse,
)
from botwerk.cores.bot import Context
from botwerk.infra.errors import RemoteError
from botwerk.infra.settings import ConfigError, Settings
from botwerk.infra.state import MemoryStore
from botwerk.schemas import Inbound, User
from botwerk.testing.canned import CannedModel, context


def ctx(text: str, rpc: CannedModel | None = None, store: MemoryStore | None = None) -> Context:
    return context("annalogue", text, rpc, store=store)


def known(**outputs: Any) -> dict[str, Any]:
    return {"unknown": [], "resolved": {}, **outputs}


@pytest.fixture
def bot():
    return Annalogue(Settings.load(namespace="unit"))


# --- parsing ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "query"),
    [
        ("king : queen :: man : ?", Analogy("king", "queen", "man")),
        ("king:queen::man:?", Analogy("king", "queen", "man")),
        ("king : queen :: man", Analogy("king", "queen", "man")),
        ("new york : usa :: london : ?", Analogy("new york", "usa", "london")),
        ("king is to queen as man is to ?", Analogy("king", "queen", "man")),
        ("King is to Queen as Man is to what?", Analogy("King", "Queen", "Man")),
        ("new york is to usa as london", Analogy("new york", "usa", "london")),
    ],
)
def test_analogies(text, query):
    assert parse(text) == query


@pytest.mark.parametrize(
    ("text", "positive", "negative"),
    [
        ("king - man + woman", ("king", "woman"), ("man",)),
        ("king - man + woman?", ("king", "woman"), ("man",)),
        ("what is king - man + woman = ?", ("king", "woman"), ("man",)),
        ("king -man +woman", ("king", "woman"), ("man",)),
        ("king+woman", ("king", "woman"), ()),
        (
            "paris - france + italy - spain + greece",
            ("paris", "italy", "greece"),
            ("france", "spain"),
        ),
        ("new york - usa + uk", ("new york", "uk"), ("usa",)),
        ("spider-man - man + woman", ("spider-man", "woman"), ("man",)),
        ("well-known + famous", ("well-known", "famous"), ()),
        ("- man", (), ("man",)),
        ("king \u2212 man", ("king",), ("man",)),
    ],
)
def test_arithmetic_subtracts_only_at_a_spaced_minus(text, positive, negative):
    assert parse(text) == Arithmetic(positive, negative)


@pytest.mark.parametrize("text", ["X-Men", "x-men?", "well-known", "'spider-man'"])
def test_hyphenated_words_are_single_terms(text):
    assert parse(text) == Neighbours(text.strip("?'"))


@pytest.mark.parametrize(
    ("text", "query"),
    [
        ("what is the capital of France?", Relation("capital", "France", ("japan", "tokyo"))),
        ("what's the capital city of germany", Relation("capital", "germany", ("france", "paris"))),
        ("what is the capital of the usa", Relation("capital", "usa", ("france", "paris"))),
        ("What is the past tense of run", Relation("past tense", "run", ("walk", "walked"))),
        ("what is the currency of japan", Relation("currency", "japan", ("india", "rupee"))),
        ("what is the colour of grass", Relation("colour", "grass", None)),
    ],
)  # fmt: skip
def test_what_is_the_x_of_y_uses_a_reference_pair_that_is_not_the_subject(text, query):
    assert parse(text) == query


def test_relation_inputs_are_an_analogy_or_nearest_words_for_an_unknown_relation():
    assert Relation("capital", "germany", ("france", "paris")).inputs(5) == {
        "op": "analogy",
        "words": ["france", "paris", "germany"],
        "topn": 5,
    }
    assert Relation("colour", "grass", None).inputs(3)["positive"] == ["colour", "grass"]


@pytest.mark.parametrize(
    ("text", "query"),
    [
        ("cat vs dog", Similarity("cat", "dog")),
        ("Cat vs. Dog?", Similarity("Cat", "Dog")),
        ("new york versus los angeles", Similarity("new york", "los angeles")),
        ("how similar are cat and dog?", Similarity("cat", "dog")),
        ("how similar is X-Men to spider-man", Similarity("X-Men", "spider-man")),
        ("similarity between tea and coffee", Similarity("tea", "coffee")),
    ],
)
def test_similarity(text, query):
    assert parse(text) == query


@pytest.mark.parametrize(
    ("text", "terms"),
    [
        ("which doesn't belong: apple banana car pear", ("apple", "banana", "car", "pear")),
        ("which does not belong apple, banana, car", ("apple", "banana", "car")),
        ("Which one doesn\u2019t belong? cat dog car", ("cat", "dog", "car")),
        ("odd one out: new york, paris, banana", ("new york", "paris", "banana")),
        ("odd one out: london, paris, and banana", ("london", "paris", "banana")),
        ("which doesn't belong in red, green or tuesday?", ("red", "green", "tuesday")),
        ("which doesn't belong: cat dog", ("cat", "dog")),
    ],
)
def test_odd_one_out(text, terms):
    assert parse(text) == OddOneOut(terms)


@pytest.mark.parametrize(
    ("text", "query"),
    [
        ("france", Neighbours("france")),
        ("  France?  ", Neighbours("France")),
        ("new york", Neighbours("new york")),
        ('"new york city"', Neighbours("new york city")),
        ("words like cat", Neighbours("cat")),
        ("similar to car", Neighbours("car")),
        ("how common is cat?", Frequency("cat")),
        ("frequency of new york", Frequency("new york")),
        ("frequency", Neighbours("frequency")),
        ("help", Help()),
        ("?", Help()),
    ],
)
def test_words_frequency_and_help(text, query):
    assert parse(text) == query


@pytest.mark.parametrize(
    "text", ["", "   ", "tell me a long story about it", "king + + queen", "a : b :: c : d", "?!"]
)
def test_what_fits_no_pattern_is_none(text):
    assert parse(text) is None


# --- replies ------------------------------------------------------------------------------


async def test_arithmetic_asks_most_similar_and_answers_with_a_percentage(bot):
    model = CannedModel(known(results=[["queen", 0.71], ["princess", 0.55]]))
    assert (
        await bot.dispatch(ctx("king - man + woman", model)) == "king - man + woman = queen (71%)."
    )
    assert model.sent == [
        (
            "word2vec",
            {"op": "most_similar", "positive": ["king", "woman"], "negative": ["man"], "topn": 5},
        )
    ]


async def test_unsure_answers_list_alternatives(bot):
    close = known(results=[["germany", 0.62], ["prussia", 0.6], ["austria", 0.55], ["x", 0.5]])
    low = known(results=[["tokyo", 0.41], ["osaka", 0.2]])
    model = CannedModel(close, low)
    assert await bot.dispatch(ctx("paris : france :: berlin : ?", model)) == (
        "paris is to france as berlin is to probably germany (62%),"
        " or maybe prussia (60%), austria (55%)."
    )
    assert model.sent[0][1] == {"op": "analogy", "words": ["paris", "france", "berlin"], "topn": 5}
    assert await bot.dispatch(ctx("what is the capital of Japan", model)) == (
        "The capital of Japan is probably tokyo (41%), or maybe osaka (20%)."
    )


async def test_unknown_words_are_named(bot):
    model = CannedModel(
        {"unknown": ["flurb"], "resolved": {}}, {"unknown": ["flurb", "blarg"], "resolved": {}}
    )
    assert await bot.dispatch(ctx("flurb", model)) == "I don't know the word 'flurb'."
    assert await bot.dispatch(ctx("flurb vs blarg", model)) == (
        "I don't know the words 'flurb' and 'blarg'."
    )


async def test_a_relation_whose_table_words_are_unknown_falls_back_to_nearest_words(bot):
    model = CannedModel(
        {"unknown": ["rupee"], "resolved": {}}, known(results=[["yen", 0.6], ["dollar", 0.5]])
    )
    reply = await bot.dispatch(ctx("what is the currency of japan", model))
    assert reply == (
        "I have no rule for 'currency'; the words closest to currency + japan:"
        " yen (60%), dollar (50%)."
    )
    assert model.sent[1][1]["positive"] == ["currency", "japan"]


async def test_neighbours_similarity_odd_one_out_and_frequency_replies(bot):
    model = CannedModel(
        known(results=[["new_jersey", 0.7], ["boston", 0.65]]),
        known(similarity=0.76),
        known(similarity=-0.05),
        known(word="car", scores=[["cat", 0.5], ["car", 0.09], ["dog", 0.52]]),
        known(results=[["cat", 12345, 1021]]),
    )
    assert await bot.dispatch(ctx("new york", model)) == (
        "Closest to new york: new jersey (70%), boston (65%)."
    )
    assert await bot.dispatch(ctx("cat vs dog", model)) == (
        "cat and dog are 76% similar: closely related."
    )
    assert await bot.dispatch(ctx("cat vs tuesday", model)) == (
        "cat and tuesday are 0% similar: hardly related."
    )
    assert await bot.dispatch(ctx("odd one out: cat, car, dog", model)) == (
        "The odd one out is car (only 9% like the rest)."
    )
    assert await bot.dispatch(ctx("how common is cat", model)) == (
        "I saw cat 12,345 times; it is the 1,021st most common word I know."
    )
    assert [inputs["op"] for _, inputs in model.sent] == [
        "most_similar", "similarity", "similarity", "odd_one_out", "frequency",
    ]  # fmt: skip
    assert model.sent[3][1] == {"op": "odd_one_out", "words": ["cat", "car", "dog"]}


async def test_answers_without_the_model(bot):
    assert await bot.dispatch(ctx("help")) == annalogue.HELP
    assert await bot.dispatch(ctx("which doesn't belong: a b")) == annalogue.NEED_THREE
    assert await bot.dispatch(ctx("please tell me a very long story")) == annalogue.NOT_UNDERSTOOD


async def test_model_errors_reach_the_core_untouched(bot):
    model = CannedModel(RemoteError("no_worker", "no worker", target="word2vec"))
    with pytest.raises(RemoteError):
        await bot.dispatch(ctx("france", model))


async def test_per_bot_options_and_their_errors():
    settings = Settings.load(namespace="unit", bots={"annalogue": {"model": "w2v", "topn": 3}})
    model = CannedModel(known(results=[["spain", 0.8]]))
    await Annalogue(settings).dispatch(ctx("france", model))
    assert model.sent == [
        ("w2v", {"op": "most_similar", "positive": ["france"], "negative": [], "topn": 3})
    ]
    with pytest.raises(ConfigError, match=r"unknown key 'top_n' \(did you mean 'topn'\?\)"):
        Annalogue(Settings.load(namespace="unit", bots={"annalogue": {"top_n": 3}}))
    with pytest.raises(ConfigError, match="topn must be a whole number from 1 to 100"):
        Annalogue(Settings.load(namespace="unit", bots={"annalogue": {"topn": 0}}))


async def test_a_users_topn_is_kept_until_they_change_it(bot):
    """Per-user memory: ``answers=N`` applies to that user's later questions, on any core."""
    store = MemoryStore("unit")
    near = known(results=[["paris", 0.9]])
    model = CannedModel(near, near, near)
    assert await bot.dispatch(ctx("answers=2", model, store)) == annalogue.KEPT.format(topn=2)
    await bot.dispatch(ctx("france", model, store))
    await Annalogue(Settings.load(namespace="unit")).dispatch(ctx("n=9 spain", model, store))
    await bot.dispatch(ctx("italy", model, store))
    assert [inputs["topn"] for _, inputs in model.sent] == [2, 9, 9]
    assert await bot.dispatch(ctx("answers=0 x", model, store)) == (
        "answers must be a whole number from 1 to 100; you wrote '0'."
    )
    assert await bot.dispatch(ctx("size=3 x", model)) == annalogue.UNKNOWN_OPTION.format(key="size")


async def test_in_a_room_it_answers_only_when_mentioned(bot):
    def room(text: str, model: CannedModel | None = None) -> Context:
        message = Inbound(
            bot="annalogue", transport="t", conversation="c", user=User(id="u"), text=text,
            direct=False,
        )  # fmt: skip
        return Context(message, deadline_ms=10_000, rpc=model)  # type: ignore[arg-type]

    model = CannedModel(known(results=[["queen", 0.71]]))
    assert await bot.dispatch(room("king - man + woman", model)) == ""
    assert await bot.dispatch(room("@annalogue help")) == annalogue.HELP
    assert await bot.dispatch(room("Annalogue: king - man + woman?", model)) == (
        "king - man + woman = queen (71%)."
    )
