"""DICOM pixel data through pydicom: rescale, windowing, MONOCHROME1, colour, and errors."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pydicom
import pytest
from encoder_media import png_bytes

from appliance.encoders.base import encode_now
from appliance.encoders.dicom import decode_dicom
from appliance.encoders.factory import load_encoder
from appliance.errors import InvalidInputError
from appliance.settings import EncoderSettings

LIMIT = 40_000_000


def _path(name: str) -> Path:
    from pydicom.data import get_testdata_file

    found = get_testdata_file(name, download=False)  # never reach the network
    if found is None:
        pytest.fail(f"pydicom test file {name} is not shipped with the installed pydicom")
    return Path(str(found))


def _bytes(ds: pydicom.Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _grey(name_or_bytes: str | bytes) -> np.ndarray:
    data = _path(name_or_bytes).read_bytes() if isinstance(name_or_bytes, str) else name_or_bytes
    image, notes = decode_dicom(data, max_pixels=LIMIT)
    array = np.asarray(image)
    assert notes["dicom"] is True and image.mode == "RGB"
    assert np.array_equal(array[..., 0], array[..., 2])
    return array[..., 0].astype(np.int64)


def test_rescale_slope_and_intercept_are_applied() -> None:
    """CT pixel values go through the modality LUT (HU) before being mapped to grey levels."""
    ds = pydicom.dcmread(_path("CT_small.dcm"))
    hu = ds.pixel_array.astype(np.float64) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    expected = np.rint((hu - hu.min()) * 255.0 / (hu.max() - hu.min()))
    assert np.abs(_grey("CT_small.dcm") - expected).max() <= 1
    shifted = pydicom.dcmread(_path("CT_small.dcm"))
    shifted.RescaleIntercept = 0
    shifted.WindowCenter, shifted.WindowWidth = 40, 400  # a soft-tissue window in HU
    windowed = _grey(_bytes(shifted))
    ds.WindowCenter, ds.WindowWidth = 40, 400
    assert not np.array_equal(
        windowed, _grey(_bytes(ds))
    )  # the intercept changed what the window saw


def test_window_center_and_width_are_applied() -> None:
    """The MR's Window Center/Width map values linearly, clipping outside the window."""
    ds = pydicom.dcmread(_path("MR_small.dcm"))
    center, width = float(ds.WindowCenter), float(ds.WindowWidth)
    values = ds.pixel_array.astype(np.float64)
    expected = np.clip(np.rint(((values - (center - 0.5)) / (width - 1) + 0.5) * 255), 0, 255)
    assert np.abs(_grey("MR_small.dcm") - expected).max() <= 1


def test_monochrome1_is_inverted() -> None:
    """MONOCHROME1 (white = low values) decodes as the inverse of the same data as MONOCHROME2."""
    ds = pydicom.dcmread(_path("MR_small.dcm"))
    normal = _grey(_bytes(ds))
    ds.PhotometricInterpretation = "MONOCHROME1"
    assert np.array_equal(_grey(_bytes(ds)), 255 - normal)


def test_colour_dicom_decodes_to_its_rgb_pixels() -> None:
    """An RGB secondary-capture object decodes to exactly its pixel data."""
    ds = pydicom.dcmread(_path("SC_rgb_rle.dcm"))
    image, notes = decode_dicom(_path("SC_rgb_rle.dcm").read_bytes(), max_pixels=LIMIT)
    assert notes["photometric"] == "RGB"
    assert np.array_equal(np.asarray(image), ds.pixel_array)


def test_dicom_without_pixel_data_is_refused() -> None:
    """A DICOM object with no image (an RT plan) is refused, naming the reason."""
    with pytest.raises(InvalidInputError, match="no pixel data"):
        decode_dicom(_path("rtplan.dcm").read_bytes(), max_pixels=LIMIT)


def test_truncated_dicom_pixel_data_is_refused() -> None:
    """A DICOM whose pixel data is shorter than its header says is refused."""
    with pytest.raises(InvalidInputError, match="could not be decoded"):
        decode_dicom(_path("MR_truncated.dcm").read_bytes(), max_pixels=LIMIT)


def test_corrupt_dicom_after_preamble_is_refused(load) -> None:
    """Bytes with a DICOM preamble but garbage after it are refused as corrupt DICOM."""
    data = b"\0" * 128 + b"DICM" + b"\xff" * 64
    with pytest.raises(InvalidInputError, match="DICOM"):
        load("clip", "image").prepare(data)


def test_dicom_pixel_limit_is_checked_from_the_header(tiny_models) -> None:
    """Rows x Columns over encoders.max_image_pixels is refused before the pixels are decoded."""
    encoder = load_encoder(
        tiny_models["clip"],
        settings=EncoderSettings(device="cpu", max_image_pixels=4000),
        modality="image",
    )
    with pytest.raises(InvalidInputError, match="DICOM image is 64x64 = 4,096 pixels"):
        encoder.prepare(_path("MR_small.dcm").read_bytes())


def test_dicom_embeds_like_the_same_picture_as_png(load) -> None:
    """A DICOM file's vector equals that of a PNG holding its decoded picture."""
    data = _path("CT_small.dcm").read_bytes()
    image, _ = decode_dicom(data, max_pixels=LIMIT)
    encoder = load("clip", "image")
    prepared = encoder.prepare(data)
    assert prepared.notes["dicom"] is True
    vectors = encode_now(encoder, [data, png_bytes(image)])
    assert np.allclose(vectors[0], vectors[1], atol=1e-6)
    assert np.isclose(np.linalg.norm(vectors[0]), 1.0, atol=1e-5)
