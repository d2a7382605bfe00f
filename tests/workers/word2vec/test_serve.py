"""The word2vec worker model: input checking, every op's output, and serving over the bus."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

from botwerk.infra.settings import Settings
from botwerk.schemas import SchemaError, validate
from botwerk.testing.serving import serving
from botwerk.workers.runtime import Model
from botwerk.workers.store import ModelNotFound, ModelStore
from botwerk.workers.word2vec.model import Vectors
from botwerk.workers.word2vec.serve import Word2VecInput, Word2VecModel, answer


def ask(vectors: Vectors, **inputs: Any) -> dict[str, Any]:
    return answer(vectors, validate(inputs, Word2VecInput, "inputs"))


@pytest.mark.parametrize(
    ("inputs", "reason"),
    [({"op": "analogy", "words": ["a", "b"]}, "analogy needs 3 words in `words`, got 2"),
     ({"op": "similarity", "words": ["a"]}, "similarity needs 2 words"),
     ({"op": "odd_one_out", "words": ["a", "b"]}, "odd_one_out needs 3 to 100 words"),
     ({"op": "frequency"}, "frequency needs 1 to 100 words"),
     ({"op": "most_similar"}, "at least one word in `positive`"),
     ({"op": "most_similar", "positive": ["a"], "words": ["b"]}, "not `words`"),
     ({"op": "analogy", "words": ["a", "b", "c"], "negative": ["d"]}, "not `positive`"),
     ({"op": "most_similar", "positive": ["a"], "topn": 0}, r"inputs\.topn"),
     ({"op": "cluster", "words": ["a"]}, r"inputs\.op"),
     ({"op": "frequency", "words": ["a"], "extra": 1}, "unknown field")],
)  # fmt: skip
def test_wrong_inputs_fail_validation(inputs: dict[str, Any], reason: str) -> None:
    with pytest.raises(SchemaError, match=reason):
        validate(inputs, Word2VecInput, "inputs")


def test_most_similar(handmade: Vectors) -> None:
    out = ask(handmade, op="most_similar", positive=["KING"], negative=["man"], topn=2)
    assert out["unknown"] == [] and out["resolved"] == {"KING": "king", "man": "man"}
    assert [term for term, _ in out["results"]] == ["New_York", "new_york"]
    assert all(isinstance(score, float) for _, score in out["results"])


def test_analogy(handmade: Vectors) -> None:
    out = ask(handmade, op="analogy", words=["man", "king", "woman"], topn=1)
    assert out["results"][0][0] == "queen" and len(out["results"]) == 1


def test_similarity(handmade: Vectors) -> None:
    out = ask(handmade, op="similarity", words=["New York", "new-york"])
    assert out["resolved"] == {"New York": "New_York", "new-york": "new_york"}
    assert 0.9 < out["similarity"] < 1.0


def test_odd_one_out(handmade: Vectors) -> None:
    out = ask(handmade, op="odd_one_out", words=["king", "queen", "apple"])
    assert out["word"] == "apple"
    assert [term for term, _ in out["scores"]] == ["king", "queen", "apple"]


def test_frequency(handmade: Vectors) -> None:
    out = ask(handmade, op="frequency", words=["queen", "nasa"])
    assert out["results"] == [["queen", 99, 2], ["nasa", 92, 9]]


def test_unknown_words_give_only_unknown_and_resolved(handmade: Vectors) -> None:
    out = ask(handmade, op="analogy", words=["man", "kiwi", "kiwi"])
    assert out == {"unknown": ["kiwi"], "resolved": {"man": "man"}}


def test_outputs_are_msgpack_builtins(handmade: Vectors) -> None:
    out = ask(handmade, op="odd_one_out", words=["king", "queen", "apple"])
    assert msgspec.msgpack.decode(msgspec.msgpack.encode(out)) == out


@pytest.fixture
def served(trained: Any, tmp_path: Path) -> Settings:
    settings = Settings.load(models=str(tmp_path))
    ModelStore(str(tmp_path)).publish("grouped", "word2vec", trained.folder)
    return settings


def test_the_model_through_the_protocol(served: Settings) -> None:
    model: Model = Word2VecModel(served, "word2vec", model="grouped")
    model.load()
    assert model.version == "grouped@1"
    batch = [
        model.example(),
        Word2VecInput(op="most_similar", positive=["cat"], topn=3),
        Word2VecInput(op="frequency", words=["zebra"]),
    ]
    outputs = model.predict(batch)
    assert len(outputs) == 3 and len(outputs[0]["results"]) == 10
    assert {term for term, _ in outputs[1]["results"]} <= {"dog", "mouse", "horse", "cow"}
    assert outputs[2] == {"unknown": ["zebra"], "resolved": {}}


def test_a_missing_or_wrong_kind_of_model_is_named(
    served: Settings, trained: Any, tmp_path: Path
) -> None:
    with pytest.raises(ModelNotFound, match="no model 'word2vec'"):
        Word2VecModel(served).load()
    ModelStore(str(tmp_path)).publish("chars", "charrnn", trained.folder)
    with pytest.raises(ModelNotFound, match="not word2vec"):
        Word2VecModel(served, model="chars").load()


@pytest.mark.broker
async def test_served_by_a_worker_on_the_bus(
    bus: Any, settings: Settings, served: Settings
) -> None:
    settings = settings.model_copy(update={"models": served.models})
    model = Word2VecModel(settings, "vectors", model="grouped")
    async with serving(bus, settings, model) as ask:
        inputs = {"op": "analogy", "words": ["cat", "dog", "red"], "topn": 2}
        reply = await ask("vectors", inputs)
    assert reply.version == "grouped@1" and len(reply.outputs["results"]) == 2
