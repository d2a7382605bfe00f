"""charrnn generation: batched against one-at-a-time, at 1, 8 and 32 concurrent requests.

    python bench/charrnn_generation.py [--model NAME[@VERSION] --models URL] [--length 200]

Takes a stored charrnn model, or (without ``--model``) trains the demo config on gensim's Lee
corpus into a temporary store first (``--train-seconds``, 20 by default). Then, for each
concurrency C, C requests arrive together (different primes, the same length, each with its
own seed) and are answered two ways, in the same run and on the same model:

- batched: all C in one ``Generator.generate`` call, as the worker's batcher hands them over;
- one at a time: the same C requests generated one after the other.

Prints characters per second over all C requests, and the median and p99 latency of one
request from the moment the C arrived to the moment its text was ready (one at a time, the
last request waits for all the others). Also checks that both ways gave the same texts.
No broker; the device is ``--device`` (auto: the GPU when present).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from botwerk.workers.charrnn.config import DEMO_CONFIG
from botwerk.workers.charrnn.generate import Generator
from botwerk.workers.charrnn.serve import CharRNNInput
from botwerk.workers.charrnn.train import train
from botwerk.workers.store import ModelStore

CONCURRENCY = (1, 8, 32)


def lee_text() -> str:
    from gensim.test.utils import datapath

    return Path(datapath("lee_background.cor")).read_text(encoding="utf-8")


def train_small(store: ModelStore, seconds: float, device: str) -> str:
    with tempfile.TemporaryDirectory() as work:
        result = train(lee_text(), Path(work), DEMO_CONFIG, device=device, progress=True,
                       log=lambda _: None, max_seconds=seconds)  # fmt: skip
        manifest = store.publish("bench", "charrnn", result.folder, metrics=result.metrics)
    loss = result.metrics["val_loss"]
    print(f"trained {manifest.spec}: {result.metrics['seconds']:.0f} s, val loss {loss:.3f}")
    return manifest.spec


def requests_for(count: int, length: int) -> list[CharRNNInput]:
    text = lee_text()
    primes = [text[i * 997 : i * 997 + (i * 7) % 41] for i in range(count)]  # 0 to 40 chars
    return [CharRNNInput(prime=p, length=length, seed=i) for i, p in enumerate(primes)]


def batched(generator: Generator, requests: list[CharRNNInput]) -> tuple[list[str], list[float]]:
    started = time.perf_counter()
    texts = generator.generate(list(requests))
    return texts, [time.perf_counter() - started] * len(requests)


def one_at_a_time(
    generator: Generator, requests: list[CharRNNInput]
) -> tuple[list[str], list[float]]:
    started = time.perf_counter()
    texts, latencies = [], []
    for request in requests:
        texts += generator.generate([request])
        latencies.append(time.perf_counter() - started)  # since all of them arrived
    return texts, latencies


def measure(generator: Generator, length: int, rounds: int) -> list[tuple[str, int, dict]]:
    rows = []
    progress = tqdm(total=len(CONCURRENCY) * 2 * rounds, desc="generating", leave=False)
    for count in CONCURRENCY:
        requests = requests_for(count, length)
        generator.generate(requests)  # warm-up at this batch size
        texts: dict[str, list[str]] = {}
        for way, run in (("batched", batched), ("one at a time", one_at_a_time)):
            latencies, seconds = [], 0.0
            for _ in range(rounds):
                texts[way], each = run(generator, requests)
                latencies += each
                seconds += max(each)
                progress.update()
            figures = {"chars_per_s": rounds * count * length / seconds, "latencies": latencies}
            rows.append((way, count, figures))
        rows[-1][2]["same"] = texts["batched"] == texts["one at a time"]
    progress.close()
    return rows


def _row(way: str, count: int, figures: dict) -> str:
    ms = sorted(x * 1000 for x in figures["latencies"])
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    same = {True: "yes", False: "NO"}.get(figures.get("same"), "")
    return (f"{count:>4}  {way:<15}{figures['chars_per_s']:>12,.0f}"
            f"{statistics.median(ms):>12.1f}{p99:>10.1f}  {same}")  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="a stored charrnn NAME[@VERSION] (default: train one)")
    parser.add_argument("--models", default="file://./models", help="the model store URL")
    parser.add_argument("--train-seconds", type=float, default=20.0)
    parser.add_argument("--length", type=int, default=200, help="characters per request")
    parser.add_argument("--rounds", type=int, default=3, help="repeats of each measurement")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        store = ModelStore(args.models if args.model else tmp)
        spec = args.model or train_small(store, args.train_seconds, args.device)
        stored = store.open(spec, kind="charrnn")
        generator = Generator.from_folder(stored.path, args.device)
        rows = measure(generator, args.length, args.rounds)
    model = generator.model.args
    print(
        f"\ncharrnn generation, {stored.manifest.spec} (hidden {model.hidden} x {model.layers}, "
        f"vocab {model.vocab_size}), {args.length} chars per request, on {generator.device}, "
        f"{torch.get_num_threads()} torch threads, {args.rounds} rounds"
    )
    print(f"{'C':>4}  {'way':<15}{'chars/s':>12}{'median ms':>12}{'p99 ms':>10}  same text")
    for row in rows:
        print(_row(*row))


if __name__ == "__main__":
    main()
