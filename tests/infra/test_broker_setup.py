"""`botwerk broker setup`: the definitions template, its rendering, and applying it over HTTP.

The template agrees with :func:`botwerk.infra.topology.base` (what every role checks), ships
in the wheel, and renders with no placeholder left. Against the session's throwaway node with
the management API (the one tests/infra/test_permissions.py uses): setup creates working users,
running it again changes nothing, ``--rotate`` changes one password, passwords from the
environment are used and never printed, and a wrong administrator or an unreachable API is one
line that says what to do.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import tomllib
from pathlib import Path

import pika
import pika.exceptions
import pytest
from click.testing import CliRunner

from botwerk.infra import brokeradmin, topology
from tests.infra.test_permissions import http_get, managed_node

ROOT = Path(__file__).resolve().parents[2]


# The template.


def as_definitions(items: list[topology.Declarable], vhost: str = "/") -> dict[str, list]:
    """``items`` in RabbitMQ's definitions format, as the template writes them."""
    found: dict[str, list] = {"exchanges": [], "queues": [], "bindings": []}
    for item in items:
        if isinstance(item, topology.Exchange):
            found["exchanges"].append({"name": item.name, "vhost": vhost, "type": item.kind,
                                       "durable": True, "auto_delete": False,
                                       "internal": False, "arguments": {}})  # fmt: skip
        elif isinstance(item, topology.Queue):
            found["queues"].append({"name": item.name, "vhost": vhost, "durable": item.durable,
                                    "auto_delete": False, "arguments": item.arguments})  # fmt: skip
        else:
            found["bindings"].append({"source": item.exchange, "vhost": vhost,
                                      "destination": item.queue, "destination_type": "queue",
                                      "routing_key": item.routing_key,
                                      "arguments": {}})  # fmt: skip
    return found


def test_the_template_holds_exactly_the_shared_topology_every_role_checks():
    """And each transport kind's post queue, as its gateway declares it (issue 17), so posts
    to a transport that never ran yet wait for it."""
    rendered = brokeradmin.render("botwerk", ["web"])
    names = topology.Names("botwerk")
    expected = as_definitions(topology.for_posts(names, "web", topology.Limits()))
    for section in ("exchanges", "queues", "bindings"):
        key = lambda entry: json.dumps(entry, sort_keys=True)  # noqa: E731
        assert sorted(map(key, rendered[section])) == sorted(map(key, expected[section])), section
    assert all(topology.is_shared(item) for item in topology.base(topology.Names("botwerk")))


def test_rendering_repeats_transport_entries_and_escapes_the_namespace():
    rendered = brokeradmin.render("my-ns", ["web", "irc"], vhost="prod")
    text = json.dumps(rendered)
    assert "{" not in text.replace("{}", "").replace('{"', "").replace(", {", "")
    assert not re.search(r"\{(ns|ns_re|vhost|transport|transport_re)\}", text)
    users = {u["name"] for u in rendered["users"]}
    assert users == {"my-ns-transport-irc", "my-ns-transport-web", "my-ns-core", "my-ns-worker",
                     "my-ns-trainer", "my-ns-scheduler", "my-ns-operator"}  # fmt: skip
    core = next(p for p in rendered["permissions"] if p["user"] == "my-ns-core")
    assert core["vhost"] == "prod" and core["configure"] == r"^my\-ns\.(core|reply\.core)\."
    assert re.match(core["read"], "my-ns.core.demo") and not re.match(core["read"], "my-ns.infer.x")
    web = [t for t in rendered["topic_permissions"] if t["user"] == "my-ns-transport-web"]
    inbound = next(t for t in web if t["exchange"] == "my-ns.inbound")
    assert re.match(inbound["write"], "demo.web") and not re.match(inbound["write"], "demo.irc")
    operator = next(u for u in rendered["users"] if u["name"] == "my-ns-operator")
    assert operator["tags"] == ["monitoring"]


def test_a_bad_namespace_or_transport_kind_is_refused_by_name():
    with pytest.raises(brokeradmin.SetupError, match=r"transport kind 'we\.b'"):
        brokeradmin.render("botwerk", ["we.b"])


def test_the_template_ships_in_the_wheel():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    patterns = config["package-data"]["botwerk.infra"]
    relative = brokeradmin.TEMPLATE.relative_to(Path(brokeradmin.__file__).parent).as_posix()
    assert any(fnmatch.fnmatch(relative, p) for p in patterns), patterns
    assert (ROOT / "botwerk" / "infra" / relative).is_file()  # through the botwerk/infra link


def test_role_password_variables_are_the_documented_ones():
    assert brokeradmin.password_variable("core") == "BOTWERK_CORE_PASSWORD"
    assert brokeradmin.password_variable("transport-web") == "BOTWERK_TRANSPORT_WEB_PASSWORD"


# The command, against a real node.


@pytest.fixture(scope="module")
def node(request, tmp_path_factory):
    return managed_node(request, tmp_path_factory)


@pytest.fixture
def setup_cli(node, monkeypatch):
    """``botwerk broker setup ARGS`` in this process against the node, as its administrator."""
    from botwerk.cli.app import main

    for variable in list(os.environ):
        if variable.startswith("BOTWERK_") and variable.endswith("_PASSWORD"):
            monkeypatch.delenv(variable)
    monkeypatch.setenv("BOTWERK_MANAGEMENT_URL", node.management_url.replace("guest:guest@", ""))
    monkeypatch.setenv("BOTWERK_ADMIN_USER", "guest")
    monkeypatch.setenv("BOTWERK_ADMIN_PASSWORD", "guest")
    monkeypatch.setenv("BOTWERK_AMQP_URL", node.url)

    def run(*args: str, ok: bool = True):
        result = CliRunner().invoke(main, ["broker", "setup", *args])
        if ok:
            assert result.exit_code == 0, result.output
        return result

    return run


def urls_of(output: str) -> dict[str, str]:
    return dict(re.findall(r"^(\S+)\s+(amqp://\S+)", output, flags=re.M))


def connects(url: str) -> bool:
    try:
        pika.BlockingConnection(pika.URLParameters(url)).close()
    except pika.exceptions.ProbableAuthenticationError:
        return False
    return True


def state(node, namespace: str) -> tuple:
    users = sorted((u["name"], u["tags"] if isinstance(u["tags"], str) else ",".join(u["tags"]))
                   for u in http_get(node.management_url, "users")
                   if u["name"].startswith(f"{namespace}-"))  # fmt: skip
    rights = [p for p in http_get(node.management_url, "permissions")
              if p["user"].startswith(f"{namespace}-")]  # fmt: skip
    topics = [p for p in http_get(node.management_url, "topic-permissions")
              if p["user"].startswith(f"{namespace}-")]  # fmt: skip
    key = lambda p: json.dumps(p, sort_keys=True)  # noqa: E731
    return users, sorted(map(key, rights)), sorted(map(key, topics))


def test_setup_creates_working_users_and_is_idempotent(setup_cli, node):
    first = setup_cli("--namespace", "su1", "--transport", "web")
    urls = urls_of(first.stdout)
    assert set(urls) == {"transport-web", "core", "worker", "trainer", "scheduler", "operator"}
    assert all(connects(url) for url in urls.values())
    assert "guest" not in first.output  # the administrator's credentials are never shown
    before = state(node, "su1")

    again = setup_cli("--namespace", "su1", "--transport", "web")
    assert "***" in again.stdout and "password unchanged" in again.stdout
    assert not any(password in again.output for password in map(password_of, urls.values()))
    assert state(node, "su1") == before
    assert all(connects(url) for url in urls.values())  # nobody's password changed
    exchanges = {e["name"] for e in http_get(node.management_url, "exchanges")}
    assert {"su1.inbound", "su1.infer", "su1.events", "su1.dlx", "su1.replies"} <= exchanges
    queues = {q["name"]: q for q in http_get(node.management_url, "queues")}
    assert queues["su1.post.web"]["arguments"]["x-delivery-limit"] == 5  # a work queue


def password_of(url: str) -> str:
    return url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]


def test_rotate_gives_one_role_a_new_password(setup_cli):
    urls = urls_of(setup_cli("--namespace", "su2", "--transport", "web").stdout)
    rotated = setup_cli("--namespace", "su2", "--transport", "web", "--rotate", "core")
    new = urls_of(rotated.stdout)
    core_line = next(line for line in rotated.stdout.splitlines() if line.startswith("core "))
    assert "new password, shown only now" in core_line
    assert new["core"] != urls["core"] and connects(new["core"])
    assert not connects(urls["core"])  # the old password no longer works
    assert connects(urls["worker"]) and "***" in new["worker"]


def test_passwords_from_the_environment_are_used_and_never_printed(setup_cli, monkeypatch):
    monkeypatch.setenv("BOTWERK_WORKER_PASSWORD", "w0rker-secret")
    monkeypatch.setenv("BOTWERK_TRANSPORT_WEB_PASSWORD", "web-secret")
    result = setup_cli("--namespace", "su3", "--transport", "web")
    assert "w0rker-secret" not in result.output and "web-secret" not in result.output
    assert "password from BOTWERK_WORKER_PASSWORD" in result.stdout
    base = urls_of(result.stdout)["worker"].replace("***", "w0rker-secret")
    assert connects(base)
    refused = setup_cli("--namespace", "su3", "--transport", "web", "--rotate", "worker", ok=False)
    assert refused.exit_code == 1 and "BOTWERK_WORKER_PASSWORD is set" in refused.output


def test_a_stale_topic_permission_is_closed(setup_cli, node):
    setup_cli("--namespace", "su4", "--transport", "web")
    api = brokeradmin.Management(node.management_url, "guest", "guest")
    api.put("topic-permissions/%2F/su4-core", {"exchange": "su4.old", "write": ".*", "read": ".*"})
    setup_cli("--namespace", "su4", "--transport", "web")
    old = [p for p in http_get(node.management_url, "users/su4-core/topic-permissions")
           if p["exchange"] == "su4.old"]  # fmt: skip
    assert [(p["write"], p["read"]) for p in old] == [("^$", "^$")]


def test_wrong_administrator_credentials_are_one_line(setup_cli, monkeypatch):
    monkeypatch.setenv("BOTWERK_ADMIN_PASSWORD", "not-the-password")
    result = setup_cli("--namespace", "su5", ok=False)
    assert result.exit_code == 1
    assert "refused the administrator's credentials (HTTP 401)" in result.output
    assert "BOTWERK_ADMIN_PASSWORD" in result.output and "not-the-password" not in result.output
    assert "Traceback" not in result.output


def test_an_unreachable_management_api_says_how_to_enable_it(setup_cli):
    result = setup_cli("--namespace", "su6", "--management-url", "http://127.0.0.1:1/", ok=False)
    assert result.exit_code == 1
    assert "management API at http://127.0.0.1:1 is unreachable" in result.output
    assert "rabbitmq-plugins enable rabbitmq_management" in result.output


def test_an_unknown_role_to_rotate_names_the_roles(setup_cli):
    result = setup_cli("--namespace", "su7", "--transport", "web", "--rotate", "cor", ok=False)
    assert result.exit_code == 1
    assert "--rotate cor: no such role" in result.output and "core" in result.output
