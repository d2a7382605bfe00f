"""The message types that cross process boundaries.

Each type is a frozen msgspec Struct whose ``TYPE`` is the AMQP ``type`` property it travels
under: schema name plus major version. A minor, compatible change adds a field with a default;
an incompatible one is a new type (``botwerk.inbound.v2``) that consumers learn before
producers send it. Unknown fields are ignored on decode, so older readers accept newer writers;
closed value sets (``ErrorCode``, ``ComponentEvent.state``) are checked, so a new value is an
incompatible change.

Cores see only these neutral types: no platform SDK object ever rides in an envelope. What a
platform needs to route a reply (Slack's ``thread_ts``, an IRC target) lives in the plain
``conversation``/``thread``/``meta`` strings.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import msgspec

MAX_DEADLINE_MS = 3_600_000
"""The furthest ahead an ``x-botwerk-deadline`` may lie: one hour. Nobody waits longer for a
chat answer; a deadline further out is a wrong clock or not epoch milliseconds, and is
refused (dead-lettered unstarted, ``docs/protocol.md`` section 3), never clamped."""


class Envelope(msgspec.Struct, frozen=True, kw_only=True):
    """Base of every wire type. ``TYPE`` is the AMQP ``type`` property."""

    TYPE: ClassVar[str]


class User(msgspec.Struct, frozen=True, kw_only=True):
    """Who wrote a message, as the platform names them."""

    id: str
    name: str = ""


class Inbound(Envelope, frozen=True, kw_only=True):
    """A chat message from a platform, published by a transport to ``{ns}.inbound``."""

    TYPE: ClassVar[str] = "botwerk.inbound.v1"

    bot: str
    transport: str
    conversation: str
    user: User
    text: str
    thread: str | None = None
    direct: bool = True
    sent_at: float = 0.0
    meta: dict[str, str] = {}


class Reply(Envelope, frozen=True, kw_only=True):
    """What a bot says back: published by a core to the transport's reply queue.

    ``error`` is set (to an :class:`ErrorCode` value) when ``text`` explains a failure
    rather than answers; transports may render it differently, never drop it.
    """

    TYPE: ClassVar[str] = "botwerk.reply.v1"

    bot: str
    conversation: str
    text: str
    thread: str | None = None
    error: str | None = None
    meta: dict[str, str] = {}


class InferRequest(Envelope, frozen=True, kw_only=True):
    """A request for one model, published by a core to ``{ns}.infer`` with key ``model``.

    ``inputs`` is checked by the model itself against its own input type; a bad input gets an
    ``Error`` reply with code ``bad_request``.
    """

    TYPE: ClassVar[str] = "botwerk.infer.v1"

    model: str
    inputs: dict[str, Any]


class InferReply(Envelope, frozen=True, kw_only=True):
    """A model's answer to one :class:`InferRequest`."""

    TYPE: ClassVar[str] = "botwerk.infer_reply.v1"

    model: str
    version: str
    outputs: dict[str, Any]
    batch_size: int = 1
    compute_ms: float = 0.0


ErrorCode = Literal[
    "bad_request",  # the request itself is wrong; retrying will not help
    "no_worker",  # nothing serves it: no worker for the model, or no core for the bot
    "timeout",  # the deadline passed before an answer came
    "busy",  # a queue is full; retry later
    "model_error",  # the model raised on this input
    "internal",  # a bug in Botwerk: the detail is in the logs under the trace id
]


class Learning(msgspec.Struct, frozen=True, kw_only=True):
    """How far a model still learning its first version has come (added in a minor version)."""

    done: float
    """the share of the training before the first version, 0 to 1"""
    eta_s: float
    """seconds until the first version, as the trainer estimates them"""


class Error(Envelope, frozen=True, kw_only=True):
    """The answer to a request that failed. ``message`` is a sentence fit for a user."""

    TYPE: ClassVar[str] = "botwerk.error.v1"

    code: ErrorCode
    message: str
    detail: str = ""
    learning: Learning | None = None
    """Set with ``no_worker`` when the model is still learning its first version."""


class ModelPublished(Envelope, frozen=True, kw_only=True):
    """A trainer stored a new model version: ``{ns}.events``, key ``model.published.<name>``."""

    TYPE: ClassVar[str] = "botwerk.model_published.v1"

    name: str
    kind: str
    version: str
    uri: str
    created_at: float


class ModelPromoted(Envelope, frozen=True, kw_only=True):
    """What "latest" means for a model moved: ``{ns}.events``, key ``model.promoted.<name>``.

    Sent by ``botwerk models promote NAME@V`` and ``botwerk models rollback NAME``; ``version``
    is the version that is now latest, ``previous`` the one that was.
    """

    TYPE: ClassVar[str] = "botwerk.model_promoted.v1"

    name: str
    kind: str
    version: str
    previous: str = ""
    rollback: bool = False
    at: float


class ModelRejected(Envelope, frozen=True, kw_only=True):
    """A worker refused a version it could not load or warm up: key ``model.rejected.<name>``.

    The worker keeps serving ``serving``; ``reason`` says why in one line.
    """

    TYPE: ClassVar[str] = "botwerk.model_rejected.v1"

    name: str
    version: str
    serving: str
    instance: str
    reason: str
    at: float


class ComponentEvent(Envelope, frozen=True, kw_only=True):
    """A role came up (ready to serve) or went down: ``component.<state>.<role>.<name>``."""

    TYPE: ClassVar[str] = "botwerk.component.v1"

    role: str
    name: str
    instance: str
    state: Literal["up", "down"]
    pid: int
    host: str
    at: float
    model: str | None = None
    """a worker's ``<model>@<version>``, sent again after each live swap; None for others"""


ALL_TYPES: tuple[type[Envelope], ...] = (
    Inbound,
    Reply,
    InferRequest,
    InferReply,
    Error,
    ModelPublished,
    ModelPromoted,
    ModelRejected,
    ComponentEvent,
)
