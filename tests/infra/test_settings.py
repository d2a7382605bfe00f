"""Settings: defaults, environment, botwerk.toml, and errors that name the fix."""

from __future__ import annotations

import pytest

from botwerk.infra.settings import ConfigError, Settings, redact_url


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    for key in list(__import__("os").environ):
        if key.startswith("BOTWERK_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)


def test_defaults():
    settings = Settings.load()
    assert settings.amqp_url is None
    assert settings.namespace == "botwerk"
    assert settings.max_message_bytes == 256 * 1024
    assert len(settings.instance) == 8


def test_environment_overrides_file_and_arguments_override_both(monkeypatch, tmp_path):
    (tmp_path / "botwerk.toml").write_text('namespace = "fromfile"\ndeadline_ms = 1234\n')
    assert Settings.load().namespace == "fromfile"
    monkeypatch.setenv("BOTWERK_NAMESPACE", "fromenv")
    settings = Settings.load()
    assert (settings.namespace, settings.deadline_ms) == ("fromenv", 1234)
    assert Settings.load(namespace="fromarg").namespace == "fromarg"


def test_config_path_from_env(monkeypatch, tmp_path):
    path = tmp_path / "elsewhere.toml"
    path.write_text("max_batch = 3\n")
    monkeypatch.setenv("BOTWERK_CONFIG", str(path))
    assert Settings.load().max_batch == 3


def test_unknown_key_in_file_is_refused_with_the_known_ones(tmp_path):
    (tmp_path / "botwerk.toml").write_text('namespce = "typo"\n')
    with pytest.raises(
        ConfigError, match=r"unknown setting 'namespce'.*known: amqp_url, namespace"
    ):
        Settings.load()


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("BOTWERK_NAMESPACE", "Has Spaces", "setting namespace \\(env BOTWERK_NAMESPACE\\)"),
        ("BOTWERK_MAX_BATCH", "0", "setting max_batch .*greater than 0"),
        ("BOTWERK_DEADLINE_MS", "soon", "setting deadline_ms"),
        # issue 13, defect 1: ten years passed, and made the core publish a TTL RabbitMQ refuses
        ("BOTWERK_DEADLINE_MS", "315360000000", "deadline_ms .*less than or equal to 3600000"),
        ("BOTWERK_LOG_FORMAT", "xml", "setting log_format"),
    ],
)
def test_bad_values_name_the_variable(monkeypatch, key, value, message):
    monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError, match=message):
        Settings.load()


def test_names_and_redaction():
    settings = Settings.load(namespace="ns", amqp_url="amqp://bob:s3cret@host:5672/vh")
    assert settings.exchange("dead") == "ns.dead"
    assert settings.amqp_url_redacted == "amqp://bob:***@host:5672/vh"
    assert "s3cret" not in repr(settings.amqp_url_redacted)
    assert redact_url("amqp://host/") == "amqp://host/"
