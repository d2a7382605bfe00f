"""docs/scaling.md's worked rows follow from its own inputs: recomputed here with the formulas
the page gives, so an edit to a cost, an assumption or a row that breaks the arithmetic fails.
No broker: it reads the page only."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

DOC = (Path(__file__).resolve().parent.parent / "docs" / "scaling.md").read_text()
LOADS = ("100", "1,000", "10,000")
MODELS = ("echo", "word2vec", "charrnn", "chat")
BENCH = {"quorum, persistent": "q", "classic durable, persistent": "c",
         "classic durable, transient": "t"}  # fmt: skip


def table(first: str) -> list[dict[str, str]]:
    """The rows of the table whose header starts with ``| first |``, by column name."""
    lines = DOC.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first} |"))
    header = cells(lines[start])
    rows = []
    for line in lines[start + 2 :]:  # after the header and its |---| line
        if not line.startswith("| "):
            break
        rows.append(dict(zip(header, cells(line), strict=True)))
    return rows


def cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def number(text: str) -> float:
    return float(text.split()[0].replace(",", ""))


def ceil(x: float) -> int:
    return math.ceil(x - 1e-9)  # 2.0000000001 from float arithmetic is 2


INPUTS = {row["input"].strip("`"): number(row["value"]) for row in table("input")}


def test_the_worked_rows_are_there():
    assert [row["msg/s"] for row in table("msg/s")] == list(LOADS)


@pytest.mark.parametrize("row", table("msg/s"), ids=lambda row: row["msg/s"])
def test_a_worked_row_follows_from_the_inputs(row):
    get = INPUTS
    load = number(row["msg/s"])
    basis = {"1 in flight": "1", "32 in flight": "32"}[row["basis"]]
    q, c, t, k = (get[f"{name}{basis}"] for name in "qctk")
    per_request = k * (2 * get["R"] * q + c + t)
    assert number(row["broker us/request"]) == round(per_request)
    cores = load * per_request / 1e6 / get["U"]
    assert row["broker cores"] == f"{cores:.1f}"
    assert number(row["broker nodes"]) == max(get["R"], ceil(cores / get["K"]))
    assert number(row["cores per bot"]) == ceil(load * get["s"] * get["core"] / 1e6 / get["U"])
    for model in MODELS:
        needed = ceil(load * get["s"] / (get[f"T_{model}"] * get["U"]))
        assert number(row[f"{model} workers"]) == needed, model


@pytest.mark.parametrize("basis", ["1", "32"])
def test_the_cross_check_factors_follow_from_the_legs(basis):
    """``k`` is the whole chain's measured cost over the legs' sum, as its row says."""
    (row,) = [r for r in table("input") if r["input"] == f"`k{basis}`"]
    chain, legs = (number(x) for x in re.findall(r"([\d,]+) / ([\d,]+)", row["what"])[0])
    assert legs == 2 * INPUTS[f"q{basis}"] + INPUTS[f"c{basis}"] + INPUTS[f"t{basis}"]
    assert INPUTS[f"k{basis}"] == round(chain / legs, 2)


def test_the_broker_costs_are_the_measured_medians():
    """The inputs ``q1`` ... ``t32`` are the medians of bench/broker_cost.py's table."""
    for row in table("queue, as the mesh uses it"):
        name = BENCH[row["queue, as the mesh uses it"]] + row["in flight"]
        assert INPUTS[name] == number(row["broker CPU us/msg (range)"]), name
