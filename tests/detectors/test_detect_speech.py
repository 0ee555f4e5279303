"""Speech detection: FSDD spoken digits versus tones, noise and silence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from appliance.detectors import DetectorRegistry, SpeechDetector, detect
from appliance.detectors.speech import model_path, resample, segments_from_probs
from appliance.domain.findings import FindingKind
from appliance.domain.types import Modality
from tests.conftest import shared_data_dir
from tests.detectors.detector_media import NON_SPEECH_KINDS, non_speech_clip, wav_bytes

FSDD_STEP = 15  # 200 of the 3000 clips, every speaker and digit (full set in the report)
RECALL_GOAL, FP_GOAL = 0.95, 0.02


@pytest.fixture(scope="module")
def speech(registry: DetectorRegistry) -> SpeechDetector:
    """The loaded speech detector."""
    return registry.speech()


@pytest.fixture(scope="module")
def fsdd_sample() -> list[Path]:
    """Every 15th FSDD recording (8 kHz mono WAV)."""
    files = sorted(shared_data_dir("fsdd").glob("recordings/*.wav"))
    assert len(files) == 3000
    return files[::FSDD_STEP]


def test_speech_recall_on_fsdd(speech: SpeechDetector, fsdd_sample: list[Path]) -> None:
    """At least 95% of spoken-digit clips are found to contain speech, inside the clip."""
    hits = 0
    for path in fsdd_sample:
        samples, rate = sf.read(path, dtype="float32")
        segments = speech.segments(samples, rate)
        hits += bool(segments)
        duration = len(samples) / rate
        assert all(0 <= s.start < s.end <= duration + 1e-6 for s in segments)
    recall = hits / len(fsdd_sample)
    print(f"\nFSDD speech recall: {recall:.3f} on {len(fsdd_sample)} clips")
    assert recall >= RECALL_GOAL


def test_no_speech_in_tones_noise_and_silence(speech: SpeechDetector) -> None:
    """Pure and warbling tones, white and pink noise and silence are not taken for speech."""
    rng = np.random.default_rng(20240611)
    flagged: dict[str, int] = dict.fromkeys(NON_SPEECH_KINDS, 0)
    clips = 0
    for rate in (8_000, 16_000, 44_100):
        for kind in NON_SPEECH_KINDS:
            for _ in range(4):
                flagged[kind] += bool(speech.segments(non_speech_clip(kind, rng, rate), rate))
                clips += 1
    rate_fp = sum(flagged.values()) / clips
    print(f"\nnon-speech false positives: {rate_fp:.3f} of {clips} clips ({flagged})")
    assert rate_fp <= FP_GOAL


def test_detect_audio_reports_time_ranges_and_facts(
    registry: DetectorRegistry, encoder_settings, fsdd_sample: list[Path]
) -> None:
    """detect() on WAV bytes gives SPEECH findings with time ranges and audio facts."""
    samples, rate = sf.read(fsdd_sample[0], dtype="float32")
    stereo = np.stack([samples, samples], axis=1)
    report = detect("audio", wav_bytes(stereo, rate), settings=encoder_settings, registry=registry)
    assert report.modality is Modality.AUDIO and report.kinds == {FindingKind.SPEECH}
    facts = report.facts
    assert (facts["format"], facts["sample_rate"], facts["channels"]) == ("WAV", 8000, 2)
    assert facts["duration_s"] == pytest.approx(len(samples) / rate, abs=1e-3)
    assert 0 < facts["speech_seconds"] <= facts["duration_s"] and not facts["silent"]
    for finding in report.findings:
        assert set(finding.location) == {"start_s", "end_s"}
        assert 0 <= finding.location["start_s"] < finding.location["end_s"]


def test_silence_report_has_no_speech(registry: DetectorRegistry, encoder_settings) -> None:
    """Two seconds of silence: no finding, flagged silent, no speech seconds."""
    report = detect(
        Modality.AUDIO,
        wav_bytes(np.zeros(32_000, np.float32), 16_000),
        settings=encoder_settings,
        registry=registry,
    )
    assert report.findings == ()
    assert report.facts["silent"] is True and report.facts["speech_seconds"] == 0


def test_model_is_the_wheels_onnx_file() -> None:
    """The VAD runs the ONNX model from the silero-vad wheel (no TorchScript, no pickle)."""
    path = model_path()
    assert path.suffix == ".onnx" and path.parent.parent.name == "silero_vad"
    assert path.read_bytes()[:2] != b"PK"  # not a TorchScript zip


def test_segments_merge_gaps_and_drop_blips() -> None:
    """Short gaps merge into one segment; a single-frame blip is dropped."""
    probs = np.array(
        [0.0] * 5 + [0.9] * 10 + [0.1] * 2 + [0.9] * 10 + [0.0] * 5 + [0.9] + [0.0] * 5,
        dtype=np.float32,
    )
    segments = segments_from_probs(probs, frame_s=0.032)
    assert [(s.start, s.end) for s in segments] == [(0.16, 0.864)]


def test_resample_keeps_duration() -> None:
    """Resampling 8 kHz to 16 kHz doubles the samples and keeps a tone's frequency."""
    tone = np.sin(2 * np.pi * 440 * np.arange(8000) / 8000).astype(np.float32)
    up = resample(tone, 8000)
    assert up.shape == (16000,) and up.dtype == np.float32
    peak = np.argmax(np.abs(np.fft.rfft(up))) * 16000 / up.size
    assert peak == pytest.approx(440, abs=2)
