"""Structured logs: every line names the trace of the message being handled."""

from __future__ import annotations

import asyncio
import json
import logging
import threading

import pytest

from botwerk.infra import topology
from botwerk.infra.bus import TRACE_HEADER, Outgoing
from botwerk.infra.logs import in_context, setup, trace
from botwerk.schemas import Inbound
from botwerk.testing import admin
from tests.support.waiting import eventually


@pytest.fixture
def lines(capsys):
    def read():
        return [line for line in capsys.readouterr().err.splitlines() if line]

    yield read
    logging.getLogger().handlers.clear()


def test_json_lines_carry_the_trace(lines):
    setup("INFO", "json", "worker:echo")
    log = logging.getLogger("botwerk.test")
    with trace("t-42"):
        log.info("reply sent")
    log.info("outside")
    first, second = (json.loads(line) for line in lines())
    assert (first["trace"], first["msg"], first["level"], first["logger"]) == (
        "t-42", "reply sent", "info", "botwerk.test",
    )  # fmt: skip
    assert second["trace"] == "-"


def test_text_lines_name_the_role_and_trace(lines):
    setup("INFO", "text", "core:demo")
    with trace("abc123"):
        logging.getLogger("botwerk.core").warning("slow model")
    (line,) = lines()
    assert " core:demo botwerk.core trace=abc123 slow model" in line


async def test_each_task_keeps_its_own_trace_and_threads_inherit_it(lines):
    setup("INFO", "json")
    log = logging.getLogger("botwerk.test")

    async def handle(trace_id: str) -> None:
        with trace(trace_id):
            await asyncio.sleep(0.01)
            log.info("in task")
            run = in_context(lambda: log.info("in thread %s", threading.current_thread().name))
            await asyncio.get_running_loop().run_in_executor(None, run)

    await asyncio.gather(handle("a"), handle("b"))
    records = [json.loads(line) for line in lines()]
    assert sorted(r["trace"] for r in records) == ["a", "a", "b", "b"]


FORGED = "\n12:00:00 INFO    core:demo botwerk.core trace=- FORGED"


def test_text_lines_cannot_be_forged_from_the_wire(lines):
    setup("INFO", "text", "core:demo")
    log = logging.getLogger("botwerk.core")
    with trace(f"t-1{FORGED}\r\x1b[2J\u2028"):
        log.warning("dead-lettering %s: %s", f"m-1{FORGED}", "bad\x00body")
        log.info(f"an f-string, too{FORGED}")
    first, second = lines()  # two records, two lines
    assert "trace=t-1\\n12:00:00 INFO" in first and "\\r\\x1b[2J\\u2028" in first
    assert "dead-lettering m-1\\n12:00:00 INFO    core:demo" in first
    assert first.endswith("FORGED: bad\\x00body")
    assert second.endswith(
        "an f-string, too\\n12:00:00 INFO    core:demo botwerk.core trace=- FORGED"
    )


def test_json_lines_stay_one_valid_object_each(lines):
    setup("INFO", "json", "core:demo")
    with trace(f"t-1{FORGED}"):
        logging.getLogger("botwerk.core").warning("dead-lettering %s", f"m-1{FORGED}\u2028")
    (line,) = lines()
    entry = json.loads(line)
    assert entry["trace"] == "t-1\\n12:00:00 INFO    core:demo botwerk.core trace=- FORGED"
    assert entry["msg"].startswith("dead-lettering m-1\\n12:00:00") and entry["msg"].endswith(
        "\\u2028"
    )


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_an_exception_message_cannot_forge_lines_either(lines, fmt):
    setup("INFO", fmt, "core:demo")
    try:
        raise ValueError(f"field text: {FORGED}")
    except ValueError:
        logging.getLogger("botwerk.core").exception("handler failed")
    out = lines()
    if fmt == "json":
        (line,) = out
        assert "ValueError: field text: \\n12:00:00" in json.loads(line)["exc"]
        return
    assert out[0].endswith("handler failed") and out[1] == "Traceback (most recent call last):"
    assert all(line.startswith("  ") for line in out[2:-1])  # the frames, as Python prints them
    assert (
        out[-1]
        == "ValueError: field text: \\n12:00:00 INFO    core:demo botwerk.core trace=- FORGED"
    )


def test_secrets_in_urls_are_masked_whoever_logs_them(lines):
    setup("DEBUG", "text", "transport:slack")
    url = "wss://wss-primary.slack.com/link/?ticket=1a2b-3c&app_id=A1"
    logging.getLogger("slack_sdk.socket_mode.aiohttp").debug("Connecting to %s", url)
    logging.getLogger("botwerk.rabbit").info("dialling amqp://core:s3cret@rabbit:5672/ns")
    socket_mode, amqp = lines()
    assert socket_mode.endswith(
        "Connecting to wss://wss-primary.slack.com/link/?ticket=***&app_id=A1"
    )
    assert amqp.endswith("dialling amqp://core:***@rabbit:5672/ns")
    assert "1a2b" not in socket_mode and "s3cret" not in amqp


@pytest.mark.broker
@pytest.mark.slow
async def test_a_core_logs_a_forged_message_id_and_trace_on_one_line(
    processes, amqp_url, settings, rabbit_bus
):
    names = topology.Names(settings.namespace)
    core = processes.start("core", "demo")
    admin.wait_for_consumers(amqp_url, names.core_queue("demo"))
    forged = Outgoing(
        b"\xc1",  # not msgpack: dead-lettered, and the core says so in its log
        Inbound.TYPE,
        message_id=f"m-1{FORGED}",
        reply_to="nowhere",
        headers={TRACE_HEADER: f"t-1{FORGED}"},
    )
    await rabbit_bus.publish(names.inbound, "demo.t", forged)
    await eventually(lambda: "FORGED" in processes.log_of(core), timeout=15)
    lines = [line for line in processes.log_of(core).splitlines() if "FORGED" in line]
    assert len(lines) == 1, lines  # one record (the dead letter), one line
    assert "trace=t-1\\n12:00:00" in lines[0] and " m-1\\n12:00:00" in lines[0]
