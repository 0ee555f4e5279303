"""DICOM pixel data through pydicom, so a DICOM image embeds like any other picture.

Modality LUT (rescale slope/intercept), then the VOI window (Window Center/Width, or a
VOI LUT), then MONOCHROME1 inversion; colour images are converted to RGB. Multi-frame
objects use their first frame. Pixel count is checked from the header before decoding.
"""

from __future__ import annotations

import io
import warnings
from typing import Any

import numpy as np
from PIL import Image

from appliance.encoders.decode_image import check_pixels, stretch_to_uint8
from appliance.errors import InvalidInputError


def _first(value: Any) -> float:
    """Window values may be multi-valued; the first pair is the default window."""
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        return float(value[0])
    return float(value)


def _window(values: np.ndarray, center: float, width: float, function: str) -> np.ndarray:
    """DICOM PS3.3 C.11.2.1.2 windowing to 0..255 (LINEAR, LINEAR_EXACT, SIGMOID)."""
    data = values.astype(np.float64)
    width = max(width, 1.0)
    if function == "SIGMOID":
        out = 255.0 / (1.0 + np.exp(-4.0 * (data - center) / width))
    elif function == "LINEAR_EXACT":
        out = ((data - center) / width + 0.5) * 255.0
    else:
        out = ((data - (center - 0.5)) / (width - 1.0 if width > 1 else 1.0) + 0.5) * 255.0
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _grey(ds: Any, pixels: np.ndarray) -> np.ndarray:
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    values = apply_modality_lut(pixels, ds)
    if "WindowCenter" in ds and "WindowWidth" in ds:
        function = str(ds.get("VOILUTFunction", "LINEAR")).upper()
        grey = _window(values, _first(ds.WindowCenter), _first(ds.WindowWidth), function)
    elif "VOILUTSequence" in ds:
        grey = stretch_to_uint8(apply_voi_lut(values, ds, index=0))
    else:
        grey = stretch_to_uint8(values)
    if str(ds.get("PhotometricInterpretation", "")).upper() == "MONOCHROME1":
        grey = 255 - grey
    return grey


def _colour(ds: Any, pixels: np.ndarray) -> np.ndarray:
    from pydicom.pixels import apply_color_lut

    photometric = str(ds.get("PhotometricInterpretation", "")).upper()
    if photometric == "PALETTE COLOR":
        pixels = apply_color_lut(pixels, ds)
    if pixels.dtype != np.uint8:
        bits = int(ds.get("BitsStored", 16) if photometric != "PALETTE COLOR" else 16)
        pixels = stretch_to_uint8(pixels, 0.0, float(2**bits - 1))
    return pixels


def decode_dicom(data: bytes, *, max_pixels: int) -> tuple[Image.Image, dict[str, Any]]:
    """Decode a DICOM file's (first frame of) pixel data into an RGB image plus notes."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pydicom warns on odd files; errors still raise
            ds = pydicom.dcmread(io.BytesIO(data), force=False)
    except RecursionError:  # pydicom reads undefined-length sequences recursively
        raise InvalidInputError(
            "DICOM sequences nest too deep to read",
            remedy="real studies nest a few levels; this file looks crafted",
        ) from None
    except (InvalidDicomError, EOFError, OSError, ValueError, KeyError, TypeError) as exc:
        raise InvalidInputError(f"DICOM file is corrupt or truncated: {exc}") from exc
    except Exception as exc:  # any other parser failure is still the file's fault: a 422
        raise InvalidInputError(
            f"DICOM file could not be parsed ({type(exc).__name__})",
            remedy="send the complete, unmodified file",
        ) from exc
    if "PixelData" not in ds:
        raise InvalidInputError(
            f"DICOM object has no pixel data (SOP class {ds.get('SOPClassUID', 'unknown')})",
            remedy="send an image object (CT, MR, CR, DX, US, SC ...), not a report or plan",
        )
    try:
        rows, columns = int(ds.get("Rows", 0)), int(ds.get("Columns", 0))
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        samples = int(ds.get("SamplesPerPixel", 1))
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"DICOM image attributes are malformed: {exc}") from exc
    check_pixels(columns, rows, max_pixels, what="DICOM image")
    from pydicom.pixels import pixel_array

    try:
        pixels = pixel_array(ds, index=0 if frames > 1 else None)
    except Exception as exc:  # every pixel decoder failure is the file's fault: a 422
        syntax = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
        name = getattr(syntax, "name", str(syntax))
        raise InvalidInputError(
            f"DICOM pixel data could not be decoded (transfer syntax {name}): {exc}",
            remedy="send the complete file, uncompressed or as RLE, baseline JPEG or JPEG 2000, "
            "or as PNG",
        ) from exc
    photometric = str(ds.get("PhotometricInterpretation", "")).upper()
    try:
        if samples == 1 and photometric != "PALETTE COLOR":
            image = Image.fromarray(_grey(ds, pixels)).convert("RGB")
        else:
            image = Image.fromarray(_colour(ds, pixels)).convert("RGB")
    except Exception as exc:  # odd LUTs, windows or shapes: the file's fault, a 422
        raise InvalidInputError(
            f"DICOM pixel values could not be converted for display ({type(exc).__name__})",
            remedy="send the image with standard photometric attributes, or as PNG",
        ) from exc
    notes = {"dicom": True, "frames": frames, "photometric": photometric}
    return image, notes
