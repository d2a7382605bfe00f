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
changes a character only when a draw lands on a CDF boundary. Each step costs one LSTM call
for the whole batch, so a batch takes as long as its longest request.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch
from torch import Tensor
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from botwerk.workers.charrnn.model import UNK, CharRNN, State, Vocab, load
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

    @torch.inference_mode()
    def generate(self, requests: list[Request]) -> list[str]:
        """The continuation (without the prime) of each request, in order."""
        if not requests:
            return []
        rngs = [seeded(r.seed) for r in requests]
        temps = torch.tensor([r.temperature for r in requests], dtype=torch.float64)  # (B,)
        top_k = torch.tensor([r.top_k for r in requests])  # (B,)
        logits, state = self._prime([self._ids(r.prime) for r in requests])  # (B, V)
        out: list[list[int]] = [[] for _ in requests]
        active = list(range(len(requests)))  # request index of each batch row
        while True:
            tokens = sample(logits, [rngs[i] for i in active], temps[active], top_k[active], [UNK])
            for i, token in zip(active, tokens.tolist(), strict=True):
                out[i].append(token)
            keep = [row for row, i in enumerate(active) if len(out[i]) < requests[i].length]
            if not keep:
                break
            if len(keep) < len(active):  # drop finished rows from the batch
                rows = torch.tensor(keep)
                active, tokens = [active[row] for row in keep], tokens[rows]
                rows = rows.to(self.device)
                state = (state[0].index_select(1, rows), state[1].index_select(1, rows))
            logits, state = self._step(tokens, state)
        return [self.vocab.decode(ids) for ids in out]

    def _ids(self, prime: str) -> list[int]:
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
