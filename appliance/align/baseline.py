"""What `align audit` keeps as a space's drift baseline, next to its alignment scores.

Per audited modality: aggregate statistics of the audited item vectors (mean vector,
concentration, nearest-neighbour similarity quantiles: ``services.drift.vector_statistics``)
and, when the operator names a probe manifest (``--probe-pairs``), the probe pairs
themselves (text and media, base64) with the recall@1 the space reaches on them now. The
served encoders re-embed the probes at start-up and the drift monitor compares. Probe
pairs are stored in clear in the model store: they must be data that is not PHI (a public
or synthetic set), which is why they are a separate manifest and never the audited pairs.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

import numpy as np

from appliance.align.audit import audit_vectors
from appliance.align.pairs import Pair, fingerprint
from appliance.services.drift import vector_statistics


def probe_recall(modality: str, items: np.ndarray, texts: np.ndarray, keys: Sequence[str]) -> float:
    """Mean recall@1 of both directions on the probe pairs (as the monitor measures it)."""
    report = audit_vectors(modality, items, texts, list(keys))
    return float(np.mean([figures["recall@1"] for figures in report.values()]))


def drift_section(
    modality: str,
    items: np.ndarray,
    *,
    window: int,
    probes: list[Pair] | None = None,
    probe_vectors: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The modality's drift statistics and (if any) its stored probe set."""
    stats = vector_statistics(items, window)
    if not probes or probe_vectors is None:
        return stats, None
    keys = [p.key for p in probes]
    stats["probe_recall@1"] = round(probe_recall(modality, *probe_vectors, keys), 6)
    stored = {
        "fingerprint_sha256": fingerprint([p.text for p in probes], [p.payload for p in probes]),
        "pairs": [
            {"text": p.text, "key": p.key, "data": base64.b64encode(p.payload).decode("ascii")}
            for p in probes
        ],
    }
    return stats, stored


def merged(previous: dict[str, Any] | None, record: dict[str, Any]) -> dict[str, Any]:
    """The new baseline keeps what an audit of another modality stored before it."""
    if not previous:
        return record
    out = dict(record)
    for section in ("scores", "drift", "probes"):
        combined = {**(previous.get(section) or {}), **(record.get(section) or {})}
        if combined:
            out[section] = combined
    return out


def text_section(vectors: np.ndarray, *, window: int) -> dict[str, Any]:
    """The text modality's drift statistics: aggregates of texts like those the space will
    embed (no text and no single vector is kept). Text has no probe pairs: its drift is
    the shift of the cloud, not a loss of cross-modal recall."""
    stats = vector_statistics(vectors, window)
    stats["source"] = "align text-baseline"
    return stats
