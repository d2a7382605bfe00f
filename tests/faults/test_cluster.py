"""A three-node RabbitMQ cluster loses a node under load, and the mesh loses nothing.

Every row runs the fault suite's mesh (a worker, a core, the test as transport, a ledger) on
:class:`~tests.support.cluster.ThrowawayCluster`, every process connecting through the
many-host URL. Before the roles start, the test declares the core and model queues from the
first node, so that node leads both (RabbitMQ puts a new quorum queue's leader on the node its
declarer is connected to): the node the rows break is the leader of both.

What each row measures beside the ledger:

- ``gap_s``: the longest stretch without a single answer while users kept asking, which
  covers noticing the fault, electing new leaders, reconnecting and redeclaring;
- ``lost_connection_s`` and ``reconnected_s``: for each role, seconds from the fault until it
  lost its connection, and until it was connected to another node (``None``: it never lost
  it); ``resumed_s`` (the freeze row): seconds from the fault until the node was resumed;
- ``leader_moved_s``: seconds from the fault until both queues had new leaders, from the
  nodes' own logs ("candidate -> leader");
- ``answering_after_leader_s``: seconds from that election until the mesh answered a user
  again (anyone: the roles serve again). Issue 18 asks for every role serving again within
  15 s of a leader change; the rows assert this, and that every role that lost its node was
  connected to another by then;
- ``served_after_leader_s``: seconds from that election until a user who asked after it had
  an answer. Reported, not asserted: that user waits behind everyone who asked while the
  queue had no leader (50 a second, served first in first out), so it measures the backlog,
  which grows with the machine's load (12.2-14.0 s in the freeze row under load, 9.7-11.1 s
  quiet), more than the roles.
"""

from __future__ import annotations

import asyncio
import itertools
import time

import pika
import pika.exceptions
import pytest

from botwerk.infra import topology
from botwerk.infra.bus import Outgoing
from botwerk.infra.rabbit import REHOME_POLL_S, REHOME_SETTLE_POLLS, RabbitBus
from botwerk.infra.rpc import Inbox
from botwerk.schemas import Reply
from tests.support import sabotage
from tests.support.broker import ThrowawayBroker
from tests.support.cluster import DISK_FREE_LIMIT, ThrowawayCluster
from tests.support.faults import FaultMesh
from tests.support.ledger import Verdict
from tests.support.plugin import Reliability
from tests.support.waiting import eventually

# A rolling restart alone takes 50-115 s on this machine: past the suite's 120 s default.
pytestmark = [
    pytest.mark.broker, pytest.mark.faults, pytest.mark.slow, pytest.mark.cluster,
    pytest.mark.timeout(300),
]  # fmt: skip

SERVING_AGAIN_S = 15  # issue 18: every role serves again within this of a leader change
RATE = 50  # users' requests per second during every row
TRIES_TO_SHARE_A_NODE = 20  # each connects to one of three nodes at random: all 20 miss 3 in 10^4


async def lead_from_the_cores_node(
    mesh: FaultMesh, cluster: ThrowawayCluster, role_sabotage: str | None = None, *,
    with_transport: bool = False,
) -> tuple[ThrowawayBroker, list[str]]:  # fmt: skip
    """Start the core (it declares its queue on the node it connected to, which so leads it),
    declare the model queue through that node too, then start the worker: one node leads both
    queues and holds the core's connection. That node, and the two queues.

    ``with_transport``: that node holds the test transport's connection too, so both its reply
    queue and the core's are lost with it (a core that connected elsewhere is stopped and its
    queue deleted, and another started, until one connects there: three tries on average).
    """
    core_queue, model_queue = mesh.names.core_queue("demo"), mesh.names.infer_queue("echo")
    for _ in range(TRIES_TO_SHARE_A_NODE):
        mesh.start_core(sabotage=role_sabotage)
        if not with_transport or mesh.node_of("core") == mesh.bus.node:
            break
        mesh.kill("core")
        await mesh.bus.delete_queue(core_queue)
    else:
        raise AssertionError(
            f"no core connected to the transport's node in {TRIES_TO_SHARE_A_NODE}"
        )
    home = cluster.node_at(mesh.node_of("core"))
    settings = mesh.settings.model_copy(update={"amqp_url": home.url})
    bus = RabbitBus(settings, name="cluster test setup")
    await bus.start(timeout=30)
    await bus.declare(topology.for_worker(mesh.names, "echo", topology.limits_of(settings)))
    await bus.close()
    mesh.start_worker(sabotage=role_sabotage)
    return home, [core_queue, model_queue]


def elected(cluster: ThrowawayCluster, queues: list[str], since: float) -> float:
    """Epoch seconds by which every queue of ``queues`` had a leader elected after ``since``
    (epoch), as the nodes' own logs time it; waits up to a minute for the elections."""
    give_up = time.monotonic() + 60
    while time.monotonic() < give_up:
        times = [cluster.elected_at(q, since) for q in queues]
        if all(at is not None for at in times):
            return max(at for at in times if at is not None)
        time.sleep(0.5)
    raise AssertionError(f"no new leader for {queues} a minute after the fault")


def first_served_after(mesh: FaultMesh, moment: float, asked_after: bool) -> float | None:
    """Seconds from ``moment`` (monotonic) until a user got an answer; ``asked_after``: only
    users who asked after ``moment``."""
    ledger = mesh.ledger
    answered = [
        at for text, at in ledger.answered_at.items()
        if at >= moment and (not asked_after or ledger.submitted_at[text] >= moment)
        and any(r.error is None for r in ledger.replies[text])
    ]  # fmt: skip
    return round(min(answered) - moment, 1) if answered else None


def longest_gap(mesh: FaultMesh, start: float, end: float) -> float:
    """The longest time between two answers (or an edge of [start, end]) in that window."""
    answers = sorted(
        at for text, at in mesh.ledger.answered_at.items()
        if start <= at <= end and any(r.error is None for r in mesh.ledger.replies[text])
    )  # fmt: skip
    edges = [start, *answers, end]
    return round(max(b - a for a, b in itertools.pairwise(edges)), 1)


def connections(mesh: FaultMesh, since_epoch: float) -> dict[str, dict[str, float | None]]:
    """``lost_connection_s`` and ``reconnected_s``: per role, seconds from ``since_epoch`` until
    it first lost the broker, and until its first connect after that (None: it never did)."""
    lost_s: dict[str, float | None] = {}
    back_s: dict[str, float | None] = {}
    for role, (proc, _) in mesh.roles.items():
        lost = [t for t in mesh.log_times(proc, "lost the connection") if t >= since_epoch]
        back = [t for t in mesh.log_times(proc, "connected to amqp") if lost and t >= lost[0]]
        lost_s[role] = round(lost[0] - since_epoch, 1) if lost else None
        back_s[role] = round(back[0] - since_epoch, 1) if back else None
    return {"lost_connection_s": lost_s, "reconnected_s": back_s}


async def under_load(mesh: FaultMesh, fault, settle_s: float = 5) -> dict[str, object]:
    """Users ask at RATE per second; after 3 s, ``fault()`` (in a thread) breaks the cluster;
    users go on asking ``settle_s`` more; the figures of the run.

    ``fault`` returns its own figures, and may name ``fault_at`` and ``elected_at`` (epoch
    seconds): then ``leader_moved_s`` (fault to new leaders), ``answering_after_leader_s`` (new
    leaders to the first answer) and ``served_after_leader_s`` (to the first answer to someone
    who asked after them) are figures too.
    """
    stop = asyncio.Event()
    load = asyncio.create_task(mesh.load(100_000, rate=RATE, until=stop))
    await asyncio.sleep(3)
    started, started_epoch = time.monotonic(), time.time()
    figures = dict(await asyncio.to_thread(fault))
    await asyncio.sleep(settle_s)
    stop.set()
    ended = time.monotonic()
    await load
    if "resumed_at" in figures:
        figures["resumed_s"] = round(figures.pop("resumed_at") - started_epoch, 1)
    if "elected_at" in figures:
        fault_at, elected_at = figures.pop("fault_at"), figures.pop("elected_at")
        figures["leader_moved_s"] = round(elected_at - fault_at, 1)
        elected = elected_at - started_epoch + started
        figures["answering_after_leader_s"] = first_served_after(mesh, elected, False)
        figures["served_after_leader_s"] = first_served_after(mesh, elected, True)
    return {
        **figures,
        "gap_s": longest_gap(mesh, started - 1, ended),
        **connections(mesh, started_epoch),
    }


def record_control(reliability: Reliability, row: str, verdict: Verdict) -> None:
    """A negative control's catch. A loss counts at either hop: lost (the user heard nothing
    from the mesh) or unserved (no worker computed it; the bot then told its user "took too
    long", seen in a CI run of the transient control)."""
    reliability.record(
        row, negative_lost=len(verdict.lost), negative_unserved=len(verdict.unserved)
    )


def assert_serving_again(figures: dict) -> None:
    """Users are answered again, and every role that lost its node is connected to another,
    within SERVING_AGAIN_S of the new leaders' election.

    A role can also lose its connection after the fault is over (``resumed_s``): the heal
    that follows a freeze restarts whichever side autoheal picks, and that may be a node the
    fault never touched (seen: the worker's, 21 s after the freeze). Such a role is bound to
    SERVING_AGAIN_S from that loss, not from an election that came before it."""
    served, moved = figures["answering_after_leader_s"], figures["leader_moved_s"]
    assert served is not None and served <= SERVING_AGAIN_S, figures
    resumed = figures.get("resumed_s")
    late = {}
    for role, back in figures["reconnected_s"].items():
        lost = figures["lost_connection_s"][role]
        if back is None or lost is None:
            continue
        healed_away = resumed is not None and lost >= resumed
        if back > (lost if healed_away else moved) + SERVING_AGAIN_S:
            late[role] = back
    assert not late, figures


def kill_leader(mesh: FaultMesh, cluster: ThrowawayCluster, home: ThrowawayBroker,
                queues: list[str], replicated: bool = True) -> dict:  # fmt: skip
    """The worker stops (a backlog waits in the model queue), the node that holds both queues
    and the core's connection dies by SIGKILL, the worker comes back. The node stays down
    until the verdict: lost for good, as far as the run can tell."""
    mesh.kill("worker")
    time.sleep(2)
    killed = time.time()
    home.kill()
    mesh.restart("worker", wait=False)
    if not replicated:
        return {}  # classic queues have no leader to move
    return {"fault_at": killed, "elected_at": elected(cluster, queues, killed)}


async def test_the_leading_node_killed_under_load_loses_nothing(
    make_cluster_mesh, fault_cluster, reliability
):
    async with make_cluster_mesh() as mesh:
        home, queues = await lead_from_the_cores_node(mesh, fault_cluster, with_transport=True)
        figures = await under_load(
            mesh, lambda: kill_leader(mesh, fault_cluster, home, queues)
        )  # fmt: skip
        verdict = await mesh.verdict()  # the node is still down: its replicas are gone
    reliability.record("cluster_leader_kill", **figures, **verdict.summary())
    assert verdict.clean, verdict.summary()
    # Every user answered by the mesh. Under CI's load 32 once heard "busy": the core's model
    # call was nacked on its channel and again on a fresh one while the new leader was being
    # elected. A publish nacked just after a reconnect now goes again (rpc.failing_over), so
    # "busy" is not an answer this row allows any more; "took too long" still is.
    assert verdict.answered == verdict.sent, verdict.summary()
    assert set(verdict.errors) <= {"timeout"}, verdict.summary()
    assert figures["reconnected_s"]["core"] is not None, "the core was on the node killed"
    assert_serving_again(figures)


async def test_leader_kill_negative_control_unreplicated_queues_lose_messages(
    make_cluster_mesh, fault_cluster, reliability, monkeypatch
):
    sabotage.apply("unreplicated", monkeypatch.setattr)  # the test declares a queue too
    async with make_cluster_mesh() as mesh:
        home, queues = await lead_from_the_cores_node(
            mesh, fault_cluster, "unreplicated", with_transport=True
        )
        await under_load(
            mesh, lambda: kill_leader(mesh, fault_cluster, home, queues, replicated=False)
        )  # fmt: skip
        verdict = mesh.ledger.check(mesh.dead, mesh.chat)
    record_control(reliability, "cluster_leader_kill", verdict)
    assert verdict.lost or verdict.unserved, (
        "queues on one node must lose what they held when the node is lost"
    )


# A node frozen (SIGSTOP) long enough for the others to count it out.

FROZEN_S = 20  # the cluster counts a silent node out in 3-5 s, the roles in 8-16 s


def freeze_leader(cluster: ThrowawayCluster, home: ThrowawayBroker, queues: list[str]) -> dict:
    """SIGSTOP the leading node for FROZEN_S, then SIGCONT.

    Resumed, the node finds the cluster partitioned (its view of the others and theirs of it
    disagree) and autoheal restarts the side with fewer clients. Should the cluster not be
    whole within 10 s, the test restarts the node's app, as RabbitMQ's partitions guide asks
    of an operator, and says so (``healed_by_hand``). Under ``pause_minority`` that
    was every run: the resumed node sees the majority at once, never pauses, and clients that
    reconnect to it work on a split cluster (infra/rabbitmq/cluster.conf).
    """
    frozen = time.time()
    home.pause()
    elected_at = elected(cluster, queues, frozen)
    time.sleep(max(FROZEN_S - (time.time() - frozen), 0))
    home.resume()
    resumed, resumed_epoch = time.monotonic(), time.time()
    healed_by_hand = False
    try:
        cluster.wait_running(len(cluster.nodes), timeout=10)
    except TimeoutError:
        healed_by_hand = True
        home.ctl("stop_app")
        home.ctl("start_app")
        cluster.wait_running(len(cluster.nodes), timeout=60)
    return {
        "fault_at": frozen,
        "elected_at": elected_at,
        "resumed_at": resumed_epoch,
        "healed_by_hand": healed_by_hand,
        "whole_again_s": round(time.monotonic() - resumed, 1),
    }


async def test_the_leading_node_frozen_under_load_loses_nothing(
    make_cluster_mesh, fault_cluster, reliability
):
    async with make_cluster_mesh() as mesh:
        home, queues = await lead_from_the_cores_node(mesh, fault_cluster)
        figures = await under_load(mesh, lambda: freeze_leader(fault_cluster, home, queues))
        verdict = await mesh.verdict()
    reliability.record("cluster_freeze", **figures, **verdict.summary())
    assert verdict.clean, verdict.summary()
    # Every user answered by the mesh; some, whose model call waited on the frozen node for
    # their whole deadline, with the bot's "took too long" (seen under CI's load): an answer.
    assert verdict.answered == verdict.sent, verdict.summary()
    assert set(verdict.errors) <= {"timeout"}, verdict.summary()
    assert figures["reconnected_s"]["core"] is not None, "the core was on the node frozen"
    assert_serving_again(figures)


async def test_freeze_negative_control_roles_that_never_reconnect_lose_messages(
    make_cluster_mesh, fault_cluster, reliability
):
    """What saves the freeze row is failover, not the node: the roles notice the silent node
    and connect to another. Roles that give up when their connection drops never serve again,
    and what waits for them is never answered. (Unreplicated queues lose nothing here: the
    node comes back with them; measured, docs/reliability.md.)"""
    async with make_cluster_mesh() as mesh:
        home, queues = await lead_from_the_cores_node(mesh, fault_cluster, "no_reconnect")
        await under_load(mesh, lambda: freeze_leader(fault_cluster, home, queues))
        verdict = mesh.ledger.check(mesh.dead, mesh.chat)
    record_control(reliability, "cluster_freeze", verdict)
    assert verdict.lost or verdict.unserved, (
        "a core that never reconnects must leave its users unanswered"
    )


# A rolling restart: each node stopped and started in turn, as an upgrade does.


def quorum_safe_to_stop(node: ThrowawayBroker) -> bool:
    """Whether stopping ``node`` leaves every quorum queue a majority (the command fails if not)."""
    try:
        node.ctl("check_if_node_is_quorum_critical", tool="rabbitmq-queues")
    except RuntimeError:
        return False
    return True


def rolling_restart(
    cluster: ThrowawayCluster, backlog: tuple[FaultMesh, ThrowawayBroker] | None = None,
    nodes: list[ThrowawayBroker] | None = None,
) -> dict:  # fmt: skip
    """Each node in turn, as RabbitMQ's upgrade guide says: wait until stopping it leaves every
    quorum queue a majority (``rabbitmq-queues check_if_node_is_quorum_critical``), put it in
    maintenance (``rabbitmq-upgrade drain``: its queue leaders move to the other nodes and its
    clients are disconnected while it still runs), stop it, start it, ``revive`` it, and wait
    until the cluster counts it running again. With ``backlog`` (a mesh and a node), the mesh's
    worker is stopped while that node restarts, so that requests wait in the model queue.
    ``nodes``: only those, in turn (the negative control restarts the one that holds its
    queues: the other two lose it nothing, and take a minute)."""
    downtimes = []
    for node in nodes or cluster.nodes:
        mesh = backlog[0] if backlog is not None and backlog[1] is node else None
        if mesh is not None:
            mesh.kill("worker")
            time.sleep(2)
        give_up = time.monotonic() + 60
        while not quorum_safe_to_stop(node):
            assert time.monotonic() < give_up, f"{node.name} stayed quorum critical"
            time.sleep(1)
        stopped = time.monotonic()
        node.ctl("drain", tool="rabbitmq-upgrade")
        node.stop()
        node.start()
        node.ctl("revive", tool="rabbitmq-upgrade")
        cluster.wait_running(len(cluster.nodes), asking=[node])
        downtimes.append(round(time.monotonic() - stopped, 1))
        if mesh is not None:
            mesh.restart("worker", wait=False)
    return {"node_downtimes_s": downtimes}


# Three nodes drained, restarted and revived: about 45 s here, 2.5 minutes when two other
# processes keep both cores busy (what a loaded CI machine looks like).
@pytest.mark.timeout(600)
async def test_a_rolling_restart_under_load_loses_nothing(
    make_cluster_mesh, fault_cluster, reliability
):
    async with make_cluster_mesh() as mesh:
        await lead_from_the_cores_node(mesh, fault_cluster)
        figures = await under_load(mesh, lambda: rolling_restart(fault_cluster))
        verdict = await mesh.verdict()
        moves = [mesh.log_times(proc, "replaces it") for proc, _ in mesh.roles.values()]
    reliability.record(
        "cluster_rolling_restart", reply_queue_moves=sum(map(len, moves)), **figures,
        **verdict.summary(),
    )  # fmt: skip
    assert verdict.clean, verdict.summary()
    assert verdict.answered == verdict.sent and not verdict.errors, verdict.summary()
    assert figures["gap_s"] <= SERVING_AGAIN_S, figures


@pytest.mark.timeout(600)
async def test_rolling_restart_negative_control_transient_queues_lose_messages(
    make_cluster_mesh, fault_cluster, reliability, monkeypatch
):
    # Transient queues, and no asking again: in a rolling restart every reply queue moves,
    # and a gateway that sends its waiting messages again after the move rescues what the
    # transient model queue lost (CI, 19:00 UTC: the control lost nothing). The sabotage
    # takes away both protections the row relies on.
    sabotages = "transient,no_asking_again"
    sabotage.apply(sabotages, monkeypatch.setattr)  # the test declares a queue too
    async with make_cluster_mesh() as mesh:
        home, _ = await lead_from_the_cores_node(mesh, fault_cluster, sabotages)
        # Drained, a transient queue's consumers empty it before its node stops: it loses
        # only what waits in it then (without a backlog one run lost nothing). So the worker
        # is stopped while the node that holds the queues restarts: the one node restarted.
        await under_load(
            mesh, lambda: rolling_restart(fault_cluster, backlog=(mesh, home), nodes=[home])
        )  # fmt: skip
        verdict = mesh.ledger.check(mesh.dead, mesh.chat)
    record_control(reliability, "cluster_rolling_restart", verdict)
    assert verdict.lost or verdict.unserved, (
        "queues that live on one node, unconfirmed, must lose when it restarts"
    )


# A node's disk alarm: RabbitMQ blocks publishers on every node until it clears.

ALARM_S = 10


def disk_alarm(cluster: ThrowawayCluster) -> dict:
    """Raise the disk free limit of the second node past the disk's size for ALARM_S."""
    node = cluster.nodes[1]
    node.ctl("set_disk_free_limit", "1000000GB")
    time.sleep(ALARM_S)
    node.ctl("set_disk_free_limit", DISK_FREE_LIMIT)
    return {"alarm_s": ALARM_S}


async def test_a_nodes_disk_alarm_holds_publishers_then_nothing_is_lost(
    make_cluster_mesh, fault_cluster, reliability
):
    async with make_cluster_mesh(deadline_ms=60_000) as mesh:
        await lead_from_the_cores_node(mesh, fault_cluster)
        figures = await under_load(mesh, lambda: disk_alarm(fault_cluster))
        verdict = await mesh.verdict()
    reliability.record("cluster_disk_alarm", **figures, **verdict.summary())
    assert verdict.clean, verdict.summary()
    assert verdict.answered == verdict.sent and not verdict.errors, verdict.summary()
    assert figures["gap_s"] >= ALARM_S - 2, "the alarm should have held every publisher back"
    assert figures["gap_s"] <= ALARM_S + SERVING_AGAIN_S, figures


async def test_disk_alarm_negative_control_publishers_that_give_up_lose(
    make_cluster_mesh, fault_cluster, reliability, monkeypatch
):
    sabotage.apply("give_up_when_blocked", monkeypatch.setattr)
    async with make_cluster_mesh() as mesh:
        await lead_from_the_cores_node(mesh, fault_cluster, "give_up_when_blocked")
        await under_load(mesh, lambda: disk_alarm(fault_cluster))
        verdict = mesh.ledger.check(mesh.dead, mesh.chat)
    record_control(reliability, "cluster_disk_alarm", verdict)
    assert verdict.lost or verdict.unserved, (
        "fire-and-forget publishers that give up when blocked must lose"
    )


# A node that stops gracefully stops its queues first and closes its connections last. In a CI
# run's rolling restart a transport connected to such a node was told "process is stopped by
# supervisor" for over 8 s when it declared its reply queue again; it moved only after that,
# and 64 of its users heard "took too long". This row holds a node in that state (its classic
# queues stopped by the calls a stopping node makes, while it still takes connections).

STOP_CLASSIC_QUEUES = (
    'rabbit_amqqueue:mark_local_durable_queues_stopped(<<"/">>), '
    'rabbit_amqqueue_sup_sup:stop_for_vhost(<<"/">>).'
)  # fmt: skip
KILL_VHOST = '{ok, Sup} = rabbit_vhost_sup_sup:get_vhost_sup(<<"/">>), exit(Sup, kill).'
MOVED_WITHIN_S = 10  # a user's deadline is 30 s: the copies asked again need the rest
REHOMED_WITHIN_S = REHOME_POLL_S * (REHOME_SETTLE_POLLS + 2) + 5  # polls, plus a restart


def queue_exists(node: ThrowawayBroker, queue: str) -> bool:
    """Asked through ``node`` with a connection of its own: a passive declare."""
    connection = pika.BlockingConnection(pika.URLParameters(node.url))
    try:
        connection.channel().queue_declare(queue, passive=True)
        return True
    except pika.exceptions.ChannelClosedByBroker:
        return False
    finally:
        if connection.is_open:
            connection.close()


async def test_a_reply_queue_on_a_stopping_node_moves_and_moves_again_once_it_is_back(
    fault_cluster, settings
):
    """The inbox's queue answers "stopped by supervisor": it moves at once, and its owner asks
    again only once the new queue exists (asked before, a copy's answer could find no queue).
    Once the node serves its queues again, the inbox moves once more: what was declared while
    a node was away may be unknown to some nodes after a partition heals (seen in the freeze
    row, docs/reliability.md), and a queue declared on the whole cluster is known to all."""
    on_cluster = settings.model_copy(update={"amqp_url": fault_cluster.url, "heartbeat_s": 3})
    names = topology.Names(settings.namespace)
    bus = RabbitBus(on_cluster, role="test")
    await bus.start()
    home = fault_cluster.node_at(bus.node)  # the inbox's queue lives where the bus connected
    elsewhere = next(node for node in fault_cluster.nodes if node is not home)
    replies: list[Reply] = []
    moves: list[tuple[str, bool]] = []  # (the new queue, whether it existed when told)

    async def keep(reply, delivery) -> None:
        replies.append(reply)

    def on_moved() -> None:
        moves.append((inbox.queue, queue_exists(elsewhere, inbox.queue)))

    async def answered(text: str) -> None:
        reply = Outgoing.of(Reply(bot="b", conversation="c", text=text))
        await bus.publish(names.replies, inbox.queue, reply, mandatory=True)
        await eventually(lambda: text in [r.text for r in replies], 10, f"{text!r} came")

    inbox = Inbox(bus, names, names.reply_queue("test", "stopping"), keep, on_moved=on_moved)
    await inbox.start()
    first = inbox.queue
    vhost_back = False
    try:
        home.ctl("eval", STOP_CLASSIC_QUEUES)
        stopped = time.monotonic()
        await eventually(lambda: bool(moves), MOVED_WITHIN_S, "the inbox moved")
        moved_s = time.monotonic() - stopped
        assert moves == [(f"{first}-moved1", True)], moves
        await answered("here")
        home.ctl("eval", KILL_VHOST)  # its supervisor restarts the virtual host and its queues
        home.ctl("restart_vhost")
        vhost_back, back = True, time.monotonic()
        await eventually(lambda: len(moves) == 2, REHOMED_WITHIN_S, "the inbox moved back")
        rehomed_s = time.monotonic() - back
        assert moves[1] == (f"{first}-moved2", True), moves
        await answered("there")
        await inbox.stop()
        await bus.delete_queue(inbox.queue)
    finally:
        await bus.close()
        if not vhost_back:
            home.ctl("eval", KILL_VHOST)
            home.ctl("restart_vhost")
    assert queue_exists(home, first), "the node serves its queues again for the next rows"
    print(f"moved {moved_s:.1f} s after the node stopped its queues, {rehomed_s:.1f} s after")


# A stream answers a passive declare only once its leader's node does: with that node frozen,
# after Erlang's connection setup gives up on it (7 s). Every role checks the shared topology,
# the components stream included, each time it connects.

SHARED_CHECK_WITHIN_S = 3.0  # 7 s when the check waited for the stream's frozen leader


async def test_a_role_checks_the_shared_topology_in_seconds_while_the_streams_node_is_frozen(
    fault_cluster, settings
):
    """In the freeze row a core that found another node spent 7 s more in the passive
    declare of ``{ns}.components`` (its leader was on the frozen node) before it served: 16.3 s
    from the new leaders to the first answer in a CI run, over the 15 s bound."""
    names = topology.Names(settings.namespace)
    setup = RabbitBus(settings.model_copy(update={"amqp_url": fault_cluster.url}), role="test")
    await setup.start()
    await setup.declare(topology.base(names))
    await setup.close()
    writer = fault_cluster.leader(names.components)
    others = [node for node in fault_cluster.nodes if node is not writer]
    url = ThrowawayCluster.url_of(others)
    bus = RabbitBus(settings.model_copy(update={"amqp_url": url}), role="test")
    writer.pause()
    try:
        await asyncio.sleep(6)  # the others count it out (net_ticktime 4: 3-5 s)
        await bus.start(timeout=10)
        started = time.monotonic()
        await bus.declare(topology.base(names))
        took = time.monotonic() - started
    finally:
        writer.resume()
        await bus.close()
    print(f"the shared topology checked in {took:.2f} s with the stream's node frozen")
    assert took < SHARED_CHECK_WITHIN_S, took


# The harness itself: one row that leaves the cluster broken must not fail every row after it.


def test_heal_restarts_a_node_that_stays_out_of_the_cluster(fault_cluster):
    """A node whose app is stopped counts no one running and is not counted: ``heal`` waits,
    then kills and boots it again, and the cluster is whole. (A clean-clone CI run of 62d5372
    failed one row and errored the five after it on a cluster that did not become whole.)"""
    stuck = fault_cluster.nodes[2]
    stuck.ctl("stop_app")
    fault_cluster.heal(timeout=5)
    everyone = sorted(node.name for node in fault_cluster.nodes)
    assert all(fault_cluster.running_nodes(node) == everyone for node in fault_cluster.nodes)
