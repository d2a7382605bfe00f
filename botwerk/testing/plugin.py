"""pytest fixtures for code built on Botwerk: a fresh namespace per test, on both buses.

Registered as the ``botwerk`` pytest11 entry point, so the author of an out-of-tree
transport, bot or model gets these by installing botwerk. It needs nothing beyond botwerk's
own dependencies and pytest; the async fixtures (``bus``, ``rabbit_bus``) are there when
pytest-asyncio is installed, as async tests need it anyway.

- ``amqp_url``: the broker of ``BOTWERK_AMQP_URL`` (default the local one). Skips the test
  with the reason when no broker answers, or fails it when ``BOTWERK_REQUIRE_BROKER=1``.
- ``settings``: Settings in a fresh namespace (``bwt-<session>-<n>``); everything the session
  declared under its prefix is deleted at the end, and each broker test's queues right after it
  (through the management API, when it answers). Bots' memory is ``memory://`` (this process)
  unless ``BOTWERK_STATE_URL`` is set, so no test leaves a state file behind.
- ``bus``: parametrized, ``memory`` and ``rabbitmq``: a test using it runs on both buses.
- ``rabbit_bus``: RabbitMQ only.

Beside the fixtures, :mod:`botwerk.testing` holds a chat client that asks a bot through the
real gateway (:class:`~botwerk.testing.ChatClient`), a stand-in for models to test a bot's
handlers (:class:`~botwerk.testing.CannedModel`), and a model served by a real worker
(:func:`~botwerk.testing.serving`).
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from botwerk.infra.bus import Bus
from botwerk.infra.memory import MemoryBus
from botwerk.infra.rabbit import RabbitBus
from botwerk.infra.settings import Settings

from . import admin

try:  # the async fixtures need an asyncio runner for pytest; without one they are left out
    import pytest_asyncio
except ModuleNotFoundError:  # a plain install of botwerk, with pytest alone
    ASYNC = False
else:
    ASYNC = True

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
def namespace(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace; the queues a broker test declared in it are deleted after the test."""
    name = f"{SESSION_PREFIX}-{next(_namespaces)}"
    yield name
    if "amqp_url" in request.fixturenames:
        url = os.environ.get("BOTWERK_AMQP_URL") or DEFAULT_URL
        management = os.environ.get("BOTWERK_MANAGEMENT_URL") or admin.MANAGEMENT_URL
        admin.sweep_namespace(url, name, management)


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
        state_url=os.environ.get("BOTWERK_STATE_URL") or "memory://",  # no file left behind
    )


if ASYNC:

    @pytest_asyncio.fixture(params=["memory", "rabbitmq"])
    async def bus(request: pytest.FixtureRequest, settings: Settings) -> AsyncIterator[Bus]:
        """Each test using it runs twice: on the in-process bus and on RabbitMQ."""
        if request.param == "memory":
            instance: Bus = MemoryBus(settings.max_message_bytes)
        else:
            request.getfixturevalue("amqp_url")
            instance = RabbitBus(settings, role="test", name=request.node.name)
        await instance.start()
        yield instance
        await instance.close()

    @pytest_asyncio.fixture
    async def rabbit_bus(amqp_url: str, settings: Settings) -> AsyncIterator[RabbitBus]:
        instance = RabbitBus(settings, role="test", name="rabbit_bus")
        await instance.start(timeout=10)
        yield instance
        await instance.close()
