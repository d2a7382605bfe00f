"""The ``botwerk`` command line: the top layer, where roles, bots and models meet."""

from .app import main

__all__ = ["main"]
