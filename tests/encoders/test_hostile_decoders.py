"""Hostile images and audio: every decoder failure is a clear InvalidInputError, costs bounded."""

from __future__ import annotations

import io
import tracemalloc

import numpy as np
import pytest
import soundfile

from appliance.encoders.decode_audio import decode_audio, decode_audio_bounded
from appliance.encoders.decode_image import decode_image
from appliance.encoders.dicom import decode_dicom
from appliance.errors import InvalidInputError
from appliance.settings import EncoderSettings
from tests.encoders.hostile_media import flac_header, icns_bomb, nested_dicom, png_declaring

MAX_PIXELS = 40_000_000


def test_icns_bomb_passing_open_is_refused_at_load() -> None:
    """An ICNS whose embedded frame is a 400-Mpixel bomb is a named 422, not a raw Pillow error."""
    with pytest.raises(InvalidInputError) as caught:
        decode_image(icns_bomb(), max_pixels=MAX_PIXELS)
    assert "pixel limit" in caught.value.message
    assert "decompression bomb" in caught.value.message


def test_icns_frame_over_our_own_limit_is_refused() -> None:
    """A frame under Pillow's bomb size but over encoders.max_image_pixels is refused too."""
    with pytest.raises(InvalidInputError) as caught:
        decode_image(icns_bomb(9_000, 9_000), max_pixels=MAX_PIXELS)
    assert "pixel" in caught.value.message


def test_png_with_missing_pixel_data_is_named() -> None:
    """A PNG that declares pixels it does not hold fails as truncated/corrupt, naming PNG."""
    with pytest.raises(InvalidInputError) as caught:
        decode_image(png_declaring(64, 64), max_pixels=MAX_PIXELS)
    assert "PNG" in caught.value.message
    assert "object at 0x" not in caught.value.message


def test_tiny_flac_declaring_8_channels_at_384_khz_is_refused_from_its_header() -> None:
    """A 64-byte FLAC declaring 30 M frames x 8 channels is refused before any allocation."""
    data = flac_header(384_000, 8, 30_000_000)
    tracemalloc.start()
    try:
        with pytest.raises(InvalidInputError) as caught:
            decode_audio_bounded(data, EncoderSettings())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "samples per channel" in caught.value.message
    assert "max_audio_samples" in caught.value.remedy
    assert peak < 4 * 1024 * 1024, f"decoding a header allocated {peak:,} bytes"


def test_too_many_channels_is_refused() -> None:
    """More channels than encoders.max_audio_channels is a 422 naming the limit."""
    with pytest.raises(InvalidInputError) as caught:
        decode_audio_bounded(flac_header(48_000, 8, 48_000), EncoderSettings(max_audio_channels=2))
    assert "8 channels" in caught.value.message


def test_multichannel_audio_decodes_in_blocks() -> None:
    """An 8-channel clip is averaged block by block: memory stays near the mono output."""
    rate, seconds, channels = 48_000, 10, 8
    rng = np.random.default_rng(0)
    wave = (0.1 * rng.standard_normal((rate * seconds, channels))).astype(np.float32)
    buffer = io.BytesIO()
    soundfile.write(buffer, wave, rate, format="WAV", subtype="FLOAT")
    data = buffer.getvalue()
    decode_audio(data[: 44 + 4096 * channels], max_seconds=600)  # one-off library set-up
    tracemalloc.start()
    try:
        decoded = decode_audio(data, max_seconds=600)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    np.testing.assert_allclose(decoded.samples, wave.mean(axis=1), atol=1e-6)
    all_channels = wave.nbytes  # what decoding everything at once would allocate
    assert peak < all_channels / 2, f"peak {peak:,} bytes vs {all_channels:,} for all channels"


def test_audio_errors_do_not_leak_object_reprs() -> None:
    """Unreadable audio names the problem without Python internals such as <_io.BytesIO ...>."""
    with pytest.raises(InvalidInputError) as caught:
        decode_audio(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk", max_seconds=600)
    assert "object at 0x" not in str(caught.value)
    assert "BytesIO" not in str(caught.value)


def test_dicom_nested_2000_deep_is_a_422_for_the_image_encoder() -> None:
    """The DICOM pixel decoder refuses 2,000-deep sequences clearly instead of a RecursionError."""
    with pytest.raises(InvalidInputError) as caught:
        decode_dicom(nested_dicom(2000), max_pixels=MAX_PIXELS)
    assert "nest too deep" in caught.value.message
