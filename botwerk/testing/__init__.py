"""Testing kit for code built on Botwerk; the fixtures live in :mod:`.plugin`."""

from .canned import CannedModel
from .chat import ChatClient
from .serving import serving

__all__ = ["CannedModel", "ChatClient", "serving"]
