"""The pieces the round-trip benchmarks share: the bare transient pika chain and the mesh.

``bench/echo_roundtrip.py`` and ``bench/compare.py`` both send echo requests through four
hops, transport -> core -> worker -> core -> transport, each role its own OS process:

- the bare transient chain (:func:`bare_worker`, :func:`bare_core`, :class:`BareClient`):
  BlockingConnection, transient classic queues, auto-ack, no publisher confirms; each role
  decodes and re-encodes the MessagePack body and nothing more. The floor for Python and pika.
- the mesh (:func:`mesh`): ``botwerk worker echo`` and ``botwerk core demo`` processes, the
  caller being the transport through the real Gateway (:class:`botwerk.testing.ChatClient`).

Needs RabbitMQ at BOTWERK_AMQP_URL (default amqp://guest:guest@127.0.0.1:5672/).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from multiprocessing.process import BaseProcess
from pathlib import Path

import msgpack
import pika

from botwerk.infra import topology
from botwerk.infra.settings import Settings
from botwerk.testing import admin
from tests.support.processes import Processes

URL = os.environ.get("BOTWERK_AMQP_URL") or "amqp://guest:guest@127.0.0.1:5672/"
SPAWN = multiprocessing.get_context("spawn")


def require_broker() -> None:
    """Exit with the fix when RabbitMQ is not there."""
    if (why := admin.reachable(URL)) is not None:
        fix = "start RabbitMQ with `rabbitmq-server -detached`"
        sys.exit(f"BOTWERK_AMQP_URL {URL} unreachable ({why}): {fix}")


def spawn(targets: list[Callable[[str], None]], ns: str) -> list[BaseProcess]:
    """Each target as a daemon process given the namespace ``ns``."""
    roles = [SPAWN.Process(target=fn, args=(ns,), daemon=True) for fn in targets]
    for role in roles:
        role.start()
    return roles


def bare_worker(ns: str) -> None:
    channel = pika.BlockingConnection(pika.URLParameters(URL)).channel()
    channel.queue_declare(f"{ns}.worker", auto_delete=True)

    def on_request(ch, method, props, body):
        request = msgpack.unpackb(body)
        reply = msgpack.packb({"text": request["text"]})
        ch.basic_publish(
            "", props.reply_to, reply, pika.BasicProperties(correlation_id=props.correlation_id)
        )

    channel.basic_consume(f"{ns}.worker", on_request, auto_ack=True)
    channel.start_consuming()


def bare_core(ns: str) -> None:
    channel = pika.BlockingConnection(pika.URLParameters(URL)).channel()
    channel.queue_declare(f"{ns}.core", auto_delete=True)
    replies = channel.queue_declare(f"{ns}.core.replies", auto_delete=True).method.queue
    waiting: dict[str, tuple[str, str]] = {}

    def on_inbound(ch, method, props, body):
        request_id = uuid.uuid4().hex
        waiting[request_id] = (props.reply_to, props.correlation_id)
        text = msgpack.unpackb(body)["text"]
        properties = pika.BasicProperties(reply_to=replies, correlation_id=request_id)
        ch.basic_publish("", f"{ns}.worker", msgpack.packb({"text": text}), properties)

    def on_reply(ch, method, props, body):
        reply_to, correlation_id = waiting.pop(props.correlation_id)
        text = "echo: " + msgpack.unpackb(body)["text"]
        ch.basic_publish(
            "",
            reply_to,
            msgpack.packb({"text": text}),
            pika.BasicProperties(correlation_id=correlation_id),
        )

    channel.basic_consume(f"{ns}.core", on_inbound, auto_ack=True)
    channel.basic_consume(replies, on_reply, auto_ack=True)
    channel.start_consuming()


def start_bare(ns: str) -> list[BaseProcess]:
    """The bare chain's core and worker, consuming when this returns."""
    roles = spawn([bare_worker, bare_core], ns)
    for queue in (f"{ns}.worker", f"{ns}.core"):
        admin.wait_for_consumers(URL, queue)
    return roles


class BareClient:
    """The bare transport: publishes, and reads replies from its own queue.

    ``heartbeat=0``: a driver idles between interleaved runs without serving its connection.
    """

    def __init__(self, ns: str) -> None:
        self.ns = ns
        parameters = pika.URLParameters(URL)
        parameters.heartbeat = 0
        self.channel = pika.BlockingConnection(parameters).channel()
        self.queue = self.channel.queue_declare(f"{ns}.client", auto_delete=True).method.queue
        self.sent: dict[str, float] = {}
        self.latencies: list[float] = []
        self.channel.basic_consume(self.queue, self._on_reply, auto_ack=True)

    def send(self, i: int) -> None:
        correlation_id = uuid.uuid4().hex
        self.sent[correlation_id] = time.perf_counter()
        properties = pika.BasicProperties(reply_to=self.queue, correlation_id=correlation_id)
        self.channel.basic_publish(
            "", f"{self.ns}.core", msgpack.packb({"text": f"m{i}"}), properties
        )

    def _on_reply(self, ch, method, props, body) -> None:
        self.latencies.append(time.perf_counter() - self.sent.pop(props.correlation_id))

    def wait(self, outstanding: int) -> None:
        while len(self.sent) > outstanding:
            self.channel.connection.process_data_events(time_limit=1)

    def run(self, inflight: int, count: int) -> list[float]:
        """The latency of each of ``count`` requests sent with ``inflight`` outstanding."""
        self.latencies = []
        for i in range(count):
            self.send(i)
            self.wait(inflight - 1)
        self.wait(0)
        return self.latencies


@contextlib.contextmanager
def mesh(tmp: Path, *roles: tuple[str, str]) -> Iterator[tuple[Settings, Processes]]:
    """Botwerk roles (``("worker", "echo")``, ``("core", "demo")``) as processes in a fresh
    namespace, each consuming when this yields; stopped and swept after."""
    settings = Settings.load(namespace=f"bench-{uuid.uuid4().hex[:6]}", amqp_url=URL)
    names = topology.Names(settings.namespace)
    env = {
        "BOTWERK_AMQP_URL": URL,
        "BOTWERK_NAMESPACE": settings.namespace,
        "BOTWERK_LOG_LEVEL": "WARNING",
    }
    processes = Processes(env, tmp)
    try:
        for role, name in roles:
            processes.start(role, name)
        for role, name in roles:
            queue = names.infer_queue(name) if role == "worker" else names.core_queue(name)
            admin.wait_for_consumers(URL, queue)
        yield settings, processes
    finally:
        processes.stop_all()
        admin.sweep(URL, settings.namespace)
