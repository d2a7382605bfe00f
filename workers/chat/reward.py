"""How good a reply is: BLEU against every reference, for evaluation and as the RL reward.

>>> bleu(["i", "am", "fine", "."], [["i", "am", "fine", "."], ["good", "."]])
1.0
>>> bleu(["hi", "!"], [["hello", "!"]])  # doctest: +ELLIPSIS
0.2236...
>>> corpus_bleu([["i", "am", "fine", "."]], [[["i", "am", "fine", "."]]])  # 0-100, as papers
100.0
>>> REWARDS.load("bleu") is bleu           # or "mypackage.rewards:politeness"
True

(The second: 1 of 2 words and 0 of 1 bigram match, the 0 smoothed to 0.1: sqrt(0.5 * 0.1).)

Both are BLEU-4 on the model's own tokens (lower-case, contractions expanded, punctuation
split), with NLTK's smoothing method 1, so a short reply that shares a few words with a
reference scores a little above zero instead of exactly zero. Sentence BLEU reweighs to the
n-gram orders a short reply has (a one-word reply is scored on unigrams alone), so "Hi!"
answering a "Hi!" scores 1, like any exact match. Corpus BLEU is plain BLEU-4 over the
summed n-gram counts. A prompt with several replies in the corpus counts all of them.

A reward is any function ``(hypothesis tokens, list of reference token lists) -> float``,
higher is better, ideally in [0, 1]; :data:`REWARDS` finds built-ins by name, others by
``module:function`` or the ``botwerk.rewards`` entry point group.

Limits: BLEU rewards overlap with the corpus's wording, not sense; on chit-chat, where many
replies are fine, it is a weak signal, which is what RL then optimises.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from nltk.translate.bleu_score import SmoothingFunction
from nltk.translate.bleu_score import corpus_bleu as nltk_corpus_bleu
from nltk.translate.bleu_score import sentence_bleu as nltk_sentence_bleu

from botwerk.infra.registry import Registry

Tokens = Sequence[str]
Reward = Callable[[Tokens, Sequence[Tokens]], float]

_SMOOTH = SmoothingFunction().method1


def bleu(hypothesis: Tokens, references: Sequence[Tokens]) -> float:
    """Smoothed sentence BLEU-4 of ``hypothesis`` against all ``references``, in [0, 1]."""
    if not hypothesis:
        return 0.0
    score = nltk_sentence_bleu(
        references, hypothesis, smoothing_function=_SMOOTH, auto_reweigh=True
    )
    return float(score)


def corpus_bleu(hypotheses: Sequence[Tokens], references: Sequence[Sequence[Tokens]]) -> float:
    """Smoothed corpus BLEU-4, 0-100: each hypothesis against its own list of references."""
    if not hypotheses:
        return 0.0
    score = nltk_corpus_bleu(references, hypotheses, smoothing_function=_SMOOTH)
    return 100.0 * float(score)


REWARDS = Registry("reward", "botwerk.rewards")
