"""The Cornell Movie-Dialogs corpus as distributed: its movies, their genres, their dialogs.

With the corpus downloaded (below)::

    corpus = read_cornell("cornell movie-dialogs corpus")   # the folder holding movie_lines.txt
    print(corpus.summary())
    # 304,713 lines, 83,097 conversations, 617 movies: ... dialogs
    # skipped: ...
    comedies = with_genres(corpus.dialogs, ["comedy"])      # from .dialogs

Download the corpus (Danescu-Niculescu-Mizil and Lee, 2011) from
https://www.cs.cornell.edu/~cristian/Cornell_Movie-Dialogs_Corpus.html and unzip it; this
module reads three of its files, ISO-8859-1 text, fields joined by `` +++$+++ ``::

    movie_lines.txt            L1045 +++$+++ u0 +++$+++ m0 +++$+++ BIANCA +++$+++ They do not!
    movie_conversations.txt    u0 +++$+++ u2 +++$+++ m0 +++$+++ ['L194', 'L195', 'L196']
    movie_titles_metadata.txt  m0 +++$+++ 10 things i hate about you +++$+++ 1999 +++$+++ 6.90
                               +++$+++ 62847 +++$+++ ['comedy', 'romance']

Each conversation becomes a :class:`~.dialogs.Dialog` (id ``m0:L194``, the movie's title as
its source, the movie's genres lower-cased). A line a conversation names that is missing from
movie_lines.txt, or whose text is empty, splits the conversation there: no prompt/reply pair
ever joins two utterances that were not said one after the other. A run of one utterance left
by a split is dropped.

A malformed line (wrong number of fields, a list field that is not a list of quoted strings,
a duplicate id, a conversation in a movie the metadata lacks) is skipped and counted with its
line number; :meth:`CornellCorpus.summary` reports them. Nothing in the data makes the reader
crash.

Limits: lines are split on ``\\n`` only (a stray ``\\r`` or ``\\x85`` inside a text is kept);
bytes meant as Windows-1252 punctuation (0x80-0x9f), if any, decode as Latin-1 control
characters; the speakers' names and the two other files (characters, script URLs) are not
read. The whole corpus reads in about 1.5 seconds on one core, without a progress bar.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from botwerk.workers.corpora.dialogs import CorpusError, Dialog

LINES, CONVERSATIONS, TITLES = (
    "movie_lines.txt",
    "movie_conversations.txt",
    "movie_titles_metadata.txt",
)
SEPARATOR = "+++$+++"  # with a space either side; fields are stripped, so a trailing one may go
ENCODING = "iso-8859-1"
SHOWN = 5
"""malformed line numbers shown per file in a summary"""
WHERE = (
    "download the Cornell Movie-Dialogs corpus "
    "(https://www.cs.cornell.edu/~cristian/Cornell_Movie-Dialogs_Corpus.html) and give its "
    "folder, the one holding movie_lines.txt"
)


@dataclass(frozen=True, slots=True)
class Movie:
    id: str
    title: str
    year: str
    """as written: ``1999``, or ``1989/I`` for the first of that year's films of that title"""
    genres: frozenset[str]


@dataclass(slots=True)
class FileReport:
    """What one file held: lines read (blank ones aside) and the numbers of malformed ones."""

    name: str
    lines: int = 0
    malformed: list[int] = field(default_factory=list)

    def note(self) -> str:
        """``2 malformed lines in movie_lines.txt (lines 17, 40)``; "" when none."""
        count = len(self.malformed)
        if not count:
            return ""
        numbers = ", ".join(str(n) for n in self.malformed[:SHOWN])
        more = ", ..." if count > SHOWN else ""
        plural = "s" if count > 1 else ""
        return f"{count:,} malformed line{plural} in {self.name} (line{plural} {numbers}{more})"


@dataclass(frozen=True, slots=True)
class CornellCorpus:
    dialogs: list[Dialog]
    movies: dict[str, Movie]
    files: dict[str, FileReport]
    """by file name"""
    lines: int
    """well-formed lines of movie_lines.txt"""
    conversations: int
    """well-formed conversations"""
    broken: int
    """conversations split or shortened by missing or empty lines"""
    missing: int
    """line ids conversations name that movie_lines.txt lacks"""
    empty: int
    """utterances with no text that conversations name"""

    def summary(self) -> str:
        """Two lines: what was read, and what was skipped."""
        read = (
            f"{_count(self.lines, 'line')}, {_count(self.conversations, 'conversation')}, "
            f"{_count(len(self.movies), 'movie')}: {_count(len(self.dialogs), 'dialog')}"
        )
        skipped = [report.note() for report in self.files.values() if report.note()]
        gaps = [_count(self.missing, "line") + f" missing from {LINES}"] if self.missing else []
        gaps += [_count(self.empty, "empty line")] if self.empty else []
        if gaps:
            broken = _count(self.broken, "conversation")
            skipped.append(f"{' and '.join(gaps)} ({broken} cut there)")
        return f"{read}\nskipped: {'; '.join(skipped) or 'nothing'}"


def _count(number: int, thing: str) -> str:
    """``1 line``, ``304,713 lines``."""
    return f"{number:,} {thing}{'' if number == 1 else 's'}"


def find_cornell(folder: Path | str) -> Path | None:
    """``folder`` if it holds movie_lines.txt, or its one subfolder that does; else None."""
    root = Path(folder)
    if (root / LINES).is_file():
        return root
    inside = sorted(root.glob(f"*/{LINES}")) if root.is_dir() else []
    return inside[0].parent if len(inside) == 1 else None


def cornell_folder(folder: Path | str) -> Path:
    """:func:`find_cornell`, or a :class:`CorpusError` that says where to get the corpus."""
    found = find_cornell(folder)
    if found is not None:
        return found
    what = "no folder" if not Path(folder).is_dir() else f"no {LINES} in"
    raise CorpusError(f"{what} {folder}: {WHERE}")


def read_cornell(folder: Path | str) -> CornellCorpus:
    """The corpus in ``folder`` (or its one subfolder holding it); see the module's notes."""
    root = cornell_folder(folder)
    for name in (CONVERSATIONS, TITLES):
        if not (root / name).is_file():
            raise CorpusError(f"{root / name} is missing: {WHERE}")
    files = {name: FileReport(name) for name in (LINES, CONVERSATIONS, TITLES)}
    movies = _read_movies(root, files[TITLES])
    texts = _read_lines(root, files[LINES])
    dialogs: list[Dialog] = []
    tally = _Tally()
    for number, (movie_id, line_ids) in _conversations(root, files[CONVERSATIONS]):
        movie = movies.get(movie_id)
        if movie is None:
            files[CONVERSATIONS].malformed.append(number)
            continue
        tally.conversations += 1
        dialogs.extend(_dialogs(movie, line_ids, texts, tally))
    counts = (tally.conversations, tally.broken, tally.missing, tally.empty)
    return CornellCorpus(dialogs, movies, files, len(texts), *counts)


@dataclass(slots=True)
class _Tally:
    conversations: int = 0
    broken: int = 0
    missing: int = 0
    empty: int = 0


def _dialogs(
    movie: Movie, line_ids: list[str], texts: dict[str, str], tally: _Tally
) -> Iterator[Dialog]:
    """One dialog per run of known, non-empty lines, two lines long or more."""
    runs: list[list[str]] = [[]]
    for line_id in line_ids:
        text = texts.get(line_id)
        if text:
            runs[-1].append(line_id)
            continue
        tally.missing += text is None
        tally.empty += text == ""
        runs.append([])
    tally.broken += len(runs) > 1
    for run in runs:
        if len(run) >= 2:
            said = tuple(texts[line_id] for line_id in run)
            yield Dialog(f"{movie.id}:{run[0]}", said, movie.genres, movie.title)


def _rows(path: Path, report: FileReport, width: int) -> Iterator[tuple[int, list[str]]]:
    """(line number, stripped fields) of every line with ``width`` fields; others counted."""
    text = path.read_bytes().decode(ENCODING)  # Latin-1 decodes any byte: never an error
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        report.lines += 1
        fields = [f.strip() for f in line.split(SEPARATOR, width - 1)]
        if len(fields) == width and fields[0]:
            yield number, fields
        else:
            report.malformed.append(number)


def _read_lines(root: Path, report: FileReport) -> dict[str, str]:
    texts: dict[str, str] = {}
    for number, (line_id, _, _, _, text) in _rows(root / LINES, report, 5):
        if line_id in texts:
            report.malformed.append(number)
        else:
            texts[line_id] = text
    return texts


def _read_movies(root: Path, report: FileReport) -> dict[str, Movie]:
    movies: dict[str, Movie] = {}
    for number, (movie_id, title, year, _, _, listed) in _rows(root / TITLES, report, 6):
        genres = parse_list(listed)
        if genres is None or movie_id in movies:
            report.malformed.append(number)
        else:
            movies[movie_id] = Movie(movie_id, title, year, frozenset(g.lower() for g in genres))
    return movies


def _conversations(root: Path, report: FileReport) -> Iterator[tuple[int, tuple[str, list[str]]]]:
    for number, (_, _, movie_id, listed) in _rows(root / CONVERSATIONS, report, 4):
        line_ids = parse_list(listed)
        if line_ids:
            yield number, (movie_id, line_ids)
        else:
            report.malformed.append(number)


def parse_list(field: str) -> list[str] | None:
    """The strings of a list literal of quoted strings, ``['L1', 'L2']``; None if not one.

    Read by hand, never evaluated: ``[]`` is an empty list, items may not hold commas.
    """
    if not (field.startswith("[") and field.endswith("]")):
        return None
    inside = field[1:-1].strip()
    if not inside:
        return []
    items = [item.strip() for item in inside.split(",")]
    for item in items:
        if len(item) < 2 or item[0] != item[-1] or item[0] not in "'\"" or item[0] in item[1:-1]:
            return None
    return [item[1:-1] for item in items]
