"""The README stays true: its settings table lists every setting, its commands exist."""

from __future__ import annotations

import re
from pathlib import Path

from botwerk.infra.settings import Settings

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()
TOML = re.findall(r"```toml\n(.*?)```", README, flags=re.S)


def test_every_setting_is_documented_and_nothing_else():
    documented = set(re.findall(r"^\| `BOTWERK_([A-Z_]+)` \|", README, flags=re.M))
    assert documented == {name.upper() for name in Settings.model_fields}


def test_quick_start_has_the_two_commands_the_makefile_defines():
    makefile = (Path(__file__).resolve().parent.parent / "Makefile").read_text()
    assert "make run" in README and "make test" in README
    assert re.search(r"^run:", makefile, flags=re.M) and re.search(r"^test:", makefile, flags=re.M)
    ci = (Path(__file__).resolve().parent.parent / ".ci" / "run").read_text()
    assert "make test" in ci


def test_benchmark_figures_are_filled_in():
    assert "BENCH_" not in README


def test_the_bot_options_example_is_valid(tmp_path, monkeypatch):
    from botwerk.cores.annalogue import Annalogue
    from botwerk.cores.billybard import BillyBard
    from botwerk.cores.bot import build_bot
    from botwerk.cores.moviebot import MovieBot

    example = next(block for block in TOML if "[bots." in block)
    (tmp_path / "botwerk.toml").write_text(example)
    monkeypatch.setenv("BOTWERK_CONFIG", str(tmp_path / "botwerk.toml"))
    settings = Settings.load()
    assert BillyBard(settings).config.model == "bard"
    assert Annalogue(settings).config.model == "news"
    assert MovieBot(settings).config.genres == {"comedy": "chat-comedy"}
    jester = build_bot(settings, "jester")
    assert isinstance(jester, MovieBot) and jester.name == "jester"
    assert jester.config.model == "chat-comedy" and jester.config.mode == "sample"


def test_the_transport_options_example_is_valid(tmp_path, monkeypatch):
    from botwerk.transports.irc import IrcConfig
    from botwerk.transports.kit import transport_options
    from botwerk.transports.slack import SlackConfig
    from botwerk.transports.web import WebConfig
    from botwerk.transports.x import XConfig

    example = next(block for block in TOML if "[transports." in block)
    (tmp_path / "botwerk.toml").write_text(example)
    monkeypatch.setenv("BOTWERK_CONFIG", str(tmp_path / "botwerk.toml"))
    settings = Settings.load()
    kinds = {"web": WebConfig, "slack": SlackConfig, "x": XConfig, "irc": IrcConfig}
    assert set(settings.transports) == set(kinds)
    for kind, config in kinds.items():
        transport_options(settings, kind, config)  # raises on an unknown key or a bad value
    assert transport_options(settings, "irc", IrcConfig).channels == ("#botwerk",)
