"""Broker housekeeping for tests: is a broker there, how many consumers a queue has, sweeping.

Synchronous (a short-lived pika BlockingConnection per call): meant for fixtures and for
polling from tests, never for the roles themselves.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import time
from urllib.parse import quote, unquote, urlsplit

import pika
import pika.exceptions

from botwerk.infra.brokeradmin import Management
from botwerk.schemas import BotwerkError

MANAGEMENT_URL = "http://127.0.0.1:15672/"


def reachable(url: str) -> str | None:
    """None when a broker answers at ``url``; otherwise why not."""
    logging.getLogger("pika").setLevel(logging.CRITICAL)  # a refused connection is the answer
    try:
        params = pika.URLParameters(url)
        params.socket_timeout = params.blocked_connection_timeout = 3
        pika.BlockingConnection(params).close()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def queue_state(url: str, queue: str) -> tuple[int, int] | None:
    """(messages ready, consumers) of ``queue``, or None when it does not exist."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        ok = connection.channel().queue_declare(queue, passive=True)
        return ok.method.message_count, ok.method.consumer_count
    except pika.exceptions.ChannelClosedByBroker:
        return None
    finally:
        if connection.is_open:
            connection.close()


def wait_for_consumers(url: str, queue: str, count: int = 1, timeout: float = 30.0) -> None:
    """Block until ``queue`` has at least ``count`` consumers (a role is serving it)."""
    give_up = time.monotonic() + timeout
    while time.monotonic() < give_up:
        state = queue_state(url, queue)
        if state is not None and state[1] >= count:
            return
        time.sleep(0.1)
    raise TimeoutError(f"{queue} did not get {count} consumer(s) in {timeout:g}s")


def sweep(url: str, prefix: str) -> int:
    """Delete every queue and exchange whose name starts with ``prefix``; how many went.

    Lists names with ``rabbitmqctl`` (a local broker); without it, nothing is swept.
    """
    if not shutil.which("rabbitmqctl"):
        return 0
    queues = _listed(["list_queues", "name"], prefix)
    exchanges = _listed(["list_exchanges", "name"], prefix)
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        for queue in queues:
            channel.queue_delete(queue)
        for exchange in exchanges:
            channel.exchange_delete(exchange)
    finally:
        connection.close()
    return len(queues) + len(exchanges)


def _listed(args: list[str], prefix: str) -> list[str]:
    out = subprocess.run(
        ["rabbitmqctl", "-q", "--no-table-headers", *args],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    return [line.strip() for line in out.stdout.splitlines() if line.strip().startswith(prefix)]


def sweep_namespace(amqp_url: str, namespace: str, management_url: str = MANAGEMENT_URL) -> int:
    """Delete the queues of one namespace now, through the management API; how many went.

    A test's quorum queues each hold broker file handles: a session that keeps them all until
    :func:`sweep` ran a broker out of handles (it stopped accepting connections). Without the
    management API nothing is deleted here and the session's sweep still runs.
    """
    parts = urlsplit(amqp_url)
    vhost = quote(unquote(parts.path[1:]) or "/", safe="")
    api = Management(
        management_url, unquote(parts.username or "guest"), unquote(parts.password or "guest"), 5
    )
    pattern = quote(f"^{namespace}\\.")
    try:
        found = api.get(f"queues/{vhost}?page=1&page_size=500&use_regex=true&name={pattern}"
                        "&columns=name") or {"items": []}  # fmt: skip
        names = [item["name"] for item in found["items"]]
        for name in names:
            api.call("DELETE", f"queues/{vhost}/{quote(name, safe='')}")
    except BotwerkError:
        return 0  # no management API (or the queue went meanwhile): the session sweep remains
    return len(names)
