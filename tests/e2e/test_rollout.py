"""A live rollout under steady load: a charrnn worker and the billybard core as OS processes.

While about 50 requests a second flow (40 straight to the worker, as a core sends them, so each
answer's version is seen; 10 through billybard, as users send them), ``bard@2`` is published
and announced as ``botwerk train`` does, then a broken ``bard@3``. Nothing fails, nothing is
"took too long", every answer before the switch comes from bard@1 and after it from bard@2,
and none from bard@3, which the worker refuses with ``model.rejected.bard``.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from botwerk.cores.runtime import MODELS_META
from botwerk.infra import topology
from botwerk.infra.bus import now_ms
from botwerk.infra.rpc import Replies, Rpc
from botwerk.infra.settings import Settings
from botwerk.schemas import decode
from botwerk.schemas.messages import ModelRejected
from botwerk.schemas.models.charrnn import CharRNNInput
from botwerk.testing import ChatClient, admin
from botwerk.workers.rollout import announce_published_now
from botwerk.workers.store import ModelStore
from tests.support.waiting import collect, eventually

# The call takes about 30 s; the time limit also covers building the shared tiny model store
# when this test is the first to ask for it (two minutes on a busy two-core machine).
pytestmark = [pytest.mark.broker, pytest.mark.slow, pytest.mark.timeout(300)]

DIRECT_PER_S, BOT_PER_S = 40, 10
PUBLISH_AT, BROKEN_AT, SECONDS = 6.0, 12.0, 20.0


def bard_store(model_store: str, folder: Path) -> ModelStore:
    """A store of our own holding bard@1, a copy of the tiny charrnn (the shared one stays)."""
    shared = ModelStore(model_store).open("charrnn@1")
    store = ModelStore(f"file://{folder}")
    store.publish("bard", "charrnn", shared.path)
    return store


def publish(settings: Settings, store: ModelStore, source: Path) -> str:
    """What ``botwerk train`` does once trained: store the next version, then announce it."""
    manifest = store.publish("bard", "charrnn", source)
    assert announce_published_now(settings, manifest)
    return manifest.version


def broken(folder: Path, good: Path) -> Path:
    """A version whose weights are not safetensors: it stores fine, and cannot load."""
    folder.mkdir()
    for path in good.iterdir():
        if path.is_file() and path.name != "manifest.json":
            data = b"not weights" if path.suffix == ".safetensors" else path.read_bytes()
            (folder / path.name).write_bytes(data)
    return folder


async def test_a_rollout_under_steady_load_fails_nothing(
    processes, amqp_url, settings, rabbit_bus, model_store, tmp_path
):
    store = bard_store(model_store, tmp_path / "models")
    names = topology.Names(settings.namespace)
    rejected = await _listen(rabbit_bus, names, "model.rejected.bard")
    processes.env.update(BOTWERK_MODELS=store.url, BOTWERK_INSTANCE="w1")
    worker = processes.start("worker", "charrnn", "--model", "bard")
    del processes.env["BOTWERK_INSTANCE"]
    processes.start("core", "billybard")
    for queue in (names.infer_queue("charrnn"), names.core_queue("billybard"),
                  f"{names.events}.worker.charrnn-w1"):  # fmt: skip
        admin.wait_for_consumers(amqp_url, queue, timeout=60)
    ours = settings.model_copy(update={"models": store.url})
    v1 = store.open("bard@1").path

    replies = Replies(rabbit_bus, names, names.reply_queue("core", "e2e"))
    await replies.start()
    rpc = Rpc(rabbit_bus, names, replies)
    versions: list[str] = []  # in the order the answers came
    said_by: list[str] = []  # the model@version each billybard reply names, in order
    failures: list[str] = []
    async with ChatClient(rabbit_bus, settings, bot="billybard") as chat:
        started = time.monotonic()
        tasks: list[asyncio.Task[Any]] = []
        bad = tmp_path / "bad"
        steps = [(PUBLISH_AT, lambda: publish(ours, store, v1)),
                 (BROKEN_AT, lambda: publish(ours, store, broken(bad, v1)))]  # fmt: skip
        for tick in range(int(SECONDS * DIRECT_PER_S)):
            at = started + tick / DIRECT_PER_S
            await asyncio.sleep(max(0.0, at - time.monotonic()))
            tasks.append(asyncio.create_task(_direct(rpc, tick, versions, failures)))
            if tick % (DIRECT_PER_S // BOT_PER_S) == 0:
                tasks.append(asyncio.create_task(_bot(chat, tick, said_by, failures)))
            if steps and time.monotonic() - started >= steps[0][0]:
                tasks.append(asyncio.create_task(asyncio.to_thread(steps.pop(0)[1])))
        await asyncio.gather(*tasks)

    logs = processes.log_of(worker)
    assert not failures, f"{len(failures)} failed: {failures[:5]}\n{logs[-3000:]}"
    switch = versions.index("bard@2")
    assert switch > 0 and set(versions[:switch]) == {"bard@1"}, versions
    assert set(versions[switch:]) == {"bard@2"} and len(versions) - switch > 100
    turn = said_by.index("bard@2")  # what users saw: the reply's meta names its model version
    assert turn > 0 and set(said_by[:turn]) == {"bard@1"} and set(said_by[turn:]) == {"bard@2"}
    await eventually(lambda: len(rejected) == 1, what="model.rejected.bard")
    event = decode(rejected[0].message.body, rejected[0].message.type)
    assert isinstance(event, ModelRejected) and (event.version, event.serving) == ("3", "bard@2")
    assert "refused bard@3" in logs and "now serving bard@2 (was bard@1)" in logs


async def _direct(rpc: Rpc, n: int, versions: list[str], failures: list[str]) -> None:
    asked = CharRNNInput(prime="The ", length=20, seed=n)
    try:
        reply = await rpc.infer("charrnn", asked.to_inputs(), deadline_ms=now_ms() + 5000)
    except Exception as exc:
        failures.append(f"direct {n}: {type(exc).__name__}: {exc}")
        return
    versions.append(reply.version)


async def _bot(chat: ChatClient, n: int, said_by: list[str], failures: list[str]) -> None:
    reply = await chat.ask(f"length=20 The police {n}")
    if reply.error is not None or not reply.text:
        failures.append(f"billybard {n}: {reply.error}: {reply.text}")
        return
    said_by.append(reply.meta.get(MODELS_META, ""))


async def _listen(bus: Any, names: topology.Names, key: str) -> list[Any]:
    queue = names.reply_queue("events", "e2e")
    binding = topology.Binding(queue, names.events, key)
    await bus.declare([*topology.base(names), topology.reply_queue(queue), binding])
    return await collect(bus, queue)
