"""The word2vec worker model: word-vector questions over the mesh, vectors shared by mmap.

With trained vectors in the store::

    model = Word2VecModel(settings, "word2vec", model="lee@2"); model.load()
    model.predict([Word2VecInput.analogy("man", "king", "woman", topn=3)])
    # -> [{'unknown': [], 'resolved': {'man': 'man', ...}, 'results': [['queen', 0.93], ...]}]

The ops, what each reads and what it answers are the word2vec contract, in
:mod:`botwerk.schemas.models.word2vec` (a table there): ``Word2VecInput`` and ``Word2VecOutput``. A
wrong number of words fails validation (a ``bad_request`` reply), before any batching.
The matrix is ``np.load(mmap_mode="r")``: N workers on one machine share one copy.
"""

from __future__ import annotations

from typing import Any, ClassVar

from botwerk.infra.settings import Settings
from botwerk.schemas.models.word2vec import Row, Word2VecInput, Word2VecOutput
from botwerk.workers.errors import NotLoaded
from botwerk.workers.store import ModelStore, parse_spec
from botwerk.workers.word2vec.model import UnknownWords, Vectors

__all__ = ["KIND", "Word2VecInput", "Word2VecModel", "answer"]

KIND = "word2vec"


class Word2VecModel:
    """Serves one stored word2vec model (``model``, default ``name``) under ``name``."""

    Input: ClassVar[type[Word2VecInput]] = Word2VecInput

    def __init__(self, settings: Settings, name: str = KIND, model: str | None = None) -> None:
        self.settings = settings
        self.name = name
        self.spec = model or name
        self.version = self.spec  # until loaded: then the manifest's NAME@VERSION
        self.store = ModelStore.from_settings(settings)
        self._vectors: Vectors | None = None

    @property
    def vectors(self) -> Vectors:
        if self._vectors is None:
            raise NotLoaded(self.name)
        return self._vectors

    @property
    def follows(self) -> str | None:
        """The stored model whose new versions this one follows; None when pinned (NAME@V)."""
        name, version = parse_spec(self.spec)
        return None if version else name

    def at(self, version: str) -> Word2VecModel:
        """A fresh, unloaded copy serving ``version`` of the same stored model (a rollout)."""
        return Word2VecModel(self.settings, self.name, f"{parse_spec(self.spec)[0]}@{version}")

    def latest(self) -> str:
        """The version "latest" of the followed name means now (a rollout's catch-up)."""
        return ModelStore.from_settings(self.settings).latest(parse_spec(self.spec)[0]).version

    def load(self) -> None:
        stored = self.store.open(self.spec, kind=KIND)
        self._vectors = Vectors.open(stored.path)
        self.version = stored.manifest.spec

    def example(self) -> Word2VecInput:
        first = self.vectors.kv.index_to_key[0]
        return Word2VecInput.most_similar([first], topn=10)

    def predict(self, batch: list[Word2VecInput]) -> list[dict[str, Any]]:
        return [answer(self.vectors, item) for item in batch]


def answer(vectors: Vectors, item: Word2VecInput) -> dict[str, Any]:
    """The outputs for one input: only ``unknown`` and ``resolved`` if a term is unknown."""
    try:
        resolved = vectors.lookup(item.terms)
    except UnknownWords as exc:
        unknown = list(dict.fromkeys(exc.unknown))
        return Word2VecOutput(unknown=unknown, resolved=exc.resolved).to_outputs()
    return _compute(vectors, item, resolved).to_outputs()


def _compute(vectors: Vectors, item: Word2VecInput, resolved: dict[str, str]) -> Word2VecOutput:
    words = item.words
    if item.op == "most_similar":
        found = vectors.most_similar(item.positive, item.negative, item.topn)
        return Word2VecOutput(unknown=[], resolved=resolved, results=_rows(found))
    if item.op == "analogy":
        a, b, c = words
        found = vectors.analogy(a, b, c, topn=item.topn)
        return Word2VecOutput(unknown=[], resolved=resolved, results=_rows(found))
    if item.op == "similarity":
        x, y = words
        return Word2VecOutput(unknown=[], resolved=resolved, similarity=vectors.similarity(x, y))
    if item.op == "odd_one_out":
        odd, scores = vectors.odd_one_out(words)
        return Word2VecOutput(unknown=[], resolved=resolved, word=odd, scores=scores)
    counts: list[Row] = [[word, *vectors.frequency(word)] for word in words]
    return Word2VecOutput(unknown=[], resolved=resolved, results=counts)


def _rows(pairs: list[tuple[str, float]]) -> list[Row]:
    return [[term, score] for term, score in pairs]
