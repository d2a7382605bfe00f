"""word2vec query latency through the mesh, against the same gensim call made in-process.

    python bench/word2vec_queries.py [--queries 1000] [--topn 10] [--inflight 32]
    python bench/word2vec_queries.py --vectors GoogleNews-vectors-negative300.bin --limit 500000

Builds a temporary model store holding the demo word2vec model (trained on gensim's
``lee_background.cor`` with ``DEMO_CONFIG``, a few seconds) or the vectors of ``--vectors``,
then asks the same ``most_similar`` queries two ways, in one run:

- direct (the baseline): ``KeyedVectors.most_similar`` in this process, on the same
  memory-mapped matrix the worker serves.
- botwerk: a ``botwerk worker word2vec --model NAME`` process (BOTWERK_MODELS = the temporary
  store), called with ``infra.rpc.Rpc`` over RabbitMQ: quorum queue, persistent request,
  publisher confirms, schema validation, deadline, batching.

Prints median and p99 latency of one query at a time, and queries per second with
``--inflight`` outstanding (the worker batches them). Both paths' answers are checked equal.
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

from gensim.test.utils import datapath
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from botwerk.infra import topology
from botwerk.infra.bus import now_ms
from botwerk.infra.rabbit import RabbitBus
from botwerk.infra.rpc import Replies, Rpc
from botwerk.infra.settings import Settings
from botwerk.testing import admin
from botwerk.workers.store import ModelStore
from botwerk.workers.word2vec.config import DEMO_CONFIG
from botwerk.workers.word2vec.model import Vectors
from botwerk.workers.word2vec.train import import_vectors, train
from tests.support.processes import Processes

URL = os.environ.get("BOTWERK_AMQP_URL") or "amqp://guest:guest@127.0.0.1:5672/"
NAME = "bench-vectors"


def build_store(root: Path, vectors: Path | None, limit: int | None) -> tuple[Path, float]:
    """A store holding NAME; the seconds it took to train or import."""
    if vectors is None:
        result = train(Path(datapath("lee_background.cor")), root / "built", DEMO_CONFIG)
    else:
        result = import_vectors(vectors, root / "built", limit=limit)
    store = ModelStore(str(root / "store"))
    store.publish(NAME, "word2vec", result.folder, metrics=result.metrics, config=result.config)
    return root / "store", result.metrics["seconds"]


def pick_queries(vectors: Vectors, count: int) -> list[str]:
    """``count`` words, cycling through ranks 20-2020: frequent, but past the stop words."""
    words = vectors.kv.index_to_key[20:2020]
    return [words[i % len(words)] for i in range(count)]


def bench_direct(vectors: Vectors, queries: list[str], topn: int) -> tuple[list[float], list]:
    kv = vectors.kv
    for word in queries[:100]:  # warm-up
        kv.most_similar(word, topn=topn)
    latencies, answers = [], []
    for word in tqdm(queries, desc="direct gensim", leave=False):
        started = time.perf_counter()
        answers.append(kv.most_similar(word, topn=topn))
        latencies.append(time.perf_counter() - started)
    return latencies, answers


async def bench_mesh(
    store: Path, queries: list[str], topn: int, inflight: int, tmp: Path
) -> tuple[list[float], list, float]:
    settings = Settings.load(namespace=f"bench-{uuid.uuid4().hex[:6]}", amqp_url=URL)
    names = topology.Names(settings.namespace)
    env = {"BOTWERK_AMQP_URL": URL, "BOTWERK_NAMESPACE": settings.namespace,
           "BOTWERK_MODELS": str(store), "BOTWERK_LOG_LEVEL": "WARNING"}  # fmt: skip
    processes = Processes(env, tmp)
    bus = RabbitBus(settings, role="test", name="bench-word2vec")
    try:
        processes.start("worker", "word2vec", "--model", NAME)
        admin.wait_for_consumers(URL, names.infer_queue("word2vec"))
        await bus.start(timeout=10)
        replies = Replies(bus, names, names.reply_queue("bench", settings.instance))
        await replies.start()
        rpc = Rpc(bus, names, replies)

        async def ask(word: str) -> list:
            inputs = {"op": "most_similar", "positive": [word], "topn": topn}
            reply = await rpc.infer("word2vec", inputs, deadline_ms=now_ms() + 10_000)
            return reply.outputs["results"]

        for word in queries[:100]:  # warm-up
            await ask(word)
        latencies, answers = [], []
        for word in tqdm(queries, desc="botwerk mesh, one at a time", leave=False):
            started = time.perf_counter()
            answers.append(await ask(word))
            latencies.append(time.perf_counter() - started)
        throughput = await _load(ask, queries, inflight)
        return latencies, answers, throughput
    finally:
        await bus.close()
        processes.stop_all()
        admin.sweep(URL, settings.namespace)


async def _load(ask, queries: list[str], inflight: int) -> float:
    slots = asyncio.Semaphore(inflight)
    progress = tqdm(total=len(queries), desc=f"botwerk mesh, {inflight} in flight", leave=False)

    async def one(word: str) -> None:
        async with slots:
            await ask(word)
            progress.update()

    started = time.perf_counter()
    await asyncio.gather(*(one(word) for word in queries))
    progress.close()
    return len(queries) / (time.perf_counter() - started)


def _row(name: str, latencies: list[float], throughput: float | None) -> str:
    ms = sorted(x * 1000 for x in latencies)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    rate = f"{throughput:>12,.0f}" if throughput else f"{1000 / statistics.mean(ms):>12,.0f}"
    return f"{name:<26}{statistics.median(ms):>10.3f}{p99:>10.3f}{rate}"


def _same(direct: list, mesh: list) -> bool:
    return all(
        [w for w, _ in d] == [w for w, _ in m]
        and all(abs(a - b) < 1e-5 for (_, a), (_, b) in zip(d, m, strict=True))
        for d, m in zip(direct, mesh, strict=True)
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queries", type=int, default=1000, help="most_similar queries")
    parser.add_argument("--topn", type=int, default=10)
    parser.add_argument("--inflight", type=int, default=32, help="queries outstanding under load")
    parser.add_argument("--vectors", type=Path, help="word2vec file to import instead of training")
    parser.add_argument("--limit", type=int, help="with --vectors: keep the first N words")
    args = parser.parse_args(argv)
    if (why := admin.reachable(URL)) is not None:
        fix = "start RabbitMQ with `rabbitmq-server -detached`"
        sys.exit(f"BOTWERK_AMQP_URL {URL} unreachable ({why}): {fix}")
    with tempfile.TemporaryDirectory(prefix="botwerk-w2v-bench-") as tmp:
        store, build_s = build_store(Path(tmp), args.vectors, args.limit)
        vectors = Vectors.open(store / NAME / "1")
        queries = pick_queries(vectors, args.queries)
        direct, direct_answers = bench_direct(vectors, queries, args.topn)
        mesh = asyncio.run(bench_mesh(store, queries, args.topn, args.inflight, Path(tmp)))
        words, size = len(vectors), vectors.kv.vector_size
    print(
        f"\nword2vec most_similar (topn={args.topn}), {words:,} words x {size} dimensions "
        f"(built in {build_s:.1f} s), {args.queries} queries, {os.cpu_count()} CPUs"
    )
    print(f"{'':<26}{'median ms':>10}{'p99 ms':>10}{'queries/s':>12}")
    print(_row("direct gensim (baseline)", direct, None))
    print(_row("botwerk mesh, 1 at a time", mesh[0], 1 / statistics.mean(mesh[0])))
    print(f"{'botwerk mesh, ' + str(args.inflight) + ' in flight':<46}{mesh[2]:>12,.0f}")
    print(f"same answers both ways: {_same(direct_answers, mesh[1])}")


if __name__ == "__main__":
    main()
