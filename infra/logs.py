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

Whatever a line quotes from outside (a trace id or message id off the wire, a platform's
error) cannot forge another line: control characters in the message, its arguments, the trace
and an exception's text are written escaped, and secrets in URLs (a Slack Socket Mode
``ticket``, a password) are masked, whoever logged them (our code, pika, slack_sdk, aiohttp):

>>> clean("id=1\\n10:00:00 INFO forged wss://x/link?ticket=abc&app=A1")
'id=1\\\\n10:00:00 INFO forged wss://x/link?ticket=***&app=A1'
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import re
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from typing import Any, ParamSpec, TypeVar

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


# C0 and C1 controls, DEL, and the Unicode line and paragraph separators: anything a reader
# of the log (a terminal, `less`, a shipper splitting lines) could take for a line break or a
# command.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# A secret in a URL: the password of user:password@host, or a query parameter that grants
# access on its own (Slack's Socket Mode ``ticket``, tokens, signatures).
_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^\s/:@]*:)[^\s/@]+@", re.IGNORECASE)
_URL_SECRET = re.compile(
    r"([?&;](?:[\w.-]*(?:ticket|token|secret|signature|password|key|credential)|sig|code)=)"
    r"[^&\s\"'#]+",
    re.IGNORECASE,
)


def _escape_one(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    return _NAMED.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def clean(text: str) -> str:
    """``text`` fit for one log line: control characters escaped, secrets in URLs masked."""
    text = _CONTROL.sub(_escape_one, text)
    text = _URL_PASSWORD.sub(r"\1***@", text)
    return _URL_SECRET.sub(r"\1***", text)


def _clean_exception(chunks: list[str]) -> str:
    """A traceback whose lines all come from the traceback: messages escaped, frames kept."""
    out = []
    for chunk in chunks:
        if chunk.startswith("  File "):  # a frame: our source lines, several lines on purpose
            out.append(chunk)
            continue
        body = chunk.strip("\n")  # e.g. "ValueError: bad\nforged": one line, escaped
        start = chunk.index(body) if body else len(chunk)
        out.append(chunk[:start] + clean(body) + chunk[start + len(body) :])
    return "".join(out).removesuffix("\n")


class _CleanFilter(logging.Filter):
    """Names the trace, and makes the record's message one clean line (see :func:`clean`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.trace = clean(TRACE.get())
        record.msg = clean(record.getMessage())
        record.args = None
        return True


class _TextFormatter(logging.Formatter):
    def formatException(self, ei: Any) -> str:
        return _clean_exception(traceback.format_exception(*ei))


class _JsonFormatter(_TextFormatter):
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
    handler.addFilter(_CleanFilter())
    if fmt == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        text = f"%(asctime)s %(levelname)-7s {role} %(name)s trace=%(trace)s %(message)s"
        formatter = _TextFormatter(text, "%H:%M:%S")
        formatter.converter = time.gmtime
        handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # We log every connection event ourselves, in one line; pika's tracebacks are for DEBUG.
    logging.getLogger("pika").setLevel(
        logging.DEBUG if root.level <= logging.DEBUG else logging.CRITICAL
    )
