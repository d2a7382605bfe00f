"""`botwerk status` and the dashboard's names, against the real broker and its management API.

One mesh for the module: a worker of a model that follows new versions and a core of the demo
bot, in this process, each on its own named connection (as `botwerk worker` and `botwerk core`
make them). The management API's statistics lag by up to 5 s, so every check on them waits.
The worker is stopped in the last test.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio
from click.testing import CliRunner

from botwerk.cores.demo import DemoBot
from botwerk.cores.runtime import Core
from botwerk.infra import topology
from botwerk.infra.bus import Outgoing
from botwerk.infra.dead import management
from botwerk.infra.rabbit import RabbitBus
from botwerk.infra.settings import Settings
from botwerk.infra.status import Status, gather
from botwerk.infra.statuscommands import render, status
from botwerk.schemas import InferRequest
from botwerk.testing.plugin import SESSION_PREFIX
from botwerk.workers.echo.serve import EchoModel
from botwerk.workers.jobs.queues import base_app
from botwerk.workers.rollout import announce_published
from botwerk.workers.runtime import Worker
from botwerk.workers.store import Manifest

pytestmark = [pytest.mark.broker, pytest.mark.asyncio(loop_scope="module")]

HOST, PID = socket.gethostname(), os.getpid()


class Following(EchoModel):
    """Echo as a stored model: it follows ``echo`` and swaps to each version published."""

    def __init__(self, settings: Settings, version: str = "1") -> None:
        super().__init__(settings, "echo")
        self.settings, self.version = settings, version

    @property
    def follows(self) -> str:
        return "echo"

    def at(self, version: str) -> Following:
        return Following(self.settings, version)

    def latest(self) -> str:
        return "1"


@dataclass
class Mesh:
    settings: Settings
    names: topology.Names
    worker: Worker
    worker_bus: RabbitBus
    worker_up: bool = True

    async def stop_worker(self) -> None:
        if self.worker_up:
            self.worker_up = False
            await self.worker.stop()

    def snapshot(self) -> Status:
        return gather(self.settings, management(self.settings))

    async def until(self, check: Any, what: str, timeout: float = 30.0) -> Status:
        """The first snapshot for which ``check`` holds (the API's statistics lag)."""
        give_up = time.monotonic() + timeout
        while not check(found := await asyncio.to_thread(self.snapshot)):
            assert time.monotonic() < give_up, f"not after {timeout:g}s: {what}\n{render(found)}"
            await asyncio.sleep(0.5)
        return found


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def mesh(amqp_url: str) -> AsyncIterator[Mesh]:
    # Under the session's prefix: the session's sweep deletes what this left.
    settings = Settings.load(namespace=f"{SESSION_PREFIX}-status", amqp_url=amqp_url)
    names = topology.Names(settings.namespace)
    as_worker = settings.model_copy(update={"instance": "w1", "max_batch": 2})
    as_core = settings.model_copy(update={"instance": "c1"})
    worker_bus = RabbitBus(as_worker, role="worker", name="echo")
    core_bus = RabbitBus(as_core, role="core", name="demo")
    await worker_bus.start(timeout=10)
    await core_bus.start(timeout=10)
    await worker_bus.declare(topology.base(names))
    worker = Worker(worker_bus, as_worker, Following(as_worker))
    core = Core(core_bus, as_core, DemoBot(as_core))
    await worker.start()
    await core.start()
    yield (found := Mesh(settings, names, worker, worker_bus))
    await core.stop()
    await core_bus.close()
    await found.stop_worker()
    await worker_bus.close()


def serving(found: Status) -> dict[str, Any]:
    return {c.role: c for c in found.components}


async def test_status_shows_queues_consumers_dead_letters_and_components(mesh: Mesh):
    poison = Outgoing(b"\xc1", InferRequest.TYPE)  # 0xc1: never valid MessagePack
    await mesh.worker_bus.publish(mesh.names.infer, "echo", poison)

    def complete(found: Status) -> bool:
        up = serving(found)
        return (
            {"worker", "core"} <= up.keys()
            and up["worker"].model == "echo@1"
            and bool(up["worker"].consumes and up["core"].consumes)  # the API lists them late
            and bool(found.dead_letters)
        )

    found = await mesh.until(
        complete, "both components with their queues, the model's version, a dead letter"
    )
    queues = {q.name: q for q in found.queues}
    infer, core_queue = mesh.names.infer_queue("echo"), mesh.names.core_queue("demo")
    assert (queues[infer].consumers, queues[infer].serves) == (1, "model echo")
    assert (queues[core_queue].consumers, queues[core_queue].serves) == (1, "bot demo")
    worker, core = serving(found)["worker"], serving(found)["core"]
    assert (worker.name, worker.instance, worker.host, worker.pid) == ("echo", "w1", HOST, PID)
    assert (core.name, core.instance, core.model) == ("demo", "c1", None)
    assert infer in worker.consumes and core_queue in core.consumes
    assert 0 < time.time() - worker.since < 120
    assert list(found.dead_letters) == ["schema error"], found.dead_letters
    assert found.ok and found.unserved == []
    screen = render(found)
    assert "echo@1" in screen and infer in screen and "NO CONSUMER" not in screen


async def test_connections_and_consumers_are_named_for_the_dashboard(mesh: Mesh):
    api = management(mesh.settings)
    trainer = base_app(mesh.settings, role="trainer").connection_for_write()  # Celery's, by kombu
    await asyncio.to_thread(trainer.ensure_connection, max_retries=1)

    def ours() -> list[dict[str, Any]]:
        return [
            c["client_properties"]
            for c in api.get("connections") or []
            if c["client_properties"].get("botwerk", {}).get("namespace") == mesh.names.ns
        ]

    give_up = time.monotonic() + 15
    while len(found := await asyncio.to_thread(ours)) < 3:
        assert time.monotonic() < give_up, found
        await asyncio.sleep(0.5)
    trainer.release()
    assert {p["connection_name"] for p in found} >= {
        f"botwerk worker echo @{HOST} pid {PID}",
        f"botwerk core demo @{HOST} pid {PID}",
        f"botwerk trainer training @{HOST} pid {PID}",
    }
    worker = next(p["botwerk"] for p in found if p["botwerk"]["role"] == "worker")
    assert worker == {"role": "worker", "name": "echo", "instance": "w1", "host": HOST,
                      "pid": PID, "namespace": mesh.names.ns}  # fmt: skip

    def tags() -> set[str]:  # the API lists a new consumer some seconds late under load
        consumers = api.get("consumers/%2F") or []
        return {c["consumer_tag"] for c in consumers if c["queue"]["name"].startswith(ns)}

    ns, give_up = mesh.names.ns, time.monotonic() + 30
    while not ({"core demo c1 1"} <= (seen := await asyncio.to_thread(tags))
               and any(t.startswith("worker echo w1 ") for t in seen)):  # fmt: skip
        assert time.monotonic() < give_up, seen
        await asyncio.sleep(0.5)


async def test_a_live_model_swap_shows_the_new_version(mesh: Mesh):
    version = Manifest(name="echo", kind="echo", version="2", files={})
    await announce_published(mesh.worker_bus, mesh.names, version)

    def swapped(found: Status) -> bool:
        return (
            serving(found).get("worker") is not None and serving(found)["worker"].model == "echo@2"
        )

    await mesh.until(swapped, "the worker's new version echo@2")


async def test_a_model_without_a_worker_is_flagged_and_the_exit_status_says_so(mesh: Mesh):
    runner = CliRunner()
    env = {"BOTWERK_AMQP_URL": mesh.settings.amqp_url, "BOTWERK_NAMESPACE": mesh.names.ns}
    before = await asyncio.to_thread(runner.invoke, status, ["--json"], obj={}, env=env)
    assert before.exit_code == 0, before.output
    assert json.loads(before.output)["ok"] is True
    await mesh.stop_worker()
    after = await asyncio.to_thread(runner.invoke, status, ["--json"], obj={}, env=env)
    assert after.exit_code == 1, after.output
    document = json.loads(after.output)
    assert document["unserved"] == ["model echo"] and document["ok"] is False
    text = await asyncio.to_thread(runner.invoke, status, [], obj={}, env=env)
    assert text.exit_code == 1
    assert "NO CONSUMER: model echo is not served; start one with `botwerk worker echo`" in (
        text.output
    )
