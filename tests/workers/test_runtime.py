"""The worker role on both buses: replies, bad input, model errors, deadlines, readiness."""

from __future__ import annotations

import asyncio
import threading
from types import SimpleNamespace
from typing import ClassVar

import pytest

from botwerk.infra import topology
from botwerk.infra.bus import Outgoing, dead_reason, now_ms
from botwerk.infra.errors import DeadlineExceeded, RemoteError
from botwerk.infra.rpc import Replies, Rpc
from botwerk.schemas import ComponentEvent, InferRequest, decode
from botwerk.workers.echo.serve import EchoModel
from botwerk.workers.runtime import Worker
from tests.support.waiting import collect, eventually

pytestmark = pytest.mark.broker


class CountingEcho(EchoModel):
    loads = 0
    threads: ClassVar[set[int]] = set()  # the threads predict ran on

    def load(self) -> None:
        CountingEcho.loads += 1

    def predict(self, batch):
        CountingEcho.threads.add(threading.get_ident())
        return super().predict(batch)


@pytest.fixture
async def mesh(bus, settings):
    names = topology.Names(settings.namespace)
    await bus.declare(topology.base(names))
    events_queue = names.reply_queue("events", "t")
    await bus.declare(
        [
            topology.reply_queue(events_queue),
            topology.Binding(events_queue, names.events, "component.#"),
        ]
    )
    events = await collect(bus, events_queue)
    dead = await collect(bus, names.dead)
    batching = settings.model_copy(update={"max_wait_ms": 20.0})
    worker = Worker(bus, batching, CountingEcho(batching, "echo"))
    await worker.start()
    replies = Replies(bus, names, names.reply_queue("core", settings.instance))
    await replies.start()
    yield Rpc(bus, names, replies), names, worker, events, dead
    await worker.stop()


async def call(rpc, ms=5000, **inputs):
    return await rpc.infer("echo", inputs, deadline_ms=now_ms() + ms)


async def test_echo_round_trip_with_batching(mesh):
    rpc, *_ = mesh
    replies = await asyncio.gather(*(call(rpc, text=f"t{i}") for i in range(40)))
    assert [r.outputs["text"] for r in replies] == [f"t{i}" for i in range(40)]
    assert all(r.model == "echo" and r.version == "1" for r in replies)
    assert max(r.batch_size for r in replies) > 1


async def test_echo_answers_on_the_event_loop_unless_a_delay_would_block_it(mesh):
    rpc, *_ = mesh
    CountingEcho.threads.clear()
    assert (await call(rpc, text="quick")).outputs == {"text": "quick"}
    assert CountingEcho.threads == {threading.get_ident()}  # the loop's thread: no hop
    assert (await call(rpc, text="slow", delay_ms=1)).outputs == {"text": "slow"}
    assert len(CountingEcho.threads) == 2  # a delay sleeps: on the model's thread


async def test_bad_input_gets_a_bad_request_reply(mesh):
    rpc, *_ = mesh
    with pytest.raises(RemoteError) as caught:
        await call(rpc, text=5)
    assert caught.value.code == "bad_request"
    assert caught.value.message == "the text must be a piece of text"  # words for the user
    assert "inputs.text: expected `str`, got `int`" in caught.value.detail  # the path: for logs
    with pytest.raises(RemoteError) as caught:
        await call(rpc, text="x", surprise=1)
    assert "unknown field" in caught.value.detail
    assert (await call(rpc, text="still fine")).outputs == {"text": "still fine"}


async def test_a_model_exception_gets_a_model_error_reply(mesh):
    rpc, *_ = mesh
    with pytest.raises(RemoteError) as caught:
        await call(rpc, text="x", fail=True)
    assert caught.value.code == "model_error"
    assert "EchoFailure: asked to fail" in caught.value.detail
    assert (await call(rpc, text="alive")).outputs == {"text": "alive"}


async def test_the_model_is_loaded_once_and_up_is_announced_after_warmup(mesh, settings):
    _, _, _, events, _ = mesh
    await eventually(lambda: len(events) == 1)
    event = decode(events[0].message.body, events[0].message.type)
    assert isinstance(event, ComponentEvent)
    assert (event.role, event.name, event.state, event.instance) == (
        "worker",
        "echo",
        "up",
        settings.instance,
    )
    assert events[0].routing_key == "component.up.worker.echo"
    assert CountingEcho.loads >= 1
    loads = CountingEcho.loads
    await asyncio.gather(*(call(mesh[0], text="x") for _ in range(20)))
    assert CountingEcho.loads == loads


async def test_expired_requests_are_dead_lettered_unstarted(bus, mesh):
    rpc, names, _, _, dead = mesh
    request = InferRequest(model="echo", inputs={"text": "stale"})
    message = Outgoing.of(request, reply_to=rpc.replies.queue, deadline_ms=now_ms() - 1)
    await bus.publish(names.infer, "echo", message)
    await eventually(lambda: len(dead) == 1)
    assert dead_reason(dead[0].headers) == "deadline passed before the work started"


async def test_requests_without_reply_to_are_dead_lettered(bus, mesh):
    _, names, _, _, dead = mesh
    await bus.publish(
        names.infer, "echo", Outgoing.of(InferRequest(model="echo", inputs={"text": "x"}))
    )
    await eventually(lambda: len(dead) == 1)
    assert "without reply_to" in dead_reason(dead[0].headers)


@pytest.mark.parametrize("deadline", [None, True, "1767225600000", -5])
async def test_requests_without_a_valid_deadline_are_dead_lettered(bus, mesh, deadline):
    rpc, names, _, _, dead = mesh
    headers = {} if deadline is None else {"x-botwerk-deadline": deadline}
    request = InferRequest(model="echo", inputs={"text": "x"})
    await bus.publish(
        names.infer, "echo", Outgoing.of(request, reply_to=rpc.replies.queue, headers=headers)
    )
    await eventually(lambda: len(dead) == 1)
    assert "without a valid x-botwerk-deadline" in dead_reason(dead[0].headers)


async def test_slow_model_past_the_deadline_times_out_for_the_caller(mesh):
    rpc, *_ = mesh
    with pytest.raises(DeadlineExceeded):
        await call(rpc, ms=300, text="zzz", delay_ms=800)


async def test_an_answer_over_the_cap_becomes_an_error_reply(bus, mesh):
    rpc, *_ = mesh
    text = "x" * (256 * 1024 - 60)  # the request fits under the cap, the answer does not
    with pytest.raises(RemoteError, match="too large") as caught:
        await call(rpc, text=text)
    assert caught.value.code == "model_error"
    assert (await call(rpc, text="small")).outputs == {"text": "small"}


async def test_a_worker_stopped_right_after_its_first_answer_leaves_no_consumer(bus, settings):
    """Its first fresh answer ends probation by swapping subscriptions; a stop racing that swap
    used to cancel the old one and leave the new one consuming."""
    names = topology.Names(settings.namespace)
    await bus.declare(topology.base(names))
    worker = Worker(bus, settings, EchoModel(settings, "echo"))
    await worker.start()
    replies = Replies(bus, names, names.reply_queue("core", settings.instance))
    await replies.start()
    await Rpc(bus, names, replies).infer("echo", {"text": "hi"}, deadline_ms=now_ms() + 5000)
    await worker.stop()
    await replies.stop()
    assert await bus.consumers(names.infer_queue("echo")) == 0


async def test_a_first_answer_confirmed_after_stop_began_subscribes_nothing(bus, settings):
    """The worker leaves probation once its first fresh reply is confirmed, which can come after
    the caller has the reply and has stopped the worker (a CI run saw it): leaving then must not
    subscribe anew, or the stopped worker keeps consuming. The late confirm is played by calling
    the responder's after-hook once stop() has returned."""
    names = topology.Names(settings.namespace)
    await bus.declare(topology.base(names))
    worker = Worker(bus, settings, EchoModel(settings, "echo"))
    await worker.start()
    await worker.stop()
    worker._answered(SimpleNamespace(delivery_count=0))  # type: ignore[arg-type]
    if worker._background:  # what leaving probation would do, done
        await asyncio.wait(worker._background)
    assert await bus.consumers(names.infer_queue("echo")) == 0
