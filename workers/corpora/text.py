"""Plain text and tokenised sentences, read the same way by every model kind.

Reading a corpus whole, or a sentence at a time::

    text = load_text("corpus/")      # every text file under a folder, sorted, joined: one str
    for words in iter_sentences("corpus.txt.bz2"): ...   # ["the", "cat", "sat"], one per line
    text = load_text("s3://corpora/plays.txt")             # any URL fsspec reads, or file://

A URL is read through fsspec (``s3://`` with the AWS environment, as the model store does):
a file, or a folder read like a local one.

Plain text: UTF-8, undecodable bytes become U+FFFD; ``.gz`` and ``.bz2`` files are decompressed
on the fly; in a folder every file is read, sorted, recursively, hidden ones skipped.

Sentences: one line is one sentence. Words are runs of letters (``gensim.utils.tokenize``: no
digits, no punctuation; underscores kept, so ``new_york`` stays one word), 1 to 40 characters,
lower-cased unless ``lowercase=False``. Single letters are kept ("I", "a"), unlike
``simple_preprocess``, and so are words over 15 letters.

Limits: a whole corpus is one string for :func:`load_text` (the char-RNN reads it so); the
sentence readers stream, one line at a time.
"""

from __future__ import annotations

import bz2
import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import IO, cast

from gensim.utils import tokenize as gensim_tokenize

MIN_WORD, MAX_WORD = 1, 40


def is_url(path: Path | str) -> bool:
    """Whether ``path`` is read through fsspec: a URL other than ``file://``."""
    return isinstance(path, str) and "://" in path and not path.startswith("file://")


def text_files(path: Path | str) -> list[Path]:
    """``path`` (or its ``file://`` URL) if a file, else every file under it: sorted, no hidden."""
    root = _local(path)
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise FileNotFoundError(f"no corpus at {root}: give a text file or a folder of them")
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )


def url_files(url: str) -> list[str]:
    """:func:`text_files` for a URL: the URL of each file, sorted, hidden ones skipped."""
    import fsspec

    fs, root = fsspec.core.url_to_fs(url)
    if fs.isfile(root):
        return [url]
    if not fs.isdir(root):
        raise FileNotFoundError(f"no corpus at {url}: give a text file or a folder of them")
    base = root.rstrip("/")
    found = sorted(p for p in fs.find(base) if not _hidden(p[len(base) + 1 :]))
    return [fs.unstrip_protocol(p) for p in found]


def _files(path: Path | str) -> list[Path] | list[str]:
    return url_files(str(path)) if is_url(path) else text_files(path)


def _local(path: Path | str) -> Path:
    return Path(str(path).removeprefix("file://"))


def _hidden(rel: str) -> bool:
    return any(part.startswith(".") for part in rel.split("/"))


def open_text(path: Path | str) -> IO[str]:
    """Open one file or URL as UTF-8 text, decompressing ``.gz``/``.bz2``, replacing bad bytes."""
    if is_url(path):
        import fsspec

        remote = fsspec.open(
            str(path), "rt", compression="infer", encoding="utf-8", errors="replace"
        )
        return cast("IO[str]", remote.open())  # closing it closes every layer
    path = _local(path)
    suffix = path.suffix.lower()
    if suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    if suffix == ".bz2":
        return bz2.open(path, "rt", encoding="utf-8", errors="replace")
    return path.open(encoding="utf-8", errors="replace")


def load_text(path: Path | str) -> str:
    """The whole text of a file, or of every text file under a folder joined by newlines."""
    parts = []
    for file in _files(path):
        with open_text(file) as handle:
            parts.append(handle.read())
    return "\n".join(parts)


def iter_lines(path: Path | str) -> Iterator[str]:
    """Every line of a file or folder, without its line end."""
    for file in _files(path):
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
        self.path = str(path) if is_url(path) else _local(path)
        self.lowercase = lowercase
        _files(self.path)  # fail now, with the fix, not in the middle of training

    def __iter__(self) -> Iterator[list[str]]:
        return iter_sentences(self.path, lowercase=self.lowercase)

    def __repr__(self) -> str:
        return f"Sentences({str(self.path)!r}, lowercase={self.lowercase})"
