"""Annalogue: answers questions about words in plain language, through the word2vec model.

Talking to it (replies of the demo vectors, GloVe 6B 50d; a test asks each one)::

    you: king - man + woman              annalogue: king - man + woman = queen (85%).
    you: paris : france :: tokyo : ?     annalogue: paris is to france as tokyo is to japan (92%).
    you: what is the capital of germany  annalogue: The capital of germany is berlin (92%).
    you: cat vs dog                      annalogue: cat and dog are 92% similar: closely related.
    you: odd one out: cat, dog, car      annalogue: The odd one out is car (only 41% like the rest).

:mod:`botwerk.cores.annalogue_parse` reads the message (every pattern and its limits are
listed there); this module asks the model and words the answer. Scores are cosine
similarities shown as true percentages, clipped to 0-100% (an analogy's is its answer's
cosine to b - a + c: see ``Vectors.analogy``). When the best one is below :data:`SURE_AT`, or
a runner-up is within :data:`CLOSE` of it or above it, the reply hedges and lists
alternatives: "probably X (52%), or maybe Y (50%), Z (47%)". ``answers=N`` (or ``n=N``) first
in a message sets how many answers a user gets (the model's ``topn``), kept for that user
(``ctx.user_memory``) until changed; ``answers=N`` alone just sets it. Vectors that keep no counts
(GloVe) answer "how common" with a rank only. A missing model or a timeout raises
RemoteError, which the core turns into a sentence. Options, in botwerk.toml::

    [bots.annalogue]
    model = "word2vec"   # the model to ask
    topn = 5             # answers to ask for, 1-100 (a user's own answers=N wins)
"""

from __future__ import annotations

from dataclasses import replace

import msgspec
from msgspec import UnsetType

from botwerk.cores.annalogue_parse import (
    RELATIONS,
    Analogy,
    Arithmetic,
    Frequency,
    Help,
    ModelQuery,
    Neighbours,
    OddOneOut,
    Relation,
    Similarity,
    parse,
)
from botwerk.cores.bot import Bot, Context, bot_options, command, fallback
from botwerk.cores.options import OptionError, Options, number
from botwerk.infra.settings import Settings
from botwerk.schemas.models.word2vec import (
    MAX_TOPN,
    MIN_TOPN,
    WORDS,
    Row,
    Word2VecOutput,
)

# What Annalogue says, in one place.
HELP = f"""\
I answer questions about words, from what word2vec learned. Try:
- `france`: the words closest to a word or phrase
- `king - man + woman`: word arithmetic (a minus needs a space before it: X-Men is one word)
- `paris : france :: tokyo : ?` or `paris is to france as tokyo is to ?`: analogies
- `what is the capital of germany`: I know {", ".join(RELATIONS)}
- `cat vs dog` or `how similar are cat and dog`: how alike two words are
- `which doesn't belong: apple, banana, car`: the odd one out (commas for multi-word terms)
- `how common is cat`: how common a word is
- `answers=10 france`: how many answers I list, {MIN_TOPN}-{MAX_TOPN}; kept for you until \
you change it"""
NOT_UNDERSTOOD = (
    "I didn't understand that. Try `king - man + woman`, `paris : france :: tokyo : ?` or `help`."
)
UNKNOWN_WORD = "I don't know the word {words}."
UNKNOWN_WORDS = "I don't know the words {words}."
NEED_THREE = "Give me at least three words to compare, like `which doesn't belong: cat, dog, car`."
TOO_MANY = "That's a lot to compare; give me at most {limit} words."
NO_ANSWER = "I couldn't find an answer to that."
KEPT = "I'll list {topn} answers for you from now on; now ask me about a word."
UNKNOWN_OPTION = "I don't know the option {key!r}; I know answers, how many I list (see `help`)."
BAD_VALUE = "{key} must be {rule}; you wrote {value!r}."
NEIGHBOURS = "Closest to {term}: {items}."
ARITHMETIC = "{expression} = {answer}."
ANALOGY = "{a} is to {b} as {c} is to {answer}."
RELATION = "The {relation} of {subject} is {answer}."
RELATION_GUESS = (
    "I have no rule for '{relation}'; the words closest to {relation} + {subject}: {items}."
)
SIMILARITY = "{x} and {y} are {percent} similar: {verdict}."
ODD_ONE_OUT = "The odd one out is {answer}."
FREQUENCY = "I saw {term} {count:,} times; it is the {rank} most common word I know."
FREQUENCY_RANK = "{term} is the {rank} most common word I know (my vectors keep no counts)."
SCORED = "{term} ({percent})"
ODD_SCORED = "{term} (only {percent} like the rest)"
HEDGED = "probably {best}, or maybe {others}"
# How alike two words are, by cosine similarity: the first verdict whose floor it reaches.
VERDICTS = ((0.7, "closely related"), (0.4, "related"), (0.15, "loosely related"))
UNRELATED = "hardly related"

# Set on GloVe 6B 50d, the demo vectors, whose cosines run high: right analogy answers score
# 0.8-0.95 and clear the runner-up by 0.06-0.14; nonsense ones ("car : apple :: dog") score
# 0.5-0.75, often with a runner-up above them (an analogy ranks by 3CosMul, shows a cosine).
SURE_AT = 0.7  # a best score below this is a guess
CLOSE = 0.05  # a runner-up this close to the best, or above it, makes the best a guess
ALTERNATIVES = 2  # guesses listed after a hedged best
FEWEST, MOST = WORDS["odd_one_out"]  # terms the model compares at once
OPTIONS = Options(
    {"answers": number("topn", int, MIN_TOPN, MAX_TOPN,
                       f"a whole number from {MIN_TOPN} to {MAX_TOPN}")},
    aliases={"n": "answers"}, unknown=UNKNOWN_OPTION, bad=BAD_VALUE,
)  # fmt: skip


class Config(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Annalogue's per-bot options, from ``[bots.annalogue]``."""

    model: str = "word2vec"
    topn: int = 5

    def __post_init__(self) -> None:
        if not MIN_TOPN <= self.topn <= MAX_TOPN:
            raise ValueError(f"topn must be a whole number from {MIN_TOPN} to {MAX_TOPN}")


class Annalogue(Bot):
    name = "annalogue"
    description = "I answer questions about words."

    def __init__(self, settings: Settings, name: str | None = None) -> None:
        super().__init__(settings, name)
        self.config = bot_options(settings, self.name, Config)

    @command("help", help="what I understand", aliases=("?",))
    async def help(self, ctx: Context) -> str:
        return HELP

    @fallback
    async def answer(self, ctx: Context) -> str:
        try:
            changes, text = OPTIONS.parse(ctx.args)
        except OptionError as exc:
            return str(exc)
        topn = (await OPTIONS.remembered(ctx.user_memory, changes)).get("topn", self.config.topn)
        if changes and not text:
            return KEPT.format(topn=topn)
        query = parse(text)
        if query is None:
            return NOT_UNDERSTOOD
        if isinstance(query, Help):
            return HELP
        if isinstance(query, OddOneOut) and len(query.terms) < FEWEST:
            return NEED_THREE
        if isinstance(query, OddOneOut) and len(query.terms) > MOST:
            return TOO_MANY.format(limit=MOST)
        outputs = await self.ask(ctx, query, topn)
        unknown = outputs.unknown
        if (
            isinstance(query, Relation)
            and query.example
            and unknown
            and query.subject not in unknown
        ):
            query = replace(query, example=None)  # the model lacks the table's words: no analogy
            outputs = await self.ask(ctx, query, topn)
            unknown = outputs.unknown
        return unknown_words(unknown) if unknown else reply(query, outputs)

    async def ask(self, ctx: Context, query: ModelQuery, topn: int) -> Word2VecOutput:
        """The model's outputs for ``query``; RemoteError propagates to the core."""
        return await ctx.infer(self.config.model, query.request(topn))


def reply(query: ModelQuery, outputs: Word2VecOutput) -> str:
    """The sentence answering ``query`` from the model's ``outputs`` (all terms known)."""
    if isinstance(query, Similarity):
        if isinstance(outputs.similarity, UnsetType):
            return NO_ANSWER
        return similarity(query, outputs.similarity)
    if isinstance(query, Frequency):
        return frequency(query, outputs.results or [])
    if isinstance(query, OddOneOut):
        return odd_one_out(outputs)
    scored = [(show(str(row[0])), float(row[1])) for row in outputs.results or []]
    if not scored:
        return NO_ANSWER
    if isinstance(query, Neighbours):
        return NEIGHBOURS.format(term=query.term, items=listing(scored))
    if isinstance(query, Arithmetic):
        return ARITHMETIC.format(expression=query.expression, answer=best_guess(scored))
    if isinstance(query, Analogy):
        return ANALOGY.format(a=query.a, b=query.b, c=query.c, answer=best_guess(scored))
    return relation(query, scored)


def best_guess(scored: list[tuple[str, float]], shape: str = SCORED, lowest: bool = False) -> str:
    """The best of ``scored`` (best first) with its score, hedged with alternatives if unsure."""
    if not scored:
        return NO_ANSWER
    (term, score), rest = scored[0], scored[1:]
    best = shape.format(term=term, percent=percent(score))
    confident = lowest or score >= SURE_AT
    runners_up = [other for _, other in rest]
    margin = (min(runners_up) - score if lowest else score - max(runners_up)) if rest else CLOSE
    if confident and margin >= CLOSE:
        return best
    others = listing(rest[:ALTERNATIVES]) if rest else ""
    return HEDGED.format(best=best, others=others) if others else f"probably {best}"


def relation(query: Relation, scored: list[tuple[str, float]]) -> str:
    if query.example is None:
        items = listing(scored)
        return RELATION_GUESS.format(relation=query.relation, subject=query.subject, items=items)
    answer = best_guess(scored)
    return RELATION.format(relation=query.relation, subject=query.subject, answer=answer)


def odd_one_out(outputs: Word2VecOutput) -> str:
    scored = sorted(
        ((show(term), score) for term, score in outputs.scores or []),
        key=lambda pair: pair[1],  # least like the rest first
    )
    if not scored:
        word = outputs.word
        return ODD_ONE_OUT.format(answer=show(word)) if word else NO_ANSWER
    return ODD_ONE_OUT.format(answer=best_guess(scored, ODD_SCORED, lowest=True))


def similarity(query: Similarity, cosine: float) -> str:
    verdict = next((words for floor, words in VERDICTS if cosine >= floor), UNRELATED)
    return SIMILARITY.format(x=query.x, y=query.y, percent=percent(cosine), verdict=verdict)


def frequency(query: Frequency, rows: list[Row]) -> str:
    """Count and rank; imported vectors (GloVe) have a count of 0, "unknown": rank only."""
    if not rows:
        return NO_ANSWER
    _, count, rank = rows[0]
    if not int(count):
        return FREQUENCY_RANK.format(term=query.term, rank=ordinal(int(rank)))
    return FREQUENCY.format(term=query.term, count=int(count), rank=ordinal(int(rank)))


def unknown_words(words: list[str]) -> str:
    """``I don't know the word 'flurb'.``, or the words, listed."""
    quoted = [f"'{word}'" for word in words]
    if len(quoted) == 1:
        return UNKNOWN_WORD.format(words=quoted[0])
    return UNKNOWN_WORDS.format(words=", ".join(quoted[:-1]) + " and " + quoted[-1])


def listing(scored: list[tuple[str, float]]) -> str:
    return ", ".join(SCORED.format(term=term, percent=percent(score)) for term, score in scored)


def percent(score: float) -> str:
    """A cosine as a true percentage: clipped to 0-100% (a negative cosine shows as 0%)."""
    return f"{round(min(max(score, 0.0), 1.0) * 100)}%"


def show(key: str) -> str:
    """A vocabulary key as words: ``new_york`` -> ``new york``."""
    return key.replace("_", " ")


def ordinal(n: int) -> str:
    """``1st``, ``2nd``, ``11th``, ``23rd``."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n:,}{suffix}"
