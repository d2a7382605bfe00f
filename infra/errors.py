"""Errors of the bus and of request/reply, below the one root :class:`BotwerkError`.

Three families, as in nameko and FastStream: handler control flow (what to do with the
message), misuse (a bug in the caller), and remote or broker failures (what the caller sees).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from botwerk.schemas import BotwerkError

if TYPE_CHECKING:
    from botwerk.schemas.messages import Learning


# Handler control flow: raise from a message handler to say what becomes of the message.
class HandlerControl(BotwerkError):
    """Raised by a handler to settle its message other than by a plain ack."""


class DeadLetter(HandlerControl):
    """Send the message to ``{ns}.dead`` with ``reason`` in a header, then ack it.

    ``code`` names the reason in the metrics (``botwerk_dead_letters_total{reason}``): a short,
    fixed word, never the reason's text. ``expired`` counts the message as expired, not dead.
    """

    def __init__(self, reason: str, code: str = "other") -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


class Requeue(HandlerControl):
    """Put the message back on its queue for another delivery (counts toward the limit)."""


# Misuse.
class NotConnected(BotwerkError):
    """The bus was used before ``start()`` or after ``close()``."""


# Broker and remote failures.
class BusError(BotwerkError):
    """The broker could not do what was asked."""


class BrokerUnreachable(BusError):
    """No connection to the broker could be made; the message says how to start one."""


class PublishFailed(BusError):
    """The broker did not confirm a publish: nacked, unroutable, or not in time."""


class PublishRefused(PublishFailed):
    """The broker refused this one message (a property or an exchange it will not take).

    Raised by ``publish`` for that message alone; the other messages in flight are published
    again and confirmed as usual. Retrying it would only be refused again.
    """


class Unroutable(PublishFailed):
    """A mandatory publish matched no queue (for a model: no worker has ever served it)."""


class TooLarge(PublishFailed):
    """The body is over BOTWERK_MAX_MESSAGE_BYTES: refused before it is sent."""


class Rejected(PublishFailed):
    """The broker nacked the publish, usually because the queue is full (overflow)."""


class RemoteError(BotwerkError):
    """A request failed; ``code`` is its ErrorCode, ``target`` what was called (a model)."""

    def __init__(
        self,
        code: str,
        message: str,
        detail: str = "",
        target: str = "",
        learning: Learning | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.detail = detail
        self.target = target
        self.learning = learning
        """set when the model is not there yet because it is still learning its first version"""


class DeadlineExceeded(RemoteError):
    """No reply came before the request's deadline."""

    def __init__(self, message: str, target: str = "") -> None:
        super().__init__("timeout", message, target=target)
