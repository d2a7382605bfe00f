"""Live rollout in one worker, on both buses: switch between batches, refuse, stay pinned."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
import weakref
from typing import Any

import pytest

from botwerk.infra import topology
from botwerk.infra.bus import now_ms
from botwerk.infra.rpc import Replies, Rpc
from botwerk.schemas import decode
from botwerk.schemas.messages import ModelPublished, ModelRejected
from botwerk.workers.echo.serve import EchoInput, EchoModel
from botwerk.workers.rollout import (
    Followable,
    announce_promoted,
    announce_published,
    announce_published_now,
)
from botwerk.workers.runtime import Worker
from botwerk.workers.store import Manifest, ModelStore, parse_spec
from tests.support.waiting import collect, eventually

pytestmark = pytest.mark.broker

LIVE: weakref.WeakSet[Versioned] = weakref.WeakSet()  # every loaded version still in memory
PEAK = [0]
LATEST = ["1"]  # what the store says "latest" is, for the catch-up after subscribing
SLOW_STORE: list[threading.Event | None] = [None]  # when set, reading latest waits for it


class Versioned(EchoModel):
    """Echo as a stored model would be: ``echo`` follows, ``echo@2`` is pinned.

    Version ``bad`` does not load, ``cold`` fails its warm-up; each output says who made it.
    """

    def __init__(self, settings: Any, name: str = "echo", model: str | None = None) -> None:
        super().__init__(settings, name)
        self.settings, self.spec, self.version = settings, model or name, "unloaded"

    @property
    def follows(self) -> str | None:
        name, version = parse_spec(self.spec)
        return None if version else name

    def at(self, version: str) -> Versioned:
        return Versioned(self.settings, self.name, f"echo@{version}")

    def latest(self) -> str:
        read = LATEST[0]
        if (gate := SLOW_STORE[0]) is not None:  # the answer is on its way back, slowly
            gate.wait(10)
        return read

    def load(self) -> None:
        version = parse_spec(self.spec)[1] or "1"
        if version == "bad":
            raise OSError("model.safetensors: truncated")
        self.version = f"echo@{version}"
        LIVE.add(self)
        PEAK[0] = max(PEAK[0], len(LIVE))

    def predict(self, batch: list[EchoInput]) -> list[dict[str, Any]]:
        if self.version == "echo@cold" and any(i.text == "warm-up" for i in batch):
            raise RuntimeError("CUDA out of memory")
        time.sleep(0.005)
        return [{"text": item.text, "by": self.version} for item in batch]


def manifest(version: str) -> Manifest:
    return Manifest(name="echo", kind="echo", version=version, files={})


@pytest.fixture
async def rollout(bus, settings):
    """A worker of ``spec``, an RPC client, and the ``model.rejected`` events it sends."""
    names = topology.Names(settings.namespace)
    await bus.declare(topology.base(names))
    rejected_queue = names.reply_queue("events", "t")
    await bus.declare(
        [
            topology.reply_queue(rejected_queue),
            topology.Binding(rejected_queue, names.events, "model.rejected.*"),
        ]
    )
    rejected = await collect(bus, rejected_queue)
    replies = Replies(bus, names, names.reply_queue("core", settings.instance))
    await replies.start()
    workers: list[Worker] = []

    async def start(spec: str | None = None) -> Worker:
        worker = Worker(bus, settings, Versioned(settings, "echo", spec))
        await worker.start()
        workers.append(worker)
        return worker

    yield start, Rpc(bus, names, replies), names, rejected
    for worker in workers:
        await worker.stop()


async def call(rpc: Rpc, text: str) -> Any:
    return await rpc.infer("echo", {"text": text}, deadline_ms=now_ms() + 5000)


async def answered_by(rpc: Rpc, version: str, timeout: float = 10.0) -> None:
    give_up = time.monotonic() + timeout
    while (await call(rpc, "which")).version != version:
        assert time.monotonic() < give_up, f"still not answered by {version}"
        await asyncio.sleep(0.02)


async def steady(rpc: Rpc, answers: list[Any], stop: asyncio.Event) -> None:
    """Eight callers asking back to back until ``stop``; each answer appended as it comes."""

    async def caller(n: int) -> None:
        i = 0
        while not stop.is_set():
            answers.append(await call(rpc, f"{n}-{i}"))
            i += 1

    await asyncio.gather(*(caller(n) for n in range(8)))


async def test_a_published_version_takes_over_between_batches_with_no_failure(rollout, bus):
    start, rpc, names, rejected = rollout
    worker = await start()
    LIVE.clear()  # count this worker's versions only
    LIVE.add(worker.model)
    PEAK[0] = 1
    answers: list[Any] = []
    stop = asyncio.Event()
    load = asyncio.create_task(steady(rpc, answers, stop))
    await eventually(lambda: len(answers) > 50)
    await announce_published(bus, names, manifest("2"))
    await eventually(lambda: answers[-1].version == "echo@2", what="switched to echo@2")
    await eventually(lambda: sum(a.version == "echo@2" for a in answers) > 50)
    stop.set()
    await load  # raises if any call failed
    versions = [a.version for a in answers]
    assert all(a.version == a.outputs["by"] for a in answers), "a reply names another version"
    switch = versions.index("echo@2")
    assert set(versions[:switch]) == {"echo@1"} and set(versions[switch:]) == {"echo@2"}
    assert worker.model.version == "echo@2" and not rejected
    gc.collect()
    assert PEAK[0] <= 2 and [m.version for m in LIVE] == ["echo@2"]  # the old one is gone


@pytest.mark.parametrize(
    ("version", "why"),
    [("bad", "OSError: model.safetensors: truncated"), ("cold", "RuntimeError: CUDA out of")],
)
async def test_a_version_that_fails_to_load_or_warm_up_is_refused(rollout, bus, version, why):
    start, rpc, names, rejected = rollout
    worker = await start()
    await announce_published(bus, names, manifest(version))
    await eventually(lambda: len(rejected) == 1, what="model.rejected sent")
    event = decode(rejected[0].message.body, rejected[0].message.type)
    assert isinstance(event, ModelRejected) and rejected[0].routing_key == "model.rejected.echo"
    assert (event.name, event.version, event.serving) == ("echo", version, "echo@1")
    assert event.reason.startswith(why) and event.instance == worker.settings.instance
    assert (await call(rpc, "still")).version == "echo@1"
    assert worker.model.version == "echo@1"


async def test_promote_and_rollback_events_move_the_worker(rollout, bus):
    start, rpc, names, _ = rollout
    await start()
    await announce_published(bus, names, manifest("2"))
    await answered_by(rpc, "echo@2")
    await announce_promoted(bus, names, manifest("1"), "2", rollback=True)
    await answered_by(rpc, "echo@1")


async def test_a_pinned_worker_stays(rollout, bus):
    start, rpc, names, _ = rollout
    worker = await start("echo@1")
    assert not isinstance(worker.model, Followable) or worker.model.follows is None
    await announce_published(bus, names, manifest("2"))
    await asyncio.sleep(0.3)
    assert (await call(rpc, "x")).version == "echo@1"


async def test_a_version_published_while_the_worker_started_is_caught_up(rollout, bus, monkeypatch):
    # echo@2 was published after this worker loaded echo@1 and before it subscribed: no event
    # will come for it, so the worker asks the store once it listens.
    LATEST[0] = "2"
    try:
        start, rpc, _, rejected = rollout
        await start()
        await answered_by(rpc, "echo@2")
        assert not rejected
    finally:
        LATEST[0] = "1"


async def test_a_catch_up_read_older_than_an_event_does_not_undo_it(rollout, bus):
    # The store said echo@1 just before echo@2 was published and announced: the event is newer
    # news than that read, and the worker must stay on echo@2.
    gate = threading.Event()
    SLOW_STORE[0] = gate
    try:
        start, rpc, names, _ = rollout
        await start()
        await announce_published(bus, names, manifest("2"))
        await answered_by(rpc, "echo@2")
        gate.set()
        await asyncio.sleep(0.3)
        assert {(await call(rpc, f"after {i}")).version for i in range(20)} == {"echo@2"}
    finally:
        SLOW_STORE[0] = None
        gate.set()


def test_announcing_without_a_broker_skips(settings, caplog):
    caplog.set_level("DEBUG", "botwerk.rollout")
    assert not announce_published_now(settings.model_copy(update={"amqp_url": None}), manifest("2"))
    assert "not announced" in caplog.text


def test_promote_and_rollback_move_latest_and_say_so(run, tmp_path):
    store = ModelStore(f"file://{tmp_path / 'models'}")
    files = tmp_path / "files"
    files.mkdir()
    (files / "weights.bin").write_bytes(b"w")
    store.publish("bard", "echo", files)
    store.publish("bard", "echo", files)
    promoted = run("models", "promote", "bard@1")
    assert promoted.exit_code == 0 and "bard is now bard@1 (was bard@2)" in promoted.output
    assert store.latest("bard").version == "1" and "announced" not in promoted.output
    rolled = run("models", "rollback", "bard")
    assert rolled.exit_code == 0 and "bard is now bard@2 (was bard@1)" in rolled.output
    unpinned = run("models", "promote", "bard")
    assert unpinned.exit_code == 1 and "Traceback" not in unpinned.output


async def test_announcing_from_sync_code_reaches_the_events_exchange(rabbit_bus, settings):
    names = topology.Names(settings.namespace)
    queue = names.reply_queue("events", "sync")
    await rabbit_bus.declare([
        *topology.base(names), topology.reply_queue(queue),
        topology.Binding(queue, names.events, "model.published.echo"),
    ])  # fmt: skip
    got = await collect(rabbit_bus, queue)
    assert await asyncio.to_thread(announce_published_now, settings, manifest("7"))
    await eventually(lambda: len(got) == 1)
    event = decode(got[0].message.body, got[0].message.type)
    assert isinstance(event, ModelPublished) and (event.name, event.version) == ("echo", "7")
    assert event.uri == f"{settings.models}/echo/7/"
