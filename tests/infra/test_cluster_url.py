"""``BOTWERK_AMQP_URL`` naming a cluster: parsed in one place, nodes tried in a random order.

The broker tests stand two :class:`FaultProxy` "nodes" in front of the one local RabbitMQ, so a
node can be closed under a connected bus without a real cluster (issue 18's harness adds one);
a closed loopback port is a node that is down.
"""

from __future__ import annotations

import itertools
import random
import time
from urllib.parse import urlsplit, urlunsplit

import kombu
import pytest

from botwerk.infra import topology
from botwerk.infra.amqphosts import node_name, node_urls
from botwerk.infra.errors import BrokerUnreachable
from botwerk.infra.rabbit import NODE_HANDSHAKE_S, BrokerRefused, RabbitBus, connect_order
from botwerk.infra.settings import ConfigError, Settings
from botwerk.workers.jobs.queues import config, queues
from tests.support.ports import free_port
from tests.support.proxy import FaultProxy
from tests.support.waiting import eventually

SECRET = "s3cret-never-shown"


@pytest.mark.parametrize(
    ("url", "nodes"),
    [
        ("amqp://g:p@127.0.0.1:5672/", ["amqp://g:p@127.0.0.1:5672/"]),  # one host: unchanged
        (
            "amqp://u:pw@h1:5672,h2,h3:5673/prod?heartbeat=30",
            ["amqp://u:pw@h1:5672/prod?heartbeat=30", "amqp://u:pw@h2/prod?heartbeat=30",
             "amqp://u:pw@h3:5673/prod?heartbeat=30"],
        ),
        ("amqps://u:pw@[::1]:5671,[fd00::2]/",
         ["amqps://u:pw@[::1]:5671/", "amqps://u:pw@[fd00::2]/"]),
        ("amqp://u:p,w@a, b", ["amqp://u:p,w@a", "amqp://u:p,w@b"]),  # a comma in the password
    ],
)  # fmt: skip
def test_one_url_per_node_with_the_shared_user_vhost_and_query(url, nodes):
    assert node_urls(url) == nodes
    assert Settings.load(amqp_url=url).amqp_urls == nodes


def test_node_names_carry_the_default_port_and_bracket_ipv6():
    urls = node_urls("amqp://u:p@h1,[::1]:5673")
    assert [node_name(u) for u in urls] == ["h1:5672", "[::1]:5673"]
    assert node_name("amqps://u:p@h") == "h:5671"


@pytest.mark.parametrize(
    "hosts", ["h1,,h2", "h1:5672,", "h1,h2:port", "h1:99999,h2", "[::1:5672,h2", ",h1"]
)
def test_a_bad_host_gives_the_one_line_error_with_the_form_and_no_password(hosts):
    """Guards: a malformed cluster URL is refused at load, not at the first connect."""
    with pytest.raises(ConfigError) as caught:
        Settings.load(amqp_url=f"amqp://guest:{SECRET}@{hosts}/")
    message = str(caught.value)
    assert message.startswith("BOTWERK_AMQP_URL is not an AMQP URL (")
    assert "(a cluster: HOST1:5672,HOST2:5672,...)" in message
    assert SECRET not in message and "\n" not in message


def test_a_cluster_url_is_shown_with_its_password_hidden():
    settings = Settings.load(amqp_url=f"amqp://bot:{SECRET}@h1:5672,h2:5672/v")
    assert settings.amqp_url_redacted == "amqp://bot:***@h1:5672,h2:5672/v"


def test_each_connect_draws_a_fresh_order_of_all_nodes():
    """Guards the spread: clients that all listed the nodes alike do not all go to the first."""
    rng, nodes = random.Random(1), ["a", "b", "c"]
    orders = [tuple(connect_order(nodes, rng)) for _ in range(30)]
    assert all(sorted(order) == nodes for order in orders)
    assert len({order[0] for order in orders}) == 3


def test_the_node_just_lost_is_tried_last_and_the_others_still_vary():
    rng, nodes = random.Random(1), ["a", "b", "c"]
    orders = [tuple(connect_order(nodes, rng, last="b")) for _ in range(30)]
    assert all(sorted(order) == nodes and order[-1] == "b" for order in orders)
    assert {order[0] for order in orders} == {"a", "c"}
    assert connect_order(nodes, random.Random(1), last="z") == connect_order(
        nodes, random.Random(1)
    )  # a node not in the list (the first connect: none) changes nothing


def test_celery_gets_the_nodes_in_kombus_failover_form():
    settings = Settings.load(amqp_url="amqp://u:p@h1:5672,h2:5673/v", namespace="t")
    made = config(settings)
    assert made["broker_url"] == "amqp://u:p@h1:5672/v;amqp://u:p@h2:5673/v"
    assert made["broker_failover_strategy"] == "shuffle"
    connection = kombu.Connection(made["broker_url"])  # kombu itself reads the alternates
    assert [urlsplit(url).port for url in connection.alt] == [5672, 5673]


def test_quorum_replicas_are_declared_only_when_set():
    """Guards existing deployments: unset, no new argument, so redeclaring still matches."""
    unset = topology.limits_of(Settings.load(namespace="t"))
    assert "x-quorum-initial-group-size" not in topology.work_queue("q", "d", unset).arguments
    assert "x-quorum-initial-group-size" not in topology.dead_queue("q", unset).arguments
    settings = Settings.load(namespace="t", quorum_replicas=3)
    limits = topology.limits_of(settings)
    assert topology.work_queue("q", "d", limits).arguments["x-quorum-initial-group-size"] == 3
    assert topology.dead_queue("q", limits).arguments["x-quorum-initial-group-size"] == 3
    training = queues(settings)
    assert training.training.queue_arguments["x-quorum-initial-group-size"] == 3
    assert training.dead.queue_arguments["x-quorum-initial-group-size"] == 3
    with pytest.raises(ConfigError, match="quorum_replicas"):
        Settings.load(quorum_replicas=0)


# Against the real broker.


def with_hosts(amqp_url: str, *hostports: str, password: str | None = None) -> str:
    """``amqp_url`` naming ``hostports`` as its nodes (and ``password``, if given)."""
    parts = urlsplit(amqp_url)
    user = parts.username or "guest"
    secret = password if password is not None else parts.password or "guest"
    return urlunsplit(parts._replace(netloc=f"{user}:{secret}@{','.join(hostports)}"))


def seeded(nodes: int, first: int, draws: int = 1) -> random.Random:
    """A Random whose first ``draws`` connect orders start with node number ``first``."""
    for seed in range(1000):
        rng = random.Random(seed)
        if all(connect_order(range(nodes), rng)[0] == first for _ in range(draws)):
            return random.Random(seed)
    raise AssertionError("no seed")  # pragma: no cover


def bus_for(settings: Settings, url: str, rng: random.Random | None = None) -> RabbitBus:
    fast = settings.model_copy(update={"amqp_url": url, "reconnect_min_s": 0.1})
    bus = RabbitBus(fast, name="cluster")
    if rng is not None:
        bus.rng = rng
    return bus


@pytest.mark.broker
async def test_a_dead_first_node_moves_on_to_the_live_one(amqp_url, settings):
    live = f"127.0.0.1:{urlsplit(amqp_url).port or 5672}"
    bus = bus_for(settings, with_hosts(amqp_url, f"127.0.0.1:{free_port()}", live), seeded(2, 0))
    try:
        await bus.start(timeout=10)
        assert bus.node == live
    finally:
        await bus.close()


@pytest.mark.broker
async def test_all_nodes_dead_is_one_unreachable_error_naming_each(amqp_url, settings):
    dead = [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]
    bus = bus_for(settings, with_hosts(amqp_url, *dead, password=SECRET))
    with pytest.raises(BrokerUnreachable) as caught:
        await bus.start(timeout=2)
    await bus.close()
    message = str(caught.value)
    assert " unreachable (" in message and SECRET not in message
    _, _, why = message.partition(" unreachable (")
    assert all(f"{node}: " in why for node in dead), message  # each node and its own error


@pytest.mark.broker
async def test_a_refused_password_stops_at_once_without_trying_the_other_nodes(amqp_url, settings):
    """Guards: every node shares its users, so a refusal is final, not a reason to move on."""
    parts = urlsplit(amqp_url)
    other = FaultProxy(parts.hostname or "127.0.0.1", parts.port or 5672).start()
    live = f"127.0.0.1:{parts.port or 5672}"
    url = with_hosts(amqp_url, live, f"127.0.0.1:{other.port}", password=SECRET)
    bus = bus_for(settings, url, seeded(2, 0))
    try:
        with pytest.raises(BrokerRefused, match="refused this user name or password"):
            await bus.start(timeout=10)
        assert other.connections == 0
    finally:
        await bus.close()
        other.close()


@pytest.mark.broker
async def test_losing_its_node_moves_the_bus_to_another_and_orders_vary(amqp_url, settings):
    """Guards reconnect to another node (the one lost goes last), and a fresh random order of
    the others on each reconnect."""
    parts = urlsplit(amqp_url)
    nodes = [FaultProxy(parts.hostname or "127.0.0.1", parts.port or 5672).start() for _ in "abc"]
    names = [f"127.0.0.1:{node.port}" for node in nodes]
    twin, rng = random.Random(5), random.Random(5)
    expected = [names[connect_order(range(3), twin)[0]]]
    for _ in range(5):
        lost = names.index(expected[-1])
        expected.append(names[connect_order(range(3), twin, last=lost)[0]])
    assert all(a != b for a, b in itertools.pairwise(expected))
    assert len(set(expected)) == 3  # the seed gives every node among the first six
    bus = bus_for(settings, with_hosts(amqp_url, *names), rng)
    seen: list[str] = []
    closed: set[int] = set()
    try:
        await bus.start(timeout=10)
        for _ in range(5):  # a cut: each reconnect draws its own order
            seen.append(bus.node)
            before = bus.connected_at
            nodes[names.index(bus.node)].reset()
            await eventually(lambda b=before: bus.connected and bus.connected_at != b, timeout=10)
        seen.append(bus.node)
        assert seen == expected
        down = names.index(bus.node)
        closed.add(down)
        nodes[down].close()  # the node it is on goes away for good: it moves to another
        await eventually(lambda: bus.connected and bus.node != names[down], timeout=10)
        await bus.declare(topology.base(topology.Names(settings.namespace), topology.Limits()))
    finally:
        await bus.close()
        for index, node in enumerate(nodes):
            if index not in closed:
                node.close()


@pytest.mark.broker
async def test_a_node_lost_and_gone_silent_is_not_tried_first_again(amqp_url, settings):
    """A frozen node still takes TCP connections and never finishes a handshake: tried first, it
    costs NODE_HANDSHAKE_S before the next (in a CI run of the cluster freeze row a worker came
    back 21.9 s after its node froze, past the row's bound). Its rng would pick it first again."""
    parts = urlsplit(amqp_url)
    nodes = [FaultProxy(parts.hostname or "127.0.0.1", parts.port or 5672).start() for _ in "ab"]
    names = [f"127.0.0.1:{node.port}" for node in nodes]
    bus = bus_for(settings, with_hosts(amqp_url, *names), seeded(2, 0, draws=2))
    try:
        await bus.start(timeout=10)
        assert bus.node == names[0]
        tried = nodes[0].connections
        nodes[0].blackhole()  # new connections hang, as a frozen node's do
        nodes[0].reset()  # and the bus loses the one it had
        lost = time.monotonic()
        await eventually(lambda: bus.connected and bus.node == names[1], timeout=10)
        assert nodes[0].connections == tried, "the silent node was tried again first"
        assert time.monotonic() - lost < NODE_HANDSHAKE_S
    finally:
        await bus.close()
        for node in nodes:
            node.close()
