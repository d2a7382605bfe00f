"""Plug-in registries: built-ins, module paths, typos answered with a suggestion."""

from __future__ import annotations

import pytest

from botwerk.infra.registry import BOTS, MODELS, TRANSPORTS, UnknownName
from botwerk.transports.console import ConsoleTransport
from botwerk.workers.echo.serve import EchoModel


def test_builtins_load_lazily():
    assert TRANSPORTS.load("console") is ConsoleTransport
    assert MODELS.load("echo") is EchoModel
    assert "demo" in BOTS.names()


def test_a_module_path_works_anywhere_a_name_does():
    assert MODELS.load("botwerk.workers.echo.serve:EchoModel") is EchoModel


def test_a_typo_gets_a_suggestion_and_the_installed_list():
    with pytest.raises(
        UnknownName,
        match=r"unknown transport 'consle'; did you mean 'console'\? Installed: console",
    ):
        TRANSPORTS.load("consle")
    with pytest.raises(
        UnknownName, match=r"unknown model 'zzz'\. Installed: charrnn, chat, echo, word2vec"
    ):
        MODELS.load("zzz")


@pytest.mark.parametrize(
    ("registry", "name"),
    [(MODELS, n) for n in MODELS.names()] + [(BOTS, n) for n in BOTS.names()],
)
def test_every_built_in_model_and_bot_imports(registry, name):
    assert registry.load(name).__name__
