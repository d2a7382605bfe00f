"""Dialogs and the prompt/reply pairs a chat model learns from, whatever corpus they come from.

From a corpus to the three parts a chat model trains, validates and tests on::

    dialogs = chatterbot_dialogs()     # .chatterbot: the English dialogs of chatterbot-corpus
    dialogs = with_genres(dialogs, ["humor", "movies"])  # a dialog in any of them
    train, valid, test = split(pairs(dialogs), seed=7)  # stable: a prompt's pairs stay together

A :class:`Dialog` is a run of utterances, each answering the one before; its genres are the
movie's genres (:mod:`.cornell`) or the file's categories (:mod:`.chatterbot`);
:func:`.sources.load_dialogs` reads any of them by name or path. :func:`pairs` turns each two
consecutive utterances into a :class:`Pair`, with the utterance before the prompt as its
context (empty at a dialog's start), for models that read the last turn too.

:func:`split` puts each pair in train, valid or test by a seeded hash of its prompt (through
``key``, normally the tokenised prompt), so the test set stays the same when the corpus grows
or is filtered differently, and every reply to one prompt lands in the same part: the model is
never tested on a prompt it trained on, and evaluation sees all of a prompt's references.

Limits: chatterbot's dialogs are short scripted exchanges (greetings, trivia, tech support),
about 2,400 English pairs; they show the model learns, not that it chats well.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, NamedTuple, TypeVar

from botwerk.schemas import BotwerkError

T = TypeVar("T")


class CorpusError(BotwerkError):
    """A corpus cannot be read; the message names the file and what to do."""


@dataclass(frozen=True, slots=True)
class Dialog:
    """Utterances in order, each answering the one before."""

    id: str
    """where it comes from: ``m0:L194`` (Cornell movie and first line), ``greetings.yml:3``"""
    utterances: tuple[str, ...]
    genres: frozenset[str] = frozenset()
    source: str = ""
    """the movie's title, or the chatterbot file"""


@dataclass(frozen=True, slots=True)
class Pair:
    """One prompt and the reply that followed it."""

    prompt: str
    reply: str
    context: str = ""
    """the utterance before the prompt; "" when the prompt opens its dialog"""
    dialog: str = ""


class Split(NamedTuple, Generic[T]):
    train: list[T]
    valid: list[T]
    test: list[T]


def _prompt_key(pair: Any) -> str:
    return " ".join(str(pair.prompt).lower().split())


def pairs(dialogs: Iterable[Dialog]) -> list[Pair]:
    """Every two consecutive utterances of every dialog, in order."""
    found = []
    for dialog in dialogs:
        said = dialog.utterances
        for i in range(len(said) - 1):
            context = said[i - 1] if i > 0 else ""
            found.append(Pair(said[i], said[i + 1], context, dialog.id))
    return found


def with_genres(dialogs: Iterable[Dialog], genres: Collection[str]) -> list[Dialog]:
    """The dialogs in any of ``genres`` (any case); all of them when ``genres`` is empty."""
    wanted = {g.lower() for g in genres}
    return [d for d in dialogs if not wanted or wanted & d.genres]


def genre_counts(dialogs: Iterable[Dialog]) -> Counter[str]:
    """Dialogs per genre; a dialog counts once in each of its genres."""
    return Counter(genre for dialog in dialogs for genre in dialog.genres)


def split(
    found: Sequence[T],
    *,
    seed: int = 1337,
    valid_fraction: float = 0.1,
    test_fraction: float = 0.1,
    key: Callable[[T], str] = _prompt_key,
) -> Split[T]:
    """Train, valid and test parts of ``found`` (pairs, by default), by a seeded hash of
    ``key(item)`` (by default the pair's prompt, lower-cased, spaces collapsed)."""
    if valid_fraction < 0 or test_fraction < 0 or valid_fraction + test_fraction >= 1:
        raise ValueError("valid_fraction and test_fraction must be >= 0 and add up to under 1")
    parts: Split[T] = Split([], [], [])
    for item in found:
        digest = hashlib.blake2b(f"{seed}\0{key(item)}".encode(), digest_size=8).digest()
        where = int.from_bytes(digest, "big") / 2**64  # uniform in [0, 1)
        part = parts.test if where < test_fraction else parts.train
        if test_fraction <= where < test_fraction + valid_fraction:
            part = parts.valid
        part.append(item)
    return parts
