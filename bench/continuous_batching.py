"""Continuous batching against whole-batch batching, under a mix of short and long requests.

    python bench/continuous_batching.py [--rounds 3] [--device auto] [--only charrnn|chat]

Each model is random-initialised at its real size config (charrnn: ``CharRNNConfig()``, an
LSTM of 512 x 2 over 100 printable characters; chat: ``ChatConfig()``, 512 x 2 encoder and
decoder, an 8,000-word vocabulary): the cost of a decode step is that of a served model, and
no training is needed. Random weights rarely pick the end token, so replies run to their length.

Two loads, each with 4 long and 12 short seeded requests (charrnn 2,000 vs 20 characters, chat
sampled replies of 100 vs 5 tokens), max batch 16, max wait 2 ms:

- together: all 16 arrive at once;
- staggered: the long ones arrive first, then a short one every time one takes alone.

Each load is served three ways, interleaved round by round (order rotated), on one model thread
as a worker serves it, no broker: ``alone`` (each short request on an idle model), ``batched``
(``workers.batching.Batcher``: a batch runs to its longest member) and ``continuous``
(``workers.continuous.ContinuousBatcher``). Prints the short requests' median and p99 latency
(from its arrival to its answer), the ratio to alone, the throughput (tokens of all requests
over the time from the first arrival to the last answer), the load average, and whether every
request got the same text both ways (seeded: it must).

Then where a short request's time goes, on the same model thread's code (``session``): the
join (a chat prompt's encoding, a char-RNN prime) of one short request against all sixteen at
once, and a step of one row against sixteen; from them, what "together" should cost a short
request against alone, before any scheduling (the median of 9 timings each).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import string
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from botwerk.workers.batching import Batcher
from botwerk.workers.charrnn.config import CharRNNConfig
from botwerk.workers.charrnn.generate import Generator
from botwerk.workers.charrnn.model import CharRNN, Vocab
from botwerk.workers.charrnn.model import ModelArgs as CharArgs
from botwerk.workers.charrnn.serve import CharRNNInput
from botwerk.workers.chat.config import ChatConfig
from botwerk.workers.chat.decode import Ask, Responder
from botwerk.workers.chat.model import ModelArgs as ChatArgs
from botwerk.workers.chat.model import Seq2Seq
from botwerk.workers.chat.tokens import SPECIALS
from botwerk.workers.chat.tokens import Vocab as Words
from botwerk.workers.continuous import ContinuousBatcher

MAX_BATCH, MAX_WAIT_MS, LONG, SHORT = 16, 2.0, 4, 12
WAYS = ("alone", "batched", "continuous")


@dataclass(frozen=True)
class Bench:
    """One model: its one-shot ``predict``, its ``session``, requests and their token counts."""

    name: str
    predict: Callable[[list[Any]], Sequence[Any]]
    session: Callable[[], Any]
    long: Callable[[int], Any]
    short: Callable[[int], Any]
    size: Callable[[Any], int]  # tokens in an answer
    about: str


def charrnn(device: torch.device) -> Bench:
    config = CharRNNConfig()
    vocab = Vocab.from_text(string.printable)
    torch.manual_seed(0)
    generator = Generator(CharRNN(CharArgs.of(vocab, config)).to(device), vocab, device)
    return Bench(
        "charrnn", generator.generate, generator.session,
        lambda i: CharRNNInput(prime=f"long {i} ", length=2000, seed=i),
        lambda i: CharRNNInput(prime=f"short {i} ", length=20, seed=100 + i),
        len, f"hidden {config.hidden} x {config.layers}, vocab {vocab.size}: 2,000 vs 20 chars",
    )  # fmt: skip


def chat(device: torch.device) -> Bench:
    config = ChatConfig()
    words = Words(SPECIALS + tuple(f"w{i}" for i in range(config.max_vocab - len(SPECIALS))))
    torch.manual_seed(0)
    responder = Responder(Seq2Seq(ChatArgs.of(words, config)).to(device).eval(), words, config,
                          device)  # fmt: skip

    def ask(i: int, tokens: int) -> Ask:
        text = " ".join(f"w{(i * 7 + j) % 900}" for j in range(3 + i % 8))
        return Ask(text, mode="sample", temperature=1.0, max_len=tokens, seed=i)

    return Bench(
        "chat", responder.reply, responder.session, lambda i: ask(i, 100),
        lambda i: ask(100 + i, 5), lambda a: a.tokens,
        f"hidden {config.hidden} x {config.layers}, vocab {words.size}: 100 vs 5 tokens, sampled",
    )  # fmt: skip


@dataclass
class Run:
    short_ms: list[float]
    tokens: int
    seconds: float
    outputs: dict[str, Any]
    load: float


async def serve(bench: Bench, way: str, staggered: bool, gap_s: float) -> Run:
    """One load served one way: latencies of the short requests, tokens, seconds, outputs."""
    load = os.getloadavg()[0]
    with ThreadPoolExecutor(1, thread_name_prefix="model") as executor:
        limits: dict[str, Any] = {"max_batch": MAX_BATCH, "max_wait_ms": MAX_WAIT_MS,
                                  "executor": executor}  # fmt: skip
        batcher: Any = (ContinuousBatcher(bench.session, **limits) if way == "continuous"
                        else Batcher(bench.predict, **limits))  # fmt: skip
        task = asyncio.create_task(batcher.run())
        started = time.perf_counter()
        outputs: dict[str, Any] = {}
        short_ms: list[float] = []

        async def ask(key: str, item: Any, delay: float) -> None:
            await asyncio.sleep(delay)
            arrived = time.perf_counter()
            outputs[key] = (await batcher.submit(item)).output
            if key.startswith("short"):
                short_ms.append((time.perf_counter() - arrived) * 1000)

        if way == "alone":
            for i in range(SHORT):
                await ask(f"short{i}", bench.short(i), 0)
        else:
            delays = [gap_s * (i + 1) if staggered else 0.0 for i in range(SHORT)]
            await asyncio.gather(
                *(ask(f"long{i}", bench.long(i), 0) for i in range(LONG)),
                *(ask(f"short{i}", bench.short(i), delays[i]) for i in range(SHORT)),
            )
        seconds = time.perf_counter() - started
        task.cancel()
    tokens = sum(bench.size(o) for o in outputs.values())
    return Run(short_ms, tokens, seconds, outputs, (load + os.getloadavg()[0]) / 2)


def measure(bench: Bench, rounds: int) -> dict[tuple[str, str], list[Run]]:
    # staggered short requests arrive one per short request's time alone (warm, the median of
    # three): 12 of them fit well inside the long ones' 100 or more steps, on any machine
    bench.predict([bench.short(0)])
    shorts = [[bench.short(i)] for i in range(3)]
    gap_s = statistics.median(_timed(bench.predict, one) for one in shorts)
    runs: dict[tuple[str, str], list[Run]] = {}
    loads = ("together", "staggered")
    progress = tqdm(total=rounds * len(WAYS) * 2, desc=bench.name, leave=False)
    for r in range(rounds):
        for load in loads:
            for way in WAYS[r % 3 :] + WAYS[: r % 3]:  # interleaved, order rotated
                run = asyncio.run(serve(bench, way, load == "staggered", gap_s))
                runs.setdefault((load, way), []).append(run)
                progress.update()
    progress.close()
    return runs


def _timed(work: Callable[..., object], *args: Any) -> float:
    started = time.perf_counter()
    work(*args)
    return time.perf_counter() - started


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def report(bench: Bench, runs: dict[tuple[str, str], list[Run]], device: torch.device) -> None:
    rounds = len(runs[("together", "alone")])
    print(f"\n{bench.name}, random-initialised real size ({bench.about}), on {device}, "
          f"{torch.get_num_threads()} torch threads, {rounds} rounds")  # fmt: skip
    print(f"{'load':<10}{'way':<12}{'short p50 ms':>13}{'p99 ms':>9}{'x alone':>9}"
          f"{'tokens/s':>10}{'x batched':>10}{'load avg':>9}  same text")  # fmt: skip
    for load in ("together", "staggered"):
        alone = statistics.median(ms for run in runs[(load, "alone")] for ms in run.short_ms)
        rates = {way: statistics.median(r.tokens / r.seconds for r in runs[(load, way)])
                 for way in WAYS[1:]}  # fmt: skip
        pairs = zip(runs[(load, "batched")], runs[(load, "continuous")], strict=True)
        same = all(a.outputs == b.outputs for a, b in pairs)
        for way in WAYS:
            ms = [x for run in runs[(load, way)] for x in run.short_ms]
            avg = statistics.mean(run.load for run in runs[(load, way)])
            rate = f"{rates[way]:>10,.0f}{rates[way] / rates['batched']:>10.2f}" if way in rates \
                else " " * 20  # fmt: skip
            mark = ("yes" if same else "NO") if way == "continuous" else ""
            print(f"{load:<10}{way:<12}{statistics.median(ms):>13.1f}{_p(ms, 0.99):>9.1f}"
                  f"{statistics.median(ms) / alone:>9.2f}{rate}{avg:>9.2f}  {mark}")  # fmt: skip


@dataclass(frozen=True)
class Parts:
    """A short request's time, part by part: joining alone / with all 16, a step of 1 / 16 rows."""

    join_one_ms: float
    join_all_ms: float
    step_one_ms: float
    step_all_ms: float
    steps: int  # a short request's steps
    repeat: int  # timings of each, of which these are the medians

    @property
    def predicted(self) -> float:
        """Together over alone, from the parts: one join of all, then its steps at 16 rows."""
        alone = self.join_one_ms + self.steps * self.step_one_ms
        return (self.join_all_ms + self.steps * self.step_all_ms) / alone


def parts(bench: Bench, repeat: int = 9) -> Parts:
    """Time the session's join and step with one short request and with the whole load."""
    steps = bench.size(bench.predict([bench.short(0)])[0])

    def timed(items: dict[int, Any]) -> tuple[float, float]:
        session = bench.session()
        join = _timed(session.add, items)
        step = _timed(session.step)  # every row runs: no request ends at its first step
        return join, step

    one = {0: bench.short(0)}
    everyone = {i: bench.long(i) for i in range(LONG)}
    everyone |= {LONG + i: bench.short(i) for i in range(SHORT)}
    timed(everyone)  # warm
    ones = [timed(one) for _ in range(repeat)]
    alls = [timed(everyone) for _ in range(repeat)]
    med = lambda xs: statistics.median(xs) * 1000  # noqa: E731
    return Parts(med(j for j, _ in ones), med(j for j, _ in alls),
                 med(s for _, s in ones), med(s for _, s in alls), steps, repeat)  # fmt: skip


def report_parts(bench: Bench, found: Parts) -> None:
    rows = LONG + SHORT
    print(f"{bench.name}: a short request's parts, median of {found.repeat}: join "
          f"{found.join_one_ms:.1f} ms "
          f"alone, {found.join_all_ms:.1f} ms with all {rows} "
          f"({found.join_all_ms / found.join_one_ms:.2f}x); a step {found.step_one_ms:.1f} ms "
          f"at 1 row, {found.step_all_ms:.1f} ms at {rows} "
          f"({found.step_all_ms / found.step_one_ms:.2f}x); {found.steps} steps: together "
          f"should take {found.predicted:.2f}x alone before any scheduling")  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved repeats of each way")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N")
    parser.add_argument("--only", choices=("charrnn", "chat"), help="one model only")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    for make in (charrnn, chat):
        if args.only in (None, make.__name__):
            bench = make(device)
            report(bench, measure(bench, args.rounds), device)
            report_parts(bench, parts(bench))


if __name__ == "__main__":
    main()
