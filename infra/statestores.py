"""The state store's backends: in memory, SQLite (one host) and Redis (the mesh).

Opened through :func:`botwerk.infra.state.open_store`, which picks one by URL; each follows
:class:`~botwerk.infra.state.StateStore`, and values are MessagePack (:func:`encode`). How the
shared ones keep ``update`` atomic:

- SQLite: ``BEGIN IMMEDIATE`` takes the file's write lock before reading, so no other process
  writes between the read and the write (others wait up to :data:`BUSY_S`).
- Redis: ``WATCH`` the key, read, ``MULTI``/``SET``/``EXEC``; a write by anyone else in between
  makes ``EXEC`` fail and the loop reads again (optimistic locking, as Redis documents).

Times to live: Redis keeps them itself (``PX``). SQLite keeps an expiry (wall-clock epoch
seconds, comparable across processes) beside each value; an expired row reads as absent and
a sweep deletes expired rows every :data:`SWEEP_EVERY` writes. ``memory://`` is a dict of
encoded values, one per URL in the process.
"""

from __future__ import annotations

import asyncio
import math
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar, cast

import msgspec
import redis.asyncio as aioredis
from redis.exceptions import RedisError, WatchError

from botwerk.infra.settings import ConfigError, redact_url
from botwerk.schemas import BotwerkError

SWEEP_EVERY = 1000  # writes between sweeps of expired keys (SQLite, memory)
_encoder = msgspec.msgpack.Encoder()

Update = Callable[[Any], Any]
"""``fn(old value or None) -> new value``: what :meth:`StateStore.update` applies."""


class StateError(BotwerkError):
    """A value the store cannot keep, or a store that cannot be used; the message says why."""


BUSY_S = 10.0  # how long a SQLite writer waits for another process's lock
CONNECT_S = 5.0  # how long opening a Redis store waits for an answer
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value BLOB NOT NULL, expires REAL)"
)
_LIVE = "(expires IS NULL OR expires > ?)"


def encode(key: str, value: Any) -> bytes:
    """``value`` as MessagePack; a StateError naming ``key`` if it is not plain data."""
    try:
        return _encoder.encode(value)
    except (TypeError, msgspec.EncodeError, OverflowError) as exc:
        raise StateError(
            f"state key {key!r}: cannot store a {type(value).__name__} ({exc}); store plain "
            "data: None, bool, numbers, str, bytes, lists and dicts of them"
        ) from None


def decode(raw: bytes | None) -> Any | None:
    return None if raw is None else msgspec.msgpack.decode(raw)


def check_ttl(ttl_s: float | None) -> float | None:
    """``ttl_s`` if it is a usable time to live (seconds, above 0, finite), else ValueError."""
    if ttl_s is not None and not (isinstance(ttl_s, int | float) and 0 < ttl_s < math.inf):
        raise ValueError(f"ttl_s must be seconds above 0 (or None: never expires), not {ttl_s!r}")
    return ttl_s


def prefix(namespace: str) -> str:
    """Where a namespace's state keys live: ``botwerk:{namespace}:state:``."""
    return f"botwerk:{namespace}:state:"


class MemoryStore:
    """The ``memory://`` store: a dict of encoded values and expiry times (monotonic)."""

    _spaces: ClassVar[dict[str, dict[str, tuple[bytes, float | None]]]] = {}

    def __init__(self, namespace: str, space: str | None = None) -> None:
        """One store per ``space`` name in the process; ``None``: a private one."""
        self.prefix = prefix(namespace)
        self._data = {} if space is None else MemoryStore._spaces.setdefault(space, {})
        self._writes = 0

    def _live(self, key: str) -> bytes | None:
        entry = self._data.get(key)
        if entry is None:
            return None
        if entry[1] is not None and entry[1] <= time.monotonic():
            del self._data[key]
            return None
        return entry[0]

    def _put(self, key: str, raw: bytes, ttl_s: float | None) -> None:
        expires = None if check_ttl(ttl_s) is None else time.monotonic() + ttl_s  # type: ignore[operator]
        self._data[key] = (raw, expires)
        self._writes += 1
        if self._writes % SWEEP_EVERY == 0:
            now = time.monotonic()
            for stale in [k for k, (_, e) in self._data.items() if e is not None and e <= now]:
                del self._data[stale]

    async def get(self, key: str) -> Any | None:
        return decode(self._live(self.prefix + key))

    async def set(self, key: str, value: Any, ttl_s: float | None = None) -> None:
        self._put(self.prefix + key, encode(key, value), ttl_s)

    async def add(self, key: str, value: Any, ttl_s: float | None = None) -> bool:
        raw = encode(key, value)  # no await between the check and the write: atomic
        if self._live(self.prefix + key) is not None:
            return False
        self._put(self.prefix + key, raw, ttl_s)
        return True

    async def delete(self, key: str) -> bool:
        found = self._live(self.prefix + key) is not None
        self._data.pop(self.prefix + key, None)
        return found

    async def update(self, key: str, fn: Update, ttl_s: float | None = None) -> Any:
        new = fn(decode(self._live(self.prefix + key)))
        self._put(self.prefix + key, encode(key, new), ttl_s)
        return new

    async def close(self) -> None:
        """Nothing to release: the dict lives as long as the process."""


class SqliteStore:
    """``sqlite:///PATH``: one file, WAL mode, used from one thread of this store's own."""

    def __init__(self, path: Path, namespace: str) -> None:
        self.path, self.prefix = path, prefix(namespace)
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="botwerk-state")
        self._db: sqlite3.Connection | None = None
        self._writes = 0

    @classmethod
    async def open(cls, url: str, namespace: str) -> SqliteStore:
        path = Path(url.removeprefix("sqlite:///"))
        if not url.startswith("sqlite:///") or not path.name:
            raise ConfigError(
                f"BOTWERK_STATE_URL={url!r}: a SQLite store is sqlite:///FILE (relative) or "
                "sqlite:////ABSOLUTE/FILE; fix it"
            )
        store = cls(path, namespace)
        try:
            await store._run(store._connect)
        except sqlite3.Error as exc:
            store._thread.shutdown(wait=False)
            raise ConfigError(
                f"BOTWERK_STATE_URL={url!r}: cannot open {path} ({exc}); point it at a file in "
                "a folder that exists and is writable"
            ) from None
        return store

    def _connect(self) -> None:
        db = sqlite3.connect(self.path, timeout=BUSY_S, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")  # WAL: durable at checkpoints, never corrupt
        db.execute(_SCHEMA)
        self._db = db

    async def _run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn, *args)

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise ConfigError(f"the state store {self.path} is closed")
        return self._db

    async def get(self, key: str) -> Any | None:
        return await self._run(self._get, self.prefix + key)

    def _get(self, key: str) -> Any | None:
        row = (
            self._conn()
            .execute(f"SELECT value FROM state WHERE key = ? AND {_LIVE}", (key, time.time()))
            .fetchone()
        )
        return decode(row[0]) if row else None

    async def set(self, key: str, value: Any, ttl_s: float | None = None) -> None:
        raw, expires = encode(key, value), _expiry(ttl_s)
        await self._run(self._write, self.prefix + key, raw, expires)

    def _write(self, key: str, raw: bytes, expires: float | None) -> None:
        db = self._conn()
        db.execute("INSERT OR REPLACE INTO state VALUES (?, ?, ?)", (key, raw, expires))
        self._writes += 1
        if self._writes % SWEEP_EVERY == 0:
            db.execute("DELETE FROM state WHERE expires <= ?", (time.time(),))

    async def add(self, key: str, value: Any, ttl_s: float | None = None) -> bool:
        raw, expires = encode(key, value), _expiry(ttl_s)
        return bool(await self._run(self._add, self.prefix + key, raw, expires))

    def _add(self, key: str, raw: bytes, expires: float | None) -> bool:
        # One statement is atomic: insert, or take the place of an expired row, or nothing.
        cursor = self._conn().execute(
            "INSERT INTO state VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET "
            "value = excluded.value, expires = excluded.expires WHERE state.expires <= ?",
            (key, raw, expires, time.time()),
        )
        return cursor.rowcount == 1

    async def delete(self, key: str) -> bool:
        return bool(await self._run(self._delete, self.prefix + key))

    def _delete(self, key: str) -> bool:
        db = self._conn()
        db.execute("BEGIN IMMEDIATE")  # the read and the delete as one transaction
        try:
            found = self._get(key) is not None
            db.execute("DELETE FROM state WHERE key = ?", (key,))
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return found

    async def update(self, key: str, fn: Update, ttl_s: float | None = None) -> Any:
        check_ttl(ttl_s)
        return await self._run(self._update, key, fn, ttl_s)

    def _update(self, key: str, fn: Update, ttl_s: float | None) -> Any:
        db = self._conn()
        db.execute("BEGIN IMMEDIATE")  # the write lock first: nobody writes between
        try:
            new = fn(self._get(self.prefix + key))
            self._write(self.prefix + key, encode(key, new), _expiry(ttl_s))
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return new

    async def close(self) -> None:
        if self._db is not None:
            await self._run(self._db.close)
            self._db = None
        self._thread.shutdown(wait=False)


def _expiry(ttl_s: float | None) -> float | None:
    """The wall-clock second a key set now with ``ttl_s`` expires (None: never)."""
    return None if check_ttl(ttl_s) is None else time.time() + ttl_s  # type: ignore[operator]


class RedisStore:
    """``redis://`` / ``rediss://``: keys with ``PX`` times to live, ``WATCH`` for updates."""

    def __init__(self, client: aioredis.Redis, namespace: str) -> None:
        self.client, self.prefix = client, prefix(namespace)

    @classmethod
    async def open(cls, url: str, namespace: str) -> RedisStore:
        client = aioredis.Redis.from_url(url, socket_connect_timeout=CONNECT_S)
        try:
            await asyncio.wait_for(client.ping(), CONNECT_S)
        except (RedisError, OSError, TimeoutError) as exc:
            await client.aclose()
            raise ConfigError(
                f"BOTWERK_STATE_URL={redact_url(url)}: no Redis answers "
                f"({exc or type(exc).__name__}); start Redis there, or point BOTWERK_STATE_URL "
                "at one (sqlite:///botwerk-state.db for one host)"
            ) from None
        return cls(client, namespace)

    async def get(self, key: str) -> Any | None:
        raw = await self.client.get(self.prefix + key)
        return decode(cast(bytes | None, raw))  # bytes: the client does not decode responses

    async def set(self, key: str, value: Any, ttl_s: float | None = None) -> None:
        await self.client.set(self.prefix + key, encode(key, value), px=_px(ttl_s))

    async def add(self, key: str, value: Any, ttl_s: float | None = None) -> bool:
        raw = encode(key, value)
        return bool(await self.client.set(self.prefix + key, raw, px=_px(ttl_s), nx=True))

    async def delete(self, key: str) -> bool:
        return bool(await self.client.delete(self.prefix + key))

    async def update(self, key: str, fn: Update, ttl_s: float | None = None) -> Any:
        name, px = self.prefix + key, _px(ttl_s)
        async with self.client.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(name)
                    new = fn(decode(cast(bytes | None, await pipe.get(name))))
                    pipe.multi()  # type: ignore[no-untyped-call]
                    pipe.set(name, encode(key, new), px=px)
                    await pipe.execute()
                    return new
                except WatchError:
                    continue  # another writer came first: read its value and apply fn again

    async def close(self) -> None:
        await self.client.aclose()


def _px(ttl_s: float | None) -> int | None:
    """A time to live in whole milliseconds, at least 1 (None: never expires)."""
    return None if check_ttl(ttl_s) is None else max(1, round(ttl_s * 1000))  # type: ignore[operator]
