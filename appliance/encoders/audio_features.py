"""CLAP's log-mel features in torch, on the encoder's device, with the semantics of
``transformers.ClapFeatureExtractor`` made deterministic.

Same STFT (Hann 1024, hop 480, reflect-centred), same mel banks (HTK for ``fusion``,
Slaney for ``rand_trunc``), same dB scale and the same repeat-padding of short clips.
Where the Hugging Face extractor draws random crops of long clips, this one takes the
centre (``rand_trunc``) or the middle of each third (``fusion``), so the same audio always
gives the same vector; and short clips are never marked ``is_longer`` at random.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torchaudio.functional as taf


@dataclass(frozen=True)
class ClapFeatureConfig:
    """The fields of ``preprocessor_config.json`` the features depend on."""

    sampling_rate: int = 48_000
    feature_size: int = 64
    fft_window_size: int = 1024
    hop_length: int = 480
    max_length_s: float = 10
    frequency_min: float = 0.0
    frequency_max: float = 14_000.0
    truncation: str = "fusion"
    padding: str = "repeatpad"

    @property
    def max_samples(self) -> int:
        """Samples in one model window at the model's rate."""
        return int(self.max_length_s * self.sampling_rate)

    @classmethod
    def from_dir(cls, model_dir: Path) -> ClapFeatureConfig:
        """Read ``preprocessor_config.json`` (HF defaults for absent keys)."""
        raw: dict[str, Any] = json.loads(
            (model_dir / "preprocessor_config.json").read_text("utf-8")
        )
        names = cls.__dataclass_fields__
        values = {k: raw[k] for k in names if k in raw and raw[k] is not None}
        config = cls(**values)
        if config.truncation not in {"fusion", "rand_trunc"}:
            raise ValueError(f"unsupported CLAP truncation {config.truncation!r}")
        if config.padding not in {"repeatpad", "repeat", "pad"}:
            raise ValueError(f"unsupported CLAP padding {config.padding!r}")
        return config


class ClapFeatures:
    """Waveforms at any rate -> ``input_features`` ``(n, c, frames, mels)`` and ``is_longer``."""

    def __init__(self, config: ClapFeatureConfig, device: str) -> None:
        self.config = config
        self.device = device
        fusion = config.truncation == "fusion"
        self.mel_banks = taf.melscale_fbanks(
            n_freqs=config.fft_window_size // 2 + 1,
            f_min=config.frequency_min,
            f_max=config.frequency_max,
            n_mels=config.feature_size,
            sample_rate=config.sampling_rate,
            norm=None if fusion else "slaney",
            mel_scale="htk" if fusion else "slaney",
        ).to(device, torch.float64)
        self.window = torch.hann_window(
            config.fft_window_size, periodic=True, device=device, dtype=torch.float64
        )

    def log_mel(self, wave: torch.Tensor) -> torch.Tensor:
        """``(samples,)`` -> ``(frames, mels)`` power mel spectrogram in dB (floor 1e-10).

        Computed in float64 (cheap next to the tower) so quiet bins near the floor match the
        reference extractor instead of float32 rounding noise."""
        spec = torch.stft(
            wave.to(torch.float64),
            n_fft=self.config.fft_window_size,
            hop_length=self.config.hop_length,
            window=self.window,
            center=True,
            pad_mode="reflect",
            return_complex=True,
        )
        power = spec.abs().pow(2.0)
        mel = torch.clamp(self.mel_banks.T @ power, min=1e-10)
        return (10.0 * torch.log10(mel)).T.to(torch.float32)

    def resample(self, wave: torch.Tensor, rate: int) -> torch.Tensor:
        """To the model's rate (windowed-sinc, torchaudio's default) on the encoder's device."""
        if rate == self.config.sampling_rate:
            return wave
        return taf.resample(wave, rate, self.config.sampling_rate)

    def _pad(self, wave: torch.Tensor) -> torch.Tensor:
        target = self.config.max_samples
        if self.config.padding in {"repeat", "repeatpad"} and len(wave) < target:
            repeats = target // len(wave) + (1 if self.config.padding == "repeat" else 0)
            wave = wave.repeat(max(repeats, 1))[:target]
        return torch.nn.functional.pad(wave, (0, target - len(wave)))

    def one(self, wave: torch.Tensor, rate: int) -> tuple[torch.Tensor, bool]:
        """Features of one clip: ``(channels, frames, mels)`` and whether it was longer."""
        wave = self.resample(wave.to(self.device, torch.float32), rate)
        target = self.config.max_samples
        if len(wave) <= target:
            mel = self.log_mel(self._pad(wave))
            if self.config.truncation == "fusion":
                return mel.expand(4, -1, -1).contiguous(), False
            return mel.unsqueeze(0), False
        if self.config.truncation == "rand_trunc":
            start = (len(wave) - target) // 2
            return self.log_mel(wave[start : start + target]).unsqueeze(0), True
        mel = self.log_mel(wave)
        chunk = target // self.config.hop_length + 1
        total = mel.shape[0]
        if total == chunk:
            return mel.expand(4, -1, -1).contiguous(), False
        starts = torch.arange(0, total - chunk + 1).tensor_split(3)
        picks = [int(part[len(part) // 2]) if len(part) else 0 for part in starts]
        crops = [mel[s : s + chunk] for s in picks]
        shrunk = torch.nn.functional.interpolate(
            mel[None, None], size=[chunk, mel.shape[1]], mode="bilinear", align_corners=False
        )[0, 0]
        return torch.stack([shrunk, *crops]), True

    def batch(self, items: list[tuple[torch.Tensor, int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Stack clips into ``input_features`` and ``is_longer`` (``(n, 1)`` bool)."""
        features, longer = zip(*(self.one(w, r) for w, r in items), strict=True)
        is_longer = torch.tensor([[flag] for flag in longer], dtype=torch.bool, device=self.device)
        return torch.stack(list(features)), is_longer
