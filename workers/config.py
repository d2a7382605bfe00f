"""The base of every model kind's config: a frozen msgspec Struct, like the wire types.

A kind's config, in its ``config.py``::

    class BardConfig(ModelConfig, frozen=True, kw_only=True, forbid_unknown_fields=True):
        hidden: Annotated[int, msgspec.Meta(description="LSTM units per layer")] = 512

The charrnn kind's, for one:

>>> from botwerk.workers.charrnn.config import CharRNNConfig
>>> CharRNNConfig(hidden=64).to_dict()["hidden"]
64
>>> CharRNNConfig.from_dict({"hiden": 64})  # doctest: +ELLIPSIS
Traceback (most recent call last):
ValueError: unknown CharRNNConfig keys ['hiden']; known: ['batch_size', ..., 'weight_decay']

A kind's ``config.py`` holds one of these: its fields are the sizes and training settings,
each with its default and (through ``msgspec.Meta(description=...)``) the help text that
:func:`botwerk.workers.options.config_options` turns into command-line options, so a default
is written once. (The class keywords repeat the base's so type checkers see a frozen struct.)
``__post_init__`` checks the values on construction and says how to fix
them. A model folder's ``model.json`` carries ``to_dict()``; ``from_dict`` reads it back and
refuses keys it does not know, by name.
"""

from __future__ import annotations

from typing import Any, Self

import msgspec


class ModelConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Sizes and training settings of one model kind; subclass it, one field per setting."""

    def to_dict(self) -> dict[str, Any]:
        return msgspec.structs.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Self:
        """The config ``to_dict`` wrote; unknown keys and bad values are a ``ValueError``."""
        known = [f.name for f in msgspec.structs.fields(cls)]
        if unknown := sorted(set(values) - set(known)):
            raise ValueError(f"unknown {cls.__name__} keys {unknown}; known: {sorted(known)}")
        try:
            return msgspec.convert(values, cls)
        except msgspec.ValidationError as exc:
            raise ValueError(f"{cls.__name__}: {exc}") from None
