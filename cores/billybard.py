"""BillyBard: goes on writing what you started, one character at a time, with the char-RNN.

Talking to it::

    you: To be, or not to be
    billybard: To be, or not to be, that is the question of the king.
    you: length=80 temp=0.5 Once upon a time        (80 new characters, calmer)
    you: It was a dark and stormy night               (still 80 and 0.5: kept for you)
    you: reset                                        (back to the defaults)

The reply is your text with the model's continuation appended as is (a char-RNN may finish
your last word), cut back to the last sentence end, or else the last whole word followed by
"…", so it never stops mid-word; it can therefore be a little shorter than ``length``.

Options go first, as ``key=value`` words: ``length`` (alias ``len``; characters to add,
1-2000), ``temp`` (alias ``temperature``; above 0 and at most 5: low is safe and repetitive,
high is wild) and ``top_k`` (alias ``k``; sample only among the k likeliest characters,
0-1000, 0: all). A user's options are kept for that user (``ctx.user_memory``, on every core
of the bot) until the user changes them or says ``reset``; options alone, with no beginning,
just set them. The bounds of length and temp are the charrnn model's own
(:mod:`botwerk.schemas.models.charrnn`); 1000 for top_k is this bot's. Defaults come from
botwerk.toml::

    [bots.billybard]
    model = "charrnn"
    length = 200
    temperature = 0.8
    top_k = 0

Limits: only leading words that look like ``key=value`` are options, so a text that starts
with one (``x=1 is...``) needs a leading option-free word; a text starting with ``help``
shows the help. The model only knows the characters of its training corpus.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import msgspec
from msgspec.structs import replace

from botwerk.cores.bot import Bot, Context, bot_options, command, fallback
from botwerk.cores.options import KEPT as KEPT_OPTIONS
from botwerk.cores.options import OptionError, Options, number
from botwerk.infra.settings import Settings
from botwerk.schemas.models.charrnn import (
    MAX_LENGTH,
    MAX_PRIME,
    MAX_TEMPERATURE,
    MIN_LENGTH,
    CharRNNInput,
)

# What BillyBard says, in one place.
HELP = """\
I continue whatever you start writing. Send a beginning, for example `To be, or not to be`.
Options first, as key=value: `length=300 temp=1.2 Once upon a time`
- length (or len): characters to add, {min_length}-{max_length} (now {length})
- temp (or temperature): above 0 and up to {max_temperature:g}; low is safe, high is wild \
(now {temperature})
- top_k (or k): pick only among the k likeliest characters, 0-{max_top_k}, 0 means all \
(now {top_k})"""
KEPT = "I'll use {options} for you from now on; now give me a beginning."
RESET = "Back to my defaults: length {length}, temp {temperature}, top_k {top_k}."
ASK_FOR_BEGINNING = "Give me a beginning and I'll carry on, for example `Once upon a time`."
NOTHING_TO_ADD = "I couldn't think of anything to add to that; try a longer beginning."
TOO_LONG = "That beginning is too long for me; give me at most {limit} characters."
UNKNOWN_OPTION = "I don't know the option {key!r}; I know length, temp and top_k (see `help`)."
BAD_NUMBER = "{key} must be {rule}; you wrote {value!r}."

MORE = "…"  # ends a reply cut at a word boundary rather than at a sentence end

MAX_TOP_K = 1000  # this bot's own cap: the model takes any top_k of 0 or more
OPTIONS = Options(
    {
        "length": number("length", int, MIN_LENGTH, MAX_LENGTH,
                         f"a whole number from {MIN_LENGTH} to {MAX_LENGTH}"),
        "temp": number("temperature", float, 0, MAX_TEMPERATURE,
                       f"a number above 0 and at most {MAX_TEMPERATURE:g}", above=True),
        "top_k": number("top_k", int, 0, MAX_TOP_K, f"a whole number from 0 to {MAX_TOP_K}"),
    },
    aliases={"len": "length", "temperature": "temp", "k": "top_k"},
    unknown=UNKNOWN_OPTION,
    bad=BAD_NUMBER,
)  # fmt: skip
SENTENCE_END = re.compile(r"[.!?][\"')\]]*(?=\s|$)")


class Config(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """BillyBard's per-bot defaults, from ``[bots.billybard]``."""

    model: str = "charrnn"
    length: int = 200
    temperature: float = 0.8
    top_k: int = 0

    def __post_init__(self) -> None:
        OPTIONS.check(self)


@dataclass(frozen=True)
class Request:
    """One message understood: the settings to use and the beginning to continue."""

    config: Config
    prime: str


def parse(text: str, defaults: Config) -> Request:
    """The leading ``key=value`` options of ``text`` applied to ``defaults``, and the rest.

    >>> parse("len=80 temp=0.5 Once upon", Config())
    Request(config=Config(model='charrnn', length=80, temperature=0.5, top_k=0), prime='Once upon')
    """
    changes, prime = OPTIONS.parse(text)
    return Request(replace(defaults, **changes), prime)


def compose(prime: str, continuation: str) -> str:
    """``prime`` and ``continuation`` as one text that ends at a sentence or word boundary.

    >>> compose("To be", ", or not. That is the qu")
    'To be, or not.'
    """
    ends = [m.end() for m in SENTENCE_END.finditer(continuation)]
    if ends and ends[-1] >= len(continuation) // 3:
        return prime + continuation[: ends[-1]]
    cut = continuation.rstrip()
    if cut != continuation or not cut:
        return (prime + cut).rstrip() + MORE  # the model stopped at a word end
    space = max(cut.rfind(" "), cut.rfind("\n"))
    return (prime + (cut[:space] if space > 0 else cut)).rstrip() + MORE


class BillyBard(Bot):
    name = "billybard"
    description = "I continue whatever you start writing."

    def __init__(self, settings: Settings, name: str | None = None) -> None:
        super().__init__(settings, name)
        self.config = bot_options(settings, self.name, Config)

    @command("help", help="how to talk to me", aliases=("?",))
    async def help(self, ctx: Context) -> str:
        c = replace(self.config, **await OPTIONS.remembered(ctx.user_memory, {}))
        return HELP.format(
            length=c.length, temperature=c.temperature, top_k=c.top_k, min_length=MIN_LENGTH,
            max_length=MAX_LENGTH, max_temperature=MAX_TEMPERATURE, max_top_k=MAX_TOP_K,
        )  # fmt: skip

    @command("reset", help="forget the options you set; back to my defaults")
    async def reset(self, ctx: Context) -> str:
        if ctx.args:  # "reset the clocks, ..." is a beginning to continue
            ctx.args = ctx.message.text.strip()
            return await self.write(ctx)
        await ctx.user_memory.delete(KEPT_OPTIONS)
        c = self.config
        return RESET.format(length=c.length, temperature=c.temperature, top_k=c.top_k)

    @fallback
    async def write(self, ctx: Context) -> str:
        try:
            changes, prime = OPTIONS.parse(ctx.args)
        except OptionError as exc:
            return str(exc)
        kept = await OPTIONS.remembered(ctx.user_memory, changes)
        request = Request(replace(self.config, **kept), prime)
        if not request.prime:
            if changes:
                return KEPT.format(options=", ".join(f"{k} {v}" for k, v in changes.items()))
            return ASK_FOR_BEGINNING
        if len(request.prime) > MAX_PRIME:
            return TOO_LONG.format(limit=MAX_PRIME)
        c = request.config
        asked = CharRNNInput(
            prime=request.prime, length=c.length, temperature=c.temperature, top_k=c.top_k
        )
        continuation = (await ctx.infer(c.model, asked)).text
        if not continuation.strip():
            return NOTHING_TO_ADD
        return compose(request.prime, continuation)
