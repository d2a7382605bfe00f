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
import os
import statistics
import sys
import time
from pathlib import Path

from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.chain import URL, BareClient, mesh, require_broker, start_bare
from botwerk.infra.rabbit import RabbitBus
from botwerk.testing import ChatClient

__all__ = ["URL"]  # bench/metrics_overhead.py takes it from here


def bench_bare(requests: int, inflight: int, load: int) -> tuple[list[float], float]:
    ns = f"bench-bare-{os.getpid()}-{time.monotonic_ns() % 10**6}"
    roles = start_bare(ns)
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
    with mesh(tmp, ("worker", "echo"), ("core", "demo")) as (settings, _):
        bus = RabbitBus(settings, role="test", name="bench-echo")
        try:
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
    require_broker()
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
