"""The project's own fixtures (the shipped ones come from the botwerk pytest plugin)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest_plugins = ["tests.support.plugin"]

FAULTS = Path(__file__).parent / "faults"


def pytest_configure(config: pytest.Config) -> None:
    """Bots in tests (and the role processes they start) remember in process memory unless
    ``BOTWERK_STATE_URL`` says otherwise: no test leaves a botwerk-state.db in the repository."""
    os.environ.setdefault("BOTWERK_STATE_URL", "memory://")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Groups for ``pytest -n 2 --dist loadgroup`` (``make unit``): the fault suite is one group,
    run in order on one worker (its throwaway nodes and timings stay alone with it), and every
    other test file is a group of its own, so a file's module fixtures are made once."""
    for item in items:
        path = Path(item.path)
        group = "faults" if path.is_relative_to(FAULTS) else str(path)
        item.add_marker(pytest.mark.xdist_group(group))
