"""Dialogs from any source a chat model trains on, named by a word or a path.

By name or by path::

    dialogs, notes = load_dialogs("chatterbot")                     # bundled, no download
    dialogs, notes = load_dialogs("cornell movie-dialogs corpus", ["comedy"])

The source is :data:`CHATTERBOT` (:mod:`.chatterbot`'s bundled English dialogs), a folder
holding ``movie_lines.txt`` (:mod:`.cornell`), or chatterbot-format YAML; the notes say what
was read and skipped. Only this module knows every reader, so the readers never import each
other.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection
from pathlib import Path

from botwerk.workers.corpora.chatterbot import chatterbot_dialogs
from botwerk.workers.corpora.cornell import find_cornell, read_cornell
from botwerk.workers.corpora.dialogs import CorpusError, Dialog, genre_counts, with_genres

CHATTERBOT = "chatterbot"
"""The corpus name that means chatterbot-corpus's English dialogs, bundled in its package."""


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
