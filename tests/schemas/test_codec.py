"""Encode/decode round trips and every kind of bad body."""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from botwerk.schemas import (
    TYPES,
    ComponentEvent,
    Error,
    Inbound,
    InferReply,
    InferRequest,
    ModelPublished,
    Reply,
    SchemaError,
    User,
    decode,
    encode,
    validate,
)
from botwerk.schemas.messages import Learning, ModelPromoted, ModelRejected

EXAMPLES = [
    Inbound(
        bot="demo", transport="slack", conversation="C1", user=User(id="U1", name="Ann"),
        text="héllo ✓", thread="171.2", direct=False, sent_at=1.5, meta={"team": "T1"},
    ),
    Reply(bot="demo", conversation="C1", text="hi", thread="171.2", error=None),
    Reply(bot="demo", conversation="C1", text="too slow", error="timeout"),
    InferRequest(model="echo", inputs={"text": "hi", "n": 3, "blob": b"\x00\xff", "l": [1.5]}),
    InferReply(model="echo", version="1", outputs={"text": "hi"}, batch_size=4, compute_ms=1.25),
    Error(code="model_error", message="the model failed", detail="ValueError: x"),
    Error(code="no_worker", message="still learning", learning=Learning(done=0.4, eta_s=65.0)),
    ModelPublished(name="bard", kind="charrnn", version="3", uri="file://m", created_at=2.0),
    ModelPromoted(name="bard", kind="charrnn", version="2", previous="3", rollback=True, at=2.5),
    ModelRejected(name="bard", version="4", serving="bard@3", instance="a1", reason="x", at=2.7),
    ComponentEvent(role="worker", name="echo", instance="a1", state="up", pid=1, host="h", at=3.0),
]  # fmt: skip


@pytest.mark.parametrize("message", EXAMPLES, ids=lambda m: m.TYPE)
def test_round_trip(message):
    assert decode(encode(message), message.TYPE) == message


def test_every_type_is_registered_under_its_versioned_name():
    assert set(TYPES) == {m.TYPE for m in EXAMPLES}
    assert all(name.startswith("botwerk.") and name.endswith(".v1") for name in TYPES)


def test_bytes_and_str_stay_apart():
    request = decode(encode(EXAMPLES[3]), InferRequest.TYPE)
    assert request.inputs["blob"] == b"\x00\xff"
    assert isinstance(request.inputs["text"], str)


@given(
    text=st.text(max_size=300),
    user=st.text(max_size=20),
    meta=st.dictionaries(st.text(), st.text()),
)
def test_round_trip_any_text(text, user, meta):
    message = Inbound(
        bot="b", transport="t", conversation="c", user=User(id=user), text=text, meta=meta
    )
    assert decode(encode(message), Inbound.TYPE) == message


def test_unknown_fields_are_ignored_so_old_readers_accept_new_writers():
    body = msgpack.packb({"bot": "b", "conversation": "c", "text": "t", "added_in_v1_1": 7})
    assert decode(body, Reply.TYPE) == Reply(bot="b", conversation="c", text="t")


def _bad(body, type_name=Inbound.TYPE, content_type="application/msgpack", **kwargs):
    with pytest.raises(SchemaError) as caught:
        decode(body, type_name, content_type, **kwargs)
    return caught.value


GOOD = {"bot": "b", "transport": "t", "conversation": "c", "user": {"id": "u"}, "text": "t"}


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        (b"\xc1", "body", "not MessagePack"),
        (b"", "body", "not MessagePack"),
        (b"\x92\x01", "body", "not MessagePack"),  # truncated array
        (msgpack.packb(GOOD) + b"\x00", "body", "trailing bytes"),
        (msgpack.packb([1, 2]), "body", "expected `object`, got `array`"),
        (msgpack.packb({**GOOD, "text": 5}), "text", "expected `str`, got `int`"),
        (msgpack.packb({**GOOD, "text": b"t"}), "text", "expected `str`, got `bytes`"),
        (msgpack.packb({**GOOD, "user": {"id": 3}}), "user.id", "expected `str`, got `int`"),
        (msgpack.packb({**GOOD, "meta": {"k": 1}}), "meta[...]", "expected `str`, got `int`"),
        (msgpack.packb({k: v for k, v in GOOD.items() if k != "text"}), "text", "missing required"),
        (msgpack.packb({**GOOD, "user": {}}), "user.id", "missing required"),
        (msgpack.packb({**GOOD, "x": msgpack.ExtType(5, b"e")}), "body", "extension type 5"),
        (msgpack.packb({1: "int key"}), "body", "not MessagePack"),
    ],
)
def test_bad_body_names_the_field_and_reason(body, field, reason):
    error = _bad(body)
    assert error.field == field
    assert reason in error.reason
    assert str(error).startswith(f"{field}: ")


def test_unknown_type_is_refused():
    error = _bad(msgpack.packb(GOOD), type_name="botwerk.pickle.v1")
    assert (error.field, "unknown message type 'botwerk.pickle.v1'" in error.reason) == (
        "type",
        True,
    )


def test_missing_type_is_refused():
    assert _bad(msgpack.packb(GOOD), type_name=None).field == "type"


def test_known_type_not_accepted_here_is_refused():
    error = _bad(encode(EXAMPLES[1]), type_name=Reply.TYPE, expect=(InferRequest,))
    assert error.field == "type"
    assert "not accepted here; expected botwerk.infer.v1" in error.reason


@pytest.mark.parametrize("content_type", ["application/json", "application/x-python-pickle", None])
def test_other_content_types_are_refused(content_type):
    error = _bad(msgpack.packb(GOOD), content_type=content_type)
    assert error.field == "content_type"


def test_body_over_the_cap_is_refused_before_parsing():
    body = msgpack.packb({**GOOD, "text": "x" * 2000})
    error = _bad(body, max_bytes=1000)
    assert error.field == "body"
    assert f"{len(body)} bytes is over the 1000-byte cap" == error.reason


def test_default_cap_is_256_kib():
    _bad(msgpack.packb({**GOOD, "text": "x" * (256 * 1024)}))
    decode(msgpack.packb({**GOOD, "text": "x" * (255 * 1024)}), Inbound.TYPE)


def test_validate_prefixes_the_field():
    import msgspec

    class Params(msgspec.Struct):
        text: str

    with pytest.raises(SchemaError) as caught:
        validate({"text": 1}, Params, "inputs")
    assert caught.value.field == "inputs.text"
    with pytest.raises(SchemaError) as caught:
        validate("not a map", Params, "inputs")
    assert caught.value.field == "inputs"


STAMP = msgpack.Timestamp(1_700_000_000)  # MessagePack's own extension type -1


@pytest.mark.parametrize(
    ("type_name", "body"),
    [
        (Inbound.TYPE, {**GOOD, "unknown": STAMP}),  # a field this reader does not know
        (Inbound.TYPE, {**GOOD, "user": {"id": "u", "later": [1, {"at": STAMP}]}}),
        (Inbound.TYPE, {**GOOD, "sent_at": STAMP}),  # where a float belongs
        (InferRequest.TYPE, {"model": "echo", "inputs": {"text": "hi", "when": STAMP}}),
    ],
    ids=["unknown field", "nested unknown", "typed field", "inputs"],
)
def test_the_timestamp_extension_is_refused_anywhere(type_name, body):
    error = _bad(msgpack.packb(body, datetime=False), type_name=type_name)
    assert (error.field, error.reason) == (
        "body", "MessagePack extension type -1 (timestamp) is not allowed"
    )  # fmt: skip
