"""Serve a stored charrnn model to a worker: the input schema and the worker's model object.

>>> model = CharRNNModel(settings, "charrnn", model="bard@3"); model.load()
>>> model.predict([CharRNNInput(prime="The ", length=80, seed=7)])
[{'text': 'government said ...'}]

``name`` is the queue the model is served under (``{ns}.infer.<name>``); ``model`` is the
store spec ``NAME[@VERSION]`` it loads, by default the latest version of ``name``. A batch of
inputs is generated together in one :class:`~workers.charrnn.generate.Generator` call, each
with its own prime, length, temperature, top-k and seed; the outputs hold only the
continuation, never the prime.

Limits: a batch takes as long as its longest request (up to ``MAX_LENGTH`` characters); the
model stays on the device ``settings.device`` names.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

import msgspec

from botwerk.infra.settings import Settings
from botwerk.schemas import BotwerkError

from ..store import ModelStore
from .generate import Generator

KIND = "charrnn"
MAX_LENGTH = 2000
MAX_PRIME = 4000


class CharRNNInput(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One generation request."""

    prime: Annotated[str, msgspec.Meta(max_length=MAX_PRIME)] = ""
    """the text to continue; characters the model never saw are read as unknown"""
    length: Annotated[int, msgspec.Meta(ge=1, le=MAX_LENGTH)] = 200
    """characters to write"""
    temperature: Annotated[float, msgspec.Meta(gt=0, le=5)] = 0.8
    """below 1: safer, more repetitive; above 1: wilder"""
    top_k: Annotated[int, msgspec.Meta(ge=0)] = 0
    """sample among the k likeliest characters only; 0: all of them"""
    seed: int | None = None
    """the same seed and input give the same text, alone or in any batch"""


class NotLoaded(BotwerkError):
    """``predict`` was called before ``load``."""


class CharRNNModel:
    """A charrnn model from the store, resident on the configured device."""

    Input: ClassVar[type[CharRNNInput]] = CharRNNInput

    def __init__(self, settings: Settings, name: str = KIND, model: str | None = None) -> None:
        self.settings = settings
        self.name = name
        self.spec = model or name
        self.version = "unloaded"
        self._generator: Generator | None = None

    def load(self) -> None:
        stored = ModelStore.from_settings(self.settings).open(self.spec, kind=KIND)
        self._generator = Generator.from_folder(stored.path, self.settings.device)
        self.version = stored.manifest.spec

    def example(self) -> CharRNNInput:
        return CharRNNInput(prime="The ", length=200)

    def predict(self, batch: list[CharRNNInput]) -> list[dict[str, Any]]:
        if self._generator is None:
            raise NotLoaded(f"the {self.name} model is not loaded yet: call load() first")
        return [{"text": text} for text in self._generator.generate(list(batch))]
