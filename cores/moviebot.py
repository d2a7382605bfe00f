"""MovieBot: chats like people in the movies, through a seq2seq chat model, one turn of memory.

Talking to it::

    you: hi, how are you?
    moviebot: I'm fine.
    you: where have you been?                   (sent with "I'm fine." as its context)
    moviebot: Out.
    you: mode=beam beam=8 out where?            (a wider search for this message only)
    moviebot: I don't know.
    you: forget                                 (the next message starts afresh)
    moviebot: Forgotten. Let's start over.

Options go first, as ``key=value`` words: ``mode`` (``greedy``: the likeliest words,
``sample``: a draw shaped by ``temp`` and ``top_k``, ``beam``: a search ``beam`` answers
wide), ``temp`` (alias ``temperature``; above 0 and at most 5), ``top_k`` (alias ``k``; 0 or
more, 0: all words), ``beam`` (1-16), ``max_len`` (alias ``len``; tokens, 0-100, 0: the
model's own limit), ``seed`` (a whole number: the same sample again) and ``genre``. The
bounds are the chat model's own, from :mod:`botwerk.schemas.models.chat`.

Genres pick the model: a message whose ``meta`` says ``{"genre": "comedy"}`` (a web transport
sends it) or that starts with ``genre=comedy`` is answered by the model the ``genres`` table
names. Defaults come from botwerk.toml, and a personality is this bot under another name with
its own table (``botwerk core jester``; see :func:`botwerk.cores.bot.build_bot`)::

    [bots.moviebot]
    model = "chat"              # the model its worker serves
    mode = "greedy"             # greedy, sample or beam
    temperature = 0.8
    top_k = 0
    beam = 4
    max_len = 0
    context = true              # send my last line with the next message
    genres = { comedy = "chat-comedy", horror = "chat-horror" }
    forget_after_s = 1800       # a last line older than this is forgotten

    [bots.jester]
    kind = "moviebot"
    model = "chat-comedy"
    mode = "sample"

Memory: the bot's last line in each conversation (transport, conversation, thread) lives in
the bots' state store (``ctx.conversation_memory``, :mod:`botwerk.infra.state`) for
``forget_after_s``. With ``BOTWERK_STATE_URL`` on Redis, cores of one bot competing on a queue
share it and a restarted core keeps it; on SQLite, so do the cores of one host; with
``memory://`` each process has its own. The store bounds memory by that time to live: the
old ``memory`` option (a count of conversations) is refused with a note saying so.

Limits: the context is only the bot's own last line, and the model uses it only if it was
trained with context. Two messages of one conversation answered at the same moment by two
cores each see the line before both (the later answer's line is kept). ``help``, ``forget``
(``reset``) and ``genre`` are commands only when said alone; with more words they are chat
(``forget it, let's dance``). A message may hold at most 2000 characters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import msgspec
from msgspec.structs import replace

from botwerk.cores.bot import Bot, Context, bot_options, command, fallback
from botwerk.cores.options import OptionError, Options, Rule, choice, number
from botwerk.infra.errors import RemoteError
from botwerk.infra.settings import Settings
from botwerk.schemas.models.chat import (
    MAX_BEAM,
    MAX_TEMPERATURE,
    MAX_TEXT,
    MAX_TOKENS,
    MIN_BEAM,
    MODES,
    ChatInput,
    Mode,
)

# What MovieBot says, in one place.
HELP = """\
I talk like people in the movies: say anything and I'll answer. {memory}
Options first, as key=value: `mode=beam beam=8 how are you?`
- mode: greedy (my likeliest words), sample (a gamble) or beam (a search) (now {c.mode})
- temp (or temperature): how daring a sample is, above 0 and up to {max_temperature:g} \
(now {c.temperature})
- top_k (or k): sample only among the k likeliest words, 0 means all (now {c.top_k})
- beam: how many answers a beam search weighs, {min_beam}-{max_beam} (now {c.beam})
- max_len (or len): the longest answer in tokens, 0-{max_tokens}, 0 means no limit of mine \
(now {c.max_len})
- seed: a whole number, to get the same sample again
- genre: {genres}"""
MEMORY_ON = (
    "I remember my last line in each conversation for {minutes} minutes; `forget` starts over."
)
MEMORY_OFF = "Each message stands alone: I don't remember what I said."
ASK_SOMETHING = "Say something and I'll answer, for example `how are you?`."
TOO_LONG = "That's a whole script! Say it in at most {limit} characters."
TOO_SLOW = "Sorry, I lost my line: that took too long. Try again, or try something shorter."
NOTHING_TO_SAY = "I don't know what to say to that."
FORGOTTEN = "Forgotten. Let's start over."
NOTHING_TO_FORGET = "We're starting afresh already."
GENRES = "I can talk like {genres} movies; start with `genre={example}` to pick one."
NO_GENRES = "I have just the one voice here; there are no genres to pick from."
UNKNOWN_GENRE = "I don't know the genre {genre!r}. {genres}"
UNKNOWN_OPTION = (
    "I don't know the option {key!r}; I know mode, temp, top_k, beam, max_len, seed and genre "
    "(see `help`)."
)
BAD_VALUE = "{key} must be {rule}; you wrote {value!r}."
NO_MEMORY_OPTION = (
    "memory is no longer an option: the state store (BOTWERK_STATE_URL) keeps each "
    "conversation's last line for forget_after_s seconds; remove memory"
)

LAST_LINE = "last_line"  # the conversation_memory key holding the bot's last line

GENRE = "genre"  # the Inbound.meta key a transport sets to pick a genre
# The chat model takes any top_k and seed of 0 or more; these caps keep them machine integers.
MAX_TOP_K, MAX_SEED = 2**31 - 1, 2**63 - 1
OPTIONS = Options(
    {
        "mode": choice("mode", MODES, ", ".join(MODES[:-1]) + f" or {MODES[-1]}"),
        "temp": number("temperature", float, 0, MAX_TEMPERATURE,
                       f"a number above 0 and at most {MAX_TEMPERATURE:g}", above=True),
        "top_k": number("top_k", int, 0, MAX_TOP_K, "a whole number, 0 or more"),
        "beam": number("beam", int, MIN_BEAM, MAX_BEAM,
                       f"a whole number from {MIN_BEAM} to {MAX_BEAM}"),
        "max_len": number("max_len", int, 0, MAX_TOKENS, f"a whole number from 0 to {MAX_TOKENS}"),
        "seed": number("seed", int, 0, MAX_SEED, "a whole number, 0 or more"),
        "genre": Rule("genre", str.lower, bool, "the name of a genre (see `genre`)"),
    },
    aliases={"temperature": "temp", "k": "top_k", "len": "max_len"},
    unknown=UNKNOWN_OPTION,
    bad=BAD_VALUE,
)  # fmt: skip


class Config(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """MovieBot's per-bot defaults, from ``[bots.<its name>]``."""

    model: str = "chat"
    mode: str = "greedy"
    temperature: float = 0.8
    top_k: int = 0
    beam: int = 4
    max_len: int = 0
    context: bool = True
    genres: dict[str, str] = {}
    memory: int | None = None  # gone (see NO_MEMORY_OPTION); named so the refusal says why
    forget_after_s: float = 1800.0

    def __post_init__(self) -> None:
        OPTIONS.check(self)
        if self.memory is not None:
            raise ValueError(NO_MEMORY_OPTION)
        if not 0 < self.forget_after_s < float("inf"):
            raise ValueError("forget_after_s must be seconds, above 0; fix it or remove it")
        if any(not genre.strip() or not model.strip() for genre, model in self.genres.items()):
            raise ValueError('genres maps a genre to a model: { comedy = "chat-comedy" }')


@dataclass(frozen=True)
class Request:
    """One message understood: the settings, the model to ask and what the user said."""

    config: Config
    model: str
    text: str
    seed: int | None = None


def parse(text: str, defaults: Config, genre: str = "") -> Request:
    """The leading options of ``text`` applied to ``defaults``; ``genre`` unless one is given.

    >>> parse("mode=beam genre=comedy hi", Config(genres={"comedy": "chat-comedy"})).model
    'chat-comedy'
    """
    changes, said = OPTIONS.parse(text)
    seed = changes.pop("seed", None)
    model = model_for(changes.pop("genre", genre), defaults)
    return Request(replace(defaults, **changes), model, said, seed)


def model_for(genre: str, config: Config) -> str:
    """The model for ``genre`` (``""``: the default); OptionError for a genre there is not."""
    if not genre.strip():
        return config.model
    models = {name.lower(): model for name, model in config.genres.items()}
    if model := models.get(genre.strip().lower()):
        return model
    raise OptionError(UNKNOWN_GENRE.format(genre=genre, genres=genre_list(config)))


def genre_list(config: Config) -> str:
    """The genres there are, as a sentence."""
    genres = sorted(config.genres)
    if not genres:
        return NO_GENRES
    listed = ", ".join(genres[:-1]) + f" or {genres[-1]}" if len(genres) > 1 else genres[0]
    return GENRES.format(genres=listed, example=genres[0])


def chat_input(request: Request, context: str) -> ChatInput:
    """What the chat worker is sent (``context`` and ``seed`` travel only when there are some).

    A context longer than the model takes keeps its end: the words nearest ``text``.
    """
    c = request.config
    return ChatInput(
        text=request.text, context=context[-MAX_TEXT:], mode=cast(Mode, c.mode),  # OPTIONS checked
        temperature=c.temperature, top_k=c.top_k, beam=c.beam, max_len=c.max_len,
        seed=request.seed,
    )  # fmt: skip


class MovieBot(Bot):
    name = "moviebot"
    description = "I talk like people in the movies."

    def __init__(self, settings: Settings, name: str | None = None) -> None:
        super().__init__(settings, name)
        self.config = bot_options(settings, self.name, Config)

    @command("help", help="how to talk to me", aliases=("?",))
    async def help(self, ctx: Context) -> str:
        if ctx.args:
            return await self._chat_instead(ctx)
        c = self.config
        minutes = f"{c.forget_after_s / 60:.3g}"
        memory = MEMORY_ON.format(minutes=minutes) if c.context else MEMORY_OFF
        return HELP.format(
            c=c, memory=memory, genres=genre_list(c), max_temperature=MAX_TEMPERATURE,
            min_beam=MIN_BEAM, max_beam=MAX_BEAM, max_tokens=MAX_TOKENS,
        )  # fmt: skip

    @command("forget", help="forget what we said and start over", aliases=("reset",))
    async def forget(self, ctx: Context) -> str:
        if ctx.args:
            return await self._chat_instead(ctx)
        forgot = await ctx.conversation_memory.delete(LAST_LINE)
        return FORGOTTEN if forgot else NOTHING_TO_FORGET

    @command("genre", help="the kinds of movie I can talk like")
    async def genre(self, ctx: Context) -> str:
        if ctx.args:
            return await self._chat_instead(ctx)
        return genre_list(self.config)

    @fallback
    async def chat(self, ctx: Context) -> str:
        try:
            request = parse(ctx.args, self.config, ctx.message.meta.get(GENRE, ""))
        except OptionError as exc:
            return str(exc)
        if not request.text:
            return ASK_SOMETHING
        if len(request.text) > MAX_TEXT:
            return TOO_LONG.format(limit=MAX_TEXT)
        return await self.answer(ctx, request)

    async def answer(self, ctx: Context, request: Request) -> str:
        """The model's line, remembered as the conversation's context; a timeout in words."""
        memory = ctx.conversation_memory
        context = await memory.get(LAST_LINE, "") if self.config.context else ""
        context = context if isinstance(context, str) else ""  # the store holds any data
        try:
            outputs = await ctx.infer(request.model, chat_input(request, context))
        except RemoteError as exc:
            if exc.code != "timeout":
                raise  # the core words the rest: no worker, busy, model error
            return TOO_SLOW
        line = outputs.text.strip()
        if not line:
            await memory.delete(LAST_LINE)  # the model's own last line is gone: start afresh
            return NOTHING_TO_SAY
        if self.config.context:
            await memory.set(LAST_LINE, line, ttl_s=self.config.forget_after_s)
        return line

    async def _chat_instead(self, ctx: Context) -> str:
        """A command word with more words after it is chat (``forget it``), not the command."""
        ctx.args = ctx.message.text.strip()
        return await self.chat(ctx)
