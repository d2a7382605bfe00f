"""The comparison suite: the mesh against bare pika, Celery and Pyro5, in one interleaved run.

    pip install -e '.[bench]'       # Pyro5, matplotlib, psutil
    python bench/compare.py         # 1.5-4 minutes on a 2-core machine; --quick: under a minute

Seven contenders answer echo requests (bench/contenders.py says what each one is): the Botwerk
mesh's four hops, the bare pika chain transient, with the mesh's guarantees, and with those
guarantees routed through exchanges as the mesh routes, and three single hops (one Botwerk RPC,
Celery's ``apply_async().get()``, a Pyro5 call). Each is run at
1, 8, 32 and 64 requests in flight. Repetitions are interleaved (every contender at one
in-flight level, in an order that rotates, then the next level, then the next repetition), so
a noisy neighbour hits all of them alike. Around every run the CPU time of each process is
read (the client, each server, the broker's beam.smp, Redis for Celery) and so is the
machine's: what the other processes spent, and the load average, go into the table too.

Writes docs/performance.md's figures section and docs/img/perf-*.png (bench/report.py), and
prints the table. Needs RabbitMQ at BOTWERK_AMQP_URL and Redis at BOTWERK_RESULTS_URL.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from urllib.parse import urlparse

from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.chain import SPAWN, URL, require_broker
from bench.contenders import CONTENDERS, RESULTS, Contender, drive
from bench.report import Run, write

try:
    import psutil
except ImportError:  # pragma: no cover - the bench extra is missing
    sys.exit("bench/compare.py needs the bench extra: pip install -e '.[bench]'")

INFLIGHT = (1, 8, 32, 64)


@dataclass
class Running:
    """One contender's servers and driver, with the processes whose CPU is read."""

    contender: Contender
    pipe: Connection
    processes: dict[str, psutil.Process] = field(default_factory=dict)


def start(contender: Contender, stack: contextlib.ExitStack, tmp: Path) -> Running:
    servers, arg = contender.serve(stack, tmp)
    ours, theirs = SPAWN.Pipe()
    driver = SPAWN.Process(target=drive, args=(contender.client, arg, theirs), daemon=True)
    driver.start()
    stack.callback(driver.kill)
    if ours.recv() != "ready":
        raise RuntimeError(f"the {contender.label} client did not start")
    running = Running(contender, ours, {"client": psutil.Process(driver.pid)})
    running.processes |= {role: psutil.Process(pid) for role, pid in servers.items()}
    running.processes["broker"] = broker()
    if contender.key == "celery":
        running.processes["redis"] = named("redis-server", urlparse(RESULTS).port or 6379)
    return running


def named(name: str, port: int) -> psutil.Process:
    """The process called ``name`` listening on ``port``."""
    for proc in psutil.process_iter(["name"]):
        if proc.info["name"] == name:
            with contextlib.suppress(psutil.Error):
                if any(c.laddr.port == port for c in proc.net_connections("tcp")):
                    return proc
    sys.exit(f"no {name} process listens on port {port}: is it on this machine?")


def broker() -> psutil.Process:
    return named("beam.smp", urlparse(URL).port or 5672)


def cpu(processes: dict[str, psutil.Process]) -> dict[str, float]:
    times = {name: proc.cpu_times() for name, proc in processes.items()}
    return {name: t.user + t.system for name, t in times.items()}


def busy() -> float:
    """CPU seconds the whole machine spent on anything, so far."""
    t = psutil.cpu_times()
    return sum(t) - t.idle - getattr(t, "iowait", 0.0)


def measure(running: Running, inflight: int, count: int) -> Run:
    me = psutil.Process()
    before, machine, mine = cpu(running.processes), busy(), sum(me.cpu_times()[:2])
    running.pipe.send((inflight, count))
    latencies, wall = running.pipe.recv()
    after, spent = cpu(running.processes), busy() - machine
    per_process = {name: after[name] - before[name] for name in after}
    others = spent - sum(per_process.values()) - (sum(me.cpu_times()[:2]) - mine)
    return Run(
        contender=running.contender.key,
        inflight=inflight,
        latencies=latencies,
        wall=wall,
        cpu=per_process,
        others=max(others, 0.0) / wall,
        load=os.getloadavg()[0],
    )


def parser_keys() -> str:
    return ",".join(c.key for c in CONTENDERS)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one repetition, few requests")
    parser.add_argument("--repeat", type=int, default=5, help="interleaved repetitions")
    parser.add_argument("--only", help=f"contenders, comma-separated: {parser_keys()}")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent)
    args = parser.parse_args(argv)
    require_broker()
    repeat = 1 if args.quick else args.repeat
    counts = (
        {1: 50, 8: 200, 32: 200, 64: 200} if args.quick else {1: 200, 8: 1000, 32: 1000, 64: 1000}
    )
    keys = args.only.split(",") if args.only else [c.key for c in CONTENDERS]
    if unknown := set(keys) - {c.key for c in CONTENDERS}:
        parser.error(f"no contender {', '.join(sorted(unknown))}: choose among {parser_keys()}")
    chosen = [c for c in CONTENDERS if c.key in keys]
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"botwerk-compare-{os.getpid()}"
    tmp.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        started = [start(c, stack, tmp) for c in tqdm(chosen, desc="starting", leave=False)]
        runs = interleaved(started, repeat, counts)
        for running in started:
            running.pipe.send(None)
    write(runs, chosen, args.out, quick=args.quick)


def interleaved(started: list[Running], repeat: int, counts: dict[int, int]) -> list[Run]:
    """Every contender at one level, in a rotating order, then the next level, ``repeat`` times."""
    for running in started:  # warm-up: every connection a client opens, the queues
        measure(running, max(INFLIGHT), 200)
    runs: list[Run] = []
    total = repeat * len(started) * sum(counts.values())
    with tqdm(total=total, desc="requests", unit="req") as progress:
        for rep in range(repeat):
            for inflight in INFLIGHT:
                shift = (rep + inflight) % len(started)
                for running in started[shift:] + started[:shift]:
                    runs.append(measure(running, inflight, counts[inflight]))
                    progress.update(counts[inflight])
    return runs


if __name__ == "__main__":
    main()
