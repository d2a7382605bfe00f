"""Test support for Botwerk and for packages built on it; the fixtures live in :mod:`.plugin`."""

from .chat import ChatClient
from .processes import Processes

__all__ = ["ChatClient", "Processes"]
