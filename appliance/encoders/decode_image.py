"""Decode image bytes through Pillow into an 8-bit RGB picture, refusing bad input clearly.

Bounds first (byte size, then pixel count read from the header, before any pixel is
decoded), so a decompression bomb costs nothing. Then EXIF orientation, and every mode
(greyscale, palette, RGBA, CMYK, 16-bit, float) becomes RGB.
"""

from __future__ import annotations

import contextlib
import io
import re
import warnings

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from appliance.errors import InvalidInputError

PILLOW_CEILING = int(Image.MAX_IMAGE_PIXELS or 89_478_485)
"""Pillow's own default bomb limit: ``encoders.max_image_pixels`` above it is capped to it."""
_TRANSPARENT_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})
_HIGH_DEPTH_PREFIXES = ("I", "F")


def _reason(exc: BaseException) -> str:
    """The decoder's own words, short, without object reprs or paths."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return re.sub(r"<[\w.]+ object at 0x[0-9a-fA-F]+>", "the input", text)[:160]


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
    # Pillow's own bomb check then uses our limit, for every frame it opens (a container's
    # embedded frames included); the setting is process-wide and every caller sets it alike.
    max_pixels = min(max_pixels, PILLOW_CEILING)
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit below
            image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        declared = re.search(r"\((\d+) pixels\)", str(exc))
        size = f"{int(declared.group(1)):,}" if declared else f"over {2 * max_pixels:,}"
        raise InvalidInputError(
            f"image is {size} pixels, over the limit of {max_pixels:,} pixels "
            "(decompression bomb refused)",
            remedy="downscale the image before sending it",
        ) from exc
    except UnidentifiedImageError as exc:
        raise InvalidInputError(
            "bytes are not an image in a format this appliance reads (corrupt or unsupported)",
            remedy="send PNG, JPEG, TIFF, BMP, GIF, WebP or DICOM",
        ) from exc
    except Exception as exc:  # any decoder failure at open is the input's fault
        raise InvalidInputError(
            f"image header is corrupt ({type(exc).__name__}: {_reason(exc)})"
        ) from exc
    check_pixels(image.width, image.height, max_pixels)
    previous = ImageFile.LOAD_TRUNCATED_IMAGES
    try:
        if previous:  # another library switched it on globally; truncation must stay an error
            ImageFile.LOAD_TRUNCATED_IMAGES = False
        with warnings.catch_warnings():
            # a container (ICNS, ICO, MPO, TIFF) may hold a bigger frame than its header says
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image.load()
        check_pixels(image.width, image.height, max_pixels)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InvalidInputError(
            f"{image.format or 'image'} holds a frame over the pixel limit of "
            f"{max_pixels:,} pixels (decompression bomb refused)",
            remedy="downscale the image before sending it",
        ) from exc
    except InvalidInputError:
        raise
    except Exception as exc:  # every decoder error at load is a 422 too, never a 500
        raise InvalidInputError(
            f"image data is truncated or corrupt ({image.format or 'unknown format'}: "
            f"{_reason(exc)})",
            remedy="send the complete file",
        ) from exc
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = previous
    # unreadable EXIF: keep the stored orientation rather than refuse the picture
    with contextlib.suppress(OSError, ValueError, SyntaxError, KeyError, TypeError):
        image = ImageOps.exif_transpose(image) or image
    return to_rgb(image)
