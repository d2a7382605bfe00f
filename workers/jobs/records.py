"""What Botwerk keeps in Redis beside Celery's results: the list of jobs and cancel requests.

    records = Records(settings)          # BOTWERK_RESULTS_URL, keys under botwerk:{ns}:
    records.add(job_id, {"kind": "charrnn", "name": "bard", "corpus": "s3://..."})
    records.cancel(job_id); records.cancelled(job_id)   # the flag a running job checks

Each key expires a week after it is written, as Celery's results do.
"""

from __future__ import annotations

import json
import time
from typing import Any

import redis

from botwerk.infra.settings import Settings, redact_url
from botwerk.schemas import BotwerkError
from botwerk.workers.jobs.queues import WEEK_S, key_prefix


class ResultsUnreachable(BotwerkError):
    """Redis at BOTWERK_RESULTS_URL does not answer."""


class Records:
    """The namespace's job list, each job's submission, and the cancel flags."""

    def __init__(self, settings: Settings) -> None:
        self.url = settings.results_url
        self.redis = redis.Redis.from_url(
            settings.results_url, socket_connect_timeout=3, socket_timeout=10
        )
        self.prefix = key_prefix(settings)

    def check(self) -> None:
        """Raise :class:`ResultsUnreachable`, naming the fix, unless Redis answers."""
        try:
            self.redis.ping()
        except redis.RedisError as exc:
            raise ResultsUnreachable(
                f"BOTWERK_RESULTS_URL={redact_url(self.url)} unreachable ({exc}): start Redis "
                "with `redis-server --daemonize yes`, or point BOTWERK_RESULTS_URL at yours"
            ) from None

    def add(self, job: str, info: dict[str, Any]) -> None:
        stamped = {**info, "submitted": time.time()}
        with self.redis.pipeline() as pipe:
            pipe.zadd(self.prefix + "jobs", {job: stamped["submitted"]})
            pipe.expire(self.prefix + "jobs", WEEK_S)
            pipe.set(self.prefix + f"job:{job}", json.dumps(stamped), ex=WEEK_S)
            pipe.execute()

    def info(self, job: str) -> dict[str, Any] | None:
        """What was submitted as ``job``, or None if no job of this namespace has that id."""
        raw = self.redis.get(self.prefix + f"job:{job}")
        found: dict[str, Any] | None = json.loads(raw) if raw else None
        return found

    def ids(self, limit: int) -> list[str]:
        """The ``limit`` newest jobs' ids, newest first."""
        found: list[bytes] = self.redis.zrevrange(self.prefix + "jobs", 0, limit - 1)  # type: ignore[assignment]
        return [job.decode() for job in found]

    def cancel(self, job: str) -> None:
        self.redis.set(self.prefix + f"cancel:{job}", "1", ex=WEEK_S)

    def cancelled(self, job: str) -> bool:
        return bool(self.redis.exists(self.prefix + f"cancel:{job}"))
