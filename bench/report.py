"""bench/compare.py's results: the table, the headline ratios and the plots.

:func:`write` replaces the part of ``docs/performance.md`` between the ``compare:begin`` and
``compare:end`` markers (the prose around it is written by hand) and draws
``docs/img/perf-latency.png``, ``perf-throughput.png`` and ``perf-cpu.png``. Latency
percentiles pool the requests of every repetition; throughput, CPU and the other processes'
load are the median over repetitions, with the throughput's range beside it.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BEGIN, END = "<!-- compare:begin -->", "<!-- compare:end -->"
ROLES = ("client", "core", "worker", "server", "broker", "redis")


@dataclass(frozen=True)
class Run:
    """One contender at one in-flight level, once."""

    contender: str
    inflight: int
    latencies: list[float]  # seconds, one per request
    wall: float  # seconds for all of them
    cpu: dict[str, float]  # CPU seconds by process: client, core, worker, broker...
    others: float  # cores the rest of the machine kept busy meanwhile
    load: float  # 1-minute load average at the end


@dataclass(frozen=True)
class Row:
    contender: str
    inflight: int
    p50: float  # ms
    p99: float  # ms
    rate: float  # req/s, median over repetitions
    low: float
    high: float
    cpu: dict[str, float]  # us per request by process
    others: float
    load: float


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def rows(runs: list[Run]) -> dict[tuple[str, int], Row]:
    found: dict[tuple[str, int], list[Run]] = {}
    for run in runs:
        found.setdefault((run.contender, run.inflight), []).append(run)
    return {key: _row(group) for key, group in found.items()}


def _row(group: list[Run]) -> Row:
    ms = [x * 1000 for run in group for x in run.latencies]
    rates = [len(run.latencies) / run.wall for run in group]
    cpu = {
        role: statistics.median(run.cpu[role] / len(run.latencies) * 1e6 for run in group)
        for role in group[0].cpu
    }
    return Row(
        group[0].contender, group[0].inflight, percentile(ms, 0.5), percentile(ms, 0.99),
        statistics.median(rates), min(rates), max(rates), cpu,
        statistics.median(run.others for run in group), max(run.load for run in group),
    )  # fmt: skip


def table(found: dict[tuple[str, int], Row], labels: dict[str, str]) -> str:
    lines = [
        "| contender | in flight | p50 ms | p99 ms | req/s (range) | CPU us/req: client "
        "| servers | broker | total | others busy |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    order = list(labels)
    for row in sorted(found.values(), key=lambda r: (order.index(r.contender), r.inflight)):
        servers = sum(v for k, v in row.cpu.items() if k not in ("client", "broker", "redis"))
        lines.append(
            f"| {labels[row.contender]} | {row.inflight} | {row.p50:.2f} | {row.p99:.2f} "
            f"| {row.rate:,.0f} ({row.low:,.0f}-{row.high:,.0f}) | {row.cpu['client']:,.0f} "
            f"| {servers:,.0f} | {row.cpu['broker']:,.0f} | {sum(row.cpu.values()):,.0f} "
            f"| {row.others:.2f} |"
        )
    return "\n".join(lines)


# (what, numerator, denominator, in flight, measure, target)
RATIOS = [
    ("mesh p50 / bare chain with the mesh's guarantees", "mesh", "guaranteed", 1, "p50", "<= 1.2"),
    ("mesh p50 / bare transient chain", "mesh", "bare", 1, "p50", ""),
    ("mesh req/s / bare transient chain, 32 in flight", "mesh", "bare", 32, "rate", ">= 0.8"),
    ("mesh req/s / bare chain with the mesh's guarantees", "mesh", "guaranteed", 32, "rate", ""),
    # The floor under the target above: the guarantees alone, with no Botwerk code at all.
    ("bare chain with the guarantees req/s / transient", "guaranteed", "bare", 32, "rate", ""),
    ("mesh req/s / bare chain with the guarantees", "mesh", "guaranteed", 64, "rate", ""),
    # The same floor with the broker routing every message through the mesh's exchanges.
    ("mesh p50 / bare chain with the guarantees and routing", "mesh", "routed", 1, "p50", ""),
    (
        "routed bare chain p50 / bare chain with the guarantees",
        "routed",
        "guaranteed",
        1,
        "p50",
        "",
    ),
    ("Botwerk RPC req/s / Celery, 32 in flight", "rpc", "celery", 32, "rate", ">= 3"),
    ("Botwerk RPC p50 / Celery p50", "rpc", "celery", 1, "p50", "< 1"),
    ("Botwerk RPC req/s / Pyro5, 32 in flight", "rpc", "pyro5", 32, "rate", ""),
    ("whole mesh req/s / one Celery hop, 32 in flight", "mesh", "celery", 32, "rate", ""),
]


def ratios(found: dict[tuple[str, int], Row], runs: list[Run]) -> str:
    """The headline ratios: of the pooled figures, and paired repetition by repetition."""
    lines = [
        "| ratio | at in flight | value | per repetition: median (range) | issue 16's target |",
        "|---|---|---|---|---|",
    ]
    for what, top, bottom, inflight, measure, target in RATIOS:
        if (top, inflight) in found and (bottom, inflight) in found:
            value = getattr(found[top, inflight], measure) / getattr(
                found[bottom, inflight], measure
            )
            each = paired(runs, top, bottom, inflight, measure)
            spread = f"{statistics.median(each):.2f}x ({min(each):.2f}-{max(each):.2f})"
            lines.append(f"| {what} | {inflight} | {value:.2f}x | {spread} | {target or '-'} |")
    return "\n".join(lines)


def paired(runs: list[Run], top: str, bottom: str, inflight: int, measure: str) -> list[float]:
    """``top``'s figure over ``bottom``'s in each repetition: the two ran minutes apart at most
    and seconds apart at best (interleaved), so a slow stretch of the machine that hits one
    repetition cancels out of its ratio instead of moving the pooled figure."""

    def figure(run: Run) -> float:
        if measure == "p50":
            return percentile(run.latencies, 0.5)
        return len(run.latencies) / run.wall

    tops = [r for r in runs if (r.contender, r.inflight) == (top, inflight)]
    bottoms = [r for r in runs if (r.contender, r.inflight) == (bottom, inflight)]
    return [figure(t) / figure(b) for t, b in zip(tops, bottoms, strict=True)]


def plots(found: dict[tuple[str, int], Row], labels: dict[str, str], img: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    img.mkdir(parents=True, exist_ok=True)
    keys = list(labels)
    levels = sorted({inflight for _, inflight in found})
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for n, key in enumerate(keys):
        mine = [found[key, i] for i in levels if (key, i) in found]
        x = [r.inflight for r in mine]
        ax.plot(x, [r.p50 for r in mine], "o-", color=f"C{n}", label=f"{labels[key]} p50")
        ax.plot(x, [r.p99 for r in mine], "x--", color=f"C{n}", alpha=0.6)
    _axes(ax, levels, "latency, ms (solid p50, dashed p99)", log_y=True)
    _save(fig, img / "perf-latency.png")
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for key in keys:
        mine = [found[key, i] for i in levels if (key, i) in found]
        ax.plot([r.inflight for r in mine], [r.rate for r in mine], "o-", label=labels[key])
    _axes(ax, levels, "requests per second", log_y=True)  # Pyro5 is ten times the others
    _save(fig, img / "perf-throughput.png")
    _cpu_plot(found, labels, levels, img / "perf-cpu.png", plt)


def _axes(ax: Any, levels: list[int], ylabel: str, *, log_y: bool) -> None:
    ax.set_xscale("log", base=2)
    ax.set_xticks(levels, [str(i) for i in levels])
    if log_y:
        ax.set_yscale("log")
    ax.set_xlabel("requests in flight")
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)


def _cpu_plot(
    found: dict[tuple[str, int], Row],
    labels: dict[str, str],
    levels: list[int],
    path: Path,
    plt: Any,
) -> None:
    fig, grid = plt.subplots(
        1, len(levels), figsize=(3.2 * len(levels), 4.5), sharey=True, squeeze=False
    )
    axes = list(grid[0])
    for ax, inflight in zip(axes, levels, strict=True):
        keys = [k for k in labels if (k, inflight) in found]
        bottom = [0.0] * len(keys)
        for n, role in enumerate(ROLES):
            heights = [found[k, inflight].cpu.get(role, 0.0) for k in keys]
            ax.bar(range(len(keys)), heights, bottom=bottom, color=f"C{n}", label=role)
            bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
        ax.set_xticks(
            range(len(keys)), [labels[k] for k in keys], rotation=60, ha="right", fontsize=7
        )
        ax.set_title(f"{inflight} in flight", fontsize=9)
    axes[0].set_ylabel("CPU us per request, by process")
    axes[-1].legend(fontsize=7)
    _save(fig, path)


def _save(fig: Any, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    fig.clear()


def write(runs: list[Run], contenders: list[Any], out: Path, *, quick: bool) -> None:
    """Print the table and ratios; put them, and the plots, under ``out/docs``."""
    labels = {c.key: c.label for c in contenders}
    found = rows(runs)
    loads = [run.load for run in runs]
    others = [run.others for run in runs]
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    reps = len(runs) // max(len(found), 1)
    block = (
        f"Run {when}{' (--quick)' if quick else ''}: {platform.node()}, {os.cpu_count()} CPUs, "
        f"{reps} interleaved repetitions. Load average (1 min) {min(loads):.2f}-{max(loads):.2f}; "
        f"other processes kept {statistics.median(others):.2f} cores busy (median, "
        f"most {max(others):.2f}) while it ran.\n\n{table(found, labels)}\n\n"
        f"{ratios(found, runs)}\n"
    )
    print(block)
    doc = out / "docs" / "performance.md"
    text = doc.read_text() if doc.exists() else f"{BEGIN}\n{END}\n"
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(f"{head}{BEGIN}\n{block}{END}{tail}")
    plots(found, labels, out / "docs" / "img")
