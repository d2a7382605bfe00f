"""The echo model's contract: a text in, the same text out; a delay and a failure on request.

>>> EchoInput.from_inputs({"text": "hi", "delay_ms": 1500})
EchoInput(text='hi', delay_ms=1500, fail=False)
>>> EchoInput(text="hi", fail=True).to_inputs()
{'text': 'hi', 'fail': True}
>>> EchoOutput(text="hi").to_outputs()
{'text': 'hi'}

``delay_ms`` makes the batch holding the request take that long, like a slow model; a longer
delay is cut to :data:`MAX_DELAY_MS` rather than refused, so ``slow 99999`` still answers.
``fail`` makes the model raise: the failing path, seen end to end.
"""

from __future__ import annotations

from botwerk.schemas.models.base import ModelInput, ModelOutput

MAX_DELAY_MS = 60_000
"""The longest a batch waits for ``delay_ms``; more is cut to this."""


class EchoOutput(ModelOutput, frozen=True, kw_only=True):
    """What the echo model answers."""

    text: str
    """the input text, unchanged"""


class EchoInput(ModelInput[EchoOutput], frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One echo request."""

    Output = EchoOutput
    OMIT_AT_DEFAULT = frozenset({"delay_ms", "fail"})  # test knobs: sent only when used

    text: str
    """the text to send back"""
    delay_ms: int = 0
    """milliseconds the batch takes (at most :data:`MAX_DELAY_MS`; 0 and below: none)"""
    fail: bool = False
    """raise instead of answering: the whole batch fails with ``model_error``"""
