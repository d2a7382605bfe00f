"""A namespace's broker users, their permissions and its shared topology, set up over HTTP.

RabbitMQ's management API applies :data:`TEMPLATE` (``infra/rabbitmq/definitions.json``),
rendered for one namespace: one user per role with the least rights it needs, and the
exchanges and dead-letter queue every role only checks. ``botwerk broker setup`` is the
command; from code::

    api = Management("http://127.0.0.1:15672/", "admin", "secret")
    definitions = render("botwerk", transports=["web"])
    for account in apply(api, definitions, "botwerk", passwords=os.environ):
        print(account.role, account.user, account.password)   # None: password unchanged

Running it again changes nothing but what the template changed; a user keeps its password
unless ``BOTWERK_<ROLE>_PASSWORD`` gives one (``BOTWERK_TRANSPORT_WEB_PASSWORD``) or
``rotate`` names its role. A new user without such a variable gets a random password, which
:func:`apply` returns once and the broker keeps only as a hash.

Limits: one virtual host per call; users of the same namespace in another virtual host share
the names (RabbitMQ users are per node, permissions per virtual host).
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from botwerk.infra.topology import DEFAULT_LIMITS, Limits, Names, dead_queue, work_queue
from botwerk.schemas import BotwerkError

TEMPLATE = Path(__file__).with_name("rabbitmq") / "definitions.json"
ENABLE = "rabbitmq-plugins enable rabbitmq_management"
TIMEOUT_S = 10.0


class SetupError(BotwerkError):
    """The broker could not be set up; the message says what to fix."""


@dataclass(frozen=True)
class Account:
    """A role's broker user after setup: ``password`` is None when it was left as it was."""

    role: str
    user: str
    password: str | None
    source: str
    """``generated`` (shown once), ``env`` (from :func:`password_variable`), or ``kept``"""


# Rendering.


def render(
    namespace: str, transports: Iterable[str], vhost: str = "/", limits: Limits = DEFAULT_LIMITS
) -> dict[str, Any]:
    """:data:`TEMPLATE` for ``namespace``: transport entries repeated for each kind,
    ``{ns}.dead`` bounded by ``limits`` (the template holds the default bound), and each kind's
    post queue (``{ns}.post.<kind>``, bound to ``{ns}.replies``) as its gateway declares it, so
    posts to a transport that never ran yet wait for it."""
    template = json.loads(TEMPLATE.read_text())
    template.pop("_comment", None)
    kinds = sorted(set(transports))
    for kind in kinds:
        _check_name(kind, "transport kind")
    _check_name(namespace, "namespace")
    common = {"{ns}": namespace, "{ns_re}": re.escape(namespace), "{vhost}": vhost}
    rendered: dict[str, Any] = {}
    for section, entries in template.items():
        out = []
        for entry in entries:
            if "{transport}" in json.dumps(entry):
                out += [_fill(entry, common | _kind(kind)) for kind in kinds]
            else:
                out.append(_fill(entry, common))
        rendered[section] = out
    for queue in rendered["queues"]:
        if queue["name"] == f"{namespace}.dead":
            queue["arguments"] = dead_queue(queue["name"], limits).arguments
    names = Names(namespace)
    for kind in kinds:
        post = work_queue(names.post_queue(kind), names.dlx, limits)
        rendered["queues"].append({"name": post.name, "vhost": vhost, "durable": True,
                                   "auto_delete": False, "arguments": post.arguments})  # fmt: skip
        rendered["bindings"].append({"source": names.replies, "vhost": vhost,
                                     "destination": post.name, "destination_type": "queue",
                                     "routing_key": post.name, "arguments": {}})  # fmt: skip
    return rendered


def roles(definitions: Mapping[str, Any], namespace: str) -> dict[str, str]:
    """Each role (``core``, ``transport-web``...) and its user name."""
    prefix = f"{namespace}-"
    return {user["name"].removeprefix(prefix): user["name"] for user in definitions["users"]}


def password_variable(role: str) -> str:
    """The environment variable that may give ``role`` its password: BOTWERK_CORE_PASSWORD."""
    return f"BOTWERK_{role.upper().replace('-', '_')}_PASSWORD"


def _kind(kind: str) -> dict[str, str]:
    return {"{transport}": kind, "{transport_re}": re.escape(kind)}


def _fill(value: Any, fills: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        for placeholder, text in fills.items():
            value = value.replace(placeholder, text)
        return value
    if isinstance(value, list):
        return [_fill(item, fills) for item in value]
    if isinstance(value, dict):
        return {key: _fill(item, fills) for key, item in value.items()}
    return value


def _check_name(name: str, what: str) -> None:
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", name):
        raise SetupError(f"{what} {name!r}: use lower-case letters, digits, '-' and '_'")


# The management API.


class Management:
    """A small client of RabbitMQ's management HTTP API, as an administrator."""

    def __init__(self, url: str, user: str, password: str, timeout: float = TIMEOUT_S) -> None:
        parts = urlsplit(url)
        self.base = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
        self.base = self.base.rstrip("/")
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        self._auth = f"Basic {token}"
        self._timeout = timeout

    def get(self, path: str) -> Any:
        """The JSON at ``/api/<path>``, or None when it does not exist."""
        return self.call("GET", path)

    def put(self, path: str, body: Mapping[str, Any]) -> None:
        self.call("PUT", path, body)

    def post(self, path: str, body: Mapping[str, Any]) -> None:
        self.call("POST", path, body)

    def call(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.base}/api/{path}", data=data, method=method)
        request.add_header("Authorization", self._auth)
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as answer:
                text = answer.read()
        except urllib.error.HTTPError as exc:
            if exc.code == 404 and method == "GET":
                return None
            raise self._refused(exc, method, path) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise SetupError(
                f"the RabbitMQ management API at {self.base} is unreachable ({reason}): start "
                f"the broker, enable its HTTP API with `{ENABLE}`, or give its address with "
                "--management-url / BOTWERK_MANAGEMENT_URL"
            ) from None
        return json.loads(text) if text else None

    def _refused(self, exc: urllib.error.HTTPError, method: str, path: str) -> SetupError:
        if exc.code == 401:
            return SetupError(
                f"the RabbitMQ management API at {self.base} refused the administrator's "
                "credentials (HTTP 401): check BOTWERK_ADMIN_USER and BOTWERK_ADMIN_PASSWORD "
                "(a user tagged administrator)"
            )
        try:
            reason = json.loads(exc.read()).get("reason", "")
        except ValueError:
            reason = ""
        what = f"{method} /api/{path.split('?')[0]}"
        if exc.code == 403:
            return SetupError(f"{what}: HTTP 403, the user is not an administrator ({reason})")
        return SetupError(f"{what}: HTTP {exc.code} {reason}".rstrip())


# Applying.


def apply(
    api: Management,
    definitions: Mapping[str, Any],
    namespace: str,
    *,
    passwords: Mapping[str, str],
    rotate: Iterable[str] = (),
) -> list[Account]:
    """Create or update every user, permission and shared item of ``definitions``; idempotent.

    ``passwords`` is where ``BOTWERK_<ROLE>_PASSWORD`` variables are read (the environment);
    ``rotate`` names roles that get a new random password even though they have one.
    """
    by_role = roles(definitions, namespace)
    rotating = set(rotate)
    if unknown := rotating - by_role.keys():
        raise SetupError(
            f"--rotate {', '.join(sorted(unknown))}: no such role here; roles: "
            f"{', '.join(sorted(by_role))} (transport-KIND needs --transport KIND)"
        )
    for role in rotating:
        if passwords.get(password_variable(role)):
            raise SetupError(
                f"--rotate {role}: {password_variable(role)} is set and would win; change it "
                "and run setup again, or unset it to have a password generated"
            )
    vhosts = {entry["vhost"] for entry in definitions["permissions"]}
    for vhost in sorted(vhosts):
        if api.get(f"vhosts/{_q(vhost)}") is None:
            api.put(f"vhosts/{_q(vhost)}", {})
    accounts = [
        _user(api, role, user, definitions, passwords, role in rotating)
        for role, user in by_role.items()
    ]
    _permissions(api, definitions)
    apply_topology(api, definitions)
    return accounts


def _user(
    api: Management,
    role: str,
    user: str,
    definitions: Mapping[str, Any],
    passwords: Mapping[str, str],
    rotating: bool,
) -> Account:
    entry = next(u for u in definitions["users"] if u["name"] == user)
    tags = ",".join(entry["tags"])
    given = passwords.get(password_variable(role))
    found = api.get(f"users/{_q(user)}")
    if given:
        api.put(f"users/{_q(user)}", {"password": given, "tags": tags})
        return Account(role, user, given, "env")
    if found is None or rotating:
        password = secrets.token_hex(24)
        api.put(f"users/{_q(user)}", {"password": password, "tags": tags})
        return Account(role, user, password, "generated")
    kept = {k: found[k] for k in ("password_hash", "hashing_algorithm") if k in found}
    api.put(f"users/{_q(user)}", {**kept, "tags": tags})  # the tags as the template says
    return Account(role, user, None, "kept")


def _permissions(api: Management, definitions: Mapping[str, Any]) -> None:
    for entry in definitions["permissions"]:
        body = {k: entry[k] for k in ("configure", "write", "read")}
        api.put(f"permissions/{_q(entry['vhost'])}/{_q(entry['user'])}", body)
    wanted: dict[tuple[str, str], set[str]] = {}
    for entry in definitions["topic_permissions"]:
        body = {k: entry[k] for k in ("exchange", "write", "read")}
        api.put(f"topic-permissions/{_q(entry['vhost'])}/{_q(entry['user'])}", body)
        wanted.setdefault((entry["user"], entry["vhost"]), set()).add(entry["exchange"])
    for (user, vhost), exchanges in wanted.items():
        for old in api.get(f"users/{_q(user)}/topic-permissions") or []:
            if old["vhost"] == vhost and old["exchange"] not in exchanges:
                # An exchange the template no longer names: shut it rather than leave it open
                # (RabbitMQ deletes a user's topic permissions only all at once).
                closed = {"exchange": old["exchange"], "write": "^$", "read": "^$"}
                api.put(f"topic-permissions/{_q(vhost)}/{_q(user)}", closed)


def apply_topology(api: Management, definitions: Mapping[str, Any]) -> None:
    """Create the shared exchanges, ``{ns}.dead`` and its binding (what exists stays)."""
    for exchange in definitions["exchanges"]:
        body = {k: v for k, v in exchange.items() if k not in ("name", "vhost")}
        api.put(f"exchanges/{_q(exchange['vhost'])}/{_q(exchange['name'])}", body)
    for queue in definitions["queues"]:
        body = {k: v for k, v in queue.items() if k not in ("name", "vhost")}
        try:
            api.put(f"queues/{_q(queue['vhost'])}/{_q(queue['name'])}", body)
        except SetupError as exc:
            if "inequivalent arg" not in str(exc):
                raise
            other = _OTHER_ARGUMENTS if queue["name"].endswith(".dead") else _OTHER_POST_ARGUMENTS
            raise SetupError(other.format(queue=queue["name"], why=exc)) from None
    for binding in definitions["bindings"]:
        kind = "q" if binding["destination_type"] == "queue" else "e"
        path = (
            f"bindings/{_q(binding['vhost'])}/e/{_q(binding['source'])}/{kind}/"
            f"{_q(binding['destination'])}"
        )
        api.post(path, {"routing_key": binding["routing_key"], "arguments": binding["arguments"]})


_OTHER_ARGUMENTS = (
    "the queue {queue} already exists with other arguments than setup gives it (made by an "
    "older Botwerk without a bound, or with other BOTWERK_DEAD_MAX_LENGTH or "
    "BOTWERK_DEAD_MAX_AGE_S; {why}). Users and permissions are set up, and roles keep using "
    "the queue as it is. To give it this bound: replay or purge its dead letters (`botwerk "
    "dead list`), delete it (`rabbitmqctl delete_queue {queue}`) and run `botwerk broker "
    "setup` again"
)


_OTHER_POST_ARGUMENTS = (
    "the post queue {queue} already exists with other arguments than setup gives it ({why}): "
    "run setup with the BOTWERK_DELIVERY_LIMIT and BOTWERK_MAX_QUEUE_LENGTH its transport "
    "uses, or let its posts drain and delete it (`rabbitmqctl delete_queue {queue}`)"
)


def _q(name: str) -> str:
    return quote(name, safe="")


def role_url(amqp_url: str, user: str, password: str | None) -> str:
    """``amqp_url`` with ``user`` and ``password`` (``***`` when None) in place of its own."""
    parts = urlsplit(amqp_url)
    host = parts.netloc.rpartition("@")[2]
    secret = quote(password, safe="") if password is not None else "***"
    return urlunsplit(parts._replace(netloc=f"{quote(user, safe='')}:{secret}@{host}"))
