"""What the metrics cost: the echo round trip through the mesh with metrics on and off, one run.

    python bench/metrics_overhead.py [--rounds 10] [--requests 200] [--load 1000] [--inflight 32]

Two meshes run side by side, each a ``botwerk worker echo`` and a ``botwerk core demo`` process
(as in ``bench/echo_roundtrip.py``, whose pieces this reuses), this script the transport: one
with ``BOTWERK_METRICS_PORT`` set, scraped every second (Prometheus's default is 15 s), and
one without. Rounds alternate between them (on-off, then off-on, ...) so drift in the machine's
load hits both alike; the transport's own metrics are switched with them. Prints the median and
p99 of one request at a time, the requests per second with ``--inflight`` outstanding, the
on/off ratios, and the load average before and after. Needs RabbitMQ at BOTWERK_AMQP_URL.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.echo_roundtrip import URL, _load
from botwerk.infra import metrics, topology
from botwerk.infra.rabbit import RabbitBus
from botwerk.infra.settings import Settings
from botwerk.testing import ChatClient, admin
from tests.support.ports import free_port
from tests.support.processes import Processes

SCRAPE_EVERY_S = 1.0


class Mesh:
    """A worker and a core in their own namespace; ``ports`` their metrics (none: off)."""

    def __init__(self, on: bool, tmp: Path) -> None:
        self.on = on
        self.settings = Settings.load(namespace=f"bench-{uuid.uuid4().hex[:6]}", amqp_url=URL)
        env = {"BOTWERK_AMQP_URL": URL, "BOTWERK_NAMESPACE": self.settings.namespace,
               "BOTWERK_LOG_LEVEL": "WARNING"}  # fmt: skip
        self.processes = Processes(env, tmp)
        self.ports: list[int] = []
        self.sequential: list[float] = []
        self.throughput: list[float] = []

    def start(self) -> None:
        for role in (("worker", "echo"), ("core", "demo")):
            port = free_port() if self.on else 0
            self.processes.env["BOTWERK_METRICS_PORT"] = str(port)
            self.processes.start(*role)
            self.ports += [port] if port else []
        names = topology.Names(self.settings.namespace)
        admin.wait_for_consumers(URL, names.infer_queue("echo"))
        admin.wait_for_consumers(URL, names.core_queue("demo"))

    def sweep(self) -> None:
        admin.sweep(URL, self.settings.namespace)


def scrape_forever(ports: list[int], stop: threading.Event) -> None:
    """Scrape every ``/metrics`` each second, as a (busy) Prometheus would."""
    while not stop.wait(SCRAPE_EVERY_S):
        for port in ports:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
                answer.read()


async def one_round(mesh: Mesh, chat: ChatClient, requests: int, load: int, inflight: int) -> None:
    metrics.record(mesh.on)  # the transport's own metrics: this script's gateway
    for i in range(requests):
        started = time.perf_counter()
        reply = await chat.ask(f"m{i}")
        mesh.sequential.append(time.perf_counter() - started)
        assert reply.text == f"echo: m{i}", reply
    mesh.throughput.append(await _load(chat, inflight, load))


async def bench(args: argparse.Namespace, tmp: Path) -> tuple[Mesh, Mesh]:
    on, off = Mesh(True, tmp), Mesh(False, tmp)
    stop = threading.Event()
    scraper = threading.Thread(target=scrape_forever, args=(on.ports, stop), daemon=True)
    bus = RabbitBus(on.settings, role="transport", name="bench")
    try:
        on.start()
        off.start()
        scraper.start()
        await bus.start(timeout=10)
        async with (
            ChatClient(bus, on.settings) as chat_on,
            ChatClient(bus, off.settings) as chat_off,
        ):
            chats = {True: chat_on, False: chat_off}
            for mesh in (on, off):  # warm-up
                await one_round(mesh, chats[mesh.on], 100, 0, args.inflight)
                mesh.sequential.clear()
                mesh.throughput.clear()
            for n in range(args.rounds):
                for mesh in (on, off) if n % 2 == 0 else (off, on):
                    await one_round(mesh, chats[mesh.on], args.requests, args.load, args.inflight)
        return on, off
    finally:
        stop.set()
        metrics.record(False)
        await bus.close()
        on.processes.stop_all()
        off.processes.stop_all()


def _figures(mesh: Mesh) -> tuple[float, float, float]:
    ms = sorted(x * 1000 for x in mesh.sequential)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    return statistics.median(ms), p99, statistics.median(mesh.throughput)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=10, help="alternating rounds per mesh")
    parser.add_argument("--requests", type=int, default=200, help="one-at-a-time, per round")
    parser.add_argument("--load", type=int, default=1000, help="requests per throughput round")
    parser.add_argument("--inflight", type=int, default=32, help="outstanding under load")
    args = parser.parse_args(argv)
    if (why := admin.reachable(URL)) is not None:
        sys.exit(f"BOTWERK_AMQP_URL {URL} unreachable ({why}): start RabbitMQ")
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"botwerk-bench-{os.getpid()}"
    tmp.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    on, off = asyncio.run(bench(args, tmp))
    load_after = os.getloadavg()
    print(
        f"\nmetrics overhead, echo round trip (4 hops), {os.cpu_count()} CPUs, {args.rounds} "
        f"alternating rounds of {args.requests} sequential + {args.load} at {args.inflight} "
        f"in flight; load average {load_before[0]:.2f} before, {load_after[0]:.2f} after"
    )
    print(f"{'':<14}{'median ms':>10}{'p99 ms':>10}{'req/s':>10}")
    rows = {"metrics on": _figures(on), "metrics off": _figures(off)}
    for name, (median, p99, rate) in rows.items():
        print(f"{name:<14}{median:>10.3f}{p99:>10.3f}{rate:>10,.0f}")
    (m_on, p_on, r_on), (m_off, p_off, r_off) = rows.values()
    print(f"{'on / off':<14}{m_on / m_off:>10.3f}{p_on / p_off:>10.3f}{r_on / r_off:>10.3f}")
    on.sweep()  # after the figures: they are printed even if the clean-up fails
    off.sweep()


if __name__ == "__main__":
    main()
