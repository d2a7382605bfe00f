"""MessagePack encoding and validated decoding of the wire types.

>>> from botwerk.schemas import Inbound, User, decode, encode
>>> msg = Inbound(bot="demo", transport="console", conversation="tty", user=User(id="me"),
...               text="hi")
>>> decode(encode(msg), Inbound.TYPE) == msg
True
>>> decode(encode(msg), Inbound.TYPE, "application/x-python-pickle")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
botwerk.schemas.errors.SchemaError: content_type: expected 'application/msgpack', got ...

Bodies are MessagePack written by the ``msgpack`` package with the bin type on and read with
raw off, so ``bytes`` and ``str`` stay apart. Decoding refuses, with one :class:`SchemaError`
naming the field: a content type other than ``application/msgpack``, an unknown ``type``, a
body over the size cap, bytes that are not MessagePack, extension types (the timestamp, type -1,
included), and any missing or mistyped field. Nothing here ever unpickles.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgpack
import msgspec

from botwerk.schemas.errors import SchemaError
from botwerk.schemas.messages import ALL_TYPES, Envelope

CONTENT_TYPE = "application/msgpack"
DEFAULT_MAX_BYTES = 256 * 1024

TYPES: dict[str, type[Envelope]] = {cls.TYPE: cls for cls in ALL_TYPES}

E = TypeVar("E", bound=Envelope)
T = TypeVar("T")


def encode(message: Envelope) -> bytes:
    """The MessagePack body of ``message``; send it with ``type=message.TYPE``."""
    plain = msgspec.to_builtins(message, builtin_types=(bytes, bytearray, memoryview))
    return msgpack.packb(plain, use_bin_type=True)  # type: ignore[no-any-return]


def decode(
    body: bytes,
    type_name: str | None,
    content_type: str | None = CONTENT_TYPE,
    *,
    expect: tuple[type[E], ...] | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> E:
    """Check and decode one body; raise :class:`SchemaError` saying which field and why.

    ``expect`` narrows which types the caller accepts (a worker takes only ``InferRequest``).
    """
    if content_type != CONTENT_TYPE:
        raise SchemaError("content_type", f"expected {CONTENT_TYPE!r}, got {content_type!r}")
    cls = _message_class(type_name, expect)
    if len(body) > max_bytes:
        raise SchemaError("body", f"{len(body)} bytes is over the {max_bytes}-byte cap")
    return validate(_unpack(body), cls)  # type: ignore[return-value]


def validate(value: Any, type: type[T], field: str = "") -> T:
    """``value`` (decoded MessagePack) as ``type``, or a SchemaError naming ``field.path``."""
    try:
        return msgspec.convert(value, type=type)
    except msgspec.ValidationError as exc:
        error = _schema_error(exc)
        if not field:
            raise error from None
        where = field if error.field == "body" else f"{field}.{error.field}"
        raise SchemaError(where, error.reason) from None


def _message_class(type_name: str | None, expect: tuple[type[E], ...] | None) -> type[Envelope]:
    accepted = expect or ALL_TYPES
    for cls in accepted:
        if type_name == cls.TYPE:
            return cls
    names = ", ".join(cls.TYPE for cls in accepted)
    if type_name in TYPES:
        raise SchemaError("type", f"{type_name!r} is not accepted here; expected {names}")
    raise SchemaError("type", f"unknown message type {type_name!r}; expected {names}")


def _refuse_ext(code: int, data: bytes) -> Any:
    raise SchemaError("body", f"MessagePack extension type {code} is not allowed")


def _refuse_timestamps(value: Any) -> Any:
    """``value``, unless a MessagePack timestamp (extension type -1) is anywhere in it.

    msgpack-python decodes that one extension itself, without asking ``ext_hook``, so it would
    slip through inside ``inputs`` or a field the reader does not know.
    """
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())  # keys are str: ``strict_map_key`` saw to that
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, msgpack.Timestamp):
            raise SchemaError("body", "MessagePack extension type -1 (timestamp) is not allowed")
    return value


def _unpack(body: bytes) -> Any:
    try:
        value = msgpack.unpackb(body, raw=False, ext_hook=_refuse_ext, strict_map_key=True)
        return _refuse_timestamps(value)
    except SchemaError:
        raise
    except msgpack.ExtraData:
        raise SchemaError("body", "trailing bytes after the MessagePack object") from None
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        why = str(exc) or type(exc).__name__
        raise SchemaError("body", f"not MessagePack ({why})") from None


_AT_PATH = re.compile(r" - at `\$\.?([^`]*)`$")
_MISSING = re.compile(r"missing required field `([^`]+)`")


def _schema_error(exc: msgspec.ValidationError) -> SchemaError:
    """Turn msgspec's "Expected `str`, got `int` - at `$.user.id`" into field + reason."""
    text = str(exc)
    path = ""
    if match := _AT_PATH.search(text):
        path = match.group(1)
        text = text[: match.start()]
    if missing := _MISSING.search(text):
        path = f"{path}.{missing.group(1)}" if path else missing.group(1)
    return SchemaError(path or "body", text[:1].lower() + text[1:])
