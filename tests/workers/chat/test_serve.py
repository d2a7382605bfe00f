"""The chat worker model: input checking, predict, and serving over the in-process bus."""

from __future__ import annotations

import pytest

from botwerk.infra.memory import MemoryBus
from botwerk.infra.settings import Settings
from botwerk.schemas import SchemaError, validate
from botwerk.testing.serving import serving
from botwerk.workers.chat.serve import ChatInput, ChatModel
from botwerk.workers.errors import NotLoaded
from botwerk.workers.store import ModelStore


@pytest.mark.parametrize(
    ("inputs", "reason"),
    [({}, r"missing required field `text`"),
     ({"text": "x" * 2001}, r"inputs\.text"),
     ({"text": "hi", "mode": "shout"}, r"inputs\.mode"),
     ({"text": "hi", "beam": 17}, r"inputs\.beam: .*<= 16"),
     ({"text": "hi", "temperature": 0}, r"inputs\.temperature: .*> 0"),
     ({"text": "hi", "max_len": 101}, r"inputs\.max_len"),
     ({"text": "hi", "surprise": 1}, "unknown field")],
)  # fmt: skip
def test_bad_inputs_are_refused_by_field(inputs, reason):
    with pytest.raises(SchemaError, match=reason):
        validate(inputs, ChatInput, "inputs")


@pytest.fixture
def served(trained, tmp_path) -> Settings:
    ModelStore(str(tmp_path)).publish("movie", "chat", trained.folder)
    return Settings.load(models=str(tmp_path), device="cpu")


def test_predict_answers_each_input_with_a_sentence(served):
    model = ChatModel(served, "chat", model="movie")
    with pytest.raises(NotLoaded, match="call load"):
        model.predict([model.example()])
    model.load()
    assert model.version == "movie@1" and model.name == "chat"
    batch = [model.example(), ChatInput(text="hello", mode="beam"),
             ChatInput(text="do you drink", context="hi", mode="sample", seed=1)]  # fmt: skip
    outputs = model.predict(batch)
    assert [sorted(o) for o in outputs] == [["context_used", "text"]] * 3
    assert all(isinstance(o["text"], str) and o["context_used"] is False for o in outputs)
    assert outputs == model.predict(batch)  # greedy, beam and a seeded sample: repeatable


async def test_served_by_a_worker_on_the_in_process_bus(settings, served):
    settings = settings.model_copy(update={"models": served.models, "device": "cpu"})
    bus = MemoryBus(settings.max_message_bytes)
    await bus.start()
    try:
        async with serving(bus, settings, ChatModel(settings, "chat", model="movie")) as ask:
            reply = await ask("chat", {"text": "hello", "mode": "beam", "beam": 3})
        assert reply.version == "movie@1" and reply.outputs["text"]
    finally:
        await bus.close()
