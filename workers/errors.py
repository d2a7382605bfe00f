"""The errors every model kind shares, so a caller catches one class whatever the kind.

>>> from botwerk.infra.settings import Settings
>>> from botwerk.workers.charrnn.serve import CharRNNModel
>>> CharRNNModel(Settings(), "charrnn").predict([])      # before load()
Traceback (most recent call last):
botwerk.workers.errors.NotLoaded: the charrnn model is not loaded yet: call load() first

Kind-specific errors (a word not in a vocabulary, a corpus that cannot be read) live with
their kind; these two are what any worker model or model folder can raise.
"""

from __future__ import annotations

from botwerk.schemas import BotwerkError


class NotLoaded(BotwerkError, RuntimeError):
    """A worker model was asked to ``predict`` (or for an ``example``) before ``load``."""

    def __init__(self, name: str) -> None:
        super().__init__(f"the {name} model is not loaded yet: call load() first")


class BadModelFolder(BotwerkError):
    """A folder is not a model this code can read; the message says what is wrong."""
