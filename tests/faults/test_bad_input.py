"""Input built to hurt: a message that kills its worker every time, and fuzzed bodies."""

from __future__ import annotations

import asyncio
import contextlib

import msgpack
import pika
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from botwerk.infra.bus import dead_reason
from botwerk.schemas import Inbound, InferReply, InferRequest, Reply
from botwerk.testing.chat import ChatClient
from tests.support.waiting import eventually

pytestmark = [pytest.mark.broker, pytest.mark.faults]

DELIVERY_LIMIT = 5  # the default BOTWERK_DELIVERY_LIMIT


# A poison message that kills its worker on every delivery.


async def poison_run(mesh, worker_sabotage=None):
    mesh.start_worker(sabotage=worker_sabotage)
    mesh.start_core()
    stop = asyncio.Event()
    supervisor = asyncio.create_task(mesh.keep_alive("worker", stop))
    load = asyncio.create_task(mesh.load(1000, rate=100))
    await asyncio.sleep(1)
    async with ChatClient(
        mesh.bus, mesh.settings.model_copy(update={"deadline_ms": 20_000})
    ) as chat:
        poison = mesh.ledger.new_id("poison")
        await mesh.ledger.submit(chat, poison)
        answers = await load
        with contextlib.suppress(AssertionError):  # the negative controls never see it
            await eventually(lambda: poison in mesh.ledger.check(mesh.dead).dead, timeout=30)
        stop.set()
        restarts = await supervisor
        verdict = await mesh.verdict()
    innocents = sorted(t for t in verdict.dead if not t.startswith("poison"))
    return poison, answers, restarts, innocents, verdict


async def test_poison_is_dead_lettered_after_the_limit_and_no_innocent_is(make_mesh, reliability):
    async with make_mesh() as mesh:
        poison, answers, restarts, innocents, verdict = await poison_run(mesh)
    reliability.record(
        "poison", worker_deaths=restarts, innocent_dead_lettered=len(innocents),
        poison_reason=verdict.dead.get(poison), **verdict.summary(),
    )  # fmt: skip
    assert verdict.dead.get(poison) == "delivery_limit"
    assert restarts == DELIVERY_LIMIT + 1
    assert innocents == []
    assert sum(r.error is None for r in answers) == 1000
    assert verdict.clean and not verdict.unserved, verdict.summary()


async def test_poison_negative_control_without_a_dead_letter_exchange_it_vanishes(
    make_mesh, reliability
):
    async with make_mesh() as mesh:
        poison, _, _, _, verdict = await poison_run(mesh, "no_dead_letter_exchange")
    reliability.record("poison", negative_no_dlx_unserved=len(verdict.unserved))
    assert poison in verdict.unserved, "past the delivery limit with no DLX, RabbitMQ drops it"


async def test_poison_negative_control_full_batches_after_a_crash_take_innocents_down(
    make_mesh, reliability
):
    async with make_mesh() as mesh:
        _, _, _, innocents, _ = await poison_run(mesh, "no_probation")
    reliability.record("poison", negative_no_probation_innocents=len(innocents))
    assert innocents, "a batch that keeps dying with the poison must reach the limit with it"


# Fuzzed bodies into every queue.

FUZZ_PER_QUEUE = 1000

VALID = {
    Inbound.TYPE: {
        "bot": "demo",
        "transport": "t",
        "conversation": "c",
        "user": {"id": "u"},
        "text": "hi",
    },
    InferRequest.TYPE: {"model": "echo", "inputs": {"text": "hi"}},
    Reply.TYPE: {"bot": "demo", "conversation": "c", "text": "hi"},
    InferReply.TYPE: {"model": "echo", "version": "1", "outputs": {"text": "hi"}},
}
WRONG = st.one_of(
    st.integers(-(2**63), 2**64 - 1),
    st.floats(allow_nan=False),
    st.binary(max_size=20),
    st.booleans(),
    st.none(),
)
PLAIN = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**63), 2**64 - 1),
        st.floats(),
        st.text(max_size=30),
        st.binary(max_size=30),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=10), inner, max_size=5)
    ),
    max_leaves=20,
)


def fuzz_cases(type_name: str) -> st.SearchStrategy[tuple[bytes, str | None, str | None]]:
    """(body, type, content type), each invalid by construction for ``type_name``."""
    valid = VALID[type_name]
    msgpack_type = "application/msgpack"
    mistyped = st.sampled_from(sorted(k for k in valid if k != "user")).flatmap(
        lambda key: WRONG.map(lambda bad: {**valid, key: bad})
    )
    missing = st.sampled_from(sorted(valid)).map(
        lambda key: {k: v for k, v in valid.items() if k != key}
    )
    return st.one_of(
        st.binary(max_size=200).map(lambda raw: (raw, type_name, msgpack_type)),
        PLAIN.map(lambda value: (msgpack.packb(value), type_name, msgpack_type)),
        st.one_of(mistyped, missing).map(
            lambda body: (msgpack.packb(body), type_name, msgpack_type)
        ),
        st.text(max_size=30)
        .filter(lambda t: t != type_name)
        .map(lambda t: (msgpack.packb(valid), t, msgpack_type)),
        st.sampled_from(
            ["application/json", "application/x-python-pickle", "text/plain", None]
        ).map(lambda ct: (msgpack.packb(valid), type_name, ct)),
        st.integers(256 * 1024 + 1, 300 * 1024).map(
            lambda size: (msgpack.packb({**valid, "pad": "x" * size}), type_name, msgpack_type)
        ),
    )


def draw(strategy: st.SearchStrategy, count: int) -> list:
    drawn: list = []

    @settings(
        max_examples=count, database=None, derandomize=True, phases=[Phase.generate],
        suppress_health_check=list(HealthCheck), deadline=None,
    )  # fmt: skip
    @given(strategy)
    def collect(case):
        drawn.append(case)

    collect()
    return drawn


def publish_raw(url: str, queue: str, cases: list, tag: str) -> set[str]:
    """Publish straight to ``queue`` with bare pika, as a stranger on the broker could."""
    ids = set()
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    channel.confirm_delivery()
    for n, (body, type_name, content_type) in enumerate(cases):
        message_id = f"fuzz-{tag}-{n}"
        props = pika.BasicProperties(
            message_id=message_id, type=type_name, content_type=content_type
        )
        channel.basic_publish("", queue, body, props)
        ids.add(message_id)
    connection.close()
    return ids


async def fuzz_run(mesh, sabotage=None):
    core_proc = mesh.start_core(sabotage=sabotage)
    worker_proc = mesh.start_worker(sabotage=sabotage)
    await mesh.load(20)
    listing = mesh.node.ctl("-q", "--no-table-headers", "list_queues", "name")
    core_replies = next(
        q.strip()
        for q in listing.splitlines()
        if q.strip().startswith(f"{mesh.names.ns}.reply.core.")
    )
    targets = {
        mesh.names.core_queue("demo"): Inbound.TYPE,
        mesh.names.infer_queue("echo"): InferRequest.TYPE,
        core_replies: InferReply.TYPE,
        mesh.chat.gateway.replies.queue: Reply.TYPE,
    }
    good = asyncio.create_task(mesh.load(300, rate=50))
    fuzz_ids: set[str] = set()
    for queue, type_name in targets.items():
        cases = await asyncio.to_thread(draw, fuzz_cases(type_name), FUZZ_PER_QUEUE)
        fuzz_ids |= await asyncio.to_thread(publish_raw, mesh.node.url, queue, cases, type_name)
    answers = await good
    return fuzz_ids, answers, (core_proc, worker_proc), targets


async def test_fuzzed_bodies_are_all_dead_lettered_with_a_reason_and_nobody_dies(
    make_mesh, reliability
):
    async with make_mesh() as mesh:
        fuzz_ids, answers, procs, targets = await fuzz_run(mesh)

        def fuzz_dead():
            return {
                m.message.message_id: m
                for m in mesh.dead
                if m.message.message_id.startswith("fuzz-")
            }

        await eventually(
            lambda: len(fuzz_dead()) >= len(fuzz_ids), timeout=60,
            what="every fuzzed body dead-lettered",
        )  # fmt: skip
        dead = fuzz_dead()
        verdict = await mesh.verdict()
        alive = all(p.poll() is None for p in procs)
    reasons = {dead_reason(d.headers).split(":")[0] for d in dead.values()}
    reliability.record(
        "fuzz", queues=len(targets), bodies=len(fuzz_ids), dead_lettered=len(dead),
        with_reason=sum(bool(dead_reason(d.headers)) for d in dead.values()),
        good_answered=sum(r.error is None for r in answers), processes_alive=alive,
        reason_kinds=sorted(reasons),
    )  # fmt: skip
    assert len(fuzz_ids) == len(targets) * FUZZ_PER_QUEUE
    assert set(dead) == fuzz_ids
    assert all(dead_reason(d.headers) not in ("", "unknown") for d in dead.values())
    assert alive
    assert sum(r.error is None for r in answers) == 300
    assert verdict.clean, verdict.summary()


async def test_fuzz_negative_control_a_role_that_crashes_on_bad_input_dies(make_mesh, reliability):
    async with make_mesh(deadline_ms=5_000) as mesh:
        _, _, procs, _ = await fuzz_run(mesh, sabotage="crash_on_bad_input")
        await asyncio.sleep(1)
        dead_processes = sum(p.poll() is not None for p in procs)
    reliability.record("fuzz", negative_processes_died=dead_processes)
    assert dead_processes == 2, "a role that dies on bad input must be caught dying"
