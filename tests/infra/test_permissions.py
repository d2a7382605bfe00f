"""Each role's broker user may do what its role needs and nothing else (issue 13).

One throwaway RabbitMQ node with its management API, set up by :mod:`botwerk.infra.brokeradmin`
for one namespace. Each role first creates and uses what it owns, as its own user (so every
queue a forbidden operation aims at exists); then every forbidden operation is tried on a
fresh connection and must be refused with ACCESS_REFUSED (403), the channel closed by the
broker. The same operations as the node's administrator succeed, so a 403 here is the user's
permissions, not a missing queue or a typo (the negative control).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from base64 import b64encode
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pika
import pika.exceptions
import pytest

from botwerk.infra import brokeradmin, topology
from botwerk.testing import admin
from tests.support.broker import RABBITMQ_BIN, NodeConfig, ThrowawayBroker
from tests.support.processes import Processes

pytestmark = [pytest.mark.broker, pytest.mark.slow]

NS = "perm"
N = topology.Names(NS)
TRANSPORTS = ("web", "console")
WEB_Q = N.reply_queue("transport", "web-a1")
CONSOLE_Q = N.reply_queue("transport", "console-a1")
CORE_Q = N.reply_queue("core", "demo-a1")
OTHER_CORE_Q = N.reply_queue("core", "annalogue-b2")
EVENTS_Q = f"{N.events}.worker.echo-a1"
Action = Callable[[Any], Any]


# The node, set up once for the session (test_broker_setup.py uses the same node).


def managed_node(request: pytest.FixtureRequest, tmp_path_factory) -> ThrowawayBroker:
    """The session's one node with the management API (shared by this folder's tests)."""
    node = getattr(request.session, "_botwerk_managed_node", None)
    if node is None:
        if not (RABBITMQ_BIN / "rabbitmq-server").exists():
            if os.environ.get("BOTWERK_REQUIRE_BROKER") == "1":
                pytest.fail(f"no rabbitmq-server in {RABBITMQ_BIN} (BOTWERK_REQUIRE_BROKER=1)")
            pytest.skip(f"no rabbitmq-server in {RABBITMQ_BIN} for a throwaway node")
        node = ThrowawayBroker(tmp_path_factory.mktemp("managed"), NodeConfig(management=True))
        node.start()
        request.session._botwerk_managed_node = node  # type: ignore[attr-defined]
        request.config.add_cleanup(node.stop)  # at the end of the session, not the module
        wait_for_api(node.management_url)
    return node


def wait_for_api(url: str, timeout: float = 30.0) -> None:
    give_up = time.monotonic() + timeout
    while True:
        try:
            http_get(url, "overview")
            return
        except OSError:
            if time.monotonic() > give_up:
                raise
            time.sleep(0.2)


def http_get(url: str, path: str, user: str = "guest", password: str = "guest") -> Any:
    base = url.replace("guest:guest@", "")
    request = urllib.request.Request(f"{base}/api/{path}")
    token = b64encode(f"{user}:{password}".encode()).decode()
    request.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


@dataclass(frozen=True)
class Mesh:
    node: ThrowawayBroker
    urls: dict[str, str]  # role -> its amqp URL with its password
    passwords: dict[str, str]


@pytest.fixture(scope="module")
def mesh(request, tmp_path_factory) -> Iterator[Mesh]:
    node = managed_node(request, tmp_path_factory)
    api = brokeradmin.Management(node.management_url, "guest", "guest")
    definitions = brokeradmin.render(NS, TRANSPORTS)
    # Every role rotated: this module's fixture may be set up twice on one session's node (a
    # pytest-xdist worker that steals tests runs the module in two parts), and a second set-up
    # would keep the first one's passwords and tell this one none of them.
    every_role = brokeradmin.roles(definitions, NS)
    accounts = brokeradmin.apply(api, definitions, NS, passwords={}, rotate=every_role)
    passwords = {a.role: a.password for a in accounts if a.password}
    urls = {a.role: brokeradmin.role_url(node.url, a.user, a.password) for a in accounts}
    found = Mesh(node, urls, passwords)
    own_what_each_role_owns(found)
    yield found


def own_what_each_role_owns(mesh: Mesh) -> None:
    """Each role declares its own queues and bindings, as its own user (all allowed)."""
    for role, queue in (("transport-web", WEB_Q), ("transport-console", CONSOLE_Q),
                        ("core", CORE_Q), ("core", OTHER_CORE_Q)):  # fmt: skip
        allowed(mesh.urls[role], declare_reply_queue(queue))
    limits = topology.Limits()
    core = topology.work_queue(N.core_queue("demo"), N.dlx, limits)
    allowed(mesh.urls["core"], lambda ch: (
        ch.queue_declare(core.name, durable=True, arguments=core.arguments),
        ch.queue_bind(core.name, N.inbound, "demo.*"),
    ))  # fmt: skip
    infer = topology.work_queue(N.infer_queue("echo"), N.dlx, limits)
    allowed(mesh.urls["worker"], lambda ch: (
        ch.queue_declare(infer.name, durable=True, arguments=infer.arguments),
        ch.queue_bind(infer.name, N.infer, "echo"),
        ch.queue_declare(EVENTS_Q, arguments={"x-expires": 60_000}),
        ch.queue_bind(EVENTS_Q, N.events, "model.published.echo"),
        ch.queue_bind(EVENTS_Q, N.events, "model.promoted.echo"),
    ))  # fmt: skip


# Trying one operation as one user.


def attempt(url: str, action: Action) -> pika.exceptions.ChannelClosedByBroker | None:
    """Run ``action(channel)`` on a fresh connection; the broker's refusal, or None."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        channel.confirm_delivery()  # a refused publish closes the channel before the confirm
        action(channel)
        connection.process_data_events(0)
    except pika.exceptions.ChannelClosedByBroker as exc:
        return exc
    finally:
        if connection.is_open:
            connection.close()
    return None


def allowed(url: str, action: Action) -> None:
    refusal = attempt(url, action)
    assert refusal is None, f"refused: {refusal}"


def refused(mesh: Mesh, role: str, action: Action) -> None:
    refusal = attempt(mesh.urls[role], action)
    assert refusal is not None, f"{role} was allowed"
    assert refusal.reply_code == 403 and "ACCESS_REFUSED" in refusal.reply_text, refusal
    if not getattr(action, "destructive", False):
        allowed(mesh.node.url, action)  # the administrator may: the 403 is the role's rights


def destructive(action: Action) -> Action:
    """An action the administrator's control run would break the mesh with: no control."""
    action.destructive = True  # type: ignore[attr-defined]
    return action


def declare_reply_queue(queue: str) -> Action:
    return lambda ch: (
        ch.queue_declare(queue, arguments={"x-expires": topology.REPLY_QUEUE_EXPIRES_MS}),
        ch.queue_bind(queue, N.replies, queue),
        ch.basic_consume(queue, lambda *a: None),
    )


def publish(exchange: str, key: str) -> Action:
    return lambda ch: ch.basic_publish(exchange, key, b"\x80")


def consume(queue: str) -> Action:
    return lambda ch: ch.basic_consume(queue, lambda *a: None)


def bind(queue: str, exchange: str, key: str) -> Action:
    return lambda ch: ch.queue_bind(queue, exchange, key)


# What each role needs works.


def test_every_role_checks_the_shared_topology_passively(mesh):
    def check(ch):
        for item in topology.base(N):
            if isinstance(item, topology.Exchange):
                ch.exchange_declare(item.name, passive=True)
            elif isinstance(item, topology.Queue):
                ch.queue_declare(item.name, passive=True)

    for role in mesh.urls:
        allowed(mesh.urls[role], check)


@pytest.mark.parametrize(("role", "exchange", "key"), [
    ("transport-web", N.inbound, "demo.web"),
    ("transport-web", N.dlx, WEB_Q),  # dead-letters what it consumed
    ("core", N.infer, "echo"),
    ("core", N.replies, WEB_Q),  # answers a transport
    ("core", N.events, "component.up.core.demo"),
    ("core", N.dlx, N.core_queue("demo")),
    ("worker", N.replies, CORE_Q),  # answers a core
    ("worker", N.events, "component.down.worker.echo"),
    ("worker", N.events, "model.rejected.bard"),
    ("worker", N.dlx, N.infer_queue("echo")),
    ("trainer", N.events, "model.published.bard"),
])  # fmt: skip
def test_a_role_publishes_where_its_role_sends(mesh, role, exchange, key):
    allowed(mesh.urls[role], publish(exchange, key))


@pytest.mark.parametrize(("role", "queue"), [
    ("transport-web", WEB_Q), ("core", N.core_queue("demo")), ("core", CORE_Q),
    ("worker", N.infer_queue("echo")), ("worker", EVENTS_Q),
])  # fmt: skip
def test_a_role_consumes_its_own_queues(mesh, role, queue):
    allowed(mesh.urls[role], consume(queue))


# What each role must not do is refused.


@pytest.mark.parametrize("action", [
    pytest.param(bind(WEB_Q, N.inbound, "#"), id="bind-own-queue-to-inbound"),
    pytest.param(bind(WEB_Q, N.replies, CONSOLE_Q), id="bind-to-another-transports-replies"),
    pytest.param(bind(WEB_Q, N.replies, "#"), id="bind-to-all-replies"),
    pytest.param(bind(WEB_Q, N.events, "#"), id="bind-to-events"),
    pytest.param(consume(N.core_queue("demo")), id="consume-core-queue"),
    pytest.param(consume(CONSOLE_Q), id="consume-another-transports-replies"),
    pytest.param(consume(CORE_Q), id="consume-a-cores-replies"),
    pytest.param(consume(N.dead), id="consume-dead-letters"),
    pytest.param(lambda ch: ch.queue_declare(f"{NS}.spy"), id="declare-a-queue"),
    pytest.param(destructive(lambda ch: ch.exchange_delete(N.inbound)), id="delete-inbound"),
    pytest.param(destructive(lambda ch: ch.queue_delete(N.dead)), id="delete-dead"),
    pytest.param(publish(N.inbound, "demo.console"), id="pose-as-another-transport"),
    pytest.param(publish(N.inbound, "demo.web.x"), id="inbound-key-not-bot.transport"),
    pytest.param(publish(N.replies, CONSOLE_Q), id="reply-into-another-transport"),
    pytest.param(publish(N.replies, WEB_Q), id="reply-into-its-own-queue"),
    pytest.param(publish("", CONSOLE_Q), id="default-exchange-into-reply-queue"),
    pytest.param(publish("", N.core_queue("demo")), id="default-exchange-into-core-queue"),
    pytest.param(publish(N.infer, "echo"), id="ask-a-model"),
    pytest.param(publish(N.events, "model.published.echo"), id="announce-a-model"),
    pytest.param(publish(N.dlx, N.core_queue("demo")), id="dead-letter-as-a-core"),
])  # fmt: skip
def test_a_transport_may_only_publish_inbound_and_read_its_replies(mesh, action):
    refused(mesh, "transport-web", action)


@pytest.mark.parametrize("action", [
    pytest.param(consume(N.infer_queue("echo")), id="consume-infer-queue"),
    pytest.param(bind(CORE_Q, N.infer, "echo"), id="bind-to-infer"),
    pytest.param(bind(CORE_Q, N.replies, WEB_Q), id="bind-to-a-transports-replies"),
    pytest.param(bind(CORE_Q, N.replies, "#"), id="bind-to-all-replies"),
    pytest.param(consume(WEB_Q), id="consume-a-transports-replies"),
    pytest.param(publish(N.replies, OTHER_CORE_Q), id="reply-into-another-core"),
    pytest.param(publish("", OTHER_CORE_Q), id="default-exchange-into-another-core"),
    pytest.param(publish("", WEB_Q), id="default-exchange-into-a-transport"),
    pytest.param(publish(N.inbound, "demo.web"), id="publish-inbound"),
    pytest.param(publish(N.events, "component.up.worker.echo"), id="pose-as-a-worker"),
    pytest.param(publish(N.events, "model.published.echo"), id="announce-a-model"),
    pytest.param(publish(N.dlx, N.infer_queue("echo")), id="dead-letter-as-a-worker"),
    pytest.param(destructive(lambda ch: ch.queue_delete(N.dead)), id="delete-dead"),
    pytest.param(lambda ch: ch.exchange_declare(N.inbound, "topic", durable=True),
                 id="declare-shared-exchange"),
    pytest.param(lambda ch: ch.queue_declare(N.infer_queue("spy")), id="declare-infer-queue"),
])  # fmt: skip
def test_a_core_may_not_read_models_queues_or_answer_cores(mesh, action):
    refused(mesh, "core", action)


@pytest.mark.parametrize("action", [
    pytest.param(publish(N.inbound, "demo.web"), id="publish-inbound"),
    pytest.param(publish(N.replies, WEB_Q), id="reply-into-a-transport"),
    pytest.param(publish("", WEB_Q), id="default-exchange-into-a-transport"),
    pytest.param(publish("", CORE_Q), id="default-exchange-into-a-core"),
    pytest.param(consume(N.core_queue("demo")), id="consume-core-queue"),
    pytest.param(consume(CORE_Q), id="consume-a-cores-replies"),
    pytest.param(bind(EVENTS_Q, N.events, "component.#"), id="bind-to-component-events"),
    pytest.param(bind(EVENTS_Q, N.inbound, "#"), id="bind-to-inbound"),
    pytest.param(publish(N.events, "model.published.echo"), id="announce-a-model"),
    pytest.param(publish(N.events, "component.up.core.demo"), id="pose-as-a-core"),
    pytest.param(publish(N.dlx, N.core_queue("demo")), id="dead-letter-as-a-core"),
    pytest.param(lambda ch: ch.queue_declare(N.core_queue("spy")), id="declare-core-queue"),
])  # fmt: skip
def test_a_worker_may_not_publish_inbound_or_answer_transports(mesh, action):
    refused(mesh, "worker", action)


@pytest.mark.parametrize("action", [
    pytest.param(consume(N.core_queue("demo")), id="consume-core-queue"),
    pytest.param(consume(N.infer_queue("echo")), id="consume-infer-queue"),
    pytest.param(consume(WEB_Q), id="consume-a-transports-replies"),
    pytest.param(consume(N.dead), id="consume-dead-letters"),
    pytest.param(publish(N.inbound, "demo.web"), id="publish-inbound"),
    pytest.param(publish(N.infer, "echo"), id="ask-a-model"),
    pytest.param(publish(N.replies, WEB_Q), id="reply-into-a-transport"),
    pytest.param(publish("", WEB_Q), id="default-exchange-into-a-transport"),
    pytest.param(publish(N.events, "component.up.core.demo"), id="pose-as-a-core"),
    pytest.param(lambda ch: ch.queue_declare(N.core_queue("spy")), id="declare-core-queue"),
    pytest.param(destructive(lambda ch: ch.queue_delete(N.dead)), id="delete-the-dead-letters"),
    pytest.param(destructive(lambda ch: ch.exchange_delete(N.dlx)), id="delete-the-dlx"),
    pytest.param(destructive(bind(f"{NS}.training.dead", N.dlx, "#")), id="bind-all-dead"),
])  # fmt: skip
def test_a_trainer_may_not_touch_the_chat_path(mesh, action):
    refused(mesh, "trainer", action)


@pytest.mark.parametrize("action", [
    pytest.param(consume(N.dead), id="consume-dead-letters"),
    pytest.param(consume(N.core_queue("demo")), id="consume-core-queue"),
    pytest.param(publish(N.inbound, "demo.web"), id="publish-inbound"),
    pytest.param(publish(N.dlx, N.dead), id="publish-dlx"),
    pytest.param(lambda ch: ch.queue_declare(f"{NS}.spy"), id="declare-a-queue"),
    pytest.param(destructive(lambda ch: ch.queue_purge(N.dead)), id="purge-dead-letters"),
])  # fmt: skip
def test_the_operator_may_not_publish_consume_or_declare(mesh, action):
    refused(mesh, "operator", action)


@pytest.mark.parametrize("action", [
    pytest.param(consume(N.post_queue("web")), id="read-posts"),
    pytest.param(consume(N.core_queue("demo")), id="consume-core-queue"),
    pytest.param(consume(N.dead), id="consume-dead-letters"),
    pytest.param(bind(N.post_queue("web"), N.inbound, "#"), id="bind-posts-to-inbound"),
    pytest.param(publish(N.replies, WEB_Q), id="reply-into-a-transport"),
    pytest.param(publish(N.replies, CORE_Q), id="reply-into-a-core"),
    pytest.param(publish(N.infer, "echo"), id="ask-a-model"),
    pytest.param(publish(N.events, "model.published.bard"), id="pose-as-a-trainer"),
    pytest.param(publish("", N.post_queue("web")), id="default-exchange-into-posts"),
    pytest.param(lambda ch: ch.queue_declare(N.core_queue("spy")), id="declare-core-queue"),
    pytest.param(destructive(lambda ch: ch.queue_delete(N.post_queue("web"))), id="delete-posts"),
])  # fmt: skip
def test_a_scheduler_may_only_post_and_prompt(mesh, action):
    refused(mesh, "scheduler", action)


def test_the_operator_reads_the_management_api(mesh):
    user, password = f"{NS}-operator", mesh.passwords["operator"]
    overview = http_get(mesh.node.management_url, "overview", user, password)
    assert overview["rabbitmq_version"]
    queues = {q["name"] for q in http_get(mesh.node.management_url, "queues", user, password)}
    assert {N.dead, N.core_queue("demo"), N.infer_queue("echo")} <= queues
    with pytest.raises(urllib.error.HTTPError) as refusal:  # no user management
        http_get(mesh.node.management_url, "users", user, password)
    assert refusal.value.code in (401, 403)


def test_a_core_posts_a_transport_reads_only_its_own_posts_and_a_worker_cannot_post(mesh):
    """Posts (issue 17): ``{ns}.post.<kind>`` is its transport's alone to declare, bind and
    read; a core publishes posts to it through ``{ns}.replies``; nobody else does."""
    web, console = N.post_queue("web"), N.post_queue("console")  # made by the setup
    queue = topology.work_queue(web, N.dlx, topology.Limits())
    allowed(mesh.urls["transport-web"], lambda ch: (  # what its gateway does on start
        ch.queue_declare(web, durable=True, arguments=queue.arguments),
        ch.queue_bind(web, N.replies, web),
        ch.basic_consume(web, lambda *a: None),
    ))  # fmt: skip
    allowed(mesh.urls["transport-web"], publish(N.dlx, web))  # dead-letters a bad post
    allowed(mesh.urls["core"], publish(N.replies, web))
    refused(mesh, "transport-web", consume(console))
    refused(mesh, "transport-web", destructive(bind(web, N.replies, console)))
    refused(mesh, "transport-web", publish(N.replies, web))
    refused(mesh, "worker", publish(N.replies, web))
    refused(mesh, "core", consume(web))
    refused(mesh, "trainer", consume(web))


# The roles themselves, each as its own user.


def test_the_mesh_answers_with_each_role_as_its_own_user(mesh, tmp_path):
    env = {"BOTWERK_NAMESPACE": NS, "BOTWERK_LOG_LEVEL": "INFO"}
    processes = Processes(env, tmp_path)
    try:
        processes.env["BOTWERK_AMQP_URL"] = mesh.urls["worker"]
        worker = processes.start("worker", "echo")
        admin.wait_for_consumers(mesh.node.url, N.infer_queue("echo"), timeout=60)
        processes.env["BOTWERK_AMQP_URL"] = mesh.urls["core"]
        core = processes.start("core", "demo")
        admin.wait_for_consumers(mesh.node.url, N.core_queue("demo"), timeout=60)
        processes.env["BOTWERK_AMQP_URL"] = mesh.urls["transport-console"]
        console = processes.start("transport", "console", "--bot", "demo", stdin=subprocess.PIPE)
        out, _ = console.communicate("hello\nping\n", timeout=60)
        logs = "\n".join(processes.log_of(p) for p in (worker, core, console))
        assert console.returncode == 0, logs
        assert sorted(out.splitlines()) == ["demo> echo: hello", "demo> pong"], logs
        assert "ACCESS_REFUSED" not in logs
    finally:
        processes.stop_all()


def test_a_celery_trainer_takes_a_job_and_announces_it_as_the_trainer_user(mesh, tmp_path):
    """`botwerk trainer`, `train --submit` and `jobs follow` with the trainer's URL: the job is
    trained, stored, and its model.published event reaches {ns}.events."""
    from botwerk.infra.settings import Settings
    from botwerk.workers.jobs.records import Records, ResultsUnreachable

    results = os.environ.get("BOTWERK_RESULTS_URL", "redis://127.0.0.1:6379/0")
    records = Records(Settings.load(namespace=NS, results_url=results))
    try:
        records.check()
    except ResultsUnreachable as exc:
        if os.environ.get("BOTWERK_REQUIRE_BROKER") == "1":
            pytest.fail(f"{exc} (BOTWERK_REQUIRE_BROKER=1)")
        pytest.skip(str(exc))
    spy = f"{NS}.spy.published"
    allowed(
        mesh.node.url,
        lambda ch: (ch.queue_declare(spy), ch.queue_bind(spy, N.events, "model.published.#")),
    )
    env = {"BOTWERK_NAMESPACE": NS, "BOTWERK_AMQP_URL": mesh.urls["trainer"],
           "BOTWERK_RESULTS_URL": results, "BOTWERK_MODELS": f"file://{tmp_path / 'models'}",
           "BOTWERK_LOG_LEVEL": "INFO"}  # fmt: skip
    processes = Processes(env, tmp_path)
    try:
        trainer = processes.start("trainer")
        try:
            admin.wait_for_consumers(mesh.node.url, f"{NS}.training", timeout=60)
        except TimeoutError:
            pytest.fail(f"no trainer consuming:\n{processes.log_of(trainer)[-3000:]}")
        corpus = tmp_path / "plays.txt"
        corpus.write_text("to be or not to be that is the question whether tis nobler\n" * 12)
        tiny = ["--epochs", "1", "--hidden", "8", "--embed", "4", "--seq-len", "16",
                "--batch-size", "4"]  # fmt: skip
        submitted = botwerk(processes.env, "train", "charrnn", str(corpus), "--name", "bard",
                            *tiny, "--submit")  # fmt: skip
        job = submitted.stdout.strip().splitlines()[-1]
        followed = botwerk(processes.env, "jobs", "follow", job)
        log = processes.log_of(trainer)
        assert "published bard@1" in followed.stdout + followed.stderr, log
        assert "access_refused" not in log.lower(), log
        got = []
        allowed(mesh.node.url, lambda ch: got.append(ch.basic_get(spy, auto_ack=True)))
        assert got[0][0] is not None, f"no model.published event:\n{log}"
        assert got[0][0].routing_key == "model.published.bard"
    finally:
        processes.stop_all()
        for key in records.redis.scan_iter(match=records.prefix + "*"):
            records.redis.delete(key)


def test_a_scheduler_posts_and_prompts_as_the_scheduler_user(mesh, tmp_path):
    """`botwerk scheduler` with the scheduler's URL: Celery beat and worker on {ns}.scheduled,
    a text post in {ns}.post.web and a prompt in the bot's queue, nothing refused."""
    import redis

    results = os.environ.get("BOTWERK_RESULTS_URL", "redis://127.0.0.1:6379/0")
    schedules = {
        "tick": {"every": 1, "bot": "demo", "transport": "web", "conversation": "c", "text": "hi"},
        "ask": {"every": 1, "bot": "demo", "transport": "web", "conversation": "c",
                "prompt": "ping"},
    }  # fmt: skip
    env = {"BOTWERK_NAMESPACE": NS, "BOTWERK_AMQP_URL": mesh.urls["scheduler"],
           "BOTWERK_STATE_URL": results, "BOTWERK_RESULTS_URL": results,
           "BOTWERK_SCHEDULES": json.dumps(schedules), "BOTWERK_LOG_LEVEL": "INFO"}  # fmt: skip
    processes = Processes(env, tmp_path)
    try:
        scheduler = processes.start("scheduler")
        got: dict[str, Any] = {}

        def take(queue: str, kind: str) -> Callable[[Any], None]:
            def get(ch: Any) -> None:
                while kind not in got and (found := ch.basic_get(queue, auto_ack=True))[0]:
                    if found[1].type == kind:
                        got[kind] = found

            return get

        give_up = time.monotonic() + 30
        while len(got) < 2 and time.monotonic() < give_up and scheduler.poll() is None:
            allowed(mesh.node.url, take(N.post_queue("web"), "botwerk.reply.v1"))
            allowed(mesh.node.url, take(N.core_queue("demo"), "botwerk.inbound.v1"))
            time.sleep(0.2)
        log = processes.log_of(scheduler)
        assert set(got) == {"botwerk.reply.v1", "botwerk.inbound.v1"}, log[-3000:]
        assert got["botwerk.inbound.v1"][1].reply_to == N.post_queue("web")
        assert "access_refused" not in log.lower(), log
    finally:
        processes.stop_all()
        store = redis.Redis.from_url(results)
        for key in store.scan_iter(match=f"botwerk:{NS}:state:schedule:*"):
            store.delete(key)


def botwerk(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "botwerk", *args], env=env, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done
