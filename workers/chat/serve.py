"""Serve a stored chat model to a worker: the worker's model object.

With a trained model in the store::

    model = ChatModel(settings, "chat", model="movie@2"); model.load()
    model.predict([ChatInput(text="how are you?"), ChatInput(text="hi", mode="beam", beam=8)])
    # -> [{'text': "I'm fine.", 'context_used': False}, {'text': 'Hello!', 'context_used': False}]

``name`` is the queue the model is served under (``{ns}.infer.<name>``); ``model`` is the
store spec ``NAME[@VERSION]`` it loads, by default the latest version of ``name``. A batch of
inputs is answered by one :class:`~botwerk.workers.chat.decode.Responder` session: greedy and
sampled requests decode together, beam ones by width as they join. ``context`` is the
utterance before ``text`` (the bot's own last line); a model trained with context reads it,
others ignore it, and ``context_used`` says which happened. The input and output types, with
their limits, are the chat contract in :mod:`botwerk.schemas.models.chat`.

The worker serves it with continuous batching (:meth:`ChatModel.session`): a greedy or sampled
request joins the running batch at the next token and is answered the step its reply ends.
Limits: a beam request cannot join mid-way; it is decoded whole (with the other beam requests
of its width that join at that step) before the next step.
"""

from __future__ import annotations

from typing import Any, ClassVar

from botwerk.infra.settings import Settings
from botwerk.schemas.models.chat import ChatInput, ChatOutput
from botwerk.workers.chat.decode import Answer, Responder
from botwerk.workers.continuous import Mapped, Session, run_whole
from botwerk.workers.errors import NotLoaded
from botwerk.workers.store import ModelStore, parse_spec

__all__ = ["KIND", "ChatInput", "ChatModel"]

KIND = "chat"


class ChatModel:
    """A chat model from the store, resident on the configured device."""

    Input: ClassVar[type[ChatInput]] = ChatInput

    def __init__(self, settings: Settings, name: str = KIND, model: str | None = None) -> None:
        self.settings = settings
        self.name = name
        self.spec = model or name
        self.version = "unloaded"
        self._responder: Responder | None = None

    @property
    def follows(self) -> str | None:
        """The stored model whose new versions this one follows; None when pinned (NAME@V)."""
        name, version = parse_spec(self.spec)
        return None if version else name

    def at(self, version: str) -> ChatModel:
        """A fresh, unloaded copy serving ``version`` of the same stored model (a rollout)."""
        return ChatModel(self.settings, self.name, f"{parse_spec(self.spec)[0]}@{version}")

    def latest(self) -> str:
        """The version "latest" of the followed name means now (a rollout's catch-up)."""
        return ModelStore.from_settings(self.settings).latest(parse_spec(self.spec)[0]).version

    def load(self) -> None:
        stored = ModelStore.from_settings(self.settings).open(self.spec, kind=KIND)
        self._responder = Responder.from_folder(stored.path, self.settings.device)
        self.version = stored.manifest.spec

    def example(self) -> ChatInput:
        return ChatInput(text="hello, how are you?")

    def predict(self, batch: list[ChatInput]) -> list[dict[str, Any]]:
        return run_whole(self.session(), batch)

    def session(self) -> Session[ChatInput, dict[str, Any]]:
        """A running batch for continuous batching (:mod:`botwerk.workers.continuous`)."""
        if self._responder is None:
            raise NotLoaded(self.name)
        return Mapped(self._responder.session(), _outputs)


def _outputs(answer: Answer) -> dict[str, Any]:
    return ChatOutput(text=answer.text, context_used=answer.context_used).to_outputs()
