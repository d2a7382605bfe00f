"""What ``bench/compare.py`` compares: each contender's servers and its client.

Every contender answers an echo request; its servers run as their own processes, and its
client runs in a driver process of its own (:func:`drive`), so the CPU each one spends can be
read apart. A driver takes jobs ``(inflight, count)`` from a pipe and answers the latency of
each request and the wall time of the job. A client keeps ``inflight`` requests outstanding:
the pika clients by a window on one connection, the mesh by tasks on its event loop, Celery
and Pyro5 by one thread per request in flight (their calls block).

Needs RabbitMQ at BOTWERK_AMQP_URL, Redis at BOTWERK_RESULTS_URL (Celery's results) and
``pip install -e '.[bench]'`` (Pyro5, matplotlib, psutil).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from bench.chain import URL, BareClient, mesh, spawn, start_bare
from bench.guaranteed import GuaranteedClient, start_guaranteed
from botwerk.infra import topology
from botwerk.infra.bus import now_ms
from botwerk.infra.rabbit import RabbitBus
from botwerk.infra.rpc import Replies, Rpc
from botwerk.infra.settings import Settings
from botwerk.testing import ChatClient, admin
from tests.support.ports import free_port

RESULTS = os.environ.get("BOTWERK_RESULTS_URL") or "redis://127.0.0.1:6379/0"
Servers = dict[str, int]  # role -> pid


@dataclass(frozen=True)
class Contender:
    key: str
    label: str
    serve: Callable[[contextlib.ExitStack, Path], tuple[Servers, str]]
    """starts the servers (stopped by the stack); their pids and the argument of ``client``"""
    client: Callable[[str], Any]
    """builds the client in the driver process: ``.run(inflight, count)``, or async ``.arun``"""


def drive(client: Callable[[str], Any], arg: str, pipe: Connection) -> None:
    """A driver process: build the client, then run each job the pipe sends until ``None``."""
    runner = client(arg)
    if hasattr(runner, "arun"):
        asyncio.run(_drive_async(runner, pipe))
        return
    pipe.send("ready")
    while (job := pipe.recv()) is not None:
        started = time.perf_counter()
        latencies = runner.run(*job)
        pipe.send((latencies, time.perf_counter() - started))


async def _drive_async(runner: Any, pipe: Connection) -> None:
    # The loop keeps running between jobs (the pipe is read on a thread): heartbeats go on.
    loop = asyncio.get_running_loop()
    await runner.start()
    pipe.send("ready")
    while (job := await loop.run_in_executor(None, pipe.recv)) is not None:
        started = time.perf_counter()
        latencies = await runner.arun(*job)
        pipe.send((latencies, time.perf_counter() - started))
    await runner.close()


def threaded(call: Callable[[int, int], None], inflight: int, count: int) -> list[float]:
    """``count`` blocking calls ``call(slot, i)`` from ``inflight`` threads; each one's latency."""
    latencies: list[float] = []
    numbers = itertools.count()

    def loop(slot: int) -> None:
        while (i := next(numbers)) < count:
            started = time.perf_counter()
            call(slot, i)
            latencies.append(time.perf_counter() - started)

    threads = [threading.Thread(target=loop, args=(slot,)) for slot in range(inflight)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies


# The mesh, and one Botwerk RPC (core -> worker -> core) alone.


class MeshClient:
    """The transport, through the real Gateway (``botwerk.testing.ChatClient``)."""

    def __init__(self, ns: str) -> None:
        self.settings = Settings.load(namespace=ns, amqp_url=URL)

    async def start(self) -> None:
        self.bus = RabbitBus(self.settings, role="test", name="bench-compare")
        await self.bus.start(timeout=10)
        self.chat = await ChatClient(self.bus, self.settings).__aenter__()

    async def ask(self, i: int) -> None:
        reply = await self.chat.ask(f"m{i}")
        assert reply.text == f"echo: m{i}", reply

    async def arun(self, inflight: int, count: int) -> list[float]:
        slots = asyncio.Semaphore(inflight)
        latencies: list[float] = []

        async def one(i: int) -> None:
            async with slots:
                started = time.perf_counter()
                await self.ask(i)
                latencies.append(time.perf_counter() - started)

        await asyncio.gather(*(one(i) for i in range(count)))
        return latencies

    async def close(self) -> None:
        await self.chat.__aexit__(None, None, None)
        await self.bus.close()


class RpcClient(MeshClient):
    """A core's model call alone: ``Rpc.infer`` to the echo worker, as a core makes it."""

    async def start(self) -> None:
        self.bus = RabbitBus(self.settings, role="test", name="bench-compare")
        await self.bus.start(timeout=10)
        names = topology.Names(self.settings.namespace)
        self.replies = Replies(self.bus, names, names.reply_queue("core", uuid.uuid4().hex[:8]))
        await self.replies.start()
        self.rpc = Rpc(self.bus, names, self.replies)

    async def ask(self, i: int) -> None:
        reply = await self.rpc.infer("echo", {"text": f"m{i}"}, deadline_ms=now_ms() + 30_000)
        assert reply.outputs["text"] == f"m{i}", reply

    async def close(self) -> None:
        await self.replies.stop()
        await self.bus.close()


def _serve_mesh(*roles: tuple[str, str]) -> Callable[[contextlib.ExitStack, Path], Any]:
    def serve(stack: contextlib.ExitStack, tmp: Path) -> tuple[Servers, str]:
        settings, processes = stack.enter_context(mesh(tmp, *roles))
        pids = {role: proc.pid for (role, _), proc in zip(roles, processes.running, strict=True)}
        return pids, settings.namespace

    return serve


# The bare pika chains.


def _serve_chain(start: Callable[[str], list[Any]]) -> Callable[..., tuple[Servers, str]]:
    def serve(stack: contextlib.ExitStack, tmp: Path) -> tuple[Servers, str]:
        ns = f"bench-chain-{uuid.uuid4().hex[:6]}"
        roles = start(ns)
        stack.callback(admin.sweep, URL, ns)
        for role in roles:
            stack.callback(role.kill)
        return {"worker": roles[0].pid, "core": roles[1].pid}, ns

    return serve


# Celery: one task, apply_async().get(), on the same broker, a quorum queue, results in Redis.


def echo(text: str) -> str:
    return text


def celery_app(ns: str) -> Any:
    from celery import Celery
    from kombu import Queue

    app = Celery("bench", broker=URL, backend=RESULTS, set_as_current=False)
    quorum = {"x-queue-type": "quorum"}
    queue = Queue(f"{ns}.celery", routing_key=f"{ns}.celery", queue_arguments=quorum)
    app.conf.update(
        task_queues=[queue],
        task_default_queue=queue.name,
        task_default_routing_key=queue.name,
        task_acks_late=True,  # acked when done, as the mesh's worker acks
        worker_prefetch_multiplier=16,  # the mesh worker's prefetch (BOTWERK_MAX_BATCH)
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_expires=300,
        result_backend_transport_options={"global_keyprefix": f"bench:{ns}:"},
        broker_connection_retry_on_startup=True,
    )
    app.task(name="echo")(echo)
    return app


def celery_worker(ns: str) -> None:
    argv = ["--quiet", "worker", "--pool=solo", "--loglevel=ERROR", "--without-mingle"]
    celery_app(ns).worker_main([*argv, "--without-gossip", "--without-heartbeat"])


def _serve_celery(stack: contextlib.ExitStack, tmp: Path) -> tuple[Servers, str]:
    ns = f"bench-celery-{uuid.uuid4().hex[:6]}"
    (worker,) = spawn([celery_worker], ns)
    stack.callback(admin.sweep, URL, ns)
    stack.callback(worker.kill)
    admin.wait_for_consumers(URL, f"{ns}.celery")
    return {"worker": worker.pid}, ns


class CeleryClient:
    def __init__(self, ns: str) -> None:
        self.task = celery_app(ns).tasks["echo"]

    def call(self, slot: int, i: int) -> None:
        assert self.task.apply_async((f"m{i}",)).get(timeout=30) == f"m{i}"

    def run(self, inflight: int, count: int) -> list[float]:
        return threaded(self.call, inflight, count)


# Pyro5: a direct TCP call to an object in the server process; no broker, nothing durable.


class Echo:
    def echo(self, text: str) -> str:
        return text


def pyro_server(address: str) -> None:
    import Pyro5.api

    host, port = address.rsplit(":", 1)
    daemon = Pyro5.api.Daemon(host=host, port=int(port))
    daemon.register(Pyro5.api.expose(Echo), "echo")
    daemon.requestLoop()


def _serve_pyro(stack: contextlib.ExitStack, tmp: Path) -> tuple[Servers, str]:
    port = free_port()
    (server,) = spawn([pyro_server], f"127.0.0.1:{port}")
    stack.callback(server.kill)
    deadline = time.monotonic() + 30
    while not _listening(port):  # a sync twin of tests/support/waiting.py's eventually
        if time.monotonic() > deadline:
            raise RuntimeError(f"the Pyro5 server did not listen on port {port} within 30 s")
        time.sleep(0.02)
    return {"server": server.pid}, f"127.0.0.1:{port}"


def _listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)):
        return True
    return False


class PyroClient:
    def __init__(self, address: str) -> None:
        import Pyro5.api

        self.proxies = [Pyro5.api.Proxy(f"PYRO:echo@{address}") for _ in range(64)]
        for proxy in self.proxies:
            proxy._pyroBind()  # connect now, not in the first measured call

    def call(self, slot: int, i: int) -> None:
        proxy = self.proxies[slot]
        proxy._pyroClaimOwnership()
        assert proxy.echo(f"m{i}") == f"m{i}"

    def run(self, inflight: int, count: int) -> list[float]:
        return threaded(self.call, inflight, count)


CONTENDERS = [
    Contender(
        "mesh", "Botwerk mesh", _serve_mesh(("worker", "echo"), ("core", "demo")), MeshClient
    ),
    Contender("bare", "bare pika, transient", _serve_chain(start_bare), BareClient),
    Contender(
        "guaranteed", "bare pika, mesh guarantees", _serve_chain(start_guaranteed), GuaranteedClient
    ),
    Contender(
        "routed",
        "bare pika, mesh guarantees and routing",
        _serve_chain(functools.partial(start_guaranteed, routed=True)),
        functools.partial(GuaranteedClient, routed=True),
    ),
    Contender("rpc", "Botwerk RPC, one hop", _serve_mesh(("worker", "echo")), RpcClient),
    Contender("celery", "Celery, one hop", _serve_celery, CeleryClient),
    Contender("pyro5", "Pyro5, one hop", _serve_pyro, PyroClient),
]
