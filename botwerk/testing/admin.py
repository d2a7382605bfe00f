"""Broker housekeeping for tests: is a broker there, how many consumers a queue has, sweeping.

Synchronous (a short-lived pika BlockingConnection per call): meant for fixtures and for
polling from tests, never for the roles themselves.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import time

import pika
import pika.exceptions


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
