"""Wikipedia XML dumps as plain text, in a format the text readers read back.

From a downloaded dump::

    write_wiki_text("enwiki-latest-pages-articles.xml.bz2", Path("wiki.txt"), headings=True)
    for article in read_wiki_text("wiki.txt"): ...

:func:`wiki_articles` turns a MediaWiki XML dump (``.xml``, ``.xml.bz2``, ``.xml.gz``) into
:class:`WikiArticle` s through gensim's ``extract_pages`` and ``filter_wiki``: main-namespace
articles only, no redirects, no templates, tables, references or links markup.
:func:`write_wiki_text` writes them in one plain-text format both the word2vec reader and
:func:`~.text.load_text` (the char-RNN) read::

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
from tqdm import tqdm  # type: ignore[import-untyped, unused-ignore]

from botwerk.workers.corpora.text import iter_lines

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
