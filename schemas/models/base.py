"""The two base types of every model contract: what a bot sends, what the model answers.

>>> from botwerk.schemas.models import EchoInput, EchoOutput
>>> EchoInput(text="hi").to_inputs()   # delay_ms and fail are left out at their default
{'text': 'hi'}
>>> EchoOutput.from_outputs({"text": "hi"})
EchoOutput(text='hi')

A :class:`ModelInput` is the ``inputs`` map of one ``botwerk.infer.v1``; a :class:`ModelOutput`
is the ``outputs`` map of its ``botwerk.infer_reply.v1``. The envelopes themselves do not
change: these types describe the maps that travel inside them, so a client that writes the
maps by hand (docs/protocol.md) and one that uses these types put the same bytes on the wire.

Inputs refuse unknown keys (a typo is a ``bad_request``, not silently ignored), and their
``Annotated`` limits are checked when a map is decoded (:func:`botwerk.schemas.validate`), which is
what a worker does with every request. A struct built in Python is *not* checked (msgspec
checks constraints on decode only): a bot that builds one from user text checks the user's
values against the same constants first, and says what is wrong in its own words.

Outputs ignore unknown keys, like every reader of the wire: a newer model may add an output.
"""

from __future__ import annotations

import functools
from typing import Any, ClassVar, Generic, TypeVar

import msgspec

from botwerk.schemas.codec import validate


class ModelOutput(msgspec.Struct, frozen=True, kw_only=True):
    """Base of a model's outputs: the ``outputs`` map of an InferReply."""

    def to_outputs(self) -> dict[str, Any]:
        """The map a worker sends, exactly as the wire carries it.

        Fields left UNSET are not in it, and tuples are lists: a MessagePack round trip, a few
        microseconds against a model's milliseconds.
        """
        return msgspec.msgpack.decode(msgspec.msgpack.encode(self))  # type: ignore[no-any-return]

    @classmethod
    def from_outputs(cls: type[OutputT], outputs: dict[str, Any]) -> OutputT:
        """``outputs`` read as this type; a :class:`SchemaError` naming ``outputs.<field>``."""
        return validate(outputs, cls, "outputs")


OutputT = TypeVar("OutputT", bound=ModelOutput)
InputT = TypeVar("InputT", bound="ModelInput[Any]")


@functools.cache
def _omitted_defaults(kind: type[ModelInput[Any]]) -> dict[str, Any]:
    """The defaults of ``kind``'s ``OMIT_AT_DEFAULT`` fields, read once per class: reading them
    through ``msgspec.structs.fields`` on every message was a quarter of a core's CPU (issue 16,
    profiled with py-spy)."""
    return {
        info.name: info.default_factory() if info.default is msgspec.NODEFAULT else info.default
        for info in msgspec.structs.fields(kind)
        if info.name in kind.OMIT_AT_DEFAULT
    }


class ModelInput(
    msgspec.Struct, Generic[OutputT], frozen=True, kw_only=True, forbid_unknown_fields=True
):
    """Base of a model's inputs: the ``inputs`` map of an InferRequest.

    ``Output`` is the output type a model of this kind answers with; the type parameter says
    the same to a type checker, so ``await ctx.infer("charrnn", CharRNNInput(...))`` is a
    ``CharRNNOutput``. ``OMIT_AT_DEFAULT`` names the fields left out of the map while they
    hold their default: optional extras that the worker fills in the same way anyway.
    """

    Output: ClassVar[type[ModelOutput]]
    OMIT_AT_DEFAULT: ClassVar[frozenset[str]] = frozenset()

    def sends(self, field: str) -> bool:
        """Whether :meth:`to_inputs` puts ``field`` in the map."""
        if field not in self.OMIT_AT_DEFAULT:
            return True
        return bool(getattr(self, field) != _omitted_defaults(type(self))[field])

    def to_inputs(self) -> dict[str, Any]:
        """The map a bot sends, built from this struct's fields (see :meth:`sends`)."""
        plain: dict[str, Any] = msgspec.to_builtins(self)
        return {key: value for key, value in plain.items() if self.sends(key)}

    @classmethod
    def from_inputs(cls: type[InputT], inputs: dict[str, Any]) -> InputT:
        """``inputs`` checked as this type, as a worker does; a SchemaError names the field."""
        return validate(inputs, cls, "inputs")
