"""Each model kind's contract: valid inputs, each limit at and over its bound, codec round trips."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import msgspec
import pytest

from botwerk.schemas import InferReply, InferRequest, SchemaError, decode, encode
from botwerk.schemas.models import (
    CharRNNInput,
    CharRNNOutput,
    ChatInput,
    ChatOutput,
    EchoInput,
    EchoOutput,
    ModelInput,
    ModelOutput,
    Word2VecInput,
    Word2VecOutput,
    charrnn,
    chat,
    echo,
    word2vec,
)

PROTOCOL = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"


def refused(cls: type[ModelInput[Any]], inputs: dict[str, Any], reason: str) -> None:
    with pytest.raises(SchemaError, match=reason):
        cls.from_inputs(inputs)


# --- limits: at the bound is taken, over it is refused, naming the field ----------------------


@pytest.mark.parametrize(
    ("cls", "good", "bad", "reason"),
    [
        (CharRNNInput, {"prime": "x" * charrnn.MAX_PRIME},
         {"prime": "x" * (charrnn.MAX_PRIME + 1)}, r"inputs\.prime"),
        (CharRNNInput, {"length": charrnn.MAX_LENGTH},
         {"length": charrnn.MAX_LENGTH + 1}, r"inputs\.length: .*<= 2000"),
        (CharRNNInput, {"length": charrnn.MIN_LENGTH},
         {"length": charrnn.MIN_LENGTH - 1}, r"inputs\.length: .*>= 1"),
        (CharRNNInput, {"temperature": charrnn.MAX_TEMPERATURE},
         {"temperature": charrnn.MAX_TEMPERATURE + 0.01}, r"inputs\.temperature"),
        (CharRNNInput, {"temperature": 1e-9}, {"temperature": 0}, r"inputs\.temperature: .*> 0"),
        (CharRNNInput, {"top_k": 0}, {"top_k": -1}, r"inputs\.top_k"),
        (ChatInput, {"text": "x" * chat.MAX_TEXT},
         {"text": "x" * (chat.MAX_TEXT + 1)}, r"inputs\.text"),
        (ChatInput, {"text": "hi", "context": "x" * chat.MAX_TEXT},
         {"text": "hi", "context": "x" * (chat.MAX_TEXT + 1)}, r"inputs\.context"),
        (ChatInput, {"text": "hi", "beam": chat.MAX_BEAM},
         {"text": "hi", "beam": chat.MAX_BEAM + 1}, r"inputs\.beam: .*<= 16"),
        (ChatInput, {"text": "hi", "beam": chat.MIN_BEAM},
         {"text": "hi", "beam": chat.MIN_BEAM - 1}, r"inputs\.beam: .*>= 1"),
        (ChatInput, {"text": "hi", "max_len": chat.MAX_TOKENS},
         {"text": "hi", "max_len": chat.MAX_TOKENS + 1}, r"inputs\.max_len"),
        (ChatInput, {"text": "hi", "max_len": 0},
         {"text": "hi", "max_len": -1}, r"inputs\.max_len"),
        (ChatInput, {"text": "hi", "temperature": chat.MAX_TEMPERATURE},
         {"text": "hi", "temperature": chat.MAX_TEMPERATURE + 0.01}, r"inputs\.temperature"),
        (ChatInput, {"text": "hi", "mode": "beam"},
         {"text": "hi", "mode": "shout"}, r"inputs\.mode"),
        (Word2VecInput, {"op": "frequency", "words": ["a"], "topn": word2vec.MAX_TOPN},
         {"op": "frequency", "words": ["a"], "topn": word2vec.MAX_TOPN + 1}, r"inputs\.topn"),
        (Word2VecInput, {"op": "frequency", "words": ["a"], "topn": word2vec.MIN_TOPN},
         {"op": "frequency", "words": ["a"], "topn": word2vec.MIN_TOPN - 1}, r"inputs\.topn"),
        (Word2VecInput, {"op": "odd_one_out", "words": ["a"] * word2vec.MAX_WORDS},
         {"op": "odd_one_out", "words": ["a"] * (word2vec.MAX_WORDS + 1)}, "3 to 100 words"),
        (Word2VecInput, {"op": "odd_one_out", "words": ["a"] * 3},
         {"op": "odd_one_out", "words": ["a"] * 2}, "3 to 100 words"),
        (Word2VecInput, {"op": "frequency", "words": ["a"] * word2vec.MAX_WORDS},
         {"op": "frequency", "words": ["a"] * (word2vec.MAX_WORDS + 1)}, "1 to 100 words"),
        (Word2VecInput, {"op": "analogy", "words": ["a", "b", "c"]},
         {"op": "analogy", "words": ["a", "b", "c", "d"]}, "analogy needs 3 words"),
        (Word2VecInput, {"op": "similarity", "words": ["a", "b"]},
         {"op": "similarity", "words": ["a", "b", "c"]}, "similarity needs 2 words"),
        (Word2VecInput, {"op": "most_similar", "positive": ["a"]},
         {"op": "most_similar", "negative": ["a"]}, "at least one word in `positive`"),
        (EchoInput, {"text": "hi", "fail": True}, {"text": 1}, r"inputs\.text"),
    ],
)  # fmt: skip
def test_each_limit_takes_its_bound_and_refuses_past_it(cls, good, bad, reason):
    assert isinstance(cls.from_inputs(good), cls)
    refused(cls, bad, reason)


@pytest.mark.parametrize("cls", [EchoInput, CharRNNInput, ChatInput, Word2VecInput])
def test_unknown_keys_are_refused(cls):
    base = {"text": "hi", "op": "frequency", "words": ["a"]}
    fields = set(cls.__struct_fields__)
    refused(cls, {k: v for k, v in base.items() if k in fields} | {"surprise": 1}, "unknown field")


def test_word2vec_fields_an_op_does_not_take_are_refused_but_topn_is_ignored():
    refused(Word2VecInput, {"op": "analogy", "words": ["a", "b", "c"], "negative": ["d"]},
            "not `positive`")  # fmt: skip
    refused(Word2VecInput, {"op": "most_similar", "positive": ["a"], "words": ["b"]}, "not `words`")
    refused(Word2VecInput, {"op": "cluster", "words": ["a"]}, r"inputs\.op")
    taken = Word2VecInput.from_inputs({"op": "similarity", "words": ["a", "b"], "topn": 9})
    assert taken.to_inputs() == {"op": "similarity", "words": ["a", "b"]}


def test_defaults_are_the_documented_ones():
    assert CharRNNInput.from_inputs({}) == CharRNNInput(
        prime="", length=200, temperature=0.8, top_k=0, seed=None
    )
    assert ChatInput.from_inputs({"text": "hi"}) == ChatInput(
        text="hi", context="", mode="greedy", temperature=0.8, top_k=0, beam=4, max_len=0
    )
    assert EchoInput.from_inputs({"text": "hi"}) == EchoInput(text="hi", delay_ms=0, fail=False)
    assert Word2VecInput.from_inputs({"op": "frequency", "words": ["a"]}).topn == 5
    assert chat.MODES == ("greedy", "sample", "beam")


# --- what a bot sends --------------------------------------------------------------------------


def test_optional_extras_travel_only_when_set():
    assert EchoInput(text="hi").to_inputs() == {"text": "hi"}
    assert EchoInput(text="hi", delay_ms=5).to_inputs() == {"text": "hi", "delay_ms": 5}
    assert "seed" not in CharRNNInput(prime="a").to_inputs()
    assert CharRNNInput(prime="a", seed=0).to_inputs()["seed"] == 0
    sent = ChatInput(text="hi").to_inputs()
    assert sent == {"text": "hi", "mode": "greedy", "temperature": 0.8, "top_k": 0, "beam": 4,
                    "max_len": 0}  # fmt: skip
    assert ChatInput(text="hi", context="Yo.", seed=3).to_inputs() | sent == {
        **sent, "context": "Yo.", "seed": 3,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("request_", "sent"),
    [
        (Word2VecInput.most_similar(["king", "woman"], ["man"]),
         {"op": "most_similar", "positive": ["king", "woman"], "negative": ["man"], "topn": 5}),
        (Word2VecInput.analogy("a", "b", "c", topn=2),
         {"op": "analogy", "words": ["a", "b", "c"], "topn": 2}),
        (Word2VecInput.similarity("x", "y"), {"op": "similarity", "words": ["x", "y"]}),
        (Word2VecInput.odd_one_out(["a", "b", "c"]),
         {"op": "odd_one_out", "words": ["a", "b", "c"]}),
        (Word2VecInput.frequency(["a"]), {"op": "frequency", "words": ["a"]}),
    ],
)  # fmt: skip
def test_each_word2vec_query_sends_only_the_fields_its_op_reads(request_, sent):
    assert request_.to_inputs() == sent
    assert set(sent) - {"op"} == set(word2vec.READS[request_.op])
    assert Word2VecInput.from_inputs(sent) == request_


def test_a_word2vec_query_of_the_wrong_shape_fails_at_construction():
    with pytest.raises(ValueError, match="odd_one_out needs 3 to 100 words"):
        Word2VecInput.odd_one_out(["a", "b"])


# --- round trips through the codec -------------------------------------------------------------

INPUTS: list[ModelInput[Any]] = [
    EchoInput(text="héllo ✓", delay_ms=10, fail=True),
    CharRNNInput(prime="To be", length=80, temperature=1.5, top_k=3, seed=-7),
    ChatInput(text="how are you?", context="Hi.", mode="sample", beam=2, max_len=9, seed=1),
    Word2VecInput.most_similar(["new york"], ["usa"], topn=100),
    Word2VecInput.frequency(["cat", "dog"]),
]
OUTPUTS: list[ModelOutput] = [
    EchoOutput(text="héllo ✓"),
    CharRNNOutput(text=", or not to be"),
    ChatOutput(text="", context_used=True),
    Word2VecOutput(unknown=[], resolved={"a": "A"}, results=[["queen", 0.71], ["king", 0.5]]),
    Word2VecOutput(unknown=[], resolved={}, results=[["cat", 12345, 1021]]),
    Word2VecOutput(unknown=[], resolved={}, word="car", scores=[("cat", 0.5), ("car", 0.09)]),
    Word2VecOutput(unknown=[], resolved={}, similarity=-0.05),
    Word2VecOutput(unknown=["flurb"], resolved={"man": "man"}),
]


@pytest.mark.parametrize("inputs", INPUTS, ids=lambda i: type(i).__name__)
def test_inputs_survive_a_round_trip_through_an_infer_request(inputs):
    body = encode(InferRequest(model="m", inputs=inputs.to_inputs()))
    request = decode(body, InferRequest.TYPE, expect=(InferRequest,))
    assert type(inputs).from_inputs(request.inputs) == inputs


@pytest.mark.parametrize("outputs", OUTPUTS, ids=lambda o: type(o).__name__)
def test_outputs_survive_a_round_trip_through_an_infer_reply(outputs):
    body = encode(InferReply(model="m", version="m@1", outputs=outputs.to_outputs()))
    reply = decode(body, InferReply.TYPE, expect=(InferReply,))
    assert type(outputs).from_outputs(reply.outputs) == outputs


def test_word2vec_outputs_carry_only_the_fields_the_op_gave():
    only = Word2VecOutput(unknown=["x"], resolved={})
    assert only.to_outputs() == {"unknown": ["x"], "resolved": {}}
    unset = Word2VecOutput.from_outputs({"unknown": [], "resolved": {}})
    assert unset.results is msgspec.UNSET and unset.similarity is msgspec.UNSET


def test_outputs_ignore_unknown_keys_and_name_a_missing_one():
    assert ChatOutput.from_outputs({"text": "Hi.", "context_used": False, "new": 1}).text == "Hi."
    with pytest.raises(SchemaError, match=r"outputs\.text"):
        CharRNNOutput.from_outputs({})


def test_each_input_names_its_output_type_and_the_type_parameter_agrees():
    for inputs, outputs in [(EchoInput, EchoOutput), (CharRNNInput, CharRNNOutput),
                            (ChatInput, ChatOutput), (Word2VecInput, Word2VecOutput)]:  # fmt: skip
        assert inputs.Output is outputs
        assert inputs.__orig_bases__[0].__args__ == (outputs,)  # type: ignore[attr-defined]


# --- the document and the import floor ---------------------------------------------------------


def test_docs_protocol_names_every_field_and_limit_of_every_model():
    doc = PROTOCOL.read_text()
    assert "schemas/models/" in doc
    for cls in (EchoInput, CharRNNInput, ChatInput, Word2VecInput, EchoOutput, CharRNNOutput,
                ChatOutput, Word2VecOutput):  # fmt: skip
        missing = [name for name in cls.__struct_fields__ if f"`{name}`" not in doc]
        assert not missing, f"docs/protocol.md does not name {cls.__name__}'s {missing}"
    limits = [f"{charrnn.MAX_PRIME:,}", f"{charrnn.MIN_LENGTH}-{charrnn.MAX_LENGTH}",
              f"{chat.MAX_TEXT:,}", f"{chat.MIN_BEAM}-{chat.MAX_BEAM}", f"0-{chat.MAX_TOKENS}",
              f"{word2vec.MIN_TOPN}-{word2vec.MAX_TOPN}", f"{echo.MAX_DELAY_MS:,}"]  # fmt: skip
    assert [limit for limit in limits if limit not in doc] == []
    assert all(f"`{op}`" in doc for op in word2vec.READS)


def test_the_contracts_import_nothing_heavy():
    code = (
        "import sys, botwerk.schemas.models\n"
        "heavy = {'torch', 'numpy', 'gensim'} & {m.split('.')[0] for m in sys.modules}\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
