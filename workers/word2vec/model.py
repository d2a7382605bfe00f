"""Word vectors on disk and the questions they answer: neighbours, analogies, odd one out.

Storing a trained gensim model's vectors, and asking them::

    save_folder(model.wv, Path("built"))            # vectors.bin + vectors.npy + vocab.tsv
    vectors = Vectors.open(Path("built"))           # memory-mapped, nothing copied, no pickle
    vectors.most_similar(["new york"], topn=3)      # "new york" resolves to "new_york"
    # -> [('los_angeles', 0.71), ...]
    vectors.analogy("man", "king", "woman")         # man is to king as woman is to ?

A stored folder holds the same vectors twice:

- ``vectors.bin``: the standard word2vec binary format, for other tools
  (``KeyedVectors.load_word2vec_format(path, binary=True)`` reads it);
- ``vectors.npy`` (float32, rows in index order) and ``vocab.tsv`` (``word<TAB>count`` per
  line, same order): what serving reads. ``np.load(mmap_mode="r")`` maps the matrix, so every
  worker process on a machine shares one copy in the page cache. Each process adds only its
  vocabulary dict and a norms array (4 bytes a word).

A count of 0 means "not known" (imported vectors carry no counts); the rank, the position in
the file, is then the only frequency information, as word2vec files list words by frequency.

Terms are resolved to vocabulary keys by :meth:`Vectors.resolve`: multi-word terms are joined
with underscores as phrase vectors are ("new york" -> "new_york" / "New_York"), and case
variants are tried. A term that resolves to nothing raises :class:`UnknownWords`, which lists
every such term. Limits: queries scan the whole matrix (3 million words x 300: ~0.1 s each).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from gensim import matutils
from gensim.models import KeyedVectors

from botwerk.schemas import BotwerkError

BINARY, MATRIX, VOCAB = "vectors.bin", "vectors.npy", "vocab.tsv"
SEPARATORS = re.compile(r"[\s\-]+")


class UnknownWords(BotwerkError, LookupError):
    """Some terms are not in the vocabulary; ``unknown`` lists them as the caller wrote them."""

    def __init__(self, unknown: list[str], resolved: dict[str, str]) -> None:
        super().__init__(f"not in the vocabulary: {', '.join(map(repr, unknown))}")
        self.unknown = unknown
        self.resolved = resolved


# The folder.


def save_folder(kv: KeyedVectors, folder: Path, counts: Sequence[int] | None = None) -> None:
    """Write ``kv`` as ``vectors.bin``, ``vectors.npy`` and ``vocab.tsv`` into ``folder``."""
    words = [str(word) for word in kv.index_to_key]
    bad = next((w for w in words if not w or any(c in w for c in "\t\n\r ")), None)
    if bad is not None:
        raise ValueError(
            f"word {bad!r} is empty or holds whitespace: word2vec files cannot store it"
        )
    if counts is None:
        counts = [int(kv.get_vecattr(w, "count")) for w in words] if "count" in kv.expandos else []
    counts = list(counts) or [0] * len(words)
    matrix = np.ascontiguousarray(kv.vectors, dtype=np.float32)  # (words, dimensions)
    folder.mkdir(parents=True, exist_ok=True)
    write_binary(folder / BINARY, words, matrix)
    np.save(folder / MATRIX, matrix)
    with (folder / VOCAB).open("w", encoding="utf-8") as out:
        out.writelines(f"{word}\t{count}\n" for word, count in zip(words, counts, strict=True))


def write_binary(path: Path, words: Sequence[str], matrix: np.ndarray) -> None:
    """The word2vec binary format, byte for byte what gensim's ``save_word2vec_format`` writes.

    Rows in index order (gensim's writer sorts by count; the same when counts descend): a
    header ``WORDS DIMENSIONS\\n``, then per word ``word `` and its float32 row, no newline.
    Written here because gensim's looks up every word through ``kv[word]``: for GloVe's 400k
    words it took 4.8 s, this 1.1 s.
    """
    row = matrix.shape[1] * 4  # bytes per float32 row
    data = np.ascontiguousarray(matrix, dtype=np.float32).data.cast("B")  # bytes, no copy
    with path.open("wb", buffering=1 << 20) as out:
        out.write(f"{len(words)} {matrix.shape[1]}\n".encode())
        for index, word in enumerate(words):
            out.write(f"{word} ".encode())
            out.write(data[index * row : (index + 1) * row])


def load_folder(folder: Path) -> KeyedVectors:
    """KeyedVectors around the memory-mapped ``vectors.npy``: the matrix is not copied."""
    matrix = np.load(folder / MATRIX, mmap_mode="r")  # float32, (words, dimensions)
    words, counts = [], []
    with (folder / VOCAB).open(encoding="utf-8") as lines:
        for line in lines:
            word, _, count = line.rstrip("\n").rpartition("\t")
            words.append(word)
            counts.append(int(count))
    if matrix.ndim != 2 or len(words) != matrix.shape[0]:
        raise ValueError(
            f"{folder}: {VOCAB} has {len(words)} words but {MATRIX} has shape {matrix.shape}; "
            "the folder is damaged: publish the model again"
        )
    return keyed_vectors(words, matrix, counts)


def keyed_vectors(
    words: list[str], matrix: np.ndarray, counts: Sequence[int] | None = None
) -> KeyedVectors:
    """KeyedVectors around ``matrix`` (not copied) with ``words`` in row order; counts or 0s.

    Built directly: ``add_vectors`` would copy the matrix and take seconds for 400k words.
    """
    counts = [0] * len(words) if counts is None else counts
    kv = KeyedVectors(matrix.shape[1], count=0, dtype=np.float32)
    kv.vectors = matrix
    kv.index_to_key = words
    kv.key_to_index = {word: index for index, word in enumerate(words)}
    kv.next_index = len(words)
    kv.expandos = {"count": np.asarray(counts, dtype=np.int64)}
    return kv


# The questions.


class Vectors:
    """Word-vector queries that resolve terms first and name the unknown ones."""

    def __init__(self, kv: KeyedVectors) -> None:
        self.kv = kv
        kv.fill_norms()  # now, once, not inside the first query

    @classmethod
    def open(cls, folder: Path) -> Vectors:
        return cls(load_folder(folder))

    def __len__(self) -> int:
        return len(self.kv.index_to_key)

    def resolve(self, term: str) -> str | None:
        """The vocabulary key for ``term``: as written, lower, Title_Case, UPPER; else None."""
        index = self.kv.key_to_index
        for form in _forms(term.strip()):
            for key in (form, form.lower(), _title(form), form.upper()):
                if key in index:
                    return key
        return None

    def lookup(self, terms: Iterable[str]) -> dict[str, str]:
        """Every term -> its key, or :class:`UnknownWords` naming those without one."""
        resolved: dict[str, str] = {}
        unknown: list[str] = []
        for term in terms:
            key = self.resolve(term)
            if key is None:
                unknown.append(term)
            else:
                resolved[term] = key
        if unknown:
            raise UnknownWords(unknown, resolved)
        return resolved

    def most_similar(
        self, positive: Sequence[str], negative: Sequence[str] = (), topn: int = 5
    ) -> list[tuple[str, float]]:
        """The nearest words to the sum of ``positive`` minus ``negative`` (3CosAdd)."""
        keys = self.lookup([*positive, *negative])
        hits = self.kv.most_similar(
            [keys[t] for t in positive], [keys[t] for t in negative], topn=topn
        )
        return [(word, float(score)) for word, score in hits]

    def analogy(self, a: str, b: str, c: str, topn: int = 5) -> list[tuple[str, float]]:
        """``a`` is to ``b`` as ``c`` is to ...? Ranked by 3CosMul, scored by a true cosine.

        3CosMul (Levy & Goldberg) ranks best, but its scores are ratios of shifted cosines,
        not cosines: they pass 1 (a user saw "113%"). Each answer's score is therefore its
        cosine to the 3CosAdd target ``b - a + c`` (unit vectors), in [-1, 1] like every other
        score here, and the same figure ``most_similar([b, c], [a])`` gives. Inputs excluded.
        """
        keys = self.lookup([a, b, c])
        kv = self.kv
        unit = [kv.get_vector(keys[t], norm=True) for t in (a, b, c)]  # 3 x (dims,)
        # Cosines shifted to [0, 1], one (words,) array per input; gensim's most_similar_cosmul
        # does the same but calls the deprecated init_sims on every query.
        shifted = [(1 + kv.vectors @ u / kv.norms) / 2 for u in unit]
        scores = shifted[1] * shifted[2] / (shifted[0] + 1e-6)
        inputs = {kv.key_to_index[keys[t]] for t in (a, b, c)}
        best = matutils.argsort(scores, topn=topn + len(inputs), reverse=True)
        best = [i for i in best if i not in inputs][:topn]
        target = matutils.unitvec(unit[1] - unit[0] + unit[2])  # (dims,)
        cosines = kv.vectors[best] @ target / kv.norms[best]  # (len(best),)
        return [(kv.index_to_key[i], float(cos)) for i, cos in zip(best, cosines, strict=True)]

    def similarity(self, x: str, y: str) -> float:
        keys = self.lookup([x, y])
        return float(self.kv.similarity(keys[x], keys[y]))

    def odd_one_out(self, words: Sequence[str]) -> tuple[str, list[tuple[str, float]]]:
        """The word least like the others, and each word's mean cosine to the rest."""
        if len(words) < 3:
            raise ValueError(f"odd one out needs 3 or more words, got {len(words)}")
        keys = self.lookup(words)
        unit = np.vstack([self.kv.get_vector(keys[w], norm=True) for w in words])
        cosines = unit @ unit.T  # (n, n)
        to_rest = (cosines.sum(axis=1) - cosines.diagonal()) / (len(words) - 1)
        scores = [(word, float(score)) for word, score in zip(words, to_rest, strict=True)]
        return min(scores, key=lambda pair: pair[1])[0], scores

    def frequency(self, word: str) -> tuple[int, int]:
        """``(count, rank)``: count in the training corpus (0: unknown), rank from 1."""
        key = self.lookup([word])[word]
        index = self.kv.key_to_index[key]
        return int(
            self.kv.expandos["count"][index]
        ) if "count" in self.kv.expandos else 0, index + 1


def _forms(term: str) -> list[str]:
    """``term``, then with spaces joined by ``_``, then with hyphens joined too."""
    spaced = "_".join(term.split())
    return list(dict.fromkeys([term, spaced, "_".join(SEPARATORS.split(term))]))


def _title(form: str) -> str:
    return "_".join(part[:1].upper() + part[1:].lower() for part in form.split("_"))
