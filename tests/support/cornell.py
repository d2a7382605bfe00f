"""A tiny Cornell Movie-Dialogs corpus, in the distributed format, with every flaw it can have.

In a test::

    folder = write_cornell(tmp_path)        # tmp_path/cornell, holding the three files
    corpus = read_cornell(folder)           # botwerk.workers.corpora.cornell

Three movies (a comedy and romance, a drama, one with no genres), eight conversations of
short lines, written ISO-8859-1 with Latin-1 letters ("café", "Señor", "José"), and:

- a malformed line in each file (movie_lines.txt line 29, movie_conversations.txt lines 9
  and 10, movie_titles_metadata.txt line 4), the conversations' file ending lines in CRLF;
- a conversation naming a line movie_lines.txt lacks (L99), one naming an empty line (L19).

What it reads as is :data:`EXPECTED`. Short and repetitive on purpose: a tiny chat model
learns some of it in seconds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

MOVIES = [
    "m0 +++$+++ 10 things i hate about you +++$+++ 1999 +++$+++ 6.90 +++$+++ 62847 +++$+++ "
    "['comedy', 'Romance']",
    "m1 +++$+++ café society +++$+++ 1989/I +++$+++ 7.10 +++$+++ 1200 +++$+++ ['drama']",
    "m2 +++$+++ señor robot +++$+++ 2001 +++$+++ 5.00 +++$+++ 300 +++$+++ []",
    "m3 +++$+++ a row cut short +++$+++ 2000",
]
SPEAKERS = {"m0": ("BIANCA", "CAMERON"), "m1": ("JOSÉ", "MARÍA"), "m2": ("ROBO", "HUMAN")}
CONVERSATIONS: list[tuple[str, list[str | None]]] = [  # movie, and its lines' texts
    ("m0", ["Hello there.", "Hi! How are you?", "Fine, thanks.", "Good to hear."]),
    ("m0", ["Do you like the café?", "Yes, the café is nice.", "Let us go there."]),
    ("m0", ["Where is Bianca?", "She is at school.", "Thanks."]),
    ("m1", ["Señor, a coffee please.", "Of course, señor.", "Thank you."]),
    ("m1", ["Why are you sad?", "I lost my job.", None, "I am sorry.", "Thanks."]),
    ("m1", ["Is it over?", "", "It is over.", "Good."]),
    ("m2", ["Hello robot.", "Hello human.", "What is your name?", "My name is Robo."]),
    ("m2", ["Are you happy?", "I am happy."]),
]
"""None stands for L99, a line the conversation names and movie_lines.txt lacks"""
EXPECTED: dict[str, Any] = {
    "lines": 27,
    "conversations": 8,
    "movies": 3,
    "dialogs": 9,
    "pairs": 16,
    "malformed": {
        "movie_lines.txt": [29],
        "movie_conversations.txt": [9, 10],
        "movie_titles_metadata.txt": [4],
    },
}


def write_cornell(folder: Path) -> Path:
    """Write the corpus into ``folder/cornell``; that folder."""
    root = folder / "cornell"
    root.mkdir(parents=True, exist_ok=True)
    lines: list[str] = []
    conversations: list[str] = []
    number = 0
    for movie, texts in CONVERSATIONS:
        ids: list[str] = []
        for turn, text in enumerate(texts):
            if text is None:
                ids.append("L99")
                continue
            number += 1
            speaker = SPEAKERS[movie][turn % 2]
            ids.append(f"L{number}")
            lines.append(
                f"L{number} +++$+++ u{turn % 2} +++$+++ {movie} +++$+++ {speaker} +++$+++ {text}"
            )
        conversations.append(f"u0 +++$+++ u1 +++$+++ {movie} +++$+++ {ids!r}")
    lines.insert(2, "")  # a blank line is neither read nor malformed
    lines.append("L30 +++$+++ u0 +++$+++ m0")  # too few fields
    conversations += [
        "u0 +++$+++ u1 +++$+++ m0 +++$+++ L1, L2",  # not a list literal
        "u0 +++$+++ u1 +++$+++ m7 +++$+++ ['L1', 'L2']",  # no movie m7
    ]
    _write(root / "movie_lines.txt", lines, "\n")
    _write(root / "movie_conversations.txt", conversations, "\r\n")
    _write(root / "movie_titles_metadata.txt", MOVIES, "\n")
    return root


def _write(path: Path, rows: list[str], end: str) -> None:
    path.write_bytes("".join(row + end for row in rows).encode("iso-8859-1"))
