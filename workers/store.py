"""The model store: versioned model folders, each with a manifest of checksums, behind a URL.

Publishing a trained folder ``built`` and opening it again::

    store = ModelStore("file://./models")
    manifest = store.publish("bard", "charrnn", built, metrics={"val_loss": 1.41},
                             corpus="lee_background.cor", config={"hidden": 512})
    stored = store.open("bard")            # the latest version; "bard@2" pins one
    stored.path / "model.safetensors"      # a local folder whose files match their sha256

Layout: ``<root>/<name>/<version>/`` holds the model's files and ``manifest.json`` (kind,
version, the sha256 of each file, training metrics, corpus, config, created). Versions are
whole numbers counting up from 1. A version exists once its manifest does: publishing copies
the files first and writes the manifest last (on a local disk: into a hidden folder, renamed
into place), so a reader never sees half a model.

``file://DIR`` or a plain path is a local folder. Any other URL (``s3://bucket/models``,
``memory://models``) goes through fsspec; ``open`` then copies the version into a local cache
(``BOTWERK_CACHE``, default ``~/.cache/botwerk``) and checks it there. Nothing is unpickled:
the store only moves files, and each model kind reads its own safe formats.
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
        versions = self._versions(name)
        if not versions:
            known = ", ".join(self._names()) or "none yet"
            raise ModelNotFound(
                f"no model {name!r} in the store {self.url} (models there: {known}); "
                f"train one with `botwerk train KIND CORPUS --name {name}`"
            )
        return self._manifest(name, versions[-1])

    def resolve(self, spec: str) -> Manifest:
        """The manifest ``NAME`` (latest) or ``NAME@VERSION`` names."""
        name, version = parse_spec(spec)
        if version is None:
            return self.latest(name)
        if version not in self._versions(name):
            have = ", ".join(self._versions(name)) or "none"
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
        if self.local is not None:
            folder = self.local / manifest.name / manifest.version
        else:
            folder = self._download(manifest)
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
        """Store the files in folder ``source`` as the next version of ``name``."""
        parse_spec(name)
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
        target = f"{self._root}/{name}/{manifest.version}"
        for path in files:
            self._fs.put_file(str(path), f"{target}/{path.name}")
        self._fs.pipe_file(f"{target}/{MANIFEST}", _manifest_json(manifest).encode())  # last
        return manifest

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

    def _last_number(self, name: str) -> int:
        """The highest version number in use, complete or not (0 when none)."""
        if self.local is not None:
            folder = self.local / name
            found = [p.name for p in folder.iterdir()] if folder.is_dir() else []
        else:
            base = f"{self._root}/{name}"
            listed = self._fs.ls(base, detail=False) if self._fs.exists(base) else []
            found = [entry.rstrip("/").rsplit("/", 1)[-1] for entry in listed]
        return max((int(v) for v in found if v.isdigit()), default=0)

    # Listing, on either kind of root.
    def _names(self) -> list[str]:
        if self.local is not None:
            if not self.local.is_dir():
                return []
            return sorted(p.name for p in self.local.iterdir() if _visible(p.name) and p.is_dir())
        if not self._fs.exists(self._root):
            return []
        entries = self._fs.ls(self._root, detail=True)
        names = (
            e["name"].rstrip("/").rsplit("/", 1)[-1] for e in entries if e["type"] == "directory"
        )
        return sorted(n for n in names if _visible(n))

    def _versions(self, name: str) -> list[str]:
        if self.local is not None:
            folder = self.local / name
            found = [p.name for p in folder.iterdir()] if folder.is_dir() else []
            found = [v for v in found if v.isdigit() and (folder / v / MANIFEST).is_file()]
        else:
            base = f"{self._root}/{name}"
            found = []
            if self._fs.exists(base):
                for entry in self._fs.ls(base, detail=False):
                    version = entry.rstrip("/").rsplit("/", 1)[-1]
                    if version.isdigit() and self._fs.exists(f"{base}/{version}/{MANIFEST}"):
                        found.append(version)
        return sorted(found, key=int)

    def _manifest(self, name: str, version: str) -> Manifest:
        if self.local is not None:
            body = (self.local / name / version / MANIFEST).read_bytes()
        else:
            body = self._fs.cat_file(f"{self._root}/{name}/{version}/{MANIFEST}")
        try:
            return msgspec.json.decode(body, type=Manifest)
        except msgspec.ValidationError as exc:
            raise CorruptModel(f"{name}@{version}: bad {MANIFEST}: {exc}") from None

    def _download(self, manifest: Manifest) -> Path:
        folder = self.cache / "models" / manifest.name / manifest.version
        try:
            verify(folder, manifest)
            return folder
        except CorruptModel:
            pass  # not cached yet, or damaged: fetch it again
        folder.mkdir(parents=True, exist_ok=True)
        for file in manifest.files:
            remote = f"{self._root}/{manifest.name}/{manifest.version}/{file}"
            self._fs.get_file(remote, str(folder / file))
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
