"""infra/k8s/, checked by reading it (no cluster here): the core resources against Kubernetes'
own schemas (kubernetes-validate, strict: an unknown field fails), KEDA's resources against the
models generated from KEDA's CRDs (cloudcoil-models-keda 2.16.1.0: KEDA 2.16's CRDs, the last
release for Python 3.11), and every role against the code it runs: a real `botwerk` command,
real settings, the queue the topology makes, the probes on the metrics port, the broker user
`broker setup` makes, and the same role as docker-compose.yml.

No PyPI package carries the RabbitMQ Cluster Operator's CRD schema, so the RabbitmqCluster is
checked against the short list of the CRD's fields it uses (``RABBITMQ_CLUSTER_FIELDS``).
"""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from typing import Any

import click
import kubernetes_validate
import pytest
import yaml
from cloudcoil.models.keda import v1alpha1 as keda

from botwerk.cli.app import main
from botwerk.infra import brokeradmin
from botwerk.infra.settings import Settings
from botwerk.infra.topology import Names
from tests.test_compose import CONNECTED, INTERACTIVE, SERVICES, expected_user

ROOT = Path(__file__).resolve().parent.parent
K8S = ROOT / "infra/k8s"
KUSTOMIZATION = yaml.safe_load((K8S / "kustomization.yaml").read_text())
DOCS = [
    (name, doc)
    for name in KUSTOMIZATION["resources"]
    for doc in yaml.safe_load_all((K8S / name).read_text())
    if doc is not None
]
CUSTOM = {"rabbitmq.com/v1beta1", "keda.sh/v1alpha1"}  # CRDs: not in Kubernetes' own schemas
KUBERNETES_VERSIONS = ("1.30.0", kubernetes_validate.latest_version())  # oldest we name, newest


def of_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for _, doc in DOCS if doc["kind"] == kind}


DEPLOYMENTS = of_kind("Deployment")
PODS = {
    name: doc["spec"]["template"]["spec"] for name, doc in (DEPLOYMENTS | of_kind("Job")).items()
}
SETTINGS = of_kind("ConfigMap")["botwerk-settings"]["data"]
(CLUSTER,) = of_kind("RabbitmqCluster").values()
NAMESPACE = SETTINGS["BOTWERK_NAMESPACE"]  # the AMQP names' prefix, not the Kubernetes namespace
SECRETS_SH = (K8S / "secrets.sh").read_text()
MADE_SECRETS = {  # secret name: the keys secrets.sh gives it
    name: set(re.findall(r"--from-literal=(\w+)=", body))
    for name, body in re.findall(r"create secret generic (\S+)(.*?)\| kubectl", SECRETS_SH, re.S)
}
OPERATOR_SECRET = {f"{CLUSTER['metadata']['name']}-default-user": {"username", "password"}}
TORCH_KINDS = {p.parent.name for p in (ROOT / "workers").glob("*/*.py")
               if re.search(r"^\s*(import|from) torch\b", p.read_text(), re.M)}  # fmt: skip


def container(name: str) -> dict[str, Any]:
    (only,) = PODS[name]["containers"]
    return only


def loaded(name: str) -> dict[str, Any]:
    """The variables of the ConfigMaps the container loads whole (envFrom)."""
    refs = [source["configMapRef"]["name"] for source in container(name).get("envFrom", [])
            if "configMapRef" in source]  # fmt: skip
    return {key: value for ref in refs for key, value in of_kind("ConfigMap")[ref]["data"].items()}


def env(name: str) -> dict[str, Any]:
    """What the container sees: what it loads, then its own env (a value, or a valueFrom)."""
    own = container(name).get("env", [])
    return loaded(name) | {e["name"]: e.get("value", e.get("valueFrom")) for e in own}


SETUP_ARGS = container("broker-setup")["args"]
SETUP_TRANSPORTS = [kind for flag, kind in itertools.pairwise(SETUP_ARGS) if flag == "--transport"]


def worker_queue(args: list[str]) -> str:
    """The queue `botwerk worker MODEL [--name NAME]` consumes."""
    served = args[args.index("--name") + 1] if "--name" in args else args[1]
    return Names(NAMESPACE).infer_queue(served)


def test_kustomization_lists_every_manifest_and_sets_the_namespace():
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(KUSTOMIZATION["resources"]) == on_disk
    (namespace,) = of_kind("Namespace")
    assert KUSTOMIZATION["namespace"] == namespace


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_core_resources_validate_against_kubernetes_schemas(version):
    core = [(name, doc) for name, doc in DOCS if doc["apiVersion"] not in CUSTOM]
    assert {doc["kind"] for _, doc in core} >= {"Deployment", "Job", "StatefulSet", "Service"}
    for name, doc in core:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = ".".join(map(str, exc.absolute_path))
            pytest.fail(f"{name}: {doc['kind']} {doc['metadata']['name']}: {where}: {exc.message}")


@pytest.mark.parametrize("kind", ["ScaledObject", "TriggerAuthentication"])
def test_keda_resources_validate_against_kedas_crd_models(kind):
    """The models type every field; a field the CRD lacks is dropped, so compare round trips."""
    model = getattr(keda, kind)
    assert of_kind(kind)
    for name, doc in of_kind(kind).items():
        dumped = model.model_validate(doc).model_dump(by_alias=True, exclude_unset=True)
        assert dumped == doc, f"{kind} {name}: fields KEDA's CRD does not know, or retyped"


RABBITMQ_CLUSTER_FIELDS = {  # the operator's CRD (rabbitmq.com/v1beta1), the fields used here
    "spec": {"replicas", "image", "rabbitmq", "resources", "persistence", "service", "override"},
    "spec.rabbitmq": {"additionalPlugins", "additionalConfig", "advancedConfig", "envConfig"},
    "spec.persistence": {"storage", "storageClassName"},
}


def test_the_rabbitmq_cluster_has_three_nodes_its_plugins_and_a_disk_each():
    assert (CLUSTER["apiVersion"], CLUSTER["kind"]) == ("rabbitmq.com/v1beta1", "RabbitmqCluster")
    for path, known in RABBITMQ_CLUSTER_FIELDS.items():
        node = CLUSTER
        for key in path.split("."):
            node = node[key]
        assert set(node) <= known, f"RabbitmqCluster {path}: not the CRD's {set(node) - known}"
    spec = CLUSTER["spec"]
    assert spec["replicas"] == 3  # a quorum queue survives one node lost
    assert {"rabbitmq_management", "rabbitmq_prometheus"} <= set(
        spec["rabbitmq"]["additionalPlugins"]
    )
    assert re.fullmatch(r"\d+[MGT]i", spec["persistence"]["storage"])
    assert spec["resources"]["requests"] and spec["resources"]["limits"]


def test_the_operators_nodes_handle_partitions_as_the_compose_nodes_and_the_harness_do():
    """One choice (autoheal, infra/rabbitmq/cluster.conf says why) for every cluster Botwerk
    ships or tests: the operator's default would be pause_minority."""
    from tests.support.cluster import CLUSTER_CONF

    ours = "cluster_partition_handling = autoheal"
    assert ours in CLUSTER["spec"]["rabbitmq"]["additionalConfig"].splitlines()
    assert ours in (ROOT / "infra/rabbitmq/cluster.conf").read_text().splitlines()
    assert CLUSTER_CONF.strip() == ours


COMPOSE_ONLY = {"BOTWERK_AMQP_URL", "BOTWERK_MANAGEMENT_URL"}  # the broker's address differs
# A GPU worker that asked for one: cuda, never a silent CPU; and the heartbeat that notices a
# silent cluster node sooner (compose's default broker is one node).
OURS_ONLY = {"BOTWERK_DEVICE", "BOTWERK_HEARTBEAT_S"}


def test_every_role_of_the_compose_file_is_here_with_its_command_and_settings():
    """Drift: a role added to, or changed in, docker-compose.yml but not here (or the reverse)."""
    assert set(DEPLOYMENTS) == {name for name in CONNECTED if name not in INTERACTIVE}
    for name in [*DEPLOYMENTS, "demo-models"]:
        assert container(name)["args"] == SERVICES[name]["command"], name
    assert SETUP_ARGS[:2] == SERVICES["broker-setup"]["command"][:2]
    assert "web" in SETUP_TRANSPORTS  # console is `docker compose run`: no Deployment
    for name in [*DEPLOYMENTS, "broker-setup", "demo-models"]:
        ours = {k: str(v) for k, v in env(name).items() if isinstance(v, str)}
        theirs = {k: str(v) for k, v in SERVICES[name]["environment"].items()}
        if name == "broker-setup":  # compose gives the passwords one by one, a Secret here
            theirs = {k: v for k, v in theirs.items() if not k.endswith(("_PASSWORD", "_USER"))}
        drop = COMPOSE_ONLY | OURS_ONLY
        assert {k: v for k, v in ours.items() if k not in drop} == {
            k: v for k, v in theirs.items() if k not in drop
        }, name


@pytest.mark.parametrize("name", sorted(PODS))
def test_each_role_runs_a_real_botwerk_command(name):
    args = container(name)["args"]
    context = main.make_context("botwerk", list(args), resilient_parsing=False)
    command = main.get_command(context, args[0])
    assert command is not None, f"{name}: no botwerk command {args[0]!r}"
    try:
        sub = command.make_context(args[0], list(args[1:]), parent=context)
        if isinstance(command, click.Group):
            leaf = command.get_command(sub, args[1])
            assert leaf is not None, f"{name}: no botwerk command {' '.join(args[:2])!r}"
            leaf.make_context(args[1], list(args[2:]), parent=sub)
    except click.UsageError as exc:
        pytest.fail(f"{name}: botwerk {' '.join(args)}: {exc}")


@pytest.mark.parametrize("name", sorted(PODS))
def test_each_role_environment_is_valid_settings(name):
    """Every BOTWERK_* variable is a setting, with a value Settings takes; nothing else is set
    but the password that fills the broker URL, from a Secret, defined before its use."""
    fields = {f"BOTWERK_{field.upper()}": field for field in Settings.model_fields}
    values: dict[str, Any] = {}
    defined = set(loaded(name))
    for entry in container(name).get("env", []):
        key, value = entry["name"], entry.get("value")
        for used in re.findall(r"\$\((\w+)\)", value or ""):  # Kubernetes expands earlier ones only
            assert used in defined, f"{name}: {key} uses $({used}) before it is defined"
        defined.add(key)
        if not key.startswith("BOTWERK_"):
            assert "secretKeyRef" in entry["valueFrom"], f"{name}: {key} is not a setting"
    for key, value in env(name).items():
        if name == "broker-setup" and key in ("BOTWERK_ADMIN_USER", "BOTWERK_ADMIN_PASSWORD"):
            continue  # `broker setup` reads the administrator's login itself
        if key.startswith("BOTWERK_"):
            assert key in fields, f"{name}: {key} is not a Botwerk setting"
            values[fields[key]] = (
                re.sub(r"\$\((\w+)\)", "x", value) if isinstance(value, str) else value
            )
    for field in ("bots", "transports", "schedules"):  # dict settings come as JSON
        if field in values:
            values[field] = yaml.safe_load(values[field])
    Settings.load(**values)


@pytest.mark.parametrize("name", sorted(DEPLOYMENTS))
def test_each_role_connects_as_its_own_user_with_its_password_to_the_clusters_service(name):
    url = env(name)["BOTWERK_AMQP_URL"]
    user = expected_user(container(name)["args"])
    assert url == f"amqp://{user}:$(AMQP_PASSWORD)@{CLUSTER['metadata']['name']}:5672/", name
    secret = env(name)["AMQP_PASSWORD"]["secretKeyRef"]
    made = brokeradmin.roles(brokeradmin.render(NAMESPACE, SETUP_TRANSPORTS), NAMESPACE)
    role = {made_user: role for role, made_user in made.items()}[user]
    assert secret == {"name": "botwerk-passwords", "key": brokeradmin.password_variable(role)}


def test_broker_setup_gets_every_password_and_the_operators_administrator():
    made = brokeradmin.roles(brokeradmin.render(NAMESPACE, SETUP_TRANSPORTS), NAMESPACE)
    wanted = {brokeradmin.password_variable(role) for role in made}
    assert wanted <= MADE_SECRETS["botwerk-passwords"], "secrets.sh lacks a role's password"
    (source,) = container("broker-setup")["envFrom"]
    assert source == {"secretRef": {"name": "botwerk-passwords"}}
    admin = {k: v["secretKeyRef"] for k, v in env("broker-setup").items() if k.endswith(
        ("_USER", "_PASSWORD"))}  # fmt: skip
    assert admin == {
        "BOTWERK_ADMIN_USER": {"name": "rabbitmq-default-user", "key": "username"},
        "BOTWERK_ADMIN_PASSWORD": {"name": "rabbitmq-default-user", "key": "password"},
    }
    assert (
        env("broker-setup")["BOTWERK_MANAGEMENT_URL"]
        == f"http://{CLUSTER['metadata']['name']}:15672/"
    )


def test_no_secret_is_written_only_referred_to():
    """Every Secret named is one secrets.sh makes (with that key) or the operator's."""
    assert not of_kind("Secret"), "a Secret in the manifests: make it with secrets.sh"
    known = MADE_SECRETS | OPERATOR_SECRET
    text = "\n".join((K8S / name).read_text() for name in KUSTOMIZATION["resources"])
    for name, key in re.findall(r"secretKeyRef: \{name: ([\w-]+), key: (\w+)\}", text):
        assert key in known.get(name, set()), f"secret {name} key {key}: nothing makes it"
    for name in re.findall(r"secretRef: \{name: ([\w-]+)\}", text):
        assert name in known, f"secret {name}: nothing makes it"
    for _, spec in of_kind("TriggerAuthentication").items():
        for ref in spec["spec"]["secretTargetRef"]:
            assert ref["key"] in known.get(ref["name"], set()), ref
    assert not re.search(r"(password|pass|token)\s*[:=]\s*['\"]?\w{6,}", text, re.I)


def test_keda_reads_queue_depth_as_the_monitoring_user_from_the_clusters_full_name():
    """KEDA runs in its own namespace: a short Service name would not resolve there."""
    (host,) = re.findall(r'host="([^"]+)"', SECRETS_SH)
    assert (
        host
        == f"http://{NAMESPACE}-operator:$operator@{CLUSTER['metadata']['name']}.$ns.svc:15672/"
    )
    assert 'BOTWERK_OPERATOR_PASSWORD="$operator"' in SECRETS_SH  # the same password
    for scaled in of_kind("ScaledObject").values():
        (trigger,) = scaled["spec"]["triggers"]
        assert trigger["metadata"]["protocol"] == "http"  # the management API, as the host says


def test_the_web_service_reaches_the_port_the_web_transport_listens_on():
    options = json.loads(env("web")["BOTWERK_TRANSPORTS"])["web"]
    ports = {p["name"]: p["containerPort"] for p in container("web")["ports"]}
    (service,) = of_kind("Service")["web"]["spec"]["ports"]
    assert options["host"] == "0.0.0.0" and ports[service["targetPort"]] == options["port"]


@pytest.mark.parametrize("name", sorted(of_kind("ScaledObject")))
def test_each_scaled_object_scales_a_worker_on_the_queue_it_consumes(name):
    spec = of_kind("ScaledObject")[name]["spec"]
    target = spec["scaleTargetRef"]["name"]
    assert target in DEPLOYMENTS, f"{name}: no Deployment {target}"
    args = container(target)["args"]
    assert args[0] == "worker", f"{name}: scales {target}, not a model worker"
    (trigger,) = spec["triggers"]
    assert trigger["type"] == "rabbitmq"
    meta = trigger["metadata"]
    assert meta["queueName"] == worker_queue(args), f"{name}: not the queue {target} consumes"
    assert meta["mode"] == "QueueLength" and float(meta["value"]) > 0
    assert trigger["authenticationRef"]["name"] in of_kind("TriggerAuthentication")
    assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]  # one warm worker, always


def test_every_model_worker_is_scaled():
    workers = {n for n in DEPLOYMENTS if container(n)["args"][0] == "worker"}
    scaled = {so["spec"]["scaleTargetRef"]["name"] for so in of_kind("ScaledObject").values()}
    assert workers == scaled


@pytest.mark.parametrize("name", sorted(DEPLOYMENTS))
def test_probes_ask_health_and_readiness_on_the_metrics_port_the_env_sets(name):
    port = int(env(name)["BOTWERK_METRICS_PORT"])
    ports = {p["name"]: p["containerPort"] for p in container(name)["ports"]}
    kinds = ("startupProbe", "livenessProbe", "readinessProbe")
    probes = {k: container(name)[k]["httpGet"] for k in kinds}
    assert probes["startupProbe"]["path"] == probes["livenessProbe"]["path"] == "/healthz"
    assert probes["readinessProbe"]["path"] == "/readyz"
    for probe in probes.values():
        assert ports.get(probe["port"], probe["port"]) == port, f"{name}: not port {port}"


@pytest.mark.parametrize("name", sorted(DEPLOYMENTS))
def test_torch_model_workers_ask_for_one_gpu_and_the_others_for_none(name):
    args = container(name)["args"]
    resources = container(name)["resources"]
    wants = args[0] == "worker" and args[1] in TORCH_KINDS
    for side in ("requests", "limits"):
        assert resources[side].get("nvidia.com/gpu") == (1 if wants else None), f"{name} {side}"
    assert {"charrnn", "chat"} <= TORCH_KINDS
