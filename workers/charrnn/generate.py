"""Batched text generation from a charrnn model: many requests, one forward pass per character.

With a trained model folder::

    generator = Generator.from_folder(Path("models/bard/3"), device="auto")
    generator.generate([Prompt("The ", 100, seed=1), Prompt("", 300, temperature=0.5, top_k=5)])
    # -> ['weather was ...', 'the government ...']

Each request has its own prime, length, temperature, top-k and seed, and all of them run in
one batch. The primes, of any length, go through the LSTM packed, so each row's state is the
one it would have alone; then every step feeds the last character of each still-running row
and drops rows that reached their length. Sampling draws one uniform number per row and step
from that request's own ``torch.Generator`` and inverts the row's CDF (float64, on the CPU), so
a request with a seed gives the same text in any batch as alone. An empty prime starts from a
newline; characters outside the vocabulary become the unknown token, which is never sampled.

Limits: "the same text" holds as long as the matrix kernels give a row the same floats in any
batch size, which CPU and GPU BLAS do in practice but do not promise; a last-bit difference
changes a character only when a draw lands on a CDF boundary.

:meth:`Generator.session` gives the same loop one step at a time (:class:`Decoding`), for
continuous batching (:mod:`botwerk.workers.continuous`): newcomers are primed together and join
the running rows between steps, and a row leaves the step it reaches its length, so a short
request never waits for a long one. ``generate`` is that loop run to its end.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import torch
from torch import Tensor
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from botwerk.workers.charrnn.model import UNK, CharRNN, State, Vocab, load
from botwerk.workers.continuous import run_whole
from botwerk.workers.device import resolve_device
from botwerk.workers.sampling import sample, seeded


class Request(Protocol):
    """What one generation asks for (``serve.CharRNNInput`` is one)."""

    @property
    def prime(self) -> str: ...
    @property
    def length(self) -> int: ...
    @property
    def temperature(self) -> float: ...
    @property
    def top_k(self) -> int: ...
    @property
    def seed(self) -> int | None: ...


@dataclass(frozen=True, slots=True)
class Prompt:
    """A plain :class:`Request`, for training samples and scripts."""

    prime: str = ""
    length: int = 200
    temperature: float = 0.8
    top_k: int = 0
    seed: int | None = None


class Generator:
    """A loaded model that continues texts, many at once."""

    def __init__(self, model: CharRNN, vocab: Vocab, device: torch.device) -> None:
        self.model = model.eval()
        self.vocab = vocab
        self.device = device

    @classmethod
    def from_folder(cls, path: Path, device: str = "auto") -> Generator:
        """The model in a folder ``save`` wrote; ``device`` is auto, cpu, cuda or cuda:N."""
        resolved = resolve_device(device)
        model, vocab, _ = load(path, resolved)
        return cls(model, vocab, resolved)

    def generate(self, requests: list[Request]) -> list[str]:
        """The continuation (without the prime) of each request, in order."""
        return run_whole(self.session(), requests)

    def session(self) -> Decoding:
        """A running batch that requests join and leave between steps."""
        return Decoding(self)

    def ids(self, prime: str) -> list[int]:
        return self.vocab.encode(prime) or [self.vocab.start()]

    def _prime(self, primes: list[list[int]]) -> tuple[Tensor, State]:
        """Run primes of different lengths, packed; the logits after each one's last character."""
        lengths = torch.tensor([len(p) for p in primes])  # (B,)
        padded = torch.zeros(len(primes), int(lengths.max()), dtype=torch.long)  # (B, T)
        for row, ids in enumerate(primes):
            padded[row, : len(ids)] = torch.tensor(ids)
        x = self.model.embed(padded.to(self.device))  # (B, T, embed)
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, state = self.model.lstm(packed)  # h, c each (layers, B, hidden), at each row's end
        out, _ = pad_packed_sequence(out, batch_first=True)  # (B, T, hidden)
        last = out[torch.arange(len(primes)), lengths - 1]  # (B, hidden)
        return self.model.head(self.model.drop(last)), state  # (B, V)

    def _step(self, tokens: Tensor, state: State) -> tuple[Tensor, State]:
        """One character per row: ``tokens`` (b,) -> logits (b, V)."""
        logits, state = self.model(tokens.to(self.device)[:, None], state)  # (b, 1, V)
        return logits[:, 0], state


@dataclass(slots=True)
class _Row:
    """One request's sampling settings and the characters it has so far."""

    rng: torch.Generator
    temperature: float
    top_k: int
    length: int
    out: list[int] = field(default_factory=list)


class Decoding:
    """A running batch of generations: rows join, step one character each, leave when done."""

    def __init__(self, generator: Generator) -> None:
        self.generator = generator
        self.keys: list[int] = []  # the request key of each batch row
        self.rows: dict[int, _Row] = {}
        self.logits: Tensor | None = None  # (b, V): what each row draws its next character from
        self.state: State | None = None  # h, c each (layers, b, hidden)

    def __len__(self) -> int:
        return len(self.keys)

    @torch.inference_mode()
    def add(self, requests: Mapping[int, Request]) -> None:
        """Prime the newcomers together (packed) and join them to the batch."""
        if not requests:
            return
        logits, state = self.generator._prime(
            [self.generator.ids(r.prime) for r in requests.values()]
        )
        rows = {key: _Row(seeded(r.seed), r.temperature, r.top_k, r.length)
                for key, r in requests.items()}  # fmt: skip
        if self.logits is not None and self.state is not None:
            logits = torch.cat([self.logits, logits])  # (b + n, V)
            state = (
                torch.cat([self.state[0], state[0]], 1),
                torch.cat([self.state[1], state[1]], 1),
            )
        self.logits, self.state = logits, state
        self.rows.update(rows)
        self.keys += list(requests)

    @torch.inference_mode()
    def step(self) -> dict[int, str]:
        """Draw one character per row; the finished rows' texts, dropped from the batch."""
        if self.logits is None or self.state is None:
            return {}
        rows = [self.rows[key] for key in self.keys]
        temps = torch.tensor([r.temperature for r in rows], dtype=torch.float64)  # (b,)
        top_k = torch.tensor([r.top_k for r in rows])  # (b,)
        tokens = sample(self.logits, [r.rng for r in rows], temps, top_k, [UNK])  # (b,)
        for row, token in zip(rows, tokens.tolist(), strict=True):
            row.out.append(token)
        done = [key for key, row in zip(self.keys, rows, strict=True) if len(row.out) >= row.length]
        texts = {key: self.generator.vocab.decode(self.rows[key].out) for key in done}
        if done:  # drop finished rows from the batch
            keep = self._drop(done)
            tokens = tokens[keep] if keep is not None else tokens[:0]
        if self.keys:
            assert self.state is not None
            self.logits, self.state = self.generator._step(tokens, self.state)
        return texts

    def remove(self, keys: Iterable[int]) -> None:
        """Drop these rows (unknown keys are ignored)."""
        keep = self._drop(keys)
        if keep is not None and self.logits is not None:
            self.logits = self.logits[keep.to(self.logits.device)]

    def _drop(self, keys: Iterable[int]) -> Tensor | None:
        """Forget ``keys``, cut their state rows; the rows kept (None: the batch is empty)."""
        gone = set(keys) & set(self.rows)
        keep = [row for row, key in enumerate(self.keys) if key not in gone]
        for key in gone:
            del self.rows[key]
        self.keys = [self.keys[row] for row in keep]
        if not keep:
            self.logits = self.state = None
            return None
        rows = torch.tensor(keep)
        if gone and self.state is not None:
            on = rows.to(self.generator.device)
            self.state = (self.state[0].index_select(1, on), self.state[1].index_select(1, on))
        return rows
