"""A schema error in plain words: what a user reads names no path, type or field name."""

from __future__ import annotations

import re
from typing import Annotated, Literal

import msgspec
import pytest

from botwerk.schemas import SchemaError, validate
from botwerk.schemas import errors as words
from botwerk.schemas.models import CharRNNInput, ChatInput, EchoInput, Word2VecInput

W2V = Word2VecInput
SHIPPED = (CharRNNInput, ChatInput, EchoInput, Word2VecInput)
TECHNICAL = re.compile(r"inputs|\$|`|expected|got|length <=|>=|<=|_", re.IGNORECASE)


def worded(inputs: dict, kind: type) -> str:
    with pytest.raises(SchemaError) as caught:
        validate(inputs, kind, "inputs")
    return caught.value.for_user(kind)


@pytest.mark.parametrize(
    ("inputs", "kind", "said"),
    [
        ({"prime": "x" * 5000}, CharRNNInput, "the text is too long: at most 4,000 characters"),
        ({"length": 0}, CharRNNInput, "the length must be at least 1"),
        ({"length": 2001}, CharRNNInput, "the length must be at most 2,000"),
        ({"temperature": 0}, CharRNNInput, "the temperature must be above 0"),
        ({"temperature": "hot"}, CharRNNInput, "the temperature must be a number"),
        ({"seed": "x"}, CharRNNInput, "the seed must be a whole number"),
        ({"prime": "x", "surprise": 1}, CharRNNInput, words.UNKNOWN_FIELD),
        ({}, ChatInput, "the text is missing"),
        ({"text": "hi", "mode": "x"}, ChatInput, "the mode must be one of beam, greedy or sample"),
        ({"op": "frequency", "words": [1]}, W2V, "each of the words must be a piece of text"),
        ({"op": "guess"}, W2V, "the kind of question is not something I can use"),
        ({"op": "analogy", "words": ["a"]}, W2V, "that request is not something I can use"),
    ],
)  # fmt: skip
def test_each_kind_of_problem_in_plain_words(inputs, kind, said):
    assert worded(inputs, kind) == said


def test_a_title_in_the_fields_meta_wins_and_an_unknown_field_is_one_of_the_settings():
    class Order(msgspec.Struct):
        note: Annotated[str, msgspec.Meta(max_length=3, title="your note")] = ""
        size_code: Literal["s", "m"] = "s"
        flavour_id: Annotated[int, msgspec.Meta(ge=1)] = 1

    assert worded({"note": "long"}, Order) == "your note is too long: at most 3 characters"
    assert (
        worded({"size_code": "xl"}, Order) == f"{words.SOME_FIELD} must be one of m or s"
    )  # sorted
    assert worded({"flavour_id": 0}, Order) == f"{words.SOME_FIELD} must be at least 1"


def test_without_the_struct_the_shipped_titles_still_apply():
    with pytest.raises(SchemaError) as caught:
        validate({"text": 5}, EchoInput, "inputs")
    assert str(caught.value) == "inputs.text: expected `str`, got `int`"  # the logs keep it
    assert caught.value.for_user() == "the text must be a piece of text"


@pytest.mark.parametrize("kind", SHIPPED)
def test_no_bad_value_of_any_shipped_field_is_worded_with_insides(kind):
    for field in kind.__struct_fields__:
        for bad in ("x" * 10_000, -(10**9), 10**9, 1.5, None, [1], {"a": 1}):
            try:
                validate({"op": "most_similar", "text": "hi", field: bad}, kind, "inputs")
            except SchemaError as exc:
                said = exc.for_user(kind)
                assert not TECHNICAL.search(said), (kind.__name__, field, bad, str(exc), said)
