"""The root of every Botwerk exception, and the one error a bad message body raises.

A :class:`SchemaError` says which field and why in a developer's terms (``inputs.prime:
expected `str` of length <= 4000``): right for logs and dead-letter reasons, wrong for a chat
user. :meth:`SchemaError.for_user` says the same in plain words, naming the field by a title::

    >>> from botwerk.schemas import validate
    >>> from botwerk.schemas.models import CharRNNInput
    >>> try:
    ...     validate({"prime": "x" * 5000}, CharRNNInput, "inputs")
    ... except SchemaError as exc:
    ...     print(exc, "|", exc.for_user(CharRNNInput))
    inputs.prime: expected `str` of length <= 4000 | the text is too long: at most 4,000 characters

A field's title is its ``msgspec.Meta(title=...)`` in the struct passed, else its entry in
:data:`TITLES` (the fields of the model kinds Botwerk ships), else :data:`SOME_FIELD`. Limit:
the reasons worded are msgspec's (lengths, bounds, types, enum values, missing and unknown
fields); any other reason, such as a struct's own ``__post_init__`` check, becomes the plain
:data:`UNUSABLE`, since its text was written for developers.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
import msgspec.inspect

# What a schema error says to users, in one place. {title}: the field's title.
TOO_LONG = "{title} is too long: at most {limit} {unit}"
TOO_SHORT = "{title} is too short: at least {limit} {unit}"
BOUND = "{title} must be {bound} {limit}"
WRONG_KIND = "{title} must be {kind}"
NOT_ONE_OF = "{title} must be one of {choices}"
MISSING = "{title} is missing"
UNKNOWN_FIELD = "it holds something I don't take"
UNUSABLE = "{title} is not something I can use"
SOME_FIELD = "one of the settings"
WHOLE = "that request"  # the title of the body as a whole
ITEM = "each of {title}"  # the title of one item of a list: each of the words

TITLES = {
    "prime": "the text",
    "text": "the text",
    "context": "the earlier line",
    "length": "the length",
    "temperature": "the temperature",
    "top_k": "the number of likeliest choices",
    "max_len": "the longest answer",
    "beam": "the beam width",
    "seed": "the seed",
    "mode": "the mode",
    "words": "the words",
    "positive": "the words to add",
    "negative": "the words to take away",
    "topn": "the number of answers",
    "op": "the kind of question",
    "delay_ms": "the delay",
}
"""Plain titles of the fields of the shipped model inputs, by field name."""
UNITS = {"str": "characters", "array": "items", "object": "entries", "bytes": "bytes"}
KINDS = {
    "int": "a whole number",
    "float": "a number",
    "str": "a piece of text",
    "bool": "yes or no",
    "array": "a list",
    "object": "a set of named values",
}
BOUNDS = {"<=": "at most", ">=": "at least", "<": "below", ">": "above"}

_LENGTH = re.compile(r"^expected `(\w+)` of length ([<>]=?) (\d+)")
_BOUND = re.compile(r"^expected `(?:int|float)` ([<>]=?) (-?[\d.e+-]+)")
_KIND = re.compile(r"^expected `(\w+)[` ]")
_ENUM = re.compile(r"^invalid enum value")
_MISSING = re.compile(r"^object missing required field")
_UNKNOWN = re.compile(r"^object contains unknown field")


class BotwerkError(Exception):
    """Root of every exception Botwerk raises on purpose."""


class SchemaError(BotwerkError, ValueError):
    """A message body that cannot be accepted: says which field and why.

    ``field`` is a dotted path into the body (``user.id``), or one of ``body``,
    ``type`` and ``content_type`` for problems with the message as a whole.
    """

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason

    def for_user(self, kind: type | None = None) -> str:
        """The problem in plain words, with no path, type or field name (see the module).

        ``kind`` is the struct that was checked: its field titles and choices are used.
        """
        name = self.leaf
        title = _title(name, kind)
        if self.field.endswith("]"):
            title = ITEM.format(title=title)
        reason = self.reason
        if match := _LENGTH.match(reason):
            unit = UNITS.get(match[1], "items")
            template = TOO_LONG if match[2].startswith("<") else TOO_SHORT
            return template.format(title=title, limit=_number(match[3]), unit=unit)
        if match := _BOUND.match(reason):
            return BOUND.format(title=title, bound=BOUNDS[match[1]], limit=_number(match[2]))
        if _ENUM.match(reason) and (choices := _choices(name, kind)):
            return NOT_ONE_OF.format(title=title, choices=choices)
        if (match := _KIND.match(reason)) and match[1] in KINDS:
            return WRONG_KIND.format(title=title, kind=KINDS[match[1]])
        if _MISSING.match(reason):
            return MISSING.format(title=title)
        if _UNKNOWN.match(reason):
            return UNKNOWN_FIELD
        return UNUSABLE.format(title=title)

    @property
    def leaf(self) -> str:
        """The field's own name: ``inputs.words[2]`` -> ``words``; ``""`` for the whole body."""
        last = self.field.rsplit(".", 1)[-1] if "." in self.field else ""
        return last.split("[", 1)[0]


def _title(name: str, kind: type | None) -> str:
    if not name:
        return WHOLE
    meta = _field_type(name, kind)
    if isinstance(meta, msgspec.inspect.Metadata) and (meta.extra_json_schema or {}).get("title"):
        return str((meta.extra_json_schema or {})["title"])
    return TITLES.get(name, SOME_FIELD)


def _choices(name: str, kind: type | None) -> str:
    """``beam, greedy or sample``: the values a Literal field allows, if they are words."""
    info = _field_type(name, kind)
    if isinstance(info, msgspec.inspect.Metadata):
        info = info.type
    if not isinstance(info, msgspec.inspect.LiteralType) or not info.values:
        return ""
    values = [str(value) for value in info.values]
    if not all(value.replace(" ", "").isalpha() for value in values):
        return ""  # a choice such as `odd_one_out` is a program's word, not a user's
    return ", ".join(values[:-1]) + f" or {values[-1]}" if len(values) > 1 else values[0]


def _field_type(name: str, kind: type | None) -> Any:
    if kind is None or not isinstance(kind, type) or not issubclass(kind, msgspec.Struct):
        return None
    info = msgspec.inspect.type_info(kind)
    assert isinstance(info, msgspec.inspect.StructType)
    return next((f.type for f in info.fields if f.name == name), None)


def _number(text: str) -> str:
    """``4000`` -> ``4,000``; ``5.0`` -> ``5``."""
    value = float(text)
    return f"{int(value):,}" if value.is_integer() else f"{value:g}"
