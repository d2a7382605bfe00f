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
]


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
    }[key]


def fmt(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {'never' if v is None else v}" for k, v in sorted(value.items()))
    return str(value)


def table(run: dict[str, Any]) -> str:
    lines = [
        f"Last run: {run['finished']}.",
        "",
        "| fault | measured | negative control (sabotage: what the checker caught) |",
        "|---|---|---|",
    ]
    for key, fault, sabotage in ROWS:
        row = run["rows"].get(key)
        if row is None:
            lines.append(f"| {fault} | not run | - |")
            continue
        control = f"{sabotage}: {negative(key, row)}" if sabotage else negative(key, row)
        lines.append(f"| {fault} | {measured(key, row)} | {control} |")
    return "\n".join(lines)


def main() -> None:
    source = Path(sys.argv[1] if len(sys.argv) > 1 else "artifacts/reliability.json")
    target = Path(sys.argv[2] if len(sys.argv) > 2 else "docs/reliability.md")
    run = json.loads(source.read_text())
    text = target.read_text()
    before, _, rest = text.partition(START)
    _, _, after = rest.partition(END)
    target.write_text(f"{before}{START}\n{table(run)}\n{END}{after}")
    print(f"wrote the figures of {source} ({run['finished']}) into {target}")


if __name__ == "__main__":
    main()
