"""Metrics and health of a real process: a worker and a core under ``run_roles`` on RabbitMQ,
asked through the real gateway, scraped over real HTTP (``BOTWERK_METRICS_PORT``)."""

from __future__ import annotations

import asyncio
import re
import socket
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from botwerk.cli.app import main
from botwerk.cores.bot import build_bot
from botwerk.cores.runtime import Core
from botwerk.infra import metrics, topology
from botwerk.infra.bus import SENT_HEADER, Delivery, Outgoing, now_ms
from botwerk.infra.process import run_roles
from botwerk.infra.rabbit import RabbitBus
from botwerk.infra.rpc import Inbox
from botwerk.infra.settings import Settings
from botwerk.schemas import Envelope, InferRequest
from botwerk.testing import ChatClient
from botwerk.workers.echo.serve import EchoModel
from botwerk.workers.runtime import Worker
from tests.support.ports import free_port
from tests.support.proxy import FaultProxy
from tests.support.waiting import eventually

HOSTILE_SENT = ["yesterday", True, -5, 2**62, 1]  # text, bool, negative, future, 1970
LABEL = re.compile(r"[a-z_][a-z0-9_.-]{0,39}|")  # short words: no id, no user, no free text

Samples = Counter[tuple[str, frozenset[tuple[str, str]]]]


class GatedEcho(EchoModel):
    """Echo whose load waits for the test: /readyz is asked while the model loads."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.gate = threading.Event()

    def load(self) -> None:
        self.gate.wait(30)


class Until:
    """A role that keeps ``run_roles`` serving until the test sets ``finished``."""

    role = "test"

    def __init__(self) -> None:
        self.finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except urllib.error.URLError as exc:  # not listening (yet)
        return 0, str(exc.reason)


async def until_status(port: int, path: str, status: int, timeout: float = 15.0) -> str:
    """Ask ``path`` (off the event loop, which /healthz needs free) until it answers ``status``."""
    give_up = time.monotonic() + timeout
    while True:
        code, text = await asyncio.to_thread(get, port, path)
        if code == status:
            return text
        assert time.monotonic() < give_up, f"{path}: {code} {text!r}, not {status}"
        await asyncio.sleep(0.02)


async def scrape(port: int) -> Samples:
    code, text = await asyncio.to_thread(get, port, "/metrics")
    assert code == 200
    samples: Samples = Counter()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith("botwerk_"):
                samples[(sample.name, frozenset(sample.labels.items()))] += sample.value
    return samples


def value(samples: Samples, metric: str, **labels: str) -> float:
    """The sum of ``metric``'s samples whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, have), v in samples.items() if n == metric and wanted <= have)


@pytest.mark.broker
async def test_a_role_process_serves_its_metrics_readiness_and_health(amqp_url, settings):
    parts = urlsplit(amqp_url)
    proxy = FaultProxy(parts.hostname or "127.0.0.1", parts.port or 5672).start()
    port = free_port()
    settings = settings.model_copy(
        update={"amqp_url": proxy.url_for(amqp_url), "metrics_port": port}
    )
    bus = RabbitBus(settings, role="test", name="metrics")
    model, until = GatedEcho(settings), Until()
    roles = [Worker(bus, settings, model), Core(bus, settings, build_bot(settings, "demo")), until]
    serving = asyncio.create_task(run_roles(bus, roles))
    try:
        loading = await until_status(port, "/readyz", 503)
        assert "model echo not loaded yet" in loading
        assert await until_status(port, "/healthz", 200) == "ok\n"
        model.gate.set()
        await until_status(port, "/readyz", 200)
        before = await scrape(port)

        async with ChatClient(bus, settings) as chat:
            assert (await chat.ask("hi")).text == "echo: hi"
        answered = await hostile_requests(bus, settings)
        after = await scrape(port)
        assert answered == len(HOSTILE_SENT), "a hostile x-botwerk-sent header is ignored"
        counted_each_stage(before, after)
        bounded_labels(after)

        proxy.refuse()
        proxy.reset()  # the broker is gone
        assert "not connected" in await until_status(port, "/readyz", 503)
        proxy.pass_()
        await until_status(port, "/readyz", 200)
        assert value(await scrape(port), "botwerk_reconnects_total", role="up") >= 1
    finally:
        model.gate.set()
        if not until.finished.done():
            until.finished.set_result(None)
        await asyncio.wait_for(serving, 30)
        proxy.close()
    assert not _listening(port), "the server closes with the roles"


async def hostile_requests(bus: RabbitBus, settings: Settings) -> int:
    """Ask the worker once per hostile ``x-botwerk-sent``; how many answers came back."""
    names = topology.Names(settings.namespace)
    got: list[Envelope] = []

    async def keep(reply: Envelope, delivery: Delivery) -> None:
        got.append(reply)

    inbox = Inbox(bus, names, names.reply_queue("test", "hostile"), keep)
    await inbox.start()
    for sent in HOSTILE_SENT:
        request = Outgoing.of(
            InferRequest(model="echo", inputs={"text": "x"}), reply_to=inbox.queue,
            deadline_ms=now_ms() + 10_000,
        )  # fmt: skip
        hostile = replace(request, headers={**request.headers, SENT_HEADER: sent})
        await bus.publish(names.infer, "echo", hostile)
    await eventually(lambda: len(got) == len(HOSTILE_SENT), what="answers to hostile headers")
    await inbox.stop()
    return len(got)


def counted_each_stage(before: Samples, after: Samples) -> None:
    def more(metric: str, **labels: str) -> float:
        return value(after, metric, **labels) - value(before, metric, **labels)

    ok, stage = "botwerk_messages_total", "botwerk_stage_seconds_count"
    assert more(ok, role="transport", bot="demo", outcome="ok") == 1
    assert more(ok, role="core", bot="demo", outcome="ok") == 1
    assert more(ok, role="worker", model="echo", outcome="ok") == 1 + len(HOSTILE_SENT)
    for role in ("core", "worker"):
        assert more(stage, role=role, stage="handle") >= 1, role
    assert more(stage, role="core", stage="queue_wait") == 1
    assert more(stage, role="worker", stage="queue_wait") == 1, "hostile sent times counted"
    assert more(stage, role="worker", stage="batch", model="echo") >= 1
    assert more(stage, role="transport", stage="end_to_end", bot="demo") == 1
    assert more("botwerk_batch_size_count", model="echo") >= 1
    assert value(after, "botwerk_model_load_seconds", model="echo", phase="load") > 0
    assert value(after, "botwerk_in_flight", role="worker", model="echo") == 0
    assert value(after, "botwerk_ready", role="worker", name="echo") == 1
    assert value(after, "botwerk_info", role="core", name="demo") == 1


def bounded_labels(samples: Samples) -> None:
    """Every label value is a short word: never a message id, a trace or the user."""
    for name, labels in samples:
        for key, label in labels:
            if key in ("le", "version"):
                continue
            assert LABEL.fullmatch(label), f"{name}{{{key}={label!r}}}: not a bounded label"
            assert not re.search(r"[0-9a-f]{12}", label), f"{name}: {key}={label!r} is an id"
            assert "tester" not in label.lower(), f"{name}: {key}={label!r} names the user"


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_a_metrics_port_in_use_is_one_clear_line_that_names_the_setting_and_the_fix():
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {"BOTWERK_AMQP_URL": "amqp://u:p@127.0.0.1:1/", "BOTWERK_METRICS_PORT": str(port)}
        result = CliRunner().invoke(main, ["worker", "echo"], env=env)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert f"BOTWERK_METRICS_PORT {port} is already in use" in result.output
    assert "its own port" in result.output and "BOTWERK_METRICS_PORT=0" in result.output


@pytest.mark.parametrize("sent", [*HOSTILE_SENT, 1.5e12], ids=repr)  # a float: pika sends none
def test_a_hostile_sent_header_is_no_queue_wait(sent: Any):
    delivery = Delivery("q", "x", "k", Outgoing(b"", "t", headers={SENT_HEADER: sent}), False,
                        lambda how: None)  # fmt: skip
    labels = metrics.Labels("test", model=f"hostile-{sent!r}")
    metrics.record(True)
    try:
        metrics.queue_wait(labels, delivery.sent_ms, now_ms())
    finally:
        metrics.record(False)
    series = {"role": "test", "stage": "queue_wait", "bot": "", "model": labels.model}
    assert metrics.REGISTRY.get_sample_value("botwerk_stage_seconds_count", series) is None
