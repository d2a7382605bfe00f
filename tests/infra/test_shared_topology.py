"""The shared topology is checked, not re-declared: a role needs rights only on what it owns.

A broker user here may configure, write and read its own reply queue and nothing else but
binding from ``{ns}.replies``: the rights a least-privilege role has. These tests use the
machine's broker through ``rabbitmqctl``; docs/security.md has the full permission table and
``tests/infra/test_permissions.py`` proves it for every role.
"""

from __future__ import annotations

import re
import secrets
import subprocess
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest

from botwerk.infra import topology
from botwerk.infra.bus import Outgoing
from botwerk.infra.errors import BusError
from botwerk.infra.rabbit import RabbitBus
from botwerk.infra.rpc import Inbox
from botwerk.infra.settings import Settings
from botwerk.schemas import Reply
from tests.support.waiting import eventually

pytestmark = pytest.mark.broker


def _ctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


@pytest.fixture
def narrow_url(amqp_url: str, namespace: str) -> Iterator[str]:
    """A user that owns ``{ns}.reply.narrow.*`` and may bind it from ``{ns}.replies``, no more."""
    user, password = f"{namespace}-narrow", secrets.token_hex(8)
    ns = re.escape(namespace)
    own = rf"^{ns}\.reply\.narrow\..*$"
    _ctl("add_user", user, password)
    try:
        _ctl("set_permissions", "-p", "/", user, own, own, rf"{own[:-1]}|^{ns}\.replies$")
        parts = urlsplit(amqp_url)
        netloc = f"{user}:{password}@{parts.hostname}:{parts.port or 5672}"
        yield urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    finally:
        _ctl("delete_user", user)


async def test_a_role_with_rights_only_on_its_own_queue_starts_and_gets_replies(
    rabbit_bus, settings: Settings, narrow_url: str
) -> None:
    names = topology.Names(settings.namespace)
    await rabbit_bus.declare(topology.base(names))  # what `botwerk broker setup` creates
    narrow = RabbitBus(settings.model_copy(update={"amqp_url": narrow_url}), name="narrow")
    await narrow.start(timeout=10)
    got: list[str] = []

    async def keep(reply, delivery) -> None:
        got.append(reply.text)

    inbox = Inbox(narrow, names, names.reply_queue("narrow", "a1"), keep)
    try:
        await inbox.start()  # before: ACCESS_REFUSED declaring {ns}.inbound
        reply = Outgoing.of(Reply(bot="b", conversation="c", text="hi"), correlation_id="x")
        await rabbit_bus.publish(names.replies, inbox.queue, reply)
        await eventually(lambda: got == ["hi"], what="the reply through {ns}.replies")
    finally:
        await inbox.stop()
        await narrow.close()


async def test_without_the_shared_topology_a_narrow_role_is_told_to_run_setup(
    settings: Settings, narrow_url: str
) -> None:
    names = topology.Names(settings.namespace)
    narrow = RabbitBus(settings.model_copy(update={"amqp_url": narrow_url}), name="narrow")
    await narrow.start(timeout=10)
    try:
        with pytest.raises(BusError, match="botwerk broker setup") as caught:
            await narrow.declare(topology.for_replies(names, names.reply_queue("narrow", "b")))
        assert "may not declare the exchange" in str(caught.value)
    finally:
        await narrow.close()
