"""Train a chat model by cross-entropy with teacher forcing, with checkpoints and resume.

>>> result = train(pairs(dialogs), Path("runs/movie"), ChatConfig(epochs=20), corpus="cornell")
>>> store.publish("movie", "chat", result.folder, metrics=result.metrics, config=result.config)

Each epoch shuffles the training pairs into batches of similar source length, runs the decoder
over each whole reply at once from the true previous tokens (teacher forcing), and minimises the
cross-entropy of the next token (padding ignored) with AdamW and gradient-norm clipping. After
each epoch it logs the loss, the validation loss, the greedy replies' corpus BLEU on the
validation and on the test prompts (every reference of a prompt counts), and a few sample
replies, and writes a checkpoint; the same ``workdir`` resumes after the latest one.

The kept model is the epoch with the best validation BLEU (then the lower validation loss),
copied to ``workdir/model`` with that epoch's figures. The test set never chooses anything, so
its BLEU is an honest estimate. :mod:`.rl` fine-tunes the result with the same loop.

Limits: one process, one device; ``max_seconds`` stops after the step that passes it and
that epoch counts as done.
"""

from __future__ import annotations

import math
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.nn import functional as F
from tqdm import tqdm  # type: ignore[import-untyped, unused-ignore]

from botwerk.schemas import BotwerkError

from .. import checkpoints
from ..store import TrainResult
from .data import Example, Group, Prepared, batches, grouped, prepare
from .decode import Responder
from .dialogs import Pair
from .model import ChatConfig, ModelArgs, Seq2Seq, load, resolve_device, save
from .reward import corpus_bleu
from .tokens import END, PAD, START, detokenize

BEST = "best"
SAMPLES = 3
EVAL_BATCH = 256
Say = Callable[[str], None]


@dataclass(slots=True)
class Progress:
    """What a checkpoint remembers besides the weights."""

    epoch: int = 0
    steps: int = 0
    seconds: float = 0.0
    best_epoch: int = -1
    best: tuple[float, float] = (-math.inf, -math.inf)
    """(validation BLEU, -validation loss) of the best epoch"""
    history: list[dict[str, float]] = field(default_factory=list)


def train(
    found: list[Pair], workdir: Path, config: ChatConfig, *, device: str = "auto",
    progress: bool = True, log: Say = print, max_seconds: float | None = None,
) -> TrainResult:  # fmt: skip
    """Train (or resume training) on ``found``; see the module docstring."""
    resolved = resolve_device(device)
    say = tqdm.write if progress and log is print else log  # keep the bar intact
    data = prepare(found, config)
    for note in data.notes:
        say(f"chat: {note}")
    gpus = [resolved.index or 0] if resolved.type == "cuda" else []
    with torch.random.fork_rng(devices=gpus):  # seeded, the caller's RNG untouched
        torch.manual_seed(config.seed)
        model = Seq2Seq(ModelArgs.of(data.vocab, config)).to(resolved)
        loop = CrossEntropy(Responder(model, data.vocab, config, resolved), data, say)
        loop.resume(workdir / "checkpoints")
        loop.run(workdir, progress, max_seconds)
    return loop.result(workdir, config.to_dict())


class EpochLoop:
    """Epochs of some training, each evaluated, checkpointed and compared with the best."""

    label = "chat"
    unit = "pair"

    def __init__(self, responder: Responder, data: Prepared, say: Say, epochs: int, seed: int,
                 optimizer: torch.optim.Optimizer) -> None:  # fmt: skip
        self.responder, self.model = responder, responder.model
        self.data, self.say, self.epochs, self.seed = data, say, epochs, seed
        self.optimizer = optimizer
        self.valid, self.test = grouped(data.valid), grouped(data.test)
        self.done = Progress()

    def train_epoch(self, epoch: int, bar: tqdm[Any], deadline: float | None) -> dict[str, float]:
        """One pass over the training data; its figures. Stops early past ``deadline``."""
        raise NotImplementedError

    def work(self) -> int:
        """Units of ``unit`` in one epoch, for the progress bar."""
        return len(self.data.train)

    def save_model(self, folder: Path) -> None:
        save(folder, self.model, self.responder.vocab, self.responder.config)

    def run(self, workdir: Path, progress: bool, max_seconds: float | None) -> None:
        started, before = time.perf_counter(), self.done.seconds
        deadline = None if max_seconds is None else started + max_seconds
        epochs = range(self.done.epoch + 1, self.epochs + 1)
        with tqdm(total=self.work() * len(epochs), unit=self.unit, disable=not progress,
                  desc=self.label) as bar:  # fmt: skip
            for epoch in epochs:
                torch.manual_seed(self.seed + epoch)  # a resumed run draws the same
                figures = self.train_epoch(epoch, bar, deadline)
                figures |= self.evaluate()
                self.done.seconds = before + time.perf_counter() - started
                self.finish_epoch(epoch, figures, workdir)
                if deadline is not None and time.perf_counter() > deadline:
                    self.say(
                        f"{self.label}: stopping after epoch {epoch}: max_seconds={max_seconds}"
                    )
                    break

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

    def finish_epoch(self, epoch: int, figures: dict[str, float], workdir: Path) -> None:
        done = self.done
        done.epoch = epoch
        done.history.append({"epoch": epoch, **figures})
        shown = ", ".join(
            f"{name.replace('_', ' ')} {value:.4g}" for name, value in figures.items()
        )
        self.say(f"{self.label} epoch {epoch}/{self.epochs}: {shown}")
        for group in self.valid[:SAMPLES]:
            [reply] = self.greedy([group.src])
            self.say(f"  {detokenize(group.text.split())!r} -> {detokenize(reply)!r}")
        score = (figures["valid_bleu"], -figures["valid_loss"])
        if score > done.best:
            done.best_epoch, done.best = epoch, score
            checkpoints.write_whole(workdir / BEST, self.save_model)
        state = asdict(done)
        checkpoints.save_checkpoint(
            workdir / "checkpoints", epoch, self.save_model, self.optimizer, state
        )

    def resume(self, folder: Path) -> None:
        """Continue from the latest checkpoint in ``folder``, if there is one."""
        latest = checkpoints.latest_checkpoint(folder)
        if latest is None:
            return
        model, vocab, _ = load(latest, self.responder.device)
        if vocab != self.responder.vocab or model.args != self.model.args:
            raise BotwerkError(
                f"{latest} was trained on another corpus or with other sizes; to start over, "
                f"give a fresh work folder (or delete {folder})"
            )
        self.model.load_state_dict(model.state_dict())
        checkpoints.restore_optimizer(self.optimizer, latest)
        saved = checkpoints.read_progress(latest)
        self.done = Progress(**{**saved, "best": tuple(saved["best"])})
        self.say(f"{self.label}: resuming from {latest.name} ({self.done.steps} steps done)")

    def result(self, workdir: Path, config: dict[str, Any]) -> TrainResult:
        """The best epoch's model in ``workdir/model``, with its figures."""
        folder = workdir / "model"
        shutil.rmtree(folder, ignore_errors=True)
        if (workdir / BEST).is_dir():
            shutil.copytree(workdir / BEST, folder)
        else:  # no epoch ran: the config asks for no more than the checkpoint has
            self.save_model(folder)
        best = next((h for h in self.done.history if h["epoch"] == self.done.best_epoch), {})
        metrics = {k: v for k, v in best.items() if k != "epoch"} | {
            "best_epoch": float(self.done.best_epoch), "epochs": float(self.done.epoch),
            "steps": float(self.done.steps), "seconds": self.done.seconds,
            "parameters": float(sum(p.numel() for p in self.model.parameters())),
            "vocab": float(self.responder.vocab.size), "train_pairs": float(len(self.data.train)),
        }  # fmt: skip
        return TrainResult(folder, metrics, config)


class CrossEntropy(EpochLoop):
    """Teacher-forced next-token cross-entropy."""

    def __init__(self, responder: Responder, data: Prepared, say: Say) -> None:
        c = responder.config
        optimizer = torch.optim.AdamW(
            responder.model.parameters(), lr=c.lr, weight_decay=c.weight_decay
        )
        super().__init__(responder, data, say, c.epochs, c.seed, optimizer)

    def train_epoch(self, epoch: int, bar: tqdm[Any], deadline: float | None) -> dict[str, float]:
        self.model.train()
        total = count = 0.0
        for batch in batches(self.data.train, self.responder.config.batch_size,
                             random.Random(self.seed + epoch)):  # fmt: skip
            loss = cross_entropy(self.model, batch)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.responder.config.clip)
            self.optimizer.step()
            total, count = total + loss.item() * len(batch), count + len(batch)
            self.done.steps += 1
            bar.update(len(batch))
            bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
            if deadline is not None and time.perf_counter() > deadline:
                break
        return {"loss": total / count}


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
