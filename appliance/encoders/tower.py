"""Trained towers as encoders: a tower over frozen features (``align train --features
logmel|speech-embedding|pixels``) serves a modality on its own, with no model slotted under it.

``prepare`` decodes and bounds the input exactly as the other encoders do and computes the
frozen features the tower was trained on (``logmel`` or ``speech-embedding`` for audio,
``pixels`` for images, see ``appliance/align/features.py`` and
``appliance/encoders/speech_backbone.py``) on a CPU worker; ``forward`` runs the tower
(linear or MLP) on the device chosen at run time (``encoders.device``). A tower over
``speech-embedding`` loads the verified backbone when it is built, and refuses to serve if
its provenance names backbone files other than the ones installed.
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
TOWER_FEATURES = {
    "logmel": Modality.AUDIO,
    "speech-embedding": Modality.AUDIO,
    "pixels": Modality.IMAGE,
}


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
            remedy="serve towers trained on logmel or speech-embedding (audio) or pixels "
            "(image) features",
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
        self.backbone = None
        if self.features == "speech-embedding":
            self.backbone = _checked_backbone(Path(tower_dir), settings.torch_threads)

    def prepare(self, raw: bytes | str) -> Prepared:
        """Decode and bound one input, then compute its frozen features on the CPU."""
        if self.modality is Modality.AUDIO:
            from appliance.align.features import logmel_from_wave
            from appliance.encoders.decode_audio import decode_audio_bounded
            from appliance.encoders.sniff import require_bytes

            data = require_bytes(raw, "audio", max_bytes=self.settings.max_audio_bytes)
            decoded = decode_audio_bounded(data, self.settings)
            extract = self.backbone if self.backbone is not None else logmel_from_wave
            row = extract(decoded.samples, decoded.sample_rate)
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


def _checked_backbone(tower_dir: Path, threads: int) -> Any:
    """The verified speech backbone, and the same files the tower was trained on."""
    import json

    from appliance.align.towers import PROVENANCE_FILE
    from appliance.encoders.speech_backbone import speech_embedding

    backbone = speech_embedding(threads)
    trained_on = {}
    provenance = tower_dir / PROVENANCE_FILE
    if provenance.is_file():
        trained_on = json.loads(provenance.read_text("utf-8")).get("backbone", {}).get("sha256")
    if trained_on and trained_on != backbone.sha256:
        raise IntegrityError(
            f"tower {tower_dir.name!r} was trained on other speech backbone files "
            f"({trained_on}) than the installed ones ({backbone.sha256})",
            remedy="install the backbone version named in its provenance, or retrain the tower",
        )
    return backbone
