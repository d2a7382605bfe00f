"""Preemption: a charrnn run stopped or killed -9 mid-epoch resumes to the very same weights.

Equality is ``torch.equal`` on every tensor, not closeness: on CPU, with the same seed, the
same data order and the RNG states restored, a resumed run does the same float operations in
the same order as one never stopped. The OS-process test pins torch to one thread
(``OMP_NUM_THREADS=1``): the split of a parallel reduction depends on the thread count, and
these tests share small machines, so both runs must use the same count; one is also fastest
for a model this small. No op here is nondeterministic on CPU, so
``torch.use_deterministic_algorithms`` is not needed (it would only matter on a GPU).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from msgspec.structs import replace

from botwerk.workers.charrnn.train import train
from botwerk.workers.checkpoints import MARKER, Checkpoints
from botwerk.workers.epochs import Cancelled
from tests.support.preemption import assert_same_weights, stop_at

from .conftest import CORPUS, TINY

EVERY_STEP = replace(TINY, checkpoint_minutes=0)  # checkpoints after every step


def test_a_run_stopped_mid_epoch_resumes_to_the_same_weights(trained, tmp_path):
    whole = trained  # TINY, never stopped, checkpointed only at epoch ends
    cut = tmp_path / "cut"
    with pytest.raises(Cancelled):
        train(CORPUS, cut, EVERY_STEP, device="cpu", progress=False, log=lambda _: None,
              on_step=stop_at(2, 10))  # fmt: skip
    store = Checkpoints(cut / "checkpoints")
    assert store.latest() == "epoch-0002-step-00000010"
    store.remove("epoch-0002-step-00000010")  # as if killed while writing it: step 10 is redone
    lines: list[str] = []
    again = train(CORPUS, cut, EVERY_STEP, device="cpu", progress=False, log=lines.append)
    assert lines[0].startswith("charrnn: resuming from epoch-0002-step-00000009")
    assert_same_weights(whole.folder, again.folder)
    for figure in ("train_loss", "val_loss", "best_epoch", "steps", "tokens"):
        assert again.metrics[figure] == whole.metrics[figure], figure


def _command(corpus: Path, name: str, workdir: Path) -> list[str]:
    sizes = {"epochs": 2, "embed": 16, "hidden": 32, "layers": 2, "dropout": 0.1, "seq-len": 16,
             "batch-size": 8, "lr": 0.01, "checkpoint-minutes": 0}  # fmt: skip
    flags = [str(x) for k, v in sizes.items() for x in (f"--{k}", v)]
    return [sys.executable, "-m", "botwerk", "train", "charrnn", str(corpus), "--name", name,
            "--workdir", str(workdir), *flags]  # fmt: skip


def _mid_epoch(checkpoints: Path) -> list[Path]:
    return [p for p in checkpoints.glob("epoch-*-step-*") if (p / MARKER).exists()]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_training_process_killed_mid_epoch_resumes_to_the_same_weights(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(CORPUS * 3)  # about 90 steps an epoch: room to land a kill mid-epoch
    env = {k: v for k, v in os.environ.items() if k != "BOTWERK_AMQP_URL"}
    env |= {"BOTWERK_MODELS": f"file://{tmp_path / 'models'}", "BOTWERK_DEVICE": "cpu",
            "OMP_NUM_THREADS": "1"}  # fmt: skip  # see the module docstring
    killed = _command(corpus, "cut", tmp_path / "cut")
    process = subprocess.Popen(killed, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)  # fmt: skip
    checkpoints = tmp_path / "cut" / "checkpoints"
    deadline = time.monotonic() + 120
    while not _mid_epoch(checkpoints) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)  # a few more steps, one of them perhaps mid-write
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL
    latest = Checkpoints(checkpoints).latest() or ""
    assert "-step-" in latest, f"the kill did not land mid-epoch: {latest}"
    assert not (tmp_path / "models" / "cut").exists()  # nothing was published

    again = subprocess.run(killed, env=env, cwd=tmp_path, capture_output=True, text=True,
                           timeout=200, check=False)  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert f"charrnn: resuming from {latest}" in again.stdout
    whole = subprocess.run(_command(corpus, "whole", tmp_path / "whole"), env=env, cwd=tmp_path,
                           capture_output=True, text=True, timeout=200, check=False)  # fmt: skip
    assert whole.returncode == 0, whole.stderr
    models = tmp_path / "models"
    assert_same_weights(models / "whole" / "1", models / "cut" / "1")
