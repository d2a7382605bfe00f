"""The chat commands: ``corpus cornell`` (summary, --genres, --show), ``train chat`` with and
without ``--rl``, ``reply``, and one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from botwerk.cli.app import main


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


SMALL = ["--hidden", 16, "--embed", 8, "--layers", 1, "--min-count", 1, "--epochs", 2]


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.delenv("BOTWERK_AMQP_URL", raising=False)
    monkeypatch.setenv("BOTWERK_MODELS", f"file://{tmp_path / 'models'}")
    monkeypatch.chdir(tmp_path)
    return lambda *args: CliRunner().invoke(main, [str(a) for a in args])


@pytest.mark.slow
def test_train_a_chat_model_fine_tune_it_and_ask_it(run, cornell_dir: Path, tmp_path: Path) -> None:
    first = run("train", "chat", cornell_dir, "--name", "movie", "--genre", "comedy", *SMALL)
    assert first.exit_code == 0, first.output
    assert "stored movie@1 (chat)" in first.output and "test_bleu" in first.output
    assert (tmp_path / "runs" / "movie" / "checkpoints").is_dir()

    tuned = run("train", "chat", cornell_dir, "--name", "movie", "--genre", "comedy", "--rl",
                "--epochs", 1, "--samples", 2)  # fmt: skip
    assert tuned.exit_code == 0, tuned.output
    assert "fine-tuning movie@1 by SCST in runs/movie-1-rl" in tuned.output
    assert "stored movie@2 (chat)" in tuned.output and "greedy_bleu" in tuned.output

    listed = run("models", "list").output.splitlines()
    assert [line.split()[:4] for line in listed] == [
        ["movie@1", "chat", "cornell", "[comedy]"],
        ["movie@2", "chat", "cornell", "[comedy]"],
    ]
    answer = run("reply", "movie@2", "Where are you going?", "--mode", "beam")
    assert answer.exit_code == 0 and len(answer.output.splitlines()) == 1, answer.output


@pytest.mark.parametrize(
    ("args", "message"),
    [(["nowhere", "--name", "x"], "Error: no dialogs at nowhere: give 'chatterbot'"),
     (["chatterbot", "--name", "x", "--genre", "humour"], "did you mean humor?"),
     (["chatterbot", "--name", "x", "--rl", "--hidden", 8],
      "Error: --hidden: --rl keeps the sizes and data settings of the model"),
     (["chatterbot", "--name", "nonesuch", "--rl"], "Error: no model 'nonesuch'")],
)  # fmt: skip
def test_train_chat_errors_are_one_line(run, args: list[object], message: str) -> None:
    result = run("train", "chat", *args)
    assert result.exit_code in (1, 2)
    assert message in result.output and "Traceback" not in result.output
