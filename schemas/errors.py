"""The root of every Botwerk exception, and the one error a bad message body raises."""

from __future__ import annotations


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
