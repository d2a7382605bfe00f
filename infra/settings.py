"""Settings for every role, read in one place: arguments, then ``BOTWERK_*``, then botwerk.toml.

>>> Settings.load(namespace="test").exchange("inbound")
'test.inbound'

The file is ``./botwerk.toml`` or the path in ``BOTWERK_CONFIG``; its keys are the field names
below (``amqp_url = "amqp://..."``). Unknown keys are refused with the list of known ones, so a
typo never silently falls back to a default.
"""

from __future__ import annotations

import difflib
import os
import re
import uuid
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit, urlunsplit

import msgspec
from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from botwerk.infra.amqphosts import node_urls
from botwerk.schemas import BotwerkError
from botwerk.schemas.messages import MAX_DEADLINE_MS

S = TypeVar("S", bound=msgspec.Struct)
# The default of no_worker_grace_s, also Rpc's own (infra/rpc.py): longer than a worker takes to
# notice that its cluster node went silent and connect to another (up to about 25 s: infra/rpc.py).
NO_WORKER_GRACE_S = 30.0
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_URLS = {  # setting: (the schemes it takes, what it is, the form to use)
    "amqp_url": (
        ("amqp", "amqps"),
        "an AMQP URL",
        "amqp://USER:PASSWORD@HOST:5672/VHOST (a cluster: HOST1:5672,HOST2:5672,...)",
    ),
    "results_url": (("redis", "rediss", "unix"), "a Redis URL", "redis://HOST:6379/0"),
    "management_url": (("http", "https"), "an HTTP URL", "http://HOST:15672/"),
}


class ConfigError(BotwerkError):
    """Settings that cannot be used; the message names the setting and the fix."""


class Settings(BaseSettings):
    """Everything a Botwerk process can be configured with (env var: ``BOTWERK_`` + NAME)."""

    model_config = SettingsConfigDict(env_prefix="BOTWERK_", extra="forbid", frozen=True)

    amqp_url: str | None = Field(
        None,
        description="RabbitMQ URL; a cluster: amqp://U:P@HOST1:5672,HOST2:5672/VHOST; unset: "
        "`up` uses the in-process bus",
    )
    namespace: str = Field("botwerk", description="prefix of every exchange and queue")
    instance: str = Field(
        default_factory=lambda: uuid.uuid4().hex[:8],
        description="this process's id, in its reply queue's name",
    )
    deadline_ms: int = Field(
        30_000, gt=0, le=MAX_DEADLINE_MS,
        description="time a user waits before 'took too long' (at most 3600000: one hour)",
    )  # fmt: skip
    prefetch: int = Field(32, gt=0, description="unacked messages a core handles at once")
    delivery_limit: int = Field(5, gt=0, description="deliveries before a message is dead-lettered")
    max_queue_length: int = Field(100_000, gt=0, description="work queue bound; beyond it: busy")
    max_message_bytes: int = Field(256 * 1024, gt=0, description="body size cap")
    heartbeat_s: int = Field(5, ge=0, description="AMQP heartbeat unless the URL sets one")
    publish_timeout_s: float = Field(30.0, gt=0, description="wait for a broker confirm")
    no_worker_grace_s: float = Field(
        NO_WORKER_GRACE_S, ge=0,
        description="a model's queue without a consumer this long: 'not running' at once",
    )  # fmt: skip
    reconnect_min_s: float = Field(0.5, gt=0, description="first reconnect backoff")
    reconnect_max_s: float = Field(10.0, gt=0, description="reconnect backoff cap")
    amqp_ca: Path | None = Field(
        None, description="with amqps://: CA file (PEM) the broker's certificate must chain to"
    )
    amqp_cert: Path | None = Field(
        None, description="with amqps://: client certificate (PEM) for brokers that ask for one"
    )
    amqp_key: Path | None = Field(
        None, description="with amqps://: the client certificate's private key (PEM)"
    )
    max_batch: int = Field(16, gt=0, description="most requests a worker runs in one batch")
    max_wait_ms: float = Field(
        0.0, ge=0, description="longest a worker waits to fill a batch (0: batch what queued)"
    )
    models: str = Field(
        "file://./models", description="model store URL: file://DIR, a path, or s3://... (fsspec)"
    )
    device: str = Field(
        "auto", description="where models compute: auto (GPU when present), cpu, cuda, cuda:N"
    )
    demo_train_minutes: float = Field(
        15.0, ge=0, description="how long `up` trains each demo model in the background, in all"
    )
    results_url: str = Field(
        "redis://127.0.0.1:6379/0",
        description="Redis for training jobs' state and progress (the Celery result backend)",
    )
    bots: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="per-bot options, from botwerk.toml tables: [bots.billybard] length = 300",
    )
    transports: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="per-transport options, from botwerk.toml tables: [transports.irc] port = 6697",
    )
    schedules: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="scheduled posts, from botwerk.toml tables: [schedules.morning] cron = ...",
    )
    state_url: str = Field(
        "sqlite:///botwerk-state.db",
        description="the bots' memory: redis://... (shared by every host), sqlite:///FILE "
        "(one host), memory:// (this process only)",
    )
    post_ttl_s: int = Field(
        24 * 3600, gt=0, le=30 * 24 * 3600,
        description="how long a post waits for a transport that is down before it is dropped",
    )  # fmt: skip
    management_url: str = Field(
        "http://127.0.0.1:15672/",
        description="RabbitMQ's management HTTP API, for `botwerk broker setup`, `status`, `dead`",
    )
    metrics_port: int = Field(
        0, ge=0, le=65535,
        description="this role's Prometheus /metrics, /healthz and /readyz port (0: off)",
    )  # fmt: skip
    dead_max_length: int = Field(
        100_000, gt=0, description="dead letters kept; past it the oldest are dropped"
    )
    dead_max_age_s: int = Field(
        7 * 24 * 3600, gt=0, le=10 * 365 * 24 * 3600,
        description="seconds a dead letter is kept before it is dropped (default: a week)",
    )  # fmt: skip
    quorum_replicas: int | None = Field(
        None, ge=1,
        description="replicas of each quorum queue (x-quorum-initial-group-size); unset: "
        "RabbitMQ's default",
    )  # fmt: skip
    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR")
    log_format: Literal["text", "json"] = Field("text", description="log line format")

    @field_validator("namespace", "instance")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("use lower-case letters, digits, '-' and '_' (it names queues)")
        return value

    @field_validator("amqp_url", "results_url", "management_url")
    @classmethod
    def _url(cls, value: str | None, info: ValidationInfo) -> str | None:
        name = info.field_name or ""
        urls = _nodes(value) if value and name == "amqp_url" else [value]
        if value and not all(url and _usable_url(url, _URLS[name][0]) for url in urls):
            _, what, form = _URLS[name]
            shown = repr(_hide_password(value))  # in the context: a "{" in it stays as it is
            context = {"what": what, "shown": shown, "form": form}
            raise PydanticCustomError("botwerk_url", "is not {what} ({shown}): use {form}", context)
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = TomlConfigSettingsSource(settings_cls, toml_file=config_path())
        return init_settings, env_settings, toml

    @classmethod
    def load(cls, **overrides: Any) -> Settings:
        """Read the settings; a bad value raises :class:`ConfigError` naming it and the fix."""
        try:
            return cls(**{k: v for k, v in overrides.items() if v is not None})
        except ValidationError as exc:
            raise ConfigError(_explain(exc)) from None

    def exchange(self, name: str) -> str:
        """``{ns}.name``: the full name of one of the namespace's exchanges or queues."""
        return f"{self.namespace}.{name}"

    @property
    def amqp_url_redacted(self) -> str:
        """The broker URL with its password hidden, fit for logs and banners."""
        return redact_url(self.amqp_url or "")

    @property
    def amqp_urls(self) -> list[str]:
        """One single-host URL per node of ``amqp_url`` (one for a single broker), in order."""
        return node_urls(self.amqp_url) if self.amqp_url else []


def typed_table(options: dict[str, Any], where: str, kind: type[S]) -> S:
    """A ``[table]`` of botwerk.toml as the typed config ``kind`` (a msgspec Struct).

    Unknown keys and bad values raise :class:`ConfigError` that says ``where`` and names the
    key (with a did-you-mean); ``kind`` checks its own bounds in ``__post_init__`` with a
    ValueError that names the key.
    """
    known = kind.__struct_fields__
    for key in options:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"{where}: unknown key {key!r}{hint}; known keys: {', '.join(known)}")
    try:
        return msgspec.convert(options, kind)
    except msgspec.ValidationError as exc:
        problem, _, at = str(exc).partition(" - at `$.")
        key = f"{at.rstrip('`')}: " if at else ""
        raise ConfigError(f"{where}: {key}{problem[:1].lower()}{problem[1:]}") from None


def config_path() -> Path:
    """The config file: ``BOTWERK_CONFIG`` or ``./botwerk.toml`` (it need not exist)."""
    return Path(os.environ.get("BOTWERK_CONFIG", "botwerk.toml"))


def redact_url(url: str) -> str:
    """``amqp://guest:***@host:5672/``: the URL without its password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _usable_url(url: str, schemes: tuple[str, ...]) -> bool:
    """Whether ``url`` has one of ``schemes``, a host (unless ``unix://``) and a numeric port."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError:
        return False
    return parts.scheme in schemes and (parts.scheme == "unix" or bool(parts.hostname))


def _nodes(url: str) -> list[str | None]:
    """``url``'s node URLs; ``[None]`` (not usable) when it cannot be split into nodes."""
    try:
        return list(node_urls(url))
    except ValueError:
        return [None]


def _hide_password(value: str) -> str:
    """``value`` with whatever stands between ``user:`` and ``@`` hidden, URL or not."""
    head, at, host = value.rpartition("@")  # the last "@": a password may hold one
    colon = head.find(":", head.find("://") + 3 if "://" in head else 0)
    return f"{head[:colon]}:***@{host}" if at and colon >= 0 else value


def _explain(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        name = ".".join(str(p) for p in err["loc"]) or "settings"
        if err["type"] == "extra_forbidden":
            known = ", ".join(Settings.model_fields)
            lines.append(f"unknown setting {name!r} (in {config_path()} or env); known: {known}")
        elif err["type"] == "botwerk_url":
            lines.append(f"BOTWERK_{name.upper()} {err['msg']}")
        else:
            lines.append(f"setting {name} (env BOTWERK_{name.upper()}): {err['msg']}")
    return "; ".join(lines)
