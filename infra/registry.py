"""Plug-ins by name: a lazy table of built-ins, plus an entry-point group for other packages.

>>> TRANSPORTS.load("consle")
Traceback (most recent call last):
UnknownName: unknown transport 'consle'; did you mean 'console'? Installed: console

Out-of-tree packages register under the group, e.g. in their pyproject.toml::

    [project.entry-points."botwerk.transports"]
    matrix = "botwerk_matrix:MatrixTransport"

A ``module:attribute`` path also works anywhere a name does (``botwerk worker pkg.mod:Model``).
"""

from __future__ import annotations

import difflib
import importlib
from importlib.metadata import entry_points
from typing import Any

from schemas import BotwerkError


class UnknownName(BotwerkError, LookupError):
    """No plug-in has that name; the message lists close matches and what is installed."""


class Registry:
    """Names to classes, imported only when asked for."""

    def __init__(self, kind: str, group: str, builtins: dict[str, str]) -> None:
        self.kind = kind
        self.group = group
        self._builtins = builtins

    def names(self) -> list[str]:
        return sorted({*self._builtins, *(ep.name for ep in entry_points(group=self.group))})

    def path(self, name: str) -> str:
        """Where ``name`` is defined (``module:attribute``)."""
        if ":" in name:
            return name
        if name in self._builtins:
            return self._builtins[name]
        for ep in entry_points(group=self.group, name=name):
            return str(ep.value)
        close = difflib.get_close_matches(name, self.names(), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else "."
        known = ", ".join(self.names()) or "none"
        raise UnknownName(f"unknown {self.kind} {name!r}{hint} Installed: {known}")

    def load(self, name: str) -> Any:
        module, _, attribute = self.path(name).partition(":")
        return getattr(importlib.import_module(module), attribute)


TRANSPORTS = Registry(
    "transport",
    "botwerk.transports",
    {
        "console": "transports.console:ConsoleTransport",
        "slack": "transports.slack:SlackTransport",
        "x": "transports.x:XTransport",
        "irc": "transports.irc:IrcTransport",
        "web": "transports.web:WebTransport",
    },
)
MODELS = Registry(
    "model",
    "botwerk.models",
    {
        "echo": "workers.echo:EchoModel",
        "charrnn": "workers.charrnn.serve:CharRNNModel",
        "word2vec": "workers.word2vec.serve:Word2VecModel",
        "chat": "workers.chat.serve:ChatModel",
    },
)
BOTS = Registry(
    "bot",
    "botwerk.bots",
    {
        "demo": "cores.demo:DemoBot",
        "billybard": "cores.billybard:BillyBard",
        "annalogue": "cores.annalogue:Annalogue",
        "moviebot": "cores.moviebot:MovieBot",
    },
)
