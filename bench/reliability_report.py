"""Write the fault suite's figures into docs/reliability.md.

    make faults          # runs tests/faults, then this script
    python bench/reliability_report.py [artifacts/reliability.json] [docs/reliability.md]

Reads the figures the last run recorded (the ``reliability`` fixture) and replaces the table
between the ``figures`` markers in the document; the prose around it is left alone.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

START, END = "<!-- figures:start -->", "<!-- figures:end -->"
CLUSTER_START, CLUSTER_END = "<!-- cluster-figures:start -->", "<!-- cluster-figures:end -->"

ROWS: list[tuple[str, str, str]] = [
    (
        "worker_kill",
        "worker kill -9 every 2.5 s during 5,000 requests, restarted each time",
        "early ack",
    ),
    ("core_kill", "core kill -9 every 2.5 s during 3,000 requests", "early ack"),
    (
        "broker_kill",
        "broker kill -9 mid-publish (200 req/s), then restart",
        "transient queues, no confirms",
    ),
    ("broker_pause", "broker paused (SIGSTOP) 60 s under 10 req/s", ""),
    ("blackhole", "connections blackholed 35 s (bytes dropped, sockets open)", "heartbeats off"),
    (
        "closed_and_deleted",
        "all connections closed by the broker; work queues deleted",
        "no reconnect",
    ),
    (
        "consumer_timeout",
        "a delivery outlasts the broker's 20 s consumer_timeout",
        "no consumer restart",
    ),
    ("long_inference", "inference 7 s on a 2 s heartbeat", "inference on the event loop"),
    (
        "poison",
        "a message that kills its worker on every delivery, 1,000 others flowing",
        "",  # two controls, named in the cell
    ),
    ("fuzz", "1,000 hypothesis-fuzzed bodies into each of 4 queues", "crash on bad input"),
    (
        "deadline",
        "50 requests whose 3 s deadline passes while no worker is up",
        "deadlines ignored",
    ),
    ("burst", "1,000 requests at once into a core queue bounded at 100", "drop oldest when full"),
    (
        "memory_alarm",
        "memory alarm on the broker for 30 s under 20 req/s",
        "no confirms, give up when blocked",
    ),
    (
        "hostile_deadline",
        "5 inbound deadlines eleven years ahead among 300 good requests",
        "no deadline bound, no TTL guard, a refused publish drops the connection",
    ),
    (
        "worker_frozen",
        "one of two workers frozen (SIGSTOP) 14 s on a 2 s heartbeat, then resumed",
        "a dead channel's deliveries finished and dead-lettered",
    ),
    (
        "lone_worker_away",
        "a model's only worker frozen 22 s (as long as a cluster failover keeps one away) "
        "under 5 req/s",
        "the old 10 s no-worker grace",
    ),
]


# The three-node cluster's rows (tests/faults/test_cluster.py), in their own table.
CLUSTER_ROWS: list[tuple[str, str, str]] = [
    (
        "cluster_leader_kill",
        "kill -9 the node leading the core and model queues (and holding the core's and the "
        "transport's connections) under 50 req/s, a backlog waiting; the node stays down",
        "unreplicated (classic) queues",
    ),
    (
        "cluster_freeze",
        "freeze (SIGSTOP) that node 20 s under 50 req/s, then resume",
        "roles that never reconnect",
    ),
    (
        "cluster_rolling_restart",
        "rolling restart of all three nodes under 50 req/s, each drained "
        "(`rabbitmq-upgrade drain`), stopped, started and revived in turn",
        "transient queues, no confirms, no asking again after a move",
    ),
    (
        "cluster_disk_alarm",
        "a disk alarm on one node for 10 s under 50 req/s",
        "no confirms, give up when blocked",
    ),
]


def cluster_measured(key: str, row: dict[str, Any]) -> str:
    get = row.get
    ledger = f"{get('sent')} sent, {get('answered')} answered ({fmt(get('errors')) or 'no errors'}), lost {get('lost')}, unserved {get('unserved')}, duplicates {get('duplicates')}, computed twice {get('duplicate_work')}"
    service = (
        f"longest gap without answers {get('gap_s')} s; reconnected {fmt(get('reconnected_s'))}"
    )
    answering = get("answering_after_leader_s")
    leaders = (
        f"new leaders in {get('leader_moved_s')} s, "
        + (f"users answered again {answering} s after, " if answering is not None else "")
        + f"a new user answered {get('served_after_leader_s')} s after"
    )
    return {
        "cluster_leader_kill": f"{leaders}; {service}; {ledger}",
        "cluster_freeze": f"{leaders}; {service}; healed by hand: "
        f"{get('healed_by_hand')}, whole again {get('whole_again_s')} s after resume; {ledger}",
        "cluster_rolling_restart": f"each node down {get('node_downtimes_s')} s; reply queues moved "
        f"{get('reply_queue_moves')} times; {service}; {ledger}",
        "cluster_disk_alarm": f"{service}; {ledger}",
    }[key]


def cluster_negative(key: str, row: dict[str, Any]) -> str:
    lost, unserved = row.get("negative_lost"), row.get("negative_unserved")
    if lost is None:
        return "-"
    return f"lost {lost}" if unserved is None else f"lost {lost}, unserved {unserved}"


def measured(key: str, row: dict[str, Any]) -> str:
    get = row.get
    ledger = f"{get('sent', '?')} sent, {get('answered', '?')} answered, lost {get('lost', '?')}, unserved {get('unserved', '?')}, duplicates {get('duplicates', '?')}"
    extra = {
        "worker_kill": f"{get('kills')} kills; {ledger}; {get('duplicate_work')} computed twice, "
        f"{get('duplicate_replies_dropped')} duplicate replies dropped",
        "core_kill": f"{get('kills')} kills; {ledger}; model loads {get('model_loads')}",
        "broker_kill": f"{ledger}; broker back in {get('broker_boot_s')} s, first reply "
        f"{get('first_reply_after_ready_s')} s after it",
        "broker_pause": f"noticed in {fmt(get('noticed_s'))} s; back {get('service_back_s')} s after resume; "
        f"slowest reply {get('slowest_reply_s')} s; {ledger}",
        "blackhole": f"noticed in {fmt(get('noticed_s'))} s; back {get('service_back_s')} s after healing; "
        f"slowest reply {get('slowest_reply_s')} s; {ledger}",
        "closed_and_deleted": f"answering again {get('back_after_close_s')} s after the close, "
        f"{get('back_after_delete_s')} s after the delete; {ledger}; refused {get('refused')}",
        "consumer_timeout": f"noticed {get('noticed_s')} s after the timeout; {get('served_after')}/100 "
        f"later requests served; {ledger}",
        "long_inference": f"connections dropped {get('connections_dropped')}; computed "
        f"{get('times_computed')} time(s)",
        "poison": f"worker died {get('worker_deaths')} times, then dead-lettered ({get('poison_reason')}); "
        f"innocents dead-lettered {get('innocent_dead_lettered')}; {ledger}",
        "fuzz": f"{get('dead_lettered')}/{get('bodies')} dead-lettered, {get('with_reason')} with a "
        f"reason; processes alive {get('processes_alive')}; {get('good_answered')}/300 good answered",
        "deadline": f"took too long {get('took_too_long')}/{get('expired')}; processed after expiry "
        f"{get('processed_after_expiry')}; dead-lettered {get('dead_lettered')}; lost {get('lost')}",
        "burst": f"busy {get('busy')}, answered {get('answered')}, lost {get('lost')}",
        "memory_alarm": f"{ledger}; slowest reply {get('slowest_reply_s')} s",
        "hostile_deadline": f"core reconnects {get('core_reconnects')}; {ledger}",
        "worker_frozen": f"answered requests dead-lettered {get('dead_letters_of_answered')}; "
        f"{get('dropped_on_resume')} drop(s) logged on resume; {ledger}",
        "lone_worker_away": f"counted out by the broker after {get('dropped_after_s')} s; "
        f"errors {fmt(get('errors')) or 'none'}; {ledger}",
    }
    return extra[key]


def negative(key: str, row: dict[str, Any]) -> str:
    get = row.get
    return {
        "worker_kill": f"unserved {get('negative_unserved')}",
        "core_kill": f"lost {get('negative_lost')}",
        "broker_kill": f"lost {get('negative_lost')}",
        "broker_pause": "see the blackhole row: the same protection (heartbeats) switched off",
        "blackhole": f"noticed: {fmt(get('negative_noticed_s'))}",
        "closed_and_deleted": f"lost {get('negative_lost')}",
        "consumer_timeout": f"{get('negative_served_after')}/100 served",
        "long_inference": f"connections dropped {get('negative_drops')}, computed {get('negative_computed')} time(s)",
        "poison": f"no DLX: poison unserved and gone ({get('negative_no_dlx_unserved')}); no probation: "
        f"{get('negative_no_probation_innocents')} innocents dead-lettered",
        "fuzz": f"{get('negative_processes_died')}/2 processes died",
        "deadline": f"processed after expiry {get('negative_processed_after_expiry')}",
        "burst": f"lost {get('negative_lost')}, busy {get('negative_busy')}",
        "memory_alarm": f"lost {get('negative_lost')}",
        "hostile_deadline": f"core reconnects {get('negative_reconnects')}, answered "
        f"{get('negative_answered')}/300",
        "worker_frozen": "answered requests dead-lettered "
        f"{get('negative_dead_letters_of_answered')}",
        "lone_worker_away": f"told 'not running' {get('negative_not_running')}",
    }[key]


def fmt(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {'never' if v is None else v}" for k, v in sorted(value.items()))
    return str(value)


def table(
    run: dict[str, Any], rows: list[tuple[str, str, str]] = ROWS,
    measure: Any = measured, control_of: Any = negative,
) -> str:  # fmt: skip
    lines = [
        f"Last run: {run['finished']}.",
        "",
        "| fault | measured | negative control (sabotage: what the checker caught) |",
        "|---|---|---|",
    ]
    for key, fault, sabotage in rows:
        row = run["rows"].get(key)
        if row is None:
            lines.append(f"| {fault} | not run | - |")
            continue
        control = f"{sabotage}: {control_of(key, row)}" if sabotage else control_of(key, row)
        lines.append(f"| {fault} | {measure(key, row)} | {control} |")
    return "\n".join(lines)


def replace_between(text: str, start: str, end: str, table_text: str) -> str:
    before, _, rest = text.partition(start)
    _, _, after = rest.partition(end)
    return f"{before}{start}\n{table_text}\n{end}{after}"


def main() -> None:
    """Each table is rewritten only when the run has rows of it: a run of the cluster rows
    alone (``pytest tests/faults/test_cluster.py``) leaves the single-node table as it was."""
    source = Path(sys.argv[1] if len(sys.argv) > 1 else "artifacts/reliability.json")
    target = Path(sys.argv[2] if len(sys.argv) > 2 else "docs/reliability.md")
    run = json.loads(source.read_text())
    text = target.read_text()
    if any(key in run["rows"] for key, _, _ in ROWS):
        text = replace_between(text, START, END, table(run))
    if any(key in run["rows"] for key, _, _ in CLUSTER_ROWS):
        cluster = table(run, CLUSTER_ROWS, cluster_measured, cluster_negative)
        text = replace_between(text, CLUSTER_START, CLUSTER_END, cluster)
    target.write_text(text)
    print(f"wrote the figures of {source} ({run['finished']}) into {target}")


if __name__ == "__main__":
    main()
