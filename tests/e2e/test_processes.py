"""The mesh as separate OS processes over a real RabbitMQ: what a deployment does."""

from __future__ import annotations

import asyncio
import subprocess
import time
from dataclasses import replace

import msgpack
import pytest

from botwerk.infra import messages, topology
from botwerk.infra.bus import Outgoing, dead_reason, now_ms
from botwerk.schemas import Inbound, InferRequest, User
from botwerk.testing import ChatClient, admin
from tests.support.waiting import collect, eventually

pytestmark = [pytest.mark.broker, pytest.mark.slow]


def start_mesh(processes, amqp_url, settings, *, worker=True):
    names = topology.Names(settings.namespace)
    started = {}
    if worker:
        started["worker"] = processes.start("worker", "echo")
        admin.wait_for_consumers(amqp_url, names.infer_queue("echo"))
    started["core"] = processes.start("core", "demo")
    admin.wait_for_consumers(amqp_url, names.core_queue("demo"))
    return started


def test_three_roles_as_processes_chat_through_the_console(processes, amqp_url, settings):
    start_mesh(processes, amqp_url, settings)
    console = processes.start("transport", "console", "--bot", "demo", stdin=subprocess.PIPE)
    out, _ = console.communicate("hello\nping\nslow 100 later\n", timeout=60)
    assert console.returncode == 0, processes.log_of(console)
    assert sorted(out.splitlines()) == ["demo> echo: hello", "demo> echo: later", "demo> pong"]


async def test_worker_killed_mid_flight_loses_nothing(processes, amqp_url, settings, rabbit_bus):
    procs = start_mesh(processes, amqp_url, settings)
    patient = settings.model_copy(update={"deadline_ms": 60_000})
    async with ChatClient(rabbit_bus, patient) as chat:
        answers = [await chat.submit(f"slow 40 m{i}") for i in range(200)]
        await eventually(lambda: len(chat.replies) >= 20, timeout=30)
        processes.kill(procs["worker"])  # SIGKILL with a batch in flight and more queued
        in_flight = len(chat.replies)
        assert in_flight < 200
        processes.start("worker", "echo")
        replies = await asyncio.wait_for(asyncio.gather(*answers), timeout=90)
        await asyncio.sleep(0.5)  # any duplicate would arrive by now
    assert [r.text for r in replies] == [f"echo: m{i}" for i in range(200)]
    assert all(r.error is None for r in replies)
    assert len(chat.replies) == 200  # each answered exactly once to the user


async def test_a_model_without_workers_is_a_clear_reply_within_the_deadline(
    processes, amqp_url, settings, rabbit_bus
):
    start_mesh(processes, amqp_url, settings, worker=False)
    async with ChatClient(rabbit_bus, settings.model_copy(update={"deadline_ms": 3000})) as chat:
        started = time.monotonic()
        never_served = await chat.ask("hello?")
        assert never_served.error == "no_worker" and time.monotonic() - started < 2
        assert never_served.text == messages.NO_WORKER.format(model="echo")

        worker = processes.start("worker", "echo")
        admin.wait_for_consumers(amqp_url, topology.Names(settings.namespace).infer_queue("echo"))
        assert (await chat.ask("now?")).text == "echo: now?"
        processes.kill(worker)

        started = time.monotonic()
        all_down = await chat.ask("and now?")
        elapsed = time.monotonic() - started
    assert (all_down.error, all_down.text) == ("timeout", messages.TOOK_TOO_LONG)
    assert 2.0 < elapsed < 3.2
    assert len(chat.replies) == 3


async def test_poison_is_dead_lettered_with_reasons_while_good_traffic_flows(
    processes, amqp_url, settings, rabbit_bus
):
    start_mesh(processes, amqp_url, settings)
    names = topology.Names(settings.namespace)
    dead = await collect(rabbit_bus, names.dead)
    deadline = now_ms() + 30_000
    good_inbound = Inbound(
        bot="demo", transport="t", conversation="c", user=User(id="u"), text="hi"
    )
    poison = [
        (names.inbound, "demo.t", Outgoing(b"\xc1\xc1", Inbound.TYPE, reply_to="x")),
        (names.inbound, "demo.t", Outgoing(msgpack.packb({"text": 1}), Inbound.TYPE, reply_to="x")),
        (names.inbound, "demo.t", Outgoing.of(good_inbound, content_type="application/json")),
        (names.infer, "echo", Outgoing(b"\x00", InferRequest.TYPE, reply_to="x")),
        (
            names.infer,
            "echo",
            replace(Outgoing.of(InferRequest(model="echo", inputs={})), type="botwerk.evil.v9"),
        ),
        (
            names.infer,
            "echo",
            Outgoing.of(InferRequest(model="echo", inputs={"text": "x"}), deadline_ms=deadline),
        ),
    ]
    async with ChatClient(rabbit_bus, settings) as chat:
        asks = []
        for exchange, key, message in poison:
            await rabbit_bus.publish(exchange, key, message)
            asks.append(await chat.submit(f"good {len(asks)}"))
        replies = await asyncio.gather(*asks)
    assert [r.text for r in replies] == [f"echo: good {i}" for i in range(len(poison))]
    await eventually(lambda: len(dead) == len(poison), timeout=10)
    reasons = sorted(dead_reason(d.headers) for d in dead)
    assert [r.split(":")[0] for r in reasons].count("schema error") == 5
    assert "request without reply_to: nowhere to answer" in reasons
    assert {d.headers["x-botwerk-queue"] for d in dead} == {
        names.core_queue("demo"),
        names.infer_queue("echo"),
    }
    for proc in processes.running:
        assert proc.poll() is None, processes.log_of(proc)
