"""The chat model's contract: what the user said (and the line before it) in, a reply out.

>>> ChatInput.from_inputs({"text": "how are you?", "mode": "beam", "beam": 8}).beam
8
>>> ChatInput(text="where to?", context="I'm fine.").to_inputs()["context"]
"I'm fine."
>>> ChatInput(text="hi").to_inputs()   # no context, no seed: both left out
{'text': 'hi', 'mode': 'greedy', 'temperature': 0.8, 'top_k': 0, 'beam': 4, 'max_len': 0}
>>> ChatOutput(text="Out.", context_used=True).to_outputs()
{'text': 'Out.', 'context_used': True}

Modes (:data:`MODES`): ``greedy`` takes the likeliest word at each step, ``sample`` draws one
shaped by ``temperature`` and ``top_k`` (and ``seed``), ``beam`` searches ``beam`` replies
wide and keeps the best. The limits are the worker's: it refuses what breaks them, and a bot
that passes user text or user options checks them against the same constants first. A batch
takes as long as its longest reply, which :data:`MAX_TOKENS` bounds.
"""

from __future__ import annotations

from typing import Annotated, Literal, get_args

import msgspec

from botwerk.schemas.models.base import ModelInput, ModelOutput

Mode = Literal["greedy", "sample", "beam"]
MODES: tuple[Mode, ...] = get_args(Mode)
MAX_TEXT = 2000
"""characters of ``text``, and of ``context``"""
MAX_TEMPERATURE = 5.0
"""``temperature`` is above 0 and at most this"""
MIN_BEAM, MAX_BEAM = 1, 16
"""replies a beam search weighs"""
MAX_TOKENS = 100
"""the longest reply ``max_len`` may ask for, in tokens"""


class ChatOutput(ModelOutput, frozen=True, kw_only=True):
    """What a chat model answers."""

    text: str
    """the reply as a normal sentence ("I'm fine."); may be "" """
    context_used: bool
    """whether the model read ``context``: only a model trained with context does"""


class ChatInput(ModelInput[ChatOutput], frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One reply request."""

    Output = ChatOutput
    OMIT_AT_DEFAULT = frozenset({"context", "seed"})

    text: Annotated[str, msgspec.Meta(max_length=MAX_TEXT)]
    """what the user said"""
    context: Annotated[str, msgspec.Meta(max_length=MAX_TEXT)] = ""
    """the utterance before ``text`` in the conversation, "" for none"""
    mode: Mode = "greedy"
    temperature: Annotated[float, msgspec.Meta(gt=0, le=MAX_TEMPERATURE)] = 0.8
    """sample mode: below 1 safer, above 1 wilder"""
    top_k: Annotated[int, msgspec.Meta(ge=0)] = 0
    """sample mode: among the k likeliest words only; 0: all"""
    beam: Annotated[int, msgspec.Meta(ge=MIN_BEAM, le=MAX_BEAM)] = 4
    """beam mode: replies weighed at once"""
    max_len: Annotated[int, msgspec.Meta(ge=0, le=MAX_TOKENS)] = 0
    """the longest reply in tokens; 0: the model's own limit"""
    seed: int | None = None
    """sample mode: the same seed and input give the same reply, alone or in any batch"""
