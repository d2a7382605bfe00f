"""Latency through a live rollout: a charrnn worker switching versions under steady load.

    python bench/rollout.py [--rate 50] [--seconds 8] [--rounds 3] [--length 40]

Trains a small charrnn on gensim's Lee corpus into a temporary store (``--train-seconds``),
starts ``botwerk worker charrnn --model bench`` as its own process, and calls it from this
script as a core does (publisher confirms, deadlines, the worker's batching) at ``--rate``
requests a second. Each round publishes the next version (the same weights: the switch, not the
model, is measured) and announces it as ``botwerk train`` does, then keeps the load on until
``--seconds`` after the first answer from the new version. Requests are grouped by when they
were sent: before the announcement, during the switch (until the first answer from the new
version: loading and warming it beside the old one) and after. Rounds repeat the three phases
in turn, so each phase sees the same machine; the table gives, per phase, the median over
rounds of each round's p50 and p99, and the load average seen at the start of each round.
Needs RabbitMQ at BOTWERK_AMQP_URL (default amqp://guest:guest@127.0.0.1:5672/).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from botwerk.infra import topology
from botwerk.infra.bus import now_ms
from botwerk.infra.rabbit import RabbitBus
from botwerk.infra.rpc import Replies, Rpc
from botwerk.infra.settings import Settings
from botwerk.schemas.models.charrnn import CharRNNInput
from botwerk.testing import admin
from botwerk.workers.rollout import announce_published_now
from botwerk.workers.store import ModelStore
from tests.support.processes import Processes

URL = os.environ.get("BOTWERK_AMQP_URL") or "amqp://guest:guest@127.0.0.1:5672/"
PHASES = ("before", "during", "after")


def train_small(store: ModelStore, seconds: float) -> Path:
    from gensim.test.utils import datapath

    from botwerk.workers.charrnn.config import DEMO_CONFIG
    from botwerk.workers.charrnn.train import train

    text = Path(datapath("lee_background.cor")).read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory() as work:
        result = train(text, Path(work), DEMO_CONFIG, device="cpu", progress=True,
                       log=lambda _: None, max_seconds=seconds)  # fmt: skip
        store.publish("bench", "charrnn", result.folder, metrics=result.metrics)
    return store.open("bench@1").path


class Load:
    """Calls at a steady rate; each answer: (sent at, latency s, version) or a failure."""

    def __init__(self, rpc: Rpc, rate: float, length: int) -> None:
        self.rpc, self.rate, self.length = rpc, rate, length
        self.answers: list[tuple[float, float, str]] = []
        self.failures: list[str] = []
        self.awaited, self.arrived = "", asyncio.Event()  # the first answer from a version
        self._tasks: set[asyncio.Task[None]] = set()

    async def run_until(self, done: asyncio.Event) -> None:
        started, n = time.monotonic(), 0
        while not done.is_set():
            await asyncio.sleep(max(0.0, started + n / self.rate - time.monotonic()))
            task = asyncio.create_task(self._one(n))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            n += 1
        await asyncio.gather(*self._tasks)

    async def _one(self, n: int) -> None:
        asked = CharRNNInput(prime="The ", length=self.length, seed=n).to_inputs()
        sent = time.monotonic()
        try:
            reply = await self.rpc.infer("charrnn", asked, deadline_ms=now_ms() + 10_000)
        except Exception as exc:
            self.failures.append(f"{type(exc).__name__}: {exc}")
            return
        self.answers.append((sent, time.monotonic() - sent, reply.version))
        if reply.version == self.awaited:
            self.arrived.set()


async def one_round(rpc: Rpc, args: argparse.Namespace, publish: Any, new: str) -> dict[str, Any]:
    """Load, publish and announce ``new`` (the next version), load; figures by phase."""
    load, done = Load(rpc, args.rate, args.length), asyncio.Event()
    running = asyncio.create_task(load.run_until(done))
    loadavg = os.getloadavg()[0]
    await asyncio.sleep(args.seconds)
    announced = time.monotonic()
    load.awaited = new  # before publishing: its first answer may come at once
    published = await asyncio.to_thread(publish)
    assert published == new, f"published {published}, expected {new}"
    await load.arrived.wait()
    first_new = min(sent + took for sent, took, v in load.answers if v == new)
    await asyncio.sleep(args.seconds)
    done.set()
    await running
    phases: dict[str, list[float]] = {phase: [] for phase in PHASES}
    for sent, took, _ in load.answers:
        phase = "before" if sent < announced else "during" if sent < first_new else "after"
        phases[phase].append(took * 1000)
    return {"phases": phases, "switch_s": first_new - announced, "loadavg": loadavg,
            "failures": len(load.failures)}  # fmt: skip


async def bench(args: argparse.Namespace, tmp: Path) -> list[dict[str, Any]]:
    store = ModelStore(f"file://{tmp / 'models'}")
    weights = train_small(store, args.train_seconds)
    settings = Settings.load(
        namespace=f"bench-{uuid.uuid4().hex[:6]}", amqp_url=URL, models=store.url
    )
    names = topology.Names(settings.namespace)
    env = {"BOTWERK_AMQP_URL": URL, "BOTWERK_NAMESPACE": settings.namespace,
           "BOTWERK_MODELS": store.url, "BOTWERK_INSTANCE": "bench", "BOTWERK_LOG_LEVEL": "INFO",
           "BOTWERK_DEVICE": "cpu"}  # fmt: skip
    processes = Processes(env, tmp)
    bus = RabbitBus(settings, role="test", name="bench-rollout")

    def publish() -> str:
        manifest = store.publish("bench", "charrnn", weights)
        announce_published_now(settings, manifest)
        return manifest.spec

    try:
        processes.start("worker", "charrnn", "--model", "bench")
        for queue in (names.infer_queue("charrnn"), f"{names.events}.worker.charrnn-bench"):
            admin.wait_for_consumers(URL, queue, timeout=120)
        await bus.start(timeout=10)
        replies = Replies(bus, names, names.reply_queue("core", "bench"))
        await replies.start()
        rpc = Rpc(bus, names, replies)
        rounds = []
        for i in range(args.rounds):
            print(f"round {i + 1}/{args.rounds} ...", file=sys.stderr)
            rounds.append(await one_round(rpc, args, publish, f"bench@{i + 2}"))
        return rounds
    finally:
        await bus.close()
        processes.stop_all()
        admin.sweep(URL, settings.namespace)


def _pct(ms: list[float], q: float) -> float:
    ms = sorted(ms)
    return ms[min(len(ms) - 1, int(len(ms) * q))] if ms else float("nan")


def report(rounds: list[dict[str, Any]], args: argparse.Namespace) -> None:
    loads = ", ".join(f"{r['loadavg']:.2f}" for r in rounds)
    switch = statistics.median(r["switch_s"] for r in rounds)
    print(
        f"\ncharrnn rollout under load: {args.rate:g} req/s, {args.length} chars each, "
        f"{args.rounds} rounds, {os.cpu_count()} CPUs, load average at each round: {loads}"
    )
    print(f"switch (announce -> first answer from the new version): median {switch:.2f} s; "
          f"failed: {sum(r['failures'] for r in rounds)}")  # fmt: skip
    print(f"{'phase':<8}{'requests':>10}{'p50 ms':>10}{'p99 ms':>10}   (medians over rounds)")
    for phase in PHASES:
        counts = sum(len(r["phases"][phase]) for r in rounds)
        p50 = statistics.median(_pct(r["phases"][phase], 0.5) for r in rounds)
        p99 = statistics.median(_pct(r["phases"][phase], 0.99) for r in rounds)
        print(f"{phase:<8}{counts:>10}{p50:>10.1f}{p99:>10.1f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=50.0, help="requests a second")
    parser.add_argument("--seconds", type=float, default=8.0, help="load before and after")
    parser.add_argument("--rounds", type=int, default=3, help="switches measured")
    parser.add_argument("--length", type=int, default=40, help="characters per request")
    parser.add_argument("--train-seconds", type=float, default=10.0)
    args = parser.parse_args(argv)
    if (why := admin.reachable(URL)) is not None:
        fix = "start RabbitMQ with `rabbitmq-server -detached`"
        sys.exit(f"BOTWERK_AMQP_URL {URL} unreachable ({why}): {fix}")
    with tempfile.TemporaryDirectory() as tmp:
        rounds = asyncio.run(bench(args, Path(tmp)))
    report(rounds, args)


if __name__ == "__main__":
    main()
