"""The charrnn worker model: input checking, predict, and serving over the in-process bus."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest

from botwerk.infra.memory import MemoryBus
from botwerk.infra.settings import Settings
from botwerk.schemas import SchemaError, validate
from botwerk.testing.serving import serving
from botwerk.workers.batching import Batcher
from botwerk.workers.charrnn.serve import CharRNNInput, CharRNNModel
from botwerk.workers.errors import NotLoaded
from botwerk.workers.store import ModelStore


@pytest.mark.parametrize(
    ("inputs", "reason"),
    [({"length": 0}, r"inputs\.length: .*>= 1"),
     ({"length": 2001}, r"inputs\.length: .*<= 2000"),
     ({"temperature": 0}, r"inputs\.temperature: .*> 0"),
     ({"top_k": -1}, r"inputs\.top_k"),
     ({"prime": "x" * 4001}, r"inputs\.prime"),
     ({"surprise": 1}, "unknown field")],
)  # fmt: skip
def test_bad_inputs_are_refused(inputs, reason):
    with pytest.raises(SchemaError, match=reason):
        validate(inputs, CharRNNInput, "inputs")


def test_defaults():
    assert validate({}, CharRNNInput, "inputs") == CharRNNInput(
        prime="", length=200, temperature=0.8, top_k=0, seed=None
    )


@pytest.fixture
def served(trained, tmp_path) -> Settings:
    ModelStore(str(tmp_path)).publish("bard", "charrnn", trained.folder)
    return Settings.load(models=str(tmp_path), device="cpu")


def test_predict_gives_one_continuation_per_input(served):
    model = CharRNNModel(served, "charrnn", model="bard")
    assert model.version == "unloaded"
    with pytest.raises(NotLoaded, match="call load"):
        model.predict([model.example()])
    model.load()
    assert model.version == "bard@1" and model.name == "charrnn"
    batch = [model.example(), CharRNNInput(prime="the", length=5, seed=1), CharRNNInput()]
    outputs = model.predict(batch)
    assert [len(o["text"]) for o in outputs] == [200, 5, 200]


async def test_concurrent_requests_are_batched_through_the_batcher(served):
    model = CharRNNModel(served, "bard")
    model.load()
    with ThreadPoolExecutor(1) as executor:
        batcher = Batcher(model.predict, max_batch=8, max_wait_ms=20, executor=executor)
        task = asyncio.create_task(batcher.run())
        inputs = [CharRNNInput(prime=f"the {i}", length=10 + i, seed=i) for i in range(8)]
        done = await asyncio.gather(*(batcher.submit(x) for x in inputs))
        task.cancel()
    assert [len(d.output["text"]) for d in done] == [10 + i for i in range(8)]
    assert max(d.batch_size for d in done) > 1
    assert [d.output for d in done] == model.predict(inputs)  # the same as one batch


async def test_served_by_a_worker_on_the_in_process_bus(settings, served):
    settings = settings.model_copy(update={"models": served.models, "device": "cpu"})
    bus = MemoryBus(settings.max_message_bytes)
    await bus.start()
    try:
        async with serving(bus, settings, CharRNNModel(settings, "charrnn", model="bard")) as ask:
            reply = await ask("charrnn", {"prime": "the ", "length": 12, "seed": 3})
        assert reply.version == "bard@1" and len(reply.outputs["text"]) == 12
    finally:
        await bus.close()
