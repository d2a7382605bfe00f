"""Prompt/reply pairs as the model reads them: token ids, split, grouped and batched.

In training (``pairs`` from :mod:`botwerk.workers.corpora.dialogs`)::

    data = prepare(pairs(dialogs), config)             # tokenise, split, vocabulary, encode
    data.notes      # ['1,839 train, 238 valid, 229 test pairs; 2,410 words; ...']
    for batch in batches(data.train, 64, random.Random(1)): ...
    groups = grouped(data.test)                        # one source, all its references

The split is by the tokenised source (context and prompt), so every reply to one prompt is in
the same part; the vocabulary comes from the training part only. Replies longer than
``max_len`` tokens are left out (the model would only learn to stop mid-sentence); prompts and
contexts keep their last ``max_len`` tokens.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from botwerk.schemas import BotwerkError
from botwerk.workers.chat.config import ChatConfig
from botwerk.workers.chat.tokens import SEP, UNK, Vocab, tokenize
from botwerk.workers.corpora.dialogs import Pair, split

BUCKET = 20
"""Batches per bucket: pairs of similar source length are batched together."""


@dataclass(frozen=True, slots=True)
class Example:
    src: list[int]
    tgt: list[int]
    """the reply's ids, without start or end tokens"""
    key: str
    """the tokenised source: examples with the same key are one prompt's references"""
    reply: tuple[str, ...]
    """the reply's tokens, as BLEU compares them"""


@dataclass(frozen=True, slots=True)
class Group:
    """One source and every reference reply to it."""

    src: list[int]
    references: list[tuple[str, ...]]
    text: str


@dataclass(slots=True)
class Prepared:
    vocab: Vocab
    train: list[Example] = field(default_factory=list)
    valid: list[Example] = field(default_factory=list)
    test: list[Example] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def source_ids(
    vocab: Vocab, config: ChatConfig, prompt: Sequence[str], context: Sequence[str] = ()
) -> list[int]:
    """The encoder's input: ``[context <sep>] prompt``, each cut to its last ``max_len``."""
    n = config.max_len
    ids = vocab.encode(prompt[-n:]) or [UNK]
    if config.context and context:
        ids = [*vocab.encode(context[-n:]), SEP, *ids]
    return ids


def prepare(found: Sequence[Pair], config: ChatConfig, vocab: Vocab | None = None) -> Prepared:
    """Tokenise, split by source, build the vocabulary (unless given) and encode."""
    usable = []
    for pair in found:
        prompt, reply, context = tokenize(pair.prompt), tokenize(pair.reply), tokenize(pair.context)
        if prompt and reply and len(reply) <= config.max_len:
            usable.append(_Tokens(prompt, reply, context, _key(prompt, context, config)))
    parts = split(
        usable, seed=config.seed, valid_fraction=config.valid_fraction,
        test_fraction=config.test_fraction, key=lambda t: t.key,
    )  # fmt: skip
    if not parts.train:
        raise BotwerkError(
            f"no training pairs left of {len(found)}: give more dialogs, or raise max_len "
            f"(now {config.max_len}) if the replies are long"
        )
    if vocab is None:
        words = [(*t.prompt, *t.reply, *t.context) for t in parts.train]
        vocab = Vocab.build(words, config.max_vocab, config.min_count)
    data = Prepared(vocab)
    for part, into in ((parts.train, data.train), (parts.valid, data.valid),
                       (parts.test, data.test)):  # fmt: skip
        for t in part:
            src = source_ids(vocab, config, t.prompt, t.context)
            into.append(Example(src, vocab.encode(t.reply), t.key, tuple(t.reply)))
    data.notes.append(
        f"{len(data.train):,} train, {len(data.valid):,} valid, {len(data.test):,} test pairs; "
        f"{vocab.size:,} words; {len(found) - len(usable):,} of {len(found):,} pairs left out "
        f"(empty, or a reply over max_len={config.max_len} tokens)"
    )
    return data


class _Tokens(NamedTuple):
    prompt: list[str]
    reply: list[str]
    context: list[str]
    key: str


def _key(prompt: list[str], context: list[str], config: ChatConfig) -> str:
    n = config.max_len
    source = [*context[-n:], "<sep>", *prompt[-n:]] if config.context and context else prompt[-n:]
    return " ".join(source)


def grouped(examples: Sequence[Example]) -> list[Group]:
    """One :class:`Group` per distinct source, in first-seen order."""
    groups: dict[str, Group] = {}
    for e in examples:
        group = groups.setdefault(e.key, Group(e.src, [], e.key))
        group.references.append(e.reply)
    return list(groups.values())


def batches(examples: Sequence[Example], size: int, rng: random.Random) -> Iterator[list[Example]]:
    """Shuffled batches of ``size``, each of sources of similar length (less padding)."""
    order = list(examples)
    rng.shuffle(order)
    chunks = []
    for start in range(0, len(order), size * BUCKET):
        bucket = sorted(order[start : start + size * BUCKET], key=lambda e: len(e.src))
        chunks += [bucket[i : i + size] for i in range(0, len(bucket), size)]
    rng.shuffle(chunks)
    yield from chunks
