"""Plug-ins by name, read from entry-point groups and imported only when asked for.

Botwerk registers its own transports, models and bots in its ``pyproject.toml`` exactly as
any other package would, so this module knows none of them by name. A name that is not
installed gets an error that suggests the closest one and lists the rest:

>>> TRANSPORTS.load("consle")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
botwerk.infra.registry.UnknownName: unknown transport 'consle'; did you mean 'console'? ...
>>> TRANSPORTS.names()
['console', 'irc', 'slack', 'web', 'x']

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

from botwerk.schemas import BotwerkError


class UnknownName(BotwerkError, LookupError):
    """No plug-in has that name; the message lists close matches and what is installed."""


class Registry:
    """Names to classes, imported only when asked for."""

    def __init__(self, kind: str, group: str) -> None:
        self.kind = kind
        self.group = group

    def names(self) -> list[str]:
        return sorted({ep.name for ep in entry_points(group=self.group)})

    def path(self, name: str) -> str:
        """Where ``name`` is defined (``module:attribute``)."""
        if ":" in name:
            return name
        for ep in entry_points(group=self.group, name=name):
            return str(ep.value)
        close = difflib.get_close_matches(name, self.names(), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else "."
        known = ", ".join(self.names()) or "none"
        raise UnknownName(f"unknown {self.kind} {name!r}{hint} Installed: {known}")

    def load(self, name: str) -> Any:
        module, _, attribute = self.path(name).partition(":")
        return getattr(importlib.import_module(module), attribute)


TRANSPORTS = Registry("transport", "botwerk.transports")
MODELS = Registry("model", "botwerk.models")
BOTS = Registry("bot", "botwerk.bots")
