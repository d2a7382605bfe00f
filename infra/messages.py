"""Every sentence Botwerk itself says to users (not a bot's own words), in one place."""

from __future__ import annotations

TOOK_TOO_LONG = "Sorry, that took too long. Please try again in a moment."
BUSY = "I'm busy right now; please try again in a moment."
NO_WORKER = "The {model} model isn't running right now, so I can't answer that."
MODEL_FAILED = "Something went wrong while thinking about that; please try rephrasing."
BAD_REQUEST = "I couldn't make sense of that request: {detail}"
INTERNAL = "Something went wrong on my side; it has been logged."
NO_CORE = "The {bot} bot isn't running right now; please try again later."
UNREACHABLE = "I can't reach the {bot} bot right now; please try again in a moment."
ANSWER_TOO_LONG = "My answer came out too long to send; please ask for something shorter."
MESSAGE_TOO_LONG = "That message is too long for me; please send something shorter."
UNKNOWN_COMMAND = "I don't know {word!r}. Say `help` to see what I can do."
EMPTY = "Say something, or `help` to see what I can do."

BY_CODE = {
    "timeout": TOOK_TOO_LONG,
    "busy": BUSY,
    "no_worker": NO_WORKER,
    "model_error": MODEL_FAILED,
    "bad_request": BAD_REQUEST,
    "internal": INTERNAL,
}


def for_error(code: str, *, model: str = "", detail: str = "") -> str:
    """The user-facing sentence for an ErrorCode."""
    return BY_CODE.get(code, INTERNAL).format(model=model or "needed", detail=detail)
