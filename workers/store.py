"""The model store: versioned model folders, each with a manifest of checksums, behind a URL.

Publishing a trained folder ``built`` and opening it again::

    store = ModelStore("file://./models")          # or "s3://bucket/models"
    manifest = store.publish("bard", "charrnn", built, metrics={"val_loss": 1.41},
                             corpus="lee_background.cor", config={"hidden": 512})
    stored = store.open("bard")            # the latest version; "bard@2" pins one
    stored.path / "model.safetensors"      # a local folder whose files match their sha256
    store.promote("bard@1"); store.rollback("bard")   # move what "latest" means

Layout: ``<root>/<name>/<version>/`` holds the model's files and ``manifest.json`` (kind,
version, the sha256 of each file, training metrics, corpus, config, created). Versions are
whole numbers counting up from 1. A version exists once its manifest does, and the manifest is
written last: on a local disk the version is copied into a hidden folder that is renamed into
place; on S3, where nothing can be renamed, a publisher first claims its number with an
exclusive write of ``<version>/.claim``, uploads the files, then the manifest. A publisher
killed on the way leaves a folder without a manifest: invisible, and its number never reused.

"Latest" is the newest published version unless ``promote``/``rollback`` said otherwise: they
write ``<name>/latest.json`` (the versions made latest, in order, and the highest version they
knew of), in one atomic write. A version published after that pointer is latest again.
Beside the models: ``corpora/<sha256[:16]>/`` (:meth:`ModelStore.put_corpus`) and
``checkpoints/<run>/`` (:meth:`ModelStore.checkpoint_url`); neither name can be a model's.

``file://DIR`` or a plain path is a local folder. Any other URL (``s3://bucket/models``,
``memory://models``) goes through fsspec, configured by its usual environment: for S3 the AWS
variables (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_ENDPOINT_URL_S3`` for a
server other than AWS). ``open`` then copies the version once into a local cache
(``BOTWERK_CACHE``, default ``~/.cache/botwerk``) and checks every checksum there at each open:
a damaged cached copy is fetched again, a remote file that does not match is refused.

Limits: two ``promote``/``rollback`` calls at the same instant may lose one of them (the
pointer is read, changed and written back). Nothing is unpickled: the store only moves files,
and each model kind reads its own safe formats.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from botwerk.schemas import BotwerkError

MANIFEST = "manifest.json"
POINTER = "latest.json"
CLAIM = ".claim"
CORPORA, CHECKPOINTS = "corpora", "checkpoints"
HISTORY_KEPT = 100


class ModelNotFound(BotwerkError, LookupError):
    """No stored model has that name or version; the message lists what there is."""


class CorruptModel(BotwerkError):
    """A stored file is missing or does not match the sha256 in its manifest."""


class Manifest(msgspec.Struct, frozen=True, kw_only=True):
    """What ``manifest.json`` says about one stored version."""

    name: str
    kind: str
    version: str
    files: dict[str, str]
    """file name -> sha256 hex digest"""
    metrics: dict[str, float] = {}
    corpus: str = ""
    config: dict[str, Any] = {}
    created: float = 0.0

    @property
    def spec(self) -> str:
        return f"{self.name}@{self.version}"


class Pointer(msgspec.Struct, frozen=True, kw_only=True):
    """What ``<name>/latest.json`` says: the versions made latest in turn, the last one is."""

    history: list[str] = []
    seen: int = 0
    """the highest version number when it was written: any higher one is newer than it"""


@dataclass(frozen=True, slots=True)
class TrainResult:
    """What a training run hands to :meth:`ModelStore.publish`."""

    folder: Path
    """holds exactly the files to publish"""
    metrics: dict[str, float]
    config: dict[str, Any]


class StoredModel(msgspec.Struct, frozen=True):
    """A version opened for reading: a local folder and its manifest."""

    path: Path
    manifest: Manifest


def parse_spec(spec: str) -> tuple[str, str | None]:
    """``"bard@2"`` -> ``("bard", "2")``; ``"bard"`` -> ``("bard", None)``."""
    name, _, version = spec.partition("@")
    if not name or "/" in name or name.startswith("."):
        raise ModelNotFound(f"{spec!r} is not a model name: use NAME or NAME@VERSION")
    return name, version or None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class ModelStore:
    """Versioned models under one root URL."""

    def __init__(self, url: str, cache: Path | None = None) -> None:
        self.url = url
        self.local = _local_root(url)
        self.cache = cache or Path(os.environ.get("BOTWERK_CACHE", "~/.cache/botwerk")).expanduser()
        if self.local is None:
            import fsspec

            self._fs, self._root = fsspec.core.url_to_fs(url)

    @classmethod
    def from_settings(cls, settings: Any) -> ModelStore:
        return cls(settings.models)

    def __repr__(self) -> str:
        return f"ModelStore({self.url!r})"

    # Reading.
    def manifests(self) -> list[Manifest]:
        """Every stored version, by name then version."""
        found = []
        for name in self._names():
            found += [self._manifest(name, version) for version in self._versions(name)]
        return found

    def latest(self, name: str) -> Manifest:
        """What ``name`` means unpinned: the last version promoted, rolled back to or published."""
        history = self._history(name)
        if not history:
            known = ", ".join(self._names()) or "none yet"
            raise ModelNotFound(
                f"no model {name!r} in the store {self.url} (models there: {known}); "
                f"train one with `botwerk train KIND CORPUS --name {name}`"
            )
        return self._manifest(name, history[-1])

    def resolve(self, spec: str) -> Manifest:
        """The manifest ``NAME`` (latest) or ``NAME@VERSION`` names."""
        name, version = parse_spec(spec)
        if version is None:
            return self.latest(name)
        versions = self._versions(name)
        if version not in versions:
            have = ", ".join(versions) or "none"
            raise ModelNotFound(f"no version {version} of {name!r} in {self.url}; versions: {have}")
        return self._manifest(name, version)

    def open(self, spec: str, *, kind: str | None = None) -> StoredModel:
        """A local, checksum-verified folder holding ``spec``; ``kind`` must match if given."""
        manifest = self.resolve(spec)
        if kind is not None and manifest.kind != kind:
            raise ModelNotFound(
                f"{manifest.spec} is a {manifest.kind} model, not {kind}: "
                f"serve it with `botwerk worker {manifest.kind}`"
            )
        if self.local is None:
            return StoredModel(self._download(manifest), manifest)  # verified there
        folder = self.local / manifest.name / manifest.version
        verify(folder, manifest)
        return StoredModel(folder, manifest)

    # Writing.
    def publish(
        self,
        name: str,
        kind: str,
        source: Path,
        *,
        metrics: dict[str, float] | None = None,
        corpus: str = "",
        config: dict[str, Any] | None = None,
    ) -> Manifest:
        """Store the files in folder ``source`` as the next version of ``name``; it is latest."""
        parse_spec(name)
        if name in (CORPORA, CHECKPOINTS):
            raise BotwerkError(f"{name!r} names the store's own folder: choose another name")
        files = sorted(p for p in source.iterdir() if p.is_file() and p.name != MANIFEST)
        if not files:
            raise BotwerkError(f"nothing to publish: {source} holds no files")
        manifest = Manifest(
            name=name, kind=kind, version=str(self._last_number(name) + 1),
            files={p.name: sha256_of(p) for p in files}, metrics=dict(metrics or {}),
            corpus=corpus, config=dict(config or {}), created=time.time(),
        )  # fmt: skip
        if self.local is not None:
            return self._publish_local(manifest, files)
        return self._publish_remote(manifest, files)

    def promote(self, spec: str) -> Manifest:
        """Make ``NAME@VERSION`` what ``NAME`` means; :meth:`rollback` undoes it."""
        name, version = parse_spec(spec)
        if version is None:
            raise ModelNotFound(f"promote takes NAME@VERSION, not {spec!r}")
        manifest = self.resolve(spec)
        history = self._history(name)
        if history[-1:] != [version]:
            history.append(version)
        self._write_pointer(name, history)
        return manifest

    def rollback(self, name: str) -> Manifest:
        """Move ``name``'s latest back to the version promoted or published before it."""
        name, version = parse_spec(name)
        if version is not None:
            raise ModelNotFound(f"rollback takes a model's NAME, not {name}@{version}")
        history = self._history(name)
        if len(history) < 2:
            why = f"{name}@{history[-1]} was the first made latest" if history else "no version"
            raise ModelNotFound(
                f"nothing to roll {name!r} back to: {why} in {self.url}; "
                "publish or promote another version first"
            )
        self._write_pointer(name, history[:-1])
        return self._manifest(name, history[-2])

    def put_corpus(self, path: Path) -> str:
        """Upload a local corpus file or folder once (by content); a URL any store user can read."""
        path = Path(path)
        if path.is_file():
            files, digest = {path.name: path}, sha256_of(path)
        elif path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and _visible_under(p, path))
            files = {f"{path.name}/{p.relative_to(path)}": p for p in found}
            listing = "\n".join(f"{rel} {sha256_of(p)}" for rel, p in files.items())
            digest = hashlib.sha256(listing.encode()).hexdigest()
        else:
            raise BotwerkError(f"no corpus at {path}: give a text file or a folder of them")
        folder = f"{CORPORA}/{digest[:16]}"
        for rel, source in files.items():
            self._put_once(f"{folder}/{rel}", source)
        return self._url(f"{folder}/{path.name}") + ("/" if path.is_dir() else "")

    def checkpoint_url(self, name: str) -> str:
        """The URL of the folder (ending in ``/``) where the checkpoints of run ``name`` live."""
        run, version = parse_spec(name)
        if version is not None:
            raise BotwerkError(f"a training run's name has no version: {name!r}")
        if self.local is not None:
            (self.local / CHECKPOINTS / run).mkdir(parents=True, exist_ok=True)
        return self._url(f"{CHECKPOINTS}/{run}") + "/"

    # Publishing, on either kind of root.
    def _publish_local(self, manifest: Manifest, files: list[Path]) -> Manifest:
        """Copy into a hidden folder, then rename it into place: a version appears whole."""
        assert self.local is not None
        parent = self.local / manifest.name
        incoming = parent / f".incoming-{uuid.uuid4().hex[:8]}"
        incoming.mkdir(parents=True)
        try:
            for path in files:
                shutil.copy2(path, incoming / path.name)
            while True:
                (incoming / MANIFEST).write_text(_manifest_json(manifest))
                try:
                    incoming.rename(parent / manifest.version)
                    return manifest
                except OSError:  # another publisher took this number: take the next one
                    number = max(int(manifest.version), self._last_number(manifest.name)) + 1
                    manifest = msgspec.structs.replace(manifest, version=str(number))
        except BaseException:
            shutil.rmtree(incoming, ignore_errors=True)
            raise

    def _publish_remote(self, manifest: Manifest, files: list[Path]) -> Manifest:
        """Claim a number by an exclusive write, upload the files, write the manifest last."""
        number = int(manifest.version)
        while True:
            try:
                self._fs.pipe_file(
                    self._path(manifest.name, str(number), CLAIM), b"", mode="create"
                )
                break
            except FileExistsError:  # another publisher holds this number: take the next one
                number += 1
        manifest = msgspec.structs.replace(manifest, version=str(number))
        for path in files:
            self._fs.put_file(str(path), self._path(manifest.name, manifest.version, path.name))
        body = _manifest_json(manifest).encode()
        self._fs.pipe_file(self._path(manifest.name, manifest.version, MANIFEST), body)
        return manifest

    def _put_once(self, rel: str, source: Path) -> None:
        """Copy ``source`` to ``<root>/rel`` unless it is there; it appears whole or not at all."""
        if self.local is None:
            if not self._fs.exists(f"{self._root}/{rel}"):
                self._fs.put_file(str(source), f"{self._root}/{rel}")  # one object: atomic
            return
        target = self.local / rel
        if target.is_file():
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        incoming = target.with_name(f".incoming-{uuid.uuid4().hex[:8]}")
        shutil.copyfile(source, incoming)
        os.replace(incoming, target)

    # The pointer that promote and rollback write.
    def _history(self, name: str) -> list[str]:
        """The versions made latest in turn, then any published since: the last one is latest."""
        versions = self._versions(name)
        if not versions:
            return []
        pointer = self._pointer(name)
        history = [v for v in pointer.history if v in versions]
        return history + [v for v in versions if int(v) > pointer.seen]

    def _pointer(self, name: str) -> Pointer:
        try:
            if self.local is not None:
                body = (self.local / name / POINTER).read_bytes()
            else:
                body = self._fs.cat_file(self._path(name, POINTER))
        except FileNotFoundError:
            return Pointer()
        try:
            return msgspec.json.decode(body, type=Pointer)
        except msgspec.DecodeError as exc:
            raise CorruptModel(f"{name}: bad {POINTER}: {exc}; promote a version again") from None

    def _write_pointer(self, name: str, history: list[str]) -> None:
        pointer = Pointer(history=history[-HISTORY_KEPT:], seen=self._last_number(name))
        body = msgspec.json.encode(pointer)
        if self.local is None:
            self._fs.pipe_file(self._path(name, POINTER), body)  # one PUT: atomic
            return
        incoming = self.local / name / f".{POINTER}-{uuid.uuid4().hex[:8]}"
        incoming.write_bytes(body)
        os.replace(incoming, self.local / name / POINTER)

    # Listing, on either kind of root.
    def _names(self) -> list[str]:
        if self.local is not None:
            if not self.local.is_dir():
                return []
            found = [p.name for p in self.local.iterdir() if p.is_dir()]
        else:
            self._fs.invalidate_cache(self._root)
            try:
                entries = self._fs.ls(self._root, detail=True)
            except FileNotFoundError:
                return []
            dirs = (e["name"] for e in entries if e["type"] == "directory")
            found = [d.rstrip("/").rsplit("/", 1)[-1] for d in dirs]
        return sorted(n for n in found if _visible(n) and n not in (CORPORA, CHECKPOINTS))

    def _numbers(self, name: str) -> dict[str, bool]:
        """Every version number in use -> whether its manifest is there (the version exists)."""
        if self.local is not None:
            folder = self.local / name
            found = [p.name for p in folder.iterdir()] if folder.is_dir() else []
            return {v: (folder / v / MANIFEST).is_file() for v in found if v.isdigit()}
        base = self._path(name)
        self._fs.invalidate_cache(base)
        try:
            paths = self._fs.find(base)  # one listing, however many versions
        except FileNotFoundError:
            return {}
        numbers: dict[str, bool] = {}
        for path in paths:
            version, _, file = path[len(base) + 1 :].partition("/")
            if version.isdigit():
                numbers[version] = numbers.get(version, False) or file == MANIFEST
        return numbers

    def _versions(self, name: str) -> list[str]:
        return sorted((v for v, whole in self._numbers(name).items() if whole), key=int)

    def _last_number(self, name: str) -> int:
        """The highest version number in use, complete or not (0 when none)."""
        return max((int(v) for v in self._numbers(name)), default=0)

    def _manifest(self, name: str, version: str) -> Manifest:
        if self.local is not None:
            body = (self.local / name / version / MANIFEST).read_bytes()
        else:
            body = self._fs.cat_file(self._path(name, version, MANIFEST))
        try:
            manifest = msgspec.json.decode(body, type=Manifest)
        except msgspec.ValidationError as exc:
            raise CorruptModel(f"{name}@{version}: bad {MANIFEST}: {exc}") from None
        if (manifest.name, manifest.version) != (name, version):
            raise CorruptModel(
                f"{name}@{version}: its {MANIFEST} says {manifest.spec}: publish the model again"
            )
        for file in manifest.files:
            if not _plain(file):  # "../../x": a manifest must not write or read outside
                raise CorruptModel(
                    f"{name}@{version}: {MANIFEST} names {file!r}, not a plain file name inside "
                    "the version's folder: refused; publish the model again"
                )
        return manifest

    def _path(self, *parts: str) -> str:
        return "/".join([self._root, *parts])

    def _url(self, rel: str) -> str:
        if self.local is not None:
            return f"file://{(self.local / rel).resolve()}"
        return str(self._fs.unstrip_protocol(self._path(rel)))

    # The local cache of a remote store.
    def _download(self, manifest: Manifest) -> Path:
        """The cached copy of ``manifest``'s version, checked, fetched first if need be."""
        store = hashlib.sha256(self.url.encode()).hexdigest()[:12]
        folder = self.cache / "models" / store / manifest.name / manifest.version
        if folder.is_dir():
            try:
                verify(folder, manifest)
                return folder
            except CorruptModel:  # damaged since: fetch it again
                shutil.rmtree(folder, ignore_errors=True)
        folder.parent.mkdir(parents=True, exist_ok=True)
        incoming = folder.parent / f".incoming-{uuid.uuid4().hex[:8]}"
        incoming.mkdir()
        try:
            for file in manifest.files:
                remote = self._path(manifest.name, manifest.version, file)
                try:
                    self._fs.get_file(remote, str(incoming / file))
                except FileNotFoundError:
                    raise CorruptModel(
                        f"{manifest.spec}: {file} is missing from {self.url}"
                    ) from None
            verify(incoming, manifest)  # a remote file that does not match is refused
            try:
                incoming.rename(folder)
            except OSError:  # another process on this host cached it first
                verify(folder, manifest)
        finally:
            shutil.rmtree(incoming, ignore_errors=True)
        return folder


def verify(folder: Path, manifest: Manifest) -> None:
    """Raise :class:`CorruptModel` unless every file in ``folder`` matches its checksum."""
    for file, expected in manifest.files.items():
        path = folder / file
        if not path.is_file():
            raise CorruptModel(f"{manifest.spec}: {file} is missing from {folder}")
        if sha256_of(path) != expected:
            raise CorruptModel(
                f"{manifest.spec}: {file} does not match its sha256 in {MANIFEST}; "
                "the file was changed or damaged: publish the model again"
            )


def _manifest_json(manifest: Manifest) -> str:
    return json.dumps(msgspec.to_builtins(manifest), indent=2, sort_keys=True)


def _local_root(url: str) -> Path | None:
    if url.startswith("file://"):
        return Path(url.removeprefix("file://")).expanduser()
    if "://" not in url:
        return Path(url).expanduser()
    return None


def _visible(name: str) -> bool:
    return not name.startswith(".")


def _plain(file: str) -> bool:
    r"""A relative path of visible names, no ``..``, no root, no backslash: stays in its folder.

    >>> [_plain(f) for f in ("model.json", "vectors/v.npy", "../x", "/etc/passwd", "a\\b", "")]
    [True, True, False, False, False, False]
    """
    parts = file.split("/")
    return (
        "\\" not in file
        and "\0" not in file
        and all(part and part not in (".", "..") and _visible(part) for part in parts)
    )


def _visible_under(path: Path, root: Path) -> bool:
    return all(_visible(part) for part in path.relative_to(root).parts)
