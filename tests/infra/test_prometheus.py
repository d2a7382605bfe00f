"""Debian's ``prometheus`` with the shipped scrape config, against real roles and the broker.

The config is ``infra/prometheus/prometheus.yml`` with only its discovery swapped: compose's
service names become the loopback ports of a worker, a core and a web transport started here as
OS processes (each with ``BOTWERK_METRICS_PORT``), and ``rabbitmq:15692`` the local broker's
plugin. Everything is read back through Prometheus's HTTP API: every target is up, a chat request
shows up in the histograms and counters, and every query of the Grafana board runs.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from botwerk.infra import topology
from botwerk.testing import admin
from botwerk.testing.plugin import SESSION_PREFIX
from tests.infra.test_observability_assets import (
    CONFIG,
    RABBITMQ_METRICS_PORT,
    board,
    need,
    queries,
)
from tests.support.ports import free_port
from tests.support.processes import Processes
from tests.support.waiting import eventually
from tests.support.web import wait_until_serving

pytestmark = [pytest.mark.broker, pytest.mark.slow]

SCRAPE = "1s"
ROLES = {  # the compose service each stands for -> `botwerk ARGS`
    "worker-echo": ("worker", "echo"),
    "core-demo": ("core", "demo"),
    "web": ("transport", "web", "--bot", "demo"),
}


@dataclass
class Mesh:
    """Where the roles serve: chosen before they start, so Prometheus starts beside them."""

    namespace: str
    chat_port: int
    metrics_ports: dict[str, int]  # compose service -> its /metrics port here

    @property
    def chat_url(self) -> str:
        return f"http://127.0.0.1:{self.chat_port}"


@dataclass
class Prometheus:
    url: str

    def get(self, path: str, **params: str) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}{path}{query}", timeout=5) as answer:
            body = json.load(answer)
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.get("/api/v1/query", query=expr)["result"]
        return result

    def values(self, expr: str, label: str) -> dict[str, float]:
        """``expr``'s instant vector as {value of ``label``: value}."""
        return {s["metric"].get(label, ""): float(s["value"][1]) for s in self.query(expr)}


@pytest.fixture(scope="module")
def planned() -> Mesh:
    namespace = f"{SESSION_PREFIX}-prom-{uuid.uuid4().hex[:6]}"
    return Mesh(namespace, free_port(), {service: free_port() for service in ROLES})


@pytest.fixture(scope="module")
def prometheus(planned: Mesh, amqp_url: str, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[Prometheus]:  # fmt: skip
    """Prometheus on the planned targets, started first: it adds targets only every 5 s, and
    that wait passes while the roles start."""
    folder = tmp_path_factory.mktemp("prometheus")
    broker = f"{urllib.parse.urlsplit(amqp_url).hostname}:{RABBITMQ_METRICS_PORT}"
    config = folder / "prometheus.yml"
    config.write_text(yaml.safe_dump(scrape_config(planned, broker)))
    port = free_port()
    log = (folder / "prometheus.log").open("w")
    server = subprocess.Popen(
        [need("prometheus"), f"--config.file={config}", f"--storage.tsdb.path={folder / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
        stdout=log, stderr=log,
    )  # fmt: skip
    try:
        yield wait_until_ready(Prometheus(f"http://127.0.0.1:{port}"), server, folder)
    finally:
        server.terminate()
        server.wait(timeout=20)
        log.close()


@pytest.fixture(scope="module")
def mesh(planned: Mesh, prometheus: Prometheus, amqp_url: str,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:  # fmt: skip
    env = {
        "BOTWERK_AMQP_URL": amqp_url,
        "BOTWERK_NAMESPACE": planned.namespace,
        "BOTWERK_TRANSPORTS": json.dumps({"web": {"port": planned.chat_port}}),
        "BOTWERK_LOG_LEVEL": "INFO",
    }
    logs = tmp_path_factory.mktemp("prometheus-mesh")
    started: dict[str, Processes] = {}  # one each: each role its own metrics port
    try:
        for service, args in ROLES.items():
            port = str(planned.metrics_ports[service])
            started[service] = Processes(env | {"BOTWERK_METRICS_PORT": port}, logs)
            started[service].start(*args)
        names = topology.Names(planned.namespace)
        admin.wait_for_consumers(amqp_url, names.infer_queue("echo"))
        admin.wait_for_consumers(amqp_url, names.core_queue("demo"))
        wait_until_serving(planned.chat_url, started["web"].running[0])
        yield planned
    finally:
        for processes in started.values():  # all at once, then wait for each
            for proc in processes.running:
                proc.terminate()
        for processes in started.values():
            processes.stop_all()


def scrape_config(mesh: Mesh, rabbitmq: str) -> dict[str, Any]:
    """The shipped config, scraping every second, with its targets on this machine."""
    config = yaml.safe_load(CONFIG.read_text())
    config["global"].update(scrape_interval=SCRAPE, scrape_timeout=SCRAPE)
    for job in config["scrape_configs"]:
        if job["job_name"] == "botwerk":
            del job["dns_sd_configs"]
            job["static_configs"] = [
                {"targets": [f"127.0.0.1:{port}"], "labels": {"service": service}}
                for service, port in mesh.metrics_ports.items()
            ]
        else:
            job["static_configs"] = [{"targets": [rabbitmq]}]
    return config


def wait_until_ready(prometheus: Prometheus, server: subprocess.Popen[bytes], folder: Path
                     ) -> Prometheus:  # fmt: skip
    give_up = time.monotonic() + 30
    while time.monotonic() < give_up:
        if server.poll() is not None:
            raise RuntimeError(f"prometheus exited:\n{(folder / 'prometheus.log').read_text()}")
        try:
            with urllib.request.urlopen(f"{prometheus.url}/-/ready", timeout=2) as answer:
                if answer.status == 200:
                    return prometheus
        except OSError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"prometheus not ready in 30s:\n{(folder / 'prometheus.log').read_text()}")


def targets(prometheus: Prometheus) -> list[dict[str, Any]]:
    data = prometheus.get("/api/v1/targets", state="active")
    found: list[dict[str, Any]] = data["activeTargets"]
    return found


def chat(mesh: Mesh, text: str) -> str:
    request = urllib.request.Request(
        f"{mesh.chat_url}/api/chat", data=json.dumps({"text": text, "bot": "demo"}).encode(),
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=10) as answer:
        reply: str = json.load(answer)["reply"]
    return reply


async def test_prometheus_scrapes_every_role_and_the_broker(prometheus, mesh):
    expected = len(ROLES) + 2  # each role, the broker's /metrics and /metrics/per-object
    await eventually(
        lambda: sum(t["health"] == "up" for t in targets(prometheus)) == expected,
        timeout=20, what=f"all {expected} targets up",
    )  # fmt: skip
    scraped = {(t["labels"]["job"], t["labels"].get("service", "")) for t in targets(prometheus)}
    broker = {("rabbitmq", ""), ("rabbitmq-per-object", "")}
    assert scraped == {("botwerk", service) for service in ROLES} | broker
    info = prometheus.query("botwerk_info")
    roles = {(s["metric"]["service"], s["metric"]["role"]) for s in info}
    assert {("worker-echo", "worker"), ("core-demo", "core"), ("web", "transport")} <= roles


async def test_a_request_shows_up_in_the_histograms_and_counters(prometheus, mesh):
    def handled() -> dict[str, float]:
        return prometheus.values(
            'sum by (role) (botwerk_stage_seconds_count{stage=~"handle|end_to_end"})', "role"
        )

    before = handled()
    assert chat(mesh, "hello") == "echo: hello"
    await eventually(
        lambda: all(handled().get(role, 0) > before.get(role, 0) for role in
                    ("worker", "core", "transport")),
        timeout=10, what="the request counted in botwerk_stage_seconds_count by each role",
    )  # fmt: skip
    answered = prometheus.values('sum by (role) (botwerk_messages_total{outcome="ok"})', "role")
    assert {"worker", "core"} <= {role for role, count in answered.items() if count >= 1}
    end_to_end = prometheus.values(
        'sum by (bot) (botwerk_stage_seconds_count{role="transport", stage="end_to_end"})', "bot"
    )
    assert end_to_end.get("demo", 0) >= 1


def board_queries(namespace: str) -> dict[str, str]:
    """Every query of the board as Grafana sends it for ``namespace``, by where it is."""
    return {
        where: expr.replace("$__rate_interval", "1m").replace("$namespace", namespace)
        for where, expr in queries(board()).items()
    }


async def test_every_query_of_the_board_runs_on_prometheus(prometheus, mesh):
    sent = board_queries(mesh.namespace)
    consumers = sent["Consumers per bot and model queue A"]
    serving = {f"{mesh.namespace}.core.demo": 1.0, f"{mesh.namespace}.infer.echo": 1.0}
    await eventually(  # the broker refreshes its queue statistics every 5 s
        lambda: prometheus.values(consumers, "queue") == serving, timeout=15,
        what="the board's consumers panel: one consumer on each queue",
    )  # fmt: skip
    results = {where: prometheus.query(expr) for where, expr in sent.items()}  # PromQL errors fail
    ready = {(s["metric"]["role"], s["metric"]["name"], s["value"][1]) for s in results["Ready A"]}
    assert {("worker", "echo", "1"), ("core", "demo", "1")} <= ready
    (variable,) = [v for v in board()["templating"]["list"] if v["name"] == "namespace"]
    pattern = re.compile(variable["regex"].strip("/"))  # as Grafana applies it: /REGEX/
    found = {m[1] for s in results["$namespace"] if (m := pattern.search(s["metric"]["queue"]))}
    assert mesh.namespace in found  # the board's variable offers the namespace
