"""The deployment record of a space: what serves each modality (hashes, provenance, DP
budget), its alignment baseline, the policy in force, and who activated it and when."""

from __future__ import annotations

import getpass
import json
from typing import Any

from appliance.align.publish import baseline_path, now, read_baseline, save_baseline
from appliance.align.towers import PROVENANCE_FILE
from appliance.encoders.tower import is_tower
from appliance.errors import InvalidInputError, NotFoundError
from appliance.models.manifest import SpaceRecord, SpaceSlot
from appliance.models.packs import build_space
from appliance.models.store import ModelStore


def _activation_key(space: str) -> str:
    return f"{space}.activation"


def _model_record(store: ModelStore, name: str, role: str) -> dict[str, Any]:
    entry = store.get(name)
    record: dict[str, Any] = {
        "name": name,
        "role": role,
        "family": entry.family,
        "content_hash": entry.content_hash,
        "semantic": entry.semantic,
        "status": entry.status,
        "provenance": entry.provenance,
    }
    trained = store.model_dir(name) / PROVENANCE_FILE
    if entry.family == "adapter" and trained.is_file():
        details = json.loads(trained.read_text("utf-8"))
        record["privacy"] = details.get("privacy")
        record["training_data_sha256"] = details.get("data", {}).get("fingerprint_sha256")
        record["trained_audit"] = details.get("audit")
        if details.get("backbone"):
            record["backbone"] = details["backbone"]
    return record


def deployment_record(store: ModelStore, policy_hash: str) -> dict[str, Any]:
    """The record of the active space; ``NotFoundError`` if none is active."""
    space = store.space()
    if space is None:
        raise NotFoundError("no embedding space is active", remedy="`appliance models import`")
    models = [_model_record(store, space.anchor, "anchor (text)")]
    for modality, slot in sorted(space.encoders.items()):
        if slot.model != space.anchor:
            models.append(_model_record(store, slot.model, f"{modality} tower"))
        if slot.adapter:
            models.append(_model_record(store, slot.adapter, f"{modality} adapter"))
    baseline = read_baseline(store, space.name)
    if baseline and baseline.get("probes"):  # the record names the probe sets, not their media
        baseline["probes"] = {
            m: {"pairs": len(p.get("pairs", [])), "fingerprint_sha256": p.get("fingerprint_sha256")}
            for m, p in baseline["probes"].items()
        }
    return {
        "space": space.name,
        "version": space.version,
        "dimension": space.dimension,
        "semantic": space.semantic,
        "pack": space.pack,
        "created_at": space.created_at,
        "encoders": {
            m: {"model": s.model, "adapter": s.adapter, **slot_semantics(store, space.anchor, s)}
            for m, s in space.encoders.items()
        },
        "models": models,
        "alignment_baseline": baseline,
        "retrieval": (baseline or {}).get("retrieval"),
        "policy_hash": policy_hash,
        "activation": read_baseline(store, _activation_key(space.name)),
    }


def slot_semantics(store: ModelStore, anchor: str, slot: SpaceSlot) -> dict[str, bool]:
    """Per modality: ``semantic`` (every model and adapter serving it is marked semantic)
    and ``trained`` (served by a trained adapter or tower with provenance, or by a
    semantic anchor: not random weights end to end)."""
    names = [n for n in (slot.model, slot.adapter) if n]
    entries = [store.get(n) for n in names]
    semantic = all(e.semantic for e in entries)
    trained = any(
        e.family == "adapter" and (store.model_dir(n) / PROVENANCE_FILE).is_file()
        for n, e in zip(names, entries, strict=True)
    ) or (slot.model == anchor and store.get(anchor).semantic)
    return {"semantic": semantic, "trained": bool(trained)}


def _is_tower(store: ModelStore, name: str | None) -> bool:
    if name is None:
        return False
    entry = store.get(name)
    return entry.family == "adapter" and is_tower(entry.details)


def _slot(
    store: ModelStore,
    modality: str,
    current: SpaceSlot | None,
    model: str | None,
    adapter: str | None,
) -> SpaceSlot:
    """The slot that serves ``modality``: a stored model (through a linear adapter), or a
    from-scratch tower alone (named by ``--adapter`` or ``--model``)."""
    tower = adapter if _is_tower(store, adapter) else model if _is_tower(store, model) else None
    if tower is not None:
        if {model, adapter} - {tower, None}:
            raise InvalidInputError(
                f"tower {tower!r} computes its own features and serves {modality} alone",
                remedy=f"activate it with `--modality {modality} --adapter {tower}` only",
            )
        return SpaceSlot(tower, None)
    slot_model = model or (current.model if current else None)
    if slot_model is None:
        raise InvalidInputError(f"name the model that serves {modality} (--model)")
    if adapter is not None:
        details = store.get(adapter).details
        if details.get("kind", "linear") != "linear" or details.get("from_model") != slot_model:
            raise InvalidInputError(
                f"adapter {adapter!r} ({details.get('kind')} over "
                f"{details.get('from_model')}) cannot serve {slot_model!r}",
                remedy="serve a linear adapter trained with --features model:<dir> of that "
                "model, a bridge adapter, or a from-scratch tower alone (--adapter NAME)",
            )
    return SpaceSlot(slot_model, adapter)


def activate(
    store: ModelStore, modality: str | None, model: str | None, adapter: str | None
) -> SpaceRecord:
    """Re-activate the current space, optionally with ``modality`` served by ``model``
    through ``adapter`` (linear adapters over a stored model), or by a trained tower alone."""
    space = store.space()
    if space is None:
        raise NotFoundError("no embedding space is active", remedy="`appliance models import`")
    encoders = dict(space.encoders)
    if modality is not None:
        encoders[modality] = _slot(store, modality, encoders.get(modality), model, adapter)
    entries = store.manifest().models
    rebuilt = build_space(
        name=space.name,
        anchor=space.anchor,
        encoders=encoders,
        entries=entries,
        identity=space.identity,
        pack=space.pack,
        created_at=now(),
    )
    store.set_space(rebuilt)
    return rebuilt


def record_activation(store: ModelStore, space: SpaceRecord, by: str) -> dict[str, Any]:
    """Remember who activated the space and when (shown by ``space show``)."""
    record = {"space": space.name, "version": space.version, "by": by, "at": now()}
    save_baseline(store, _activation_key(space.name), record)
    return record


def operator_name() -> str:
    """The OS account at the console."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


__all__ = [
    "activate",
    "baseline_path",
    "deployment_record",
    "operator_name",
    "record_activation",
    "slot_semantics",
]
