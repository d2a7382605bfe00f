"""The project's own fixtures (the shipped ones come from the botwerk pytest plugin)."""

from __future__ import annotations

import os

import pytest

pytest_plugins = ["tests.support.plugin"]


def pytest_configure(config: pytest.Config) -> None:
    """Bots in tests (and the role processes they start) remember in process memory unless
    ``BOTWERK_STATE_URL`` says otherwise: no test leaves a botwerk-state.db in the repository."""
    os.environ.setdefault("BOTWERK_STATE_URL", "memory://")
