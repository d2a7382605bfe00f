"""The Cornell Movie-Dialogs reader: counts, Latin-1, malformed lines, gaps, genres, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from botwerk.workers.corpora.cornell import (
    CONVERSATIONS,
    LINES,
    TITLES,
    CornellCorpus,
    find_cornell,
    parse_list,
    read_cornell,
)
from botwerk.workers.corpora.dialogs import CorpusError, pairs, with_genres
from tests.support.cornell import EXPECTED


@pytest.fixture
def corpus(cornell_dir: Path) -> CornellCorpus:
    return read_cornell(cornell_dir)


def test_counts_what_it_read(corpus: CornellCorpus) -> None:
    assert corpus.lines == EXPECTED["lines"]
    assert corpus.conversations == EXPECTED["conversations"]
    assert len(corpus.movies) == EXPECTED["movies"]
    assert len(corpus.dialogs) == EXPECTED["dialogs"]
    assert len(pairs(corpus.dialogs)) == EXPECTED["pairs"]
    read = {name: report.lines for name, report in corpus.files.items()}
    assert read == {LINES: 28, CONVERSATIONS: 10, TITLES: 4}  # the blank line is not counted


def test_malformed_lines_are_counted_with_their_numbers(corpus: CornellCorpus) -> None:
    malformed = {name: report.malformed for name, report in corpus.files.items()}
    assert malformed == EXPECTED["malformed"]
    first, skipped = corpus.summary().splitlines()
    assert first == "27 lines, 8 conversations, 3 movies: 9 dialogs"
    assert "1 malformed line in movie_lines.txt (line 29)" in skipped
    assert "2 malformed lines in movie_conversations.txt (lines 9, 10)" in skipped
    assert "1 malformed line in movie_titles_metadata.txt (line 4)" in skipped
    assert "1 line missing from movie_lines.txt and 1 empty line" in skipped


def test_latin1_text_comes_back_decoded(corpus: CornellCorpus, cornell_dir: Path) -> None:
    assert b"caf\xe9 society" in (cornell_dir / TITLES).read_bytes()
    assert corpus.movies["m1"].title == "café society"
    assert corpus.movies["m1"].year == "1989/I"
    said = {u for d in corpus.dialogs for u in d.utterances}
    assert {"Señor, a coffee please.", "Yes, the café is nice."} <= said
    assert not any("\r" in u or "\ufffd" in u for u in said)  # CRLF ends are not kept


def test_a_missing_or_empty_line_splits_the_dialog(corpus: CornellCorpus) -> None:
    drama = {d.id: d.utterances for d in corpus.dialogs if d.id.startswith("m1:")}
    assert drama == {
        "m1:L11": ("Señor, a coffee please.", "Of course, señor.", "Thank you."),
        "m1:L14": ("Why are you sad?", "I lost my job."),  # L99 is missing: cut here
        "m1:L16": ("I am sorry.", "Thanks."),
        "m1:L20": ("It is over.", "Good."),  # L19 is empty; "Is it over?" alone is dropped
    }
    assert (corpus.missing, corpus.empty, corpus.broken) == (1, 1, 2)
    joined = [(p.prompt, p.reply) for p in pairs(corpus.dialogs)]
    assert ("I lost my job.", "I am sorry.") not in joined


def test_genres_lower_cased_and_a_movie_in_each_of_its_genres(corpus: CornellCorpus) -> None:
    assert corpus.movies["m0"].genres == {"comedy", "romance"}
    assert corpus.movies["m2"].genres == frozenset()
    comedy = {d.id for d in with_genres(corpus.dialogs, ["COMEDY"])}
    romance = {d.id for d in with_genres(corpus.dialogs, ["Romance"])}
    assert comedy == romance == {"m0:L1", "m0:L5", "m0:L8"}
    assert all(
        d.source == "10 things i hate about you" for d in with_genres(corpus.dialogs, ["comedy"])
    )
    assert {d.id for d in with_genres(corpus.dialogs, ["drama", "comedy"])} >= comedy
    untagged = [d for d in corpus.dialogs if not d.genres]
    assert [d.source for d in untagged] == ["señor robot", "señor robot"]


def test_pairs_follow_each_other_with_context(corpus: CornellCorpus) -> None:
    first = [p for p in pairs(corpus.dialogs) if p.dialog == "m0:L1"]
    assert [(p.context, p.prompt, p.reply) for p in first] == [
        ("", "Hello there.", "Hi! How are you?"),
        ("Hello there.", "Hi! How are you?", "Fine, thanks."),
        ("Hi! How are you?", "Fine, thanks.", "Good to hear."),
    ]


def test_the_folder_the_zip_was_unpacked_in_works_too(cornell_dir: Path) -> None:
    outer = cornell_dir.parent
    assert find_cornell(outer) == cornell_dir
    assert len(read_cornell(outer).dialogs) == EXPECTED["dialogs"]


def test_a_clean_corpus_reports_nothing_skipped(tmp_path: Path) -> None:
    lines = [
        "L1 +++$+++ u0 +++$+++ m0 +++$+++ A +++$+++ Hi.",
        "L2 +++$+++ u1 +++$+++ m0 +++$+++ B +++$+++ Hello.",
    ]
    _write(tmp_path, lines, ["u0 +++$+++ u1 +++$+++ m0 +++$+++ ['L1', 'L2']"])
    corpus = read_cornell(tmp_path)
    assert corpus.summary() == "2 lines, 1 conversation, 1 movie: 1 dialog\nskipped: nothing"


def test_a_summary_shows_the_first_malformed_line_numbers(tmp_path: Path) -> None:
    good = "L1 +++$+++ u0 +++$+++ m0 +++$+++ A +++$+++ "  # empty text, trailing space kept
    bad = ["junk"] * 7 + [good, good.rstrip(), "L3 +++$+++ u0 +++$+++ m0 +++$+++ A"]
    _write(tmp_path, bad, ["u0 +++$+++ u1 +++$+++ m0 +++$+++ []"])
    corpus = read_cornell(tmp_path)
    assert corpus.files[LINES].malformed == [1, 2, 3, 4, 5, 6, 7, 9, 10]  # 9: L1 again
    assert "9 malformed lines in movie_lines.txt (lines 1, 2, 3, 4, 5, ...)" in corpus.summary()
    assert corpus.files[CONVERSATIONS].malformed == [1]  # an empty list of lines
    assert corpus.dialogs == []


def test_missing_folder_or_file_says_where_to_get_the_corpus(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match=r"no folder .*nowhere: download the Cornell"):
        read_cornell(tmp_path / "nowhere")
    with pytest.raises(CorpusError, match=r"no movie_lines\.txt in .*holding movie_lines\.txt"):
        read_cornell(tmp_path)
    (tmp_path / LINES).write_text("")
    with pytest.raises(CorpusError, match=r"movie_conversations\.txt is missing: download"):
        read_cornell(tmp_path)


@pytest.mark.parametrize(
    ("field", "items"),
    [
        ("['L194', 'L195']", ["L194", "L195"]),
        ("[]", []),
        ("[ ]", []),
        ('["film-noir"]', ["film-noir"]),
        ("['comedy',   'romance']", ["comedy", "romance"]),
        ("L1, L2", None),
        ("['L1', L2]", None),
        ("['it's']", None),
        ("['L1',]", None),
        ("[__import__('os').system('true')]", None),
    ],
)
def test_list_fields_are_parsed_never_evaluated(field: str, items: list[str] | None) -> None:
    assert parse_list(field) == items


def _write(folder: Path, lines: list[str], conversations: list[str]) -> None:
    title = "m0 +++$+++ a film +++$+++ 2000 +++$+++ 5.0 +++$+++ 10 +++$+++ ['drama']"
    for name, rows in ((LINES, lines), (CONVERSATIONS, conversations), (TITLES, [title])):
        (folder / name).write_bytes("\n".join(rows).encode("iso-8859-1"))
