"""Audio decoding (soundfile) with its limits, CLAP features on the device, the CLAP audio tower."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from encoder_media import png_bytes, wav_bytes
from PIL import Image

from appliance.encoders.audio_features import ClapFeatureConfig, ClapFeatures
from appliance.encoders.base import encode_now
from appliance.encoders.decode_audio import decode_audio
from appliance.encoders.factory import load_encoder
from appliance.errors import InvalidInputError
from appliance.settings import EncoderSettings


def _tone(seconds: float, rate: int, freq: float = 440.0, amplitude: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_fsdd_clip_features_and_vector_match_transformers(load, tiny_models, fsdd: Path) -> None:
    """An 8 kHz FSDD clip gives the HF extractor's features and the HF model's vector."""
    import torchaudio.functional as taf
    from transformers import ClapFeatureExtractor, ClapModel

    path = sorted(fsdd.glob("*.wav"))[0]
    samples, rate = sf.read(path, dtype="float32")
    assert rate == 8000
    at_48k = taf.resample(torch.from_numpy(samples), rate, 48_000).numpy()
    extractor = ClapFeatureExtractor.from_pretrained(
        str(tiny_models["clap"]), local_files_only=True
    )
    expected = extractor(at_48k, sampling_rate=48_000, return_tensors="pt")
    features = ClapFeatures(ClapFeatureConfig.from_dir(tiny_models["clap"]), "cpu")
    ours, longer = features.one(torch.from_numpy(samples), rate)
    assert ours.shape == expected["input_features"][0].shape == (1, 1001, 64)
    assert not longer
    assert torch.allclose(ours, expected["input_features"][0].float(), atol=1e-3)
    model = ClapModel.from_pretrained(str(tiny_models["clap"]), local_files_only=True).eval()
    with torch.inference_mode():
        reference = model.get_audio_features(**expected).pooler_output.numpy()
    vector = encode_now(load("clap", "audio"), [path.read_bytes()])
    assert np.allclose(vector, reference / np.linalg.norm(reference), atol=1e-4)


def test_wav_flac_and_ogg_all_decode_and_embed(load) -> None:
    """WAV and lossless FLAC give the same vector; OGG/Vorbis decodes and embeds too."""
    tone = _tone(1.5, 16_000)
    encoder = load("clap", "audio")
    wav = encode_now(encoder, [wav_bytes(tone, 16_000, "WAV", "FLOAT")])
    flac = encode_now(encoder, [wav_bytes(tone, 16_000, "FLAC", "PCM_24")])
    ogg = encode_now(encoder, [wav_bytes(tone, 16_000, "OGG", "VORBIS")])
    assert np.allclose(wav, flac, atol=1e-4)
    assert ogg.shape == (1, 32) and np.isclose(np.linalg.norm(ogg), 1.0, atol=1e-5)


def test_stereo_is_down_mixed(load) -> None:
    """A stereo file with the same signal in both channels embeds like the mono signal."""
    tone = _tone(1.0, 22_050)
    encoder = load("clap", "audio")
    stereo = wav_bytes(np.stack([tone, tone], axis=1), 22_050, "WAV", "FLOAT")
    mono = wav_bytes(tone, 22_050, "WAV", "FLOAT")
    assert encoder.prepare(stereo).notes["channels"] == 2
    assert np.allclose(encode_now(encoder, [stereo]), encode_now(encoder, [mono]), atol=1e-5)


def test_ten_hour_clip_is_refused_from_its_header(load) -> None:
    """A clip whose header says 10 hours is refused before any sample is decoded."""
    ten_hours = wav_bytes(np.zeros(36_000, dtype=np.float32), 1, "WAV", "PCM_16")  # 1 Hz x 36000 s
    with pytest.raises(InvalidInputError, match=r"36000\.0 s long, over the limit of 600 s"):
        load("clap", "audio").prepare(ten_hours)


def test_duration_and_byte_limits_come_from_settings(tiny_models) -> None:
    """encoders.max_audio_seconds and max_audio_bytes bound ordinary clips."""
    clip = wav_bytes(_tone(2.0, 8000), 8000)
    short = EncoderSettings(device="cpu", max_audio_seconds=1.0)
    small = EncoderSettings(device="cpu", max_audio_bytes=1000)
    with pytest.raises(InvalidInputError, match=r"2\.0 s long, over the limit of 1 s"):
        load_encoder(tiny_models["clap"], settings=short, modality="audio").prepare(clip)
    with pytest.raises(InvalidInputError, match="over the limit of 1000 bytes"):
        load_encoder(tiny_models["clap"], settings=small, modality="audio").prepare(clip)


def test_silence_is_embedded_and_flagged(load) -> None:
    """Digital silence embeds to a finite unit vector and is noted as silent."""
    encoder = load("clap", "audio")
    silence = wav_bytes(np.zeros(8000, dtype=np.float32), 8000)
    assert encoder.prepare(silence).notes.get("silent") is True
    vector = encode_now(encoder, [silence])
    assert np.isfinite(vector).all() and np.isclose(np.linalg.norm(vector), 1.0, atol=1e-5)


def test_over_full_scale_audio_is_clipped_and_flagged(load) -> None:
    """Float samples past full scale are clipped to [-1, 1] and noted; the vector stays finite."""
    encoder = load("clap", "audio")
    loud = _tone(1.0, 8000, amplitude=3.0)
    prepared = encoder.prepare(wav_bytes(loud, 8000, "WAV", "FLOAT"))
    assert prepared.notes.get("clipped") is True
    assert float(prepared.payload[0].abs().max()) <= 1.0
    same = encode_now(encoder, [wav_bytes(np.clip(loud, -1, 1), 8000, "WAV", "FLOAT")])
    assert np.allclose(
        encode_now(encoder, [wav_bytes(loud, 8000, "WAV", "FLOAT")]), same, atol=1e-5
    )


def test_non_finite_samples_are_refused() -> None:
    """A float WAV holding NaN is refused."""
    samples = _tone(0.5, 8000)
    samples[100] = np.nan
    with pytest.raises(InvalidInputError, match="NaN"):
        decode_audio(wav_bytes(samples, 8000, "WAV", "FLOAT"), max_seconds=600)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", r"empty \(0 bytes\)"),
        (b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk", "truncated|cannot decode|can decode"),
        (b"definitely not audio at all" * 10, "not audio"),
        ("a text string", "must be bytes"),
    ],
)
def test_bad_audio_is_refused_naming_the_problem(load, raw: bytes | str, message: str) -> None:
    """Zero bytes, a broken WAV, garbage and text each get a clear error."""
    with pytest.raises(InvalidInputError, match=message):
        load("clap", "audio").prepare(raw)


def test_image_bytes_sent_as_audio_are_refused(load) -> None:
    """A PNG with modality audio is refused as a modality mismatch."""
    with pytest.raises(InvalidInputError, match="modality is 'audio' but the bytes are a PNG"):
        load("clap", "audio").prepare(png_bytes(Image.new("RGB", (4, 4))))


def test_long_clip_is_deterministic_and_batch_invariant(load) -> None:
    """Clips over the 10 s window embed deterministically, alone or in a batch."""
    encoder = load("clap", "audio")
    rng = np.random.default_rng(0)
    long_clip = wav_bytes((rng.standard_normal(8000 * 14) * 0.1).astype(np.float32), 8000)
    short_clip = wav_bytes(_tone(0.7, 44_100), 44_100)
    batch = encode_now(encoder, [short_clip, long_clip])
    assert np.allclose(batch[1], encode_now(encoder, [long_clip])[0], atol=1e-5)
    assert np.allclose(batch[0], encode_now(encoder, [short_clip])[0], atol=1e-5)


def test_fusion_checkpoint_fuses_long_clips_deterministically(tmp_path: Path, settings) -> None:
    """A fused CLAP uses 4-channel features (global + 3 crops) for long clips, deterministically."""
    from appliance.encoders.testpack import write_random_model

    path = write_random_model("clap", "tiny", tmp_path / "fused", clap_fusion=True)
    encoder = load_encoder(path, settings=settings, modality="audio")
    features, is_longer = encoder.features.batch([(torch.from_numpy(_tone(12.0, 48_000)), 48_000)])
    assert features.shape == (1, 4, 1001, 64) and bool(is_longer[0, 0])
    clip = wav_bytes(_tone(12.0, 16_000, freq=300.0), 16_000)
    first, second = encode_now(encoder, [clip]), encode_now(encoder, [clip])
    assert np.array_equal(first, second) and np.isclose(np.linalg.norm(first), 1.0, atol=1e-5)
