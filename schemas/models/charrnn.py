"""The charrnn model's contract: a beginning in, the characters that follow it out.

>>> CharRNNInput.from_inputs({"prime": "To be", "length": 80})
CharRNNInput(prime='To be', length=80, temperature=0.8, top_k=0, seed=None)
>>> CharRNNInput(prime="To be", length=80).to_inputs()   # seed is left out while None
{'prime': 'To be', 'length': 80, 'temperature': 0.8, 'top_k': 0}
>>> CharRNNOutput(text=", or not to be").to_outputs()
{'text': ', or not to be'}

The limits below are the worker's: it refuses (``bad_request``) what breaks them, and a bot
that lets users set these values checks them against the same constants first. A batch takes
as long as its longest request, so :data:`MAX_LENGTH` also bounds how long one request can
hold up the others.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from botwerk.schemas.models.base import ModelInput, ModelOutput

MAX_PRIME = 4000
"""characters of ``prime``"""
MIN_LENGTH, MAX_LENGTH = 1, 2000
"""characters to write"""
MAX_TEMPERATURE = 5.0
"""``temperature`` is above 0 and at most this"""


class CharRNNOutput(ModelOutput, frozen=True, kw_only=True):
    """What a charrnn model answers."""

    text: str
    """the continuation alone, never the prime; it may end mid-word"""


class CharRNNInput(
    ModelInput[CharRNNOutput], frozen=True, kw_only=True, forbid_unknown_fields=True
):
    """One generation request."""

    Output = CharRNNOutput
    OMIT_AT_DEFAULT = frozenset({"seed"})

    prime: Annotated[str, msgspec.Meta(max_length=MAX_PRIME)] = ""
    """the text to continue; characters the model never saw are read as unknown"""
    length: Annotated[int, msgspec.Meta(ge=MIN_LENGTH, le=MAX_LENGTH)] = 200
    """characters to write"""
    temperature: Annotated[float, msgspec.Meta(gt=0, le=MAX_TEMPERATURE)] = 0.8
    """below 1: safer, more repetitive; above 1: wilder"""
    top_k: Annotated[int, msgspec.Meta(ge=0)] = 0
    """sample among the k likeliest characters only; 0: all of them"""
    seed: int | None = None
    """the same seed and input give the same text, alone or in any batch"""
