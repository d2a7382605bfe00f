"""The IRC transport as a deployment runs it: OS processes over RabbitMQ, people on ngircd."""

from __future__ import annotations

import json

import pytest

from botwerk.infra import topology
from botwerk.testing import admin
from tests.support.waiting import eventually

pytestmark = [pytest.mark.broker, pytest.mark.slow]


async def test_worker_core_and_irc_transport_processes_answer_on_irc(
    processes, amqp_url, settings, ircd, irc_user
):
    names = topology.Names(settings.namespace)
    processes.start("worker", "echo")
    processes.start("core", "demo")
    ann = await irc_user(ircd.port, "ann", channels=("#e2e",))
    irc = {"server": "127.0.0.1", "port": ircd.port, "tls": False, "nick": "demobot",
           "channels": ["#e2e"]}  # fmt: skip
    processes.env["BOTWERK_TRANSPORTS"] = json.dumps({"irc": irc})
    transport = processes.start("transport", "irc", "--bot", "demo")
    admin.wait_for_consumers(amqp_url, names.infer_queue("echo"))
    admin.wait_for_consumers(amqp_url, names.core_queue("demo"))
    await ann.wait_for(
        lambda line: line.command == "JOIN" and line.source == "demobot", timeout=30,
        what="the transport process joined #e2e",
    )  # fmt: skip
    await ann.say("#e2e", "demobot: hello")
    await ann.say("#e2e", "nobody asked demo")
    await ann.say("demobot", "ping")
    [in_channel] = await ann.expect(1, to="#e2e", timeout=30)
    [in_private] = await ann.expect(1, to="ann", timeout=30)
    assert (in_channel.source, in_channel.text) == ("demobot", "ann: echo: hello")
    assert (in_private.source, in_private.text) == ("demobot", "pong")
    assert transport.poll() is None, processes.log_of(transport)


async def test_a_missing_sasl_password_stops_the_transport_before_it_connects(processes, ircd):
    processes.env.pop("IRC_SASL_PASSWORD", None)
    processes.env["BOTWERK_TRANSPORTS"] = json.dumps(
        {"irc": {"server": "127.0.0.1", "port": ircd.port, "sasl_username": "demobot"}}
    )
    transport = processes.start("transport", "irc", "--bot", "demo")
    await eventually(lambda: transport.poll() is not None, 30, "the transport exited")
    log = processes.log_of(transport)
    assert transport.returncode != 0
    [line] = [line for line in log.splitlines() if line.strip()]  # one line, no traceback
    assert line.startswith("Error: IRC_SASL_PASSWORD is not set"), log
