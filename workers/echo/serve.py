"""The echo model: the trivial model that proves the whole path before any real one exists.

>>> model = EchoModel(Settings.load(), "echo"); model.load()
>>> model.predict([EchoInput(text="hi")])
[{'text': 'hi'}]

``delay_ms`` makes a batch take that long (like a slow model, capped at 60 s) and ``fail``
makes the model raise, so the slow and failing paths can be seen and tested end to end. A batch
without a delay runs on the worker's event loop (:meth:`EchoModel.on_loop`: 7 us, no thread
hop); a delayed one on the model's thread, as a slow model must, so heartbeats go on. The
input and output types, and the cap, are the echo contract in :mod:`botwerk.schemas.models.echo`.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

from botwerk.infra.settings import Settings
from botwerk.schemas.models.echo import MAX_DELAY_MS, EchoInput, EchoOutput

__all__ = ["MAX_DELAY_MS", "EchoFailure", "EchoInput", "EchoModel"]


class EchoFailure(RuntimeError):
    """Raised on purpose when an input asks for ``fail``."""


class EchoModel:
    """Answers each text with itself."""

    Input: ClassVar[type[EchoInput]] = EchoInput
    version = "1"

    def __init__(self, settings: Settings, name: str = "echo") -> None:
        self.name = name

    def load(self) -> None:
        """Nothing to load."""

    def example(self) -> EchoInput:
        return EchoInput(text="warm-up")

    def on_loop(self, batch: list[EchoInput]) -> bool:
        """Cheap unless a delay was asked for: that sleeps, and must not stall the loop."""
        return all(item.delay_ms <= 0 for item in batch)

    def predict(self, batch: list[EchoInput]) -> list[dict[str, Any]]:
        delay = min(max((item.delay_ms for item in batch), default=0), MAX_DELAY_MS)
        if delay > 0:
            time.sleep(delay / 1000)  # on the model thread: the event loop keeps running
        if any(item.fail for item in batch):
            raise EchoFailure("asked to fail")
        return [EchoOutput(text=item.text).to_outputs() for item in batch]
