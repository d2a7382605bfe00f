"""Message types, MessagePack encode/decode and schema errors: the wire contract in code."""

from botwerk.schemas.codec import CONTENT_TYPE, DEFAULT_MAX_BYTES, TYPES, decode, encode, validate
from botwerk.schemas.errors import BotwerkError, SchemaError
from botwerk.schemas.messages import (
    ComponentEvent,
    Envelope,
    Error,
    ErrorCode,
    Inbound,
    InferReply,
    InferRequest,
    ModelPublished,
    Reply,
    User,
)

__all__ = [
    "CONTENT_TYPE",
    "DEFAULT_MAX_BYTES",
    "TYPES",
    "BotwerkError",
    "ComponentEvent",
    "Envelope",
    "Error",
    "ErrorCode",
    "Inbound",
    "InferReply",
    "InferRequest",
    "ModelPublished",
    "Reply",
    "SchemaError",
    "User",
    "decode",
    "encode",
    "validate",
]
