"""Run ``botwerk`` roles as real OS processes, with logs kept for the test report.

In a test::

    procs = Processes(env, tmp_path)
    worker = procs.start("worker", "echo")
    procs.kill(worker)                  # SIGKILL: no goodbye, unacked work goes back
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

# The repository root: a role started with a sabotage, or serving a model of the harness,
# imports ``tests.support`` in its own process.
REPO = Path(__file__).resolve().parents[2]


class Processes:
    """Starts roles with one environment; stops whatever is left at the end."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
        self.env = {**os.environ, "PYTHONPATH": path, **env}
        self.logs = logs
        self.running: list[subprocess.Popen[str]] = []
        self._count = 0

    def start(
        self, *args: str, stdin: int | None = None, sabotage: str | None = None
    ) -> subprocess.Popen[str]:
        """``botwerk ARGS...`` in the background; its stderr goes to a log file.

        ``sabotage`` names protections to switch off (:mod:`tests.support.sabotage`).
        """
        self._count += 1
        name = "-".join(args)[:40].replace("/", "_").replace(":", "_")
        log = self.logs / f"{self._count:02d}-{name}{'-' + sabotage if sabotage else ''}.log"
        command = ["-m", "botwerk"]
        if sabotage:
            command = ["-m", "tests.support.sabotage", sabotage, "--"]
        proc = subprocess.Popen(
            [sys.executable, *command, *args],
            env=self.env,
            stdin=stdin,
            stdout=subprocess.PIPE if stdin is not None else log.open("a"),
            stderr=log.open("a"),
            text=True,
        )
        proc.log_path = log  # type: ignore[attr-defined]
        self.running.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen[str], sig: int = signal.SIGKILL) -> None:
        proc.send_signal(sig)
        proc.wait(timeout=30)

    def stop_all(self) -> None:
        for proc in self.running:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.running:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    @staticmethod
    def log_of(proc: subprocess.Popen[str]) -> str:
        path: Path = proc.log_path  # type: ignore[attr-defined]
        return path.read_text() if path.exists() else ""
