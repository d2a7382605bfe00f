"""``botwerk broker setup``: a namespace's role users, their permissions and shared topology.

::

    export BOTWERK_ADMIN_USER=admin BOTWERK_ADMIN_PASSWORD=...   # a RabbitMQ administrator
    botwerk broker setup --transport web --transport console
    botwerk broker setup --rotate core       # a new password for the core's user

It prints each role's ``BOTWERK_AMQP_URL``; a generated password appears there once, a
password given by ``BOTWERK_<ROLE>_PASSWORD`` (or kept from before) appears as ``***``.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import unquote, urlsplit

import click

from botwerk.infra import brokeradmin
from botwerk.infra.commands import friendly, load_settings
from botwerk.infra.registry import TRANSPORTS
from botwerk.infra.settings import Settings, redact_url
from botwerk.infra.topology import limits_of

SHOWN = {
    "generated": "new password, shown only now",
    "env": "password from {variable}",
    "kept": "password unchanged",
}


@click.group()
def broker() -> None:
    """Set up RabbitMQ for Botwerk (needs its management HTTP API)."""


@broker.command()
@click.option("--namespace", help="The namespace to set up  [env BOTWERK_NAMESPACE]")
@click.option(
    "--management-url",
    help="RabbitMQ's management HTTP API  [env BOTWERK_MANAGEMENT_URL; default "
    "http://127.0.0.1:15672/]",
)
@click.option(
    "--transport",
    "transports",
    multiple=True,
    metavar="KIND",
    help="A transport kind to make a user for; repeat for several  [default: every installed one]",
)
@click.option("--vhost", help="The virtual host  [default: the one of BOTWERK_AMQP_URL, else /]")
@click.option(
    "--rotate", "rotate", multiple=True, metavar="ROLE",
    help="Give ROLE (core, worker, trainer, operator, transport-KIND) a new password.",
)  # fmt: skip
@click.pass_obj
@friendly
def setup(obj: dict[str, Any], namespace: str | None, management_url: str | None,
          transports: tuple[str, ...], vhost: str | None,
          rotate: tuple[str, ...]) -> None:  # fmt: skip
    """Create or update the namespace's broker users (one per role, least privilege), their
    permissions, and the exchanges and dead-letter queue every role shares. Idempotent.

    The administrator's credentials come from BOTWERK_ADMIN_USER and BOTWERK_ADMIN_PASSWORD
    (or the management URL's user:password@); they are never printed or logged. A role's
    password comes from BOTWERK_<ROLE>_PASSWORD (BOTWERK_CORE_PASSWORD,
    BOTWERK_TRANSPORT_WEB_PASSWORD, ...) when set, else a new user gets a random one.
    """
    settings = load_settings(
        obj, "broker", default_level="WARNING", namespace=namespace, management_url=management_url
    )
    kinds = transports or tuple(TRANSPORTS.names())
    where = vhost or _vhost_of(settings.amqp_url)
    # Post queues get the bounds their gateways declare them with (BOTWERK_DELIVERY_LIMIT...).
    definitions = brokeradmin.render(settings.namespace, kinds, where, limits_of(settings))
    api = brokeradmin.Management(settings.management_url, *_admin(settings.management_url))
    accounts = brokeradmin.apply(
        api, definitions, settings.namespace, passwords=os.environ, rotate=rotate
    )
    base = _amqp_base(settings, where)
    click.echo(
        f"namespace {settings.namespace} set up on {redact_url(api.base)} (vhost {where}); "
        "each role's BOTWERK_AMQP_URL:",
        err=True,
    )
    for account in accounts:
        shown = account.password if account.source == "generated" else None
        url = brokeradmin.role_url(base, account.user, shown)
        note = SHOWN[account.source].format(variable=brokeradmin.password_variable(account.role))
        click.echo(f"{account.role:20} {url}  ({note})")


def _admin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    user = os.environ.get("BOTWERK_ADMIN_USER") or unquote(parts.username or "")
    password = os.environ.get("BOTWERK_ADMIN_PASSWORD") or unquote(parts.password or "")
    if not user or not password:
        raise click.ClickException(
            "no administrator to set up the broker with: set BOTWERK_ADMIN_USER and "
            "BOTWERK_ADMIN_PASSWORD (a RabbitMQ user tagged administrator)"
        )
    return user, password


def _vhost_of(amqp_url: str | None) -> str:
    path = urlsplit(amqp_url or "").path
    return unquote(path[1:]) if len(path) > 1 else "/"


def _amqp_base(settings: Settings, vhost: str) -> str:
    """The URL roles connect to: BOTWERK_AMQP_URL's, else the management API's host, 5672."""
    if settings.amqp_url:
        return settings.amqp_url
    host = urlsplit(settings.management_url).hostname or "127.0.0.1"
    path = "/" if vhost == "/" else "/" + vhost.replace("/", "%2F")
    return f"amqp://{host}:5672{path}"
