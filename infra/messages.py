"""Every sentence Botwerk itself says to users (not a bot's own words), in one place."""

from __future__ import annotations

TOOK_TOO_LONG = "Sorry, that took too long. Please try again in a moment."
BUSY = "I'm busy right now; please try again in a moment."
NO_WORKER = "The {model} model isn't running right now, so I can't answer that."
MODEL_FAILED = "Something went wrong while thinking about that; please try rephrasing."
BAD_REQUEST = "I couldn't use that, because {detail}."  # detail: SchemaError.for_user
INTERNAL = "Something went wrong on my side; it has been logged."
NO_CORE = "The {bot} bot isn't running right now; please try again later."
UNREACHABLE = "I can't reach the {bot} bot right now; please try again in a moment."
ANSWER_TOO_LONG = "My answer came out too long to send; please ask for something shorter."
MESSAGE_TOO_LONG = "That message is too long for me; please send something shorter."
UNKNOWN_COMMAND = "I don't know {word!r}. Say `help` to see what I can do."
EMPTY = "Say something, or `help` to see what I can do."
LEARNING = "{bot} is still learning: {percent}, {left}. Ask me again then!"

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


def learning(bot: str, done: float, eta_s: float) -> str:
    """``billybard is still learning: 40%, about a minute left. ...``"""
    percent = f"{round(min(max(done, 0.0), 1.0) * 100)}%"
    return LEARNING.format(bot=bot, percent=percent, left=time_left(eta_s))


def time_left(seconds: float) -> str:
    """A rough, friendly time left: a few seconds, about a minute, about 3 minutes.

    >>> time_left(4), time_left(40), time_left(75), time_left(200)
    ('a few seconds left', 'about 40 seconds left', 'about a minute left', 'about 3 minutes left')
    """
    if seconds < 10:
        return "a few seconds left"
    if seconds < 55:
        return f"about {round(seconds / 10) * 10} seconds left"
    minutes = round(seconds / 60)
    return "about a minute left" if minutes <= 1 else f"about {minutes} minutes left"
