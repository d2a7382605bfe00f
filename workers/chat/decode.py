"""Replies from a chat model, many at once: greedy, sampled or beam search.

With a trained model folder::

    responder = Responder.from_folder(Path("models/movie/2"), device="auto")
    responder.reply([Ask("how are you?"), Ask("hi", mode="beam", beam=8),
                     Ask("tell me a joke", mode="sample", temperature=0.7, seed=3)])
    # -> ["I'm fine.", 'Hello!', 'What do you call a ...']

Requests of one mode decode together (beams of one width together): the sources go through
the encoder packed, each row attends only to its own tokens, and each step feeds every
unfinished row its last token. Greedy takes the likeliest token; sampling draws from each
request's own seeded generator (:mod:`botwerk.workers.sampling`), so a seeded request gives the same
reply alone or in a batch; beam search keeps ``beam`` hypotheses per request in one flat batch
of B x beam rows and picks the best by log-probability over length ** :data:`LENGTH_PENALTY`.
A reply ends at the end token or after ``max_len`` tokens; padding, unknown, start and
separator tokens are never produced.

:meth:`Responder.log_probs` scores given replies (with gradients) for reinforcement learning.

Limits: a batch runs as long as its longest reply; "the same reply in a batch" holds as long as
the matrix kernels give a row the same floats in any batch size, which CPU BLAS does in practice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import torch
from torch import Tensor
from torch.nn import functional as F

from botwerk.workers.chat.config import ChatConfig
from botwerk.workers.chat.data import source_ids
from botwerk.workers.chat.model import BANNED, Seq2Seq, load
from botwerk.workers.chat.tokens import END, PAD, START, Vocab, detokenize, tokenize
from botwerk.workers.device import resolve_device
from botwerk.workers.sampling import sample, seeded

Mode = Literal["greedy", "sample", "beam"]
LENGTH_PENALTY = 0.7
"""Beam scores are divided by length ** this: 0 favours short replies, 1 is the mean."""


class Request(Protocol):
    """What one reply asks for (``serve.ChatInput`` is one)."""

    @property
    def text(self) -> str: ...
    @property
    def context(self) -> str: ...
    @property
    def mode(self) -> Mode: ...
    @property
    def temperature(self) -> float: ...
    @property
    def top_k(self) -> int: ...
    @property
    def beam(self) -> int: ...
    @property
    def max_len(self) -> int: ...
    @property
    def seed(self) -> int | None: ...


@dataclass(frozen=True, slots=True)
class Ask:
    """A plain :class:`Request`, for scripts, training samples and tests."""

    text: str
    context: str = ""
    mode: Mode = "greedy"
    temperature: float = 0.8
    top_k: int = 0
    beam: int = 4
    max_len: int = 0
    """0: the model's own ``max_len``"""
    seed: int | None = None


@dataclass(frozen=True, slots=True)
class Answer:
    text: str
    tokens: int
    context_used: bool


class Responder:
    """A loaded chat model that answers prompts, many at once."""

    def __init__(
        self, model: Seq2Seq, vocab: Vocab, config: ChatConfig, device: torch.device
    ) -> None:
        self.model, self.vocab, self.config, self.device = model, vocab, config, device

    @classmethod
    def from_folder(cls, path: Path, device: str = "auto") -> Responder:
        """The model in a folder ``save`` wrote; ``device`` is auto, cpu, cuda or cuda:N."""
        resolved = resolve_device(device)
        model, vocab, config = load(path, resolved)
        return cls(model, vocab, config, resolved)

    def source(self, prompt: Sequence[str], context: Sequence[str] = ()) -> list[int]:
        """Token ids the encoder reads (see :func:`.data.source_ids`)."""
        return source_ids(self.vocab, self.config, prompt, context)

    def reply(self, requests: Sequence[Request]) -> list[Answer]:
        """One answer per request, in order; requests of one mode are decoded as one batch."""
        answers: list[Answer | None] = [None] * len(requests)
        groups: dict[tuple[Mode, int], list[int]] = {}
        for i, r in enumerate(requests):
            groups.setdefault((r.mode, r.beam if r.mode == "beam" else 0), []).append(i)
        for (mode, width), rows in groups.items():
            asks = [requests[i] for i in rows]
            src = [self.source(tokenize(r.text), tokenize(r.context)) for r in asks]
            limits = [r.max_len or self.config.max_len for r in asks]
            if mode == "beam":
                out = self.beam(src, limits, width)
            elif mode == "sample":
                out = self.sample(src, limits, [r.temperature for r in asks],
                                  [r.top_k for r in asks], [r.seed for r in asks])  # fmt: skip
            else:
                out = self.greedy(src, limits)
            used = self.config.context
            for i, r, ids in zip(rows, asks, out, strict=True):
                words = self.vocab.decode(ids)
                answers[i] = Answer(detokenize(words), len(words), used and bool(r.context))
        return [a for a in answers if a is not None]

    @torch.inference_mode()
    def greedy(self, src: list[list[int]], limits: list[int]) -> list[list[int]]:
        """The likeliest token at each step, for each source; the ids before the end token."""
        return self._decode(src, limits, lambda logits, _: _allowed(logits).argmax(dim=1))

    @torch.inference_mode()
    def sample(self, src: list[list[int]], limits: list[int], temperatures: list[float],
               top_k: list[int], seeds: list[int | None]) -> list[list[int]]:  # fmt: skip
        """A token drawn at each step from each request's own seeded generator."""
        rngs = [seeded(s) for s in seeds]
        temps = torch.tensor(temperatures, dtype=torch.float64)  # (B,)
        ks = torch.tensor(top_k)  # (B,)

        def pick(logits: Tensor, active: list[int]) -> Tensor:
            chosen = sample(logits, [rngs[i] for i in active], temps[active], ks[active], BANNED)
            return chosen.to(logits.device)

        return self._decode(src, limits, pick)

    def _decode(
        self, src: list[list[int]], limits: list[int], pick: Callable[[Tensor, list[int]], Tensor]
    ) -> list[list[int]]:
        """Step every unfinished row; ``pick`` (logits (b, V), request indices) -> (b,)."""
        memory = self.model.encode(*self._pad(src))
        state = memory.state
        out: list[list[int]] = [[] for _ in src]
        active = list(range(len(src)))  # the request of each batch row
        tokens = torch.full((len(src),), START, device=self.device)  # (b,)
        while active:
            logits, state = self.model.decode(tokens[:, None], state, memory)  # (b, 1, V)
            tokens = pick(logits[:, 0], active)  # (b,)
            keep = []
            for row, (i, token) in enumerate(zip(active, tokens.tolist(), strict=True)):
                if token != END:
                    out[i].append(token)
                if token != END and len(out[i]) < limits[i]:
                    keep.append(row)
            if len(keep) < len(active):  # drop finished rows from the batch
                rows = torch.tensor(keep, dtype=torch.long, device=self.device)
                active, tokens, memory = (
                    [active[r] for r in keep],
                    tokens[rows],
                    memory.select(rows),
                )
                state = (state[0][:, rows], state[1][:, rows])
        return out

    @torch.inference_mode()
    def beam(self, src: list[list[int]], limits: list[int], width: int) -> list[list[int]]:
        """Beam search with ``width`` hypotheses per source; the best one's ids each."""
        b, k = len(src), width
        memory = self.model.encode(*self._pad(src))
        flat = torch.arange(b, device=self.device).repeat_interleave(k)  # (B*K,) source of a row
        memory = memory.select(flat)
        state = memory.state
        scores = torch.full((b, k), -torch.inf, device=self.device)
        scores[:, 0] = 0.0  # one live hypothesis at first, so the beams start out different
        tokens = torch.full((b * k,), START, device=self.device)
        done = torch.zeros(b * k, dtype=torch.bool, device=self.device)
        lengths = torch.zeros(b * k, device=self.device)
        limit = torch.tensor(limits, device=self.device).repeat_interleave(k)  # (B*K,)
        steps: list[tuple[Tensor, Tensor]] = []  # (parent row, token) of every row, each step
        for _ in range(max(limits)):
            logits, state = self.model.decode(tokens[:, None], state, memory)
            logp = F.log_softmax(_allowed(logits[:, 0]), dim=-1)  # (B*K, V)
            finished = done | (lengths >= limit)
            logp[finished] = -torch.inf
            logp[finished, PAD] = 0.0  # a finished hypothesis carries on unchanged, with PAD
            vocab = logp.shape[1]
            top, index = (scores.view(-1, 1) + logp).view(b, k * vocab).topk(k, dim=1)  # (B, K)
            parent = (torch.arange(b, device=self.device)[:, None] * k + index // vocab).view(-1)
            tokens = (index % vocab).view(-1)  # (B*K,)
            steps.append((parent, tokens))
            grew = ~finished[parent]
            done, lengths = finished[parent] | (tokens == END), lengths[parent] + grew
            state = (state[0][:, parent], state[1][:, parent])
            scores = top
            if bool((done | (lengths >= limit)).all()):
                break
        best = (scores / lengths.view(b, k).clamp(min=1) ** LENGTH_PENALTY).argmax(dim=1)
        return [_backtrack(steps, row * k + int(best[row])) for row in range(b)]

    def log_probs(self, src: list[list[int]], replies: list[list[int]]) -> Tensor:
        """log p(reply + end | source) under the decoding distribution, with gradients (B,)."""
        tgt_in, _ = self._pad([[START, *r] for r in replies])  # (B, T)
        tgt_out, _ = self._pad([[*r, END] for r in replies])
        logits = self.model(*self._pad(src), tgt_in)  # (B, T, V)
        logp = F.log_softmax(_allowed(logits), dim=-1).gather(2, tgt_out[..., None])[..., 0]
        return logp.masked_fill(tgt_out == PAD, 0.0).sum(dim=1)  # (B,)

    def _pad(self, seqs: list[list[int]]) -> tuple[Tensor, Tensor]:
        """Ids (B, S) padded with PAD, and the lengths (B,)."""
        lengths = torch.tensor([len(s) for s in seqs])
        padded = torch.full((len(seqs), int(lengths.max())), PAD, dtype=torch.long)
        for row, ids in enumerate(seqs):
            padded[row, : len(ids)] = torch.tensor(ids)
        return padded.to(self.device), lengths


def _allowed(logits: Tensor) -> Tensor:
    """``logits`` (..., V) with the tokens a reply never contains set to -inf."""
    return logits.index_fill(-1, torch.tensor(BANNED, device=logits.device), -torch.inf)


def _backtrack(steps: list[tuple[Tensor, Tensor]], row: int) -> list[int]:
    """The token ids of the hypothesis in ``row`` at the last step, up to its end token."""
    ids = []
    for parent, tokens in reversed(steps):
        ids.append(int(tokens[row]))
        row = int(parent[row])
    ids.reverse()
    return ids[: ids.index(END)] if END in ids else [i for i in ids if i != PAD]
