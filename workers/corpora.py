"""Corpora: plain text, tokenised sentences and Wikipedia dumps, read the same way everywhere.

>>> text = load_text("corpus/")      # every text file under a folder, sorted, joined: one str
>>> for words in iter_sentences("corpus.txt.bz2"): ...   # ["the", "cat", "sat"], one per line
>>> write_wiki_text("enwiki-latest-pages-articles.xml.bz2", Path("wiki.txt"), headings=True)

Plain text: UTF-8, undecodable bytes become U+FFFD; ``.gz`` and ``.bz2`` files are decompressed
on the fly; in a folder every file is read, sorted, recursively, hidden ones skipped.

Sentences: one line is one sentence. Words are runs of letters (``gensim.utils.tokenize``: no
digits, no punctuation; underscores kept, so ``new_york`` stays one word), 1 to 40 characters,
lower-cased unless ``lowercase=False``. Single letters are kept ("I", "a"), unlike
``simple_preprocess``, and so are words over 15 letters.

Wikipedia: :func:`wiki_articles` turns a MediaWiki XML dump (``.xml``, ``.xml.bz2``,
``.xml.gz``) into :class:`WikiArticle` s through gensim's ``extract_pages`` and ``filter_wiki``:
main-namespace articles only, no redirects, no templates, tables, references or links markup.
:func:`write_wiki_text` writes them in one plain-text format both the word2vec reader and
``load_text`` (the char-RNN) read::

    = Anarchism =
    Anarchism is a political philosophy that ...      <- one paragraph per line
    == History ==                                      <- section headings, unless headings=False
    The first political philosopher to ...
                                                       <- a blank line ends an article

Limits: the dump is parsed on one core (about a few MB of XML per second); for a full
English dump expect hours. Lists and tables are kept only as the text lines they leave.
"""

from __future__ import annotations

import bz2
import gzip
import re
from collections.abc import Iterator
from itertools import chain
from pathlib import Path
from typing import IO, NamedTuple

from gensim.corpora.wikicorpus import IGNORED_NAMESPACES, extract_pages, filter_wiki
from gensim.utils import tokenize as gensim_tokenize
from tqdm import tqdm  # type: ignore[import-untyped, unused-ignore]

MIN_WORD, MAX_WORD = 1, 40


def text_files(path: Path | str) -> list[Path]:
    """``path`` itself if it is a file, else every file under it: sorted, hidden ones skipped."""
    root = Path(path)
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise FileNotFoundError(f"no corpus at {root}: give a text file or a folder of them")
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )


def open_text(path: Path) -> IO[str]:
    """Open one file as UTF-8 text, decompressing ``.gz``/``.bz2``, replacing bad bytes."""
    suffix = path.suffix.lower()
    if suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    if suffix == ".bz2":
        return bz2.open(path, "rt", encoding="utf-8", errors="replace")
    return path.open(encoding="utf-8", errors="replace")


def load_text(path: Path | str) -> str:
    """The whole text of a file, or of every text file under a folder joined by newlines."""
    parts = []
    for file in text_files(path):
        with open_text(file) as handle:
            parts.append(handle.read())
    return "\n".join(parts)


def iter_lines(path: Path | str) -> Iterator[str]:
    """Every line of a file or folder, without its line end."""
    for file in text_files(path):
        with open_text(file) as handle:
            for line in handle:
                yield line.rstrip("\r\n")


# Sentences for word2vec: one line is one sentence.


def tokenize(line: str, *, lowercase: bool = True) -> list[str]:
    """Words of one line: letters only (no digits or punctuation), underscores kept."""
    return [
        word
        for word in gensim_tokenize(line, lowercase=lowercase)
        if MIN_WORD <= len(word) <= MAX_WORD
    ]


def iter_sentences(path: Path | str, *, lowercase: bool = True) -> Iterator[list[str]]:
    """Tokenised sentences from a file or folder, one per non-empty line."""
    for line in iter_lines(path):
        words = tokenize(line, lowercase=lowercase)
        if words:
            yield words


class Sentences:
    """A restartable iterable over :func:`iter_sentences`: gensim reads it once per epoch."""

    def __init__(self, path: Path | str, *, lowercase: bool = True) -> None:
        self.path = Path(path)
        self.lowercase = lowercase
        text_files(self.path)  # fail now, with the fix, not in the middle of training

    def __iter__(self) -> Iterator[list[str]]:
        return iter_sentences(self.path, lowercase=self.lowercase)

    def __repr__(self) -> str:
        return f"Sentences({str(self.path)!r}, lowercase={self.lowercase})"


# Wikipedia XML dumps.

REDIRECT = re.compile(r"\s*#redirect", re.IGNORECASE)
HEADING = re.compile(r"^(={2,6})\s*(.*?)\s*\1\s*$")
EMPHASIS = re.compile(r"'{2,}")
LIST_MARK = re.compile(r"^[*#:;]+\s*")
SPACES = re.compile(r"[ \t]{2,}")
SKIPPED_TITLES = tuple(f"{namespace}:" for namespace in IGNORED_NAMESPACES)


class WikiArticle(NamedTuple):
    """One article: paragraphs one per line, headings as ``== Heading ==`` lines if kept."""

    title: str
    text: str


def wiki_articles(
    dump: Path | str, *, headings: bool = True, min_chars: int = 200
) -> Iterator[WikiArticle]:
    """The articles of a dump with markup removed; those under ``min_chars`` are skipped."""
    with _open_binary(Path(dump)) as handle:
        for title, raw, _ in extract_pages(handle, filter_namespaces=("0",)):
            if not raw or REDIRECT.match(raw) or title.startswith(SKIPPED_TITLES):
                continue
            text = clean_wiki(raw, headings=headings)
            if len(text) >= min_chars:
                yield WikiArticle(title, text)


def clean_wiki(raw: str, *, headings: bool = True) -> str:
    """Plain text of one article's wikitext: one paragraph per line, no blank lines."""
    lines: list[str] = []
    for line in EMPHASIS.sub("", filter_wiki(raw)).splitlines():
        line = SPACES.sub(" ", LIST_MARK.sub("", line.strip()))
        heading = HEADING.match(line)
        if heading:
            if headings:
                marks = heading.group(1)
                lines.append(f"{marks} {heading.group(2)} {marks}")
        elif line and line[0] not in "|!{}" and any(c.isalpha() for c in line):
            lines.append(line)
    return "\n".join(_drop_empty_sections(lines))


def _drop_empty_sections(lines: list[str]) -> list[str]:
    """Drop each heading followed by no text before a heading of its level or higher."""
    kept: list[str] = []
    next_level = 1  # the level of the next kept heading; 1 means the end of the article
    for line in reversed(lines):
        heading = HEADING.match(line)
        if heading is None:
            kept.append(line)
            next_level = 99
            continue
        level = len(heading.group(1))
        if next_level > level:
            kept.append(line)
            next_level = level
    return kept[::-1]


def write_wiki_text(
    dump: Path | str, out: Path, *, headings: bool = True, progress: bool = True,
    min_chars: int = 200,
) -> int:  # fmt: skip
    """Write every article of ``dump`` to ``out`` in the format above; the number written."""
    out.parent.mkdir(parents=True, exist_ok=True)
    articles = wiki_articles(dump, headings=headings, min_chars=min_chars)
    count = 0
    with out.open("w", encoding="utf-8") as sink:
        for article in tqdm(articles, desc="wiki articles", unit=" articles", disable=not progress):
            sink.write(f"= {article.title} =\n{article.text}\n\n")
            count += 1
    return count


def read_wiki_text(path: Path | str) -> Iterator[WikiArticle]:
    """The articles of a file :func:`write_wiki_text` wrote."""
    title: str | None = None
    body: list[str] = []
    for line in chain(iter_lines(path), [""]):  # the last article ends at the end, too
        if not line:
            if title is not None:
                yield WikiArticle(title, "\n".join(body))
            title, body = None, []
        elif title is None:
            title = line.removeprefix("= ").removesuffix(" =")
        else:
            body.append(line)


def _open_binary(path: Path) -> IO[bytes]:
    if not path.is_file():
        raise FileNotFoundError(f"no dump at {path}: give a pages-articles .xml.bz2 file")
    suffix = path.suffix.lower()
    if suffix == ".bz2":
        return bz2.open(path, "rb")
    if suffix == ".gz":
        return gzip.open(path, "rb")  # type: ignore[return-value]  # a GzipFile reads bytes
    return path.open("rb")
