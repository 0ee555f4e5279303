"""Recognise a Hugging Face model directory without loading it (no torch).

``describe_model_dir`` decides the family, modalities and embedding dimension from
``config.json``, refuses pickle weights and remote code, and lists what the store copies.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appliance.errors import InvalidInputError
from appliance.models.safety import (
    ALLOWED_SUFFIXES,
    CODE_SUFFIXES,
    CONVERT_REMEDY,
    FOREIGN_WEIGHT_SUFFIXES,
    PICKLE_SUFFIXES,
    check_safetensors,
    iter_files,
    looks_like_pickle,
)

ADAPTER_FILE = "adapter.json"
ADAPTER_FORMAT = "appliance-adapter/1"
ADAPTER_KINDS = {"linear": "LinearAdapter", "mlp": "MlpTower"}
"""``mlp``: a small tower the alignment trainer writes (store, audit; not served yet)."""
SENTENCE_MODEL_TYPES = frozenset(
    {"bert", "roberta", "xlm-roberta", "mpnet", "distilbert", "electra"}
)
FAMILY_MODALITIES: dict[str, tuple[str, ...]] = {
    "clip": ("text", "image"),
    "siglip": ("text", "image"),
    "clap": ("text", "audio"),
    "bert": ("text",),
    "adapter": (),
}
_DEFAULT_CLASS = {"clip": "CLIPModel", "siglip": "SiglipModel", "clap": "ClapModel"}


@dataclass(frozen=True)
class ModelDescription:
    """What a model directory holds, as far as the store needs to know."""

    family: str
    model_class: str
    modalities: tuple[str, ...]
    dimension: int
    files: tuple[Path, ...]
    """Files to copy, relative to the directory."""
    skipped: tuple[str, ...] = ()
    """Files left behind (pickles beside safetensors, code, other formats), with reasons."""
    max_tokens: int | None = None
    details: dict[str, Any] = field(default_factory=dict)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInputError(f"{path.name}: not readable JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidInputError(f"{path.name}: expected a JSON object")
    return data


def _refuse_remote_code(root: Path) -> None:
    for name in ("config.json", "tokenizer_config.json", "preprocessor_config.json"):
        path = root / name
        if path.is_file() and "auto_map" in _read_json(path):
            raise InvalidInputError(
                f"{name} names custom code (auto_map): the model needs trust_remote_code",
                remedy="use a checkpoint of a class built into transformers; the appliance never "
                "runs code shipped with a model",
            )


def _classify_files(root: Path) -> tuple[list[Path], list[str]]:
    keep: list[Path] = []
    skipped: list[str] = []
    pickles: list[str] = []
    foreign: list[str] = []
    for path in iter_files(root):
        rel = path.relative_to(root)
        suffix = path.suffix.lower()
        if suffix in PICKLE_SUFFIXES or (
            suffix not in ALLOWED_SUFFIXES and looks_like_pickle(path)
        ):
            pickles.append(str(rel))
            skipped.append(f"{rel}: pickle file, never loaded")
        elif suffix in FOREIGN_WEIGHT_SUFFIXES:
            foreign.append(str(rel))
            skipped.append(f"{rel}: weights in a format the appliance does not load")
        elif suffix in CODE_SUFFIXES:
            skipped.append(f"{rel}: code, never run")
        elif suffix in ALLOWED_SUFFIXES:
            keep.append(rel)
        else:
            skipped.append(f"{rel}: not a model, tokenizer or processor file")
    if not any(p.suffix == ".safetensors" for p in keep):
        if pickles:
            raise InvalidInputError(
                f"{root.name}: weights are a pickle checkpoint ({', '.join(pickles)}); only "
                "safetensors weights are accepted because unpickling can run arbitrary code",
                remedy=CONVERT_REMEDY,
            )
        if foreign:
            raise InvalidInputError(
                f"{root.name}: weights are not safetensors ({', '.join(foreign)})",
                remedy="export the model's PyTorch weights as model.safetensors",
            )
        raise InvalidInputError(f"{root.name}: no *.safetensors weights found")
    for rel in keep:
        if rel.suffix == ".safetensors":
            check_safetensors(root / rel)
    return keep, skipped


def _sub(config: dict[str, Any], key: str) -> dict[str, Any]:
    value = config.get(key) or {}
    return value if isinstance(value, dict) else {}


def _require(root: Path, names: tuple[str, ...], why: str, remedy: str = "") -> None:
    missing = [n for n in names if not (root / n).is_file()]
    if missing:
        raise InvalidInputError(f"{root.name}: {', '.join(missing)} missing ({why})", remedy=remedy)


def _tokenizer_max(root: Path) -> int | None:
    path = root / "tokenizer_config.json"
    if path.is_file():
        value = _read_json(path).get("model_max_length")
        if isinstance(value, int) and 0 < value < 1_000_000:
            return value
    return None


_SENTENCE_MODULES = frozenset({"Transformer", "Pooling", "Normalize"})


def _check_sentence_modules(root: Path) -> None:
    path = root / "modules.json"
    if not path.is_file():
        return
    try:
        modules = json.loads(path.read_text(encoding="utf-8"))
        kinds = [str(m["type"]).rsplit(".", 1)[-1] for m in modules]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InvalidInputError(f"{root.name}: modules.json is not readable: {exc}") from exc
    extra = [k for k in kinds if k not in _SENTENCE_MODULES]
    if extra:
        raise InvalidInputError(
            f"{root.name}: sentence-transformers modules {extra} are not supported",
            remedy="use a model made of Transformer + mean Pooling (+ Normalize)",
        )


def _describe_family(root: Path, config: dict[str, Any]) -> tuple[str, int, int, dict[str, Any]]:
    model_type = str(config.get("model_type", ""))
    text = _sub(config, "text_config")
    if model_type == "clip":
        dim = int(config.get("projection_dim", 512))
        return "clip", dim, int(text.get("max_position_embeddings", 77)), {}
    if model_type == "siglip":
        vision = _sub(config, "vision_config")
        text_dim = int(text.get("projection_size") or text.get("hidden_size", 768))
        vision_dim = int(vision.get("hidden_size", 768))
        if text_dim != vision_dim:
            raise InvalidInputError(
                f"{root.name}: SigLIP text ({text_dim}) and vision ({vision_dim}) widths differ"
            )
        return "siglip", text_dim, int(text.get("max_position_embeddings", 64)), {}
    if model_type == "clap":
        dim = int(config.get("projection_dim", 512))
        fusion = bool(_sub(config, "audio_config").get("enable_fusion", False))
        limit = int(text.get("max_position_embeddings", 514)) - 2
        return "clap", dim, limit, {"enable_fusion": fusion}
    if model_type in SENTENCE_MODEL_TYPES:
        pooling = root / "1_Pooling" / "config.json"
        if pooling.is_file():
            modes = _read_json(pooling)
            if not modes.get("pooling_mode_mean_tokens", False):
                raise InvalidInputError(
                    f"{root.name}: sentence model pools with "
                    f"{sorted(k for k, v in modes.items() if v)}; "
                    "only mean pooling is supported"
                )
        _check_sentence_modules(root)
        limit = int(config.get("max_position_embeddings", 512))
        limit = limit - 2 if model_type in {"roberta", "xlm-roberta"} else limit
        st = root / "sentence_bert_config.json"
        if st.is_file():
            limit = min(limit, int(_read_json(st).get("max_seq_length", limit)))
        return "bert", int(config.get("hidden_size", 768)), limit, {"model_type": model_type}
    raise InvalidInputError(
        f"{root.name}: model_type {model_type!r} is not supported",
        remedy="supported: CLIP, SigLIP, CLAP and BERT-style sentence encoders (mean pooling)",
    )


def describe_adapter(root: Path) -> ModelDescription:
    """Describe an adapter directory (``adapter.json`` + ``adapter.safetensors``)."""
    meta = _read_json(root / ADAPTER_FILE)
    if meta.get("format") != ADAPTER_FORMAT:
        raise InvalidInputError(f"{root.name}: adapter.json format must be {ADAPTER_FORMAT!r}")
    _require(root, ("adapter.safetensors",), "adapter weights")
    keep, skipped = _classify_files(root)
    try:
        details = {
            "from_model": str(meta["from_model"]),
            "modality": str(meta["modality"]),
            "in_dim": int(meta["in_dim"]),
            "out_dim": int(meta["out_dim"]),
            "kind": str(meta.get("kind", "linear")),
        }
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInputError(f"{root.name}: adapter.json lacks {exc}") from exc
    if details["kind"] not in ADAPTER_KINDS:
        raise InvalidInputError(f"{root.name}: adapter kind {details['kind']!r} is not supported")
    return ModelDescription(
        family="adapter",
        model_class=ADAPTER_KINDS[details["kind"]],
        modalities=(details["modality"],),
        dimension=details["out_dim"],
        files=tuple(keep),
        skipped=tuple(skipped),
        details=details,
    )


def describe_model_dir(root: Path) -> ModelDescription:
    """Validate a model directory for import; raise ``InvalidInputError`` naming the problem."""
    if not root.is_dir():
        raise InvalidInputError(f"{root}: not a directory")
    if (root / ADAPTER_FILE).is_file():
        return describe_adapter(root)
    _require(root, ("config.json",), "not a Hugging Face model directory")
    _refuse_remote_code(root)
    keep, skipped = _classify_files(root)
    config = _read_json(root / "config.json")
    family, dimension, max_tokens, details = _describe_family(root, config)
    _require(
        root,
        ("tokenizer.json",),
        "the appliance tokenises with the fast tokenizer file",
        remedy="on a trusted machine load the tokenizer with transformers (sentencepiece "
        "installed) and "
        "save its backend as tokenizer.json, e.g. "
        "`convert_slow_tokenizer(AutoTokenizer.from_pretrained(DIR)).save('DIR/tokenizer.json')`",
    )
    modalities = FAMILY_MODALITIES[family]
    if "image" in modalities or "audio" in modalities:
        _require(root, ("preprocessor_config.json",), "image/audio pre-processing settings")
    architectures = config.get("architectures") or [_DEFAULT_CLASS.get(family, "AutoModel")]
    tokenizer_max = _tokenizer_max(root)
    if tokenizer_max is not None and family == "bert":
        max_tokens = min(max_tokens, tokenizer_max)
    return ModelDescription(
        family=family,
        model_class=str(architectures[0]),
        modalities=modalities,
        dimension=dimension,
        files=tuple(keep),
        skipped=tuple(skipped),
        max_tokens=max_tokens,
        details=details,
    )
