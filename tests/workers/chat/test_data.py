"""Pairs as the model reads them: long replies left out, sources split whole, batches."""

from __future__ import annotations

import random

import pytest
from msgspec.structs import replace

from botwerk.schemas import BotwerkError
from botwerk.workers.chat.data import batches, grouped, prepare, source_ids
from botwerk.workers.chat.tokens import SEP, UNK
from botwerk.workers.corpora.dialogs import Dialog, Pair, pairs

from .conftest import TINY


def test_prepare_splits_by_source_and_learns_words_from_training_pairs_only(tiny_pairs):
    data = prepare(tiny_pairs, TINY)
    parts = {"train": data.train, "valid": data.valid, "test": data.test}
    assert all(parts.values())
    keys = {name: {e.key for e in part} for name, part in parts.items()}
    assert not keys["train"] & keys["test"] and not keys["train"] & keys["valid"]
    training_words = {w for e in data.train for w in e.reply}
    assert set(data.vocab.tokens[5:]) <= training_words | {w for e in data.train
                                                           for w in e.key.split()}  # fmt: skip
    assert data.notes[0].startswith(f"{len(data.train)} train, {len(data.valid)} valid")


def test_a_prompt_answered_several_ways_keeps_every_reply_in_one_group():
    found = [Pair("Hi, how is it going?", reply) for reply in ("Good", "Fine", "Okay")]
    found.append(Pair("Hello", "Hi"))
    data = prepare(found, replace(TINY, valid_fraction=0.0, test_fraction=0.0))
    [going, hello] = grouped(data.train)
    assert going.references == [("good",), ("fine",), ("okay",)]
    assert hello.references == [("hi",)] and going.src != hello.src


def test_long_replies_are_left_out_and_long_prompts_keep_their_end():
    config = replace(TINY, max_len=4, valid_fraction=0.0, test_fraction=0.0)
    found = [Pair("one two three four five six", "fine"), Pair("hi", "a b c d e f g")]
    data = prepare([*found, Pair("", "nothing said")], config)
    [example] = data.train
    assert [data.vocab.tokens[i] for i in example.src] == ["three", "four", "five", "six"]
    assert "2 of 3 pairs left out" in data.notes[0]
    with pytest.raises(BotwerkError, match="no training pairs left"):
        prepare(found[1:], config)


def test_a_model_with_context_reads_the_utterance_before_the_prompt():
    config = replace(TINY, context=True, valid_fraction=0.0, test_fraction=0.0)
    talk = Dialog("d", ("Hi", "How are you?", "Fine, and you?", "Good."))
    data = prepare(pairs([talk]), config)
    words = data.vocab.encode(["hi", "how", "are", "you"])
    assert source_ids(data.vocab, config, ["how", "are", "you"], ["hi"]) == [
        words[0],
        SEP,
        *words[1:],
    ]
    assert source_ids(data.vocab, TINY, ["how", "are", "you"], ["hi"]) == words[1:]
    assert source_ids(data.vocab, config, [], []) == [UNK]
    assert [e.key for e in data.train] == [
        "hi", "hi <sep> how are you ?", "how are you ? <sep> fine , and you ?"
    ]  # fmt: skip


def test_batches_cover_every_example_once_in_similar_lengths(tiny_pairs):
    data = prepare(tiny_pairs, TINY)
    seen = [e for batch in batches(data.train, 4, random.Random(1)) for e in batch]
    assert sorted(map(id, seen)) == sorted(map(id, data.train))
    again = [e for batch in batches(data.train, 4, random.Random(1)) for e in batch]
    assert [id(e) for e in again] == [id(e) for e in seen]  # the seed decides the order
