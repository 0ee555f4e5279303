"""Build encoders from model directories and the store's active space.

``load_encoder`` turns one stored (or bare) model directory into an ``Encoder`` for one
modality; ``load_space`` builds every encoder of the active space, adapters included,
after re-checking each model's hashes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from appliance.domain.types import Modality
from appliance.encoders import offline  # noqa: F401  (flags before transformers)
from appliance.encoders.base import Encoder
from appliance.errors import IntegrityError, InvalidInputError
from appliance.models.inspect import describe_model_dir
from appliance.models.manifest import ModelEntry
from appliance.models.store import MARKER_FILE, ModelStore
from appliance.settings import EncoderSettings


@dataclass
class LoadedSpace:
    """The encoders of the active space, keyed by modality, and the version items record."""

    name: str
    version: str
    dimension: int
    semantic: bool
    encoders: dict[Modality, Encoder] = field(default_factory=dict)


def entry_for_dir(model_dir: Path) -> ModelEntry:
    """A manifest-like entry for a bare model directory (not imported; nothing verified)."""
    description = describe_model_dir(model_dir)
    marker = model_dir / MARKER_FILE
    semantic = True
    if marker.is_file():
        semantic = bool(json.loads(marker.read_text(encoding="utf-8")).get("semantic", True))
    return ModelEntry(
        name=model_dir.name,
        family=description.family,
        model_class=description.model_class,
        modalities=description.modalities,
        dimension=description.dimension,
        files=(),
        semantic=semantic,
        max_tokens=description.max_tokens,
        details=description.details,
    )


def verify_files(model_dir: Path, entry: ModelEntry) -> None:
    """Re-hash a stored model's files against its entry; ``IntegrityError`` names a bad one."""
    from appliance.models.safety import sha256_file

    if not entry.available:
        raise IntegrityError(
            f"model {entry.name!r} is unavailable: {entry.problem}",
            remedy="re-import it from a trusted copy and run `appliance models verify`",
        )
    for record in entry.files:
        path = model_dir / record.path
        if (
            not path.is_file()
            or path.stat().st_size != record.size
            or sha256_file(path) != record.sha256
        ):
            raise IntegrityError(
                f"model {entry.name!r}: {record.path} is missing or changed since import",
                remedy="re-import the model from a trusted copy; run `appliance models verify`",
            )


def load_encoder(
    model_dir: Path,
    manifest_entry: ModelEntry | None = None,
    *,
    settings: EncoderSettings,
    modality: Modality | str | None = None,
    verify: bool = True,
    derived_dir: Path | None = None,
) -> Encoder:
    """Load ``modality``'s tower of the model in ``model_dir``.

    ``manifest_entry`` is the store's record (hashes are re-checked when ``verify``);
    without one the directory is described on the fly (tests, benchmarks). ``modality``
    may be left out for single-modality models. ``derived_dir`` holds graphs exported
    from the weights (ONNX); without one ``text_runtime = 'auto'`` keeps torch.
    """
    from appliance.encoders.common import Runtime
    from appliance.encoders.device import apply_thread_setting, resolve_device, resolve_dtype

    model_dir = Path(model_dir)
    entry = manifest_entry or entry_for_dir(model_dir)
    if manifest_entry is not None and verify:
        verify_files(model_dir, manifest_entry)
    if modality is None:
        if len(entry.modalities) != 1:
            raise InvalidInputError(
                f"model {entry.name!r} has towers for {', '.join(entry.modalities)}: "
                "name the modality"
            )
        modality = entry.modalities[0]
    modality = Modality(modality)
    if modality.value not in entry.modalities:
        raise InvalidInputError(
            f"model {entry.name!r} ({entry.family}) has no {modality.value} tower"
        )
    device = resolve_device(settings.device)
    apply_thread_setting(settings.torch_threads)
    runtime = Runtime(device, resolve_dtype(settings.precision, device), settings.max_batch_size)
    common = {
        "name": entry.name,
        "dimension": entry.dimension,
        "runtime": runtime,
        "semantic": entry.semantic,
    }
    if entry.family == "adapter":
        from appliance.encoders.tower import TowerEncoder, is_tower

        if not is_tower(entry.details):
            raise InvalidInputError(
                f"adapter {entry.name!r} maps {entry.details.get('from_model')!r}'s vectors "
                "and cannot encode on its own",
                remedy="slot it as the adapter of that model",
            )
        return TowerEncoder(
            model_dir,
            name=entry.name,
            details=entry.details,
            runtime=runtime,
            settings=settings,
            semantic=entry.semantic,
        )
    if modality is Modality.TEXT:
        from appliance.encoders.device import resolve_text_runtime
        from appliance.encoders.text import TextEncoder

        return TextEncoder(
            model_dir,
            family=entry.family,
            max_tokens=int(entry.max_tokens or 512),
            overflow=settings.text_overflow,
            model_type=str(entry.details.get("model_type", "bert")),
            text_runtime=resolve_text_runtime(settings.text_runtime, runtime, derived_dir),
            derived_dir=derived_dir,
            threads=settings.torch_threads,
            sort_by_length=settings.sort_by_length,
            **common,
        )
    if modality is Modality.IMAGE:
        from appliance.encoders.image import ImageEncoder

        return ImageEncoder(model_dir, family=entry.family, settings=settings, **common)
    from appliance.encoders.audio import AudioEncoder

    return AudioEncoder(model_dir, settings=settings, **common)


def load_space(store: ModelStore, settings: EncoderSettings) -> LoadedSpace:
    """Every encoder of the store's active space, verified, adapters applied."""
    from appliance.encoders.adapter import AdaptedEncoder, LinearAdapter

    space = store.space()
    if space is None:
        raise IntegrityError(
            "no embedding space is active",
            remedy="import a model pack with `appliance models import`",
        )
    verified: set[str] = set()

    def checked(name: str) -> ModelEntry:
        entry = store.require_available(name)
        if name not in verified:
            verify_files(store.model_dir(name), entry)
            verified.add(name)
        return entry

    loaded = LoadedSpace(space.name, space.version, space.dimension, space.semantic)
    for modality_name, slot in sorted(space.encoders.items()):
        entry = checked(slot.model)
        encoder = load_encoder(
            store.model_dir(slot.model),
            entry,
            settings=settings,
            modality=modality_name,
            verify=False,
            derived_dir=store.models_dir / ".derived",
        )
        if slot.adapter:
            checked(slot.adapter)
            adapter = LinearAdapter.load(store.model_dir(slot.adapter), encoder.device)
            encoder = AdaptedEncoder(encoder, adapter, slot.adapter)
        if encoder.dimension != space.dimension:
            raise IntegrityError(
                f"space {space.name!r}: {modality_name} encoder gives {encoder.dimension} dims, "
                f"space has {space.dimension}"
            )
        loaded.encoders[Modality(modality_name)] = encoder
    return loaded
