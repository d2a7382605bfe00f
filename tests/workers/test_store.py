"""The model store: versions, manifests, checksums, on a local folder and through fsspec."""

from __future__ import annotations

import json
import uuid

import pytest

from botwerk.workers.store import CorruptModel, ModelNotFound, ModelStore, parse_spec


@pytest.fixture
def built(tmp_path):
    folder = tmp_path / "built"
    folder.mkdir()
    (folder / "weights.bin").write_bytes(b"\x00\x01" * 100)
    (folder / "config.json").write_text('{"hidden": 8}')
    return folder


@pytest.fixture(params=["file", "memory"])
def store(request, tmp_path):
    if request.param == "file":
        return ModelStore(f"file://{tmp_path / 'models'}")
    return ModelStore(f"memory://models-{uuid.uuid4().hex[:8]}", cache=tmp_path / "cache")


def test_publish_then_open_the_latest_and_a_pinned_version(store, built):
    first = store.publish("bard", "charrnn", built, metrics={"loss": 2.0}, corpus="lee")
    (built / "weights.bin").write_bytes(b"\x02" * 10)
    second = store.publish("bard", "charrnn", built, metrics={"loss": 1.5})
    assert (first.version, second.version) == ("1", "2")
    latest = store.open("bard")
    assert latest.manifest == second
    assert (latest.path / "weights.bin").read_bytes() == b"\x02" * 10
    pinned = store.open("bard@1")
    assert (pinned.path / "weights.bin").read_bytes() == b"\x00\x01" * 100
    assert pinned.manifest.metrics == {"loss": 2.0} and pinned.manifest.corpus == "lee"
    assert set(pinned.manifest.files) == {"weights.bin", "config.json"}
    assert [m.spec for m in store.manifests()] == ["bard@1", "bard@2"]


def test_missing_names_and_versions_say_what_there_is(store, built):
    with pytest.raises(ModelNotFound, match=r"no model 'bard'.*none yet.*botwerk train"):
        store.open("bard")
    store.publish("bard", "charrnn", built)
    with pytest.raises(ModelNotFound, match=r"no model 'bart'.*bard"):
        store.open("bart")
    with pytest.raises(ModelNotFound, match=r"no version 7 of 'bard'.*versions: 1"):
        store.open("bard@7")
    with pytest.raises(ModelNotFound, match=r"is a charrnn model, not word2vec"):
        store.open("bard", kind="word2vec")


def test_a_changed_file_is_refused_by_its_checksum(tmp_path, built):
    store = ModelStore(str(tmp_path / "models"))  # a plain path works as well as file://
    manifest = store.publish("bard", "charrnn", built)
    weights = tmp_path / "models" / "bard" / manifest.version / "weights.bin"
    weights.write_bytes(b"tampered")
    with pytest.raises(CorruptModel, match=r"weights\.bin does not match its sha256"):
        store.open("bard")
    weights.unlink()
    with pytest.raises(CorruptModel, match=r"weights\.bin is missing"):
        store.open("bard")


def test_a_version_without_its_manifest_does_not_exist(tmp_path, built):
    store = ModelStore(str(tmp_path / "models"))
    store.publish("bard", "charrnn", built)
    half = tmp_path / "models" / "bard" / "2"
    half.mkdir()
    (half / "weights.bin").write_bytes(b"half written")
    (tmp_path / "models" / "bard" / ".incoming-1234").mkdir()
    assert store.open("bard").manifest.version == "1"
    assert store.publish("bard", "charrnn", built).version == "3"  # never reuses a number


def test_the_manifest_is_plain_json(tmp_path, built):
    store = ModelStore(str(tmp_path / "models"))
    store.publish("bard", "charrnn", built, config={"hidden": 8})
    body = json.loads((tmp_path / "models" / "bard" / "1" / "manifest.json").read_text())
    assert body["kind"] == "charrnn" and body["config"] == {"hidden": 8}
    assert len(body["files"]["weights.bin"]) == 64  # sha256 hex


@pytest.mark.parametrize("spec", ["", "@1", "a/b", ".hidden"])
def test_bad_specs(spec):
    with pytest.raises(ModelNotFound, match=r"NAME or NAME@VERSION"):
        parse_spec(spec)
