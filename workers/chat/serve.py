"""Serve a stored chat model to a worker: the input schema and the worker's model object.

>>> model = ChatModel(settings, "chat", model="movie@2"); model.load()
>>> model.predict([ChatInput(text="how are you?"), ChatInput(text="hi", mode="beam", beam=8)])
[{'text': "I'm fine.", 'context_used': False}, {'text': 'Hello!', 'context_used': False}]

``name`` is the queue the model is served under (``{ns}.infer.<name>``); ``model`` is the
store spec ``NAME[@VERSION]`` it loads, by default the latest version of ``name``. A batch of
inputs is answered in one :class:`~workers.chat.decode.Responder` call: the requests of one
decoding mode (and beam width) run together. ``context`` is the utterance before ``text``
(the bot's own last line); a model trained with context reads it, others ignore it, and
``context_used`` says which happened.

Limits: a batch takes as long as its longest reply (up to ``max_len`` tokens, 100 at most).
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

import msgspec

from botwerk.infra.settings import Settings
from botwerk.schemas import BotwerkError

from ..store import ModelStore
from .decode import Mode, Responder

KIND = "chat"
MAX_TEXT = 2000
MAX_TOKENS = 100


class ChatInput(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One reply request."""

    text: Annotated[str, msgspec.Meta(max_length=MAX_TEXT)]
    """what the user said"""
    context: Annotated[str, msgspec.Meta(max_length=MAX_TEXT)] = ""
    """the utterance before ``text`` in the conversation, "" for none"""
    mode: Mode = "greedy"
    temperature: Annotated[float, msgspec.Meta(gt=0, le=5)] = 0.8
    top_k: Annotated[int, msgspec.Meta(ge=0)] = 0
    """sample mode: among the k likeliest words only; 0: all"""
    beam: Annotated[int, msgspec.Meta(ge=1, le=16)] = 4
    max_len: Annotated[int, msgspec.Meta(ge=0, le=MAX_TOKENS)] = 0
    """the longest reply in tokens; 0: the model's own limit"""
    seed: int | None = None
    """sample mode: the same seed and input give the same reply, alone or in any batch"""


class NotLoaded(BotwerkError):
    """``predict`` was called before ``load``."""


class ChatModel:
    """A chat model from the store, resident on the configured device."""

    Input: ClassVar[type[ChatInput]] = ChatInput

    def __init__(self, settings: Settings, name: str = KIND, model: str | None = None) -> None:
        self.settings = settings
        self.name = name
        self.spec = model or name
        self.version = "unloaded"
        self._responder: Responder | None = None

    def load(self) -> None:
        stored = ModelStore.from_settings(self.settings).open(self.spec, kind=KIND)
        self._responder = Responder.from_folder(stored.path, self.settings.device)
        self.version = stored.manifest.spec

    def example(self) -> ChatInput:
        return ChatInput(text="hello, how are you?")

    def predict(self, batch: list[ChatInput]) -> list[dict[str, Any]]:
        if self._responder is None:
            raise NotLoaded(f"the {self.name} model is not loaded yet: call load() first")
        answers = self._responder.reply(batch)
        return [{"text": a.text, "context_used": a.context_used} for a in answers]
