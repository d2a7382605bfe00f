"""The corpus commands: ``corpus wiki``, and ``corpus cornell`` (summary, --genres, --show),
with one-line errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from gensim.test.utils import datapath

from botwerk.cli.app import main


@pytest.mark.slow
def test_corpus_wiki_writes_plain_text(run, tmp_path):
    dump = datapath("enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2")
    result = run("corpus", "wiki", dump, tmp_path / "wiki.txt", "--no-headings")
    assert result.exit_code == 0, result.output
    count = int(re.search(r"wrote (\d+) articles", result.output).group(1))
    text = (tmp_path / "wiki.txt").read_text()
    assert count > 10 and "== " not in text and "[[" not in text


def cornell(*args: object) -> Result:
    return CliRunner().invoke(main, ["corpus", "cornell", *(str(a) for a in args)])


def test_without_flags_it_says_what_it_read_and_skipped(cornell_dir: Path) -> None:
    result = cornell(cornell_dir)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "27 lines, 8 conversations, 3 movies: 9 dialogs",
        "skipped: 1 malformed line in movie_lines.txt (line 29); 2 malformed lines in "
        "movie_conversations.txt (lines 9, 10); 1 malformed line in movie_titles_metadata.txt "
        "(line 4); 1 line missing from movie_lines.txt and 1 empty line (2 conversations cut "
        "there)",
        "9 dialogs, 16 pairs",
    ]


def test_genres_lists_each_with_movies_dialogs_and_pairs(cornell_dir: Path) -> None:
    result = cornell(cornell_dir, "--genres")
    assert result.exit_code == 0, result.output
    table = [line.split() for line in result.output.split("\n\n")[1].splitlines()]
    assert table == [
        ["genre", "movies", "dialogs", "pairs"],
        ["drama", "1", "4", "5"],
        ["comedy", "1", "3", "7"],
        ["romance", "1", "3", "7"],
        ["(none)", "1", "2", "4"],
    ]


def samples(*args: object) -> list[str]:
    """The dialogs --show printed, after the summary; each ends without a newline."""
    return [block.strip("\n") for block in cornell(*args).output.split("\n\n")[1:]]


def test_show_prints_seeded_samples_like_a_script(cornell_dir: Path) -> None:
    shown = samples(cornell_dir, "--show", 9, "--seed", 4)
    assert len(shown) == 9 and shown == samples(cornell_dir, "--show", 9, "--seed", 4)
    assert shown != samples(cornell_dir, "--show", 9, "--seed", 5)
    script = "café society (drama) m1:L11\n  Señor, a coffee please.\n  Of course, señor.\n  Thank"
    assert any(dialog.startswith(script) for dialog in shown)
    [one] = samples(cornell_dir, "--show", "--genre", "Comedy")  # --show alone shows one
    assert one.startswith("10 things i hate about you (comedy, romance) m0:L")
    assert "3 dialogs in genre comedy" in cornell(cornell_dir, "--genre", "comedy").output


def test_the_folder_holding_the_unpacked_corpus_works_too(cornell_dir: Path) -> None:
    result = cornell(cornell_dir.parent)
    assert result.exit_code == 0 and "9 dialogs, 16 pairs" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nowhere"], "Error: no folder nowhere: download the Cornell Movie-Dialogs corpus"),
        (["."], "Error: no movie_lines.txt in .: download the Cornell Movie-Dialogs corpus"),
        (["{dir}", "--genre", "comdy"], "Error: no dialogs in genre comdy (did you mean comedy?)"),
    ],
)
def test_errors_are_one_line(
    cornell_dir: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    monkeypatch.chdir(cornell_dir.parent.parent)
    result = cornell(*(a.format(dir=cornell_dir) for a in args))
    assert result.exit_code == 1
    assert len(result.output.splitlines()) == 1 and result.output.startswith(message)
    assert "Traceback" not in result.output
