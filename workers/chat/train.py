"""Train a chat model by cross-entropy with teacher forcing, with checkpoints and resume.

Training, then publishing what it kept::

    result = train(pairs(dialogs), Path("runs/movie"), ChatConfig(epochs=20), corpus="cornell")
    store.publish("movie", "chat", result.folder, metrics=result.metrics, config=result.config)

Each epoch shuffles the training pairs into batches of similar source length, runs the decoder
over each whole reply at once from the true previous tokens (teacher forcing), and minimises the
cross-entropy of the next token (padding ignored) with AdamW and gradient-norm clipping. After
each epoch it logs the loss, the validation loss, the greedy replies' corpus BLEU on the
validation and on the test prompts (every reference of a prompt counts), and a few sample
replies, and writes a checkpoint (also mid-epoch every ``checkpoint_minutes``); the same
``workdir`` resumes from the latest one, mid-epoch if it is one, exactly as if never stopped.

The kept model is the epoch with the best validation BLEU (then the lower validation loss),
copied to ``workdir/model`` with that epoch's figures. The test set never chooses anything, so
its BLEU is an honest estimate. :mod:`.rl` fine-tunes the result with the same loop; the
epochs, checkpoints and resume are :mod:`botwerk.workers.epochs`'s, as for every kind.

Limits: one process, one device; ``max_seconds`` stops after the step that passes it and
that epoch counts as done.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch.nn import functional as F
from tqdm import tqdm  # type: ignore[import-untyped, unused-ignore]

from botwerk.workers.chat.config import ChatConfig
from botwerk.workers.chat.data import Example, Group, Prepared, batches, grouped, prepare
from botwerk.workers.chat.decode import Responder
from botwerk.workers.chat.model import ModelArgs, Seq2Seq, load, save
from botwerk.workers.chat.reward import corpus_bleu
from botwerk.workers.chat.tokens import END, PAD, START, detokenize
from botwerk.workers.corpora.dialogs import Pair
from botwerk.workers.device import resolve_device, rng_devices
from botwerk.workers.epochs import EpochLoop, Say, Step
from botwerk.workers.store import TrainResult

SAMPLES = 3
EVAL_BATCH = 256


def train(
    found: list[Pair], workdir: Path, config: ChatConfig, *, device: str = "auto",
    progress: bool = True, log: Say = print, max_seconds: float | None = None,
    checkpoints: str | Path | None = None, on_step: Callable[[Step], None] | None = None,
) -> TrainResult:  # fmt: skip
    """Train (or resume training) on ``found``; see the module docstring."""
    resolved = resolve_device(device)
    say = tqdm.write if progress and log is print else log  # keep the bar intact
    data = prepare(found, config)
    for note in data.notes:
        say(f"chat: {note}")
    with torch.random.fork_rng(devices=rng_devices(resolved)):  # seeded, the caller's RNG untouched
        torch.manual_seed(config.seed)
        model = Seq2Seq(ModelArgs.of(data.vocab, config)).to(resolved)
        loop = CrossEntropy(Responder(model, data.vocab, config, resolved), data, say)
        loop.resume(checkpoints or workdir / "checkpoints")
        loop.run(workdir, progress, max_seconds, on_step)
    return loop.result(workdir, config.to_dict())


class ChatLoop(EpochLoop[Seq2Seq]):
    """Epochs of chat training: evaluated by validation loss and the greedy replies' BLEU."""

    label = "chat"
    unit = "pair"

    def __init__(self, responder: Responder, data: Prepared, say: Say, epochs: int, seed: int,
                 optimizer: torch.optim.Optimizer, checkpoint_minutes: float) -> None:  # fmt: skip
        super().__init__(responder.model, optimizer, say, epochs, seed,
                         checkpoint_minutes=checkpoint_minutes)  # fmt: skip
        self.responder = responder
        self.data = data
        self.valid, self.test = grouped(data.valid), grouped(data.test)

    def work(self) -> int:
        return len(self.data.train)

    def save_model(self, folder: Path) -> None:
        save(folder, self.model, self.responder.vocab, self.responder.config)

    def evaluate(self) -> dict[str, float]:
        """Validation loss, and the greedy replies' corpus BLEU on valid and test prompts."""
        self.model.eval()
        with torch.inference_mode():
            losses = [(cross_entropy(self.model, b).item(), len(b))
                      for b in batches(self.data.valid, EVAL_BATCH, random.Random(0))]  # fmt: skip
        count = sum(n for _, n in losses)
        loss = sum(value * n for value, n in losses) / count if count else math.nan
        return {"valid_loss": loss, "valid_bleu": self.bleu(self.valid),
                "test_bleu": self.bleu(self.test)}  # fmt: skip

    def score(self, figures: dict[str, float]) -> tuple[float, ...]:
        return (figures["valid_bleu"], -figures["valid_loss"])

    def bleu(self, groups: list[Group]) -> float:
        replies = self.greedy([g.src for g in groups])
        return corpus_bleu(replies, [g.references for g in groups])

    def greedy(self, sources: list[list[int]]) -> list[list[str]]:
        """Greedy replies as tokens, in batches."""
        r, out = self.responder, []
        for start in range(0, len(sources), EVAL_BATCH):
            chunk = sources[start : start + EVAL_BATCH]
            out += [r.vocab.decode(ids) for ids in r.greedy(chunk, [r.config.max_len] * len(chunk))]
        return out

    def report(self, epoch: int, figures: dict[str, float]) -> None:
        super().report(epoch, figures)
        for group in self.valid[:SAMPLES]:
            [reply] = self.greedy([group.src])
            self.say(f"  {detokenize(group.text.split())!r} -> {detokenize(reply)!r}")

    def same_shape(self, checkpoint: Path) -> Seq2Seq | None:
        model, vocab, _ = load(checkpoint, self.responder.device)
        same = vocab == self.responder.vocab and model.args == self.model.args
        return model if same else None

    def result(self, workdir: Path, config: dict[str, Any]) -> TrainResult:
        """The best epoch's model in ``workdir/model``, with its figures."""
        folder = self.keep_best(workdir)
        best = {k: v for k, v in self.done.best_figures().items() if k != "epoch"}
        metrics = best | super().metrics() | {
            "vocab": float(self.responder.vocab.size), "train_pairs": float(len(self.data.train)),
        }  # fmt: skip
        return TrainResult(folder, metrics, config)


class CrossEntropy(ChatLoop):
    """Teacher-forced next-token cross-entropy."""

    def __init__(self, responder: Responder, data: Prepared, say: Say) -> None:
        c = responder.config
        optimizer = torch.optim.AdamW(
            responder.model.parameters(), lr=c.lr, weight_decay=c.weight_decay
        )
        super().__init__(responder, data, say, c.epochs, c.seed, optimizer, c.checkpoint_minutes)

    def train_epoch(self, epoch: int, bar: tqdm[Any]) -> dict[str, float]:
        self.model.train()
        sums, config = self.done.sums, self.responder.config
        # The order comes from seed + epoch alone, so a resumed run skips what was done.
        order = list(batches(self.data.train, config.batch_size, random.Random(self.seed + epoch)))
        for batch in order[self.done.position :]:
            loss = cross_entropy(self.model, batch)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), config.clip)
            self.optimizer.step()
            value = loss.item()
            sums["loss"] = sums.get("loss", 0.0) + value * len(batch)
            sums["count"] = sums.get("count", 0.0) + len(batch)
            self.done.steps += 1
            if self.stepped(bar, len(batch), value):
                break
        return {"loss": sums["loss"] / sums["count"]}


def cross_entropy(model: Seq2Seq, batch: list[Example]) -> torch.Tensor:
    """Mean next-token loss over the real (unpadded) reply tokens of ``batch``."""
    device = next(model.parameters()).device
    src, lengths = _pad([e.src for e in batch], device)
    tgt_in, _ = _pad([[START, *e.tgt] for e in batch], device)  # (B, T)
    tgt_out, _ = _pad([[*e.tgt, END] for e in batch], device)  # (B, T)
    logits = model(src, lengths, tgt_in)  # (B, T, V)
    return F.cross_entropy(logits.flatten(0, 1), tgt_out.flatten(), ignore_index=PAD)


def _pad(seqs: list[list[int]], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = torch.tensor([len(s) for s in seqs])
    padded = torch.full((len(seqs), int(lengths.max())), PAD, dtype=torch.long)
    for row, ids in enumerate(seqs):
        padded[row, : len(ids)] = torch.tensor(ids)
    return padded.to(device), lengths
