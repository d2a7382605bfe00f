"""Prometheus metrics and health for every role: one registry per process, one small HTTP server.

Roles call the helpers here, never prometheus_client itself, so names and labels stay the ones
an operator's dashboards expect (labels are bounded: a role, bot, model, outcome or reason code,
never a user, message or trace id)::

    metrics.count(Labels("core", bot="demo"), "ok")
    metrics.observe(Labels("worker", model="echo"), "handle", 0.004)
    server = metrics.serve(9100)   # GET /metrics, /healthz, /readyz on a daemon thread
    metrics.watch("worker", "echo", worker.not_ready)   # /readyz asks it: reasons, [] if ready
    server.close()

``/healthz`` is 200 while the process's event loop answers (``watch_loop``), ``/readyz`` 200
when every watched check returns no reason, else 503 with one plain-text line per reason.
Nothing is recorded until :func:`serve` runs (or :func:`record` turns it on): a process that
serves no metrics pays nothing for them.
:func:`botwerk.infra.process.run_roles` serves all this when ``BOTWERK_METRICS_PORT`` is set.
Limits: one process, one port; a multi-process Celery pool would need prometheus_client's
multiprocess mode, which the trainer does not use.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer
from prometheus_client.process_collector import ProcessCollector

from botwerk.schemas import BotwerkError

log = logging.getLogger("botwerk.metrics")

OUTCOMES = frozenset(
    {"ok", "error", "busy", "expired", "dead", "duplicate", "refused", "requeued", "late",
     "unroutable", "too_large", "posted"}
)  # fmt: skip
"""What became of a message: ``ok`` answered; ``error`` answered with an error; ``busy`` the
queue was full; ``expired`` its deadline passed; ``dead`` dead-lettered; ``duplicate`` dropped as
seen already; ``refused`` the broker refused it; ``requeued`` given back; ``late`` a reply after
its user was told "took too long"; ``unroutable`` nobody serves it; ``too_large`` over the cap;
``posted`` a post (a message nobody asked for, :mod:`botwerk.infra.posts`) given its platform."""
STAGES = frozenset({"queue_wait", "handle", "batch", "end_to_end"})
PHASES = frozenset({"load", "warmup"})
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
)  # fmt: skip
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
LONGEST_QUEUE_WAIT_S = 86_400.0  # a publish time further back than a day is a wrong clock

REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)  # CPU seconds, resident memory, open files

MESSAGES = Counter(
    "botwerk_messages", "Messages handled, by what became of them",
    ["role", "bot", "model", "outcome"], registry=REGISTRY,
)  # fmt: skip
STAGE = Histogram(
    "botwerk_stage_seconds", "Seconds per stage: queue_wait, handle, batch, end_to_end",
    ["role", "stage", "bot", "model"], buckets=LATENCY_BUCKETS, registry=REGISTRY,
)  # fmt: skip
BATCH_SIZE = Histogram(
    "botwerk_batch_size", "Requests per model batch", ["model"], buckets=BATCH_BUCKETS,
    registry=REGISTRY,
)  # fmt: skip
IN_FLIGHT = Gauge(
    "botwerk_in_flight", "Messages being handled now", ["role", "bot", "model"],
    registry=REGISTRY,
)  # fmt: skip
MODEL_LOAD = Gauge(
    "botwerk_model_load_seconds", "Seconds the latest model load or warm-up took",
    ["model", "phase"], registry=REGISTRY,
)  # fmt: skip
RECONNECTS = Counter(
    "botwerk_reconnects", "Reconnects to the broker after a lost connection", ["role"],
    registry=REGISTRY,
)  # fmt: skip
DEAD_LETTERS = Counter(
    "botwerk_dead_letters", "Messages this process dead-lettered, by reason code",
    ["role", "reason"], registry=REGISTRY,
)  # fmt: skip
READY = Gauge(
    "botwerk_ready", "1 when the role is ready (what /readyz says)", ["role", "name"],
    registry=REGISTRY,
)  # fmt: skip
INFO = Gauge(
    "botwerk_info", "1 per role in this process", ["role", "name", "version"], registry=REGISTRY
)


_recording = False


def record(on: bool) -> None:
    """Record from now on (``serve`` turns it on, ``MetricsServer.close`` off), or stop."""
    global _recording
    _recording = on


@dataclass(frozen=True, slots=True)
class Labels:
    """Who counts: a role and, where it applies, its bot or model ("" otherwise)."""

    role: str
    bot: str = ""
    model: str = ""


def count(labels: Labels, outcome: str) -> None:
    """One message more with ``outcome`` (one of :data:`OUTCOMES`)."""
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown outcome {outcome!r}: one of {sorted(OUTCOMES)}")
    if _recording:
        MESSAGES.labels(labels.role, labels.bot, labels.model, outcome).inc()


def observe(labels: Labels, stage: str, seconds: float) -> None:
    """``seconds`` spent in ``stage`` (one of :data:`STAGES`)."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}: one of {sorted(STAGES)}")
    if _recording:
        STAGE.labels(labels.role, stage, labels.bot, labels.model).observe(seconds)


def queue_wait(labels: Labels, sent_ms: int | None, now_ms: int) -> None:
    """The wait from publish (``sent_ms``, epoch ms; None when unknown) to delivery ``now_ms``.

    A wait below zero or over a day means another clock or a made-up value: not recorded.
    """
    if sent_ms is None or not _recording:
        return
    waited_s = (now_ms - sent_ms) / 1000
    if 0 <= waited_s <= LONGEST_QUEUE_WAIT_S:
        observe(labels, "queue_wait", waited_s)


@contextmanager
def in_flight(labels: Labels) -> Iterator[None]:
    """Count a message as in flight while the block runs."""
    if not _recording:
        yield
        return
    with IN_FLIGHT.labels(labels.role, labels.bot, labels.model).track_inprogress():
        yield


def in_flight_add(labels: Labels, n: int) -> None:
    """``n`` more (or fewer) messages in flight, where a block cannot hold them (a gateway)."""
    if _recording:
        IN_FLIGHT.labels(labels.role, labels.bot, labels.model).inc(n)


def batch(model: str, size: int, seconds: float) -> None:
    """One model batch of ``size`` requests that computed in ``seconds``."""
    if not _recording:
        return
    BATCH_SIZE.labels(model).observe(size)
    observe(Labels("worker", model=model), "batch", seconds)


def model_loaded(model: str, phase: str, seconds: float) -> None:
    """How long ``model``'s latest ``load`` or ``warmup`` took."""
    if phase not in PHASES:
        raise ValueError(f"unknown phase {phase!r}: one of {sorted(PHASES)}")
    if _recording:
        MODEL_LOAD.labels(model, phase).set(seconds)


def reconnected() -> None:
    """The broker connection came back after it was lost."""
    if _recording:
        RECONNECTS.labels(HEALTH.role).inc()


def dead_lettered(role: str, reason: str) -> None:
    """One message dead-lettered by this process; ``reason`` is a short code, not the text."""
    if _recording:
        DEAD_LETTERS.labels(role or HEALTH.role, reason).inc()


# Health: what /healthz and /readyz answer.

Check = Callable[[], list[str]]
"""Why something is not ready: an empty list when it is."""


class Health:
    """The process's readiness checks and its event loop, asked from the HTTP thread."""

    LOOP_ANSWER_S = 5.0  # an event loop busier than this is not alive: its heartbeats stall

    def __init__(self) -> None:
        self.role = ""
        """The process's role for metrics without one of their own: one role's, or ``up``."""
        self.checks: dict[tuple[str, str], Check] = {}
        self.loop: asyncio.AbstractEventLoop | None = None

    def not_ready(self) -> list[str]:
        """Every reason any check gives, as ``role name: reason``."""
        reasons = []
        for (role, name), check in list(self.checks.items()):
            reasons += [f"{f'{role} {name}'.strip()}: {why}" for why in _asked(check)]
        return reasons

    def alive(self) -> bool:
        """Whether the event loop runs callbacks (none watched: the process is up, so yes)."""
        loop = self.loop
        if loop is None:
            return True
        answered = threading.Event()
        try:
            loop.call_soon_threadsafe(answered.set)
        except RuntimeError:  # the loop is closed
            return False
        return answered.wait(self.LOOP_ANSWER_S)


HEALTH = Health()


def _asked(check: Check) -> list[str]:
    try:
        return list(check())
    except Exception as exc:  # a check that fails says so rather than breaking /readyz
        return [f"its readiness check failed: {type(exc).__name__}: {exc}"]


def watch(role: str, name: str, check: Check) -> None:
    """Ask ``check`` on every /readyz and scrape (``botwerk_ready``) from now on."""
    HEALTH.checks[(role, name)] = check
    READY.labels(role, name).set_function(lambda: 0.0 if _asked(check) else 1.0)
    INFO.labels(role, name, _version()).set(1)


def watch_loop(loop: asyncio.AbstractEventLoop | None) -> None:
    """/healthz asks ``loop`` to run a callback (None: stop asking)."""
    HEALTH.loop = loop


def forget() -> None:
    """Drop every check (the roles have stopped); the counters stay."""
    for role, name in HEALTH.checks:
        READY.remove(role, name)
        INFO.remove(role, name, _version())
    HEALTH.checks.clear()
    HEALTH.loop = None


def _version() -> str:
    try:
        return version("botwerk")
    except PackageNotFoundError:
        return "unknown"


# The HTTP server.


class MetricsPortInUse(BotwerkError):
    """The metrics port is taken by another process."""


class MetricsServer:
    """The running server: ``port`` (the one asked, or the one chosen for 0) and ``close``."""

    def __init__(self, server: WSGIServer) -> None:
        self._server = server
        self.port: int = server.server_port
        self._thread = threading.Thread(
            target=server.serve_forever, name="botwerk-metrics", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        record(False)
        self._server.shutdown()
        self._server.server_close()


def serve(port: int, host: str = "0.0.0.0") -> MetricsServer:
    """Serve /metrics, /healthz and /readyz on ``host:port`` from a daemon thread.

    All interfaces by default: Prometheus scrapes from another host or container, and the
    metrics hold no secret (counts and timings, bounded labels). Port 0 picks a free port.
    """
    try:
        server = make_server(host, port, _app, ThreadingWSGIServer, _Quiet)
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        raise MetricsPortInUse(
            f"BOTWERK_METRICS_PORT {port} is already in use on this machine (another Botwerk "
            "role or another program): give each role its own port (`botwerk up` needs one), "
            "or set BOTWERK_METRICS_PORT=0 to serve no metrics"
        ) from None
    record(True)
    return MetricsServer(server)


_metrics_app = make_wsgi_app(REGISTRY)


def _app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    path = environ.get("PATH_INFO", "")
    if path == "/metrics":
        return _metrics_app(environ, start_response)  # type: ignore[no-any-return]
    if path == "/healthz":
        alive = HEALTH.alive()
        return _plain(start_response, alive, "ok" if alive else "the event loop does not answer")
    if path == "/readyz":
        reasons = HEALTH.not_ready()
        return _plain(start_response, not reasons, "\n".join(reasons) or "ready")
    start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
    return [b"not found: try /metrics, /healthz or /readyz\n"]


def _plain(start_response: Callable[..., Any], good: bool, text: str) -> list[bytes]:
    status = "200 OK" if good else "503 Service Unavailable"
    start_response(status, [("Content-Type", "text/plain; charset=utf-8")])
    return [f"{text}\n".encode()]


class _Quiet(WSGIRequestHandler):
    """No access log on stderr: a scrape every few seconds would drown the role's logs."""

    def log_message(self, format: str, *args: Any) -> None:
        pass
