"""Put a trained tower into the model store with its provenance, and keep a space's
alignment baseline next to the store's manifest (``<models_dir>/baselines/<name>.json``)."""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from appliance.align.towers import PROVENANCE_FILE, read_adapter_dir, write_adapter_dir
from appliance.models.manifest import write_json_atomic
from appliance.models.store import ModelStore

BASELINES_DIR = "baselines"


def now() -> str:
    """UTC time, seconds."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def build_provenance(
    *,
    modality: str,
    features: str,
    anchor: str,
    fingerprint: str,
    pairs: int,
    texts: int,
    hyperparameters: dict[str, Any],
    privacy: dict[str, Any],
    training: dict[str, Any],
    audit: dict[str, Any] | None = None,
    fine_tune: dict[str, Any] | None = None,
    backbone: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The provenance record: what the data was (a hash, never the data), how it trained,
    and the frozen pretrained backbone under the features (with its files' hashes), if any."""
    budget = (
        f"DP epsilon {privacy['epsilon_spent']:.2f} (target {privacy['epsilon_target']:g}), "
        f"delta {privacy['delta']:g}"
        if privacy.get("private")
        else "not differentially private"
    )
    record = {
        "format": "appliance-alignment-provenance/1",
        "summary": f"trained on-premise by `appliance align train` on {pairs} pairs "
        f"(data sha256 {fingerprint[:16]}...); {budget}",
        "created_at": now(),
        "modality": modality,
        "features": features,
        "anchor": anchor,
        "data": {"fingerprint_sha256": fingerprint, "pairs": pairs, "distinct_texts": texts},
        "hyperparameters": hyperparameters,
        "seed": hyperparameters.get("seed"),
        "privacy": privacy,
        "training": training,
        "audit": audit or {},
        "fine_tune": fine_tune or {},
    }
    if backbone:
        record["backbone"] = backbone
    return record


def publish_adapter(
    store: ModelStore,
    tower: torch.nn.Module,
    *,
    name: str,
    from_model: str,
    modality: str,
    provenance: dict[str, Any],
    replace: bool = False,
) -> str:
    """Write the adapter directory and import it (hashed) into the store; returns its content
    hash. Not activated: a space changes only through ``appliance space activate``."""
    with tempfile.TemporaryDirectory(prefix="adapter-") as tmp:
        out = write_adapter_dir(
            tower,
            Path(tmp) / name,
            from_model=from_model,
            modality=modality,
            provenance=provenance,
        )
        store.import_path(
            out,
            name=name,
            provenance=provenance["summary"],
            replace_existing=replace,
            activate=False,
        )
    return store.get(name).content_hash


def load_published(store: ModelStore, name: str) -> tuple[torch.nn.Module, dict[str, Any]]:
    """A stored adapter, re-hashed against the manifest first, and its provenance."""
    from appliance.encoders.factory import verify_files

    entry = store.require_available(name)
    root = store.model_dir(name)
    verify_files(root, entry)
    provenance = json.loads((root / PROVENANCE_FILE).read_text("utf-8"))
    return read_adapter_dir(root), provenance


def baseline_path(store: ModelStore, name: str) -> Path:
    """Where the baseline of space or adapter ``name`` lives."""
    from appliance.models.packs import validate_model_name

    return store.models_dir / BASELINES_DIR / f"{validate_model_name(name)}.json"


def save_baseline(store: ModelStore, name: str, record: dict[str, Any]) -> Path:
    """Atomically store an audit result as the baseline of ``name``."""
    path = baseline_path(store, name)
    write_json_atomic(path, {**record, "recorded_at": now()})
    return path


def read_baseline(store: ModelStore, name: str) -> dict[str, Any] | None:
    """The stored baseline, if any."""
    path = baseline_path(store, name)
    return json.loads(path.read_text("utf-8")) if path.is_file() else None
