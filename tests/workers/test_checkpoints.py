"""Checkpoints appear whole, locally and at an fsspec URL: a half-written one is never read."""

from __future__ import annotations

import uuid
from pathlib import Path

import fsspec
import pytest

from botwerk.workers.checkpoints import MARKER, Checkpoints, name_of, order_of


def _fill(text: str):
    def fill(folder: Path) -> None:
        (folder / "a.txt").write_text(text)
        (folder / "b.txt").write_text(text.upper())

    return fill


def _broken(folder: Path) -> None:
    (folder / "a.txt").write_text("half")
    raise OSError("disk full")


@pytest.fixture(params=["local", "memory"])
def store(request, tmp_path) -> Checkpoints:
    """The same tests on a local folder and on fsspec's in-memory object store."""
    if request.param == "local":
        return Checkpoints(tmp_path / "checkpoints")
    return Checkpoints(f"memory://checkpoints-{uuid.uuid4().hex}")


def test_names_sort_by_where_training_stood():
    names = ["epoch-0002", "epoch-0002-step-00000010", "epoch-0001", "epoch-0002-step-00000002"]
    assert sorted(names, key=order_of) == [
        "epoch-0001", "epoch-0002-step-00000002", "epoch-0002-step-00000010", "epoch-0002",
    ]  # fmt: skip
    assert name_of(3) == "epoch-0003" and name_of(3, 40) == "epoch-0003-step-00000040"
    assert order_of("best-0002") is None


def test_a_written_checkpoint_reads_back_whole(store):
    store.write("epoch-0001", _fill("one"))
    assert store.names() == ["epoch-0001"] and store.latest() == "epoch-0001"
    with store.open("epoch-0001") as folder:
        assert (folder / "a.txt").read_text() == "one" and (folder / "b.txt").read_text() == "ONE"


def test_a_write_that_fails_midway_leaves_the_previous_checkpoint(store):
    store.write("epoch-0001", _fill("one"))
    with pytest.raises(OSError, match="disk full"):
        store.write("epoch-0002-step-00000003", _broken)
    assert store.latest() == "epoch-0001"
    store.write("epoch-0002-step-00000003", _fill("two"))  # the same name, written again
    with store.open(store.latest() or "") as folder:
        assert (folder / "a.txt").read_text() == "two"


def test_on_an_object_store_data_without_the_marker_is_never_read(monkeypatch):
    store = Checkpoints(f"memory://checkpoints-{uuid.uuid4().hex}")
    store.write("epoch-0001", _fill("one"))

    def killed(path: str, value: bytes) -> None:  # the trainer dies before the marker
        raise SystemExit("killed")

    monkeypatch.setattr(store.fs, "pipe_file", killed)
    with pytest.raises(SystemExit):
        store.write("epoch-0002", _fill("two"))
    monkeypatch.undo()
    fs = fsspec.filesystem("memory")
    assert fs.exists(f"{store.root}/epoch-0002/a.txt")  # the data is there ...
    assert not fs.exists(f"{store.root}/epoch-0002/{MARKER}")  # ... the marker is not
    assert store.latest() == "epoch-0001" and store.unmarked() == ["epoch-0002"]
    store.write("epoch-0003-step-00000001", _fill("three"))
    store.prune()  # the half upload is older than the latest checkpoint: cleared
    assert not fs.exists(f"{store.root}/epoch-0002") and store.unmarked() == []


def test_a_local_write_renames_a_hidden_folder_into_place(tmp_path):
    store = Checkpoints(f"file://{tmp_path}/checkpoints")
    with pytest.raises(OSError):
        store.write("epoch-0001", _broken)
    assert list((tmp_path / "checkpoints").iterdir()) == []  # nothing visible, nothing left
    store.write("epoch-0001", _fill("one"))
    assert sorted(p.name for p in (tmp_path / "checkpoints" / "epoch-0001").iterdir()) == [
        "a.txt", "b.txt", MARKER,
    ]  # fmt: skip


def test_pruning_keeps_the_last_two_and_the_newest_best(store):
    for name in ("epoch-0001", "best-0001", "epoch-0002-step-00000001",
                 "epoch-0002-step-00000002"):  # fmt: skip
        store.write(name, _fill(name))
    store.prune()
    assert store.names() == ["epoch-0002-step-00000001", "epoch-0002-step-00000002"]
    store.write("epoch-0002", _fill("two"))
    store.write("best-0002", _fill("two"))
    store.prune()  # epoch 2 ended: its mid-epoch checkpoints go first
    assert store.names() == ["epoch-0002"] and store.latest_best() == "best-0002"
    assert not store.fs.exists(f"{store.root}/best-0001")
