"""Command-line options made from a config: each default, type and help comes from the struct."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import click
import pytest
from click.testing import CliRunner
from msgspec import Meta

from botwerk.cli.app import main
from botwerk.workers.charrnn.config import CharRNNConfig
from botwerk.workers.config import ModelConfig
from botwerk.workers.options import config_options, default_of


class Toy(ModelConfig, frozen=True, kw_only=True, forbid_unknown_fields=True):
    hidden: Annotated[int, Meta(description="Units per layer.")] = 8
    lr: float = 0.5
    mode: Annotated[Literal["fast", "slow"], Meta(description="How.")] = "fast"
    tied: Annotated[bool, Meta(description="Tie the weights.")] = False


def command(**kwargs: Any) -> click.Command:
    @click.command()
    @config_options(Toy, "hidden", "lr", "mode", "tied", **kwargs)
    def toy(**given: Any) -> None:
        click.echo(repr(sorted(given.items())))

    return toy


def test_defaults_types_and_help_come_from_the_config() -> None:
    ran = CliRunner().invoke(command(), ["--hidden", "3", "--mode", "slow", "--tied"])
    assert ran.output.strip() == repr(
        [("hidden", 3), ("lr", 0.5), ("mode", "slow"), ("tied", True)]
    )
    shown = CliRunner().invoke(command(), ["--help"]).output
    assert "Units per layer.  [default: 8]" in shown and "[fast|slow]" in shown
    assert "--tied / --no-tied" in shown
    refused = CliRunner().invoke(command(), ["--mode", "medium"])
    assert refused.exit_code == 2 and "'medium' is not one of 'fast', 'slow'" in refused.output


def test_without_defaults_only_what_was_given_is_set() -> None:
    ran = CliRunner().invoke(command(defaults=False), ["--lr", "0.1"])
    assert ran.output.strip() == repr(
        [("hidden", None), ("lr", 0.1), ("mode", None), ("tied", None)]
    )
    assert (
        "Units per layer.  [default: 8]"
        in CliRunner().invoke(command(defaults=False), ["--help"]).output
    )


def test_a_switch_can_be_renamed_and_a_typo_is_refused_at_once() -> None:
    shown = CliRunner().invoke(command(flags={"tied": "--tied/--free"}), ["--help"]).output
    assert "--tied / --free" in shown
    with pytest.raises(ValueError, match=r"Toy has no fields \['hiden'\]"):
        config_options(Toy, "hiden")
    assert default_of(Toy, "lr") == 0.5


def test_train_charrnn_defaults_are_the_configs() -> None:
    """--epochs once defaulted to 10 in click and 20 in CharRNNConfig: the config wins."""
    shown = CliRunner().invoke(main, ["train", "charrnn", "--help"]).output
    assert f"[default: {CharRNNConfig().epochs}]" in shown.split("--epochs")[1].split("--")[0]
