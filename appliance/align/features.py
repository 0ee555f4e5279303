"""Frozen feature extractors the trainer puts a tower on, and the frozen text anchor.

- ``logmel``: speech features with no pretrained model: 40 log-mel bands at 8 kHz, the
  voiced span (frames within 40 dB of the loudest) resampled to 24 frames, normalised per
  clip, plus per-band mean and spread (1,040 values).
- ``speech-embedding``: Google's pretrained speech_embedding backbone (openWakeWord 0.4.0's
  ONNX re-implementation, hash-pinned; ``appliance/encoders/speech_backbone.py``), frozen:
  mean and max of its 96-d window embeddings (192 values).
- ``pixels``: a grey-scale image shrunk to 8 x 8 in [0, 1] (64 values), the layout of
  scikit-learn's bundled handwritten digits.
- ``model:<dir>``: the vectors of a model directory's tower for the pairs' modality (a
  pretrained or store model), for a linear adapter the serving path can load.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from appliance.errors import InvalidInputError

if TYPE_CHECKING:
    from PIL import Image

AUDIO_RATE = 8_000
N_MELS = 40
FRAMES = 24
IMAGE_SIDE = 8
MAX_AUDIO_SECONDS = 60.0
EXTRACTORS = ("logmel", "speech-embedding", "pixels", "model:<dir>")
_MEL: dict[int, torch.nn.Module] = {}


def _mel() -> torch.nn.Module:
    import torchaudio

    if AUDIO_RATE not in _MEL:
        _MEL[AUDIO_RATE] = torchaudio.transforms.MelSpectrogram(
            sample_rate=AUDIO_RATE, n_fft=256, hop_length=64, n_mels=N_MELS
        )
    return _MEL[AUDIO_RATE]


def logmel_from_wave(samples: np.ndarray, rate: int) -> np.ndarray:
    """The ``logmel`` features of mono samples at ``rate``."""
    import torchaudio.functional as taf

    wave = torch.as_tensor(np.asarray(samples, dtype=np.float32))
    if rate != AUDIO_RATE:
        wave = taf.resample(wave, rate, AUDIO_RATE)
    if len(wave) < 256:
        wave = F.pad(wave, (0, 256 - len(wave)))
    with torch.no_grad():
        logmel = torch.log(_mel()(wave) + 1e-6)  # (mels, frames)
    energy = torch.logsumexp(logmel, dim=0)
    voiced = torch.nonzero(energy >= energy.max() - 9.21).flatten()
    span = logmel[:, int(voiced[0]) : int(voiced[-1]) + 1]
    span = (span - span.mean()) / span.std().clamp(min=1e-6)
    shape = F.interpolate(span[None], size=FRAMES, mode="linear", align_corners=False)[0]
    stats = torch.cat([span.mean(1), span.std(1, unbiased=False)])
    return torch.cat([shape.flatten(), stats]).numpy().astype(np.float32)


def logmel(payloads: Sequence[bytes]) -> np.ndarray:
    """Decode audio files (WAV, FLAC, ...) and take their ``logmel`` features."""
    from appliance.encoders.decode_audio import decode_audio

    rows = []
    for raw in payloads:
        audio = decode_audio(raw, max_seconds=MAX_AUDIO_SECONDS)
        rows.append(logmel_from_wave(audio.samples, audio.sample_rate))
    return np.stack(rows)


def speech_embedding(payloads: Sequence[bytes]) -> np.ndarray:
    """Decode audio files and take their ``speech-embedding`` features (192 values)."""
    from appliance.encoders.decode_audio import decode_audio
    from appliance.encoders.speech_backbone import speech_embedding as backbone

    extract = backbone()
    rows = []
    for raw in payloads:
        audio = decode_audio(raw, max_seconds=MAX_AUDIO_SECONDS)
        rows.append(extract(audio.samples, audio.sample_rate))
    return np.stack(rows)


def pixels_from_array(image: np.ndarray) -> np.ndarray:
    """An 8 x 8 grey image (any scale) flattened to [0, 1]."""
    image = np.asarray(image, dtype=np.float32)
    peak = float(image.max()) or 1.0
    return (image / peak).reshape(-1).astype(np.float32)


def pixels(payloads: Sequence[bytes]) -> np.ndarray:
    """Decode images, shrink to 8 x 8 grey and scale to [0, 1]."""
    from PIL import Image

    rows = []
    for raw in payloads:
        try:
            image = Image.open(io.BytesIO(raw)).convert("L")
        except Exception as exc:  # PIL raises many types for bad input
            raise InvalidInputError(f"not a readable image ({exc})") from exc
        rows.append(pixels_from_image(image))
    return np.stack(rows)


def pixels_from_image(image: Image.Image) -> np.ndarray:
    """The ``pixels`` features of a decoded Pillow image (any mode): grey, 8 x 8 box filter."""
    from PIL import Image

    small = image.convert("L").resize((IMAGE_SIDE, IMAGE_SIDE), Image.Resampling.BOX)
    return pixels_from_array(np.asarray(small))


def _encode(model_dir: Path, modality: str, inputs: Sequence[bytes | str]) -> np.ndarray:
    from appliance.encoders.base import encode_now
    from appliance.encoders.factory import load_encoder
    from appliance.settings import EncoderSettings

    encoder = load_encoder(
        model_dir, settings=EncoderSettings(device="cpu", warmup=False), modality=modality
    )
    chunks = [encode_now(encoder, list(inputs[i : i + 32])) for i in range(0, len(inputs), 32)]
    return np.vstack(chunks) if chunks else np.zeros((0, encoder.dimension), np.float32)


def model_tower(model_dir: Path, modality: str) -> Callable[[Sequence[bytes | str]], np.ndarray]:
    """The frozen tower of a model directory for ``modality``."""
    return lambda inputs: _encode(Path(model_dir), modality, inputs)


def extractor(name: str, modality: str) -> Callable[[Sequence[bytes]], np.ndarray]:
    """Resolve ``--features``: ``logmel`` or ``speech-embedding`` (audio), ``pixels`` (image)
    or ``model:<dir>``."""
    if name.startswith("model:"):
        return model_tower(Path(name.removeprefix("model:")), modality)  # type: ignore[return-value]
    if name == "logmel" and modality == "audio":
        return logmel
    if name == "speech-embedding" and modality == "audio":
        return speech_embedding
    if name == "pixels" and modality == "image":
        return pixels
    raise InvalidInputError(
        f"features {name!r} do not apply to {modality}",
        remedy="audio: logmel, speech-embedding or model:<dir>; image: pixels or model:<dir>",
    )


def anchor_texts(texts: Sequence[str], model_dir: Path | None = None) -> np.ndarray:
    """Anchor-space vectors of ``texts`` (the real MiniLM unless ``model_dir`` names another
    text model); equal texts are encoded once."""
    from appliance.encoders.tokenizer_files import minilm_dir

    unique = sorted(set(texts))
    vectors = _encode(Path(model_dir or minilm_dir()), "text", unique)
    row = {t: i for i, t in enumerate(unique)}
    return vectors[[row[t] for t in texts]]
