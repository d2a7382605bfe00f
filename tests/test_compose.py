"""docker-compose.yml, checked by reading it (no Docker engine here): every role is a valid
`botwerk` command with valid settings, reaches the broker service, and can be scaled."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from botwerk.cli.app import main
from botwerk.infra.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
ROLES = {name: spec for name, spec in SERVICES.items() if name not in ("rabbitmq", "redis")}


def test_broker_has_the_dashboard_and_a_healthcheck():
    broker = SERVICES["rabbitmq"]
    assert broker["image"].startswith("rabbitmq:3.10-management")
    assert "15672:15672" in broker["ports"] and "5672:5672" in broker["ports"]
    assert "rabbitmq-diagnostics" in broker["healthcheck"]["test"]


def test_training_jobs_have_redis_and_a_trainer():
    assert "redis-cli" in SERVICES["redis"]["healthcheck"]["test"]
    trainer = SERVICES["trainer"]
    assert trainer["command"] == ["trainer"]
    assert trainer["depends_on"]["redis"]["condition"] == "service_healthy"
    assert trainer["environment"]["BOTWERK_RESULTS_URL"].startswith("redis://redis:6379/")


def test_the_roles_of_the_demo_mesh_are_all_there():
    commands = {tuple(spec["command"][:2]) for spec in ROLES.values()}
    assert {("worker", "echo"), ("core", "demo"), ("transport", "console")} <= commands
    assert {("worker", "charrnn"), ("worker", "word2vec"), ("worker", "chat")} <= commands
    assert {("core", "billybard"), ("core", "annalogue"), ("core", "moviebot")} <= commands


@pytest.mark.parametrize("name", sorted(ROLES))
def test_each_role_is_a_valid_botwerk_command(name):
    args = ROLES[name]["command"]
    context = main.make_context("botwerk", list(args), resilient_parsing=False)
    command = main.get_command(context, args[0])
    assert command is not None, f"{name}: no botwerk command {args[0]!r}"
    try:
        command.make_context(args[0], list(args[1:]), parent=context)
    except click.UsageError as exc:
        pytest.fail(f"{name}: {' '.join(args)}: {exc}")


@pytest.mark.parametrize("name", sorted(ROLES))
def test_each_role_reaches_the_broker_service_and_waits_for_it(name):
    spec = ROLES[name]
    assert "@rabbitmq:5672" in spec["environment"]["BOTWERK_AMQP_URL"]
    assert spec["depends_on"]["rabbitmq"]["condition"] == "service_healthy"
    assert "container_name" not in spec, "a fixed container name prevents --scale"
    assert spec["build"] == "."


@pytest.mark.parametrize("name", sorted(ROLES))
def test_each_role_environment_is_valid_settings(name):
    env = ROLES[name]["environment"]
    fields = {f"BOTWERK_{field.upper()}": field for field in Settings.model_fields}
    unknown = set(env) - set(fields)
    assert not unknown, f"{name}: not Botwerk settings: {unknown}"
    values = {fields[key]: value for key, value in env.items()}
    for field, value in values.items():  # dict settings come as JSON, as in the environment
        if Settings.model_fields[field].annotation == dict[str, dict[str, Any]]:
            values[field] = json.loads(value)
    Settings.load(**values)


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
