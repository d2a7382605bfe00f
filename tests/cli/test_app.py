"""The botwerk command: help that explains itself and errors that say what to do."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from botwerk.cli.app import main


@pytest.fixture
def run(monkeypatch):
    monkeypatch.delenv("BOTWERK_AMQP_URL", raising=False)

    def invoke(*args, input=None):
        return CliRunner().invoke(main, list(args), input=input)

    return invoke


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ((), "botwerk up"),
        (("up",), "in-process bus with the same"),
        (("worker",), "load it once, keep it resident"),
        (("core",), "holds no"),
        (("transport",), "botwerk.transports"),
    ],
)
def test_every_command_explains_itself(run, command, expected):
    result = run(*command, "--help")
    assert result.exit_code == 0
    assert expected in " ".join(result.output.split())


def test_roles_other_than_up_need_a_broker_and_say_how(run):
    result = run("worker", "echo")
    assert result.exit_code == 1
    assert "BOTWERK_AMQP_URL is not set" in result.output
    assert "rabbitmq-server -detached" in result.output and "botwerk up" in result.output


def test_unknown_names_get_suggestions(run, monkeypatch):
    monkeypatch.setenv("BOTWERK_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
    assert "did you mean 'echo'" in run("worker", "ecco").output
    assert "did you mean 'demo'" in run("core", "dem").output
    assert "did you mean 'console'" in run("transport", "consol", "--bot", "demo").output


def test_transport_list_and_usage(run):
    listed = run("transport", "--list")
    assert listed.exit_code == 0
    assert "console\tbotwerk.transports.console:ConsoleTransport" in listed.output
    assert "give a transport and a bot" in run("transport", "console").output


def test_bad_settings_are_reported_not_raised(run, monkeypatch):
    monkeypatch.setenv("BOTWERK_NAMESPACE", "Bad Name")
    result = run("core", "demo")
    assert result.exit_code == 1
    assert "setting namespace (env BOTWERK_NAMESPACE)" in result.output


JESTER = """\
[bots.jester]
kind = "moviebot"
model = "chat-comedy"
mode = "sample"

[bots.mime]
kind = "moviebto"
"""


@pytest.fixture
def personalities(monkeypatch, tmp_path):
    """A botwerk.toml with personalities, a broker URL (never dialled) and roles not run."""
    (tmp_path / "botwerk.toml").write_text(JESTER)
    monkeypatch.setenv("BOTWERK_CONFIG", str(tmp_path / "botwerk.toml"))
    monkeypatch.setenv("BOTWERK_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
    started = []

    async def run_roles(bus, roles):
        started.extend(roles)

    monkeypatch.setattr("botwerk.cli.app.run_roles", run_roles)
    return started


def test_core_runs_a_personality_under_its_own_name(run, personalities):
    from botwerk.cores.moviebot import MovieBot

    result = run("core", "jester")
    assert result.exit_code == 0, result.output
    [core] = personalities
    assert isinstance(core.bot, MovieBot) and core.bot.name == "jester"
    assert core.bot.config.model == "chat-comedy"


def test_core_reports_unknown_personalities_and_kinds(run, personalities):
    assert "did you mean 'jester' ([bots.jester] in" in run("core", "jestr").output
    result = run("core", "mime")
    assert result.exit_code == 1 and personalities == []
    assert "[bots.mime] in" in result.output
    assert "kind: unknown bot 'moviebto'; did you mean 'moviebot'?" in result.output
