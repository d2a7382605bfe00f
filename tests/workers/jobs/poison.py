"""A test-only task that kills the pool process running it, every time: a poison job.

Loaded into a trainer with ``botwerk trainer --include tests.workers.jobs.poison``.
"""

from __future__ import annotations

import os
import signal

from celery import shared_task

NAME = "botwerk.test.poison"


@shared_task(name=NAME)
def poison() -> None:
    os.kill(os.getpid(), signal.SIGKILL)  # as an out-of-memory kill would
