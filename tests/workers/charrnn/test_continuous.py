"""Continuous batching of charrnn generation: joining mid-way, and a short request served by a
real worker (RabbitMQ) while a long one runs."""

from __future__ import annotations

import asyncio

import pytest

from botwerk.infra import topology
from botwerk.infra.bus import now_ms
from botwerk.infra.rpc import Replies, Rpc
from botwerk.workers.charrnn.generate import Generator
from botwerk.workers.charrnn.serve import CharRNNInput, CharRNNModel
from botwerk.workers.runtime import Worker
from botwerk.workers.store import ModelStore
from tests.support.waiting import eventually


@pytest.fixture(scope="module")
def generator(trained):
    return Generator.from_folder(trained.folder, "cpu")


def test_seeded_requests_that_join_mid_way_give_the_text_they_give_alone(generator):
    long = CharRNNInput(prime="the quick", length=60, temperature=1.0, seed=1)
    later = [CharRNNInput(prime="a bard sings of the king", length=9, top_k=3, seed=2),
             CharRNNInput(prime="", length=20, temperature=2.0, seed=3),
             CharRNNInput(prime="fox", length=1, seed=4)]  # fmt: skip
    session = generator.session()
    session.add({0: long})
    done = {}
    for _ in range(10):
        done |= session.step()
    session.add(dict(enumerate(later[:2], 1)))
    for _ in range(5):
        done |= session.step()
    session.remove([2])  # a request that gave up leaves the others as they were
    session.add({3: later[2]})
    while len(session):
        done |= session.step()
    assert sorted(done) == [0, 1, 3]
    assert [done[0], done[1], done[3]] == generator.generate([long, later[0], later[2]])
    assert done[0] == generator.generate([long])[0] and done[1] == generator.generate(later[:1])[0]


@pytest.mark.broker
@pytest.mark.parametrize("bus", ["rabbitmq"], indirect=True)  # the batcher is bus-neutral
async def test_a_short_request_is_answered_while_a_long_one_runs(bus, settings, trained, tmp_path):
    ModelStore(str(tmp_path)).publish("bard", "charrnn", trained.folder)
    settings = settings.model_copy(update={"models": str(tmp_path), "device": "cpu",
                                           "max_wait_ms": 20.0})  # fmt: skip
    names = topology.Names(settings.namespace)
    await bus.declare(topology.base(names, topology.limits_of(settings)))
    worker = Worker(bus, settings, CharRNNModel(settings, "charrnn", model="bard"))
    await worker.start()
    replies = Replies(bus, names, names.reply_queue("core", settings.instance))
    await replies.start()
    rpc = Rpc(bus, names, replies)

    def ask(length: int):
        inputs = {"prime": "the ", "length": length, "seed": length}
        return asyncio.ensure_future(rpc.infer("charrnn", inputs, deadline_ms=now_ms() + 20_000))

    try:
        await ask(2)  # a fresh request ends probation: then the worker takes a full batch
        await eventually(lambda: not worker._probation and not worker._background)
        long, short = ask(2000), ask(20)
        finished, _ = await asyncio.wait([long, short], return_when=asyncio.FIRST_COMPLETED)
        assert finished == {short} and len(short.result().outputs["text"]) == 20
        assert short.result().batch_size == 2  # it ran beside the long one
        assert short.result().compute_ms < (await long).compute_ms / 10  # 20 steps of 2,000
    finally:
        await worker.stop()
