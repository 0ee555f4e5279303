"""Packs: a directory of model directories plus ``pack.json`` naming the space they make.

``pack.json``::

    {"format": "appliance-pack/1", "name": "...", "semantic": true, "provenance": "...",
     "models": [{"name": "clip", "path": "clip", "provenance": "..."}, ...],
     "space": {"name": "...", "anchor": "clip",
               "encoders": {"text": {"model": "clip"}, "image": {"model": "clip"},
                            "audio": {"model": "clap", "adapter": "clap-to-clip"}}}}

Adapters are listed under ``models`` like any model (their directory holds ``adapter.json``).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance.errors import InvalidInputError
from appliance.models.manifest import ModelEntry, SpaceRecord, SpaceSlot

PACK_FILE = "pack.json"
PACK_FORMAT = "appliance-pack/1"
MODALITIES = ("text", "image", "audio")
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")


def validate_model_name(name: str) -> str:
    """Model names: 1-63 lower-case letters, digits, ``.``, ``_``, ``-``; no leading dot."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidInputError(
            f"invalid model name {name!r}",
            remedy="use 1-63 lower-case letters, digits, '.', '_' or '-', "
            "starting with a letter or digit",
        )
    return name


@dataclass(frozen=True)
class PackModel:
    """One model directory inside a pack."""

    name: str
    path: str
    provenance: str = ""


@dataclass(frozen=True)
class PackManifest:
    """A parsed, validated ``pack.json``."""

    name: str
    models: tuple[PackModel, ...]
    space_name: str
    anchor: str
    encoders: dict[str, SpaceSlot]
    semantic: bool
    provenance: str
    raw: dict[str, Any]

    @property
    def digest(self) -> str:
        """SHA-256 of the canonical JSON of the manifest."""
        return hashlib.sha256(canonical_json(self.raw)).hexdigest()


def canonical_json(data: Any) -> bytes:
    """Sorted, compact JSON: the bytes hashed for versions."""
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


def read_pack(root: Path) -> PackManifest:
    """Read and check ``pack.json`` (model paths stay inside the pack)."""
    path = root / PACK_FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInputError(f"{PACK_FILE}: not readable JSON: {exc}") from exc
    if not isinstance(raw, dict) or raw.get("format") != PACK_FORMAT:
        raise InvalidInputError(f"{PACK_FILE}: format must be {PACK_FORMAT!r}")
    try:
        models = tuple(
            PackModel(
                validate_model_name(str(m["name"])), str(m["path"]), str(m.get("provenance", ""))
            )
            for m in raw["models"]
        )
        space = raw["space"]
        encoders = {
            str(mod): SpaceSlot(str(slot["model"]), slot.get("adapter"))
            for mod, slot in space["encoders"].items()
        }
        pack = PackManifest(
            name=str(raw["name"]),
            models=models,
            space_name=str(space.get("name") or raw["name"]),
            anchor=str(space["anchor"]),
            encoders=encoders,
            semantic=bool(raw.get("semantic", True)),
            provenance=str(raw.get("provenance", "")),
            raw=raw,
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise InvalidInputError(f"{PACK_FILE}: missing or malformed field {exc}") from exc
    resolved = root.resolve()
    for model in models:
        target = (root / model.path).resolve()
        if not target.is_relative_to(resolved) or not target.is_dir():
            raise InvalidInputError(
                f"{PACK_FILE}: model {model.name!r} path {model.path!r} "
                "is not a directory in the pack"
            )
    names = [m.name for m in models]
    if len(set(names)) != len(names):
        raise InvalidInputError(f"{PACK_FILE}: model names repeat")
    return pack


def build_space(
    *,
    name: str,
    anchor: str,
    encoders: dict[str, SpaceSlot],
    entries: dict[str, ModelEntry],
    identity: str,
    pack: str = "",
    created_at: str = "",
) -> SpaceRecord:
    """Check a space's composition against the model entries and compute its version.

    ``identity`` is the pack manifest's digest (or a synthetic one for a single model).

    The anchor must have a text tower; each modality's model must have that tower; its
    dimension (after the adapter, if any) must equal the anchor's. A from-scratch tower (an
    adapter trained on ``features:logmel`` / ``features:pixels``) serves a modality alone,
    as the slot's model with no adapter.
    """
    if anchor not in entries or "text" not in entries[anchor].modalities:
        raise InvalidInputError(
            f"space {name!r}: anchor {anchor!r} is not a model with a text tower"
        )
    dimension = entries[anchor].dimension
    if "text" not in encoders:
        encoders = {**encoders, "text": SpaceSlot(anchor)}
    for modality, slot in encoders.items():
        if modality not in MODALITIES:
            raise InvalidInputError(f"space {name!r}: unknown modality {modality!r}")
        model = entries.get(slot.model)
        tower = model is not None and model.family == "adapter" and not slot.adapter
        tower = tower and str(model.details.get("from_model", "")).startswith("features:")
        if (
            model is None
            or modality not in model.modalities
            or (model.family == "adapter" and not tower)
        ):
            raise InvalidInputError(
                f"space {name!r}: {modality} model {slot.model!r} has no {modality} tower"
            )
        out_dim = model.dimension
        if slot.adapter:
            adapter = entries.get(slot.adapter)
            if adapter is None or adapter.family != "adapter":
                raise InvalidInputError(
                    f"space {name!r}: adapter {slot.adapter!r} is not an imported adapter"
                )
            info = adapter.details
            if info.get("from_model") != slot.model or info.get("modality") != modality:
                raise InvalidInputError(
                    f"space {name!r}: adapter {slot.adapter!r} maps {info.get('from_model')}/"
                    f"{info.get('modality')}, not {slot.model}/{modality}"
                )
            if int(info.get("in_dim", -1)) != model.dimension:
                raise InvalidInputError(
                    f"space {name!r}: adapter {slot.adapter!r} takes {info.get('in_dim')} dims, "
                    f"model {slot.model!r} gives {model.dimension}"
                )
            out_dim = int(info.get("out_dim", -1))
        if out_dim != dimension:
            raise InvalidInputError(
                f"space {name!r}: {modality} vectors have {out_dim} dims, "
                f"the anchor has {dimension}",
                remedy="add an adapter that maps this model into the anchor space",
            )
    used = (
        {anchor}
        | {s.model for s in encoders.values()}
        | {s.adapter for s in encoders.values() if s.adapter}
    )
    digest = hashlib.sha256(identity.encode())
    for model_name in sorted(used):
        digest.update(f"\n{model_name}:{entries[model_name].content_hash}".encode())
    digest.update(canonical_json({k: [v.model, v.adapter] for k, v in sorted(encoders.items())}))
    return SpaceRecord(
        name=name,
        version=digest.hexdigest()[:20],
        anchor=anchor,
        dimension=dimension,
        encoders=dict(sorted(encoders.items())),
        semantic=all(entries[m].semantic for m in used),
        pack=pack,
        identity=identity,
        created_at=created_at,
    )


def single_model_space(entry: ModelEntry, created_at: str = "") -> SpaceRecord:
    """The space one multimodal model makes by itself (its text tower is the anchor)."""
    encoders = {modality: SpaceSlot(entry.name) for modality in entry.modalities}
    return build_space(
        name=entry.name,
        anchor=entry.name,
        encoders=encoders,
        entries={entry.name: entry},
        identity=hashlib.sha256(canonical_json({"single_model": entry.name})).hexdigest(),
        created_at=created_at,
    )
