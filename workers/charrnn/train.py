"""Train a charrnn model on a plain-text corpus, with checkpoints and automatic resume.

>>> result = train(Path("shakespeare.txt").read_text(), Path("work/bard"), CharRNNConfig())
>>> store.publish("bard", "charrnn", result.folder, metrics=result.metrics, config=result.config)

The corpus becomes ``batch_size`` parallel streams; each step trains on the next ``seq_len``
characters of every stream (truncated backpropagation through time), carrying the LSTM state
from one chunk to the next, detached, so the model learns context longer than a chunk. AdamW,
gradient-norm clipping. The corpus's last ``val_fraction`` is held out: after each epoch the
validation loss and perplexity are logged, with samples at a few temperatures, and a
checkpoint (weights, optimizer state, progress; safetensors and JSON, no pickle) is written
under ``workdir/checkpoints``. Started again with the same ``workdir``, training resumes after
the latest checkpoint; its vocabulary and sizes must match (``epochs``, ``lr`` and the like may
change). ``max_seconds`` stops after the step that passes it; that epoch is evaluated and
checkpointed like a full one. The finished model lands in ``workdir/model``, ready to
publish: the weights of the epoch with the lowest validation loss (kept in ``workdir/best``
as training goes), with that epoch's metrics.

Limits: one process, one device. A cut-short epoch counts as an epoch: the next run starts
the one after it.
"""

from __future__ import annotations

import math
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.nn import functional as F
from tqdm import tqdm  # type: ignore[import-untyped, unused-ignore]

from botwerk.schemas import BotwerkError

from ..checkpoints import (
    latest_checkpoint,
    read_progress,
    restore_optimizer,
    save_checkpoint,
    write_whole,
)
from ..store import TrainResult
from .generate import Generator, Prompt
from .model import CharRNN, CharRNNConfig, ModelArgs, State, Vocab, load, resolve_device, save

SAMPLE_TEMPERATURES = (0.5, 0.8, 1.0)
SAMPLE_LENGTH = 200
BEST = "best"


@dataclass(slots=True)
class _Progress:
    """What a checkpoint remembers besides the weights."""

    epoch: int = 0
    steps: int = 0
    tokens: int = 0
    seconds: float = 0.0
    train_loss: float = math.nan
    val_loss: float = math.nan
    tokens_per_s: float = 0.0
    best_epoch: int = 0
    best_val_loss: float = math.inf
    history: list[dict[str, float]] = field(default_factory=list)


def train(
    text: str,
    workdir: Path,
    config: CharRNNConfig,
    *,
    device: str = "auto",
    progress: bool = True,
    log: Callable[[str], None] = print,
    max_seconds: float | None = None,
) -> TrainResult:
    """Train (or resume training) on ``text``; see the module docstring."""
    resolved = resolve_device(device)
    vocab = Vocab.from_text(text)
    say = tqdm.write if progress and log is print else log  # keep the bar intact
    gpus = [resolved.index or 0] if resolved.type == "cuda" else []
    with torch.random.fork_rng(devices=gpus):  # seeds per epoch, the caller's RNG untouched
        torch.manual_seed(config.seed)
        trainer = _Trainer(text, vocab, config, resolved, say)
        trainer.resume(workdir / "checkpoints")
        trainer.run(workdir, progress, max_seconds)
    folder = workdir / "model"
    shutil.rmtree(folder, ignore_errors=True)
    if (workdir / BEST).is_dir():
        shutil.copytree(workdir / BEST, folder)
    else:  # no epoch ran: the config asks for no more than the checkpoint has
        save(folder, trainer.model, vocab, config)
    return TrainResult(folder, trainer.metrics(), config.to_dict())


class _Trainer:
    def __init__(
        self, text: str, vocab: Vocab, config: CharRNNConfig, device: torch.device,
        say: Callable[[str], None],
    ) -> None:  # fmt: skip
        self.vocab, self.config, self.device, self.say = vocab, config, device, say
        self.train_data, self.val_data = _split(text, vocab, config, device)
        self.model = CharRNN(ModelArgs.of(vocab, config)).to(device)
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(), lr=config.lr, weight_decay=config.weight_decay
        )
        self.done = _Progress()

    def run(self, workdir: Path, progress: bool, max_seconds: float | None) -> None:
        started, seconds_before = time.perf_counter(), self.done.seconds
        deadline = None if max_seconds is None else started + max_seconds
        epochs = range(self.done.epoch + 1, self.config.epochs + 1)
        training_s, tokens_before = 0.0, self.done.tokens
        with tqdm(total=self.train_data[0].numel() * len(epochs), unit="tok", unit_scale=True,
                  disable=not progress, desc="charrnn") as bar:  # fmt: skip
            for epoch in epochs:
                torch.manual_seed(self.config.seed + epoch)  # a resumed run draws the same
                epoch_started = time.perf_counter()
                self.done.train_loss, stopped = self._epoch(bar, deadline)
                training_s += time.perf_counter() - epoch_started
                self.done.tokens_per_s = (self.done.tokens - tokens_before) / training_s
                self.done.val_loss = _evaluate(self.model, self.val_data, self.config.seq_len)
                self.done.seconds = seconds_before + time.perf_counter() - started
                self._finish_epoch(epoch, workdir)
                if stopped or (deadline is not None and time.perf_counter() > deadline):
                    self.say(f"charrnn: stopping after epoch {epoch}: max_seconds={max_seconds}")
                    break

    def _epoch(self, bar: tqdm[Any], deadline: float | None) -> tuple[float, bool]:
        """One pass over the training streams; (mean loss, stopped by the deadline)."""
        self.model.train()
        x_all, y_all = self.train_data  # (B, L) each
        state: State | None = None
        total, count, seq_len = 0.0, 0, self.config.seq_len
        for start in range(0, x_all.shape[1], seq_len):
            x, y = x_all[:, start : start + seq_len], y_all[:, start : start + seq_len]  # (B, T)
            logits, state = self.model(x, state)  # (B, T, V)
            state = (state[0].detach(), state[1].detach())  # truncated BPTT: no grad past here
            loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.clip)
            self.optimizer.step()
            value = loss.item()
            total, count = total + value * y.numel(), count + y.numel()
            self.done.steps, self.done.tokens = self.done.steps + 1, self.done.tokens + y.numel()
            bar.update(y.numel())
            bar.set_postfix(loss=f"{value:.3f}", refresh=False)
            if deadline is not None and time.perf_counter() > deadline:
                return total / count, True
        return total / count, False

    def _finish_epoch(self, epoch: int, workdir: Path) -> None:
        done = self.done
        done.epoch = epoch
        done.history.append({"epoch": epoch, "train": done.train_loss, "val": done.val_loss})
        self.say(
            f"epoch {epoch}/{self.config.epochs}: train loss {done.train_loss:.4f}, "
            f"val loss {done.val_loss:.4f}, val perplexity {math.exp(done.val_loss):.2f}, "
            f"{done.tokens_per_s:,.0f} tokens/s"
        )
        prompts = [Prompt("", SAMPLE_LENGTH, t, seed=self.config.seed) for t in SAMPLE_TEMPERATURES]
        samples = Generator(self.model, self.vocab, self.device).generate(list(prompts))
        for temperature, sample in zip(SAMPLE_TEMPERATURES, samples, strict=True):
            self.say(f"  sample at temperature {temperature}: {sample!r}")
        if done.val_loss < done.best_val_loss:
            done.best_epoch, done.best_val_loss = epoch, done.val_loss
            write_whole(workdir / BEST, self._save)
        save_checkpoint(
            workdir / "checkpoints", epoch, self._save, self.optimizer, _progress_dict(self.done)
        )

    def _save(self, folder: Path) -> None:
        save(folder, self.model, self.vocab, self.config)

    def resume(self, checkpoints: Path) -> None:
        """Continue from the latest checkpoint in ``checkpoints``, if there is one."""
        latest = latest_checkpoint(checkpoints)
        if latest is None:
            return
        model, vocab, _ = load(latest, self.device)
        if vocab != self.vocab or model.args != self.model.args:
            raise BotwerkError(
                f"{latest} was trained on another corpus or with other sizes; to start over, "
                f"give a fresh work folder (or delete {checkpoints})"
            )
        self.model.load_state_dict(model.state_dict())
        restore_optimizer(self.optimizer, latest)
        self.done = _Progress(**read_progress(latest))
        self.say(f"charrnn: resuming from {latest.name} ({self.done.steps} steps done)")

    def metrics(self) -> dict[str, float]:
        """Of the kept model (the best epoch's), and of the whole training."""
        done = self.done
        best = next((h for h in done.history if h["epoch"] == done.best_epoch), None)
        return {
            "train_loss": best["train"] if best else done.train_loss,
            "val_loss": best["val"] if best else done.val_loss,
            "val_perplexity": math.exp(best["val"] if best else done.val_loss),
            "best_epoch": float(done.best_epoch),
            "epochs": float(done.epoch),
            "steps": float(done.steps),
            "tokens": float(done.tokens),
            "tokens_per_s": done.tokens_per_s,
            "seconds": done.seconds,
            "parameters": float(sum(p.numel() for p in self.model.parameters())),
        }


def _split(
    text: str, vocab: Vocab, config: CharRNNConfig, device: torch.device
) -> tuple[tuple[Tensor, Tensor], tuple[Tensor, Tensor]]:
    """(inputs, targets) as (streams, length) for training and for validation."""
    ids = torch.tensor(vocab.encode(text))  # (N,)
    n_val = max(config.seq_len + 1, int(len(ids) * config.val_fraction))
    need = n_val + config.batch_size * 2
    if len(ids) < need:
        raise BotwerkError(
            f"the corpus has {len(ids)} characters, too few for seq_len={config.seq_len} and "
            f"batch_size={config.batch_size} (needs {need}): give more text or smaller sizes"
        )
    val_streams = max(1, min(config.batch_size, (n_val - 1) // config.seq_len))
    return _streams(ids[:-n_val], config.batch_size, device), _streams(
        ids[-n_val:], val_streams, device
    )


def _streams(ids: Tensor, streams: int, device: torch.device) -> tuple[Tensor, Tensor]:
    """``ids`` (N,) as ``streams`` parallel rows: inputs and next-character targets (B, L)."""
    length = (len(ids) - 1) // streams
    x = ids[: streams * length].view(streams, length)
    y = ids[1 : streams * length + 1].view(streams, length)
    return x.to(device), y.to(device)


@torch.inference_mode()
def _evaluate(model: CharRNN, data: tuple[Tensor, Tensor], seq_len: int) -> float:
    """Mean validation loss per character, carrying the state across chunks as in training."""
    model.eval()
    x_all, y_all = data
    state: State | None = None
    total = 0.0
    for start in range(0, x_all.shape[1], seq_len):
        x, y = x_all[:, start : start + seq_len], y_all[:, start : start + seq_len]
        logits, state = model(x, state)
        total += F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="sum").item()
    model.train()
    return total / y_all.numel()


def _progress_dict(done: _Progress) -> dict[str, Any]:
    return {name: getattr(done, name) for name in _Progress.__slots__}
