"""Dialogs from chatterbot-corpus and Cornell, their pairs, genres, seeded split, and loading."""

from __future__ import annotations

from pathlib import Path

import chatterbot_corpus
import pytest

from botwerk.workers.corpora.chatterbot import chatterbot_dialogs
from botwerk.workers.corpora.dialogs import (
    CorpusError,
    Dialog,
    Pair,
    genre_counts,
    pairs,
    split,
    with_genres,
)
from botwerk.workers.corpora.sources import CHATTERBOT, load_dialogs

ENGLISH = Path(chatterbot_corpus.__file__).parent / "data" / "english"
GREETINGS = (
    "categories:\n- greetings\nconversations:\n- - Hello\n  - Hi there\n  - How are you?\n"
    "- - Bye\n  - See you\n"
)


def test_chatterbot_english_has_dialogs_with_categories_as_genres() -> None:
    dialogs = chatterbot_dialogs()
    assert len(dialogs) > 100 and len(pairs(dialogs)) > 100
    assert all(len(d.utterances) >= 2 and all(d.utterances) for d in dialogs)
    counts = genre_counts(dialogs)
    assert {"greetings", "humor", "movies"} <= counts.keys()
    assert all(genre == genre.lower() for genre in counts)


def test_chatterbot_one_file_or_a_folder(tmp_path: Path) -> None:
    greetings = chatterbot_dialogs(ENGLISH / "greetings.yml")
    assert greetings and {d.source for d in greetings} == {"greetings.yml"}
    assert {d.genres for d in greetings} == {frozenset({"greetings"})}
    (tmp_path / "a.yml").write_text(GREETINGS)
    (tmp_path / "b.yml").write_text("conversations:\n- - one\n  - two\n- - alone\n")
    found = chatterbot_dialogs(str(tmp_path))
    assert [(d.id, d.utterances) for d in found] == [
        ("a.yml:0", ("Hello", "Hi there", "How are you?")),
        ("a.yml:1", ("Bye", "See you")),
        ("b.yml:0", ("one", "two")),  # a conversation of one utterance is skipped
    ]
    assert found[2].genres == {"b"}  # no categories: the file's name


def test_chatterbot_bad_yaml_or_nothing_there_is_a_corpus_error(tmp_path: Path) -> None:
    (tmp_path / "bad.yml").write_text("conversations: [unclosed\n")
    with pytest.raises(CorpusError, match=r"bad\.yml is not a readable chatterbot YAML file"):
        chatterbot_dialogs(tmp_path / "bad.yml")
    with pytest.raises(CorpusError, match="no chatterbot YAML files"):
        chatterbot_dialogs(tmp_path / "empty")


def test_pairs_are_consecutive_utterances_with_the_one_before_as_context() -> None:
    dialog = Dialog("d", ("a", "b", "c"))
    assert pairs([dialog, Dialog("e", ("x",))]) == [
        Pair("a", "b", "", "d"),
        Pair("b", "c", "a", "d"),
    ]


def test_with_genres_ignores_case_and_keeps_all_when_empty() -> None:
    both = Dialog("1", ("a", "b"), frozenset({"comedy", "romance"}))
    drama = Dialog("2", ("a", "b"), frozenset({"drama"}))
    assert with_genres([both, drama], ["ROMANCE"]) == [both]
    assert with_genres([both, drama], ["Comedy", "drama"]) == [both, drama]
    assert with_genres([both, drama], []) == [both, drama]
    assert genre_counts([both, drama]) == {"comedy": 1, "romance": 1, "drama": 1}


def _pairs(count: int, prefix: str = "prompt") -> list[Pair]:
    return [Pair(f"{prefix} {i}", f"reply {i}") for i in range(count)]


def test_split_is_stable_for_a_seed_and_differs_across_seeds() -> None:
    found = _pairs(2000)
    first = split(found, seed=7)
    assert split(found, seed=7) == first
    assert split(found, seed=8).test != first.test
    assert sum(map(len, first)) == 2000
    assert 120 < len(first.test) < 280 and 120 < len(first.valid) < 280


def test_split_keeps_a_pair_in_its_part_when_others_are_added() -> None:
    found = _pairs(500)
    before = split(found, seed=3)
    after = split(_pairs(700, "other") + found[::-1], seed=3)
    for part_before, part_after in zip(before, after, strict=True):
        assert set(part_before) <= set(part_after)


def test_split_puts_every_reply_to_one_prompt_in_one_part() -> None:
    found = [Pair(f"Prompt {i % 50}", f"reply {i}") for i in range(1000)]
    found += [Pair("  prompt 3 ", "spaced and upper-cased the same")]
    where: dict[str, set[int]] = {}
    for number, part in enumerate(split(found, seed=11)):
        for pair in part:
            where.setdefault(" ".join(pair.prompt.lower().split()), set()).add(number)
    assert len(where) == 50 and all(len(parts) == 1 for parts in where.values())
    assert len({min(parts) for parts in where.values()}) == 3  # yet all three parts are used


def test_split_rejects_fractions_that_leave_no_training_set() -> None:
    with pytest.raises(ValueError, match="add up to under 1"):
        split(_pairs(3), valid_fraction=0.5, test_fraction=0.5)


def test_load_dialogs_reads_each_kind_of_source(cornell_dir: Path, tmp_path: Path) -> None:
    bundled, notes = load_dialogs(CHATTERBOT)
    assert len(bundled) == len(chatterbot_dialogs()) and "chatterbot-corpus" in notes[0]
    movies, notes = load_dialogs(cornell_dir)
    assert len(movies) == 9 and notes[0].startswith("27 lines, 8 conversations")
    assert notes[1].startswith("skipped: 1 malformed line in movie_lines.txt")
    one, _ = load_dialogs(ENGLISH / "humor.yml")
    assert one and all(d.genres == {"humor"} for d in one)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "greetings.yml").write_text(GREETINGS)
    mine, notes = load_dialogs(str(tmp_path / "mine"))
    assert [d.utterances[0] for d in mine] == ["Hello", "Bye"]
    assert notes == [f"2 dialogs in {tmp_path / 'mine'}"]


def test_load_dialogs_filters_by_genre(cornell_dir: Path) -> None:
    dialogs, notes = load_dialogs(str(cornell_dir), ["Drama", "romance"])
    assert len(dialogs) == 7 and notes[-1] == "7 dialogs in genres drama, romance"
    humor, notes = load_dialogs(CHATTERBOT, ["HUMOR"])
    assert humor and all("humor" in d.genres for d in humor)
    assert notes[-1] == f"{len(humor)} dialogs in genre humor"


def test_an_unknown_genre_lists_the_genres_there_are(cornell_dir: Path) -> None:
    with pytest.raises(CorpusError) as caught:
        load_dialogs(cornell_dir, ["comdy", "drama"])
    message = str(caught.value)
    assert "no dialogs in genre comdy (did you mean comedy?)" in message
    assert message.endswith("the genres there, with their dialogs: drama 4, comedy 3, romance 3")
    with pytest.raises(CorpusError, match=r"no dialogs in genre western; .* drama 4") as caught:
        load_dialogs(cornell_dir, ["western"])
    assert "did you mean" not in str(caught.value)


@pytest.mark.parametrize("where", ["nowhere", "empty", "notes.txt", "chatterbot.yml"])
def test_load_dialogs_names_the_three_forms_for_anything_else(tmp_path: Path, where: str) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.txt").write_text("hello\n")
    with pytest.raises(CorpusError) as caught:
        load_dialogs(tmp_path / where)
    message = str(caught.value)
    assert message.startswith(f"no dialogs at {tmp_path / where}: give 'chatterbot'")
    assert "movie_lines.txt" in message and ".yml file or folder" in message
