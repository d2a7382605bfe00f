"""The chat commands: ``train chat`` with and without ``--rl``, ``reply``, and one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

SMALL = ["--hidden", 16, "--embed", 8, "--layers", 1, "--min-count", 1, "--epochs", 2]


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
