"""A stand-in for the models, for testing a bot's handlers without a bus or a worker.

In an async test of a bot (``bot = BillyBard(settings)``)::

    model = CannedModel({"text": " world"})
    reply = await bot.dispatch(context("billybard", "hello", model))
    model.sent   # [("charrnn", {"prime": "hello", ...})]: what the bot asked for

It plays the part of :class:`botwerk.infra.rpc.Rpc` that :class:`botwerk.cores.bot.Context`
calls: each ``infer`` answers with the next canned outputs (or raises the next canned
exception, such as a :class:`botwerk.infra.errors.RemoteError`) and records the model and
inputs it was sent.
"""

from __future__ import annotations

from typing import Any

from botwerk.cores.bot import Context
from botwerk.infra.state import StateStore
from botwerk.schemas import Inbound, InferReply, User


class CannedModel:
    """Answers each infer with the next canned outputs, and records what it was asked."""

    def __init__(self, *outputs: dict[str, Any] | Exception) -> None:
        self.outputs = list(outputs)
        self.sent: list[tuple[str, dict[str, Any]]] = []

    async def infer(self, model: str, inputs: dict[str, Any], deadline_ms: int) -> InferReply:
        self.sent.append((model, inputs))
        answer = self.outputs.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return InferReply(model=model, version="canned", outputs=answer)


def context(
    bot: str, text: str, rpc: CannedModel | None = None, *, direct: bool = True,
    store: StateStore | None = None,
) -> Context:  # fmt: skip
    """A Context for one message to ``bot``, its models played by ``rpc``.

    ``store``: the state store its memory lives in; pass one store to several contexts to test
    what a bot remembers between messages (``MemoryStore("test")``). None: a private one.
    """
    message = Inbound(
        bot=bot, transport="t", conversation="c", user=User(id="u"), text=text, direct=direct
    )
    return Context(message, deadline_ms=10_000, rpc=rpc, store=store)  # type: ignore[arg-type]
