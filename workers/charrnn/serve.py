"""Serve a stored charrnn model to a worker: the worker's model object.

With a trained model in the store::

    model = CharRNNModel(settings, "charrnn", model="bard@3"); model.load()
    model.predict([CharRNNInput(prime="The ", length=80, seed=7)])
    # -> [{'text': 'government said ...'}]

``name`` is the queue the model is served under (``{ns}.infer.<name>``); ``model`` is the
store spec ``NAME[@VERSION]`` it loads, by default the latest version of ``name``. A batch of
inputs is generated together in one :class:`~botwerk.workers.charrnn.generate.Generator` call, each
with its own prime, length, temperature, top-k and seed; the outputs hold only the
continuation, never the prime. The input and output types, with their limits, are the
charrnn contract in :mod:`botwerk.schemas.models.charrnn`.

The worker serves it with continuous batching (:meth:`CharRNNModel.session`): a request joins
the running batch at the next character and is answered the step it is done, so a short one
never waits for a long one. Limits: the model stays on the device ``settings.device`` names.
"""

from __future__ import annotations

from typing import Any, ClassVar

from botwerk.infra.settings import Settings
from botwerk.schemas.models.charrnn import CharRNNInput, CharRNNOutput
from botwerk.workers.charrnn.generate import Generator
from botwerk.workers.continuous import Mapped, Session, run_whole
from botwerk.workers.errors import NotLoaded
from botwerk.workers.store import ModelStore, parse_spec

__all__ = ["KIND", "CharRNNInput", "CharRNNModel"]

KIND = "charrnn"


class CharRNNModel:
    """A charrnn model from the store, resident on the configured device."""

    Input: ClassVar[type[CharRNNInput]] = CharRNNInput

    def __init__(self, settings: Settings, name: str = KIND, model: str | None = None) -> None:
        self.settings = settings
        self.name = name
        self.spec = model or name
        self.version = "unloaded"
        self._generator: Generator | None = None

    @property
    def follows(self) -> str | None:
        """The stored model whose new versions this one follows; None when pinned (NAME@V)."""
        name, version = parse_spec(self.spec)
        return None if version else name

    def at(self, version: str) -> CharRNNModel:
        """A fresh, unloaded copy serving ``version`` of the same stored model (a rollout)."""
        return CharRNNModel(self.settings, self.name, f"{parse_spec(self.spec)[0]}@{version}")

    def latest(self) -> str:
        """The version "latest" of the followed name means now (a rollout's catch-up)."""
        return ModelStore.from_settings(self.settings).latest(parse_spec(self.spec)[0]).version

    def load(self) -> None:
        stored = ModelStore.from_settings(self.settings).open(self.spec, kind=KIND)
        self._generator = Generator.from_folder(stored.path, self.settings.device)
        self.version = stored.manifest.spec

    def example(self) -> CharRNNInput:
        return CharRNNInput(prime="The ", length=200)

    def predict(self, batch: list[CharRNNInput]) -> list[dict[str, Any]]:
        return run_whole(self.session(), batch)

    def session(self) -> Session[CharRNNInput, dict[str, Any]]:
        """A running batch for continuous batching (:mod:`botwerk.workers.continuous`)."""
        if self._generator is None:
            raise NotLoaded(self.name)
        return Mapped(self._generator.session(), _outputs)


def _outputs(text: str) -> dict[str, Any]:
    return CharRNNOutput(text=text).to_outputs()
