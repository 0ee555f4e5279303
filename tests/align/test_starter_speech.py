"""The quickstart's speech: eSpeak NG (a separate GPL process) speaks the digit words, the
audio tower trains on them into MiniLM and serves the audio slot of the starter space."""

from __future__ import annotations

import json
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from appliance.align.publish import read_baseline
from appliance.align.record import deployment_record
from appliance.align.speech import espeak_available, speech_pairs, speech_plan, synthesise
from appliance.domain.types import Modality
from appliance.encoders.base import encode_now
from appliance.encoders.factory import load_space
from appliance.encoders.speech_backbone import PINNED_SHA256
from appliance.encoders.starter import (
    DIGIT_TOWER,
    DIGIT_WORDS,
    SPEECH_TOWER,
    speech_cache_dir,
    speech_tower_plan,
    train_starter_towers,
)
from appliance.errors import InvalidInputError
from appliance.models import ModelStore
from appliance.settings import EncoderSettings

needs_espeak = pytest.mark.skipif(
    not espeak_available(), reason="eSpeak NG (the speech extra, espeakng-loader) not installed"
)


@needs_espeak
def test_driver_is_a_separate_program_that_writes_wavs(tmp_path: Path) -> None:
    """The GPL driver runs as its own process: jobs in, 16-bit mono WAVs out; an unknown
    voice fails the run with a message, and no job can write outside its folder."""
    jobs = [
        {"file": "../seven.wav", "text": "seven", "voice": "en-us+m3", "rate": 150},
        {"file": "two.wav", "text": "two", "voice": "en-gb-x-rp+f2", "pitch": 70},
    ]
    (tmp_path / "jobs.json").write_text(json.dumps(jobs))
    out = tmp_path / "out"
    driver = [sys.executable, "-m", "appliance.align.espeak_driver", str(tmp_path / "jobs.json")]
    subprocess.run([*driver, str(out)], check=True, capture_output=True)
    assert sorted(p.name for p in out.iterdir()) == ["seven.wav", "two.wav"]
    assert not (tmp_path / "seven.wav").exists()
    with wave.open(str(out / "seven.wav")) as clip:
        assert clip.getnchannels() == 1 and clip.getsampwidth() == 2
        assert 0.2 < clip.getnframes() / clip.getframerate() < 2.0
    (tmp_path / "jobs.json").write_text(json.dumps([{**jobs[1], "voice": "no-such-voice"}]))
    failed = subprocess.run([*driver, str(tmp_path / "bad")], capture_output=True, text=True)
    assert failed.returncode != 0 and "no-such-voice" in failed.stderr


def test_without_espeak_synthesis_is_refused_with_a_remedy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the speech extra absent (and nothing cached) synthesis names how to install it."""
    monkeypatch.setattr("appliance.align.speech.espeak_available", lambda: False)
    with pytest.raises(InvalidInputError) as caught:
        synthesise(speech_plan(1), tmp_path)
    assert "appliance[speech]" in (caught.value.remedy or "")


@needs_espeak
def test_clips_are_cached_per_plan(tmp_path: Path) -> None:
    """A plan's clips are synthesised once (8 kHz) and read back from the cache after."""
    jobs = speech_plan(1)
    folder = synthesise(jobs, tmp_path)
    stamp = (folder / "complete.json").stat().st_mtime_ns
    assert synthesise(jobs, tmp_path) == folder
    assert (folder / "complete.json").stat().st_mtime_ns == stamp
    pairs = speech_pairs(folder, jobs, augmented=1)
    assert len(pairs) == 20 and pairs[14].text == "the spoken digit seven"
    with wave.open(str(folder / jobs[7]["file"])) as clip:
        assert clip.getframerate() == 8_000
    assert synthesise(speech_plan(1, seed=1), tmp_path) != folder


@needs_espeak
def test_starter_space_gets_a_semantic_speech_tower(tmp_path: Path, starter_pack: Path) -> None:
    """With speech on, the audio slot serves the speech tower: the whole starter space is
    semantic, the record says so per modality, the baseline covers audio with probes, and
    a spoken digit is closer to its own caption than to the others for most digits."""
    store = ModelStore(tmp_path / "models")
    store.import_path(starter_pack)
    space = train_starter_towers(store, per_class=5, epochs=10, speech_per_digit=2, seed=0)
    assert space is not None and space.encoders["audio"].model == SPEECH_TOWER
    assert space.encoders["image"].model == DIGIT_TOWER and space.semantic
    assert (speech_cache_dir(store)).is_dir()
    record = deployment_record(store, "policy")
    speech = next(m for m in record["models"] if m["name"] == SPEECH_TOWER)
    assert speech["backbone"]["sha256"] == PINNED_SHA256  # the served features' backbone
    provenance = json.loads((store.model_dir(SPEECH_TOWER) / "provenance.json").read_text())
    assert provenance["features"] == "speech-embedding"
    assert provenance["hyperparameters"]["kind"] == "linear"
    assert record["encoders"]["audio"] == {
        "model": SPEECH_TOWER,
        "adapter": None,
        "semantic": True,
        "trained": True,
    }
    assert record["encoders"]["text"]["semantic"] and record["encoders"]["text"]["trained"]
    baseline = read_baseline(store, "starter")
    assert baseline is not None and {"audio", "image"} <= set(baseline["drift"])
    assert baseline["probes"]["audio"]["pairs"] and "text->audio" in baseline["scores"]
    loaded = load_space(store, EncoderSettings(device="cpu", warmup=False))
    jobs = speech_plan(2)
    clips = [p.payload for p in speech_pairs(synthesise(jobs, speech_cache_dir(store)), jobs)]
    audio = encode_now(loaded.encoders[Modality.AUDIO], clips[::2])  # one clip per digit
    texts = encode_now(
        loaded.encoders[Modality.TEXT], [f"the spoken digit {w}" for w in DIGIT_WORDS]
    )
    assert ((audio @ texts.T).argmax(axis=1) == np.arange(10)).sum() >= 7
    assert train_starter_towers(store, speech_per_digit=2) is None


def test_random_audio_slot_is_labelled_untrained(tmp_path: Path, starter_pack: Path) -> None:
    """Before any training the record marks audio and image neither trained nor semantic."""
    store = ModelStore(tmp_path / "models")
    store.import_path(starter_pack)
    encoders = deployment_record(store, "policy")["encoders"]
    assert encoders["audio"]["semantic"] is False and encoders["audio"]["trained"] is False
    assert encoders["text"] == {**encoders["text"], "semantic": True, "trained": True}


def test_without_the_backbone_the_speech_tower_falls_back_to_logmel(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """With the openwakeword wheel absent the starter speech tower is planned on logmel +
    MLP, and a log line says so and how to get the backbone."""
    assert speech_tower_plan()[0] == "speech-embedding"
    monkeypatch.setattr("appliance.encoders.speech_backbone.backbone_dir", lambda: None)
    with caplog.at_level("WARNING", logger="appliance.encoders.starter"):
        features, config = speech_tower_plan()
    assert features == "logmel" and config.kind == "mlp"
    assert "openwakeword==0.4.0" in caplog.text and "logmel" in caplog.text
