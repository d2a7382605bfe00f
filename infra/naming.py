"""How a Botwerk process names itself to the broker, so the RabbitMQ dashboard reads like a map.

Every AMQP connection carries client properties that the Connections tab shows and the
management API returns: ``connection_name`` for people, ``botwerk <role> <name> @<host> pid
<pid>``, and a ``botwerk`` table with the same facts for programs (``botwerk status`` joins
connections to roles with it). Every consumer tag names its role and instance, so the Queues
tab says who consumes what:

>>> me = Identity("core", "demo", instance="3f9a1c", host="box", pid=812, namespace="botwerk")
>>> me.connection_name
'botwerk core demo @box pid 812'
>>> me.consumer_tag(1)
'core demo 3f9a1c 1'
>>> Identity.of(me.client_properties()) == me
True

``role`` is one of :data:`ROLES`; ``name`` is the bot, the model or the transport kind (a
one-off command gives what it does). Neither holds a space: status splits on them.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from botwerk.infra.settings import Settings

ROLES = ("transport", "core", "worker", "trainer", "scheduler", "up", "cli", "test")
PRODUCT = "botwerk"


@dataclass(frozen=True)
class Identity:
    """Who a connection belongs to: role, name, instance, host, pid and namespace."""

    role: str
    name: str
    instance: str
    host: str
    pid: int
    namespace: str

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"role {self.role!r}: use one of {', '.join(ROLES)}")
        if not self.name or " " in self.name:
            raise ValueError(f"name {self.name!r}: give one word (a bot, model or kind)")

    @classmethod
    def here(cls, settings: Settings, role: str, name: str) -> Identity:
        """This process, in ``settings``'s namespace, as ``role`` ``name`` (spaces become -)."""
        word = "-".join(name.split())
        return cls(
            role, word, settings.instance, socket.gethostname(), os.getpid(), settings.namespace
        )

    @classmethod
    def of(cls, client_properties: Mapping[str, Any]) -> Identity | None:
        """The identity a connection announced, or None for one that is not Botwerk's."""
        table = client_properties.get(PRODUCT)
        if not isinstance(table, Mapping):
            return None
        try:
            return cls(**{key: table[key] for key in cls.__dataclass_fields__})
        except (KeyError, TypeError, ValueError):
            return None

    @property
    def connection_name(self) -> str:
        return f"botwerk {self.role} {self.name} @{self.host} pid {self.pid}"

    def client_properties(self) -> dict[str, Any]:
        """What to give pika's or py-amqp's ``client_properties`` (their defaults stay)."""
        return {"connection_name": self.connection_name, "product": PRODUCT, PRODUCT: asdict(self)}

    def consumer_tag(self, n: int) -> str:
        """The tag of this connection's ``n``-th consumer (1, 2, ...)."""
        return f"{self.role} {self.name} {self.instance} {n}"
