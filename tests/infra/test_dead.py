"""`botwerk dead`: the bounded dead-letter queue, reading it, replaying and purging it.

Against the real broker and its management API, through the real command. The end-to-end
replay: a model request that expired in its queue while no worker ran is answered, to the
asker still waiting on its reply queue, once a worker is up and the dead copy is replayed.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from click.testing import CliRunner, Result

from botwerk.cli.app import main
from botwerk.infra import brokeradmin, dead, topology
from botwerk.infra.bus import DEAD_AT_HEADER, Outgoing, dead_letter, now_ms
from botwerk.infra.rpc import Replies
from botwerk.schemas import InferReply, InferRequest
from botwerk.workers.echo.serve import EchoModel
from botwerk.workers.runtime import Worker
from tests.support.waiting import eventually

pytestmark = pytest.mark.broker


def cli(settings, *args: str) -> Result:
    """``botwerk dead ARGS`` in this process, for the test's namespace."""
    env = {"BOTWERK_NAMESPACE": settings.namespace, "BOTWERK_AMQP_URL": settings.amqp_url,
           "BOTWERK_MANAGEMENT_URL": settings.management_url,
           "BOTWERK_DEADLINE_MS": str(settings.deadline_ms)}  # fmt: skip
    return CliRunner().invoke(main, ["dead", *args], env=env)


def ids(settings) -> list[str]:
    return [letter.id for letter in dead.peek(settings, 100)]


async def expired_request(bus, names, model: str, text: str, reply_to: str) -> Outgoing:
    """A request for ``model`` that expires in its queue (nobody serves it), as Rpc sends it,
    its deadline past by the time anyone could replay it."""
    request = InferRequest(model=model, inputs={"text": text})
    message = Outgoing.of(request, reply_to=reply_to, deadline_ms=now_ms() + 2, expiration_ms=1)
    await bus.publish(names.infer, model, message)
    return message


async def to_dead(bus, names, body: bytes, headers: dict) -> Outgoing:
    message = Outgoing(body, InferRequest.TYPE, headers=headers)
    await bus.publish(names.dlx, "somewhere", message)
    return message


# The bound.


async def test_the_dead_queue_is_bounded_by_count_and_age_and_drops_the_oldest(
    rabbit_bus, settings
):
    names = topology.Names(settings.namespace)
    limits = topology.Limits(dead_max_length=2, dead_max_age_s=60)
    await rabbit_bus.declare(topology.base(names, limits))
    api = dead.management(settings)
    made = api.get(f"queues/%2F/{names.dead}")["arguments"]
    assert made["x-max-length"] == 2 and made["x-message-ttl"] == 60_000
    setup = brokeradmin.render(settings.namespace, ["web"], limits=limits)["queues"]
    assert next(q["arguments"] for q in setup if q["name"] == names.dead) == made

    sent = [await to_dead(rabbit_bus, names, b"\x90", {}) for _ in range(3)]

    await eventually(lambda: ids(settings) == [m.message_id for m in sent[1:]], what="oldest gone")


def test_setup_over_a_dead_queue_made_without_the_bound_says_what_to_do(settings):
    api = dead.management(settings)
    names = topology.Names(settings.namespace)
    api.put(f"queues/%2F/{names.dead}", {"durable": True, "arguments": {"x-queue-type": "quorum"}})
    try:
        with pytest.raises(brokeradmin.SetupError) as refused:
            brokeradmin.apply_topology(api, brokeradmin.render(settings.namespace, []))
    finally:
        api.call("DELETE", f"queues/%2F/{names.dead}")
    assert f"the queue {names.dead} already exists with other arguments" in str(refused.value)
    assert f"rabbitmqctl delete_queue {names.dead}" in str(refused.value)


# Reading.


async def test_list_and_show_read_both_kinds_of_dead_letter_and_filter_them(rabbit_bus, settings):
    names = topology.Names(settings.namespace)
    await rabbit_bus.declare(topology.for_worker(names, "echo", topology.Limits()))
    await rabbit_bus.declare(topology.for_worker(names, "chat", topology.Limits()))
    expired = await expired_request(rabbit_bus, names, "echo", "hello", "nowhere")

    async def refuse(delivery) -> None:
        await dead_letter(rabbit_bus, names, delivery, "schema error: inputs.text: too long")

    refused = Outgoing.of(InferRequest(model="chat", inputs={"text": "x"}), trace="t1")
    subscription = await rabbit_bus.consume(names.infer_queue("chat"), refuse, prefetch=1)
    await rabbit_bus.publish(names.infer, "chat", refused)
    await eventually(lambda: len(ids(settings)) == 2, what="two dead letters")
    await subscription.cancel()

    table = await asyncio.to_thread(cli, settings, "list")
    assert table.exit_code == 0, table.output
    header, *rows = table.output.splitlines()
    assert header.split() == ["ID", "AGE", "REASON", "QUEUE", "SIZE", "PREVIEW"]
    assert any(expired.message_id in r and "expired" in r and "'hello'" in r for r in rows)
    assert any(refused.message_id in r and "schema error: inputs.text" in r for r in rows)

    found = await asyncio.to_thread(cli, settings, "list", "--reason", "schema error", "--json")
    (letter,) = [json.loads(line) for line in found.output.splitlines()]
    assert letter["id"] == refused.message_id and letter["trace"] == "t1"
    assert (letter["queue"], letter["exchange"], letter["routing_key"]) == (
        names.infer_queue("chat"), names.infer, "chat")  # fmt: skip
    assert abs(letter["dead_at_ms"] - now_ms()) < 60_000 and letter["code"] == "schema error"
    by_queue = await asyncio.to_thread(cli, settings, "list", "--queue", names.infer_queue("echo"))
    assert expired.message_id in by_queue.output and refused.message_id not in by_queue.output

    shown = await asyncio.to_thread(cli, settings, "show", expired.message_id)
    assert shown.exit_code == 0 and "expired" in shown.output and names.infer in shown.output
    unknown = await asyncio.to_thread(cli, settings, "show", "no-such-id")
    assert unknown.exit_code == 1
    assert f"no dead letter with id no-such-id in {names.dead}" in unknown.output


# Purging.


async def test_purge_drops_only_what_died_longer_ago_than_asked(rabbit_bus, settings):
    names = topology.Names(settings.namespace)
    await rabbit_bus.declare(topology.base(names))
    old = await to_dead(rabbit_bus, names, b"\x90", {DEAD_AT_HEADER: now_ms() - 2 * 3600_000})
    recent = await to_dead(rabbit_bus, names, b"\x90", {DEAD_AT_HEADER: now_ms() - 60_000})
    untimed = await to_dead(rabbit_bus, names, b"\x90", {})  # nothing says it is old: kept
    await eventually(lambda: len(ids(settings)) == 3, what="three dead letters")

    bad = await asyncio.to_thread(cli, settings, "purge", "--older-than", "soon")
    assert bad.exit_code == 1 and "like 30m, 2h or 7d" in bad.output
    purged = await asyncio.to_thread(cli, settings, "purge", "--older-than", "1h")

    assert purged.exit_code == 0 and "purged 1 dead letter(s)" in purged.output, purged.output
    assert old.message_id not in ids(settings)
    assert sorted(ids(settings)) == sorted([recent.message_id, untimed.message_id])


# Replaying.


async def test_a_request_that_died_while_no_worker_ran_is_answered_once_replayed(
    rabbit_bus, settings
):
    names = topology.Names(settings.namespace)
    await rabbit_bus.declare(topology.for_worker(names, "echo", topology.Limits()))
    await rabbit_bus.declare(topology.for_worker(names, "gone", topology.Limits()))
    replies = Replies(rabbit_bus, names, names.reply_queue("core", settings.instance))
    await replies.start()
    asked = await expired_request(rabbit_bus, names, "echo", "hello again", replies.queue)
    other = await expired_request(rabbit_bus, names, "gone", "not chosen", replies.queue)
    await eventually(lambda: len(ids(settings)) == 2, what="both requests dead")
    worker = Worker(rabbit_bus, settings, EchoModel(settings))
    await worker.start()
    answer = replies.expect(asked.message_id)  # the reply correlates to the same message id
    assert now_ms() > asked.headers["x-botwerk-deadline"]  # only a fresh deadline gets it done
    try:
        replayed = await asyncio.to_thread(cli, settings, "replay", asked.message_id)
        assert replayed.exit_code == 0 and "replayed 1" in replayed.output, replayed.output
        reply = await asyncio.wait_for(answer, 10)
    finally:
        await worker.stop()
        await replies.stop()

    assert isinstance(reply, InferReply) and reply.outputs["text"] == "hello again"
    assert ids(settings) == [other.message_id]  # the one not chosen stays

    unknown = await asyncio.to_thread(cli, settings, "replay", "no-such-id")
    assert unknown.exit_code == 1 and "no dead letter with id no-such-id" in unknown.output
    await rabbit_bus.delete_queue(names.infer_queue("gone"))  # replaying it now routes nowhere
    nowhere = await asyncio.to_thread(cli, settings, "replay", "--reason", "expired")
    assert "replayed 0" in nowhere.output and f"kept {other.message_id}: no queue" in nowhere.output
    assert ids(settings) == [other.message_id]
