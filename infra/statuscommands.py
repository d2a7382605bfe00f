"""``botwerk status``: one screen for a namespace, gathered by :mod:`botwerk.infra.status`.

::

    botwerk status                 # queues, dead letters by reason, components; exit 1 when a
                                   # bot's or model's queue has no consumer
    botwerk status --watch         # redrawn in place every 2 s until Ctrl-C
    botwerk status --json | jq .unserved

The screen is plain text (ANSI only to redraw it): no terminal library for four small tables.
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any

import click

from botwerk.infra.commands import friendly, load_settings
from botwerk.infra.dead import management
from botwerk.infra.status import Component, QueueRow, Status, gather

REDRAW = "\x1b[H\x1b[J"  # cursor home, clear to the end: the next frame replaces this one
QUEUE_COLUMNS = ("QUEUE", "READY", "UNACKED", "CONSUMERS", "IN/S", "OUT/S", "")
COMPONENT_COLUMNS = ("ROLE", "NAME", "HOST", "PID", "MODEL", "SINCE", "CONSUMES")


@click.command()
@click.option("--namespace", help="The namespace to show  [env BOTWERK_NAMESPACE]")
@click.option(
    "--management-url",
    help="RabbitMQ's management HTTP API  [env BOTWERK_MANAGEMENT_URL; default "
    "http://127.0.0.1:15672/]",
)
@click.option("--watch", is_flag=True, help="Redraw in place every --every seconds.")
@click.option("--every", default=2.0, show_default=True, help="Seconds between redraws.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document, for scripts.")
@click.pass_obj
@friendly
def status(obj: dict[str, Any], namespace: str | None, management_url: str | None, watch: bool,
           every: float, as_json: bool) -> None:  # fmt: skip
    """Show a namespace: every queue's depth (ready / unacked), consumers, publish and deliver
    rates; dead letters by reason; every component that is up (role, name, host, pid,
    model@version, since). A bot or model whose queue has no consumer is flagged, and the exit
    status is then 1.

    Reads RabbitMQ's management API (BOTWERK_MANAGEMENT_URL, its user or BOTWERK_ADMIN_USER /
    BOTWERK_ADMIN_PASSWORD, else BOTWERK_AMQP_URL's) and the broker itself (BOTWERK_AMQP_URL).
    The API's numbers lag by up to 5 s; the consumers of bots and models are live.
    """
    settings = load_settings(
        obj, "status", default_level="WARNING", namespace=namespace, management_url=management_url
    )
    api = management(settings)
    while True:
        snapshot = gather(settings, api)
        text = json.dumps(snapshot.as_json(), indent=2) if as_json else render(snapshot)
        click.echo(REDRAW + text if watch else text)
        if not watch:
            break
        try:
            time.sleep(every)
        except KeyboardInterrupt:
            break
    if not snapshot.ok:
        raise SystemExit(1)


def render(snapshot: Status) -> str:
    """The screen: queues, dead letters by reason, components, then what has no consumer."""
    now = time.time()
    lines = [f"botwerk status: namespace {snapshot.namespace}, {_clock(now)}", ""]
    lines += _table(QUEUE_COLUMNS, [_queue(row) for row in snapshot.queues]) or ["no queues"]
    dead = [f"  {count:>6}  {reason}" for reason, count in snapshot.dead_letters.items()]
    lines += ["", "DEAD LETTERS BY REASON", *(dead or ["  none"]), ""]
    rows = [_component(c, now) for c in snapshot.components]
    lines += _table(COMPONENT_COLUMNS, rows) or ["no components up"]
    lines += [""] + [f"note: {note}" for note in snapshot.notes]
    for what in snapshot.unserved:
        kind, name = what.split(" ", 1)
        start = f"botwerk {'core' if kind == 'bot' else 'worker'} {name}"
        lines.append(f"NO CONSUMER: {what} is not served; start one with `{start}`")
    return "\n".join(lines).rstrip() + "\n"


def _queue(row: QueueRow) -> tuple[str, ...]:
    flag = "NO CONSUMER" if row.serves and not row.consumers else ""
    return (
        row.name, str(row.ready), str(row.unacked), str(row.consumers),
        f"{row.publish_rate:.1f}", f"{row.deliver_rate:.1f}", flag,
    )  # fmt: skip


def _component(c: Component, now: float) -> tuple[str, ...]:
    since = f"{_clock(c.since)} ({_ago(now - c.since)})" if c.since else "-"
    return c.role, c.name, c.host, str(c.pid), c.model or "-", since, " ".join(c.consumes) or "-"


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    if not rows:
        return []
    every = [header, *rows]
    widths = [max(len(r[i]) for r in every) for i in range(len(header))]
    return ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in every]


def _clock(at: float) -> str:
    return datetime.fromtimestamp(at).strftime("%Y-%m-%d %H:%M:%S")


def _ago(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit} ago"
    return f"{max(seconds, 0):.0f}s ago"
