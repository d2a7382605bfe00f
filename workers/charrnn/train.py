"""Train a charrnn model on a plain-text corpus, with checkpoints and automatic resume.

Training, then publishing what it kept::

    result = train(Path("shakespeare.txt").read_text(), Path("work/bard"), CharRNNConfig())
    store.publish("bard", "charrnn", result.folder, metrics=result.metrics, config=result.config)

The corpus becomes ``batch_size`` parallel streams; each step trains on the next ``seq_len``
characters of every stream (truncated backpropagation through time), carrying the LSTM state
from one chunk to the next, detached, so the model learns context longer than a chunk. AdamW,
gradient-norm clipping. The corpus's last ``val_fraction`` is held out: after each epoch the
validation loss and perplexity are logged, with samples at a few temperatures, and a
checkpoint (weights, optimizer state, progress, RNG states and the carried LSTM state;
safetensors and JSON, no pickle) is written under ``workdir/checkpoints`` (or ``checkpoints``,
a folder or fsspec URL), also mid-epoch every ``checkpoint_minutes``. Started again with the
same ``workdir``, training resumes from the latest checkpoint, mid-epoch if it is one, and
ends as an unbroken run would; its vocabulary and sizes must match (``epochs``, ``lr`` and the
like may change). ``on_step`` hears each step and epoch (a
:class:`~botwerk.workers.epochs.Step`). ``max_seconds`` stops after the step that passes it;
that epoch is evaluated and checkpointed like a full one. The finished model lands in
``workdir/model``, ready to publish: the weights of the epoch with the lowest validation loss
(kept beside the checkpoints as training goes, and in ``workdir/best``), with that epoch's
metrics.

The epochs, checkpoints, resume and best-keeping are :mod:`botwerk.workers.epochs`'s, as for
every kind; this module says what one epoch of a char-RNN is.

Limits: one process, one device. A cut-short epoch counts as an epoch: the next run starts
the one after it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.nn import functional as F
from tqdm import tqdm  # type: ignore[import-untyped, unused-ignore]

from botwerk.schemas import BotwerkError
from botwerk.workers.charrnn.config import CharRNNConfig
from botwerk.workers.charrnn.generate import Generator, Prompt
from botwerk.workers.charrnn.model import CharRNN, ModelArgs, State, Vocab, load, save
from botwerk.workers.device import resolve_device, rng_devices
from botwerk.workers.epochs import EpochLoop, Say, Step
from botwerk.workers.store import TrainResult

SAMPLE_TEMPERATURES = (0.5, 0.8, 1.0)
SAMPLE_LENGTH = 200


def train(
    text: str,
    workdir: Path,
    config: CharRNNConfig,
    *,
    device: str = "auto",
    progress: bool = True,
    log: Callable[[str], None] = print,
    max_seconds: float | None = None,
    checkpoints: str | Path | None = None,
    on_step: Callable[[Step], None] | None = None,
) -> TrainResult:
    """Train (or resume training) on ``text``; see the module docstring."""
    resolved = resolve_device(device)
    vocab = Vocab.from_text(text)
    say = tqdm.write if progress and log is print else log  # keep the bar intact
    with torch.random.fork_rng(devices=rng_devices(resolved)):  # the caller's RNG untouched
        torch.manual_seed(config.seed)
        loop = _Loop(text, vocab, config, resolved, say)
        loop.resume(checkpoints or workdir / "checkpoints")
        loop.run(workdir, progress, max_seconds, on_step)
    return TrainResult(loop.keep_best(workdir), loop.metrics(), config.to_dict())


class _Loop(EpochLoop[CharRNN]):
    """Truncated BPTT over parallel streams; the best epoch has the lowest validation loss."""

    label = "charrnn"
    unit = "tok"
    unit_scale = True

    def __init__(
        self, text: str, vocab: Vocab, config: CharRNNConfig, device: torch.device, say: Say
    ) -> None:
        self.vocab, self.config, self.device = vocab, config, device
        self.train_data, self.val_data = _split(text, vocab, config, device)
        model = CharRNN(ModelArgs.of(vocab, config)).to(device)
        optimizer = torch.optim.AdamW(
            model.parameters(), lr=config.lr, weight_decay=config.weight_decay
        )
        super().__init__(model, optimizer, say, config.epochs, config.seed,
                         checkpoint_minutes=config.checkpoint_minutes)  # fmt: skip
        self.training_s, self.run_tokens = 0.0, 0  # this run's, for tokens/s

    def work(self) -> int:
        return self.train_data[0].numel()

    def train_epoch(self, epoch: int, bar: tqdm[Any]) -> dict[str, float]:
        started = time.perf_counter()
        self.model.train()
        x_all, y_all = self.train_data  # (B, L) each
        seq_len, sums = self.config.seq_len, self.done.sums
        for start in range(0, x_all.shape[1], seq_len)[self.done.position :]:  # mid-epoch resume
            x, y = x_all[:, start : start + seq_len], y_all[:, start : start + seq_len]  # (B, T)
            state = (self.carried["h"], self.carried["c"]) if self.carried else None
            logits, (h, c) = self.model(x, state)  # (B, T, V)
            self.carried = {"h": h.detach(), "c": c.detach()}  # truncated BPTT: no grad past here
            loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.clip)
            self.optimizer.step()
            value = loss.item()
            sums["loss"] = sums.get("loss", 0.0) + value * y.numel()
            sums["count"] = sums.get("count", 0.0) + y.numel()
            self.done.steps, self.run_tokens = self.done.steps + 1, self.run_tokens + y.numel()
            self.done.counts["tokens"] = self.done.counts.get("tokens", 0) + y.numel()
            if self.stepped(bar, y.numel(), value):
                break
        self.training_s += time.perf_counter() - started
        self.done.counts["tokens_per_s"] = self.run_tokens / max(self.training_s, 1e-9)
        return {"train": sums["loss"] / sums["count"]}

    def evaluate(self) -> dict[str, float]:
        return {"val": _evaluate(self.model, self.val_data, self.config.seq_len)}

    def score(self, figures: dict[str, float]) -> tuple[float, ...]:
        return (-figures["val"],)

    def report(self, epoch: int, figures: dict[str, float]) -> None:
        train, val = figures["train"], figures["val"]
        self.say(
            f"epoch {epoch}/{self.epochs}: train loss {train:.4f}, val loss {val:.4f}, "
            f"val perplexity {math.exp(val):.2f}, "
            f"{self.done.counts['tokens_per_s']:,.0f} tokens/s"
        )
        prompts = [Prompt("", SAMPLE_LENGTH, t, seed=self.config.seed) for t in SAMPLE_TEMPERATURES]
        samples = Generator(self.model, self.vocab, self.device).generate(list(prompts))
        for temperature, sample in zip(SAMPLE_TEMPERATURES, samples, strict=True):
            self.say(f"  sample at temperature {temperature}: {sample!r}")

    def save_model(self, folder: Path) -> None:
        save(folder, self.model, self.vocab, self.config)

    def same_shape(self, checkpoint: Path) -> CharRNN | None:
        model, vocab, _ = load(checkpoint, self.device)
        return model if vocab == self.vocab and model.args == self.model.args else None

    def metrics(self) -> dict[str, float]:
        """Of the kept model (the best epoch's), and of the whole training."""
        best, counts = self.done.best_figures(), self.done.counts
        return {
            "train_loss": best["train"], "val_loss": best["val"],
            "val_perplexity": math.exp(best["val"]), "tokens": counts.get("tokens", 0.0),
            "tokens_per_s": counts.get("tokens_per_s", 0.0),
        } | super().metrics()  # fmt: skip


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
