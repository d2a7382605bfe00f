"""A mesh to break: worker and core processes on a throwaway node, the test as their transport.

In a fault test (``node``: a :class:`~tests.support.broker.ThrowawayBroker`)::

    async with FaultMesh(node, settings, tmp_path) as mesh:
        mesh.start_worker(); mesh.start_core()
        answers = [await mesh.ledger.submit(mesh.chat, mesh.ledger.new_id()) for _ in range(100)]
        node.kill(); node.start()          # the fault
        await asyncio.gather(*answers)
        verdict = await mesh.verdict()     # after a final drain
        assert verdict.clean

The worker serves :class:`tests.support.models.LedgerEcho` under the name ``echo`` and the core
runs the demo bot, so each ledger id goes transport -> core -> worker -> core -> transport.
Role processes log JSON lines, so a test can time when each noticed a fault.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar

from botwerk.infra.bus import Delivery
from botwerk.infra.rabbit import RabbitBus
from botwerk.infra.settings import Settings
from botwerk.infra.topology import Names
from botwerk.schemas import Reply
from botwerk.testing.chat import ChatClient

from .broker import ThrowawayBroker
from .cluster import ThrowawayCluster
from .ledger import Ledger, Verdict
from .processes import Processes
from .waiting import collect

CONNECTED_TO = re.compile(r"connected to amqp.*\(node ([^)]+)\)")
WORKER = ("worker", "tests.support.models:LedgerEcho", "--name", "echo")
CORE = ("core", "demo")


class FaultMesh:
    """Roles as processes on ``node`` (through ``url``, a proxy's if given), and a ledger."""

    ROLES: ClassVar[dict[str, tuple[tuple[str, ...], str]]] = {
        "worker": (WORKER, "serving echo"),  # logged once it consumes, after warm-up
        "core": (CORE, "bot demo answering"),
    }

    def __init__(
        self, node: ThrowawayBroker | ThrowawayCluster, settings: Settings, work_dir: Path, *,
        url: str | None = None, env: dict[str, str] | None = None,
    ) -> None:  # fmt: skip
        self.node = node
        self.url = url or node.url
        self.settings = settings.model_copy(update={"amqp_url": self.url})
        self.names = Names(settings.namespace)
        self.ledger = Ledger(work_dir)
        role_env = {
            "BOTWERK_AMQP_URL": self.url,
            "BOTWERK_NAMESPACE": settings.namespace,
            "BOTWERK_LOG_FORMAT": "json",
            "BOTWERK_LOG_LEVEL": os.environ.get("BOTWERK_FAULT_LOG_LEVEL", "INFO"),
            "BOTWERK_HEARTBEAT_S": str(settings.heartbeat_s),  # the roles' as the transport's
            "BOTWERK_LEDGER_DIR": str(work_dir),
            "BOTWERK_LEDGER_DELAY_MS": "20",
            **(env or {}),
        }
        self.processes = Processes(role_env, work_dir)
        self.bus = RabbitBus(self.settings, name="fault test transport")
        self.chat = ChatClient(self.bus, self.settings)
        self.dead: list[Delivery] = []
        self.roles: dict[str, tuple[subprocess.Popen[str], str | None]] = {}

    async def __aenter__(self) -> FaultMesh:
        await self.bus.start(timeout=30)
        await self.chat.__aenter__()
        self.dead = await collect(self.bus, self.names.dead, prefetch=500)
        return self

    async def __aexit__(self, *exc: object | TracebackType) -> None:
        self.processes.stop_all()
        await self.chat.__aexit__()
        await self.bus.close()

    def start_worker(self, sabotage: str | None = None, wait: bool = True) -> subprocess.Popen[str]:
        return self.start("worker", sabotage, wait)

    def start_core(self, sabotage: str | None = None, wait: bool = True) -> subprocess.Popen[str]:
        return self.start("core", sabotage, wait)

    def start(
        self, role: str, sabotage: str | None = None, wait: bool = True
    ) -> subprocess.Popen[str]:
        """Start ``role`` (``worker`` or ``core``); with ``wait``, until it says it serves.

        (Consumer counts would mislead: a killed consumer lingers until the broker notices,
        and a worker leaving probation briefly holds two.)
        """
        args, ready = self.ROLES[role]
        proc = self.processes.start(*args, sabotage=sabotage)
        self.roles[role] = (proc, sabotage)
        if wait:
            self._wait_ready(proc, ready)
        return proc

    def _wait_ready(self, proc: subprocess.Popen[str], ready: str, timeout: float = 60) -> None:
        give_up = time.monotonic() + timeout
        while not self.log_times(proc, ready):
            if proc.poll() is not None or time.monotonic() > give_up:
                log = Processes.log_of(proc)[-3000:]
                raise RuntimeError(f"{proc.args!r} is not serving:\n{log}")
            time.sleep(0.05)

    def kill(self, role: str) -> None:
        """SIGKILL the current process of ``role``."""
        self.processes.kill(self.roles[role][0])

    def restart(self, role: str, wait: bool = True) -> subprocess.Popen[str]:
        """A fresh process of ``role``, with the same sabotage as the last one."""
        return self.start(role, self.roles[role][1], wait)

    def queued(self) -> int:
        """Messages in the core and model queues, ready or unacked."""
        wanted = {self.names.core_queue("demo"), self.names.infer_queue("echo")}
        total = 0
        for line in self.node.ctl(
            "-q", "--no-table-headers", "list_queues", "name", "messages"
        ).splitlines():
            name, _, count = line.strip().rpartition("\t")
            if name in wanted and count.isdigit():
                total += int(count)
        return total

    async def drain(self, timeout: float = 60.0) -> None:
        """Wait until the work queues are empty, then a moment for the last replies."""
        give_up = time.monotonic() + timeout
        while await asyncio.to_thread(self.queued) > 0:
            if time.monotonic() > give_up:
                raise AssertionError(f"work queues not drained after {timeout:g}s")
            await asyncio.sleep(0.5)
        await asyncio.sleep(1.0)

    async def verdict(self, drain: bool = True) -> Verdict:
        if drain:
            await self.drain()
        return self.ledger.check(self.dead, self.chat)

    async def load(
        self, requests: int, rate: float = 400, inflight: int = 64,
        until: asyncio.Event | None = None,
    ) -> list[Reply]:  # fmt: skip
        """``requests`` ledger questions at ``rate`` per second from independent users, at most
        ``inflight`` waiting at once; each user's publish and wait is their own. ``until``: stop
        asking once it is set, however many were asked."""
        slots = asyncio.Semaphore(inflight)

        async def one() -> Reply:
            try:
                return await self.ledger.ask(self.chat, self.ledger.new_id())
            finally:
                slots.release()

        users = []
        started = time.monotonic()
        for i in range(requests):
            if until is not None and until.is_set():
                break
            await slots.acquire()
            if (ahead := started + i / rate - time.monotonic()) > 0:
                await asyncio.sleep(ahead)
            users.append(asyncio.create_task(one()))
        return await asyncio.gather(*users)

    async def until_unserved(self, queue: str, timeout: float) -> float:
        """Monotonic time at which ``queue`` had no consumer (polled every 0.2 s)."""
        give_up = time.monotonic() + timeout
        while await self.bus.consumers(queue):
            if time.monotonic() > give_up:
                raise AssertionError(f"{queue} still had a consumer after {timeout:g}s")
            await asyncio.sleep(0.2)
        return time.monotonic()

    async def keep_alive(self, role: str, stop: asyncio.Event) -> int:
        """Restart ``role`` whenever its process exits, as a supervisor would; how many times."""
        restarts = 0
        while not stop.is_set():
            if self.roles[role][0].poll() is not None:
                restarts += 1
                await asyncio.to_thread(self.restart, role, False)
            await asyncio.sleep(0.1)
        return restarts

    def node_of(self, role: str) -> str:
        """``host:port`` of the node ``role`` connected to last, as its log says."""
        proc = self.roles[role][0]
        for line in reversed(Processes.log_of(proc).splitlines()):
            if match := CONNECTED_TO.search(line):
                return match.group(1)
        raise LookupError(f"{role} has not connected yet")

    def log_times(self, proc: subprocess.Popen[str], needle: str) -> list[float]:
        """Epoch seconds of ``proc``'s JSON log lines whose message contains ``needle``."""
        times = []
        for line in Processes.log_of(proc).splitlines():
            try:
                entry: dict[str, Any] = json.loads(line)
            except ValueError:
                continue
            if needle in str(entry.get("msg", "")):
                times.append(float(entry["ts"]))
        return times
