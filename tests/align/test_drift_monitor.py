"""The drift monitor: running statistics per modality against a stored baseline."""

from __future__ import annotations

import numpy as np

from appliance.services.drift import DriftMonitor, vector_statistics
from appliance.settings import DriftSettings

SETTINGS = DriftSettings(threshold=0.25, window=64, min_samples=16)


def _cloud(rng: np.random.Generator, n: int, centre: np.ndarray, spread: float) -> np.ndarray:
    rows = centre + spread * rng.normal(size=(n, len(centre)))
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def _centres(dim: int = 32) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.zeros(dim), np.zeros(dim)
    a[0], b[1] = 1.0, 1.0
    return a, b


def test_same_distribution_does_not_drift_and_a_shift_does_once() -> None:
    """Inputs like the baseline's score low; a shifted stream drifts, reported once, and
    clears when the stream comes back."""
    rng = np.random.default_rng(0)
    home, away = _centres()
    events: list[tuple[str, bool]] = []
    monitor = DriftMonitor(
        SETTINGS,
        {"image": vector_statistics(_cloud(rng, 200, home, 0.3), SETTINGS.window)},
        on_change=lambda m, drifting, scores: events.append((m, drifting)),
    )
    monitor.observe("image", _cloud(rng, 64, home, 0.3))
    calm = monitor.report().modalities["image"]
    assert calm.score is not None and calm.score < SETTINGS.threshold and not calm.drifting
    monitor.observe("image", _cloud(rng, 64, away, 0.3))
    shifted = monitor.report()
    assert shifted.drifting == ["image"] and shifted.modalities["image"].scores["mean_shift"] > 0.5
    monitor.report()  # still drifting: not reported again
    monitor.observe("image", _cloud(rng, 64, home, 0.3))
    assert monitor.report().drifting == []
    assert events == [("image", True), ("image", False)]


def test_collapsed_inputs_drift_through_the_neighbour_similarities() -> None:
    """Inputs that all embed alike (a broken decoder, a blank feed) raise the median
    nearest-neighbour similarity even around the baseline's own mean."""
    rng = np.random.default_rng(1)
    home, _ = _centres()
    baseline = _cloud(rng, 200, home, 0.6)
    monitor = DriftMonitor(SETTINGS, {"audio": vector_statistics(baseline, SETTINGS.window)})
    monitor.observe("audio", _cloud(rng, 64, home, 0.01))
    figures = monitor.report().modalities["audio"]
    assert figures.drifting and figures.scores["nn_similarity_shift"] > 0.25


def test_no_score_before_min_samples_and_none_without_baseline() -> None:
    """A few vectors give no score; a modality with no baseline is watched, never scored."""
    rng = np.random.default_rng(2)
    home, away = _centres()
    monitor = DriftMonitor(SETTINGS, {"image": vector_statistics(_cloud(rng, 50, home, 0.3))})
    monitor.observe("image", _cloud(rng, SETTINGS.min_samples - 1, away, 0.3))
    monitor.observe("text", _cloud(rng, 40, away, 0.3))
    report = monitor.report()
    assert report.modalities["image"].score is None and report.drifting == []
    assert report.modalities["text"].score is None and report.modalities["text"].live


def test_probe_recall_drop_drifts() -> None:
    """Losing recall@1 on the stored probe pairs beyond the threshold is drift."""
    stats = {**vector_statistics(np.eye(4)), "probe_recall@1": 1.0}
    monitor = DriftMonitor(SETTINGS, {"audio": stats})
    monitor.record_probe("audio", 0.9)
    assert monitor.report().drifting == []
    monitor.record_probe("audio", 0.5)
    assert monitor.report().modalities["audio"].scores["probe_recall_drop"] == 0.5
    assert monitor.report().drifting == ["audio"]


def test_the_window_keeps_only_recent_vectors() -> None:
    """Memory holds at most `window` vectors per modality, whatever was embedded."""
    monitor = DriftMonitor(SETTINGS)
    monitor.observe("text", np.ones((500, 8)))
    assert monitor.report().modalities["text"].samples == SETTINGS.window


def test_a_shift_is_reported_without_anyone_asking() -> None:
    """Embedding alone evaluates the scores: no scrape is needed for the alert."""
    rng = np.random.default_rng(3)
    home, away = _centres()
    events: list[tuple[str, bool]] = []
    monitor = DriftMonitor(
        SETTINGS,
        {"audio": vector_statistics(_cloud(rng, 200, home, 0.3))},
        on_change=lambda m, drifting, scores: events.append((m, drifting)),
    )
    for _ in range(8):
        monitor.observe("audio", _cloud(rng, 8, away, 0.3))
    assert events == [("audio", True)]
