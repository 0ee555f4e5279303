"""The local model store: import, list, verify, and the active space.

Layout: ``<models_dir>/<name>/`` holds each model's files, ``<models_dir>/manifest.json``
records hashes, facts and the active space. Imports stage into a temp directory on the
same file system and rename into place; the manifest is replaced atomically under a lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import re
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from appliance.errors import (
    ApplianceError,
    ConflictError,
    IntegrityError,
    InvalidInputError,
    NotFoundError,
)
from appliance.models.inspect import describe_model_dir
from appliance.models.manifest import (
    STATUS_OK,
    STATUS_UNAVAILABLE,
    FileRecord,
    ModelEntry,
    SpaceRecord,
    StoreManifest,
    read_manifest,
    write_manifest,
)
from appliance.models.packs import (
    PACK_FILE,
    build_space,
    read_pack,
    single_model_space,
    validate_model_name,
)
from appliance.models.reports import ImportResult, ModelCheck, Readiness, VerifyReport
from appliance.models.safety import copy_and_hash, extract_tarball, remove_tree, sha256_file

MARKER_FILE = "appliance_model.json"
"""Optional file in a model directory: ``{"semantic": false, "provenance": "..."}``."""
MAX_TARBALL_BYTES = 64 * 1024**3


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _default_name(path: Path) -> str:
    name = re.sub(r"[^a-z0-9._-]+", "-", path.name.lower()).strip("-.") or "model"
    return validate_model_name(name[:63])


class ModelStore:
    """The model store under ``models_dir`` (``Settings.models_dir``)."""

    def __init__(self, models_dir: Path) -> None:
        self.models_dir = models_dir

    # --- reading ---------------------------------------------------------------------
    def manifest(self) -> StoreManifest:
        """The current manifest (empty when nothing was imported)."""
        return read_manifest(self.models_dir)

    def list_models(self) -> list[ModelEntry]:
        """Every imported model and adapter, sorted by name."""
        models = self.manifest().models
        return [models[name] for name in sorted(models)]

    def get(self, name: str) -> ModelEntry:
        """One model's entry, or ``NotFoundError``."""
        entry = self.manifest().models.get(name)
        if entry is None:
            raise NotFoundError(
                f"no model named {name!r} in the store", remedy="see `appliance models list`"
            )
        return entry

    def model_dir(self, name: str) -> Path:
        """Where a model's files live."""
        return self.models_dir / validate_model_name(name)

    def require_available(self, name: str) -> ModelEntry:
        """The entry of a model that may be loaded; ``IntegrityError`` if verify failed it."""
        entry = self.get(name)
        if not entry.available:
            raise IntegrityError(
                f"model {name!r} is unavailable: {entry.problem}",
                remedy="re-import the model from a trusted copy, "
                "then run `appliance models verify`",
            )
        return entry

    def space(self) -> SpaceRecord | None:
        """The active space, if one was activated."""
        return self.manifest().space

    def space_version(self) -> str:
        """The version every item embedded now must record; error if no space is active."""
        space = self.space()
        if space is None:
            raise ApplianceError(
                "no embedding space is active",
                remedy="import a model pack with `appliance models import`",
                code="space_unavailable",
            )
        return space.version

    def ready(self) -> Readiness:
        """Cheap readiness: a space is active and its models are present and not failed."""
        try:
            manifest = self.manifest()
        except IntegrityError as exc:
            return Readiness(False, exc.message)
        if manifest.space is None:
            return Readiness(False, "no embedding space is active")
        for name in manifest.space.models:
            entry = manifest.models.get(name)
            if entry is None:
                return Readiness(False, f"space model {name!r} is not in the store")
            if not entry.available:
                return Readiness(False, f"model {name!r} is unavailable: {entry.problem}")
            for record in entry.files:
                path = self.model_dir(name) / record.path
                if not path.is_file() or path.stat().st_size != record.size:
                    return Readiness(
                        False, f"model {name!r}: {record.path} is missing or changed size"
                    )
        return Readiness(True, "ok", manifest.space.version)

    # --- verification ---------------------------------------------------------------
    def check_model(self, entry: ModelEntry) -> ModelCheck:
        """Re-hash one model's files; list every missing, changed or unexpected file."""
        root = self.model_dir(entry.name)
        if not root.is_dir():
            return ModelCheck(entry.name, (f"directory {root} is missing",))
        problems: list[str] = []
        recorded = {r.path for r in entry.files}
        for record in entry.files:
            path = root / record.path
            if not path.is_file():
                problems.append(f"{record.path} is missing")
            elif path.stat().st_size != record.size or sha256_file(path) != record.sha256:
                problems.append(f"{record.path} has changed (SHA-256 differs from the manifest)")
        for path in sorted(p for p in root.rglob("*") if p.is_file() or p.is_symlink()):
            rel = path.relative_to(root).as_posix()
            if rel not in recorded:
                problems.append(f"{rel} is not in the manifest")
        return ModelCheck(entry.name, tuple(problems))

    def verify(self, names: Iterable[str] | None = None) -> VerifyReport:
        """Re-hash models (all by default); failed ones become unavailable, passing ones ok."""
        with self._locked():
            manifest = self.manifest()
            wanted = sorted(manifest.models) if names is None else [self.get(n).name for n in names]
            checks = tuple(self.check_model(manifest.models[name]) for name in wanted)
            models = dict(manifest.models)
            for check in checks:
                status = STATUS_OK if check.ok else STATUS_UNAVAILABLE
                models[check.name] = models[check.name].with_status(
                    status, "; ".join(check.problems)
                )
            if models != manifest.models:
                write_manifest(self.models_dir, replace(manifest, models=models))
        return VerifyReport(checks)

    def set_space(self, space: SpaceRecord) -> None:
        """Make ``space`` (built with ``packs.build_space`` over stored models) the active one."""
        with self._locked():
            manifest = self.manifest()
            missing = [name for name in space.models if name not in manifest.models]
            if missing:
                raise NotFoundError(f"space {space.name!r} uses unknown model(s) {missing}")
            write_manifest(self.models_dir, replace(manifest, space=space))

    # --- import ----------------------------------------------------------------------
    def import_path(
        self,
        source: Path,
        *,
        name: str | None = None,
        provenance: str = "",
        replace_existing: bool = False,
        activate: bool | None = None,
    ) -> ImportResult:
        """Import a model directory, a pack directory, or a tarball of either.

        ``activate``: make the pack's space (or a lone multimodal model) the active space;
        by default packs activate, and a single model does when no space is active yet.
        """
        source = Path(source)
        if not source.exists():
            raise InvalidInputError(f"{source}: no such file or directory")
        self.models_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=self.models_dir))
        try:
            root = source
            if source.is_file():
                root = extract_tarball(source, staging / "src", max_bytes=MAX_TARBALL_BYTES)
            if (root / PACK_FILE).is_file():
                if name is not None:
                    raise InvalidInputError("--name applies to a single model, not to a pack")
                return self._import_pack(root, staging, provenance, replace_existing, activate)
            entry, skipped = self._stage_model(
                root, name or _default_name(root), provenance, staging
            )
            with self._locked():
                manifest = self.manifest()
                space = manifest.space
                if activate or (activate is None and space is None and len(entry.modalities) > 1):
                    space = single_model_space(entry, _now())
                self._commit(manifest, [entry], space, staging, replace_existing)
            return ImportResult((entry.name,), space, skipped)
        finally:
            remove_tree(staging)

    def _stage_model(
        self, root: Path, name: str, provenance: str, staging: Path, semantic: bool = True
    ) -> tuple[ModelEntry, tuple[str, ...]]:
        name = validate_model_name(name)
        try:
            description = describe_model_dir(root)
        except InvalidInputError as exc:
            raise InvalidInputError(f"model {name!r}: {exc.message}", remedy=exc.remedy) from exc
        marker = root / MARKER_FILE
        if marker.is_file():
            try:
                info = json.loads(marker.read_text(encoding="utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise InvalidInputError(f"model {name!r}: {MARKER_FILE} is not JSON") from exc
            semantic = semantic and bool(info.get("semantic", True))
            provenance = provenance or str(info.get("provenance", ""))
        target = staging / "models" / name
        records = []
        for rel in description.files:
            digest, size = copy_and_hash(root / rel, target / rel)
            records.append(FileRecord(rel.as_posix(), digest, size))
        entry = ModelEntry(
            name=name,
            family=description.family,
            model_class=description.model_class,
            modalities=description.modalities,
            dimension=description.dimension,
            files=tuple(records),
            provenance=provenance,
            semantic=semantic,
            imported_at=_now(),
            max_tokens=description.max_tokens,
            details=description.details,
        )
        return entry, tuple(f"{name}/{s}" for s in description.skipped)

    def _import_pack(
        self,
        root: Path,
        staging: Path,
        provenance: str,
        replace_existing: bool,
        activate: bool | None,
    ) -> ImportResult:
        pack = read_pack(root)
        entries: list[ModelEntry] = []
        skipped: list[str] = []
        for model in pack.models:
            note = model.provenance or provenance or pack.provenance
            entry, left = self._stage_model(
                root / model.path, model.name, note, staging, pack.semantic
            )
            entries.append(entry)
            skipped.extend(left)
        with self._locked():
            manifest = self.manifest()
            by_name = {**manifest.models, **{e.name: e for e in entries}}
            space = build_space(
                name=pack.space_name,
                anchor=pack.anchor,
                encoders=pack.encoders,
                entries=by_name,
                identity=pack.digest,
                pack=pack.name,
                created_at=_now(),
            )
            chosen = space if activate is not False else manifest.space
            self._commit(manifest, entries, chosen, staging, replace_existing)
        return ImportResult(tuple(e.name for e in entries), chosen, tuple(skipped), pack.name)

    def _commit(
        self,
        manifest: StoreManifest,
        entries: list[ModelEntry],
        space: SpaceRecord | None,
        staging: Path,
        replace_existing: bool,
    ) -> None:
        unchanged = {e.name for e in entries if self._already_stored(manifest, e)}
        entries = [e for e in entries if e.name not in unchanged]
        clashes = [e.name for e in entries if e.name in manifest.models]
        if clashes and not replace_existing:
            raise ConflictError(
                f"model(s) {', '.join(clashes)} already in the store",
                remedy="pass --replace to overwrite, or --name to import under another name",
            )
        models = {**manifest.models, **{e.name: e for e in entries}}
        if space is not None and space == manifest.space and clashes:
            space = self._rebuilt(space, models)
        for entry in entries:
            target = self.model_dir(entry.name)
            if target.exists():
                target.rename(staging / f"old-{entry.name}")
            (staging / "models" / entry.name).rename(target)
        write_manifest(self.models_dir, StoreManifest(models=models, space=space))

    def _already_stored(self, manifest: StoreManifest, entry: ModelEntry) -> bool:
        """The same bytes are stored, intact, under this name: importing again is a no-op."""
        existing = manifest.models.get(entry.name)
        if existing is None or not existing.available:
            return False
        return existing.content_hash == entry.content_hash and self.check_model(existing).ok

    @staticmethod
    def _rebuilt(space: SpaceRecord, models: dict[str, ModelEntry]) -> SpaceRecord:
        """The same space over replaced models: same recipe, new version."""
        return build_space(
            name=space.name,
            anchor=space.anchor,
            encoders=space.encoders,
            entries=models,
            identity=space.identity,
            pack=space.pack,
            created_at=_now(),
        )

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.models_dir.mkdir(parents=True, exist_ok=True)
        with (self.models_dir / ".lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
