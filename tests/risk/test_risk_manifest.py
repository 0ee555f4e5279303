"""The probe manifest loads files relative to itself, keeps attributes, and refuses what
cannot be audited with a remedy."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from appliance.errors import InvalidInputError
from appliance.risk.manifest import read_probe_manifest


def _wav(seed: int) -> bytes:
    buffer = io.BytesIO()
    wave = np.random.default_rng(seed).normal(size=1600).astype(np.float32) * 0.1
    sf.write(buffer, wave, 16_000, format="WAV")
    return buffer.getvalue()


def _write(path: Path, records: list[dict[str, object]]) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    return path


def test_audio_manifest_loads_files_and_attributes(tmp_path: Path) -> None:
    """Files resolve next to the manifest; a missing attribute is None; the fingerprint
    changes when a label changes."""
    for i in range(3):
        (tmp_path / f"c{i}.wav").write_bytes(_wav(i))
    records: list[dict[str, object]] = [
        {"identity": "a", "file": "c0.wav", "attributes": {"accent": "x"}},
        {"identity": "b", "file": "c1.wav"},
        {"identity": "b", "file": "c2.wav", "attributes": {"accent": "y"}},
    ]
    loaded = read_probe_manifest(_write(tmp_path / "m.jsonl", records))
    assert loaded.modality == "audio"
    assert loaded.labels == ["a", "b", "b"]
    assert loaded.attributes == {"accent": ["x", None, "y"]}
    records[0]["identity"] = "c"
    other = read_probe_manifest(_write(tmp_path / "n.jsonl", records))
    assert other.fingerprint() != loaded.fingerprint()


def test_mixed_modalities_are_refused(tmp_path: Path) -> None:
    """A text sample in an audio probe set is refused, naming the line."""
    (tmp_path / "c.wav").write_bytes(_wav(0))
    path = _write(
        tmp_path / "m.jsonl",
        [{"identity": "a", "file": "c.wav"}, {"identity": "b", "text": "hello"}],
    )
    with pytest.raises(InvalidInputError, match=r"m\.jsonl:2"):
        read_probe_manifest(path)


def test_unknown_bytes_are_refused(tmp_path: Path) -> None:
    """A file that is neither image nor audio is refused rather than guessed."""
    (tmp_path / "x.bin").write_bytes(b"not media at all")
    path = _write(tmp_path / "m.jsonl", [{"identity": "a", "file": "x.bin"}])
    with pytest.raises(InvalidInputError, match="not a recognised"):
        read_probe_manifest(path)
