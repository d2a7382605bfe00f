"""docs/security.md stays true: its table of what each role may do is what the broker
definitions (infra/rabbitmq/definitions.json) allow, read the way RabbitMQ reads them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from botwerk.infra import brokeradmin

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "security.md").read_text()
NAMESPACE = "botwerk"
DEFINITIONS = brokeradmin.render(NAMESPACE, ["web", "console"])
COLUMNS = {
    "transport web": "transport-web",
    "core": "core",
    "worker": "worker",
    "trainer": "trainer",
    "scheduler": "scheduler",
    "operator": "operator",
}
# Celery's training and scheduled exchanges are the trainer's and the scheduler's own;
# amq.default is the default exchange.
TOPIC = {e["name"] for e in DEFINITIONS["exchanges"] if e["type"] == "topic"}
TOPIC |= {f"{NAMESPACE}.training", f"{NAMESPACE}.scheduled"}


def table() -> tuple[list[str], list[list[str]]]:
    """The header and rows of the table whose first column is "operation"."""
    lines = DOC.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| operation |"))
    rows = []
    for line in lines[start + 2 :]:  # after the header and its |---| line
        if not line.startswith("| "):
            break
        rows.append(cells(line))
    return cells(lines[start]), rows


def cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def permission(user: str, kind: str, resource: str) -> bool:
    """RabbitMQ's check: the user's regex for ``kind`` found in the resource's name."""
    (entry,) = [p for p in DEFINITIONS["permissions"] if p["user"] == user]
    return re.search(entry[kind], resource) is not None


def topic_permission(user: str, kind: str, exchange: str, key: str) -> bool:
    """A topic exchange's key check; no topic permission on the exchange allows any key."""
    if exchange not in TOPIC:
        return True
    found = [
        t
        for t in DEFINITIONS["topic_permissions"]
        if t["user"] == user and t["exchange"] == exchange
    ]
    return all(re.search(t[kind], key) for t in found)


def allowed(user: str, operation: str) -> bool:
    """Whether ``user`` may do ``operation``, written as in the doc's table."""
    names = re.findall(r"`([^`]+)`", operation)
    verb = operation.split()[0]
    if verb in ("declare", "delete"):  # queue.declare, exchange.declare, ...delete: configure
        return permission(user, "configure", names[0])
    if verb == "consume":
        return permission(user, "read", names[0])
    if verb == "bind":  # queue.bind: write on the queue, read on the exchange, then the key
        queue, exchange, key = names
        return (
            permission(user, "write", queue)
            and permission(user, "read", exchange)
            and topic_permission(user, "read", exchange, key)
        )
    if verb == "publish":
        exchange, key = names
        return permission(user, "write", exchange) and topic_permission(
            user, "write", exchange, key
        )
    raise AssertionError(f"docs/security.md: cannot read the operation {operation!r}")


def user_of(column: str) -> str:
    return brokeradmin.roles(DEFINITIONS, NAMESPACE)[COLUMNS[column]]


HEADER, ROWS = table()


def test_the_table_has_a_column_for_every_role_the_setup_creates():
    assert HEADER[1:] == list(COLUMNS)
    roles = set(brokeradmin.roles(DEFINITIONS, NAMESPACE))
    assert roles == set(COLUMNS.values()) | {"transport-console"}
    assert len(ROWS) >= 20


@pytest.mark.parametrize("row", ROWS, ids=[row[0] for row in ROWS])
def test_each_cell_of_the_table_is_what_the_definitions_allow(row: list[str]):
    operation, marks = row[0], row[1:]
    expected = dict(zip(HEADER[1:], marks, strict=True))
    actual = {
        column: "yes" if allowed(user_of(column), operation) else "no" for column in HEADER[1:]
    }
    assert actual == expected, f"docs/security.md: {operation}"


def test_the_forbidden_operations_of_the_issue_are_in_the_table():
    refused = {row[0] for row in ROWS if set(row[1:]) == {"no"}}
    assert "bind `botwerk.reply.transport.web-a1` to `botwerk.inbound` key `#`" in refused
    assert "publish to `amq.default` key `botwerk.reply.transport.web-a1`" in refused
    assert "consume `botwerk.reply.transport.console-b2`" in refused


def test_the_files_the_doc_links_exist():
    for link in re.findall(r"\]\((\.\./[^)#]+)\)", DOC):
        assert (ROOT / "docs" / link).resolve().exists(), link
