"""docker-compose.yml, checked by reading it (no Docker engine here): every role is a valid
`botwerk` command with valid settings, reaches the broker service, and can be scaled; and the
file is locked down (issue 13): no guest, one broker user per role that `broker-setup` creates,
every password from the environment, every port published on the host's loopback only."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, urlsplit

import click
import pika
import pika.exceptions
import pytest
import yaml

from botwerk.cli.app import main
from botwerk.infra import brokeradmin
from botwerk.infra.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
TEXT = (ROOT / "docker-compose.yml").read_text()
COMPOSE = yaml.safe_load(TEXT)
SERVICES = COMPOSE["services"]
CLUSTER = "cluster"  # the profile of the three clustered RabbitMQ nodes
CLUSTER_NODES = sorted(
    name for name, spec in SERVICES.items() if CLUSTER in spec.get("profiles", [])
)
THIRD_PARTY = ("rabbitmq", "redis", "prometheus", "grafana", *CLUSTER_NODES)  # their own images
ROLES = {name: spec for name, spec in SERVICES.items() if name not in THIRD_PARTY}
SETUP = "broker-setup"
NO_BROKER_USER = {SETUP, "demo-models"}  # the setup connects as the administrator; demo-models
CONNECTED = {name: spec for name, spec in ROLES.items() if name not in NO_BROKER_USER}
NAMESPACE = "botwerk"

# Compose's interpolation: $$, ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err}, ${VAR?err}.
_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<name>[A-Za-z_]\w*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
    r"|(?P<bare>[A-Za-z_]\w*))"
)


def interpolate(value: str, env: dict[str, str]) -> str:
    """``value`` as docker compose reads it with the environment ``env``."""

    def one(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        name = match["name"] or match["bare"]
        op, arg = match["op"] or "", match["arg"] or ""
        unset = name not in env or (op.startswith(":") and not env[name])
        if unset and op.endswith("?"):
            raise LookupError(f"required variable {name} is missing a value: {arg}")
        return arg if unset and op.endswith("-") else env.get(name, "")

    return _VARIABLE.sub(one, value)


def variables(value: str) -> list[re.Match[str]]:
    return [m for m in _VARIABLE.finditer(value) if not m["escaped"]]


def setup_transports() -> list[str]:
    command = SERVICES[SETUP]["command"]
    return [command[i + 1] for i, arg in enumerate(command) if arg == "--transport"]


def created_users() -> dict[str, str]:
    """Each user `botwerk broker setup` creates for this file's namespace and transports, and
    the variable its password comes from."""
    definitions = brokeradmin.render(NAMESPACE, setup_transports())
    return {
        user: brokeradmin.password_variable(role)
        for role, user in brokeradmin.roles(definitions, NAMESPACE).items()
    }


def expected_user(command: list[str]) -> str:
    """The broker user a role started with ``botwerk COMMAND`` must connect as."""
    role = command[0]
    if role == "transport":
        return f"{NAMESPACE}-transport-{command[1]}"
    if role in ("worker", "core", "trainer", "scheduler"):
        return f"{NAMESPACE}-{role}"
    raise AssertionError(f"no broker user is planned for `botwerk {' '.join(command)}`")


def resolved(value: str) -> str:
    """``value`` with each variable replaced by ``__NAME__``: what is written around them."""
    return interpolate(value, {m["name"] or m["bare"]: f"__{m['name'] or m['bare']}__"
                               for m in variables(value)})  # fmt: skip


def amqp_url(name: str) -> SplitResult:
    return urlsplit(resolved(CONNECTED[name]["environment"]["BOTWERK_AMQP_URL"]))


def strings(node: Any) -> list[str]:
    """Every key and value of the file that docker compose interpolates (not the comments)."""
    if isinstance(node, dict):
        return [text for key, value in node.items() for text in [str(key), *strings(value)]]
    if isinstance(node, list):
        return [text for item in node for text in strings(item)]
    return [node] if isinstance(node, str) else []


VALUES = "\n".join(strings(COMPOSE))


def published_ports() -> list[tuple[str, Any]]:
    return [(name, port) for name, spec in SERVICES.items() for port in spec.get("ports", [])]


# What the demo mesh is made of.


def test_broker_has_the_dashboard_and_a_healthcheck():
    broker = SERVICES["rabbitmq"]
    assert broker["image"].startswith("rabbitmq:3.10-management")
    targets = {port.rsplit(":", 1)[-1] for port in broker["ports"]}
    assert targets == {"5672", "15672", "15692"}  # AMQP, the dashboard, rabbitmq_prometheus
    assert "rabbitmq-diagnostics" in broker["healthcheck"]["test"]


def test_training_jobs_have_redis_and_a_trainer():
    assert "redis-cli" in SERVICES["redis"]["healthcheck"]["test"]
    trainer = SERVICES["trainer"]
    assert trainer["command"] == ["trainer"]
    assert trainer["depends_on"]["redis"]["condition"] == "service_healthy"
    assert trainer["environment"]["BOTWERK_RESULTS_URL"].startswith("redis://redis:6379/")


def test_every_core_keeps_the_bots_memory_in_the_compose_redis():
    """Competing and restarted cores keep each conversation only if they share one store."""
    cores = {name: spec for name, spec in ROLES.items() if spec["command"][0] == "core"}
    assert cores
    for name, spec in cores.items():
        assert spec["environment"]["BOTWERK_STATE_URL"].startswith("redis://redis:6379/"), name
        assert spec["depends_on"]["redis"]["condition"] == "service_healthy", name


def test_the_roles_of_the_demo_mesh_are_all_there():
    commands = {tuple(spec["command"][:2]) for spec in ROLES.values()}
    assert {("worker", "echo"), ("core", "demo"), ("transport", "console")} <= commands
    assert {("worker", "charrnn"), ("worker", "word2vec"), ("worker", "chat")} <= commands
    assert {("core", "billybard"), ("core", "annalogue"), ("core", "moviebot")} <= commands
    assert ("broker", "setup") in commands


@pytest.mark.parametrize("name", sorted(ROLES))
def test_each_role_is_a_valid_botwerk_command(name):
    args = ROLES[name]["command"]
    context = main.make_context("botwerk", list(args), resilient_parsing=False)
    command = main.get_command(context, args[0])
    assert command is not None, f"{name}: no botwerk command {args[0]!r}"
    try:
        sub = command.make_context(args[0], list(args[1:]), parent=context)
        if isinstance(command, click.Group) and len(args) > 1:
            leaf = command.get_command(sub, args[1])
            assert leaf is not None, f"{name}: no botwerk command {' '.join(args[:2])!r}"
            leaf.make_context(args[1], list(args[2:]), parent=sub)
    except click.UsageError as exc:
        pytest.fail(f"{name}: {' '.join(args)}: {exc}")


@pytest.mark.parametrize("name", sorted(CONNECTED))
def test_each_role_reaches_the_broker_service_and_waits_for_its_user(name):
    spec = CONNECTED[name]
    assert "@rabbitmq:5672" in spec["environment"]["BOTWERK_AMQP_URL"]
    assert spec["depends_on"]["rabbitmq"]["condition"] == "service_healthy"
    assert spec["depends_on"][SETUP]["condition"] == "service_completed_successfully"
    assert "container_name" not in spec, "a fixed container name prevents --scale"
    assert spec["build"] == "."


@pytest.mark.parametrize("name", sorted(ROLES))
def test_each_role_environment_is_valid_settings(name):
    env = {key: resolved(str(value)) for key, value in ROLES[name]["environment"].items()}
    if name == SETUP:  # the passwords it gives the users, read by `botwerk broker setup`
        env = {key: value for key, value in env.items() if not key.endswith(("_PASSWORD", "_USER"))}
    fields = {f"BOTWERK_{field.upper()}": field for field in Settings.model_fields}
    unknown = set(env) - set(fields)
    assert not unknown, f"{name}: not Botwerk settings: {unknown}"
    values = {fields[key]: value for key, value in env.items()}
    for field, value in values.items():  # dict settings come as JSON, as in the environment
        if Settings.model_fields[field].annotation == dict[str, dict[str, Any]]:
            values[field] = json.loads(value)
    Settings.load(**values)


def test_the_web_chat_listens_on_every_interface_of_its_container_only():
    web = SERVICES["web"]
    options = json.loads(web["environment"]["BOTWERK_TRANSPORTS"])["web"]
    assert options["host"] == "0.0.0.0"  # inside the container; the host publishes it (below)
    assert [port.rsplit(":", 1)[-1] for port in web["ports"]] == [str(options["port"])]


def test_the_image_installs_the_project_without_pulling_an_unpinned_torch():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install '.[all]'" in dockerfile
    assert 'ENTRYPOINT ["botwerk"]' in dockerfile
    assert "torch" not in dockerfile or "torch==" in dockerfile


def test_the_image_copies_every_folder_the_package_is_made_of():
    dockerfile = (ROOT / "Dockerfile").read_text()
    folders = ["botwerk", *(p.name for p in (ROOT / "botwerk").iterdir() if p.is_symlink())]
    for folder in folders:
        assert f"COPY {folder} {folder}" in dockerfile, f"the image lacks {folder}/"


# Locked down (issue 13).


def test_no_guest_anywhere():
    assert "guest" not in TEXT.lower(), "guest is an administrator: use the role users"


def test_the_broker_administrator_comes_from_the_environment():
    env = SERVICES["rabbitmq"]["environment"]
    assert variables(env["RABBITMQ_DEFAULT_USER"]), "the administrator's name: from the env"
    (password,) = variables(env["RABBITMQ_DEFAULT_PASS"])
    assert password["op"] == ":?", "no default administrator password: compose must refuse"


def test_every_published_port_binds_the_hosts_loopback_unless_the_user_says_otherwise():
    assert published_ports()
    for name, port in published_ports():
        assert isinstance(port, str), f"{name}: write ports as HOST_IP:HOST_PORT:PORT"
        host = interpolate(port, {}).rsplit(":", 2)
        assert len(host) == 3 and host[0] == "127.0.0.1", f"{name}: {port} is not on loopback"
        chosen = interpolate(port, {m["name"]: "192.0.2.1" for m in variables(port)})
        assert chosen.startswith("192.0.2.1:"), f"{name}: {port}: a variable should choose it"


@pytest.mark.parametrize("name", sorted(CONNECTED))
def test_each_role_connects_as_its_own_user_which_broker_setup_creates(name):
    url = amqp_url(name)
    assert url.username == expected_user(CONNECTED[name]["command"]), name
    assert url.username in created_users(), f"{name}: `broker setup` creates no {url.username}"


@pytest.mark.parametrize("name", sorted(CONNECTED))
def test_each_role_password_is_the_one_broker_setup_gives_its_user(name):
    written = CONNECTED[name]["environment"]["BOTWERK_AMQP_URL"]
    (password,) = variables(written)
    assert amqp_url(name).password == f"__{password['name']}__", f"{name}: the password not all"
    assert password["op"] == ":?", f"{name}: compose must refuse to start without the password"
    variable = created_users()[amqp_url(name).username or ""]
    given = SERVICES[SETUP]["environment"][variable]  # what broker setup sets it to
    assert [m["name"] for m in variables(given)] == [password["name"]], name


def test_broker_setup_gives_every_user_it_creates_a_password_from_the_environment():
    env = SERVICES[SETUP]["environment"]
    for user, variable in created_users().items():
        assert variable in env, f"{SETUP}: no {variable}: {user} would get a random password"
        (given,) = variables(env[variable])
        assert given.group(0) == env[variable] and given["op"] == ":?", f"{SETUP}: {variable}"


def test_broker_setup_runs_once_the_broker_answers_and_then_exits():
    setup = SERVICES[SETUP]
    assert setup["depends_on"]["rabbitmq"]["condition"] == "service_healthy"
    assert setup["restart"] == "no"
    assert "@" not in json.dumps(setup["environment"]), "the admin password not in a URL: logs"


def test_what_needs_no_role_user_gets_none():
    for name in NO_BROKER_USER:  # demo-models only writes the store; setup uses the HTTP API
        assert "BOTWERK_AMQP_URL" not in SERVICES[name]["environment"], name


def test_no_password_is_written_in_the_file():
    secret = re.compile(r"PASS|PASSWORD|SECRET|TOKEN|KEY", re.I)
    for name, spec in SERVICES.items():
        for key, value in (spec.get("environment") or {}).items():
            value = str(value)
            if secret.search(key):
                refs = variables(value)
                assert len(refs) == 1 and refs[0].group(0) == value, f"{name}: {key} is written"
                assert refs[0]["op"] == ":?", f"{name}: {key} has a default"
            password = urlsplit(resolved(value)).password if "://" in value else None
            if password is not None:
                assert re.fullmatch(r"__\w+__", password), f"{name}: {key} has a password"


def test_env_example_names_every_variable_and_holds_no_secret():
    example = (ROOT / ".env.example").read_text()
    listed = set(re.findall(r"^#? ?([A-Z_][A-Z0-9_]*)=", example, flags=re.M))
    used = {m["name"] or m["bare"] for m in variables(VALUES)}
    assert used <= listed, f".env.example lacks {sorted(used - listed)}"
    for key, value in re.findall(r"^([A-Z_][A-Z0-9_]*)=(.*)$", example, flags=re.M):
        assert not (key.endswith("PASSWORD") and value), f".env.example gives {key} a value"


def test_the_compose_file_needs_every_password_and_nothing_else():
    passwords = {m["name"] for m in variables(VALUES) if m["name"] and m["op"] == ":?"}
    assert passwords and all(name.endswith("_PASSWORD") for name in passwords), passwords
    env = {name: "s3cret" for name in passwords}
    interpolate(VALUES, env)  # no error: the passwords are all compose needs
    for name in passwords:
        with pytest.raises(LookupError, match=name):
            interpolate(VALUES, {k: v for k, v in env.items() if k != name})


def test_dot_env_is_git_ignored():
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    ignored = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=ROOT, check=False)
    assert ignored.returncode == 0, ".env holds the passwords: add it to .gitignore"
    example = subprocess.run(["git", "check-ignore", "-q", ".env.example"], cwd=ROOT, check=False)
    assert example.returncode == 1, ".env.example is the template: it must not be ignored"


# Metrics (issue 15): Prometheus scrapes every role and the broker; Grafana shows the board.

PROMETHEUS = yaml.safe_load((ROOT / "infra/prometheus/prometheus.yml").read_text())
INTERACTIVE = {"console"}  # `docker compose run`: a terminal session, not a service to scrape


def mounted(service: str, target: str) -> Path:
    """The file or folder of this repository that ``service`` mounts on ``target``."""
    for volume in SERVICES[service].get("volumes", []):
        source, _, rest = volume.partition(":")
        if rest.split(":")[0] == target:
            assert source.startswith("./"), f"{service}: {target} is not from the repository"
            return ROOT / source
    raise AssertionError(f"{service} mounts nothing on {target}")


def scrape_job(name: str) -> dict[str, Any]:
    (job,) = [job for job in PROMETHEUS["scrape_configs"] if job["job_name"] == name]
    return job


def container_port(service: str) -> int:
    (port,) = SERVICES[service]["ports"]
    return int(port.rsplit(":", 1)[-1])


def test_the_broker_enables_rabbitmq_prometheus():
    plugins = mounted("rabbitmq", "/etc/rabbitmq/enabled_plugins")
    erl = shutil.which("erl") or pytest.fail("no erl: install Debian's rabbitmq-server")
    read = f'{{ok, [P]}} = file:consult("{plugins}"), io:format("~w", [P]), halt().'
    done = subprocess.run([erl, "-noshell", "-eval", read], capture_output=True, text=True,
                          timeout=30, check=False)  # fmt: skip
    assert done.returncode == 0, f"RabbitMQ cannot read {plugins}: {done.stdout}{done.stderr}"
    enabled = set(done.stdout.strip("[]").split(","))
    assert {"rabbitmq_management", "rabbitmq_prometheus"} <= enabled


def test_prometheus_scrapes_every_role_service_on_its_metrics_port():
    assert mounted("prometheus", "/etc/prometheus/prometheus.yml").samefile(
        ROOT / "infra/prometheus/prometheus.yml"
    )
    (dns,) = scrape_job("botwerk")["dns_sd_configs"]
    assert dns["type"] == "A"  # one record per container: every replica of a --scale is scraped
    served = {name for name in CONNECTED if name not in INTERACTIVE}
    assert set(dns["names"]) == served, "prometheus.yml and the role services differ"
    for name in served:
        port = ROLES[name]["environment"].get("BOTWERK_METRICS_PORT")
        assert str(port) == str(dns["port"]), f"{name} serves no metrics on {dns['port']}"


def test_prometheus_scrapes_the_brokers_totals_and_each_queue():
    paths = {}
    for job in ("rabbitmq", "rabbitmq-per-object"):
        (static,) = scrape_job(job)["static_configs"]
        assert static["targets"] == ["rabbitmq:15692"], job
        paths[job] = scrape_job(job).get("metrics_path", "/metrics")
    assert paths == {"rabbitmq": "/metrics", "rabbitmq-per-object": "/metrics/per-object"}


def test_grafana_is_provisioned_with_prometheus_and_the_botwerk_board():
    provisioning = mounted("grafana", "/etc/grafana/provisioning")
    (source,) = yaml.safe_load((provisioning / "datasources/prometheus.yml").read_text())[
        "datasources"
    ]
    url = urlsplit(source["url"])
    assert (url.hostname, url.port) == ("prometheus", container_port("prometheus"))
    (provider,) = yaml.safe_load((provisioning / "dashboards/botwerk.yml").read_text())["providers"]
    boards = mounted("grafana", provider["options"]["path"])
    assert (boards / "botwerk.json").is_file()
    home = SERVICES["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{provider['options']['path']}/botwerk.json"


def test_grafana_has_no_default_password_and_no_anonymous_access():
    env = SERVICES["grafana"]["environment"]
    (password,) = variables(env["GF_SECURITY_ADMIN_PASSWORD"])
    assert password["op"] == ":?", "Grafana's admin password: from .env, with no default"
    assert str(env.get("GF_AUTH_ANONYMOUS_ENABLED", "false")).lower() == "false"
    assert str(env.get("GF_USERS_ALLOW_SIGN_UP")).lower() == "false"


# The file's wiring against a real broker: what broker-setup is given sets up every role's user.


def compose_env(passwords: dict[str, str], environment: dict[str, str]) -> dict[str, str]:
    """A service's ``environment`` as its container sees it, given the .env ``passwords``."""
    return {key: interpolate(str(value), passwords) for key, value in environment.items()}


def broker_setup(node: Any, env: dict[str, str], *args: str) -> str:
    """Run the broker-setup service's command as compose would, against ``node``."""
    env = env | {"BOTWERK_MANAGEMENT_URL": node.management_url.replace("guest:guest@", "")}
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("BOTWERK_")}
    done = subprocess.run(
        [sys.executable, "-m", "botwerk", *SERVICES[SETUP]["command"], *args],
        env=inherited | env, cwd=node.root, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


def on_node(node: Any, url: str) -> str:
    """A role's URL from the file, pointed at ``node`` instead of the rabbitmq service."""
    return url.replace("@rabbitmq:5672/", f"@127.0.0.1:{urlsplit(node.url).port}/")


def connected(url: str) -> pika.BlockingConnection:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    for exchange in ("inbound", "replies", "dlx"):  # made by broker-setup; passive: no right
        channel.exchange_declare(f"{NAMESPACE}.{exchange}", passive=True)
    return connection


def closed_by_broker(connection: pika.BlockingConnection, within_s: float = 5.0) -> bool:
    for _ in range(int(within_s / 0.1)):
        try:
            connection.process_data_events(time_limit=0.1)
        except pika.exceptions.ConnectionClosedByBroker:
            return True
    return False


@pytest.mark.broker
@pytest.mark.slow
def test_broker_setup_as_the_file_runs_it_lets_every_role_in_and_rotates(request, tmp_path_factory):
    from tests.infra.test_permissions import managed_node

    node = managed_node(request, tmp_path_factory)
    passwords = {name: secrets.token_hex(8) for name in created_users().values()}
    admin = {"BOTWERK_ADMIN_USER": "guest", "BOTWERK_ADMIN_PASSWORD": "guest"}  # the node's
    env = compose_env(passwords | admin, SERVICES[SETUP]["environment"])
    printed = broker_setup(node, env)
    assert not any(password in printed for password in passwords.values()), "printed a password"
    for name in sorted(CONNECTED):
        url = compose_env(passwords, CONNECTED[name]["environment"])["BOTWERK_AMQP_URL"]
        connected(on_node(node, url)).close()

    # docs/security.md, rotating the core's password with the passwords in .env:
    old_url = on_node(node, compose_env(passwords, CONNECTED["core-demo"]["environment"])[
        "BOTWERK_AMQP_URL"])  # fmt: skip
    holder = connected(old_url)  # a connection made with the old password (a leaked one, say)
    passwords["BOTWERK_CORE_PASSWORD"] = secrets.token_hex(8)  # 1. a new one in .env, setup again
    env["BOTWERK_CORE_PASSWORD"] = passwords["BOTWERK_CORE_PASSWORD"]
    broker_setup(node, env)
    with pytest.raises(pika.exceptions.AMQPConnectionError):
        connected(old_url)
    new_url = compose_env(passwords, CONNECTED["core-demo"]["environment"])["BOTWERK_AMQP_URL"]
    rolled = connected(on_node(node, new_url))  # 2. the role's processes, rolled
    assert holder.is_open  # RabbitMQ checks a password only when a connection opens, so:
    node.ctl("close_all_user_connections", f"{NAMESPACE}-core", "password rotated")  # 3.
    assert closed_by_broker(holder)
    assert closed_by_broker(rolled)  # every process of the role reconnects, with...
    connected(on_node(node, new_url)).close()  # ...the new password


# Health (issue 15): every role serves /readyz on 9100, and compose asks it.

READYZ = "http://127.0.0.1:9100/readyz"


@pytest.mark.parametrize("name", sorted(CONNECTED))
def test_each_role_serves_metrics_on_9100_and_its_healthcheck_asks_readyz(name):
    spec = CONNECTED[name]
    assert str(spec["environment"]["BOTWERK_METRICS_PORT"]) == "9100", name
    test = spec["healthcheck"]["test"]
    assert test[:2] == ["CMD", "python"], f"{name}: the image has python, not curl"
    assert READYZ in test[-1], f"{name}: its healthcheck does not ask {READYZ}"


def test_the_healthcheck_passes_only_on_a_ready_role():
    from botwerk.infra import metrics

    server = metrics.serve(0, host="127.0.0.1")
    reasons: list[str] = []
    metrics.watch("test", "compose", lambda: reasons)
    try:
        for test in {tuple(spec["healthcheck"]["test"]) for spec in CONNECTED.values()}:
            command = [sys.executable, *test[2:-1], test[-1].replace(":9100/", f":{server.port}/")]
            reasons[:] = ["model loading"]
            assert _exit_status(command) != 0, f"{test}: passes while the role is not ready"
            reasons.clear()
            assert _exit_status(command) == 0, f"{test}: fails on a ready role"
    finally:
        metrics.forget()
        server.close()


def _exit_status(command: list[str]) -> int:
    return subprocess.run(command, capture_output=True, timeout=30, check=False).returncode


# The cluster profile (issue 18): three RabbitMQ nodes that form one cluster by themselves.

CLUSTER_CONF = "/etc/rabbitmq/conf.d/20-cluster.conf"


def cluster_conf() -> dict[str, str]:
    """infra/rabbitmq/cluster.conf's settings (rabbitmq.conf's ``key = value`` lines)."""
    lines = mounted(CLUSTER_NODES[0], CLUSTER_CONF).read_text().splitlines()
    pairs = [line.split("=", 1) for line in lines if line.strip() and not line.startswith("#")]
    return {key.strip(): value.strip() for key, value in pairs}


def test_the_cluster_profile_is_three_nodes_and_leaves_the_default_profile_alone():
    assert len(CLUSTER_NODES) == 3
    default = {name: spec for name, spec in SERVICES.items() if not spec.get("profiles")}
    assert "rabbitmq" in default and not set(CLUSTER_NODES) & set(default)
    for name, spec in SERVICES.items():
        if name not in CLUSTER_NODES:  # nothing of the default profile waits for a cluster node
            assert not set(spec.get("depends_on", {})) & set(CLUSTER_NODES), name
    for name in CLUSTER_NODES:
        node = SERVICES[name]
        assert node["profiles"] == [CLUSTER] and node["image"] == SERVICES["rabbitmq"]["image"]
        assert mounted(name, "/etc/rabbitmq/enabled_plugins") == mounted(
            "rabbitmq", "/etc/rabbitmq/enabled_plugins"
        )


def test_each_cluster_node_keeps_its_own_data():
    data = {}
    for name in CLUSTER_NODES:
        (volume,) = [v for v in SERVICES[name]["volumes"] if v.endswith(":/var/lib/rabbitmq")]
        data[name] = volume.split(":")[0]
    assert len(set(data.values())) == 3 and set(data.values()) <= set(COMPOSE["volumes"])
    assert "rabbitmq-data" not in data.values(), "the default node's data is its own"


def test_the_cluster_nodes_name_each_other_and_start_one_first():
    """Classic config: each node lists all three by node name, rabbit@<hostname>; the second
    and third start once the first is up, so they join it rather than form clusters of one."""
    conf = cluster_conf()
    assert conf.pop("cluster_formation.peer_discovery_backend") == "classic_config"
    assert conf.pop("cluster_partition_handling") == "autoheal"  # why: the file says
    listed = {v for k, v in conf.items() if k.startswith("cluster_formation.classic_config.nodes.")}
    assert listed == {f"rabbit@{SERVICES[name]['hostname']}" for name in CLUSTER_NODES}
    assert all(k.startswith("cluster_formation.classic_config.nodes.") for k in conf), conf
    first, *others = CLUSTER_NODES
    for name in others:
        assert SERVICES[name]["depends_on"] == {first: {"condition": "service_healthy"}}
        assert mounted(name, CLUSTER_CONF) == mounted(first, CLUSTER_CONF)


def test_the_cluster_nodes_share_a_cookie_from_the_environment_and_refuse_to_start_without():
    """No default cookie (whoever knows it controls the nodes); no `:?` either, which compose
    would enforce on the default profile too: the node's command refuses an empty cookie."""
    for name in CLUSTER_NODES:
        env = SERVICES[name]["environment"]
        (cookie,) = variables(env["RABBITMQ_ERLANG_COOKIE"])
        assert cookie.group(0) == env["RABBITMQ_ERLANG_COOKIE"]
        assert (cookie["name"], cookie["op"], cookie["arg"]) == ("BOTWERK_ERLANG_COOKIE", ":-", "")
        assert variables(env["RABBITMQ_DEFAULT_PASS"])[0]["op"] == ":?", name
    sh, flag, script = SERVICES[CLUSTER_NODES[0]]["command"]
    script = interpolate(script, {}).replace("exec docker-entrypoint.sh", "exec true")
    for cookie_value, status in (("", 1), ("c0ffee", 0)):
        done = subprocess.run([sh, flag, script], env={"RABBITMQ_ERLANG_COOKIE": cookie_value},
                              capture_output=True, text=True, timeout=10, check=False)  # fmt: skip
        assert done.returncode == status, done.stderr
    assert "BOTWERK_ERLANG_COOKIE in .env" in done.stderr or status == 0


@pytest.mark.slow
def test_three_nodes_with_the_cluster_conf_and_one_cookie_form_one_cluster(tmp_path):
    """The file as the nodes read it, with this machine's node names for the containers'."""
    from concurrent.futures import ThreadPoolExecutor

    from tests.support.broker import ThrowawayBroker
    from tests.support.plugin import _need_rabbitmq_server

    _need_rabbitmq_server()
    nodes = [ThrowawayBroker(tmp_path / name) for name in CLUSTER_NODES]
    text = mounted(CLUSTER_NODES[0], CLUSTER_CONF).read_text()
    for name, node in zip(CLUSTER_NODES, nodes, strict=True):
        text = text.replace(f"rabbit@{SERVICES[name]['hostname']}\n", f"{node.name}\n")
    cookie = secrets.token_hex(16)
    for node in nodes:
        with (node.root / "rabbitmq.conf").open("a") as conf:
            conf.write(text)
        (node.root / ".erlang.cookie").chmod(0o600)
        (node.root / ".erlang.cookie").write_text(cookie)
        (node.root / ".erlang.cookie").chmod(0o400)
    try:
        nodes[0].start()  # compose: the others wait for the first to be healthy, then start
        with ThreadPoolExecutor() as pool:
            list(pool.map(lambda node: node.start(), nodes[1:]))
        status = json.loads(nodes[0].ctl("cluster_status", "--formatter", "json"))
        assert sorted(status["running_nodes"]) == sorted(node.name for node in nodes)
    finally:
        for node in nodes:
            if node.running:
                node.kill()
