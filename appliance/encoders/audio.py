"""The CLAP audio tower. ``prepare`` decodes and bounds the clip on a CPU worker;
``forward`` resamples, computes log-mel features and runs HTSAT on the encoder's device.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from appliance.domain.types import Modality
from appliance.encoders import offline  # noqa: F401  (flags before transformers)
from appliance.encoders.audio_features import ClapFeatureConfig, ClapFeatures
from appliance.encoders.base import Prepared
from appliance.encoders.common import Runtime, TorchEncoder, load_checkpoint
from appliance.encoders.decode_audio import decode_audio_bounded
from appliance.encoders.sniff import require_bytes
from appliance.settings import EncoderSettings


class AudioEncoder(TorchEncoder):
    """The audio tower (with projection) of a CLAP checkpoint."""

    def __init__(
        self,
        model_dir: Path,
        *,
        name: str,
        dimension: int,
        runtime: Runtime,
        settings: EncoderSettings,
        semantic: bool = True,
    ) -> None:
        super().__init__(
            name=name,
            modality=Modality.AUDIO,
            dimension=dimension,
            runtime=runtime,
            semantic=semantic,
        )
        import transformers as tf

        self.settings = settings
        self.features = ClapFeatures(ClapFeatureConfig.from_dir(model_dir), runtime.device)
        self.model = load_checkpoint(tf.ClapModel, model_dir, runtime)
        self.fusion = bool(self.model.config.audio_config.enable_fusion)
        for unused in ("text_model", "text_projection"):
            if hasattr(self.model, unused):
                delattr(self.model, unused)

    def prepare(self, raw: bytes | str) -> Prepared:
        """Decode and bound one clip (mono float32 at its own rate)."""
        data = require_bytes(raw, "audio", max_bytes=self.settings.max_audio_bytes)
        decoded = decode_audio_bounded(data, self.settings)
        wave = torch.from_numpy(np.ascontiguousarray(decoded.samples))
        return Prepared(payload=(wave, decoded.sample_rate), notes=decoded.notes)

    def collate(self, prepared: Sequence[Prepared]) -> list[tuple[torch.Tensor, int]]:
        """Clips stay separate until the device has resampled them to one rate."""
        return [p.payload for p in prepared]

    def forward(self, batch: list[tuple[torch.Tensor, int]]) -> torch.Tensor:
        """Resample + log-mel on the device, then HTSAT + projection."""
        with torch.inference_mode():
            features, is_longer = self.features.batch(batch)
            if not self.fusion:  # an unfused tower reads only the first (global) mel
                features = features[:, :1]
            result = self.model.get_audio_features(
                input_features=features.to(self.dtype), is_longer=is_longer
            )
        return result if isinstance(result, torch.Tensor) else result.pooler_output
