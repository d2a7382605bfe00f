"""``botwerk dead``: the dead letters of a namespace, as a table, and what to do with them.

::

    botwerk dead list --reason expired          # ID, age, reason, queue, size, a preview
    botwerk dead show 3f9a1c...                 # one, every field
    botwerk dead replay 3f9a1c... 77b0e2...     # or: --reason expired
    botwerk dead purge --older-than 7d

Reading goes through the management API (BOTWERK_MANAGEMENT_URL), replay and purge over AMQP
(BOTWERK_AMQP_URL, as a user that may read ``{ns}.dead``); :mod:`botwerk.infra.dead` says why.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import click

from botwerk.infra import dead as letters
from botwerk.infra.bus import now_ms
from botwerk.infra.commands import friendly, load_settings
from botwerk.infra.settings import Settings
from botwerk.infra.topology import Names

COLUMNS = ("ID", "AGE", "REASON", "QUEUE", "SIZE", "PREVIEW")
REASON_WIDTH = 36


@click.group()
def dead() -> None:
    """Read, replay and purge the dead letters in {namespace}.dead."""


@dead.command("list")
@click.option("--reason", help="Only reasons that start with this (expired, schema error, ...).")
@click.option("--queue", help="Only those that died in this queue.")
@click.option("--limit", default=1000, show_default=True, help="Look at most at this many.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line, for scripts.")
@click.pass_obj
@friendly
def list_(
    obj: dict[str, Any], reason: str | None, queue: str | None, limit: int, as_json: bool
) -> None:
    """The dead letters, oldest first: id, age, reason, queue, size and a preview."""
    settings = _settings(obj)
    found = [d for d in letters.peek(settings, limit) if letters.matches(d, reason, queue)]
    if as_json:
        for letter in found:
            click.echo(json.dumps(letter.json()))
        return
    rows = [_row(letter) for letter in found]
    click.echo(table(COLUMNS, rows) if rows else f"no dead letters{_filters(reason, queue)}")


@dead.command()
@click.argument("message_id")
@click.option("--limit", default=10_000, show_default=True, help="Look at most at this many.")
@click.pass_obj
@friendly
def show(obj: dict[str, Any], message_id: str, limit: int) -> None:
    """Every field of the dead letter(s) with this message id."""
    settings = _settings(obj)
    found = [d for d in letters.peek(settings, limit) if d.id == message_id]
    if not found:
        raise click.ClickException(_no_such(settings, [message_id]))
    for letter in found:
        for key, value in letter.json().items():
            click.echo(f"{key:12} {value}")
        click.echo("")


@dead.command()
@click.argument("ids", nargs=-1, metavar="[ID]...")
@click.option("--reason", help="Replay every dead letter whose reason starts with this.")
@click.pass_obj
@friendly
def replay(obj: dict[str, Any], ids: tuple[str, ...], reason: str | None) -> None:
    """Publish dead letters again where they were first published: same message id, a fresh
    deadline (now + BOTWERK_DEADLINE_MS). Each leaves the dead queue once the broker has it."""
    settings = _settings(obj)
    if bool(ids) == bool(reason):
        raise click.UsageError("give the ids of the dead letters to replay, or --reason, not both")
    outcome = letters.replay(settings, ids, reason)
    click.echo(f"replayed {len(outcome.done)} dead letter(s)")
    for letter, why in outcome.kept:
        click.echo(f"kept {letter.id}: {why}", err=True)
    if outcome.missing:
        raise click.ClickException(_no_such(settings, outcome.missing))


@dead.command()
@click.option("--older-than", "age", required=True, help="An age: 30m, 2h, 7d.")
@click.pass_obj
@friendly
def purge(obj: dict[str, Any], age: str) -> None:
    """Delete the dead letters that died longer ago than this."""
    settings = _settings(obj)
    outcome = letters.purge(settings, letters.parse_age(age))
    click.echo(f"purged {len(outcome.done)} dead letter(s) older than {age}")


def table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell; the last one is left ragged.

    Our own: a dozen lines, where a table library would be a dependency for one command."""
    widths = [max(len(str(row[i])) for row in [columns, *rows]) for i in range(len(columns))]
    lines = [
        "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [columns, *rows]
    ]
    return "\n".join(lines)


def _row(letter: letters.DeadLetter) -> tuple[str, ...]:
    reason = letter.reason.replace("\n", " ")
    if len(reason) > REASON_WIDTH:
        reason = reason[: REASON_WIDTH - 1] + "…"
    return (letter.id, _age(letter.dead_at_ms), reason, letter.queue, str(letter.size),
            letter.preview)  # fmt: skip


def _age(dead_at_ms: int | None) -> str:
    if dead_at_ms is None:
        return "-"
    seconds = max(now_ms() - dead_at_ms, 0) // 1000
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _filters(reason: str | None, queue: str | None) -> str:
    said = [f"reason {reason!r}" if reason else "", f"queue {queue}" if queue else ""]
    return f" with {' and '.join(s for s in said if s)}" if any(said) else ""


def _no_such(settings: Settings, ids: Sequence[str]) -> str:
    return (
        f"no dead letter with id {', '.join(ids)} in {Names(settings.namespace).dead}; "
        "`botwerk dead list` shows the ids there are"
    )


def _settings(obj: dict[str, Any]) -> Settings:
    return load_settings(obj, "dead", default_level="WARNING")
