"""A URL or a login that cannot work ends a command with one line that says what to fix.

Found by a new user (issue 14): ``BOTWERK_AMQP_URL="not a url"`` printed a 38-line traceback,
and a refused password or an unknown virtual host was retried for ever under the advice to
start RabbitMQ. Each case runs the real ``botwerk`` command and reads what a user sees.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from botwerk.infra.rabbit import explain_refusal
from botwerk.infra.settings import ConfigError, Settings

SECRET = "h3-never-shown"
FORM = "use amqp://USER:PASSWORD@HOST:5672/VHOST (a cluster: HOST1:5672,HOST2:5672,...)"


def botwerk(url: str, *args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``botwerk ARGS`` with ``BOTWERK_AMQP_URL=url``, its input closed; at most 30 s."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BOTWERK_")}
    return subprocess.run(
        [sys.executable, "-m", "botwerk", *args],
        env={**clean, "BOTWERK_AMQP_URL": url, "BOTWERK_RECONNECT_MIN_S": "0.1", **env},
        cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30,
    )  # fmt: skip


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    """The single line a failed command printed: exit status 1, no traceback, no password."""
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1, (done.returncode, done.stderr)
    assert len(lines) == 1 and lines[0].startswith("Error: BOTWERK_"), done.stderr
    assert "Traceback" not in done.stderr and SECRET not in done.stderr + done.stdout
    return lines[0]


def with_url(url: str, *, user: str = "", password: str = "", vhost: str = "") -> str:
    parts = urlsplit(url)
    login = f"{user or parts.username}:{password or parts.password}"
    netloc = f"{login}@{parts.hostname}:{parts.port or 5672}"
    return urlunsplit(parts._replace(netloc=netloc, path=f"/{vhost}" if vhost else parts.path))


@pytest.mark.slow
@pytest.mark.parametrize("args", [("core", "demo"), ("broker", "setup"), ("up",)])
def test_a_malformed_amqp_url_is_one_line_with_the_form_to_use(args, tmp_path):
    done = botwerk(f"amqp//guest:{SECRET}@127.0.0.1/", *args, cwd=tmp_path)
    assert one_line(done) == (
        f"Error: BOTWERK_AMQP_URL is not an AMQP URL ('amqp//guest:***@127.0.0.1/'): {FORM}"
    )


@pytest.mark.parametrize(
    "url",
    ["not a url", "http://127.0.0.1:5672/", "amqp://", "amqp://host:port/", "127.0.0.1:5672"],
)
def test_what_is_not_an_amqp_url_with_a_host_is_refused_as_one(url):
    with pytest.raises(ConfigError) as caught:
        Settings.load(amqp_url=url)
    assert str(caught.value) == f"BOTWERK_AMQP_URL is not an AMQP URL ({url!r}): {FORM}"


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("results_url", "127.0.0.1:6379", "BOTWERK_RESULTS_URL is not a Redis URL ('127.0.0.1:6379'"
         "): use redis://HOST:6379/0"),
        ("management_url", f"guest:{SECRET}@127.0.0.1:15672", "BOTWERK_MANAGEMENT_URL is not an "
         "HTTP URL ('guest:***@127.0.0.1:15672'): use http://HOST:15672/"),
    ],
)  # fmt: skip
def test_the_other_urls_are_checked_the_same_way(setting, value, message):
    with pytest.raises(ConfigError) as caught:
        Settings.load(**{setting: value})
    assert str(caught.value) == message


def test_usable_urls_pass():
    settings = Settings.load(
        amqp_url="amqps://core:pw@rabbit.example:5671/prod?heartbeat=10",
        results_url="unix:///run/redis.sock",
        management_url="https://rabbit.example:15671/",
    )
    assert settings.amqp_url_redacted == "amqps://core:***@rabbit.example:5671/prod?heartbeat=10"
    assert Settings.load(amqp_url="").amqp_url == ""  # unset, as `botwerk up` reads it


@pytest.mark.slow
@pytest.mark.broker
def test_a_refused_password_ends_the_role_at_once_with_the_users_advice(amqp_url, tmp_path):
    done = botwerk(with_url(amqp_url, password=SECRET), "core", "demo", cwd=tmp_path)
    line = one_line(done)
    assert "refused this user name or password; check the user and password" in line
    assert "botwerk broker setup" in line and "rabbitmq-server" not in line


@pytest.mark.slow
@pytest.mark.broker
def test_an_unknown_vhost_ends_the_role_with_how_to_create_it(amqp_url, tmp_path):
    vhost = f"bwt-none-{uuid.uuid4().hex[:6]}"
    url = with_url(amqp_url, vhost=vhost)
    done = botwerk(url, "transport", "console", "--bot", "demo", cwd=tmp_path)
    line = one_line(done)
    assert f"the virtual host '{vhost}' does not exist" in line, line
    assert f"`rabbitmqctl add_vhost {vhost}`" in line and "rabbitmq-server" not in line
    assert f"set_permissions -p {vhost} {urlsplit(url).username} '.*'" in line
    assert f":{urlsplit(url).password}@" not in line


# As pika words the broker's refusal (RabbitMQ 3.10.8): quoted with " when the reason has a '.
WHY = "access to vhost 'prod' refused for user 'bob'"
NO_RIGHTS = f'ConnectionClosedByBroker: (530) "NOT_ALLOWED - {WHY}"'


def test_a_user_without_rights_on_the_vhost_is_told_to_grant_them():
    settings = Settings.load(amqp_url=f"amqp://bob:{SECRET}@rabbit.example/prod")
    assert explain_refusal(NO_RIGHTS, settings) == (
        "BOTWERK_AMQP_URL amqp://bob:***@rabbit.example/prod: this user may not use the virtual "
        "host 'prod' (access to vhost 'prod' refused for user 'bob'); grant it with `rabbitmqctl "
        "set_permissions -p prod bob '.*' '.*' '.*'` (or `botwerk broker setup` for the role "
        "users), or fix the URL's path"
    )
