"""Each model kind's inputs and outputs: the typed contract between a bot and its model.

>>> from botwerk.schemas.models import CharRNNInput
>>> request = CharRNNInput(prime="Once upon a time", length=80)
>>> request.to_inputs()                    # what a bot puts in InferRequest.inputs
{'prime': 'Once upon a time', 'length': 80, 'temperature': 0.8, 'top_k': 0}
>>> CharRNNInput.from_inputs(request.to_inputs()) == request   # what the worker reads back
True

A bot builds the input struct and awaits ``ctx.infer(model, request)``, which returns the output
struct (:class:`~botwerk.cores.bot.Context`); the worker serving the kind declares that input type
(``Model.Input``), so every request is checked against it before batching, and builds its
answer from the output type. The limits (lengths, ranges, modes) are written once, here, as
module constants and ``Annotated`` constraints; bots that let users set a value import the
constant rather than copy it.

One module per kind, as one folder per kind under ``workers/``: adding a model kind adds one
module here, its row in docs/protocol.md, and its worker. Only msgspec and the standard
library are imported, so a bot (or a client in another process) reads the contract without
torch, numpy or gensim.

Limit: the envelope's ``inputs``/``outputs`` stay free maps on the wire (``dict[str, Any]``);
a model served under its own name may take any input type. These types are the contract of
the kinds Botwerk ships.
"""

from botwerk.schemas.models.base import ModelInput, ModelOutput
from botwerk.schemas.models.charrnn import CharRNNInput, CharRNNOutput
from botwerk.schemas.models.chat import ChatInput, ChatOutput
from botwerk.schemas.models.echo import EchoInput, EchoOutput
from botwerk.schemas.models.word2vec import Word2VecInput, Word2VecOutput

__all__ = [
    "CharRNNInput",
    "CharRNNOutput",
    "ChatInput",
    "ChatOutput",
    "EchoInput",
    "EchoOutput",
    "ModelInput",
    "ModelOutput",
    "Word2VecInput",
    "Word2VecOutput",
]
