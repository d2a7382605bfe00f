"""Component up/down events on ``{ns}.events``, so dashboards and tests see roles come and go.

Routing key ``component.<up|down>.<role>.<name>``; a worker says ``up`` only once its model is
loaded and warmed up, so ``up`` means ready to serve.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from typing import Literal

from botwerk.schemas import ComponentEvent

from .bus import Bus, Outgoing
from .topology import Names

log = logging.getLogger("botwerk.events")


async def announce(
    bus: Bus, names: Names, role: str, name: str, instance: str, up: bool, model: str | None = None
) -> None:
    """Publish that this component is up or down; a failure is logged, never raised.

    A worker gives ``model`` (``<model>@<version>``) and says ``up`` again after each live
    swap, so ``botwerk status`` shows the version it serves now.
    """
    state: Literal["up", "down"] = "up" if up else "down"
    event = ComponentEvent(
        role=role,
        name=name,
        instance=instance,
        state=state,
        pid=os.getpid(),
        host=socket.gethostname(),
        at=time.time(),
        model=model,
    )
    try:
        await bus.publish(
            names.events, f"component.{state}.{role}.{name}", Outgoing.of(event), timeout=5
        )
    except Exception as exc:
        log.warning("could not announce %s %s %s: %s", role, name, state, exc)
