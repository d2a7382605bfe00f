"""BLEU as the RL reward and the evaluation figure; rewards by name or module:function."""

from __future__ import annotations

import pytest

from botwerk.infra.registry import UnknownName
from botwerk.workers.chat.reward import REWARDS, bleu, corpus_bleu


def test_sentence_bleu_against_every_reference():
    assert bleu(["i", "am", "fine", "."], [["good", "."], ["i", "am", "fine", "."]]) == 1.0
    assert bleu(["hi"], [["hi"]]) == 1.0  # short exact replies score in full
    assert bleu([], [["hi"]]) == 0.0
    assert bleu(["no", "overlap"], [["hello", "there"]]) < 0.1
    partial = bleu(["i", "am", "well", "."], [["i", "am", "fine", "."]])
    assert 0.1 < partial < 1.0


def test_corpus_bleu_is_on_the_usual_zero_to_hundred_scale():
    refs = [[["i", "am", "fine", "today", "."]], [["hello", "there", "my", "friend", "!"]]]
    assert corpus_bleu([r[0] for r in refs], refs) == pytest.approx(100.0)
    assert 0 < corpus_bleu([["i", "am", "fine", "now", "."], ["hello", "!"]], refs) < 100
    assert corpus_bleu([], []) == 0.0


def test_rewards_are_found_by_name_or_module_path():
    assert REWARDS.load("bleu") is bleu
    assert REWARDS.load("botwerk.workers.chat.reward:bleu") is bleu
    with pytest.raises(UnknownName, match="did you mean 'bleu'"):
        REWARDS.load("bleux")
