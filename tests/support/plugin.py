"""The fixtures of Botwerk's own suite, beside the shipped ones of :mod:`botwerk.testing.plugin`.

Loaded by ``tests/conftest.py``. What lives here is for this project only: real role processes,
a throwaway RabbitMQ node to kill and its fault mesh, tiny trained models, corpora, and local
stand-ins for the platforms.

- ``processes``: ``botwerk`` roles as OS processes.
- ``fault_node``: a throwaway RabbitMQ node (one per session) that tests may kill, pause,
  restart or alarm; healed after every test. ``fault_mesh``: roles on it, with a ledger.
- ``managed_node``: a throwaway node with the management plugin (API and dashboard).
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
import json
import os
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from botwerk.infra.settings import Settings

from .broker import RABBITMQ_BIN, NodeConfig, ThrowawayBroker
from .faults import FaultMesh
from .processes import Processes
from .s3 import s3_server, s3_store  # noqa: F401  (fixtures: a local S3 server)

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


@pytest.fixture
def processes(amqp_url: str, settings: Settings, tmp_path: Path) -> Iterator[Processes]:
    """``botwerk`` roles as OS processes in the test's namespace; stopped afterwards."""
    env = {
        "BOTWERK_AMQP_URL": amqp_url,
        "BOTWERK_NAMESPACE": settings.namespace,
        "BOTWERK_RECONNECT_MIN_S": "0.1",
        "BOTWERK_RECONNECT_MAX_S": "1",
        "BOTWERK_LOG_LEVEL": "INFO",
        "BOTWERK_STATE_URL": settings.state_url,  # memory:// unless the test's settings say
    }
    procs = Processes(env, tmp_path)
    yield procs
    procs.stop_all()


def _need_rabbitmq_server() -> None:
    if not (RABBITMQ_BIN / "rabbitmq-server").exists():
        message = f"no rabbitmq-server in {RABBITMQ_BIN}: install Debian's rabbitmq-server"
        if os.environ.get("BOTWERK_REQUIRE_BROKER") == "1":
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="session")
def _fault_node_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThrowawayBroker]:
    _need_rabbitmq_server()
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


@pytest.fixture(scope="session")
def managed_node(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> ThrowawayBroker:
    """A throwaway node with the management plugin (HTTP API, dashboard), one per session.

    Apart from the fault node, which restarts often: the plugin makes each boot slower.
    tests/infra/test_permissions.py keeps the same node in the same session attribute.
    """
    node: ThrowawayBroker | None = getattr(request.session, "_botwerk_managed_node", None)
    if node is None:
        _need_rabbitmq_server()
        node = ThrowawayBroker(tmp_path_factory.mktemp("managed"), NodeConfig(management=True))
        node.start()
        request.session._botwerk_managed_node = node  # type: ignore[attr-defined]
        # At the session's end: a graceful stop waits ~5 s on the plugin, and nothing of this
        # node is kept, so SIGKILL it.
        request.config.add_cleanup(node.kill)
    return node


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
    """A model store with tiny real ``charrnn``, ``word2vec`` and ``chat`` models; its URL.

    Built once per run: under pytest-xdist the first worker to need it trains it and the others
    wait on a file lock and share it (two trainings at once on two cores took over the test
    timeout). Tests only read it.
    """
    from filelock import FileLock

    from tests.support.tiny import build_tiny_store

    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # the run's folder, above each worker's own
    folder, done = shared / "tiny-models", shared / "tiny-models.url"
    with FileLock(str(shared / "tiny-models.lock")):
        if not done.exists():
            done.write_text(build_tiny_store(folder))
    return done.read_text()


@pytest.fixture
def cornell_dir(tmp_path: Path) -> Path:
    """A fresh tiny Cornell corpus in the test's tmp_path; what it reads as is ``EXPECTED``."""
    from tests.support.cornell import write_cornell

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
