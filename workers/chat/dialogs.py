"""Dialogs and the prompt/reply pairs a chat model learns from, whatever corpus they come from.

>>> dialogs = chatterbot_dialogs()                      # the English dialogs of chatterbot-corpus
>>> dialogs = with_genres(dialogs, ["humor", "movies"])  # a dialog in any of them
>>> train, valid, test = split(pairs(dialogs), seed=7)  # stable: a prompt's pairs stay together

A :class:`Dialog` is a run of utterances, each answering the one before; its genres are the
movie's genres (Cornell) or the file's categories (chatterbot). :func:`pairs` turns each two
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

import difflib
import hashlib
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, NamedTuple, TypeVar

from botwerk.schemas import BotwerkError

T = TypeVar("T")
CHATTERBOT = "chatterbot"
"""The corpus name that means chatterbot-corpus's English dialogs, bundled in its package."""


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


def chatterbot_dialogs(path: Path | str | None = None) -> list[Dialog]:
    """The dialogs of chatterbot-corpus YAML files: a file, a folder, or (None) English.

    Each file has ``categories`` (its genres, lower-cased) and ``conversations``, lists of
    utterances; a conversation of fewer than two strings is skipped.
    """
    import yaml

    root = Path(path) if path is not None else _bundled_english()
    files = sorted(root.glob("*.yml")) if root.is_dir() else [root]
    if not files or not files[0].is_file():
        raise CorpusError(f"no chatterbot YAML files at {root}")
    dialogs = []
    for file in files:
        try:
            data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise CorpusError(f"{file} is not a readable chatterbot YAML file: {exc}") from None
        genres = frozenset(str(c).lower() for c in data.get("categories") or [file.stem])
        for number, talk in enumerate(data.get("conversations") or []):
            said = tuple(str(u).strip() for u in talk if isinstance(u, str | int | float))
            if len(said) >= 2 and all(said):
                dialogs.append(Dialog(f"{file.name}:{number}", said, genres, file.name))
    return dialogs


def _bundled_english() -> Path:
    try:
        import chatterbot_corpus
    except ImportError:
        raise CorpusError(
            "chatterbot-corpus is not installed: pip install chatterbot-corpus"
        ) from None
    return Path(chatterbot_corpus.__file__).parent / "data" / "english"


def load_dialogs(
    source: str | Path, genres: Collection[str] = ()
) -> tuple[list[Dialog], list[str]]:
    """The dialogs of ``source`` in any of ``genres`` (all when empty), and notes on the read.

    ``source`` is ``"chatterbot"`` (the English dialogs bundled with chatterbot-corpus), a
    folder holding movie_lines.txt (the Cornell Movie-Dialogs corpus), or a chatterbot-format
    ``.yml`` file or folder of them. The notes say what was read and skipped, one per line.
    A genre no dialog has is a :class:`CorpusError` that lists the genres there are.
    """
    dialogs, notes = _read_source(source)
    if genres:
        _check_genres(dialogs, genres)
        dialogs = with_genres(dialogs, genres)
        wanted = sorted({g.lower() for g in genres})
        kind = "genres" if len(wanted) > 1 else "genre"
        notes.append(f"{len(dialogs):,} dialogs in {kind} {', '.join(wanted)}")
    return dialogs, notes


def _read_source(source: str | Path) -> tuple[list[Dialog], list[str]]:
    if isinstance(source, str) and source == CHATTERBOT:
        dialogs = chatterbot_dialogs()
        return dialogs, [f"{len(dialogs):,} dialogs of chatterbot-corpus (English)"]
    from .cornell import find_cornell, read_cornell

    path = Path(source)
    if (cornell := find_cornell(path)) is not None:
        corpus = read_cornell(cornell)
        return corpus.dialogs, corpus.summary().splitlines()
    yaml_file = path.is_file() and path.suffix in (".yml", ".yaml")
    if yaml_file or (path.is_dir() and any(path.glob("*.yml"))):
        dialogs = chatterbot_dialogs(path)
        return dialogs, [f"{len(dialogs):,} dialogs in {path}"]
    raise CorpusError(
        f"no dialogs at {path}: give {CHATTERBOT!r} (chatterbot-corpus's English dialogs), "
        "a folder holding movie_lines.txt (the Cornell Movie-Dialogs corpus), or a "
        "chatterbot-format .yml file or folder of them"
    )


def _check_genres(dialogs: list[Dialog], genres: Collection[str]) -> None:
    """Raise a :class:`CorpusError` naming the genres there are if one asked for is not."""
    counts = genre_counts(dialogs)
    unknown = sorted({g.lower() for g in genres} - counts.keys())
    if not unknown:
        return
    guesses = [m for g in unknown for m in difflib.get_close_matches(g, list(counts), n=1)]
    hint = f" (did you mean {', '.join(guesses)}?)" if guesses else ""
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    there = ", ".join(f"{genre} {count:,}" for genre, count in ranked) or "none"
    raise CorpusError(
        f"no dialogs in genre {', '.join(unknown)}{hint}; the genres there, with their "
        f"dialogs: {there}"
    )
