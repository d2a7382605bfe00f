"""Fixtures of the fault suite (the node, ledger and sabotages come from the botwerk plugin),
and the three-node cluster of the cluster rows (tests/faults/test_cluster.py)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from tests.support.cluster import ThrowawayCluster
from tests.support.faults import FaultMesh
from tests.support.plugin import _need_rabbitmq_server

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


@pytest.fixture(scope="module")
def _cluster_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThrowawayCluster]:
    """One cluster for the cluster rows' module, gone after it: three idle nodes would take
    CPU from every test that runs after them (measured: 6-9% of a core each)."""
    _need_rabbitmq_server()
    cluster = ThrowawayCluster(tmp_path_factory.mktemp("rabbitmq-cluster"))
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture
def fault_cluster(_cluster_session: ThrowawayCluster) -> Iterator[ThrowawayCluster]:
    """Three throwaway nodes in one cluster, every one running, unfrozen and without an alarm
    before and after the test."""
    _cluster_session.heal()
    yield _cluster_session
    _cluster_session.heal()


# pika notices a silent broker after one idle check, and checks every heartbeat + 5 s: 8-16 s
# at 3 (10-20 s at the default 5, which a 15 s freeze could outlast unnoticed: seen once).
# The Kubernetes settings (infra/k8s/settings.yaml) set the same.
CLUSTER_HEARTBEAT_S = 3


@pytest.fixture
def make_cluster_mesh(fault_cluster, settings, tmp_path):
    """``make_cluster_mesh(deadline_ms=...)``: a FaultMesh whose roles and transport connect to
    ``fault_cluster`` through its many-host URL; use with ``async with``."""

    def make(*, deadline_ms: int = 30_000) -> FaultMesh:
        update = {"deadline_ms": deadline_ms, "heartbeat_s": CLUSTER_HEARTBEAT_S}
        patient = settings.model_copy(update=update)
        work_dir = tmp_path / f"mesh{next(_meshes)}"
        work_dir.mkdir()
        return FaultMesh(fault_cluster, patient, work_dir)

    return make
