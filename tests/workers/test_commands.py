"""The shared model commands, run as a user would: a missing model is one clear line."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow


def test_missing_models_are_one_clear_line(run):
    result = run("generate", "nobody", "hi")
    assert result.exit_code == 1
    assert "no model 'nobody'" in result.output and "botwerk train" in result.output
    assert "Traceback" not in result.output
    assert "no models in" in run("models", "list").output
    bad = run("generate", "nobody", "hi", "--length", 0)
    assert bad.exit_code == 1 and "option.length" in bad.output


def test_each_model_command_comes_from_its_entry_point() -> None:
    from botwerk.cli.app import main

    groups = {name: set(getattr(c, "commands", {})) for name, c in main.commands.items()}
    assert {"charrnn", "word2vec", "chat"} <= groups["train"]
    assert {"list", "import", "demo"} <= groups["models"]
    assert {"wiki", "cornell"} <= groups["corpus"]
    assert {"generate", "similar", "reply"} <= set(main.commands)
