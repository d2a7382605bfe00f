"""Plain text and tokenised sentences, read the same way by every model kind.

Reading a corpus whole, or a sentence at a time::

    text = load_text("corpus/")      # every text file under a folder, sorted, joined: one str
    for words in iter_sentences("corpus.txt.bz2"): ...   # ["the", "cat", "sat"], one per line

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
from typing import IO

from gensim.utils import tokenize as gensim_tokenize

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
