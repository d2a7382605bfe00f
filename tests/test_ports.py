"""The test servers' port picker: one port is never handed out twice in a process.

A cluster picks every node's ports first and starts the nodes at once; a port handed out twice
(once one node's AMQP port, once another's distribution port) stopped a clean-clone CI run.
"""

from __future__ import annotations

from tests.support.ports import _ephemeral_low, free_port


def test_a_port_is_never_handed_out_twice():
    ports = [free_port() for _ in range(500)]  # without the memory: a repeat almost surely
    assert len(set(ports)) == len(ports)
    assert all(20_000 <= port < _ephemeral_low() for port in ports)
