"""The word2vec worker model: word-vector questions over the mesh, vectors shared by mmap.

>>> model = Word2VecModel(settings, "word2vec", model="lee@2"); model.load()
>>> model.predict([Word2VecInput(op="analogy", words=["man", "king", "woman"], topn=3)])
[{'unknown': [], 'resolved': {'man': 'man', ...}, 'results': [['queen', 0.93], ...]}]

Ops and their outputs (every output also has ``unknown``, the input terms not in the
vocabulary as written, and ``resolved``, term -> the vocabulary key used; when ``unknown`` is
not empty, that is all there is):

=============  ==================  ===================================================
op             words               output
=============  ==================  ===================================================
most_similar   positive, negative  ``results``: ``[[term, cosine], ...]`` best first
analogy        [a, b, c]           ``results``: a is to b as c is to ... (3CosMul)
similarity     [x, y]              ``similarity``: cosine
odd_one_out    3 or more           ``word``, ``scores``: ``[[term, mean cosine to the rest]]``
frequency      1 or more           ``results``: ``[[term, count, rank]]`` (count 0: unknown)
=============  ==================  ===================================================

A wrong number of words fails validation (a ``bad_request`` reply), before any batching.
The matrix is ``np.load(mmap_mode="r")``: N workers on one machine share one copy.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

import msgspec

from botwerk.infra.settings import Settings
from botwerk.workers.store import ModelStore

from .vectors import UnknownWords, Vectors

KIND = "word2vec"

Op = Literal["most_similar", "analogy", "similarity", "odd_one_out", "frequency"]


class Word2VecInput(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    op: Op
    positive: list[str] = []  # most_similar
    negative: list[str] = []  # most_similar
    words: list[str] = []  # analogy: [a, b, c]; similarity: [x, y]; odd_one_out: 3+; frequency
    topn: Annotated[int, msgspec.Meta(ge=1, le=100)] = 5

    def __post_init__(self) -> None:
        problem = _shape_problem(self)
        if problem:
            raise ValueError(problem)

    @property
    def terms(self) -> list[str]:
        return [*self.positive, *self.negative, *self.words]


def _shape_problem(item: Word2VecInput) -> str | None:
    """Why ``item`` has the wrong words for its op, or None."""
    if item.op == "most_similar":
        if not item.positive:
            return "most_similar needs at least one word in `positive`"
        if item.words:
            return "most_similar takes `positive` and `negative`, not `words`"
        return None
    if item.positive or item.negative:
        return f"{item.op} takes `words`, not `positive`/`negative`"
    wanted = {"analogy": (3, 3), "similarity": (2, 2), "odd_one_out": (3, 100)}
    low, high = wanted.get(item.op, (1, 100))
    if not low <= len(item.words) <= high:
        count = str(low) if low == high else f"{low} to {high}"
        return f"{item.op} needs {count} words in `words`, got {len(item.words)}"
    return None


class Word2VecModel:
    """Serves one stored word2vec model (``model``, default ``name``) under ``name``."""

    Input: ClassVar[type[Word2VecInput]] = Word2VecInput

    def __init__(self, settings: Settings, name: str = KIND, model: str | None = None) -> None:
        self.name = name
        self.spec = model or name
        self.version = self.spec  # until loaded: then the manifest's NAME@VERSION
        self.store = ModelStore.from_settings(settings)
        self._vectors: Vectors | None = None

    @property
    def vectors(self) -> Vectors:
        if self._vectors is None:
            raise RuntimeError(f"the {self.name} model is not loaded: call load() first")
        return self._vectors

    def load(self) -> None:
        stored = self.store.open(self.spec, kind=KIND)
        self._vectors = Vectors.open(stored.path)
        self.version = stored.manifest.spec

    def example(self) -> Word2VecInput:
        first = self.vectors.kv.index_to_key[0]
        return Word2VecInput(op="most_similar", positive=[first], topn=10)

    def predict(self, batch: list[Word2VecInput]) -> list[dict[str, Any]]:
        return [answer(self.vectors, item) for item in batch]


def answer(vectors: Vectors, item: Word2VecInput) -> dict[str, Any]:
    """The output for one input (see the module docstring)."""
    try:
        resolved = vectors.lookup(item.terms)
    except UnknownWords as exc:
        unknown = list(dict.fromkeys(exc.unknown))
        return {"unknown": unknown, "resolved": exc.resolved}
    return {"unknown": [], "resolved": resolved, **_compute(vectors, item)}


def _compute(vectors: Vectors, item: Word2VecInput) -> dict[str, Any]:
    words = item.words
    if item.op == "most_similar":
        return {"results": _pairs(vectors.most_similar(item.positive, item.negative, item.topn))}
    if item.op == "analogy":
        a, b, c = words
        return {"results": _pairs(vectors.analogy(a, b, c, topn=item.topn))}
    if item.op == "similarity":
        x, y = words
        return {"similarity": vectors.similarity(x, y)}
    if item.op == "odd_one_out":
        odd, scores = vectors.odd_one_out(words)
        return {"word": odd, "scores": _pairs(scores)}
    return {"results": [[word, *vectors.frequency(word)] for word in words]}


def _pairs(pairs: list[tuple[str, float]]) -> list[list[Any]]:
    return [[term, score] for term, score in pairs]
