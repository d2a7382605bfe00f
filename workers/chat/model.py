"""The chat model: an encoder-decoder LSTM with Luong attention, and its files.

Building, running and storing one::

    model = Seq2Seq(ModelArgs.of(vocab, ChatConfig(hidden=256, layers=2)))
    memory = model.encode(src, lengths)             # src (B, S) padded ids, lengths (B,)
    logits, state = model.decode(tgt_in, memory.state, memory)   # (B, T, V): all steps at once
    save(folder, model, vocab, config)              # model.safetensors + model.json
    model, vocab, config = load(folder, torch.device("cpu"))

Encoder: the shared embedding, then a (by default bidirectional) multi-layer LSTM over packed
variable-length sources; the two directions' outputs and final states are summed, so the
decoder starts from the encoder's state. Decoder: the same embedding, an LSTM, then Luong
global attention (Luong et al. 2015): each decoder output h_t scores every source position
(``dot``: h_t . e_s, ``general``: h_t . W e_s, ``concat``: v . tanh(W [h_t; e_s])), padding
masked, the softmax-weighted sum c_t joins h_t in ``tanh(W_c [c_t; h_t])``, and a linear head
gives the logits. There is no input feeding, so teacher-forced training runs the decoder over
a whole reply in one LSTM call; generation calls :meth:`Seq2Seq.decode` one step at a time.

A model folder holds the safetensors weights and ``model.json`` (model arguments, vocabulary,
the resolved training config and, after RL, its config): inference rebuilds everything from
the folder. Nothing is unpickled.

Limits: sources are cut to their last ``max_len`` tokens (the context to its last
``max_len`` more); one reply per prompt, no persona or memory beyond one turn of context.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from botwerk.workers import modelfiles
from botwerk.workers.chat.config import Attention, ChatConfig
from botwerk.workers.chat.tokens import PAD, SEP, START, UNK, Vocab
from botwerk.workers.errors import BadModelFolder

FORMAT = "botwerk.chat.v1"
BANNED = (PAD, UNK, START, SEP)
"""Tokens a reply never contains."""

State = tuple[Tensor, Tensor]
"""The LSTM's (h, c), each (layers, B, hidden)."""


@dataclass(frozen=True, slots=True)
class ModelArgs:
    """What builds the network; saved beside the weights."""

    vocab_size: int
    embed: int
    hidden: int
    layers: int
    dropout: float
    attention: Attention
    bidirectional: bool

    @classmethod
    def of(cls, vocab: Vocab, c: ChatConfig) -> ModelArgs:
        return cls(vocab.size, c.embed, c.hidden, c.layers, c.dropout, c.attention,
                   c.bidirectional)  # fmt: skip


class Memory(NamedTuple):
    """What the encoder read, for the decoder to attend to."""

    outputs: Tensor
    """(B, S, hidden)"""
    keys: Tensor
    """(B, S, hidden): the outputs as the attention scores them (W e_s for ``general``)"""
    mask: Tensor
    """(B, S) bool, True at real tokens"""
    state: State

    def select(self, rows: Tensor) -> Memory:
        """The rows ``rows`` (b,) of every part, for beams and finished rows."""
        h, c = self.state
        return Memory(self.outputs[rows], self.keys[rows], self.mask[rows],
                      (h[:, rows], c[:, rows]))  # fmt: skip


class Seq2Seq(nn.Module):
    """Shared embedding -> LSTM encoder; LSTM decoder -> Luong attention -> linear head."""

    def __init__(self, args: ModelArgs) -> None:
        super().__init__()
        self.args = args
        h, between = args.hidden, args.dropout if args.layers > 1 else 0.0
        self.embed = nn.Embedding(args.vocab_size, args.embed, padding_idx=PAD)
        self.encoder = nn.LSTM(args.embed, h, args.layers, batch_first=True, dropout=between,
                               bidirectional=args.bidirectional)  # fmt: skip
        self.decoder = nn.LSTM(args.embed, h, args.layers, batch_first=True, dropout=between)
        self.score = nn.Linear(h, h, bias=False) if args.attention == "general" else None
        if args.attention == "concat":
            self.concat = nn.Linear(2 * h, h)
            self.v = nn.Linear(h, 1, bias=False)
        self.combine = nn.Linear(2 * h, h)
        self.drop = nn.Dropout(args.dropout)
        self.head = nn.Linear(h, args.vocab_size)

    def encode(self, src: Tensor, lengths: Tensor) -> Memory:
        """``src`` (B, S) padded ids and their ``lengths`` (B,) -> the memory to attend to."""
        x = self.drop(self.embed(src))  # (B, S, E)
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, (h, c) = self.encoder(packed)  # h, c: (layers * directions, B, H)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=src.shape[1])
        if self.args.bidirectional:  # sum the directions: (B, S, 2H) -> (B, S, H)
            out = out[..., : self.args.hidden] + out[..., self.args.hidden :]
            h = h.view(self.args.layers, 2, *h.shape[1:]).sum(1)  # (layers, B, H)
            c = c.view(self.args.layers, 2, *c.shape[1:]).sum(1)
        keys = self.score(out) if self.score is not None else out
        return Memory(out, keys, src != PAD, (h.contiguous(), c.contiguous()))

    def decode(self, tgt_in: Tensor, state: State, memory: Memory) -> tuple[Tensor, State]:
        """``tgt_in`` (B, T) ids, from the start token -> logits (B, T, V) and the new state."""
        out, state = self.decoder(self.drop(self.embed(tgt_in)), state)  # (B, T, H)
        scores = self._scores(out, memory.keys)  # (B, T, S)
        scores = scores.masked_fill(~memory.mask[:, None, :], -torch.inf)
        weights = torch.softmax(scores, dim=-1)  # (B, T, S)
        context = weights @ memory.outputs  # (B, T, H)
        attended = torch.tanh(self.combine(torch.cat([context, out], dim=-1)))  # (B, T, H)
        return self.head(self.drop(attended)), state  # (B, T, V)

    def _scores(self, out: Tensor, keys: Tensor) -> Tensor:
        """(B, T, H) decoder outputs against (B, S, H) keys -> (B, T, S)."""
        if self.args.attention != "concat":
            return out @ keys.transpose(1, 2)
        t, s = out.shape[1], keys.shape[1]
        pairs = torch.cat([out[:, :, None].expand(-1, -1, s, -1),
                           keys[:, None].expand(-1, t, -1, -1)], dim=-1)  # fmt: skip
        scores: Tensor = self.v(torch.tanh(self.concat(pairs)))[..., 0]  # (B, T, S)
        return scores

    def forward(self, src: Tensor, lengths: Tensor, tgt_in: Tensor) -> Tensor:
        """Teacher forcing: logits (B, T, V) for every position of ``tgt_in`` (B, T)."""
        memory = self.encode(src, lengths)
        logits, _ = self.decode(tgt_in, memory.state, memory)
        return logits


def save(folder: Path, model: Seq2Seq, vocab: Vocab, config: ChatConfig,
         rl: dict[str, Any] | None = None) -> None:  # fmt: skip
    """Write ``model.safetensors`` and ``model.json`` into ``folder``."""
    meta = {"model": dataclasses.asdict(model.args), "vocab": list(vocab.tokens),
            "config": config.to_dict(), "rl": rl}  # fmt: skip
    modelfiles.write(folder, model, FORMAT, meta)


def load(folder: Path, device: torch.device) -> tuple[Seq2Seq, Vocab, ChatConfig]:
    """The model in ``folder`` on ``device``, in eval mode, with its vocabulary and config."""
    meta = modelfiles.read_meta(folder, FORMAT, "chat")
    try:
        vocab = Vocab(tuple(meta["vocab"]))
        args = ModelArgs(**meta["model"])
        config = ChatConfig.from_dict(meta["config"])
    except (ValueError, KeyError, TypeError) as exc:
        raise BadModelFolder(f"{folder} holds no readable chat model: {exc}") from None
    if args.vocab_size != vocab.size:
        raise BadModelFolder(f"{folder}/model.json: vocab_size {args.vocab_size} != {vocab.size}")
    model = Seq2Seq(args)
    model.load_state_dict(modelfiles.read_weights(folder))
    return model.to(device).eval(), vocab, config
