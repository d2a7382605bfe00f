"""A local S3 server for the store's tests: moto's server mode, as s3fs's own suite uses.

In a test::

    def test_it(s3_store):                  # "s3://botwerk-1a2b3c4d/models", a fresh bucket
        ModelStore(s3_store).publish(...)    # the environment points boto at the local server

``s3_server`` (one per session) is the server: its endpoint URL and the environment a process
needs to reach it (dummy credentials, ``AWS_ENDPOINT_URL_S3``), for role subprocesses too.
``s3_store`` sets that environment for the test and makes a bucket of its own. Nothing leaves
this machine: the server keeps every object in memory.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from .ports import free_port


@dataclass(frozen=True)
class S3Server:
    """A running local S3 server."""

    endpoint: str
    """``http://127.0.0.1:PORT``"""

    @property
    def env(self) -> dict[str, str]:
        """What a process needs to reach it through boto, s3fs and fsspec."""
        return {
            "AWS_ENDPOINT_URL_S3": self.endpoint,
            "AWS_ACCESS_KEY_ID": "botwerk-test",
            "AWS_SECRET_ACCESS_KEY": "botwerk-test",
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def make_bucket(self) -> str:
        """A new empty bucket; its name."""
        import fsspec

        name = f"botwerk-{uuid.uuid4().hex[:8]}"
        fs = fsspec.filesystem(
            "s3", endpoint_url=self.endpoint, key="botwerk-test", secret="botwerk-test",
            skip_instance_cache=True,
        )  # fmt: skip
        fs.mkdir(name)
        return name


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """moto's S3 server on a free loopback port, for the whole session."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield S3Server(f"http://127.0.0.1:{port}")
    server.stop()


@pytest.fixture
def s3_store(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> str:
    """A store URL in a fresh bucket of the local server, with the environment set to reach it."""
    for key, value in s3_server.env.items():
        monkeypatch.setenv(key, value)
    return f"s3://{s3_server.make_bucket()}/models"
