"""What Annalogue understands: a pure function from a message to a typed query, no model.

>>> parse("king - man + woman")
Arithmetic(positive=('king', 'woman'), negative=('man',))
>>> parse("new york : usa :: london : ?")
Analogy(a='new york', b='usa', c='london')

Patterns, tried in this order (case-insensitive; a trailing "?" or "." never matters):

- ``help`` or ``?``                                      -> :class:`Help`
- ``A : B :: C : ?``, ``A:B::C``, ``A is to B as C is to ?`` -> :class:`Analogy`
- ``which doesn't belong: a, b, c`` (also "does not", ``odd one out: a b c``) -> :class:`OddOneOut`;
  commas separate terms when there are any (``and``/``or`` before the last one too),
  otherwise spaces do, so multi-word terms need commas
- ``X vs Y``, ``X versus Y``, ``how similar are X and Y``   -> :class:`Similarity`
- ``what is the R of Y`` (``what's``, ``which is``)       -> :class:`Relation`; R is looked up in
  :data:`RELATIONS`, reference pairs for an analogy (capital: france -> paris, so the capital
  of Y is "france is to paris as Y is to ?"). An R not in the table is still answered, as the
  words nearest to R + Y
- ``how common is X``, ``frequency of X``               -> :class:`Frequency`
- ``king - man + woman`` (any number of terms, a leading term is positive; ``what is`` before it
  is allowed)                                           -> :class:`Arithmetic`
- ``words like X``, ``similar to X``, or X alone       -> :class:`Neighbours`

Terms are whole words or phrases of up to four words ("new york"), sent as written; the worker
resolves them. The minus rule: ``-`` subtracts only with a space (or the start of the text)
before it, so "X-Men" and "well-known" are single terms while "spider-man - man" and
"king -man" subtract. ``+`` always adds. Anything else (a long sentence) gives None.

Each query the model answers builds its request (``request(topn)``, a
:class:`~botwerk.schemas.models.word2vec.Word2VecInput`); ``inputs(topn)`` is that request's
map, as sent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from botwerk.schemas.models.word2vec import Word2VecInput

MAX_TERM_WORDS = 4
TRIM = " \t\r\n\"'`\u201c\u201d\u2018\u2019.,;:!?=()[]{}"  # taken off both ends of every term

# Reference pairs per relation, best first: "the R of Y" is "a is to b as Y is to ?".
RELATIONS: dict[str, tuple[tuple[str, str], ...]] = {
    "capital": (("france", "paris"), ("japan", "tokyo")),
    "currency": (("japan", "yen"), ("india", "rupee")),
    "language": (("france", "french"), ("germany", "german")),
    "opposite": (("hot", "cold"), ("big", "small")),
    "plural": (("cat", "cats"), ("house", "houses")),
    "past tense": (("walk", "walked"), ("go", "went")),
    "female": (("king", "queen"), ("actor", "actress")),
    "male": (("queen", "king"), ("actress", "actor")),
    "comparative": (("good", "better"), ("big", "bigger")),
    "superlative": (("good", "best"), ("big", "biggest")),
}
RELATION_ALIASES = {
    "capital city": "capital",
    "main language": "language",
    "past": "past tense",
    "feminine": "female",
    "masculine": "male",
    "antonym": "opposite",
}


@dataclass(frozen=True)
class Help:
    """The user asked how to talk to the bot."""


class _Asks:
    """A query the model answers: its request, and that request's map."""

    def request(self, topn: int) -> Word2VecInput:
        raise NotImplementedError

    def inputs(self, topn: int) -> dict[str, Any]:
        return self.request(topn).to_inputs()


@dataclass(frozen=True)
class Neighbours(_Asks):
    """The words nearest to one term."""

    term: str

    def request(self, topn: int) -> Word2VecInput:
        return Word2VecInput.most_similar([self.term], topn=topn)


@dataclass(frozen=True)
class Arithmetic(_Asks):
    """``positive[0] + positive[1] ... - negative[0] ...``: the words nearest to the sum."""

    positive: tuple[str, ...]
    negative: tuple[str, ...]
    expression: str = field(default="", compare=False, repr=False)  # as typed: "king - man"

    def request(self, topn: int) -> Word2VecInput:
        return Word2VecInput.most_similar(self.positive, self.negative, topn)


@dataclass(frozen=True)
class Analogy(_Asks):
    """``a`` is to ``b`` as ``c`` is to ?"""

    a: str
    b: str
    c: str

    def request(self, topn: int) -> Word2VecInput:
        return Word2VecInput.analogy(self.a, self.b, self.c, topn)


@dataclass(frozen=True)
class Relation(_Asks):
    """The ``relation`` of ``subject``, through ``example`` (None: a relation not in the table)."""

    relation: str
    subject: str
    example: tuple[str, str] | None

    def request(self, topn: int) -> Word2VecInput:
        if self.example is None:
            return Word2VecInput.most_similar([self.relation, self.subject], topn=topn)
        return Analogy(*self.example, self.subject).request(topn)


@dataclass(frozen=True)
class Similarity(_Asks):
    """How alike ``x`` and ``y`` are."""

    x: str
    y: str

    def request(self, topn: int) -> Word2VecInput:
        return Word2VecInput.similarity(self.x, self.y)


@dataclass(frozen=True)
class OddOneOut(_Asks):
    """Which of ``terms`` fits the others least (the bot checks their number first)."""

    terms: tuple[str, ...]

    def request(self, topn: int) -> Word2VecInput:
        return Word2VecInput.odd_one_out(self.terms)


@dataclass(frozen=True)
class Frequency(_Asks):
    """How often ``term`` occurs in the model's corpus."""

    term: str

    def request(self, topn: int) -> Word2VecInput:
        return Word2VecInput.frequency([self.term])


ModelQuery = Neighbours | Arithmetic | Analogy | Relation | Similarity | OddOneOut | Frequency
Query = Help | ModelQuery

_I = re.IGNORECASE
IS_TO = re.compile(
    r"^(?:what\s+is\s+)?(.+?)\s+is\s+to\s+(.+?)\s+as\s+(.+?)(?:\s+is\s+to(?:\s+what)?)?$", _I
)
ODD = re.compile(
    r"^(?:which\s+(?:one\s+|word\s+)?(?:doesn't|doesnt|does\s+not|don't|do\s+not)\s+belong"
    r"|(?:what(?:'s|\s+is)\s+the\s+|find\s+the\s+)?odd\s+one\s+out)"
    r"(?:\s+(?:in|among|of|here))?\s*[:?,-]?\s*(.*)$",
    _I,
)
PAIR = r"\s+(.+?)\s+(?:and|to|with|&)\s+(.+)$"
SIMILAR = (
    re.compile(r"^(.+?)\s+(?:vs\.?|versus)\s+(.+)$", _I),
    re.compile(r"^how\s+(?:similar|alike|close|related)\s+(?:are|is)" + PAIR, _I),
    re.compile(r"^similarity\s+(?:of|between)" + PAIR, _I),
)
RELATION = re.compile(r"^(?:what|which)(?:'s|\s+is|\s+are)\s+the\s+(.+?)\s+of\s+(.+)$", _I)
FREQUENCY = re.compile(r"^(?:how\s+(?:common|frequent|rare)\s+is|frequency(?:\s+of)?)\s+(.+)$", _I)
NEIGHBOURS = re.compile(
    r"^(?:words?\s+(?:like|near|similar\s+to)|(?:what(?:'s|\s+is)\s+)?similar\s+to"
    r"|synonyms?\s+(?:of|for))\s+(.+)$",
    _I,
)
# "+", or a minus sign (also U+2212 and the en dash) with a space or the start before it
OPERATOR = re.compile(r"(\+|(?:(?<=\s)|^)[-\u2212\u2013])")
ARITHMETIC_PREFIX = re.compile(r"^(?:what(?:'s|\s+is)|calculate|compute)\s+", _I)
SEPARATORS = re.compile(r",|\s+(?:and|or)\s+", _I)


def parse(text: str) -> Query | None:
    """The query ``text`` asks, or None when it is none of the patterns above."""
    text = " ".join(text.replace("\u2019", "'").split())
    if text.lower() in ("help", "?", "help?"):
        return Help()
    text = text.rstrip("?.! ")
    for read in (_analogy, _odd_one_out, _similarity, _relation, _frequency, _arithmetic):
        if (query := read(text)) is not None:
            return query
    return _neighbours(text)


def term(raw: str) -> str | None:
    """``raw`` as one term: trimmed, spaces collapsed; None if it cannot be a term."""
    cleaned = " ".join(raw.split()).strip(TRIM)
    words = cleaned.split(" ")
    if not any(c.isalnum() for c in cleaned) or len(words) > MAX_TERM_WORDS:
        return None
    if any(c in cleaned for c in ":+?="):
        return None
    return cleaned


def _terms(*raw: str) -> list[str] | None:
    found = [term(r) for r in raw]
    return [t for t in found if t is not None] if None not in found else None


def _analogy(text: str) -> Analogy | None:
    if "::" in text:
        left, _, right = text.partition("::")
        a_b = left.split(":")
        c, *answer = right.split(":")
        if len(a_b) != 2 or any(term(x) is not None for x in answer):
            return None
        terms = _terms(*a_b, c)
    elif match := IS_TO.match(text):
        terms = _terms(*match.groups())
    else:
        return None
    return Analogy(*terms) if terms else None


def _odd_one_out(text: str) -> OddOneOut | None:
    if not (match := ODD.match(text)):
        return None
    rest = match.group(1)
    pieces = SEPARATORS.split(rest) if "," in rest else rest.split()
    terms = _terms(*(p for p in pieces if p.strip(TRIM)))
    return OddOneOut(tuple(terms)) if terms is not None else None


def _similarity(text: str) -> Similarity | None:
    for pattern in SIMILAR:
        if (match := pattern.match(text)) and (terms := _terms(*match.groups())):
            return Similarity(*terms)
    return None


def _relation(text: str) -> Relation | None:
    if not (match := RELATION.match(text)):
        return None
    name, subject = match.group(1).lower(), match.group(2)
    name = RELATION_ALIASES.get(name, name)
    if subject.lower().startswith("the "):
        subject = subject[4:]  # "the united states" -> "united states"
    if not (terms := _terms(name, subject)):
        return None
    subject = terms[1]
    pairs = [p for p in RELATIONS.get(name, ()) if subject.lower() not in p]
    return Relation(terms[0], subject, pairs[0] if pairs else None)


def _frequency(text: str) -> Frequency | None:
    match = FREQUENCY.match(text)
    found = term(match.group(1)) if match else None
    return Frequency(found) if found else None


def _arithmetic(text: str) -> Arithmetic | None:
    pieces = OPERATOR.split(ARITHMETIC_PREFIX.sub("", text))
    if len(pieces) < 3:
        return None  # no operator
    signs = ["+", *("+" if op == "+" else "-" for op in pieces[1::2])]
    raw = pieces[0::2]
    if not raw[0].strip():
        signs, raw = signs[1:], raw[1:]  # "- man": no leading term
    terms = _terms(*raw)
    if not terms:
        return None
    expression = " ".join(f"{sign} {t}" for sign, t in zip(signs, terms, strict=True))
    positive = tuple(t for sign, t in zip(signs, terms, strict=True) if sign == "+")
    negative = tuple(t for sign, t in zip(signs, terms, strict=True) if sign == "-")
    return Arithmetic(positive, negative, expression.removeprefix("+ "))


def _neighbours(text: str) -> Neighbours | None:
    match = NEIGHBOURS.match(text)
    found = term(match.group(1) if match else text)
    return Neighbours(found) if found else None
