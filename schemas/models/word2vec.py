"""The word2vec model's contract: questions about words (``op``) in, terms and scores out.

>>> Word2VecInput.analogy("man", "king", "woman", topn=3).to_inputs()
{'op': 'analogy', 'words': ['man', 'king', 'woman'], 'topn': 3}
>>> Word2VecInput.similarity("cat", "dog").to_inputs()   # similarity reads no topn
{'op': 'similarity', 'words': ['cat', 'dog']}
>>> Word2VecOutput.from_outputs({"unknown": [], "resolved": {}, "similarity": 0.76}).similarity
0.76

One input type serves every query kind; ``op`` says which, and :data:`READS` which fields that
op reads (the others keep their defaults, and :meth:`Word2VecInput.to_inputs` leaves them
out). Build one with the constructor of its kind (:meth:`~Word2VecInput.most_similar`,
:meth:`~Word2VecInput.analogy`, ...):

=============  =======================  ===================================================
op             reads                    outputs, besides ``unknown`` and ``resolved``
=============  =======================  ===================================================
most_similar   positive, negative, topn ``results``: ``[[term, cosine], ...]`` best first
analogy        words: [a, b, c], topn   ``results``: ``[[term, cosine to b - a + c]]``, in
                                        3CosMul's order (a is to b as c is to ...)
similarity     words: [x, y]            ``similarity``: cosine
odd_one_out    words: 3 to 100          ``word``, ``scores``: ``[[term, mean cosine to the rest]]``
frequency      words: 1 to 100          ``results``: ``[[term, count, rank]]`` (count 0: unknown)
=============  =======================  ===================================================

Every output has ``unknown`` (the terms not in the vocabulary, as sent) and ``resolved``
(term -> the vocabulary key used, e.g. ``New_York``); when ``unknown`` is not empty, that is
all there is. A term may hold several words (``new york``). A wrong number of words, or
fields the op does not take, fail validation with a sentence naming the fields; a ``topn``
sent to an op that reads none is accepted and ignored.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Literal

import msgspec
from msgspec import UNSET, UnsetType

from botwerk.schemas.models.base import ModelInput, ModelOutput

Op = Literal["most_similar", "analogy", "similarity", "odd_one_out", "frequency"]
MIN_TOPN, MAX_TOPN = 1, 100
"""answers ``topn`` may ask for"""
DEFAULT_TOPN = 5
MAX_WORDS = 100
"""terms in ``words``"""
WORDS: dict[Op, tuple[int, int]] = {
    "analogy": (3, 3),
    "similarity": (2, 2),
    "odd_one_out": (3, MAX_WORDS),
    "frequency": (1, MAX_WORDS),
}
"""the least and the most terms each op but most_similar takes in ``words``"""
READS: dict[Op, tuple[str, ...]] = {
    "most_similar": ("positive", "negative", "topn"),
    "analogy": ("words", "topn"),
    "similarity": ("words",),
    "odd_one_out": ("words",),
    "frequency": ("words",),
}
"""the fields each op reads, besides ``op``"""

Row = list[str | int | float]
"""``[term, score]``, or for ``frequency`` ``[term, count, rank]``"""


class Word2VecOutput(ModelOutput, frozen=True, kw_only=True):
    """What a word2vec model answers; which optional fields come depends on the op."""

    unknown: list[str]
    resolved: dict[str, str]
    results: list[Row] | UnsetType = UNSET
    similarity: float | UnsetType = UNSET
    word: str | UnsetType = UNSET
    scores: list[tuple[str, float]] | UnsetType = UNSET


class Word2VecInput(
    ModelInput[Word2VecOutput], frozen=True, kw_only=True, forbid_unknown_fields=True
):
    """One question about words (see the module's table)."""

    Output = Word2VecOutput

    op: Op
    positive: list[str] = msgspec.field(default_factory=list)
    """most_similar: terms to add"""
    negative: list[str] = msgspec.field(default_factory=list)
    """most_similar: terms to subtract"""
    words: list[str] = msgspec.field(default_factory=list)
    """every other op: its terms (see :data:`WORDS`)"""
    topn: Annotated[int, msgspec.Meta(ge=MIN_TOPN, le=MAX_TOPN)] = DEFAULT_TOPN
    """most_similar and analogy: answers to give"""

    def __post_init__(self) -> None:
        if problem := shape_problem(self):
            raise ValueError(problem)

    @property
    def terms(self) -> list[str]:
        return [*self.positive, *self.negative, *self.words]

    def sends(self, field: str) -> bool:
        return field == "op" or field in READS[self.op]

    @classmethod
    def most_similar(
        cls, positive: Iterable[str], negative: Iterable[str] = (), topn: int = DEFAULT_TOPN
    ) -> Word2VecInput:
        """The terms nearest to the sum of ``positive`` minus ``negative``."""
        return cls(op="most_similar", positive=list(positive), negative=list(negative), topn=topn)

    @classmethod
    def analogy(cls, a: str, b: str, c: str, topn: int = DEFAULT_TOPN) -> Word2VecInput:
        """``a`` is to ``b`` as ``c`` is to ?"""
        return cls(op="analogy", words=[a, b, c], topn=topn)

    @classmethod
    def similarity(cls, x: str, y: str) -> Word2VecInput:
        """How alike ``x`` and ``y`` are."""
        return cls(op="similarity", words=[x, y])

    @classmethod
    def odd_one_out(cls, words: Iterable[str]) -> Word2VecInput:
        """Which of ``words`` fits the others least."""
        return cls(op="odd_one_out", words=list(words))

    @classmethod
    def frequency(cls, words: Iterable[str]) -> Word2VecInput:
        """How often each of ``words`` occurs in the corpus, and its rank."""
        return cls(op="frequency", words=list(words))


def shape_problem(item: Word2VecInput) -> str | None:
    """Why ``item`` has the wrong fields or number of words for its op, or None."""
    if item.op == "most_similar":
        if not item.positive:
            return "most_similar needs at least one word in `positive`"
        if item.words:
            return "most_similar takes `positive` and `negative`, not `words`"
        return None
    if item.positive or item.negative:
        return f"{item.op} takes `words`, not `positive`/`negative`"
    low, high = WORDS[item.op]
    if not low <= len(item.words) <= high:
        count = str(low) if low == high else f"{low} to {high}"
        return f"{item.op} needs {count} words in `words`, got {len(item.words)}"
    return None
