"""Echo round trip through RabbitMQ: the Botwerk mesh against a bare-pika chain, in one run.

    python bench/echo_roundtrip.py [--requests 1000] [--inflight 64] [--load 5000]

Both paths make the same four hops, transport -> core -> worker -> core -> transport, each
role a separate OS process on this machine:

- bare pika (the baseline): BlockingConnection, transient classic queues, auto-ack, no
  publisher confirms; each role decodes and re-encodes the MessagePack body and nothing more.
  The floor for Python and pika here.
- botwerk: ``botwerk worker echo`` and ``botwerk core demo`` processes, and this script as the
  transport through the real Gateway: quorum queues, persistent messages, publisher confirms,
  acks only after the downstream confirm, schema validation, deadlines, trace ids.

Prints the median and p99 latency of one request at a time (``--requests`` of them, after a
warm-up) and the requests per second with ``--inflight`` requests outstanding (``--load``).
Needs RabbitMQ at BOTWERK_AMQP_URL (default amqp://guest:guest@127.0.0.1:5672/).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

import msgpack
import pika
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from botwerk.infra import topology
from botwerk.infra.rabbit import RabbitBus
from botwerk.infra.settings import Settings
from botwerk.testing import ChatClient, admin
from tests.support.processes import Processes

URL = os.environ.get("BOTWERK_AMQP_URL") or "amqp://guest:guest@127.0.0.1:5672/"


# The baseline: the same four hops in bare pika.


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


class BareClient:
    """The bare transport: publishes, and reads replies from its own queue."""

    def __init__(self, ns: str) -> None:
        self.ns = ns
        self.channel = pika.BlockingConnection(pika.URLParameters(URL)).channel()
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


def bench_bare(requests: int, inflight: int, load: int) -> tuple[list[float], float]:
    ns = f"bench-bare-{uuid.uuid4().hex[:6]}"
    context = multiprocessing.get_context("spawn")
    roles = [context.Process(target=fn, args=(ns,), daemon=True) for fn in (bare_worker, bare_core)]
    for role in roles:
        role.start()
    for queue in (f"{ns}.worker", f"{ns}.core"):
        admin.wait_for_consumers(URL, queue)
    client = BareClient(ns)
    try:
        for i in range(200):  # warm-up
            client.send(i)
            client.wait(0)
        client.latencies.clear()
        for i in tqdm(range(requests), desc="bare pika, one at a time", leave=False):
            client.send(i)
            client.wait(0)
        sequential = list(client.latencies)
        started = time.perf_counter()
        for i in tqdm(range(load), desc=f"bare pika, {inflight} in flight", leave=False):
            client.send(i)
            client.wait(inflight - 1)
        client.wait(0)
        return sequential, load / (time.perf_counter() - started)
    finally:
        for role in roles:
            role.kill()


# Botwerk: the real roles as processes, this script as the transport.


async def bench_botwerk(
    requests: int, inflight: int, load: int, tmp: Path
) -> tuple[list[float], float]:
    settings = Settings.load(namespace=f"bench-{uuid.uuid4().hex[:6]}", amqp_url=URL)
    names = topology.Names(settings.namespace)
    env = {
        "BOTWERK_AMQP_URL": URL,
        "BOTWERK_NAMESPACE": settings.namespace,
        "BOTWERK_LOG_LEVEL": "WARNING",
    }
    processes = Processes(env, tmp)
    bus = RabbitBus(settings, role="test", name="bench-echo")
    try:
        processes.start("worker", "echo")
        processes.start("core", "demo")
        admin.wait_for_consumers(URL, names.infer_queue("echo"))
        admin.wait_for_consumers(URL, names.core_queue("demo"))
        await bus.start(timeout=10)
        async with ChatClient(bus, settings) as chat:
            for i in range(200):  # warm-up
                await chat.ask(f"m{i}")
            sequential = []
            for i in tqdm(range(requests), desc="botwerk, one at a time", leave=False):
                started = time.perf_counter()
                reply = await chat.ask(f"m{i}")
                sequential.append(time.perf_counter() - started)
                assert reply.text == f"echo: m{i}", reply
            throughput = await _load(chat, inflight, load)
        return sequential, throughput
    finally:
        await bus.close()
        processes.stop_all()
        admin.sweep(URL, settings.namespace)


async def _load(chat: ChatClient, inflight: int, load: int) -> float:
    slots = asyncio.Semaphore(inflight)
    progress = tqdm(total=load, desc=f"botwerk, {inflight} in flight", leave=False)

    async def one(i: int) -> None:
        async with slots:
            reply = await chat.ask(f"m{i}")
            assert reply.error is None, reply
            progress.update()

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(load)))
    progress.close()
    return load / (time.perf_counter() - started)


def _row(name: str, latencies: list[float], throughput: float) -> str:
    ms = sorted(x * 1000 for x in latencies)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    return f"{name:<22}{statistics.median(ms):>9.2f}{p99:>9.2f}{throughput:>12,.0f}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1000, help="one-at-a-time requests")
    parser.add_argument("--inflight", type=int, default=64, help="requests outstanding under load")
    parser.add_argument("--load", type=int, default=5000, help="requests in the throughput run")
    args = parser.parse_args(argv)
    if (why := admin.reachable(URL)) is not None:
        fix = "start RabbitMQ with `rabbitmq-server -detached`"
        sys.exit(f"BOTWERK_AMQP_URL {URL} unreachable ({why}): {fix}")
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"botwerk-bench-{os.getpid()}"
    tmp.mkdir(parents=True, exist_ok=True)
    bare = bench_bare(args.requests, args.inflight, args.load)
    botwerk = asyncio.run(bench_botwerk(args.requests, args.inflight, args.load, tmp))
    print(
        f"\necho round trip, 4 hops through RabbitMQ, {os.cpu_count()} CPUs, "
        f"{args.requests} sequential requests, {args.load} at {args.inflight} in flight"
    )
    print(f"{'':<22}{'median ms':>9}{'p99 ms':>9}{'req/s @' + str(args.inflight):>12}")
    print(_row("bare pika (baseline)", *bare))
    print(_row("botwerk mesh", *botwerk))


if __name__ == "__main__":
    main()
