"""A fixed list of 20 analogies, and how many of them a set of word vectors gets right::

    vectors = Vectors.open(Path("built"))
    accuracy(vectors)                                    # share right, 0.0 to 1.0: 0.85
    [a for a in ANALOGIES if not right(vectors, a)]      # the misses

Every stored word2vec model records this figure as ``analogy_accuracy`` in its metrics
(trained and imported alike), so ``botwerk models list`` says how good a model is and a
caller can use it as a "good enough" gate. Four kinds, five each: capital-country, gender,
plural, comparative; all lower case, one word per term, and the answer is never one of the
three inputs. An analogy is asked exactly as annalogue asks one (``Vectors.analogy``,
3CosMul, inputs excluded); only the top answer counts, and a word the vectors do not know
makes that analogy wrong.

Limits: 20 analogies measure coarsely (one analogy is 5 points) and only the four kinds
above; a full benchmark is Mikolov's 19,544 questions (gensim's ``questions-words.txt``).
"""

from __future__ import annotations

from typing import NamedTuple

from botwerk.workers.word2vec.model import UnknownWords, Vectors

__all__ = ["ANALOGIES", "Analogy", "accuracy", "answer", "right"]


class Analogy(NamedTuple):
    """``a`` is to ``b`` as ``c`` is to ``answer``; ``kind`` groups them in reports."""

    kind: str
    a: str
    b: str
    c: str
    answer: str


def _kind(kind: str, *rows: str) -> list[Analogy]:
    return [Analogy(kind, *row.split()) for row in rows]


ANALOGIES: tuple[Analogy, ...] = (
    *_kind(
        "capital-country",
        "paris france rome italy",
        "berlin germany madrid spain",
        "tokyo japan moscow russia",
        "athens greece cairo egypt",
        "london england dublin ireland",
    ),
    *_kind(
        "gender",
        "man woman king queen",
        "boy girl brother sister",
        "father mother son daughter",
        "husband wife uncle aunt",
        "actor actress prince princess",
    ),
    *_kind(
        "plural",
        "cat cats dog dogs",
        "car cars house houses",
        "man men woman women",
        "child children foot feet",
        "apple apples bird birds",
    ),
    *_kind(
        "comparative",
        "big bigger small smaller",
        "good better bad worse",
        "fast faster slow slower",
        "young younger old older",
        "hot hotter cold colder",
    ),
)


def answer(vectors: Vectors, analogy: Analogy) -> str | None:
    """The vectors' top answer to ``analogy``, as a vocabulary key; None if a word is unknown."""
    try:
        found = vectors.analogy(analogy.a, analogy.b, analogy.c, topn=1)
    except UnknownWords:
        return None
    return found[0][0] if found else None


def right(vectors: Vectors, analogy: Analogy) -> bool:
    """Whether the top answer is ``analogy.answer`` (in any case: GoogleNews has ``Paris``)."""
    return (answer(vectors, analogy) or "").lower() == analogy.answer


def accuracy(vectors: Vectors) -> float:
    """The share of :data:`ANALOGIES` whose top answer is right: 0.0 to 1.0."""
    return sum(right(vectors, item) for item in ANALOGIES) / len(ANALOGIES)
