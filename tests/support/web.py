"""Fixtures for the web transport's tests: a free port, the chat server of a real mesh, a browser.

A test::

    def test_ping(web_url):
        assert httpx.post(f"{web_url}/api/chat", json={"text": "ping"}).json()["reply"] == "pong"

- ``free_port``: a TCP port on 127.0.0.1 that nothing listened on a moment ago.
- ``web_mesh`` (one per test module): ``botwerk worker echo``, ``botwerk core demo`` and
  ``botwerk transport web --bot demo,ghost`` as OS processes over RabbitMQ, in a namespace of
  their own. The transport's deadline is :data:`WEB_DEADLINE_MS`; no core serves ``ghost``,
  whose ``[bots.ghost]`` table offers the genres :data:`GHOST_GENRES` (``demo`` has none).
- ``web_url``: that mesh's chat server, ``http://127.0.0.1:<port>``.
- ``chromium``: Debian's ``/usr/bin/chromium`` driven by Playwright's sync API, headless, one
  per test module; it never downloads a browser, and skips the test when chromium is missing.

Limits: the sync Playwright API cannot run inside a running event loop, so tests that use
``chromium`` are plain ``def`` tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from botwerk.infra import topology
from botwerk.testing import admin
from botwerk.testing.plugin import SESSION_PREFIX

from .ports import free_port
from .processes import Processes

if TYPE_CHECKING:
    from playwright.sync_api import Browser

WEB_DEADLINE_MS = 2500  # short, so the timeout test waits little; answers take milliseconds
GHOST_GENRES = {"comedy": "chat-comedy", "noir": "chat-noir"}
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


@dataclass
class WebMesh:
    """The processes behind ``web_url``; ``processes`` can start more in the same namespace."""

    url: str
    port: int
    namespace: str
    processes: Processes
    transport: subprocess.Popen[str]


@pytest.fixture(name="free_port")
def free_port_fixture() -> int:
    """A free loopback port (see :func:`.ports.free_port`)."""
    return free_port()


@pytest.fixture(scope="module")
def web_mesh(amqp_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebMesh]:

    namespace = f"{SESSION_PREFIX}-web-{uuid.uuid4().hex[:6]}"
    port = free_port()
    env = {
        "BOTWERK_AMQP_URL": amqp_url,
        "BOTWERK_NAMESPACE": namespace,
        "BOTWERK_DEADLINE_MS": str(WEB_DEADLINE_MS),
        "BOTWERK_TRANSPORTS": json.dumps({"web": {"port": port}}),
        "BOTWERK_BOTS": json.dumps({"ghost": {"genres": GHOST_GENRES}}),
        "BOTWERK_LOG_LEVEL": "INFO",
    }
    procs = Processes(env, tmp_path_factory.mktemp("web-mesh"))
    try:
        names = topology.Names(namespace)
        procs.start("worker", "echo")
        procs.start("core", "demo")
        admin.wait_for_consumers(amqp_url, names.infer_queue("echo"))
        admin.wait_for_consumers(amqp_url, names.core_queue("demo"))
        transport = procs.start("transport", "web", "--bot", "demo,ghost")
        url = f"http://127.0.0.1:{port}"
        wait_until_serving(url, transport)
        yield WebMesh(url, port, namespace, procs, transport)
    finally:
        procs.stop_all()


@pytest.fixture
def web_url(web_mesh: WebMesh) -> str:
    return web_mesh.url


def wait_until_serving(url: str, proc: subprocess.Popen[str], timeout: float = 30.0) -> None:
    """Return once ``url/healthz`` answers (200, or 503 while a bot has no core: ``ghost``
    never has one); fail with the log if ``proc`` exits first."""
    give_up = time.monotonic() + timeout
    while time.monotonic() < give_up:
        if proc.poll() is not None:
            raise RuntimeError(f"the web transport exited:\n{Processes.log_of(proc)}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as answer:
                if answer.status == 200:
                    return
        except urllib.error.HTTPError as answer:
            if answer.code == 503:
                return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{url} did not serve in {timeout:g}s:\n{Processes.log_of(proc)}")


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        message = f"no browser at {CHROMIUM}: install Debian's chromium (apt-get install chromium)"
        if os.environ.get("BOTWERK_REQUIRE_BROKER") == "1":
            pytest.fail(message + " (BOTWERK_REQUIRE_BROKER=1: servers may not be missing)")
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()
