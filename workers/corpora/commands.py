"""The corpus commands: turn raw corpora into training text, and look into a dialog corpus.

    botwerk corpus wiki enwiki-latest-pages-articles.xml.bz2 wiki.txt
    botwerk corpus cornell "cornell movie-dialogs corpus"             # what was read, skipped
    botwerk corpus cornell DIR --genres                               # genres, most dialogs first
    botwerk corpus cornell DIR --show 3 --genre comedy --seed 7       # three comedy dialogs

Nothing heavy is imported until a command runs.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from botwerk.workers.commands import EXISTING, friendly

if TYPE_CHECKING:
    from botwerk.workers.corpora.dialogs import Dialog


@click.group()
def corpus() -> None:
    """Turn raw corpora into plain text for training."""


@corpus.command("wiki")
@click.argument("dump", type=EXISTING)
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--headings/--no-headings", default=True, show_default=True,
              help="Keep section headings in the text.")  # fmt: skip
@friendly
def corpus_wiki(dump: Path, out: Path, headings: bool) -> None:
    """Extract the articles of a Wikipedia XML dump (.xml.bz2) as plain text into OUT."""
    from botwerk.workers.corpora.wiki import write_wiki_text

    count = write_wiki_text(dump, out, headings=headings)
    click.echo(f"wrote {count} articles to {out}")


@corpus.command("cornell")
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--genres", "list_genres", is_flag=True, help="List every genre with its counts.")
@click.option("--show", type=int, is_flag=False, flag_value=1, default=0, metavar="N",
              help="Print N sample dialogs (1 with no N).")  # fmt: skip
@click.option("--genre", multiple=True, help="Only dialogs of this genre; repeat for more.")
@click.option("--seed", type=int, default=1, show_default=True, help="Which samples --show picks.")
@friendly
def corpus_cornell(
    folder: Path, list_genres: bool, show: int, genre: tuple[str, ...], seed: int
) -> None:
    """What FOLDER, the Cornell Movie-Dialogs corpus, holds: dialogs, pairs, genres, samples.

    FOLDER holds movie_lines.txt (or is the folder the corpus's zip was unpacked in).
    """
    from botwerk.workers.corpora.cornell import cornell_folder
    from botwerk.workers.corpora.sources import load_dialogs

    dialogs, notes = load_dialogs(cornell_folder(folder), genre)
    for note in notes:
        click.echo(note)
    click.echo(f"{len(dialogs):,} dialogs, {sum(len(d.utterances) - 1 for d in dialogs):,} pairs")
    if list_genres:
        _echo_genres(dialogs)
    for dialog in random.Random(seed).sample(dialogs, min(max(show, 0), len(dialogs))):
        _echo_dialog(dialog)


def _echo_genres(dialogs: Sequence[Dialog]) -> None:
    """One row per genre: movies, dialogs and pairs in it, most dialogs first."""
    movies: dict[str, set[str]] = {}
    counts: Counter[str] = Counter()
    found: Counter[str] = Counter()
    for dialog in dialogs:
        for genre in dialog.genres or {"(none)"}:
            movies.setdefault(genre, set()).add(dialog.id.split(":")[0])
            counts[genre] += 1
            found[genre] += len(dialog.utterances) - 1
    click.echo(f"\n{'genre':16} {'movies':>7} {'dialogs':>9} {'pairs':>9}")
    for genre, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        click.echo(f"{genre:16} {len(movies[genre]):7,} {count:9,} {found[genre]:9,}")


def _echo_dialog(dialog: Dialog) -> None:
    """The movie's title and genres, then each utterance on its own line, like a script."""
    genres = ", ".join(sorted(dialog.genres)) or "no genre"
    click.echo(f"\n{dialog.source} ({genres}) {dialog.id}")
    for utterance in dialog.utterances:
        click.echo(f"  {utterance}")
