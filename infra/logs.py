"""Structured logs that carry the trace id of the message being handled.

After :func:`setup`, a line logged inside ``trace`` names the trace::

    with trace("t-42"):
        logging.getLogger("botwerk").info("reply sent")  # 10:00:00 INFO ... trace=t-42 reply sent

>>> with trace("t-42"):
...     TRACE.get()
't-42'
>>> TRACE.get()  # outside any message
'-'

The trace id lives in a context variable, so each asyncio task (one per message) logs its own.
Work handed to a thread keeps it through :func:`in_context`. ``text`` lines are for people,
``json`` lines (one object per line) for log shippers; both name the trace.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
import time
from collections.abc import Callable, Iterator
from typing import ParamSpec, TypeVar

TRACE: contextvars.ContextVar[str] = contextvars.ContextVar("botwerk_trace", default="-")

P = ParamSpec("P")
R = TypeVar("R")


@contextlib.contextmanager
def trace(trace_id: str | None) -> Iterator[None]:
    """Log lines inside carry ``trace_id`` (``-`` when None)."""
    token = TRACE.set(trace_id or "-")
    try:
        yield
    finally:
        TRACE.reset(token)


def in_context(fn: Callable[P, R]) -> Callable[P, R]:
    """``fn`` bound to a copy of the current context, for running on another thread."""
    ctx = contextvars.copy_context()

    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        return ctx.run(fn, *args, **kwargs)

    return run


class _TraceFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.trace = TRACE.get()
        return True


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "trace": getattr(record, "trace", "-"),
            "msg": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def setup(level: str = "INFO", fmt: str = "text", role: str = "botwerk") -> None:
    """Send the process's logs to stderr, one line per record, each with its trace id."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_TraceFilter())
    if fmt == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        text = f"%(asctime)s %(levelname)-7s {role} %(name)s trace=%(trace)s %(message)s"
        formatter = logging.Formatter(text, "%H:%M:%S")
        formatter.converter = time.gmtime
        handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # We log every connection event ourselves, in one line; pika's tracebacks are for DEBUG.
    logging.getLogger("pika").setLevel(
        logging.DEBUG if root.level <= logging.DEBUG else logging.CRITICAL
    )
