"""The model store's manifest: what was imported, its hashes, and the active space.

One JSON file, ``<models_dir>/manifest.json``, written atomically (temp file + rename).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from appliance.errors import IntegrityError

MANIFEST_FORMAT = "appliance-models/1"
MANIFEST_NAME = "manifest.json"

STATUS_OK = "ok"
STATUS_UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class FileRecord:
    """One stored file: path relative to the model directory, SHA-256 and size."""

    path: str
    sha256: str
    size: int


@dataclass(frozen=True)
class ModelEntry:
    """One imported model (or adapter) as the manifest records it."""

    name: str
    family: str
    """``clip``, ``siglip``, ``clap``, ``bert`` or ``adapter``."""
    model_class: str
    modalities: tuple[str, ...]
    dimension: int
    files: tuple[FileRecord, ...]
    provenance: str = ""
    semantic: bool = True
    """False for random-weight test models: their vectors carry no meaning."""
    imported_at: str = ""
    max_tokens: int | None = None
    details: dict[str, Any] = field(default_factory=dict)
    """Family-specific facts (an adapter's ``from_model``, ``in_dim``, ...)."""
    status: str = STATUS_OK
    problem: str = ""

    @property
    def available(self) -> bool:
        """False once ``verify`` found a changed, missing or extra file."""
        return self.status == STATUS_OK

    @property
    def content_hash(self) -> str:
        """One SHA-256 over the sorted file hashes: the identity of the model's bytes."""
        digest = hashlib.sha256()
        for record in sorted(self.files, key=lambda r: r.path):
            digest.update(f"{record.path}\0{record.sha256}\0{record.size}\n".encode())
        return digest.hexdigest()

    def with_status(self, status: str, problem: str = "") -> ModelEntry:
        """A copy carrying a new verification status."""
        return replace(self, status=status, problem=problem)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        data = asdict(self)
        data["modalities"] = list(self.modalities)
        data["files"] = [asdict(f) for f in self.files]
        data["content_hash"] = self.content_hash
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModelEntry:
        """Parse one manifest entry."""
        return cls(
            name=str(data["name"]),
            family=str(data["family"]),
            model_class=str(data["model_class"]),
            modalities=tuple(str(m) for m in data["modalities"]),
            dimension=int(data["dimension"]),
            files=tuple(
                FileRecord(str(f["path"]), str(f["sha256"]), int(f["size"])) for f in data["files"]
            ),
            provenance=str(data.get("provenance", "")),
            semantic=bool(data.get("semantic", True)),
            imported_at=str(data.get("imported_at", "")),
            max_tokens=None if data.get("max_tokens") is None else int(data["max_tokens"]),
            details=dict(data.get("details") or {}),
            status=str(data.get("status", STATUS_OK)),
            problem=str(data.get("problem", "")),
        )


@dataclass(frozen=True)
class SpaceSlot:
    """How one modality reaches the space: a model's tower, optionally through an adapter."""

    model: str
    adapter: str | None = None


@dataclass(frozen=True)
class SpaceRecord:
    """The active embedding space: anchor text model plus per-modality encoders.

    ``version`` is a hash of the pack manifest and of every model and adapter it uses, so
    any change of bytes or composition makes a new version; items record the version they
    were embedded in.
    """

    name: str
    version: str
    anchor: str
    dimension: int
    encoders: dict[str, SpaceSlot]
    semantic: bool = True
    pack: str = ""
    identity: str = ""
    """SHA-256 of the pack manifest (or of the single-model recipe) the space came from."""
    created_at: str = ""

    @property
    def models(self) -> tuple[str, ...]:
        """Every model and adapter name the space depends on."""
        names = {self.anchor}
        for slot in self.encoders.values():
            names.add(slot.model)
            if slot.adapter:
                names.add(slot.adapter)
        return tuple(sorted(names))

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        data = asdict(self)
        data["encoders"] = {k: asdict(v) for k, v in sorted(self.encoders.items())}
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SpaceRecord:
        """Parse the space record."""
        return cls(
            name=str(data["name"]),
            version=str(data["version"]),
            anchor=str(data["anchor"]),
            dimension=int(data["dimension"]),
            encoders={
                str(k): SpaceSlot(str(v["model"]), v.get("adapter"))
                for k, v in data["encoders"].items()
            },
            semantic=bool(data.get("semantic", True)),
            pack=str(data.get("pack", "")),
            identity=str(data.get("identity", "")),
            created_at=str(data.get("created_at", "")),
        )


@dataclass(frozen=True)
class StoreManifest:
    """Everything the store knows: models by name and the active space (if any)."""

    models: dict[str, ModelEntry] = field(default_factory=dict)
    space: SpaceRecord | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "format": MANIFEST_FORMAT,
            "models": {name: self.models[name].to_json() for name in sorted(self.models)},
            "space": self.space.to_json() if self.space else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StoreManifest:
        """Parse a whole manifest."""
        if data.get("format") != MANIFEST_FORMAT:
            raise IntegrityError(
                f"model manifest has format {data.get('format')!r}, expected {MANIFEST_FORMAT!r}",
                remedy="re-import the models into an empty models directory",
            )
        models = {
            name: ModelEntry.from_json(entry) for name, entry in data.get("models", {}).items()
        }
        space = SpaceRecord.from_json(data["space"]) if data.get("space") else None
        return cls(models=models, space=space)


def read_manifest(models_dir: Path) -> StoreManifest:
    """Read the manifest; an absent one is an empty store, an unreadable one an integrity error."""
    path = models_dir / MANIFEST_NAME
    if not path.exists():
        return StoreManifest()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return StoreManifest.from_json(data)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise IntegrityError(
            f"model manifest {path} is unreadable: {exc}",
            remedy="restore it from backup or re-import the models",
        ) from exc


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to a temp file in the same directory, fsync, then rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2, sort_keys=True)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_manifest(models_dir: Path, manifest: StoreManifest) -> None:
    """Atomically replace the manifest."""
    write_json_atomic(models_dir / MANIFEST_NAME, manifest.to_json())
