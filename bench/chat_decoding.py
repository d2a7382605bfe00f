"""chat decoding: replies per second, batched against one-at-a-time, at 1, 8 and 32 requests.

    python bench/chat_decoding.py [--model NAME[@VERSION] --models URL] [--modes greedy beam]

Takes a stored chat model, or (without ``--model``) trains the demo config on chatterbot-corpus's
English dialogs into a temporary store first (``--train-seconds``, 60 by default). Then, for
each decoding mode and each concurrency C, C different prompts arrive together and are answered
two ways, in the same run and on the same model:

- batched: all C in one ``Responder.reply`` call, as the worker's batcher hands them over;
- one at a time: the same C prompts answered one after the other (the baseline).

Prints replies per second and the median and p99 latency of one reply from the moment the C
arrived to the moment it was ready, and checks that both ways gave the same replies. No broker;
the device is ``--device`` (auto: the GPU when present).
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

from botwerk.workers.chat.config import DEMO_CONFIG
from botwerk.workers.chat.decode import Answer, Ask, Responder
from botwerk.workers.chat.train import train
from botwerk.workers.corpora.chatterbot import chatterbot_dialogs
from botwerk.workers.corpora.dialogs import pairs
from botwerk.workers.store import ModelStore

CONCURRENCY = (1, 8, 32)


def train_small(store: ModelStore, seconds: float, device: str) -> str:
    with tempfile.TemporaryDirectory() as work:
        result = train(pairs(chatterbot_dialogs()), Path(work), DEMO_CONFIG, device=device,
                       log=lambda _: None, max_seconds=seconds)  # fmt: skip
        manifest = store.publish("bench", "chat", result.folder, metrics=result.metrics)
    print(f"trained {manifest.spec}: {result.metrics['seconds']:.0f} s, "
          f"test BLEU {result.metrics['test_bleu']:.2f}")  # fmt: skip
    return manifest.spec


def asks_for(count: int, mode: str) -> list[Ask]:
    prompts = sorted({p.prompt for p in pairs(chatterbot_dialogs())})
    return [Ask(prompts[i * 37 % len(prompts)], mode=mode, beam=4) for i in range(count)]  # type: ignore[arg-type]


def batched(responder: Responder, asks: list[Ask]) -> tuple[list[Answer], list[float]]:
    started = time.perf_counter()
    answers = responder.reply(asks)
    return answers, [time.perf_counter() - started] * len(asks)


def one_at_a_time(responder: Responder, asks: list[Ask]) -> tuple[list[Answer], list[float]]:
    started = time.perf_counter()
    answers, latencies = [], []
    for ask in asks:
        answers += responder.reply([ask])
        latencies.append(time.perf_counter() - started)  # since all of them arrived
    return answers, latencies


def measure(
    responder: Responder, modes: list[str], rounds: int
) -> list[tuple[str, str, int, dict]]:
    rows = []
    progress = tqdm(total=len(modes) * len(CONCURRENCY) * 2 * rounds, desc="decoding", leave=False)
    for mode in modes:
        for count in CONCURRENCY:
            asks = asks_for(count, mode)
            responder.reply(asks)  # warm-up at this batch size
            answers: dict[str, list[Answer]] = {}
            for way, run in (("batched", batched), ("one at a time", one_at_a_time)):
                latencies, seconds = [], 0.0
                for _ in range(rounds):
                    answers[way], each = run(responder, asks)
                    latencies += each
                    seconds += max(each)
                    progress.update()
                rows.append((mode, way, count, {"per_s": rounds * count / seconds,
                                                "latencies": latencies}))  # fmt: skip
            rows[-1][3]["same"] = answers["batched"] == answers["one at a time"]
    progress.close()
    return rows


def _row(mode: str, way: str, count: int, figures: dict) -> str:
    ms = sorted(x * 1000 for x in figures["latencies"])
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    same = {True: "yes", False: "NO"}.get(figures.get("same"), "")
    return (f"{mode:<7}{count:>4}  {way:<15}{figures['per_s']:>11,.1f}"
            f"{statistics.median(ms):>12.1f}{p99:>10.1f}  {same}")  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="a stored chat NAME[@VERSION] (default: train one)")
    parser.add_argument("--models", default="file://./models", help="the model store URL")
    parser.add_argument("--train-seconds", type=float, default=60.0)
    parser.add_argument("--modes", nargs="+", default=["greedy", "beam"],
                        choices=["greedy", "sample", "beam"])  # fmt: skip
    parser.add_argument("--rounds", type=int, default=3, help="repeats of each measurement")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        store = ModelStore(args.models if args.model else tmp)
        spec = args.model or train_small(store, args.train_seconds, args.device)
        stored = store.open(spec, kind="chat")
        responder = Responder.from_folder(stored.path, args.device)
        rows = measure(responder, args.modes, args.rounds)
    model = responder.model.args
    print(
        f"\nchat decoding, {stored.manifest.spec} (hidden {model.hidden} x {model.layers}, "
        f"vocab {model.vocab_size}, replies up to {responder.config.max_len} tokens, beam 4), "
        f"on {responder.device}, {torch.get_num_threads()} torch threads, {args.rounds} rounds"
    )
    print(f"{'mode':<7}{'C':>4}  {'way':<15}{'replies/s':>11}{'median ms':>12}{'p99 ms':>10}"
          "  same replies")  # fmt: skip
    for row in rows:
        print(_row(*row))


if __name__ == "__main__":
    main()
