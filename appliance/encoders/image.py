"""Image towers: CLIP and SigLIP vision. Decoding (Pillow or DICOM) and pre-processing run in
``prepare`` on a CPU worker; the tower runs in ``forward`` on the device.

Pre-processing follows the checkpoint's ``preprocessor_config.json`` as the Hugging Face
image processors do: resize (shortest edge, or to a fixed size) with the configured
resampling filter, centre crop, rescale to [0, 1], normalise with the mean and std.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from appliance.domain.types import Modality
from appliance.encoders import offline  # noqa: F401  (flags before transformers)
from appliance.encoders.base import Prepared
from appliance.encoders.common import Runtime, TorchEncoder, load_checkpoint
from appliance.encoders.decode_image import decode_image
from appliance.encoders.dicom import decode_dicom
from appliance.encoders.sniff import require_bytes, sniff
from appliance.settings import EncoderSettings


@dataclass(frozen=True)
class ImageTransform:
    """Resize / crop / normalise settings read from ``preprocessor_config.json``."""

    shortest_edge: int | None
    height: int
    width: int
    crop: tuple[int, int] | None
    resample: int
    rescale_factor: float
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    do_normalize: bool = True

    @classmethod
    def from_dir(cls, model_dir: Path) -> ImageTransform:
        """Parse a CLIP- or SigLIP-style image processor config."""
        raw: dict[str, Any] = json.loads(
            (model_dir / "preprocessor_config.json").read_text("utf-8")
        )
        size = raw.get("size", {"shortest_edge": 224})
        if isinstance(size, int):
            size = (
                {"shortest_edge": size} if "crop_size" in raw else {"height": size, "width": size}
            )
        crop_raw = raw.get("crop_size") if raw.get("do_center_crop", False) else None
        if isinstance(crop_raw, int):
            crop_raw = {"height": crop_raw, "width": crop_raw}
        crop = (int(crop_raw["height"]), int(crop_raw["width"])) if crop_raw else None
        shortest = size.get("shortest_edge")
        return cls(
            shortest_edge=int(shortest) if shortest else None,
            height=int(size.get("height", shortest or 224)),
            width=int(size.get("width", shortest or 224)),
            crop=crop,
            resample=int(raw.get("resample", 3)),
            rescale_factor=float(raw.get("rescale_factor", 1 / 255))
            if raw.get("do_rescale", True)
            else 1.0,
            mean=tuple(raw.get("image_mean", [0.5, 0.5, 0.5])),  # type: ignore[arg-type]
            std=tuple(raw.get("image_std", [0.5, 0.5, 0.5])),  # type: ignore[arg-type]
            do_normalize=bool(raw.get("do_normalize", True)),
        )

    def __call__(self, image: Image.Image) -> torch.Tensor:
        """RGB picture -> ``(3, H, W)`` float32 tensor."""
        if self.shortest_edge:
            short, long = sorted(image.size)
            scaled = int(self.shortest_edge * long / short)
            size = (
                (self.shortest_edge, scaled)
                if image.width <= image.height
                else (scaled, self.shortest_edge)
            )
        else:
            size = (self.width, self.height)
        if image.size != size:
            image = image.resize(size, resample=Image.Resampling(self.resample), reducing_gap=None)
        if self.crop:
            crop_h, crop_w = self.crop
            top = max((image.height - crop_h) // 2, 0)
            left = max((image.width - crop_w) // 2, 0)
            image = image.crop((left, top, left + crop_w, top + crop_h))
        array = np.asarray(image, dtype=np.float32) * self.rescale_factor
        if self.do_normalize:
            array = (array - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)
        return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))


def decode_any_image(data: bytes, settings: EncoderSettings) -> tuple[Image.Image, dict[str, Any]]:
    """Check size and format, then decode through pydicom (DICOM) or Pillow (everything else)."""
    data = require_bytes(data, "image", max_bytes=settings.max_image_bytes)
    found = sniff(data)
    if found is not None and found[1] == "DICOM":
        return decode_dicom(data, max_pixels=settings.max_image_pixels)
    image = decode_image(data, max_pixels=settings.max_image_pixels)
    return image, {"width": image.width, "height": image.height}


class ImageEncoder(TorchEncoder):
    """The vision tower (with projection) of a CLIP or SigLIP checkpoint."""

    def __init__(
        self,
        model_dir: Path,
        *,
        family: str,
        name: str,
        dimension: int,
        runtime: Runtime,
        settings: EncoderSettings,
        semantic: bool = True,
    ) -> None:
        super().__init__(
            name=name,
            modality=Modality.IMAGE,
            dimension=dimension,
            runtime=runtime,
            semantic=semantic,
        )
        import transformers as tf

        self.family = family
        self.settings = settings
        self.transform = ImageTransform.from_dir(model_dir)
        cls = {"clip": tf.CLIPModel, "siglip": tf.SiglipModel}[family]
        self.model = load_checkpoint(cls, model_dir, runtime)
        for unused in ("text_model", "text_projection"):
            if hasattr(self.model, unused):
                delattr(self.model, unused)

    def prepare(self, raw: bytes | str) -> Prepared:
        """Decode, bound and pre-process one image on the CPU."""
        image, notes = decode_any_image(raw, self.settings)  # type: ignore[arg-type]
        return Prepared(payload=self.transform(image), notes=notes)

    def collate(self, prepared: Sequence[Prepared]) -> torch.Tensor:
        """Stack into ``(n, 3, H, W)``."""
        return torch.stack([p.payload for p in prepared])

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        """Vision tower + projection on the device."""
        pixels = batch.to(self.device, self.dtype, non_blocking=True)
        with torch.inference_mode():
            result = self.model.get_image_features(pixel_values=pixels)
        return result if isinstance(result, torch.Tensor) else result.pooler_output
