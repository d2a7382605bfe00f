"""The bots' state store: one contract, three backends (memory, SQLite, a real Redis)."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import redis

from botwerk.infra import statestores
from botwerk.infra.settings import ConfigError, Settings
from botwerk.infra.state import Memory, MemoryStore, StateError, StateStore, open_store

REDIS = "redis://127.0.0.1:6379/0"
Opener = Callable[..., Any]


def _redis_or_skip() -> None:
    try:
        redis.Redis.from_url(REDIS, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        pytest.skip(f"no Redis at {REDIS} ({exc}); start one with `redis-server --daemonize yes`")


@pytest_asyncio.fixture(params=["memory", "sqlite", "redis"])
async def opener(
    request: pytest.FixtureRequest, settings: Settings, tmp_path: Path
) -> AsyncIterator[Opener]:
    """Opens stores of one backend in the test's namespace; closes them and removes the keys."""
    if request.param == "redis":
        _redis_or_skip()
    url = {
        "memory": f"memory://{uuid.uuid4().hex}",
        "sqlite": f"sqlite:///{tmp_path / 'state.db'}",
        "redis": REDIS,
    }[request.param]
    opened: list[StateStore] = []

    async def open_one(namespace: str = settings.namespace) -> StateStore:
        store = await open_store(
            settings.model_copy(update={"state_url": url, "namespace": namespace})
        )
        opened.append(store)
        return store

    yield open_one
    for store in opened:
        await store.close()
    if request.param == "redis":  # this test's keys only: its namespace is its own
        client = redis.Redis.from_url(REDIS)
        for key in client.scan_iter(match=f"botwerk:{settings.namespace}*"):
            client.delete(key)


async def test_set_get_delete_keep_plain_data_as_it_was(opener):
    store = await opener()
    value = {"line": "Out.", "n": 3, "x": 0.5, "raw": b"\x00\xff", "list": [1, "two", None]}
    await store.set("k", value)
    assert await store.get("k") == value
    assert await store.get("missing") is None
    assert await store.delete("k") is True
    assert await store.delete("k") is False
    assert await store.get("k") is None


async def test_a_value_that_is_not_plain_data_is_refused_naming_the_key(opener):
    store = await opener()
    with pytest.raises(StateError, match=r"state key 'bad': cannot store a object"):
        await store.set("bad", object())
    with pytest.raises(StateError, match="state key 'bad'"):
        await store.update("bad", lambda old: object())
    with pytest.raises(ValueError, match="ttl_s must be seconds above 0"):
        await store.set("k", 1, ttl_s=0)


async def test_a_key_expires_after_its_time_to_live_and_a_set_without_one_keeps_it(opener):
    store = await opener()
    await store.set("short", "soon gone", ttl_s=0.3)
    await store.set("kept", "here", ttl_s=0.3)
    await store.set("kept", "here")  # no TTL: permanent again
    assert await store.get("short") == "soon gone"
    await asyncio.sleep(0.4)
    assert await store.get("short") is None
    assert await store.get("kept") == "here"
    assert await store.delete("short") is False  # an expired key is absent for delete too


async def test_add_sets_only_an_absent_key_and_one_of_many_racing_wins(opener):
    """What the scheduler relies on to post once per tick with two schedulers running."""
    one, two = await opener(), await opener()
    assert await one.add("tick", "first", ttl_s=0.3) is True
    assert await two.add("tick", "second") is False
    assert await one.get("tick") == "first"
    await asyncio.sleep(0.4)
    assert await two.add("tick", "after expiry") is True  # an expired claim can be taken again
    claims = [store.add("race", n) for n in range(10) for store in (one, two)]
    assert sum(await asyncio.gather(*claims)) == 1


async def test_update_is_atomic_across_two_stores_under_concurrency(opener):
    """50 concurrent increments through two store objects (two connections) give 50: no lost
    update (Redis: WATCH/MULTI retries; SQLite: BEGIN IMMEDIATE)."""
    one, two = await opener(), await opener()

    def add_one(n: int | None) -> int:
        return (n or 0) + 1

    await asyncio.gather(*(store.update("count", add_one) for store in [one, two] * 25))
    assert await one.get("count") == 50


async def test_update_with_a_failing_function_changes_nothing(opener):
    store = await opener()
    await store.set("k", 1)

    def broken(old: int) -> int:
        raise RuntimeError("no")

    with pytest.raises(RuntimeError):
        await store.update("k", broken)
    assert await store.update("k", lambda n: n + 1) == 2  # and the store still works


async def test_namespaces_and_scopes_never_see_each_other(opener, settings):
    mine, theirs = await opener(), await opener(settings.namespace + "-other")
    await mine.set("k", "mine")
    assert await theirs.get("k") is None
    chat = Memory.of_conversation(mine, "moviebot", "slack", "C1", None)
    forged = Memory.of_conversation(mine, "moviebot", "slack", "C1:", "")  # ":" is quoted
    user = Memory.of_user(mine, "moviebot", "slack", "C1")
    other_bot = Memory.of_conversation(mine, "jester", "slack", "C1", None)
    await chat.set("line", "hi")
    assert await Memory.of_conversation(mine, "moviebot", "slack", "C1", "").get("line") == "hi"
    for memory in (forged, user, other_bot):
        assert await memory.get("line") is None
    assert await user.get("line", "default") == "default"


async def test_sqlite_sweeps_expired_rows_from_the_file(tmp_path, settings, monkeypatch):
    monkeypatch.setattr(statestores, "SWEEP_EVERY", 4)
    path = tmp_path / "state.db"
    store = await open_store(settings.model_copy(update={"state_url": f"sqlite:///{path}"}))
    await store.set("a", 1, ttl_s=0.1)
    await store.set("b", 1, ttl_s=0.1)
    await asyncio.sleep(0.2)
    await store.set("c", 1)
    await store.set("d", 1)  # the 4th write sweeps
    await store.close()
    keys = [row[0] for row in sqlite3.connect(path).execute("SELECT key FROM state")]
    assert sorted(k.rsplit(":", 1)[1] for k in keys) == ["c", "d"]


def test_processes_on_one_host_share_a_sqlite_file(tmp_path, settings):
    """sqlite:/// is for several processes on one host: their updates do not overwrite."""
    url = f"sqlite:///{tmp_path / 'state.db'}"
    script = (
        "import asyncio\n"
        "from botwerk.infra.settings import Settings\n"
        "from botwerk.infra.state import open_store\n"
        "async def main():\n"
        f"    store = await open_store(Settings.load(namespace='p', state_url={url!r}))\n"
        "    for _ in range(25):\n"
        "        await store.update('n', lambda n: (n or 0) + 1)\n"
        "    await store.close()\n"
        "asyncio.run(main())\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", script]) for _ in range(2)]
    assert [proc.wait(timeout=60) for proc in procs] == [0, 0]
    rows = sqlite3.connect(tmp_path / "state.db").execute("SELECT value FROM state").fetchall()
    assert rows == [(b"\x32",)]  # MessagePack for 50


def test_memory_stores_of_one_url_share_a_process_and_others_do_not():
    shared, again, private = (
        MemoryStore("ns", "memory://a"),
        MemoryStore("ns", "memory://a"),
        (MemoryStore("ns")),
    )
    asyncio.run(shared.set("k", 1))
    assert asyncio.run(again.get("k")) == 1 and asyncio.run(private.get("k")) is None


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("mongodb://x", r"BOTWERK_STATE_URL='mongodb://x' is not a state store: use redis://"),
        ("redis://u:secret@127.0.0.1:1/0", r"BOTWERK_STATE_URL=redis://u:\*\*\*@127.0.0.1:1/0: "
                                           r"no Redis answers .*; start Redis there"),
        ("sqlite:///no/such/folder/state.db", r"cannot open no/such/folder/state.db .*writable"),
        ("sqlite://", r"a SQLite store is sqlite:///FILE"),
    ],
)  # fmt: skip
async def test_a_store_that_cannot_be_opened_is_one_line_naming_the_setting(url, error):
    with pytest.raises(ConfigError, match=error) as raised:
        await open_store(Settings.load(namespace="unit", state_url=url))
    assert "secret" not in str(raised.value) and "\n" not in str(raised.value)
