"""Models for fault tests: the echo model, keeping a ledger of what it computed.

``LedgerEcho`` appends each text it computes to ``$BOTWERK_LEDGER_DIR/computed-<pid>.txt``
(one line each, written after computing, before answering), takes
``$BOTWERK_LEDGER_DELAY_MS`` per batch like a real model, and exits on the spot, like a
segfault, when a text starts with ``poison``. Serve it as
``botwerk worker tests.support.models:LedgerEcho --name echo``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from botwerk.workers.echo.serve import EchoInput, EchoModel

POISON = "poison"


class LedgerEcho(EchoModel):
    """Echo, with a ledger of its work and a poison that kills it."""

    def load(self) -> None:
        folder = Path(os.environ.get("BOTWERK_LEDGER_DIR", "."))
        self._ledger = (folder / f"computed-{os.getpid()}.txt").open("a", buffering=1)
        self._delay = float(os.environ.get("BOTWERK_LEDGER_DELAY_MS", "0")) / 1000

    def on_loop(self, batch: list[EchoInput]) -> bool:
        """A batch that sleeps ``$BOTWERK_LEDGER_DELAY_MS`` runs on the model's thread."""
        return self._delay <= 0 and super().on_loop(batch)

    def predict(self, batch: list[EchoInput]) -> list[dict[str, Any]]:
        if any(item.text.startswith(POISON) for item in batch):
            os._exit(70)  # dies holding the whole batch, as a crash in native code would
        time.sleep(self._delay)
        outputs = super().predict(batch)
        self._ledger.write("".join(f"{item.text}\n" for item in batch))
        return outputs
