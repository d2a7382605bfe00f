"""The comparison suite runs end to end: its smallest run writes the table, ratios and plots.

Only the bare transient chain, ``--quick``: the real driver processes, CPU readings, report and
matplotlib, in a few seconds. The figures themselves are docs/performance.md's business.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [pytest.mark.broker, pytest.mark.slow]


def quick_run(amqp_url: str, out: Path, only: str) -> str:
    """``bench/compare.py --quick --only ONLY`` into ``out``; the performance.md it wrote."""
    command = [sys.executable, "bench/compare.py", "--quick", "--only", only, "--out", str(out)]
    env = {"BOTWERK_AMQP_URL": amqp_url, "PATH": "/usr/bin:/bin"}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return (out / "docs" / "performance.md").read_text()


def rows_of(text: str, label: str) -> list[str]:
    """The in-flight levels of ``label``'s rows in the table."""
    rows = [line for line in text.splitlines() if line.startswith(f"| {label} |")]
    return [row.split(" | ")[1] for row in rows]


def test_the_quick_run_writes_the_table_and_the_plots(amqp_url, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "performance.md").write_text(
        "prose\n<!-- compare:begin -->\nold\n<!-- compare:end -->\nend\n"
    )
    text = quick_run(amqp_url, tmp_path, "bare")
    assert text.startswith("prose\n<!-- compare:begin -->\nRun ") and text.endswith("end\n")
    assert "old" not in text
    assert rows_of(text, "bare pika, transient") == ["1", "8", "32", "64"]
    for name in ("latency", "throughput", "cpu"):
        assert (docs / "img" / f"perf-{name}.png").read_bytes().startswith(b"\x89PNG")


def test_the_routed_chain_goes_through_exchanges_of_the_mesh_s_kinds(amqp_url, tmp_path):
    """The routed floor publishes to exchanges, never to a queue by name, and answers (its
    inbound routing key, ``demo.bench``, names no queue: only the exchange takes it there)."""
    from bench.guaranteed import EXCHANGES, route

    assert route("ns", False, "infer", "ns.worker") == ("", "ns.worker")
    assert route("ns", True, "inbound", "ns.core") == ("ns.x.inbound", "demo.bench")
    assert route("ns", True, "infer", "ns.worker") == ("ns.x.infer", "echo")
    assert route("ns", True, "replies", "ns.client") == ("ns.x.replies", "ns.client")
    assert EXCHANGES == {"inbound": "topic", "infer": "direct", "replies": "topic"}
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "performance.md").write_text(
        "<!-- compare:begin -->\n<!-- compare:end -->\n"
    )
    text = quick_run(amqp_url, tmp_path, "routed")
    assert rows_of(text, "bare pika, mesh guarantees and routing") == ["1", "8", "32", "64"]


def test_ratios_are_also_paired_repetition_by_repetition():
    """A slow repetition that hits both contenders cancels out of the paired ratio."""
    from bench.report import Run, paired, ratios, rows

    def run(contender: str, ms: float) -> Run:
        cpu = {"client": 0.0, "broker": 0.0}
        return Run(contender, 1, [ms / 1000] * 3, 0.03, cpu, others=0.0, load=0.0)

    runs = [run("mesh", 2), run("guaranteed", 1), run("mesh", 4), run("guaranteed", 4)]
    assert paired(runs, "mesh", "guaranteed", 1, "p50") == [2.0, 1.0]
    line = next(
        row for row in ratios(rows(runs), runs).splitlines() if row.startswith("| mesh p50 / bare")
    )
    assert line.split(" | ")[2:4] == ["1.00x", "1.50x (1.00-2.00)"]  # pooled, then paired
