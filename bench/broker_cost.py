"""RabbitMQ's CPU per message for each kind of queue the mesh uses, on a node of its own.

    python bench/broker_cost.py [--repeat 5] [--messages 1200] [--burst 4000]

docs/scaling.md builds its capacity model on these figures. The script starts a throwaway
RabbitMQ node (``tests/support/broker.py``: its own name, ports and data, beside the machine's
main broker, which it never touches) and sends messages through one queue at a time, as the
mesh sends them (``botwerk/infra/topology.py``):

- **quorum**: a work queue exactly as ``topology.work_queue`` declares it (delivery limit,
  dead-letter exchange, at-least-once dead-lettering, ``reject-publish``, a length bound),
  persistent messages published through a direct exchange: the core's and the inference
  queues, two legs of every mesh request;
- **classic, persistent**: a reply queue as ``topology.reply_queue`` declares it (classic,
  durable, ``x-expires``), persistent messages through the replies topic exchange: a core's
  reply to its transport;
- **classic, transient**: the same queue with transient messages: a worker's answer to a core.

Every message carries the mesh's properties and headers (``bench/guaranteed.py``), is published
``mandatory`` on a channel in confirm mode (confirms pipelined, by callback) and consumed on
another connection with manual acks, the acks of one loop turn sent as one ``multiple`` ack
(``botwerk/infra/acks.py``). Each queue is run with 1 and with 32 messages in flight (published,
not yet delivered). Around every run the node's CPU time (user + system of its ``beam.smp``,
from ``/proc/<pid>/stat``) is read and divided by the messages: broker CPU microseconds per
message, all of it, the node's idle ticking included. The messages per second are bounded by
this one Python process driving both ends on the same cores (its own CPU per message is in the
table too): they are not the queue's own limit. Repetitions are interleaved (every queue
at one level in a rotating order, then the next level, then the next repetition); the table
gives medians with the range over repetitions, and the load average.

About 45 s on a 2-core machine (the node boots in 5), and it loads both cores meanwhile.
Needs Debian's ``rabbitmq-server`` (``BOTWERK_RABBITMQ_BIN``), as the fault tests do.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pika
from pika.adapters.select_connection import IOLoop
from pika.channel import Channel
from pika.spec import Basic, BasicProperties
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.guaranteed import pack, properties
from botwerk.infra import topology
from tests.support.broker import ThrowawayBroker

INFLIGHT = (1, 32)
PREFETCH = 32  # BOTWERK_PREFETCH's default
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Case:
    """One kind of queue as the mesh uses it: how it is declared and what is sent to it."""

    key: str
    label: str
    queue: topology.Queue
    exchange: topology.Exchange
    kind: str  # the message's type: botwerk.<kind>.v1, persistent unless infer_reply

    def message(self, i: int) -> tuple[bytes, BasicProperties]:
        if self.kind == "infer":
            body = {"model": "echo", "inputs": {"text": f"m{i}"}}
            props = properties("infer", reply_to="bench.reply", expiration="30000")
        elif self.kind == "reply":
            body = {"bot": "demo", "conversation": "c1", "text": f"echo: m{i}"}
            props = properties("reply", correlation_id=f"{i:032x}")
        else:
            body = {"model": "echo", "version": "1", "outputs": {"text": f"m{i}"}}
            props = properties("infer_reply", correlation_id=f"{i:032x}")
        return pack(body), props

    @property
    def routing_key(self) -> str:
        return "echo" if self.exchange.kind == "direct" else self.queue.name


def cases(ns: str) -> list[Case]:
    names = topology.Names(ns)
    work = topology.work_queue(names.infer_queue("echo"), names.dlx, topology.DEFAULT_LIMITS)
    infer = topology.Exchange(names.infer, "direct")
    replies = topology.Exchange(names.replies, "topic")
    return [
        Case("quorum", "quorum, persistent", work, infer, "infer"),
        Case("classic", "classic durable, persistent", topology.reply_queue(f"{ns}.r1"),
             replies, "reply"),
        Case("transient", "classic durable, transient", topology.reply_queue(f"{ns}.r2"),
             replies, "infer_reply"),
    ]  # fmt: skip


def declare(url: str, ns: str, chosen: list[Case]) -> None:
    """The cases' exchanges, queues and bindings, and the dead-letter exchange they name."""
    with pika.BlockingConnection(pika.URLParameters(url)) as connection:
        channel = connection.channel()
        channel.exchange_declare(topology.Names(ns).dlx, "topic", durable=True)
        for case in chosen:
            channel.exchange_declare(case.exchange.name, case.exchange.kind, durable=True)
            channel.queue_declare(case.queue.name, durable=True, arguments=case.queue.arguments)
            channel.queue_bind(case.queue.name, case.exchange.name, case.routing_key)


class Leg:
    """A publisher (confirm mode) and a consumer (manual acks) of one case, each on its own
    connection, both on one pika IOLoop. :meth:`run` keeps ``inflight`` messages between
    publish and delivery until ``count`` are delivered, confirmed and acked."""

    def __init__(self, url: str, case: Case, ioloop: IOLoop, ready: Callable[[], None]) -> None:
        self.case = case
        self.ioloop = ioloop
        self.ready = ready
        self.publisher: Channel | None = None
        self.consumer: Channel | None = None
        self.unconfirmed: set[int] = set()
        self.published = self.delivered = self.todo = self.target = 0
        self.last_tag = 0
        self.flushing = False
        parameters = pika.URLParameters(url)
        parameters.heartbeat = 0  # the loop idles between interleaved runs
        self.connections = [
            pika.SelectConnection(parameters, on_open_callback=self._open, custom_ioloop=ioloop)
            for _ in range(2)
        ]

    def _open(self, connection: pika.SelectConnection) -> None:
        if connection is self.connections[0]:
            connection.channel(on_open_callback=self._publishing)
        else:
            connection.channel(on_open_callback=self._consuming)

    def _publishing(self, channel: Channel) -> None:
        channel.confirm_delivery(
            self._on_confirm, callback=lambda _: self._ready(publisher=channel)
        )

    def _consuming(self, channel: Channel) -> None:
        def qos_done(_: Any) -> None:
            channel.basic_consume(self.case.queue.name, self._on_delivery)
            self._ready(consumer=channel)

        channel.basic_qos(prefetch_count=PREFETCH, callback=qos_done)

    def _ready(self, publisher: Channel | None = None, consumer: Channel | None = None) -> None:
        self.publisher = publisher or self.publisher
        self.consumer = consumer or self.consumer
        if self.publisher is not None and self.consumer is not None:
            self.ready()

    def _publish(self) -> None:
        assert self.publisher is not None
        self.todo -= 1
        body, props = self.case.message(self.todo)
        self.publisher.basic_publish(
            self.case.exchange.name, self.case.routing_key, body, props, mandatory=True
        )
        self.published += 1
        self.unconfirmed.add(self.published)

    def _on_confirm(self, frame: Any) -> None:
        method = frame.method
        if not isinstance(method, Basic.Ack):
            raise RuntimeError(f"the broker refused a message to {self.case.queue.name}: {method}")
        if method.multiple:
            self.unconfirmed = {t for t in self.unconfirmed if t > method.delivery_tag}
        else:
            self.unconfirmed.discard(method.delivery_tag)
        self._maybe_done()

    def _on_delivery(self, channel: Channel, method: Any, props: Any, body: bytes) -> None:
        self.delivered += 1
        self.last_tag = method.delivery_tag
        if not self.flushing:  # the acks of this loop turn go as one, when the turn ends
            self.flushing = True
            self.ioloop.call_later(0, self._flush)
        if self.todo > 0:
            self._publish()

    def _flush(self) -> None:
        assert self.consumer is not None
        self.flushing = False
        self.consumer.basic_ack(self.last_tag, multiple=True)
        self._maybe_done()

    def _maybe_done(self) -> None:
        done = self.todo == 0 and self.delivered == self.target
        if done and not self.unconfirmed and not self.flushing:
            self.ioloop.stop()

    def run(self, inflight: int, count: int) -> float:
        """Send ``count`` messages with ``inflight`` outstanding; the seconds it took."""
        self.todo, self.delivered, self.target = count, 0, count
        started = time.perf_counter()
        for _ in range(min(inflight, count)):
            self._publish()
        self.ioloop.start()
        return time.perf_counter() - started

    def close(self) -> None:
        for connection in self.connections:
            if connection.is_open:
                connection.close()


def open_legs(url: str, chosen: list[Case]) -> list[Leg]:
    """A :class:`Leg` per case on one IOLoop, each publishing and consuming when this returns."""
    ioloop = IOLoop()
    waiting = len(chosen)

    def ready() -> None:
        nonlocal waiting
        waiting -= 1
        if waiting == 0:
            ioloop.stop()

    legs = [Leg(url, case, ioloop, ready) for case in chosen]
    ioloop.start()
    return legs


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (fields 14 and 15 of its stat)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # after the command name, which may hold spaces
    return (int(fields[11]) + int(fields[12])) / TICKS


@dataclass(frozen=True)
class Run:
    case: str
    inflight: int
    messages: int
    wall: float  # seconds
    cpu: float  # the node's CPU seconds over the run
    client: float  # this process's CPU seconds (the publisher and the consumer)
    load: float  # 1-minute load average at the end

    @property
    def us_per_message(self) -> float:
        return self.cpu / self.messages * 1e6

    @property
    def client_us_per_message(self) -> float:
        return self.client / self.messages * 1e6

    @property
    def rate(self) -> float:
        return self.messages / self.wall


def measure(leg: Leg, pid: int, inflight: int, count: int) -> Run:
    before, ours = cpu_seconds(pid), os.times()
    wall = leg.run(inflight, count)
    cpu = cpu_seconds(pid) - before
    client = sum(os.times()[:2]) - sum(ours[:2])
    return Run(leg.case.key, inflight, count, wall, cpu, client, os.getloadavg()[0])


def interleaved(legs: list[Leg], pid: int, repeat: int, counts: dict[int, int]) -> list[Run]:
    """Every case at one level, in a rotating order, then the next level, ``repeat`` times."""
    for leg in legs:  # warm-up: the queues' first segments, the connections' buffers
        leg.run(max(INFLIGHT), 300)
    runs: list[Run] = []
    total = repeat * len(legs) * sum(counts.values())
    with tqdm(total=total, desc="messages", unit="msg", leave=False) as progress:
        for rep in range(repeat):
            for inflight in INFLIGHT:
                shift = (rep + inflight) % len(legs)
                for leg in legs[shift:] + legs[:shift]:
                    runs.append(measure(leg, pid, inflight, counts[inflight]))
                    progress.update(counts[inflight])
    return runs


def idle_us_per_s(pid: int, seconds: float = 2.0) -> float:
    """The node's CPU microseconds per second with nothing sent: its background ticking."""
    before = cpu_seconds(pid)
    time.sleep(seconds)
    return (cpu_seconds(pid) - before) / seconds * 1e6


def table(runs: list[Run], chosen: list[Case]) -> str:
    lines = [
        "| queue, as the mesh uses it | in flight | broker CPU us/msg (range) | msg/s (range) "
        "| client CPU us/msg |",
        "|---|---|---|---|---|",
    ]
    for inflight in INFLIGHT:
        for case in chosen:
            mine = [r for r in runs if r.case == case.key and r.inflight == inflight]
            us = [r.us_per_message for r in mine]
            rates = [r.rate for r in mine]
            lines.append(
                f"| {case.label} | {inflight} | {statistics.median(us):,.0f} "
                f"({min(us):,.0f}-{max(us):,.0f}) | {statistics.median(rates):,.0f} "
                f"({min(rates):,.0f}-{max(rates):,.0f}) "
                f"| {statistics.median(r.client_us_per_message for r in mine):,.0f} |"
            )
    return "\n".join(lines)


def per_request(runs: list[Run]) -> str:
    """A mesh request's four legs: two through quorum queues, one persistent reply to the
    transport and one transient answer to the core (the medians summed)."""
    lines = []
    for inflight in INFLIGHT:

        def median(key: str, inflight: int = inflight) -> float:
            mine = [r.us_per_message for r in runs if r.case == key and r.inflight == inflight]
            return statistics.median(mine)

        total = 2 * median("quorum") + median("classic") + median("transient")
        lines.append(f"- {inflight} in flight: 2 x quorum + classic + transient = {total:,.0f} us")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="interleaved repetitions")
    parser.add_argument("--messages", type=int, default=1200, help="per run at 1 in flight")
    parser.add_argument("--burst", type=int, default=4000, help="per run at 32 in flight")
    args = parser.parse_args(argv)
    counts = {1: args.messages, 32: args.burst}
    with tempfile.TemporaryDirectory(prefix="botwerk-broker-cost-") as tmp:
        node = ThrowawayBroker(Path(tmp) / "node")
        booted = node.start()
        try:
            pid = node.pid()
            ns = f"cost-{os.getpid()}"
            chosen = cases(ns)
            declare(node.url, ns, chosen)
            idle = idle_us_per_s(pid)
            load_before = os.getloadavg()[0]
            legs = open_legs(node.url, chosen)
            version = legs[0].connections[0].server_properties.get("version", b"?")
            runs = interleaved(legs, pid, args.repeat, counts)
            for leg in legs:
                leg.close()
        finally:
            node.stop()
    loads = [load_before, *(r.load for r in runs)]
    version = version.decode() if isinstance(version, bytes) else version
    print(
        f"\nbroker CPU per message: throwaway RabbitMQ {version} node (booted in {booted:.1f} s), "
        f"{os.cpu_count()} CPUs, {args.repeat} interleaved repetitions, {counts[1]:,} messages "
        f"per run at 1 in flight and {counts[32]:,} at 32; load average (1 min) "
        f"{min(loads):.2f}-{max(loads):.2f}; the idle node used {idle:,.0f} us of CPU per second\n"
    )
    print(table(runs, chosen))
    print("\nbroker CPU per mesh request (medians summed):")
    print(per_request(runs))


if __name__ == "__main__":
    main()
