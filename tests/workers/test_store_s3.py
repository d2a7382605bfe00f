"""The model store on S3 (moto's local server), and what both kinds of store share.

Publish, list, open, a tampered file refused; no half version after a publisher dies; the local
cache filled once and checked at every open; corpora and checkpoints beside the models; what
"latest" means moved by promote and rollback, on a folder and on S3.
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import fsspec
import pytest

from botwerk.workers.corpora.text import Sentences, load_text
from botwerk.workers.store import CorruptModel, ModelNotFound, ModelStore
from tests.support.proxy import FaultProxy
from tests.support.s3 import S3Server


@pytest.fixture
def built(tmp_path: Path) -> Path:
    folder = tmp_path / "built"
    folder.mkdir()
    (folder / "weights.bin").write_bytes(b"\x00\x01" * 100)
    (folder / "config.json").write_text('{"hidden": 8}')
    return folder


@pytest.fixture
def s3(s3_store: str, tmp_path: Path) -> ModelStore:
    return ModelStore(s3_store, cache=tmp_path / "cache")


@pytest.fixture(params=["file", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ModelStore:
    if request.param == "file":
        return ModelStore(f"file://{tmp_path / 'models'}")
    return ModelStore(request.getfixturevalue("s3_store"), cache=tmp_path / "cache")


def remote(store: ModelStore, rel: str) -> str:
    """The fsspec path of ``rel`` under the store's root."""
    return f"{store.url.removeprefix('s3://')}/{rel}"


def test_publish_list_and_open_on_s3(s3: ModelStore, built: Path) -> None:
    first = s3.publish("bard", "charrnn", built, metrics={"loss": 2.0}, corpus="lee")
    (built / "weights.bin").write_bytes(b"\x02" * 10)
    second = s3.publish("bard", "charrnn", built)
    s3.publish("news", "word2vec", built)
    assert (first.version, second.version) == ("1", "2")
    assert [m.spec for m in s3.manifests()] == ["bard@1", "bard@2", "news@1"]
    latest = s3.open("bard")
    assert latest.manifest == second and (latest.path / "weights.bin").read_bytes() == b"\x02" * 10
    pinned = s3.open("bard@1", kind="charrnn")
    assert (pinned.path / "weights.bin").read_bytes() == b"\x00\x01" * 100
    assert pinned.manifest.metrics == {"loss": 2.0} and pinned.manifest.corpus == "lee"
    assert str(pinned.path).startswith(str(s3.cache))
    with pytest.raises(ModelNotFound, match=r"no version 7 of 'bard'.*versions: 1, 2"):
        s3.open("bard@7")


def test_a_tampered_file_in_the_bucket_is_refused(s3: ModelStore, built: Path) -> None:
    manifest = s3.publish("bard", "charrnn", built)
    s3._fs.pipe_file(remote(s3, "bard/1/weights.bin"), b"tampered")
    with pytest.raises(CorruptModel, match=r"bard@1: weights\.bin does not match its sha256"):
        s3.open("bard")
    cached = list((s3.cache / "models").rglob("weights.bin"))
    assert cached == [], "a refused download must not stay in the cache"
    s3._fs.rm_file(remote(s3, f"bard/{manifest.version}/weights.bin"))
    with pytest.raises(CorruptModel, match=r"bard@1: weights\.bin is missing from s3://"):
        s3.open("bard")


def test_a_version_is_cached_once_and_checked_at_every_open(s3: ModelStore, built: Path) -> None:
    s3.publish("bard", "charrnn", built)
    weights = s3.open("bard").path / "weights.bin"
    before = weights.stat()
    again = s3.open("bard").path / "weights.bin"
    assert again == weights and (again.stat().st_ino, again.stat().st_mtime_ns) == (
        before.st_ino,
        before.st_mtime_ns,
    ), "a cached version is not downloaded again"
    weights.write_bytes(b"tampered in the cache")
    reopened = s3.open("bard").path / "weights.bin"
    assert reopened.read_bytes() == b"\x00\x01" * 100  # refused and fetched again
    other = ModelStore(s3.url.replace("/models", "/other"), cache=s3.cache)
    other.publish("bard", "charrnn", built)
    assert other.open("bard").path != reopened.parent, "two stores never share a cache folder"


def test_files_without_their_manifest_are_no_version(s3: ModelStore, built: Path) -> None:
    s3.publish("bard", "charrnn", built)
    for file in (".claim", "weights.bin", "config.json"):  # a publisher that died before the end
        s3._fs.pipe_file(remote(s3, f"bard/2/{file}"), b"half written")
    s3._fs.pipe_file(remote(s3, "orphan/1/weights.bin"), b"half written")
    assert [m.spec for m in s3.manifests()] == ["bard@1"]
    assert s3.open("bard").manifest.version == "1"
    with pytest.raises(ModelNotFound, match=r"no version 2 of 'bard'"):
        s3.open("bard@2")
    with pytest.raises(ModelNotFound, match=r"no model 'orphan'"):
        s3.open("orphan")
    assert s3.publish("bard", "charrnn", built).version == "3"  # never reuses a number


def test_a_publisher_killed_mid_upload_leaves_no_half_version(
    s3_server: S3Server, s3: ModelStore, built: Path, tmp_path: Path
) -> None:
    s3.publish("bard", "charrnn", built)
    big = tmp_path / "big"
    big.mkdir()
    for n in range(6):
        (big / f"shard-{n}.bin").write_bytes(os.urandom(64 * 1024))
    proxy = FaultProxy("127.0.0.1", int(s3_server.endpoint.rsplit(":", 1)[1])).start()
    proxy.latency(150)  # each request takes a few hundred ms: time to kill it half way
    env = {**os.environ, **s3_server.env, "AWS_ENDPOINT_URL_S3": proxy.url_for(s3_server.endpoint)}
    script = (
        "import sys; from pathlib import Path; from botwerk.workers.store import ModelStore; "
        "ModelStore(sys.argv[1]).publish('bard', 'charrnn', Path(sys.argv[2]))"
    )
    publisher = subprocess.Popen([sys.executable, "-c", script, s3.url, str(big)], env=env)
    try:
        _wait_for(s3, "bard/2/shard-0.bin", publisher)  # the first file is up, five to go
        proxy.blackhole()
    finally:
        publisher.kill()
        publisher.wait()
        proxy.close()
    s3._fs.invalidate_cache()
    assert not s3._fs.exists(remote(s3, "bard/2/manifest.json"))
    assert [m.spec for m in s3.manifests()] == ["bard@1"]
    assert s3.latest("bard").version == "1"
    assert s3.publish("bard", "charrnn", built).version == "3"


def _wait_for(store: ModelStore, rel: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        store._fs.invalidate_cache()
        if store._fs.exists(remote(store, rel)):
            return
        time.sleep(0.02)
    pytest.fail(f"{rel} never appeared (publisher exit code {proc.poll()})")


def test_publishers_at_the_same_time_never_share_a_number(s3: ModelStore, built: Path) -> None:
    numbers: list[str] = []
    threads = [
        threading.Thread(target=lambda: numbers.append(s3.publish("bard", "x", built).version))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(numbers, key=int) == ["1", "2", "3", "4"]
    assert [m.version for m in s3.manifests()] == ["1", "2", "3", "4"]


def test_promote_and_rollback_move_latest(store: ModelStore, built: Path) -> None:
    for _ in range(3):
        store.publish("bard", "charrnn", built)
    assert store.latest("bard").version == "3"
    assert store.promote("bard@1").version == "1"
    assert store.open("bard").manifest.version == "1"
    assert store.publish("bard", "charrnn", built).version == "4"  # publishing makes it latest
    assert store.latest("bard").version == "4"
    assert [store.rollback("bard").version for _ in range(4)] == ["1", "3", "2", "1"]
    assert store.latest("bard").version == "1"
    with pytest.raises(
        ModelNotFound, match=r"nothing to roll 'bard' back to: bard@1 was the first"
    ):
        store.rollback("bard")
    assert [m.spec for m in store.manifests()] == [f"bard@{v}" for v in "1234"]


def test_promote_and_rollback_refuse_what_is_not_there(store: ModelStore, built: Path) -> None:
    with pytest.raises(ModelNotFound, match=r"nothing to roll 'bard' back to: no version in"):
        store.rollback("bard")
    store.publish("bard", "charrnn", built)
    with pytest.raises(ModelNotFound, match=r"no version 9 of 'bard'"):
        store.promote("bard@9")
    with pytest.raises(ModelNotFound, match=r"promote takes NAME@VERSION"):
        store.promote("bard")
    with pytest.raises(ModelNotFound, match=r"rollback takes a model's NAME"):
        store.rollback("bard@1")
    assert store.promote("bard@1").version == "1"  # promoting what is latest changes nothing
    with pytest.raises(ModelNotFound, match=r"nothing to roll"):
        store.rollback("bard")


def test_the_pointer_is_written_whole(tmp_path: Path, built: Path) -> None:
    store = ModelStore(str(tmp_path / "models"))
    store.publish("bard", "charrnn", built)
    store.publish("bard", "charrnn", built)
    store.promote("bard@1")
    folder = tmp_path / "models" / "bard"
    assert sorted(p.name for p in folder.iterdir()) == ["1", "2", "latest.json"]
    assert ModelStore(str(tmp_path / "models")).latest("bard").version == "1"


def test_a_corpus_is_put_once_and_read_back_by_url(store: ModelStore, tmp_path: Path) -> None:
    corpus = tmp_path / "plays.txt"
    corpus.write_text("To be, or not to be\nthat is the question\n")
    url = store.put_corpus(corpus)
    assert "/corpora/" in url and url.endswith("/plays.txt")
    assert store.put_corpus(corpus) == url  # already there: skipped
    corpus.unlink()
    assert load_text(url) == "To be, or not to be\nthat is the question\n"
    assert list(Sentences(url)) == [
        ["to", "be", "or", "not", "to", "be"],
        ["that", "is", "the", "question"],
    ]
    assert [m.spec for m in store.manifests()] == []  # corpora are not models


def test_a_corpus_folder_keeps_its_files_and_compression(store: ModelStore, tmp_path: Path) -> None:
    folder = tmp_path / "plays"
    (folder / "acts").mkdir(parents=True)
    (folder / "a.txt").write_text("first")
    with gzip.open(folder / "acts" / "b.txt.gz", "wt") as handle:
        handle.write("second")
    (folder / ".hidden").write_text("never read")
    url = store.put_corpus(folder)
    assert url.endswith("/plays/")
    assert load_text(url) == "first\nsecond"
    (folder / "a.txt").write_text("changed")
    assert store.put_corpus(folder) != url  # another content: another place


def test_a_missing_corpus_says_what_to_give(store: ModelStore, tmp_path: Path) -> None:
    with pytest.raises(Exception, match=r"no corpus at .*nowhere"):
        store.put_corpus(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match=r"no corpus at"):
        load_text(store.put_corpus(_file(tmp_path)).rsplit("/", 1)[0] + "/nowhere.txt")


def _file(tmp_path: Path) -> Path:
    path = tmp_path / "one.txt"
    path.write_text("one")
    return path


def test_checkpoints_live_in_a_folder_fsspec_reaches(store: ModelStore, built: Path) -> None:
    url = store.checkpoint_url("bard")
    assert url.endswith("/checkpoints/bard/") and url.split("://")[0] in ("file", "s3")
    fs, root = fsspec.core.url_to_fs(url)
    fs.pipe_file(f"{root.rstrip('/')}/epoch-1.safetensors", b"weights")
    again, root = fsspec.core.url_to_fs(store.checkpoint_url("bard"))
    assert again.cat_file(f"{root.rstrip('/')}/epoch-1.safetensors") == b"weights"
    store.publish("bard", "charrnn", built)
    assert [m.spec for m in store.manifests()] == ["bard@1"]  # checkpoints are not models
    with pytest.raises(Exception, match=r"'checkpoints' names the store's own folder"):
        store.publish("checkpoints", "charrnn", built)


@pytest.mark.parametrize("evil", ["../../../../../x/PWNED.txt", "/tmp/PWNED.txt", "a/../../b"])
def test_a_manifest_naming_a_file_outside_its_version_is_refused(
    store: ModelStore, built: Path, tmp_path: Path, evil: str
) -> None:
    """A store anyone can write to must not make a worker write (or read) outside its folder."""
    import hashlib
    import json

    store.publish("bard", "charrnn", built)
    payload = b"owned"
    forged = {"name": "bard", "kind": "charrnn", "version": "1",
              "files": {evil: hashlib.sha256(payload).hexdigest()}}  # fmt: skip
    fs, root = fsspec.core.url_to_fs(store.url)
    fs.pipe_file(f"{root}/bard/1/manifest.json", json.dumps(forged).encode())
    if store.local is None:  # the object a download would fetch, and write where it says
        fs.pipe_file(f"{root}/bard/1/{evil.lstrip('/')}", payload)
    with pytest.raises(CorruptModel, match="not a plain file name"):
        store.open("bard@1")
    written = [p for p in tmp_path.rglob("PWNED.txt") if "models" not in p.parts]
    assert not written and not Path("/tmp/PWNED.txt").exists()


def test_a_manifest_of_another_version_is_refused(store: ModelStore, built: Path) -> None:
    store.publish("bard", "charrnn", built)
    store.publish("bard", "charrnn", built)
    fs, root = fsspec.core.url_to_fs(store.url)
    fs.pipe_file(f"{root}/bard/2/manifest.json", fs.cat_file(f"{root}/bard/1/manifest.json"))
    with pytest.raises(CorruptModel, match="says bard@1"):
        store.open("bard@2")
