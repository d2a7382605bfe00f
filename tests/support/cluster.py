"""Three throwaway RabbitMQ nodes joined into one cluster, on this machine, for the cluster rows.

In a fault test::

    cluster = ThrowawayCluster(tmp_path)
    cluster.start()                      # boots three nodes, joins two to the first
    cluster.url                          # amqp://guest:guest@127.0.0.1:P1,127.0.0.1:P2,.../
    node = cluster.leader("bw.core.demo")    # the node leading a quorum queue
    node.kill(); node.start()            # a node of the cluster, as ThrowawayBroker does
    cluster.wait_running(3)              # until all three count each other as running

Each node is a :class:`ThrowawayBroker` (own name, ports, data folder, config) sharing one
Erlang cookie; the second and third join the first with ``rabbitmqctl join_cluster``, as an
operator would. The nodes handle partitions with ``autoheal``, as ``infra/rabbitmq/cluster.conf``
(which says why), and run a short ``net_ticktime``, so a frozen node is noticed in seconds, not
a minute.
"""

from __future__ import annotations

import json
import logging
import secrets
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from .broker import NodeConfig, ThrowawayBroker

T = TypeVar("T")

log = logging.getLogger(__name__)

NET_TICKTIME_S = 4  # a silent node is down after 3-5 s (Erlang's default: 60, so 45-75 s)
CLUSTER_CONF = "cluster_partition_handling = autoheal\n"
HEAL_S = 60  # heal()'s wait; the freeze row was whole 2.7 s after resume, 30.8 s under load
DISK_FREE_LIMIT = "50MB"  # RabbitMQ's default; a test raises it past the free space for an alarm


class ThrowawayCluster:
    """``size`` throwaway nodes in one cluster; ``nodes[0]`` is the one the others joined."""

    def __init__(self, root: Path, size: int = 3) -> None:
        config = NodeConfig(net_ticktime_s=NET_TICKTIME_S, conf=CLUSTER_CONF)
        self.nodes = [ThrowawayBroker(root / f"node{i}", config) for i in range(size)]
        cookie = secrets.token_hex(16).upper()
        for node in self.nodes:
            path = node.root / ".erlang.cookie"
            path.chmod(0o600)
            path.write_text(cookie)
            path.chmod(0o400)

    @property
    def url(self) -> str:
        """One URL naming every node, in ``BOTWERK_AMQP_URL``'s cluster form."""
        return self.url_of(self.nodes)

    @staticmethod
    def url_of(nodes: list[ThrowawayBroker]) -> str:
        """One URL naming ``nodes``, in ``BOTWERK_AMQP_URL``'s cluster form."""
        hosts = ",".join(f"127.0.0.1:{node.port}" for node in nodes)
        return f"amqp://guest:guest@{hosts}/"

    def start(self) -> float:
        """Boot every node at once, join the others to the first; the seconds it took."""
        started = time.monotonic()
        try:
            self._each(ThrowawayBroker.start, self.nodes)
            first = self.nodes[0]
            for node in self.nodes[1:]:
                node.ctl("stop_app")
                node.ctl("join_cluster", first.name)
                node.ctl("start_app")
            self.wait_running(len(self.nodes))
        except BaseException:
            self.stop()  # the nodes that did boot: no fixture will stop a cluster never handed out
            raise
        return time.monotonic() - started

    def running_nodes(self, via: ThrowawayBroker | None = None) -> list[str]:
        """The node names ``via`` (default: the first running node) counts as running."""
        asked = via or self.up[0]
        status = json.loads(asked.ctl("cluster_status", "--formatter", "json"))
        return sorted(status["running_nodes"])

    def wait_running(
        self, count: int, timeout: float = 60.0, asking: list[ThrowawayBroker] | None = None
    ) -> None:
        """Until every running node (or each of ``asking``) counts ``count`` running nodes,
        itself included. Each question boots a CLI: a second of CPU, several under load.

        On timeout the error names what each node last said: its count, or why ``rabbitmqctl``
        could not ask it (a node still starting its app, or one whose VM is gone)."""
        give_up = time.monotonic() + timeout
        while True:
            asked = asking or self.up
            counts = self._each(self._count_running, asked)
            seen = {node.name: n for node, n in zip(asked, counts, strict=True)}
            if asked and all(n == count for n in seen.values()):
                return
            if time.monotonic() > give_up:
                down = [node.name for node in self.nodes if node not in self.up]
                raise TimeoutError(
                    f"the cluster did not reach {count} running nodes in {timeout:.0f} s: "
                    f"{seen or 'no node could be asked'}; not running or frozen: {down}"
                )
            time.sleep(0.5)

    def _count_running(self, node: ThrowawayBroker) -> int | str:
        """How many running nodes ``node`` counts, or (shortened) why it could not say."""
        try:
            return len(self.running_nodes(node))
        except (RuntimeError, subprocess.TimeoutExpired, ValueError) as error:
            lines = [line for line in str(error).splitlines() if line.strip()]
            return " / ".join(line.strip() for line in lines[:3])[:300]

    @property
    def up(self) -> list[ThrowawayBroker]:
        """The nodes running and not frozen: those ``rabbitmqctl`` can ask."""
        return [node for node in self.nodes if node.running and not node.paused]

    def ctl(self, *args: str, check: bool = True) -> str:
        """``rabbitmqctl`` on the first node that is up (cluster-wide commands answer alike)."""
        return self.up[0].ctl(*args, check=check)

    def node_at(self, host_port: str) -> ThrowawayBroker:
        """The node listening on ``host:port`` (as a role's log names it)."""
        return next(node for node in self.nodes if host_port.endswith(f":{node.port}"))

    def node_named(self, name: str) -> ThrowawayBroker:
        return next(node for node in self.nodes if node.name == name)

    def leader(self, queue: str, via: ThrowawayBroker | None = None) -> ThrowawayBroker:
        """The node that leads the quorum queue ``queue`` now."""
        asked = via or self.up[0]
        rows = asked.ctl("-q", "--no-table-headers", "list_queues", "name", "leader")
        for line in rows.splitlines():
            name, _, leader = line.strip().partition("\t")
            if name == queue:
                return self.node_named(leader.strip())
        raise LookupError(f"no queue {queue!r} in the cluster")

    def elected_at(self, queue: str, after: float) -> float | None:
        """Epoch seconds at which a node's log first says it became leader of the quorum queue
        ``queue`` after ``after`` (epoch seconds); None if none did."""
        needle = f"queue '{queue}' in vhost"
        times = []
        for node in self.nodes:
            for log in (node.root / "log").glob("*.log"):
                for line in log.read_text(errors="replace").splitlines():
                    if needle in line and "-> leader in term" in line:
                        at = datetime.fromisoformat(line.split(" [", 1)[0]).timestamp()
                        if at > after:
                            times.append(at)
        return min(times) if times else None

    def members(self, queue: str) -> list[str]:
        """The nodes holding a replica of the quorum queue ``queue``."""
        asked = self.up[0]
        rows = asked.ctl("-q", "--no-table-headers", "--formatter", "json", "list_queues",
                         "name", "members")  # fmt: skip
        for row in json.loads(rows):
            if row["name"] == queue:
                return sorted(row["members"])
        raise LookupError(f"no queue {queue!r} in the cluster")

    def heal(self, timeout: float = HEAL_S) -> None:
        """Every node running, unfrozen, without a disk alarm; all three in the cluster.

        A node that does not count every other one running within ``timeout`` (a partition that
        autoheal left as it was, a node stuck restarting its app) is killed and booted again,
        as an operator would, and the log says so: the next test starts on a whole cluster."""
        for node in self.nodes:
            if node.running and node.paused:
                node.resume()
            elif not node.running:
                node.start()
        try:
            self.wait_running(len(self.nodes), timeout=timeout)
        except TimeoutError as error:
            counts = self._each(self._count_running, self.nodes)
            stuck = [n for n, c in zip(self.nodes, counts, strict=True) if c != len(self.nodes)]
            log.warning("%s; restarting %s", error, [node.name for node in stuck])
            for node in stuck:
                if node.running:
                    node.kill()
            self._each(ThrowawayBroker.start, stuck)  # at once: a node waits for its peers
            self.wait_running(len(self.nodes), timeout=HEAL_S)
        self._each(lambda node: node.ctl("set_disk_free_limit", DISK_FREE_LIMIT), self.nodes)

    @staticmethod
    def _each(ask: Callable[[ThrowawayBroker], T], nodes: list[ThrowawayBroker]) -> list[T]:
        """``ask(node)`` for every node at once: a node boots, or a CLI asks it (a second of
        CPU, several under load; a heal asks every node twice, before and after every row)."""
        with ThreadPoolExecutor(max(len(nodes), 1)) as pool:
            return list(pool.map(ask, nodes))

    def stop(self) -> None:
        """SIGKILL every node still running (nothing of a throwaway cluster is kept)."""
        for node in self.nodes:
            if node.running:
                node.resume()
                node.kill()
