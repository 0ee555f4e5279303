"""Drift monitoring of the served space (numpy only: no torch, so the API may read it).

The served encoders report every vector they produce (ingest, embeddings, search queries);
the monitor keeps the most recent ``window`` vectors per modality in memory only and
compares their statistics with the baseline `appliance align audit` stored for the space:

- ``mean_shift``: distance between the mean vector of the window and of the baseline
  (unit rows, so it covers both direction and concentration of the cloud), less the
  distance two samples of those sizes from one distribution are expected to show
  (``mean_shift_raw`` is the distance itself);
- ``direction``: ``1 - cos`` between the two mean directions (shown, not scored: it is
  noisy when the cloud has little concentration);
- ``nn_similarity_shift``: difference of the median nearest-neighbour cosine within a
  sample of the same size;
- ``probe_recall_drop``: recall@1 lost on the held-back probe pairs, re-embedded by the
  served encoders at start-up, against the recall measured when the baseline was taken.

A modality's ``score`` is the largest of the scored statistics; above the threshold it
drifts: logged and reported once per transition (the server audits it) and shown in
``/readyz``; it stops drifting once the score is back under ``CLEAR_RATIO`` times the
threshold (hysteresis: a window half-way between two regimes does not flap). Scores are
computed at each scrape of ``/metrics`` or ``/readyz`` and after every ``min_samples``
vectors a modality embeds, so an alert does not wait for a scrape. Statistics are
recorded without any raw input or single vector leaving memory.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from appliance.observability import get_logger
from appliance.settings import DriftSettings

log = get_logger(__name__)

SCORED = ("mean_shift", "nn_similarity_shift", "probe_recall_drop")
CLEAR_RATIO = 0.8
AlertHook = Callable[[str, bool, dict[str, float]], None]
"""Called with (modality, drifting, scores) when a modality starts or stops drifting."""


def _unit(vectors: np.ndarray) -> np.ndarray:
    v = np.asarray(vectors, dtype=np.float64)
    return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)


def nearest_neighbour_similarities(vectors: np.ndarray) -> np.ndarray:
    """Each unit row's highest cosine with any other row of the sample."""
    if len(vectors) < 2:
        return np.zeros(0)
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -np.inf)
    return sims.max(axis=1)


def vector_statistics(vectors: np.ndarray, window: int = 256) -> dict[str, Any]:
    """The statistics of a set of vectors that a baseline keeps (aggregates only)."""
    unit = _unit(vectors)
    mean = unit.mean(axis=0)
    nn = nearest_neighbour_similarities(unit[:window])
    quantiles = np.quantile(nn, [0.1, 0.5, 0.9]) if len(nn) else np.zeros(3)
    return {
        "count": len(unit),
        "mean": [round(float(x), 6) for x in mean],
        "concentration": round(float(np.linalg.norm(mean)), 6),
        "nn_similarity": {
            "p10": round(float(quantiles[0]), 6),
            "p50": round(float(quantiles[1]), 6),
            "p90": round(float(quantiles[2]), 6),
            "sample": int(min(len(unit), window)),
        },
    }


def _sampling_noise(now: dict[str, Any], base: dict[str, Any]) -> float:
    """The distance two sample means of unit vectors drawn from one distribution are
    expected to lie apart: ``sqrt(tr C / n_now + tr C / n_base)``, ``tr C = 1 - |mean|^2``."""
    spread_now = max(0.0, 1.0 - float(now["concentration"]) ** 2)
    spread_base = max(0.0, 1.0 - float(base["concentration"]) ** 2)
    return float(
        np.sqrt(spread_now / max(int(now["count"]), 1) + spread_base / max(int(base["count"]), 1))
    )


@dataclass
class ModalityDrift:
    """One modality's figures at one moment."""

    modality: str
    samples: int
    live: dict[str, float]
    scores: dict[str, float] = field(default_factory=dict)
    score: float | None = None
    drifting: bool = False
    has_baseline: bool = False


@dataclass
class DriftReport:
    """All modalities; ``drifting`` names those above the threshold."""

    threshold: float
    fail_readiness: bool
    modalities: dict[str, ModalityDrift]

    @property
    def drifting(self) -> list[str]:
        """Modalities whose score exceeds the threshold."""
        return sorted(m for m, d in self.modalities.items() if d.drifting)

    def details(self) -> dict[str, Any]:
        """JSON for /readyz."""
        return {
            "threshold": self.threshold,
            "drifting": self.drifting,
            "modalities": {
                m: {
                    "samples": d.samples,
                    "score": d.score,
                    "scores": d.scores,
                    "baseline": d.has_baseline,
                }
                for m, d in sorted(self.modalities.items())
            },
        }


class DriftMonitor:
    """Thread-safe running statistics per modality, compared with a stored baseline."""

    def __init__(
        self,
        settings: DriftSettings,
        baseline: dict[str, dict[str, Any]] | None = None,
        *,
        on_change: AlertHook | None = None,
    ) -> None:
        self.settings = settings
        self.baseline = dict(baseline or {})
        self.on_change = on_change
        self._windows: dict[str, deque[np.ndarray]] = {}
        self._seen: dict[str, int] = {}
        self._probes: dict[str, float] = {}
        self._drifting: set[str] = set()
        self._lock = threading.Lock()

    def observe(self, modality: str, vectors: np.ndarray) -> None:
        """Add the rows an encoder just produced (kept in memory, at most ``window``)."""
        rows = _unit(np.atleast_2d(vectors))
        every = self.settings.min_samples
        with self._lock:
            window = self._windows.setdefault(modality, deque(maxlen=self.settings.window))
            window.extend(rows)
            before = self._seen.get(modality, 0)
            self._seen[modality] = before + len(rows)
            due = (before + len(rows)) // every > before // every
        if due:  # alerts do not wait for a scrape of /metrics or /readyz
            self.report()

    def record_probe(self, modality: str, live_recall: float) -> None:
        """Recall@1 the served encoders reach on the baseline's probe pairs now."""
        with self._lock:
            self._probes[modality] = float(live_recall)

    def report(self) -> DriftReport:
        """Compute every modality's scores; report transitions to ``on_change``."""
        with self._lock:
            windows = {m: np.array(w) for m, w in self._windows.items() if w}
            probes = dict(self._probes)
            was_drifting = set(self._drifting)
        modalities = {}
        for modality in sorted(set(windows) | set(probes) | set(self.baseline)):
            figures = self._modality(modality, windows.get(modality), probes)
            if modality in was_drifting and figures.score is not None:
                figures.drifting = figures.score > CLEAR_RATIO * self.settings.threshold
            modalities[modality] = figures
        report = DriftReport(self.settings.threshold, self.settings.fail_readiness, modalities)
        self._transitions(report)
        return report

    def _modality(
        self, modality: str, window: np.ndarray | None, probes: dict[str, float]
    ) -> ModalityDrift:
        base = self.baseline.get(modality)
        samples = 0 if window is None else len(window)
        live: dict[str, float] = {}
        scores: dict[str, float] = {}
        if window is not None and samples >= self.settings.min_samples:
            now = vector_statistics(window, self.settings.window)
            live = {
                "concentration": now["concentration"],
                "nn_similarity_p50": now["nn_similarity"]["p50"],
            }
            if base is not None:
                mean_now, mean_base = np.asarray(now["mean"]), np.asarray(base["mean"])
                raw_shift = float(np.linalg.norm(mean_now - mean_base))
                scores["mean_shift_raw"] = raw_shift
                scores["mean_shift"] = max(0.0, raw_shift - _sampling_noise(now, base))
                cos = float(mean_now @ mean_base) / max(
                    float(np.linalg.norm(mean_now) * np.linalg.norm(mean_base)), 1e-12
                )
                scores["direction"] = 1.0 - cos
                scores["nn_similarity_shift"] = abs(
                    now["nn_similarity"]["p50"] - base["nn_similarity"]["p50"]
                )
        if base is not None and modality in probes and "probe_recall@1" in base:
            scores["probe_recall_drop"] = max(0.0, base["probe_recall@1"] - probes[modality])
        scored = [scores[k] for k in SCORED if k in scores]
        score = max(scored) if scored else None
        rounded = {k: round(v, 6) for k, v in scores.items()}
        return ModalityDrift(
            modality=modality,
            samples=samples,
            live=live,
            scores=rounded,
            score=None if score is None else round(score, 6),
            drifting=score is not None and score > self.settings.threshold,
            has_baseline=base is not None,
        )

    def _transitions(self, report: DriftReport) -> None:
        with self._lock:
            now = set(report.drifting)
            started, stopped = now - self._drifting, self._drifting - now
            self._drifting = now
        for modality in sorted(started | stopped):
            figures = report.modalities[modality]
            drifting = modality in started
            log.warning(
                "space.drift" if drifting else "space.drift_cleared",
                modality=modality,
                score=figures.score,
                threshold=self.settings.threshold,
                **figures.scores,
            )
            if self.on_change is not None:
                try:
                    self.on_change(modality, drifting, figures.scores)
                except Exception as exc:  # monitoring must never break serving
                    log.error("space.drift_report_failed", error=type(exc).__name__)
