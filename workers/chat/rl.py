"""Fine-tune a trained chat model with self-critical sequence training (Rennie et al. 2017).

Fine-tuning a stored model, then publishing what it kept::

    result = finetune(pairs(dialogs), Path("models/movie/1"), Path("runs/movie-rl"),
                      SCSTConfig(samples=5, epochs=10))
    store.publish("movie", "chat", result.folder, metrics=result.metrics, config=result.config)

Cross-entropy teaches the model to imitate the next word; SCST rewards whole replies. For each
training prompt (each distinct source once per epoch, with every reply the corpus has for it
as references) the model's own greedy reply is the baseline: its reward (BLEU by default,
:mod:`.reward`) is what the model already achieves. ``samples`` replies are then sampled from
the model, scored the same way, and each sample's log-probability is pushed up in proportion
to its advantage, ``reward(sample) - reward(greedy)``: better than greedy is reinforced, worse
is discouraged, and no learned critic is needed. A prompt whose greedy reply already scores
``skip_above`` or more has nothing left to learn and is skipped.

It starts from a stored model and keeps its vocabulary, sizes and data settings, so the corpus
is split exactly as in cross-entropy training. Epoch 0 is the starting model, evaluated; each
epoch logs the loss, the mean sample and greedy rewards on the training prompts, the mean
advantage, the prompts skipped, and the validation and test BLEU, and the best epoch by
validation BLEU is kept (epoch 0 included, so fine-tuning never returns a worse model than it
was given). Checkpoints and resume work as in :mod:`.train`.

Limits: dropout is off during fine-tuning (the sampled replies' probabilities must be those of
the policy that sampled them); BLEU is a crude reward for conversation, so gains show as
overlap with the corpus's replies, not as wit.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm  # type: ignore[import-untyped, unused-ignore]

from botwerk.workers.chat.config import SCSTConfig
from botwerk.workers.chat.data import Group, Prepared, grouped, prepare
from botwerk.workers.chat.decode import Responder
from botwerk.workers.chat.model import load, save
from botwerk.workers.chat.reward import REWARDS, Reward
from botwerk.workers.chat.train import ChatLoop
from botwerk.workers.corpora.dialogs import Pair
from botwerk.workers.device import resolve_device, rng_devices
from botwerk.workers.epochs import Say, Step
from botwerk.workers.store import TrainResult


def finetune(
    found: list[Pair], start: Path, workdir: Path, config: SCSTConfig, *, device: str = "auto",
    progress: bool = True, log: Say = print, max_seconds: float | None = None,
    checkpoints: str | Path | None = None, on_step: Callable[[Step], None] | None = None,
) -> TrainResult:  # fmt: skip
    """Fine-tune the model in folder ``start`` on ``found``; see the module docstring."""
    resolved = resolve_device(device)
    say = tqdm.write if progress and log is print else log
    model, vocab, chat = load(start, resolved)
    data = prepare(found, chat, vocab=vocab)
    for note in data.notes:
        say(f"chat-rl: {note}")
    with torch.random.fork_rng(devices=rng_devices(resolved)):
        torch.manual_seed(config.seed)
        loop = SelfCritical(Responder(model, vocab, chat, resolved), data, say, config)
        loop.resume(checkpoints or workdir / "checkpoints")
        if not loop.done.history:  # epoch 0: where fine-tuning starts from
            greedy = mean_greedy_reward(loop.responder, loop.prompts, loop.reward)
            loop.finish_epoch(0, {"greedy_bleu": greedy} | loop.evaluate())
        loop.run(workdir, progress, max_seconds, on_step)
    return loop.result(workdir, {**chat.to_dict(), "rl": config.to_dict()})


class SelfCritical(ChatLoop):
    """SCST: sampled replies, weighted by their reward over the greedy reply's."""

    label = "chat-rl"
    unit = "prompt"

    def __init__(self, responder: Responder, data: Prepared, say: Say, config: SCSTConfig) -> None:
        optimizer = torch.optim.Adam(responder.model.parameters(), lr=config.lr)
        super().__init__(responder, data, say, config.epochs, config.seed, optimizer,
                         config.checkpoint_minutes)  # fmt: skip
        self.config = config
        self.reward: Reward = REWARDS.load(config.reward)
        self.prompts = grouped(data.train)

    def work(self) -> int:
        return len(self.prompts)

    def save_model(self, folder: Path) -> None:
        r = self.responder
        save(folder, self.model, r.vocab, r.config, rl=self.config.to_dict())

    def train_epoch(self, epoch: int, bar: tqdm[Any]) -> dict[str, float]:
        self.model.eval()  # no dropout: see the module docstring
        order = list(self.prompts)  # shuffled by self.rng, seeded seed + epoch; resumed, the
        fresh = self.done.position == 0  # same order is drawn again and self.rng is as saved
        (self.rng if fresh else random.Random(self.seed + epoch)).shuffle(order)
        sums, size = self.done.sums, self.config.batch_size
        for start in range(0, len(order), size)[self.done.position :]:
            batch = order[start : start + size]
            figures = self.step(batch, self.rng)  # self.rng: checkpointed with the position
            for name, value in figures.items():
                sums[name] = sums.get(name, 0.0) + value
            if self.stepped(bar, len(batch), figures.get("loss", math.nan)):
                break
        sampled = max(sums.get("sampled", 0.0), 1)
        return {
            "loss": sums.get("loss", 0.0) / max(sums.get("steps", 0.0), 1),
            "sample_bleu": sums.get("sample", 0.0) / sampled,
            "greedy_bleu": sums.get("greedy", 0.0) / max(sums.get("prompts", 0.0), 1),
            "advantage": sums.get("advantage", 0.0) / sampled,
            "skipped": sums.get("skipped", 0.0),
        }

    def step(self, batch: Sequence[Group], rng: random.Random) -> dict[str, float]:
        """One update on ``batch``'s prompts; the sums of its figures."""
        greedy = self.greedy([g.src for g in batch])
        baseline = [self.reward(r, g.references) for r, g in zip(greedy, batch, strict=True)]
        live = [(g, r) for g, r in zip(batch, baseline, strict=True) if r < self.config.skip_above]
        skipped = len(batch) - len(live)
        figures = {"greedy": sum(baseline), "prompts": len(batch), "skipped": skipped}
        if not live:
            return figures
        rows = [g for g, _ in live for _ in range(self.config.samples)]  # each prompt n times
        base = torch.tensor([r for _, r in live]).repeat_interleave(self.config.samples)
        sampled = self._sample([g.src for g in rows], rng)
        rewards = [self.reward(self.responder.vocab.decode(ids), g.references)
                   for ids, g in zip(sampled, rows, strict=True)]  # fmt: skip
        advantage = torch.tensor(rewards) - base  # (rows,)
        logp = self.responder.log_probs([g.src for g in rows], sampled)  # (rows,)
        loss = -(advantage.to(logp.device) * logp).mean()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.clip)
        self.optimizer.step()
        self.done.steps += 1
        return figures | {"loss": loss.item(), "sample": sum(rewards), "sampled": len(rows),
                          "advantage": float(advantage.sum()), "steps": 1}  # fmt: skip

    def _sample(self, sources: list[list[int]], rng: random.Random) -> list[list[int]]:
        """One reply per source from the model's own distribution (temperature 1, all words)."""
        n = len(sources)
        seeds: list[int | None] = [rng.getrandbits(63) for _ in sources]
        limits = [self.responder.config.max_len] * n
        return self.responder.sample(sources, limits, [1.0] * n, [0] * n, seeds)


def mean_greedy_reward(responder: Responder, groups: Sequence[Group], reward: Reward) -> float:
    """The mean reward of the greedy replies to ``groups`` (e.g. the training prompts)."""
    if not groups:
        return 0.0
    limits = [responder.config.max_len] * len(groups)
    replies = responder.greedy([g.src for g in groups], limits)
    scores = [reward(responder.vocab.decode(ids), g.references)
              for ids, g in zip(replies, groups, strict=True)]  # fmt: skip
    return sum(scores) / len(scores)
