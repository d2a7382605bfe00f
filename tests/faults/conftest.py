"""Fixtures of the fault suite (the node, ledger and sabotages come from the botwerk plugin)."""

from __future__ import annotations

import itertools

import pytest

from tests.support.faults import FaultMesh

_meshes = itertools.count()


@pytest.fixture
def make_mesh(fault_node, settings, tmp_path):
    """``make_mesh(deadline_ms=..., url=..., env=...)``: a FaultMesh to use with ``async with``."""

    def make(*, deadline_ms: int = 120_000, url: str | None = None, env: dict | None = None):
        patient = settings.model_copy(update={"deadline_ms": deadline_ms})
        work_dir = tmp_path / f"mesh{next(_meshes)}"
        work_dir.mkdir()
        return FaultMesh(fault_node, patient, work_dir, url=url, env=env)

    return make
