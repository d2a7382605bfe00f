"""The Prometheus and Grafana files under ``infra/``, checked against what really serves metrics.

The Grafana board is only worth shipping if every query names a metric that exists: a renamed
metric leaves a panel empty with no error anywhere. So each PromQL expression of the board is
taken apart, and every metric name it uses must be one that Botwerk's registry
(:mod:`botwerk.infra.metrics`) or the local broker's ``rabbitmq_prometheus`` plugin serves (its
``/metrics`` and ``/metrics/per-object``). The scrape config must pass ``promtool check config``.
That Prometheus really scrapes roles with it is ``test_prometheus.py``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from prometheus_client import generate_latest

from botwerk.infra.metrics import REGISTRY

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "infra/prometheus/prometheus.yml"
BOARD = ROOT / "infra/grafana/dashboards/botwerk.json"
RABBITMQ_METRICS_PORT = 15692
PROMETHEUS_OWN = {"up"}  # series Prometheus makes for every target it scrapes

# PromQL taken apart with regular expressions rather than a parser: no PromQL parser is
# packaged for Python, and the board's expressions use a small part of the language.
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGES = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_NAME = re.compile(r"(?<![\w.$:])[a-zA-Z_:][\w:]*(?![\w:]|\s*\()")
_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset",
             "and", "or", "unless", "inf", "nan"}  # fmt: skip
_LABEL_VALUES = re.compile(r"label_values\((?P<selector>.+),\s*\w+\)")
_SUFFIXES = {"histogram": ("_bucket", "_count", "_sum", "_created"),
             "summary": ("", "_count", "_sum", "_created"),
             "counter": ("", "_created")}  # fmt: skip


def metric_names(expr: str) -> set[str]:
    """The metric names ``expr`` selects (not its functions, labels or keywords)."""
    for pattern in (_STRINGS, _MATCHERS, _RANGES, _GROUPING):
        expr = pattern.sub(" ", expr)
    return {name for name in _NAME.findall(expr) if name.lower() not in _KEYWORDS}


def exposed(text: str) -> set[str]:
    """Every series name a Prometheus text exposition can hold, including the names of families
    that have no sample yet (a labelled metric nobody has counted: only its ``# TYPE`` line)."""
    names = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(maxsplit=3)
            names |= {name + suffix for suffix in _SUFFIXES.get(kind, ("",))}
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names


def board() -> dict[str, Any]:
    return json.loads(BOARD.read_text())


def panels(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, those inside rows too."""
    for panel in node.get("panels", []):
        yield panel
        yield from panels(panel)


def queries(dashboard: dict[str, Any]) -> dict[str, str]:
    """Each PromQL expression of the board (panels and variables), by where it is."""
    found = {
        f"{panel['title']} {target['refId']}": target["expr"]
        for panel in panels(dashboard)
        for target in panel.get("targets", [])
    }
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":  # Grafana's label_values(SELECTOR, LABEL): a selector
            selector = _LABEL_VALUES.fullmatch(variable["query"]["query"])
            assert selector, f"${variable['name']}: not label_values(SELECTOR, LABEL)"
            found[f"${variable['name']}"] = selector["selector"]
    return found


def scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as answer:
        text: str = answer.read().decode()
    return text


def need(program: str) -> str:
    """The path of ``program``; the test fails (or, without a required broker, skips) if none."""
    found = shutil.which(program)
    if found is None:
        message = f"no {program}: install Debian's prometheus package"
        if os.environ.get("BOTWERK_REQUIRE_BROKER") == "1":
            pytest.fail(message + " (BOTWERK_REQUIRE_BROKER=1: servers may not be missing)")
        pytest.skip(message)
    return found


@pytest.fixture(scope="module")
def rabbitmq_names(amqp_url: str) -> set[str]:
    """What the local broker's rabbitmq_prometheus plugin serves, on both endpoints."""
    base = f"http://{urlsplit(amqp_url).hostname}:{RABBITMQ_METRICS_PORT}"
    return exposed(scrape(f"{base}/metrics")) | exposed(scrape(f"{base}/metrics/per-object"))


def test_the_extraction_finds_metrics_and_nothing_else():
    expr = (
        'histogram_quantile(0.99, sum by (stage, le) (rate(a_bucket{stage="x{y}"}'
        "[$__rate_interval])) / on (job) group_left (le) b offset 5m)"
        ' or max without (q) (c:rule{l=~"d(e)"}) > bool 1e3'
    )
    assert metric_names(expr) == {"a_bucket", "b", "c:rule"}


def test_the_board_is_a_grafana_dashboard_on_its_data_source_variable():
    dashboard = board()
    assert dashboard["uid"] == "botwerk" and dashboard["schemaVersion"] >= 36
    ids = [panel["id"] for panel in panels(dashboard)]
    assert len(ids) == len(set(ids)), "two panels share an id"
    for panel in panels(dashboard):
        box = panel["gridPos"]
        assert box["x"] + box["w"] <= 24, f"{panel['title']}: wider than the board"
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            assert panel["targets"], f"{panel['title']}: no query"


def test_the_board_shows_what_an_operator_watches():
    used = set().union(*map(metric_names, queries(board()).values()))
    assert {"rabbitmq_queue_messages_ready", "rabbitmq_queue_messages_unacked",
            "rabbitmq_queue_messages_published_total", "rabbitmq_queue_consumers",
            "botwerk_stage_seconds_bucket", "botwerk_batch_size_bucket",
            "botwerk_messages_total", "botwerk_dead_letters_total", "botwerk_reconnects_total",
            "botwerk_in_flight", "botwerk_ready"} <= used  # fmt: skip


@pytest.mark.broker
def test_every_query_of_the_board_names_a_metric_that_exists(rabbitmq_names):
    botwerk = exposed(generate_latest(REGISTRY).decode())
    known = botwerk | rabbitmq_names | PROMETHEUS_OWN
    unknown = {
        where: sorted(metric_names(expr) - known) for where, expr in queries(board()).items()
    }
    assert not {where: names for where, names in unknown.items() if names}


def test_promtool_accepts_the_scrape_config():
    done = subprocess.run(
        [need("promtool"), "check", "config", str(CONFIG)],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
