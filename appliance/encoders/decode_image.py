"""Decode image bytes through Pillow into an 8-bit RGB picture, refusing bad input clearly.

Bounds first (byte size, then pixel count read from the header, before any pixel is
decoded), so a decompression bomb costs nothing. Then EXIF orientation, and every mode
(greyscale, palette, RGBA, CMYK, 16-bit, float) becomes RGB.
"""

from __future__ import annotations

import contextlib
import io
import warnings

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from appliance.errors import InvalidInputError

_TRANSPARENT_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})
_HIGH_DEPTH_PREFIXES = ("I", "F")


def check_pixels(width: int, height: int, max_pixels: int, what: str = "image") -> None:
    """Refuse an image whose pixel count exceeds ``max_pixels`` (decompression-bomb guard)."""
    pixels = width * height
    if width <= 0 or height <= 0:
        raise InvalidInputError(f"{what} has no pixels ({width}x{height})")
    if pixels > max_pixels:
        raise InvalidInputError(
            f"{what} is {width}x{height} = {pixels:,} pixels, "
            f"over the limit of {max_pixels:,} pixels",
            remedy="downscale the image before sending it, or raise encoders.max_image_pixels",
        )


def to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode -> RGB: alpha composited on white, 16-bit/float stretched to 8 bits."""
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in _TRANSPARENT_MODES:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if image.mode.startswith(_HIGH_DEPTH_PREFIXES):
        return Image.fromarray(stretch_to_uint8(np.asarray(image))).convert("RGB")
    if image.mode != "RGB":
        return image.convert("RGB")
    return image


def stretch_to_uint8(
    values: np.ndarray, low: float | None = None, high: float | None = None
) -> np.ndarray:
    """Map ``[low, high]`` (default: the data's range) linearly to 0..255; NaN becomes 0."""
    data = np.nan_to_num(values.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    lo = float(data.min()) if low is None else low
    hi = float(data.max()) if high is None else high
    if hi <= lo:
        return np.zeros(data.shape, dtype=np.uint8)
    scaled = (data - lo) * (255.0 / (hi - lo))
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def decode_image(data: bytes, *, max_pixels: int) -> Image.Image:
    """Decode ``data`` into an RGB image or raise ``InvalidInputError`` naming the problem."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit below
            image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        pillow_limit = 2 * (Image.MAX_IMAGE_PIXELS or 0)
        raise InvalidInputError(
            f"image is over {pillow_limit:,} pixels, over the limit of {max_pixels:,} pixels "
            "(decompression bomb refused)",
            remedy="downscale the image before sending it",
        ) from exc
    except UnidentifiedImageError as exc:
        raise InvalidInputError(
            "bytes are not an image in a format this appliance reads (corrupt or unsupported)",
            remedy="send PNG, JPEG, TIFF, BMP, GIF, WebP or DICOM",
        ) from exc
    except (OSError, ValueError, SyntaxError) as exc:
        raise InvalidInputError(f"image header is corrupt: {exc}") from exc
    check_pixels(image.width, image.height, max_pixels)
    previous = ImageFile.LOAD_TRUNCATED_IMAGES
    try:
        if previous:  # another library switched it on globally; truncation must stay an error
            ImageFile.LOAD_TRUNCATED_IMAGES = False
        image.load()
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise InvalidInputError(
            f"image data is truncated or corrupt ({image.format or 'unknown format'}: {exc})",
            remedy="send the complete file",
        ) from exc
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = previous
    # unreadable EXIF: keep the stored orientation rather than refuse the picture
    with contextlib.suppress(OSError, ValueError, SyntaxError, KeyError, TypeError):
        image = ImageOps.exif_transpose(image) or image
    return to_rgb(image)
