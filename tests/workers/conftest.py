"""What the model command tests share: ``run``, the ``botwerk`` command as a user runs it."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from botwerk.cli.app import main


@pytest.fixture
def run(monkeypatch, tmp_path):
    monkeypatch.delenv("BOTWERK_AMQP_URL", raising=False)
    monkeypatch.setenv("BOTWERK_MODELS", f"file://{tmp_path / 'models'}")
    monkeypatch.chdir(tmp_path)

    def invoke(*args):
        result = CliRunner().invoke(main, [str(a) for a in args])
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result

    return invoke
