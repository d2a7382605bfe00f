"""The echo model kind: answers each text with itself (see ``serve.py``)."""

from botwerk.workers.echo.serve import EchoFailure, EchoInput, EchoModel

__all__ = ["EchoFailure", "EchoInput", "EchoModel"]
