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

:meth:`Responder.session` gives greedy and sampled decoding one step at a time (:class:`Replies`),
for continuous batching (:mod:`botwerk.workers.continuous`): newcomers are encoded together and
join the running rows between steps (the sources padded to the longest, padding masked), and a
row leaves the step its reply ends. Beam search cannot join mid-way (a request's hypotheses are
ranked together at every step), so a beam request runs whole when it joins, as before.

Limits: "the same reply in a batch" holds as long as the matrix kernels give a row the same
floats in any batch size and source padding, which CPU BLAS does in practice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

import torch
from torch import Tensor
from torch.nn import functional as F

from botwerk.workers.chat.config import ChatConfig
from botwerk.workers.chat.data import source_ids
from botwerk.workers.chat.model import BANNED, Memory, Seq2Seq, State, load
from botwerk.workers.chat.tokens import END, PAD, START, Vocab, detokenize, tokenize
from botwerk.workers.continuous import run_whole
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
        """One answer per request, in order, decoded as one batch (beams of one width together)."""
        return run_whole(self.session(), list(requests))

    def session(self) -> Replies:
        """A running batch that requests join and leave between steps."""
        return Replies(self)

    def greedy(self, src: list[list[int]], limits: list[int]) -> list[list[int]]:
        """The likeliest token at each step, for each source; the ids before the end token."""
        return run_whole(Decoding(self), [Line(s, n) for s, n in zip(src, limits, strict=True)])

    def sample(self, src: list[list[int]], limits: list[int], temperatures: list[float],
               top_k: list[int], seeds: list[int | None]) -> list[list[int]]:  # fmt: skip
        """A token drawn at each step from each request's own seeded generator."""
        each = zip(src, limits, seeds, temperatures, top_k, strict=True)
        lines = [Line(s, n, seeded(seed), t, k) for s, n, seed, t, k in each]
        return run_whole(Decoding(self), lines)

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


@dataclass(slots=True)
class Line:
    """One greedy (no ``rng``) or sampled reply being decoded, and its tokens so far."""

    src: list[int]
    limit: int
    rng: torch.Generator | None = None
    temperature: float = 1.0
    top_k: int = 0
    out: list[int] = field(default_factory=list)


class Decoding:
    """A running batch of greedy and sampled replies: rows join, step, leave at their end."""

    def __init__(self, responder: Responder) -> None:
        self.responder = responder
        self.keys: list[int] = []  # the request key of each batch row
        self.lines: dict[int, Line] = {}
        self.memory: Memory | None = None  # (b, S, H) parts: what each row attends to
        self.state: State | None = None  # h, c each (layers, b, H)
        self.tokens: Tensor | None = None  # (b,): each row's last token

    def __len__(self) -> int:
        return len(self.keys)

    @torch.inference_mode()
    def add(self, lines: Mapping[int, Line]) -> None:
        """Encode the newcomers together and join them to the batch."""
        if not lines:
            return
        r = self.responder
        memory = r.model.encode(*r._pad([line.src for line in lines.values()]))
        state = memory.state
        tokens = torch.full((len(lines),), START, device=r.device)
        if self.memory is not None and self.state is not None and self.tokens is not None:
            memory = _joined(self.memory._replace(state=self.state), memory)
            state, tokens = memory.state, torch.cat([self.tokens, tokens])
        self.memory, self.state, self.tokens = memory, state, tokens
        self.lines.update(lines)
        self.keys += list(lines)

    @torch.inference_mode()
    def step(self) -> dict[int, list[int]]:
        """One token per row; the finished rows' ids (before the end token), dropped."""
        if self.memory is None or self.state is None or self.tokens is None:
            return {}
        logits, self.state = self.responder.model.decode(
            self.tokens[:, None], self.state, self.memory
        )
        lines = [self.lines[key] for key in self.keys]
        self.tokens = self._pick(logits[:, 0], lines)  # (b,)
        done = []
        for key, line, token in zip(self.keys, lines, self.tokens.tolist(), strict=True):
            if token != END:
                line.out.append(token)
            if token == END or len(line.out) >= line.limit:
                done.append(key)
        replies = {key: self.lines[key].out for key in done}
        self.remove(done)
        return replies

    def remove(self, keys: Iterable[int]) -> None:
        """Drop these rows (unknown keys are ignored)."""
        gone = set(keys) & set(self.lines)
        if not gone:
            return
        keep = [row for row, key in enumerate(self.keys) if key not in gone]
        for key in gone:
            del self.lines[key]
        self.keys = [self.keys[row] for row in keep]
        if not keep or self.memory is None or self.state is None or self.tokens is None:
            self.memory = self.state = self.tokens = None
            return
        rows = torch.tensor(keep, dtype=torch.long, device=self.responder.device)
        self.memory, self.tokens = self.memory.select(rows), self.tokens[rows]
        self.state = (self.state[0][:, rows], self.state[1][:, rows])

    def _pick(self, logits: Tensor, lines: list[Line]) -> Tensor:
        """``logits`` (b, V) -> (b,): the likeliest token, or a draw from the row's generator."""
        drawn = [row for row, line in enumerate(lines) if line.rng is not None]
        if len(drawn) == len(lines):  # all sampled: no argmax, no gather (a third of a pick)
            return self._drawn(logits, lines).to(logits.device)
        picked = _allowed(logits).argmax(dim=1)  # (b,)
        if drawn:
            rows = torch.tensor(drawn, device=logits.device)
            picked[rows] = self._drawn(logits[rows], [lines[row] for row in drawn]).to(
                picked.device
            )
        return picked

    @staticmethod
    def _drawn(logits: Tensor, lines: list[Line]) -> Tensor:
        """``logits`` (d, V) of sampled rows -> (d,): each row's draw from its own generator."""
        rngs = [line.rng for line in lines if line.rng is not None]
        temps = torch.tensor([line.temperature for line in lines], dtype=torch.float64)
        return sample(logits, rngs, temps, torch.tensor([line.top_k for line in lines]), BANNED)


class Replies:
    """The serving session: :class:`Request` in, :class:`Answer` out; beams run whole at join."""

    def __init__(self, responder: Responder) -> None:
        self.responder = responder
        self.decoding = Decoding(responder)
        self.asks: dict[int, Request] = {}
        self.ready: dict[int, list[int]] = {}  # beam replies, answered at the next step

    def __len__(self) -> int:
        return len(self.decoding) + len(self.ready)

    def add(self, requests: Mapping[int, Request]) -> None:
        """Join the greedy and sampled requests; decode the beam ones now, by width."""
        r = self.responder
        lines: dict[int, Line] = {}
        beams: dict[int, dict[int, Line]] = {}  # by width
        for key, ask in requests.items():
            src = r.source(tokenize(ask.text), tokenize(ask.context))
            rng = seeded(ask.seed) if ask.mode == "sample" else None
            line = Line(src, ask.max_len or r.config.max_len, rng, ask.temperature, ask.top_k)
            if ask.mode == "beam":
                beams.setdefault(ask.beam, {})[key] = line
            else:
                lines[key] = line
        ready: dict[int, list[int]] = {}
        for width, group in beams.items():
            best = r.beam([b.src for b in group.values()], [b.limit for b in group.values()], width)
            ready.update(zip(group, best, strict=True))
        self.decoding.add(lines)
        self.ready.update(ready)
        self.asks.update(requests)

    def step(self) -> dict[int, Answer]:
        """One token for every running reply; the answers that are done."""
        done = self.decoding.step() if len(self.decoding) else {}
        done.update(self.ready)
        self.ready = {}
        return {key: self._answer(self.asks.pop(key), ids) for key, ids in done.items()}

    def remove(self, keys: Iterable[int]) -> None:
        """Drop these requests (unknown keys are ignored)."""
        keys = list(keys)
        self.decoding.remove(keys)
        for key in keys:
            self.ready.pop(key, None)
            self.asks.pop(key, None)

    def _answer(self, ask: Request, ids: list[int]) -> Answer:
        words = self.responder.vocab.decode(ids)
        return Answer(
            detokenize(words), len(words), self.responder.config.context and bool(ask.context)
        )


def _joined(a: Memory, b: Memory) -> Memory:
    """Two memories as one batch, the shorter sources padded (and masked) to the longer."""
    length = max(a.mask.shape[1], b.mask.shape[1])

    def pad(m: Memory) -> Memory:
        extra = length - m.mask.shape[1]
        if not extra:
            return m
        return Memory(F.pad(m.outputs, (0, 0, 0, extra)), F.pad(m.keys, (0, 0, 0, extra)),
                      F.pad(m.mask, (0, extra), value=False), m.state)  # fmt: skip

    a, b = pad(a), pad(b)
    state = (torch.cat([a.state[0], b.state[0]], 1), torch.cat([a.state[1], b.state[1]], 1))
    return Memory(torch.cat([a.outputs, b.outputs]), torch.cat([a.keys, b.keys]),
                  torch.cat([a.mask, b.mask]), state)  # fmt: skip
