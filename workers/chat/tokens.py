"""Words in and sentences out: the chat model's tokeniser, detokeniser and vocabulary.

>>> tokenize("I'm fine, thanks! Don't you think so?")
['i', 'am', 'fine', ',', 'thanks', '!', 'do', 'not', 'you', 'think', 'so', '?']
>>> detokenize(['i', 'am', 'fine', ',', 'thanks', '!', 'do', 'not', 'you', 'think', 'so', '?'])
"I'm fine, thanks! Don't you think so?"
>>> corpus = ["I'm fine.", "I am here."]
>>> vocab = Vocab.build([tokenize(line) for line in corpus], max_size=8000, min_count=2)
>>> vocab.encode(["i", "am", "zyzzyva"])      # unknown words map to <unk>, never an error
[7, 6, 1]

Text is lower-cased, curly quotes straightened, contractions expanded (``don't`` -> ``do
not``, ``I'm`` -> ``i am``; ``'s`` after a pronoun or question word is ``is``, after anything
else it stays the possessive token ``'s``), numbers kept whole, and every punctuation mark is a
token of its own (a run of dots is one ``...``; a hyphen inside a word belongs to the word).
Detokenising undoes what a reader would notice: common contractions come back (``i am`` ->
``I'm`` before a word, ``do not`` -> ``don't``), punctuation sticks to its word, sentences and
``I`` get their capitals. ``tokenize(detokenize(t)) == t`` for what ``tokenize`` produces.

The vocabulary starts with the special tokens (:data:`SPECIALS`), then the words of the
training text by falling frequency (ties alphabetical), trimmed to ``max_size`` and to words
seen ``min_count`` times; it is saved with the model, so training and serving agree.

Limits: English only; proper names come back lower-case unless they open a sentence; "he'd"
is always "he would", never "he had".
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

PAD, UNK, START, END, SEP = 0, 1, 2, 3, 4
SPECIALS = ("<pad>", "<unk>", "<s>", "</s>", "<sep>")
"""padding, unknown word, start of a reply, end of a reply, between context and prompt"""

_IRREGULAR = {"won't": "will not", "can't": "can not", "shan't": "shall not", "ain't": "is not",
              "let's": "let us", "y'all": "you all", "'em": "them"}  # fmt: skip
_SUFFIXES = {"n't": "not", "'re": "are", "'ve": "have", "'ll": "will", "'d": "would", "'m": "am"}
_IS_AFTER = frozenset(("it", "he", "she", "that", "what", "where", "who", "how", "there", "here"))
_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "`": "'"})
_WORD = re.compile(r"\d+(?:[.,:]\d+)+|[^\W_]+(?:['-][^\W_]+)*|'[^\W_]+|\.{2,}|[^\w\s]|_")

_CONTRACT = [
    (("i", "am"), "i'm"), (("let", "us"), "let's"), (("will", "not"), "won't"),
    (("can", "not"), "can't"), (("shall", "not"), "shan't"),
    *(((w, "not"), f"{w}n't") for w in ("do", "does", "did", "is", "are", "was", "were", "has",
                                        "have", "had", "could", "would", "should")),
    *(((p, "are"), f"{p}'re") for p in ("you", "we", "they")),
    *(((p, "will"), f"{p}'ll") for p in ("i", "you", "we", "they", "he", "she", "it")),
    *(((p, "would"), f"{p}'d") for p in ("i", "you", "we", "they", "he", "she")),
    *(((p, "is"), f"{p}'s") for p in ("it", "he", "she", "that", "what", "there", "who")),
]  # fmt: skip
"""Word pairs written as one when detokenising; each expands back to the same pair."""
_CONTRACTIONS = dict(_CONTRACT)
_NO_SPACE_BEFORE = frozenset(".,!?;:)]}%…") | {"...", "'s"}
_NO_SPACE_AFTER = frozenset("([{$#")
_SENTENCE_END = frozenset(".!?")


def tokenize(text: str) -> list[str]:
    """Lower-cased words and punctuation marks, contractions expanded (see the module)."""
    tokens: list[str] = []
    for word in _WORD.findall(text.translate(_QUOTES).lower()):
        tokens += _expand(word, tokens[-1] if tokens else "")
    return tokens


def _expand(word: str, before: str) -> list[str]:
    if word in _IRREGULAR:
        return _IRREGULAR[word].split()
    if "'" not in word or word.startswith("'"):
        return [word]
    stem, _, rest = word.partition("'")
    for suffix, full in _SUFFIXES.items():
        if word.endswith(suffix) and len(word) > len(suffix):
            return [*_expand(word[: -len(suffix)], before), full]
    if rest == "s":
        return [stem, "is" if stem in _IS_AFTER else "'s"]
    return [word]  # o'clock, rock'n'roll: one word


def detokenize(tokens: Sequence[str]) -> str:
    """A normal sentence from ``tokens``: contractions, spacing, capitals (see the module)."""
    words = _contract([t for t in tokens if t not in SPECIALS])
    out: list[str] = []
    capital, quotes, glue = True, 0, True
    for word in words:
        if word == '"':
            quotes += 1
            opening = quotes % 2 == 1
            out.append(word if glue or not opening else f" {word}")
            glue = opening
            continue
        shown = word.capitalize() if capital or word == "i" or word.startswith("i'") else word
        space = not (glue or word in _NO_SPACE_BEFORE)
        out.append(f" {shown}" if space else shown)
        glue = word in _NO_SPACE_AFTER
        capital = word in _SENTENCE_END or (capital and not word[0].isalnum())
    return "".join(out).strip()


def _contract(tokens: list[str]) -> list[str]:
    """Negations first, so "i will not" becomes "i won't", not "i'll not"; other pairs only
    before a word ("yes, i am." stays whole)."""
    for negations in (True, False):
        out: list[str] = []
        for i, token in enumerate(tokens):
            joined = _CONTRACTIONS.get((out[-1], token)) if out else None
            before_word = i + 1 < len(tokens) and tokens[i + 1][0].isalnum()
            if joined is not None and (token == "not" if negations else before_word):
                out[-1] = joined
            else:
                out.append(token)
        tokens = out
    return tokens


@dataclass(frozen=True, slots=True)
class Vocab:
    """Tokens <-> ids; the first ids are :data:`SPECIALS`."""

    tokens: tuple[str, ...]
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.tokens[: len(SPECIALS)] != SPECIALS:
            raise ValueError(f"a chat vocabulary starts with {SPECIALS}")
        object.__setattr__(self, "_index", {t: i for i, t in enumerate(self.tokens)})

    @classmethod
    def build(cls, texts: Iterable[Sequence[str]], max_size: int, min_count: int = 1) -> Vocab:
        """The ``max_size`` commonest tokens seen at least ``min_count`` times, specials first."""
        counts = Counter(token for text in texts for token in text)
        ranked = sorted(
            (t for t, n in counts.items() if n >= min_count and t not in SPECIALS),
            key=lambda t: (-counts[t], t),
        )
        if not ranked:
            raise ValueError("no words to learn: the training pairs are empty")
        return cls(SPECIALS + tuple(ranked[: max(0, max_size - len(SPECIALS))]))

    @property
    def size(self) -> int:
        return len(self.tokens)

    def encode(self, tokens: Iterable[str]) -> list[int]:
        return [self._index.get(t, UNK) for t in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        """The tokens up to the first end token, specials left out."""
        out = []
        for i in ids:
            if i == END:
                break
            if i >= len(SPECIALS):
                out.append(self.tokens[i])
        return out
