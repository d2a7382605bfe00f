"""The bots' memory: a small key-value store shared by every core of a bot, with time to live.

A bot reaches it through its context, scoped to the conversation or to the user::

    last = await ctx.conversation_memory.get("last_line")          # None: nothing (or expired)
    await ctx.conversation_memory.set("last_line", "Out.", ttl_s=1800)
    await ctx.user_memory.update("visits", lambda n: (n or 0) + 1)  # atomic, across cores

Underneath is a :class:`StateStore` opened from ``BOTWERK_STATE_URL`` (:func:`open_store`):

- ``redis://HOST:6379/DB`` (or ``rediss://``): the mesh. Every core on every host sees the same
  state, so competing cores and a restarted core keep each conversation (the Redis that Celery
  already uses for training results will do).
- ``sqlite:///botwerk-state.db`` (the default; ``sqlite:////abs/path`` for an absolute path):
  one host. A file in WAL mode, so several processes on the host share it and it survives
  restarts; each store talks to it from one thread of its own, so the event loop never blocks.
- ``memory://``: this process only, gone when it exits: tests and one-process use. Stores of
  one URL share one dict within the process (two cores in one process see each other).

Values are MessagePack (msgspec): None, bool, numbers, str, bytes, lists and dicts of them (a
tuple comes back as a list). A value that cannot be encoded is a :class:`StateError` naming
the key. Keys live under ``botwerk:{namespace}:state:`` so namespaces never see each other.

>>> import asyncio
>>> async def visit() -> object:
...     store = await open_store(Settings.load(namespace="doc", state_url="memory://doctest"))
...     return await store.update("visits", lambda n: (n or 0) + 1)
>>> asyncio.run(visit())
1

Limits: ``update``'s function may run more than once (Redis retries when another writer got
there first), so it must be a plain function of the old value, with no side effects. Expiry is
checked to the millisecond on Redis; on SQLite and in memory, expired keys read as absent at
once and are swept from storage now and then. SQLite across hosts (a network file system) is
not supported: use Redis.
"""

from __future__ import annotations

from typing import Any, Protocol
from urllib.parse import quote, urlsplit

from botwerk.infra.settings import ConfigError, Settings
from botwerk.infra.statestores import (
    MemoryStore,
    RedisStore,
    SqliteStore,
    StateError,
    Update,
)

__all__ = ["Memory", "MemoryStore", "StateError", "StateStore", "Update", "open_store"]


class StateStore(Protocol):
    """Async key-value store with optional time to live; what :func:`open_store` returns.

    ``ttl_s=None`` means the key never expires; a ``set`` or ``update`` without a TTL makes a
    key permanent again.
    """

    async def get(self, key: str) -> Any | None:
        """The value, or None when the key is absent or expired."""
        ...

    async def set(self, key: str, value: Any, ttl_s: float | None = None) -> None: ...

    async def add(self, key: str, value: Any, ttl_s: float | None = None) -> bool:
        """Set only if absent (or expired); whether this call set it. One caller wins a race."""
        ...

    async def delete(self, key: str) -> bool:
        """Whether there was a (live) value to delete."""
        ...

    async def update(self, key: str, fn: Update, ttl_s: float | None = None) -> Any:
        """``fn(old)`` stored atomically against every other writer; the new value."""
        ...

    async def close(self) -> None: ...


class Memory:
    """One bot's state in one scope (a conversation, a user): plain string keys.

    >>> memory = Memory.of_user(MemoryStore("doc"), "billybard", "slack", "U1")
    >>> memory.scope
    'billybard:user:slack:U1:'
    """

    def __init__(self, store: StateStore, scope: str) -> None:
        self.store, self.scope = store, scope

    @classmethod
    def of_conversation(
        cls, store: StateStore, bot: str, transport: str, conversation: str, thread: str | None
    ) -> Memory:
        """Per conversation: (transport, conversation, thread); no thread and ``""`` are one."""
        return cls(store, _scope(bot, "conversation", transport, conversation, thread or ""))

    @classmethod
    def of_user(cls, store: StateStore, bot: str, transport: str, user: str) -> Memory:
        """Per user of one transport (the same person on two platforms is two users)."""
        return cls(store, _scope(bot, "user", transport, user))

    async def get(self, key: str, default: Any = None) -> Any:
        value = await self.store.get(self.scope + key)
        return default if value is None else value

    async def set(self, key: str, value: Any, ttl_s: float | None = None) -> None:
        await self.store.set(self.scope + key, value, ttl_s)

    async def delete(self, key: str) -> bool:
        return await self.store.delete(self.scope + key)

    async def update(self, key: str, fn: Update, ttl_s: float | None = None) -> Any:
        return await self.store.update(self.scope + key, fn, ttl_s)


def _scope(bot: str, kind: str, *parts: str) -> str:
    """``bot:kind:part:...:``, each part quoted so a ``:`` inside one cannot forge another."""
    return ":".join([quote(bot, safe=""), kind, *(quote(p, safe="") for p in parts)]) + ":"


async def open_store(settings: Settings) -> StateStore:
    """The store ``settings.state_url`` names, ready to use; ConfigError naming the fix if not."""
    url = settings.state_url
    scheme = urlsplit(url).scheme
    if scheme == "memory":
        return MemoryStore(settings.namespace, space=url)
    if scheme == "sqlite":
        return await SqliteStore.open(url, settings.namespace)
    if scheme in ("redis", "rediss"):
        return await RedisStore.open(url, settings.namespace)
    raise ConfigError(
        f"BOTWERK_STATE_URL={url!r} is not a state store: use redis://HOST:6379/0 (shared by "
        "every host), sqlite:///botwerk-state.db (one host) or memory:// (this process only)"
    )
