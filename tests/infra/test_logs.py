"""Structured logs: every line names the trace of the message being handled."""

from __future__ import annotations

import asyncio
import json
import logging
import threading

import pytest

from botwerk.infra.logs import in_context, setup, trace


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
