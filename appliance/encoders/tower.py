"""Trained towers as encoders: a from-scratch tower (``align train --features logmel|pixels``)
serves a modality on its own, with no pretrained model under it.

``prepare`` decodes and bounds the input exactly as the other encoders do and computes the
frozen features the tower was trained on (``logmel`` for audio, ``pixels`` for images, see
``appliance/align/features.py``) on a CPU worker; ``forward`` runs the tower (linear or MLP)
on the device chosen at run time (``encoders.device``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from appliance.domain.types import Modality
from appliance.encoders.base import Prepared
from appliance.encoders.common import Runtime, TorchEncoder
from appliance.errors import IntegrityError
from appliance.settings import EncoderSettings

FEATURES_PREFIX = "features:"
TOWER_FEATURES = {"logmel": Modality.AUDIO, "pixels": Modality.IMAGE}


def is_tower(details: dict[str, Any]) -> bool:
    """True for an adapter entry that is a from-scratch tower over frozen features."""
    return str(details.get("from_model", "")).startswith(FEATURES_PREFIX)


def tower_features(details: dict[str, Any]) -> str:
    """The feature extractor a tower was trained on, checked against its modality."""
    features = str(details.get("from_model", "")).removeprefix(FEATURES_PREFIX)
    modality = TOWER_FEATURES.get(features)
    if modality is None or modality.value != details.get("modality"):
        raise IntegrityError(
            f"tower over {details.get('from_model')!r} for {details.get('modality')!r} "
            "cannot serve",
            remedy="serve towers trained on logmel (audio) or pixels (image) features",
        )
    return features


class TowerEncoder(TorchEncoder):
    """Frozen features computed in ``prepare``; the trained tower in ``forward``."""

    def __init__(
        self,
        tower_dir: Path,
        *,
        name: str,
        details: dict[str, Any],
        runtime: Runtime,
        settings: EncoderSettings,
        semantic: bool = True,
    ) -> None:
        from appliance.align.towers import read_adapter_dir

        self.features = tower_features(details)
        super().__init__(
            name=name,
            modality=TOWER_FEATURES[self.features],
            dimension=int(details["out_dim"]),
            runtime=runtime,
            semantic=semantic,
        )
        self.settings = settings
        # The tower is tiny: float32 everywhere (half precision buys nothing here).
        self.tower = read_adapter_dir(Path(tower_dir)).to(runtime.device)

    def prepare(self, raw: bytes | str) -> Prepared:
        """Decode and bound one input, then compute its frozen features on the CPU."""
        if self.features == "logmel":
            from appliance.align.features import logmel_from_wave
            from appliance.encoders.decode_audio import decode_audio_bounded
            from appliance.encoders.sniff import require_bytes

            data = require_bytes(raw, "audio", max_bytes=self.settings.max_audio_bytes)
            decoded = decode_audio_bounded(data, self.settings)
            row = logmel_from_wave(decoded.samples, decoded.sample_rate)
            return Prepared(payload=torch.from_numpy(row), notes=decoded.notes)
        from appliance.align.features import pixels_from_image
        from appliance.encoders.image import decode_any_image

        image, notes = decode_any_image(raw, self.settings)  # type: ignore[arg-type]
        return Prepared(payload=torch.from_numpy(pixels_from_image(image)), notes=notes)

    def collate(self, prepared: Sequence[Prepared]) -> torch.Tensor:
        """Stack the feature rows into ``(n, in_dim)``."""
        return torch.stack([p.payload for p in prepared])

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        """The tower on the device."""
        with torch.inference_mode():
            return self.tower(batch.to(self.device, torch.float32, non_blocking=True))
