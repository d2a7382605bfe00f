"""The continuous-batching benchmark's parts run on the real sessions, as the workers serve them.

``parts`` times a short request's join and step through the models' own ``session`` (a chat
prompt encoded, a char-RNN prime read), alone and with the whole mixed load; if a session's
interface drifts, this fails before a benchmark run does. The figures are
docs/performance.md's business, not this test's: it checks what they are made of.
"""

from __future__ import annotations

import pytest
import torch

from bench.continuous_batching import LONG, SHORT, Parts, chat, parts, report_parts


def test_a_short_chat_requests_parts_are_timed_alone_and_with_the_whole_load(capsys):
    bench = chat(torch.device("cpu"))
    found = parts(bench, repeat=1)
    assert found.steps == 5  # a short reply's tokens: the load's short requests ask for 5
    assert min(found.join_one_ms, found.join_all_ms, found.step_one_ms, found.step_all_ms) > 0
    report_parts(bench, found)
    said = capsys.readouterr().out
    assert "median of 1:" in said and f"with all {LONG + SHORT}" in said
    assert f"should take {found.predicted:.2f}x" in said


def test_the_prediction_is_one_join_of_everyone_then_the_steps_at_full_width():
    found = Parts(join_one_ms=8, join_all_ms=28, step_one_ms=5, step_all_ms=8, steps=5, repeat=9)
    assert found.predicted == pytest.approx((28 + 5 * 8) / (8 + 5 * 5))
