"""SIGTERM and SIGINT stop every role within 2 s, whatever state it is in.

A role used to heed signals only once it had connected: with the broker down or the password
wrong it retried forever and outlived both. Each test starts a real ``botwerk`` process, waits
until it is in the state named, signals it, and times its exit.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from botwerk.infra import topology
from botwerk.infra.settings import Settings
from botwerk.testing import admin
from botwerk.workers.echo.serve import EchoModel
from tests.support.processes import Processes
from tests.support.proxy import FaultProxy

pytestmark = [pytest.mark.slow]

LIMIT_S = 2.0
SIGNALS = [signal.SIGTERM, signal.SIGINT]
ROLES = {
    "worker": ("worker", "echo"),
    "core": ("core", "demo"),
    "transport": ("transport", "console", "--bot", "demo"),
}


class SlowLoad(EchoModel):
    """Echo that takes a minute to load, like a large model: serve it to signal mid-load."""

    def load(self) -> None:
        logging.getLogger("botwerk.tests").warning("loading slowly")
        time.sleep(60)


@pytest.fixture
def start(tmp_path: Path, settings: Settings) -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """``start(url, *args)``: ``botwerk ARGS`` against ``url``, stdin held open."""
    started: list[Processes] = []

    def run(url: str, *args: str) -> subprocess.Popen[str]:
        env = {
            "BOTWERK_AMQP_URL": url,
            "BOTWERK_NAMESPACE": settings.namespace,
            "BOTWERK_RECONNECT_MIN_S": "0.1",
            "BOTWERK_RECONNECT_MAX_S": "1",
            "BOTWERK_LOG_LEVEL": "INFO",
        }
        procs = Processes(env, tmp_path)
        started.append(procs)
        return procs.start(*args, stdin=subprocess.PIPE)

    yield run
    for procs in started:
        procs.stop_all()


def wait_for_log(proc: subprocess.Popen[str], text: str, timeout: float = 30) -> None:
    give_up = time.monotonic() + timeout
    while text not in Processes.log_of(proc):
        assert proc.poll() is None, f"exited early:\n{Processes.log_of(proc)}"
        assert time.monotonic() < give_up, f"never logged {text!r}:\n{Processes.log_of(proc)}"
        time.sleep(0.05)


def stops_in_time(proc: subprocess.Popen[str], sig: signal.Signals) -> None:
    sent = time.monotonic()
    proc.send_signal(sig)
    try:
        code = proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"still running 10 s after {sig.name}:\n{Processes.log_of(proc)}")
    took = time.monotonic() - sent
    assert took < LIMIT_S, f"took {took:.2f}s after {sig.name}:\n{Processes.log_of(proc)}"
    assert code == 0, f"exit code {code} after {sig.name}:\n{Processes.log_of(proc)}"
    assert "Traceback" not in Processes.log_of(proc)


def with_password(url: str, password: str) -> str:
    parts = urlsplit(url)
    netloc = f"{parts.username}:{password}@{parts.hostname}:{parts.port or 5672}"
    return urlunsplit(parts._replace(netloc=netloc))


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def silent_server() -> Iterator[tuple[int, threading.Event]]:
    """A port that accepts connections and never speaks AMQP: a client hangs connecting."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        with contextlib.suppress(OSError):
            while True:
                held.append(server.accept()[0])
                accepted.set()

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield int(server.getsockname()[1]), accepted
    finally:
        server.close()
        for conn in held:
            conn.close()


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
@pytest.mark.parametrize("role", ROLES)
def test_a_role_stops_while_the_broker_is_unreachable(start, sig, role):
    proc = start(f"amqp://guest:guest@127.0.0.1:{closed_port()}/", *ROLES[role])
    wait_for_log(proc, "unreachable")  # it has failed once and backs off, retrying
    stops_in_time(proc, sig)


@pytest.mark.broker
@pytest.mark.parametrize("role", ROLES)
def test_a_role_whose_password_is_refused_stops_by_itself(start, amqp_url, role):
    proc = start(with_password(amqp_url, "not-the-password"), *ROLES[role])
    assert proc.wait(timeout=30) == 1  # no signal needed: retrying a wrong password is useless
    said = Processes.log_of(proc)
    assert "refused this user name or password" in said and "rabbitmq-server" not in said, said


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_a_worker_stops_while_connecting(start, sig):
    with silent_server() as (port, accepted):
        proc = start(f"amqp://guest:guest@127.0.0.1:{port}/", *ROLES["worker"])
        assert accepted.wait(30), Processes.log_of(proc)
        time.sleep(0.2)  # now waiting for a handshake that never comes
        stops_in_time(proc, sig)


@pytest.mark.broker
@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_a_worker_stops_while_loading_its_model(start, amqp_url, sig):
    proc = start(amqp_url, "worker", f"{__name__}:SlowLoad", "--name", "echo")
    wait_for_log(proc, "loading slowly")
    stops_in_time(proc, sig)


@pytest.mark.broker
@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_a_worker_stops_while_serving(start, amqp_url, settings, sig):
    proc = start(amqp_url, *ROLES["worker"])
    admin.wait_for_consumers(amqp_url, topology.Names(settings.namespace).infer_queue("echo"))
    stops_in_time(proc, sig)


@pytest.mark.broker
@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
@pytest.mark.parametrize("role", ["worker", "core"])
def test_a_role_stops_while_reconnecting_after_losing_the_broker(
    start, amqp_url, settings, sig, role
):
    parts = urlsplit(amqp_url)
    proxy = FaultProxy(parts.hostname or "127.0.0.1", parts.port or 5672).start()
    try:
        proc = start(proxy.url_for(amqp_url), *ROLES[role])
        names = topology.Names(settings.namespace)
        queue = names.infer_queue("echo") if role == "worker" else names.core_queue("demo")
        admin.wait_for_consumers(amqp_url, queue)
        proxy.refuse()
        proxy.reset()  # the broker is gone: announcing "down" on stop cannot be confirmed
        wait_for_log(proc, "unreachable")  # lost, failed to reconnect, backing off
        stops_in_time(proc, sig)
    finally:
        proxy.close()
