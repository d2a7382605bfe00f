"""What a user reads never names the program's insides, whatever they send, to any bot.

Every bot runs in a real Core and every model in a real Worker, on the in-process bus: the
echo model itself, and for charrnn, word2vec and chat a stand-in that declares the kind's real
input type (so the worker checks a request exactly as the real model's worker does) and
answers with outputs of the kind's shape. Hostile messages (very long text, bad options,
options alone, odd characters, blank lines) go to each bot through the real Gateway, and no
reply may contain a field path, a type name or a model input's field name.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from botwerk.cores import DEMO_BOTS, billybard, moviebot
from botwerk.cores.bot import Bot, Context, build_bot, fallback
from botwerk.cores.runtime import Core
from botwerk.infra import messages
from botwerk.infra.memory import MemoryBus
from botwerk.schemas.models import (
    CharRNNInput,
    ChatInput,
    ChatOutput,
    EchoInput,
    Word2VecInput,
    Word2VecOutput,
)
from botwerk.schemas.models.charrnn import MAX_PRIME
from botwerk.testing import ChatClient
from botwerk.workers.echo.serve import EchoModel
from botwerk.workers.runtime import Worker

MODEL_TYPES = (CharRNNInput, ChatInput, ChatOutput, EchoInput, Word2VecInput, Word2VecOutput)
USER_OPTIONS = {  # option names a bot's help teaches: the user's own words
    name for bot in (billybard, moviebot) for name in (*bot.OPTIONS.rules, *bot.OPTIONS.aliases)
}
FIELD_NAMES = {  # fields no user ever types: snake_case, or not English (prime, topn)
    name
    for kind in MODEL_TYPES
    for name in kind.__struct_fields__
    if ("_" in name or name in {"prime", "topn"}) and name not in USER_OPTIONS
}
INSIDES = re.compile(
    r"inputs\.|outputs\.|\$\.|`(?:str|int|float|bool|array|object|null)\b|\bexpected `|"
    r"msgspec|Struct\b|SchemaError|Traceback|cannot take that input|"
    + "|".join(rf"\b{re.escape(name)}\b" for name in sorted(FIELD_NAMES)),
    re.IGNORECASE,
)

HOSTILE = [
    "x" * 5000,
    "to be " * 900,
    "length=99999 temp=-1 hi",
    "temp=nan top_k=abc hi",
    "len=99999999999999999999999 x",
    "mode=shout beam=0 seed=-1 hi",
    "zz=1 hi",
    "genre=nope hi",
    "a=b=c",
    "length=10 temp=0.5",
    "mode=beam",
    "k=",
    "\x00\x01\x7f ☃ 🦊 \u202e ﷽ e\u0301",
    "{detail} {model} %s %(x)s",
    "@",
    "=",
    "?",
    "help help help",
    "slow -5 hi",
    "slow abc",
    "which doesn't belong: " + ", ".join(f"w{i}" for i in range(150)),
    "a - b + c - " + " + ".join("w" * 3000 for _ in range(3)),
    ": : :: :",
    "how common is",
    "x vs",
    "",
    "   ",
]


class Standin:
    """A model of a kind, minus the weights: its real input type, outputs of its shape."""

    version = "1"

    def __init__(self, name: str, example: Any, answer: Any) -> None:
        self.name, self.Input, self._example, self.answer = name, type(example), example, answer

    def load(self) -> None:
        """Nothing to load."""

    def example(self) -> Any:
        return self._example

    def predict(self, batch: list[Any]) -> list[dict[str, Any]]:
        return [self.answer(item) for item in batch]


def word2vec_answer(asked: Word2VecInput) -> dict[str, Any]:
    words = asked.words or asked.positive or ["word"]
    return {
        "unknown": [], "resolved": {}, "results": [[words[0], 12, 3]] if asked.op == "frequency"
        else [["queen", 0.7], ["king", 0.5]], "similarity": 0.4, "word": words[-1],
        "scores": [[word, 0.1 * i] for i, word in enumerate(words)],
    }  # fmt: skip


STANDINS: dict[str, tuple[Any, Any]] = {  # name: (an example input, its answer)
    "charrnn": (CharRNNInput(prime="The "), lambda asked: {"text": " and so it went."}),
    "chat": (ChatInput(text="hi"), lambda asked: {"text": "I'm fine.", "context_used": False}),
    "word2vec": (Word2VecInput(op="most_similar", positive=["king"]), word2vec_answer),
}


class Unchecked(Bot):
    """A bot that sends the user's text to charrnn as is: the worker is the only check."""

    name = "unchecked"

    @fallback
    async def write(self, ctx: Context) -> str:
        outputs = await ctx.infer("charrnn", prime=ctx.args)  # untyped: no check on this side
        return str(outputs["text"])


class Silent(Bot):
    """A bot whose handler answers a blank message with nothing at all."""

    name = "silent"

    @fallback
    async def nothing(self, ctx: Context) -> str:
        return "" if not ctx.args else "heard you"


@pytest.fixture
async def mesh(settings):
    """A memory bus with every demo bot's core, plus the two test bots, and every model."""
    bus = MemoryBus(settings.max_message_bytes)
    await bus.start()
    bots = [build_bot(settings, name) for name in DEMO_BOTS] + [
        Unchecked(settings),
        Silent(settings),
    ]
    models = [EchoModel(settings, "echo")] + [
        Standin(name, example, answer) for name, (example, answer) in STANDINS.items()
    ]
    roles = [Worker(bus, settings, model) for model in models]
    roles += [Core(bus, settings, bot) for bot in bots]
    for role in roles:
        await role.start()
    yield bus
    for role in reversed(roles):
        await role.stop()
    await bus.close()


def test_the_pattern_catches_what_the_issue_showed():
    old = "charrnn cannot take that input: inputs.prime: expected `str` of length <= 4000"
    assert INSIDES.search(old) and INSIDES.search("at `$.words[0]`")
    assert {"delay_ms", "context_used", "prime", "topn"} <= FIELD_NAMES
    assert "top_k" not in FIELD_NAMES  # billybard's and moviebot's help teach it
    assert not INSIDES.search("I continue whatever you start writing: length=80 temp=0.5 top_k=3")


async def test_no_reply_to_any_bot_names_the_insides(mesh, settings):
    seen = []
    for bot in DEMO_BOTS:
        async with ChatClient(mesh, settings, bot=bot) as chat:
            for text in HOSTILE:
                reply = await chat.ask(text)
                seen.append((bot, text[:40], reply.text, reply.error))
                assert reply.text.strip(), f"{bot} said nothing to {text[:40]!r}"
                assert not INSIDES.search(reply.text), f"{bot} to {text[:40]!r}: {reply.text}"
                assert reply.error != "timeout", f"{bot} to {text[:40]!r}: {reply.text}"
    assert len(seen) == len(DEMO_BOTS) * len(HOSTILE)


async def test_input_only_the_worker_refuses_is_worded_for_a_person(mesh, settings):
    async with ChatClient(mesh, settings, bot="unchecked") as chat:
        reply = await chat.ask("x" * (MAX_PRIME + 1000))
    assert reply.error == "bad_request"
    detail = "the text is too long: at most 4,000 characters"
    assert reply.text == messages.BAD_REQUEST.format(detail=detail)
    assert not INSIDES.search(reply.text)


async def test_billybard_says_too_long_itself_before_asking_the_model(mesh, settings):
    async with ChatClient(mesh, settings, bot="billybard") as chat:
        for text in ("x" * 5000, "@billybard " + "x" * 5000, "length=10 " + "é" * 4500):
            reply = await chat.ask(text)
            assert (reply.text, reply.error) == (billybard.TOO_LONG.format(limit=MAX_PRIME), None)


@pytest.mark.parametrize("bot", [*DEMO_BOTS, "silent"])
async def test_every_bot_answers_a_blank_or_mention_only_message(mesh, settings, bot):
    async with ChatClient(mesh, settings, bot=bot) as chat:
        for text, direct in (("", True), (" \t ", True), (f"@{bot}", False), (f"{bot}:", False)):
            async with asyncio.timeout(5):  # a bot that says nothing leaves ask() waiting
                reply = await chat.ask(text, direct=direct)
            assert reply.text.rstrip()[-1:] in {".", "!", "?"}, (bot, text, reply)  # a sentence
            assert reply.error is None, (bot, text, reply)
            assert reply.text != messages.TOOK_TOO_LONG
