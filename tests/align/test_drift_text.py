"""Text drift: `align text-baseline` stores aggregate statistics of representative texts;
the service's monitor then scores the text it embeds against them (real MiniLM)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from appliance.encoders.base import encode_now
from appliance.encoders.factory import load_space
from appliance.encoders.serving import drift_monitor
from appliance.models import ModelStore
from appliance.settings import DriftSettings, EncoderSettings, load_settings
from tests.conftest import run_appliance

SYMPTOMS = (
    "chest pain",
    "shortness of breath",
    "a persistent cough",
    "fever and chills",
    "abdominal pain",
    "dizziness",
    "swelling of the ankles",
    "a severe headache",
)
TIMES = ("two days", "a week", "three weeks", "several months")
FINDINGS = (
    "Blood pressure was normal.",
    "ECG showed sinus rhythm.",
    "Chest X-ray was clear.",
    "Labs are pending.",
)


def notes(offset: int, count: int) -> list[str]:
    """Clinical-style notes from templates; different offsets give different combinations."""
    combos = list(itertools.product(SYMPTOMS, TIMES, FINDINGS))
    rows = [combos[(offset + 7 * i) % len(combos)] for i in range(count)]
    return [f"Patient reports {s} for {t}. {f}" for s, t, f in rows]


def shifted(count: int) -> list[str]:
    """Inputs unlike any note: machine logs with numbers and hex identifiers."""
    return [
        f"ERR 0x{i * 7919:08x} worker-{i % 5} segfault at {i * 131} retry {i % 3}"
        for i in range(count)
    ]


@pytest.fixture
def starter_store(
    isolated_cli: None, tmp_path: Path, starter_pack: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[Path, ModelStore]:
    """A data dir with the starter pack (real MiniLM) imported and active."""
    data = tmp_path / "data"
    assert run_appliance(capsys, "--data-dir", str(data), "init")[0] == 0
    store = ModelStore(data / "models")
    store.import_path(starter_pack)
    return data, store


def test_text_baseline_scores_the_text_stream(
    starter_store: tuple[Path, ModelStore], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """After `align text-baseline`, notes like the baseline's stay under the threshold and
    machine logs fed as text drift; before it, text is watched but never scored."""
    data, store = starter_store
    settings = load_settings(data_dir=data, environ={})
    before = drift_monitor(settings, store, "starter")
    assert before is not None and "text" not in before.baseline
    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join(notes(0, 96)) + "\n")
    code, out, _ = run_appliance(
        capsys, "--data-dir", str(data), "align", "text-baseline", "--texts", str(texts), "--json"
    )
    assert code == 0, out
    assert json.loads(out)["texts"] == 96
    baseline = json.loads((Path(json.loads(out)["baseline"])).read_text())
    assert baseline["drift"]["text"]["count"] == 96 and "mean" in baseline["drift"]["text"]
    assert "Patient" not in json.dumps(baseline)  # aggregates only, no text kept

    monitor = drift_monitor(settings, store, "starter")
    assert monitor is not None and "text" in monitor.baseline
    text = load_space(store, EncoderSettings(device="cpu", warmup=False)).encoders["text"]  # type: ignore[index]
    monitor.observe("text", encode_now(text, notes(3, 64)))
    calm = monitor.report().modalities["text"]
    assert calm.score is not None and calm.score < settings.drift.threshold, calm.scores
    monitor.observe("text", encode_now(text, shifted(settings.drift.window)))
    report = monitor.report()
    assert report.drifting == ["text"], report.modalities["text"].scores


def test_too_few_texts_are_refused(
    starter_store: tuple[Path, ModelStore], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A baseline of fewer texts than drift.min_samples is refused with a remedy."""
    data, _ = starter_store
    texts = tmp_path / "few.txt"
    texts.write_text("one note\nanother note\n")
    code, out, err = run_appliance(
        capsys, "--data-dir", str(data), "align", "text-baseline", "--texts", str(texts)
    )
    assert code != 0 and "min_samples" in out + err


def test_monitor_scores_text_with_its_own_baseline() -> None:
    """Given a text section, the monitor scores text like any modality (no probes needed)."""
    from appliance.align.baseline import text_section
    from appliance.services.drift import DriftMonitor

    rng = np.random.default_rng(0)
    home = rng.normal(size=(200, 16)) + 4 * np.eye(16)[0]
    away = rng.normal(size=(64, 16)) + 4 * np.eye(16)[1]
    settings = DriftSettings(threshold=0.25, window=64, min_samples=16)
    monitor = DriftMonitor(settings, {"text": text_section(home, window=64)})
    monitor.observe("text", away)
    figures = monitor.report().modalities["text"]
    assert figures.has_baseline and figures.drifting and "probe_recall_drop" not in figures.scores
