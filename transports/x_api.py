"""The X bridge's plumbing: the saved ``since_id`` and the HTTP adapter behind ``api_url``.

::

    since = SinceId(Path("x-state.json")); since.save("1790000000000000001")  # since.value
    session.mount("https://", Rehost("http://127.0.0.1:8123", timeout=20))  # a requests.Session

See :mod:`botwerk.transports.x` for how they are used.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import requests  # type: ignore[import-untyped, unused-ignore]

from botwerk.infra.settings import ConfigError

TWITTER = "https://api.twitter.com"


class SinceId:
    """The id of the newest tweet handled, in a JSON file replaced atomically on each save."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.value = self._read()

    def _read(self) -> str | None:
        if not self.path.exists():
            if not self.path.parent.is_dir():
                raise ConfigError(f"[transports.x] state_file {self.path}: the folder "
                                  f"{self.path.parent} does not exist; create it")  # fmt: skip
            return None
        try:
            value = json.loads(self.path.read_text())["since_id"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            value = exc
        if not (isinstance(value, str) and value.isdigit()):
            raise ConfigError(f"[transports.x] state_file {self.path} has no since_id ({value}): "
                              "fix it, or delete it to start after the newest mention")  # fmt: skip
        return value

    def save(self, tweet_id: str) -> None:
        temporary = self.path.with_name(f".{self.path.name}.tmp")
        with temporary.open("w") as file:
            json.dump({"since_id": tweet_id}, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, self.path)
        self.value = tweet_id


class Rehost:
    """A requests adapter: what tweepy sends to api.twitter.com goes to ``base`` instead, and
    every call gets a timeout (requests has none by default, and tweepy sets none)."""

    def __init__(self, base: str, timeout: float) -> None:
        self.base = base.rstrip("/")
        self.timeout = timeout
        self.inner = requests.adapters.HTTPAdapter()

    def send(self, request: Any, **kwargs: Any) -> Any:
        if self.base != TWITTER and request.url.startswith(TWITTER):
            request.url = self.base + request.url[len(TWITTER) :]
            kwargs["proxies"] = requests.utils.get_environ_proxies(request.url)
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        return self.inner.send(request, **kwargs)

    def close(self) -> None:
        self.inner.close()
