"""pytest fixtures for Botwerk: a fresh namespace per test, both buses, real role processes.

Registered as the ``botwerk`` pytest11 entry point, so a package built on Botwerk (an
out-of-tree transport, say) gets these fixtures by installing it.

- ``amqp_url``: the broker of ``BOTWERK_AMQP_URL`` (default the local one). Skips the test
  with the reason when no broker answers, or fails it when ``BOTWERK_REQUIRE_BROKER=1``.
- ``settings``: Settings in a fresh namespace (``bwt-<session>-<n>``); everything the session
  declared under its prefix is deleted at the end.
- ``bus``: parametrized, ``memory`` and ``rabbitmq``: a test using it runs on both buses.
- ``rabbit_bus``: RabbitMQ only. ``processes``: ``botwerk`` roles as OS processes.
- ``fault_node``: a throwaway RabbitMQ node (one per session) that tests may kill, pause,
  restart or alarm; healed after every test. ``fault_mesh``: roles on it, with a ledger.
- ``reliability``: figures a fault test records; written to ``artifacts/reliability.json``.
- ``model_store``: a store URL holding tiny real ``charrnn``, ``word2vec`` and ``chat``
  models, trained once per session in seconds (:mod:`.tiny`).
- ``cornell_dir``: a folder holding a tiny Cornell Movie-Dialogs corpus, flaws included
  (:mod:`.cornell`; a session-scoped fixture calls ``write_cornell`` itself).
- Platforms for the transport tests: ``fake_slack`` and ``slack_secrets`` (a local Slack:
  Web API and Socket Mode, :mod:`.slack`), ``x_api`` and ``x_secrets`` (a local X API v2,
  :mod:`.x`), ``ircd`` (a real ngircd), ``irc_user`` (a raw IRC client) and ``sasl_ircd``
  (:mod:`.irc`, :mod:`.irc_sasl`), ``web_mesh``, ``web_url``, ``chromium`` and ``free_port``
  (:mod:`.web`).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from ..bus import Bus
from ..memory import MemoryBus
from ..rabbit import RabbitBus
from ..settings import Settings
from . import admin
from .broker import RABBITMQ_BIN, ThrowawayBroker
from .faults import FaultMesh
from .processes import Processes

# The platforms the transport tests talk to, one module each. They need the bridges' SDKs
# (the `all` extra, part of `dev`); without them the other fixtures still load.
PLATFORM_SDKS = {"aiohttp", "slack_sdk", "tweepy", "requests", "pydle", "fastapi", "uvicorn",
                 "playwright", "httpx"}  # fmt: skip
try:
    from .irc import irc_user, ircd
    from .irc_sasl import sasl_ircd
    from .slack import fake_slack, slack_secrets
    from .web import chromium, free_port_fixture, web_mesh, web_url
    from .x import x_api, x_secrets
except ModuleNotFoundError as missing:
    if missing.name not in PLATFORM_SDKS:
        raise

__all__ = [
    "chromium", "fake_slack", "free_port_fixture", "irc_user", "ircd", "sasl_ircd",
    "slack_secrets", "web_mesh", "web_url", "x_api", "x_secrets",
]  # fmt: skip

DEFAULT_URL = "amqp://guest:guest@127.0.0.1:5672/"
SESSION_PREFIX = f"bwt-{uuid.uuid4().hex[:6]}"
_namespaces = itertools.count(1)


@pytest.fixture(scope="session")
def amqp_url() -> Iterator[str]:
    url = os.environ.get("BOTWERK_AMQP_URL") or DEFAULT_URL
    if (why := admin.reachable(url)) is not None:
        message = (
            f"no RabbitMQ at BOTWERK_AMQP_URL={url} ({why}); start one with "
            "`rabbitmq-server -detached`"
        )
        if os.environ.get("BOTWERK_REQUIRE_BROKER") == "1":
            pytest.fail(message + " (BOTWERK_REQUIRE_BROKER=1: broker tests may not skip)")
        pytest.skip(message)
    yield url
    admin.sweep(url, SESSION_PREFIX)


@pytest.fixture
def namespace() -> str:
    return f"{SESSION_PREFIX}-{next(_namespaces)}"


@pytest.fixture
def settings(namespace: str) -> Settings:
    """Settings for one test: its own namespace, and the local broker URL (if it is used)."""
    return Settings.load(
        namespace=namespace,
        amqp_url=os.environ.get("BOTWERK_AMQP_URL") or DEFAULT_URL,
        deadline_ms=10_000,
        publish_timeout_s=10,
        reconnect_min_s=0.1,
        reconnect_max_s=1.0,
    )


@pytest_asyncio.fixture(params=["memory", "rabbitmq"])
async def bus(request: pytest.FixtureRequest, settings: Settings) -> AsyncIterator[Bus]:
    """Each test using it runs twice: on the in-process bus and on RabbitMQ."""
    if request.param == "memory":
        instance: Bus = MemoryBus(settings.max_message_bytes)
    else:
        request.getfixturevalue("amqp_url")
        instance = RabbitBus(settings, name=f"test {request.node.name}")
    await instance.start()
    yield instance
    await instance.close()


@pytest_asyncio.fixture
async def rabbit_bus(amqp_url: str, settings: Settings) -> AsyncIterator[RabbitBus]:
    instance = RabbitBus(settings, name="test")
    await instance.start(timeout=10)
    yield instance
    await instance.close()


@pytest.fixture
def processes(amqp_url: str, settings: Settings, tmp_path: Path) -> Iterator[Processes]:
    """``botwerk`` roles as OS processes in the test's namespace; stopped afterwards."""
    env = {
        "BOTWERK_AMQP_URL": amqp_url,
        "BOTWERK_NAMESPACE": settings.namespace,
        "BOTWERK_RECONNECT_MIN_S": "0.1",
        "BOTWERK_RECONNECT_MAX_S": "1",
        "BOTWERK_LOG_LEVEL": "INFO",
    }
    procs = Processes(env, tmp_path)
    yield procs
    procs.stop_all()


@pytest.fixture(scope="session")
def _fault_node_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThrowawayBroker]:
    if not (RABBITMQ_BIN / "rabbitmq-server").exists():
        message = f"no rabbitmq-server in {RABBITMQ_BIN}: install Debian's rabbitmq-server"
        if os.environ.get("BOTWERK_REQUIRE_BROKER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    node = ThrowawayBroker(tmp_path_factory.mktemp("rabbitmq-node"))
    node.start()
    yield node
    node.stop()


@pytest.fixture
def fault_node(_fault_node_session: ThrowawayBroker) -> Iterator[ThrowawayBroker]:
    """The throwaway node, running and unpaused with no alarm, before and after the test."""
    node = _fault_node_session
    _heal(node)
    yield node
    _heal(node)


def _heal(node: ThrowawayBroker) -> None:
    if node.running:
        with contextlib.suppress(OSError, ValueError):
            node.resume()
    else:
        node.start()
    node.memory_alarm(False)


@pytest_asyncio.fixture
async def fault_mesh(
    fault_node: ThrowawayBroker, settings: Settings, tmp_path: Path
) -> AsyncIterator[FaultMesh]:
    async with FaultMesh(fault_node, settings, tmp_path) as mesh:
        yield mesh


@pytest.fixture(scope="session")
def model_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A model store with tiny real ``charrnn``, ``word2vec`` and ``chat`` models; its URL."""
    from .tiny import build_tiny_store

    return build_tiny_store(tmp_path_factory.mktemp("models"))


@pytest.fixture
def cornell_dir(tmp_path: Path) -> Path:
    """A fresh tiny Cornell corpus in the test's tmp_path; what it reads as is ``EXPECTED``."""
    from .cornell import write_cornell

    return write_cornell(tmp_path)


class Reliability:
    """Figures of the fault suite, one row per fault, written at the end of the session."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}

    def record(self, row: str, **figures: Any) -> None:
        self.rows.setdefault(row, {}).update(figures)


@pytest.fixture(scope="session")
def reliability() -> Iterator[Reliability]:
    report = Reliability()
    yield report
    if report.rows:
        out = Path(os.environ.get("BOTWERK_RELIABILITY_OUT", "artifacts/reliability.json"))
        out.parent.mkdir(parents=True, exist_ok=True)
        run = {
            "finished": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
            "rows": report.rows,
        }
        out.write_text(json.dumps(run, indent=2, sort_keys=True))
