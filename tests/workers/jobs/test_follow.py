"""``botwerk jobs follow`` draws the figures a trainer reported, and ends with the outcome."""

from __future__ import annotations

import click
import pytest

from botwerk.workers.jobs.client import JobView
from botwerk.workers.jobs.commands import _Drawing, _end

PROGRESS = {
    "epoch": 2, "epochs": 5, "step": 31, "loss": 1.9213, "validation": {"val": 2.0123},
    "done": 6000, "total": 15000, "unit": "tok", "per_s": 2048.0, "eta_s": 75.0,
}  # fmt: skip


def test_the_bar_shows_epoch_loss_validation_rate_and_eta(capsys):
    drawing = _Drawing()
    drawing.show(JobView("j1", "PENDING"))
    drawing.show(JobView("j1", "PROGRESS", {"name": "bard"}, progress=PROGRESS))
    drawing.close()
    shown = capsys.readouterr().err
    assert "job j1: PENDING (waiting for a trainer: `botwerk trainer`)" in shown
    assert "bard:  40%" in shown and "6.00k/15.0k" in shown
    for figure in ("epoch=2/5", "step=31", "loss=1.921", "val=2.012", "tok/s=2,048", "eta=01:15"):
        assert figure in shown, figure


def test_the_end_names_the_model_or_says_what_went_wrong(capsys):
    _end(JobView("j1", "SUCCESS", result={"model": "bard@2"}))
    assert capsys.readouterr().out == "published bard@2\n"
    with pytest.raises(click.ClickException, match="cancelled: nothing published"):
        _end(JobView("j1", "REVOKED", error="TaskRevokedError: cancelled"))
    with pytest.raises(click.ClickException, match="FAILURE: JobDeadLettered: dead-lettered"):
        _end(JobView("j1", "FAILURE", error="JobDeadLettered: dead-lettered by the broker"))
