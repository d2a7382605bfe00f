"""chat BLEU: cross-entropy training, then SCST fine-tuning, on chatterbot-corpus's dialogs.

    python bench/chat_rl.py [--ce-epochs 8 40] [--rl-epochs 10] [--samples 5] [--device auto]

For each number of cross-entropy epochs, trains the demo-sized chat model by cross-entropy on
the English dialogs of chatterbot-corpus (the baseline), then fine-tunes it by self-critical
sequence training from that checkpoint, in the same run, on the same split (by the tokenised
prompt, so no test prompt is ever trained on; every reply the corpus has for a prompt is a
reference). Prints, for each model, the corpus BLEU-4 (0-100, smoothed, NLTK) of the greedy
replies on the validation and test prompts, the mean sentence BLEU of the greedy replies on
the training prompts (what SCST optimises), the wall time, and the epoch kept. The test set
chooses nothing: the kept epoch is the one with the best validation BLEU, so the test figures
are honest. Same numbers as ``botwerk train chat chatterbot --name chat --epochs N`` and then
``... --rl`` print. Two starting points, because a model trained long enough to reproduce its
training replies leaves SCST nothing to learn on them.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch
from msgspec.structs import replace

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from botwerk.workers.chat.config import DEMO_CONFIG, SCSTConfig
from botwerk.workers.chat.data import grouped, prepare
from botwerk.workers.chat.decode import Responder
from botwerk.workers.chat.reward import bleu
from botwerk.workers.chat.rl import finetune, mean_greedy_reward
from botwerk.workers.chat.train import train
from botwerk.workers.corpora.chatterbot import chatterbot_dialogs
from botwerk.workers.corpora.dialogs import pairs
from botwerk.workers.store import TrainResult


def train_greedy_bleu(result: TrainResult, found: list, device: str) -> float:
    responder = Responder.from_folder(result.folder, device)
    data = prepare(found, responder.config, vocab=responder.vocab)
    return mean_greedy_reward(responder, grouped(data.train), bleu)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ce-epochs", type=int, nargs="+", default=[8, 40])
    parser.add_argument("--rl-epochs", type=int, default=10)
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--rl-lr", type=float, default=SCSTConfig().lr)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    found = pairs(chatterbot_dialogs())
    quiet = {"device": args.device, "log": lambda _: None}
    scst = SCSTConfig(samples=args.samples, epochs=args.rl_epochs, lr=args.rl_lr)
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for epochs in args.ce_epochs:
            run = Path(work) / str(epochs)
            ce = train(found, run / "ce", replace(DEMO_CONFIG, epochs=epochs), **quiet)
            rl = finetune(found, ce.folder, run / "rl", scst, **quiet)
            rows += [(f"CE {epochs} epochs", ce, train_greedy_bleu(ce, found, args.device)),
                     ("  + SCST", rl, train_greedy_bleu(rl, found, args.device))]  # fmt: skip
    m = rows[0][1].metrics
    print(
        f"\nchat model on chatterbot-corpus English: {int(m['train_pairs'])} training pairs, "
        f"vocab {int(m['vocab'])}, {int(m['parameters']):,} parameters, "
        f"{torch.get_num_threads()} torch threads; SCST {args.samples} samples per prompt, "
        f"lr {args.rl_lr:g}, {args.rl_epochs} epochs"
    )
    print(f"{'model':<16}{'epochs':>7}{'kept':>6}{'seconds':>9}{'valid BLEU':>12}"
          f"{'test BLEU':>11}{'train greedy BLEU':>19}")  # fmt: skip
    for name, result, greedy in rows:
        r = result.metrics
        print(f"{name:<16}{int(r['epochs']):>7}{int(r['best_epoch']):>6}{r['seconds']:>9.0f}"
              f"{r['valid_bleu']:>12.2f}{r['test_bleu']:>11.2f}{greedy:>19.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
