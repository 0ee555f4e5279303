"""Image decoding (Pillow) with its limits and modes, and the CLIP / SigLIP vision towers."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
import torch
from encoder_media import png_bytes, wav_bytes
from PIL import Image

from appliance.encoders.base import encode_now
from appliance.encoders.decode_image import decode_image
from appliance.encoders.factory import load_encoder
from appliance.errors import InvalidInputError
from appliance.settings import EncoderSettings

LIMIT = 40_000_000


def _noise(width: int, height: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8))


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` but holds almost no data (a bomb)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def test_hundred_megapixel_image_is_refused_before_decoding(load) -> None:
    """A 10000x10000 header is refused by pixel count without decoding the pixels."""
    with pytest.raises(InvalidInputError, match=r"100,000,000 pixels, over the limit"):
        load("clip", "image").prepare(_png_header_only(10_000, 10_000))


def test_decompression_bomb_past_pillows_own_limit_is_refused() -> None:
    """A header past Pillow's hard bomb limit gets the same kind of clear refusal."""
    with pytest.raises(InvalidInputError, match="decompression bomb"):
        decode_image(_png_header_only(20_000, 20_000), max_pixels=10**9)


def test_pixel_limit_comes_from_settings(tiny_models) -> None:
    """encoders.max_image_pixels bounds ordinary images too."""
    encoder = load_encoder(
        tiny_models["clip"],
        settings=EncoderSettings(device="cpu", max_image_pixels=1000),
        modality="image",
    )
    with pytest.raises(InvalidInputError, match="40x40 = 1,600 pixels"):
        encoder.prepare(png_bytes(_noise(40, 40)))


def test_byte_limit_comes_from_settings(tiny_models) -> None:
    """encoders.max_image_bytes refuses oversized uploads before decoding."""
    encoder = load_encoder(
        tiny_models["clip"],
        settings=EncoderSettings(device="cpu", max_image_bytes=100),
        modality="image",
    )
    with pytest.raises(InvalidInputError, match="over the limit of 100 bytes"):
        encoder.prepare(png_bytes(_noise(40, 40)))


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_image_is_refused(load, fmt: str) -> None:
    """An image cut short is refused as truncated, for PNG and JPEG alike."""
    buffer = io.BytesIO()
    _noise(64, 64).save(buffer, fmt)
    data = buffer.getvalue()
    with pytest.raises(InvalidInputError, match="truncated"):
        load("clip", "image").prepare(data[: len(data) // 2])


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", r"empty \(0 bytes\)"),
        (b"this is certainly not an image", "not an image"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "corrupt|not an image"),
        ("data:image/png;base64,AAAA", "must be bytes"),
    ],
)
def test_bad_image_bytes_are_refused_naming_the_problem(
    load, raw: bytes | str, message: str
) -> None:
    """Zero bytes, garbage, a broken PNG and text instead of bytes each get a clear error."""
    with pytest.raises(InvalidInputError, match=message):
        load("clip", "image").prepare(raw)


def test_audio_bytes_sent_as_image_are_refused(load) -> None:
    """WAV bytes with modality image are refused as a modality mismatch."""
    wav = wav_bytes(np.zeros(800, dtype=np.float32), 8000)
    with pytest.raises(InvalidInputError, match="modality is 'image' but the bytes are a WAV"):
        load("clip", "image").prepare(wav)


def test_exif_orientation_is_applied() -> None:
    """A JPEG stored landscape with EXIF orientation 6 decodes as portrait."""
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    Image.new("RGB", (40, 20), (200, 0, 0)).save(buffer, "JPEG", exif=exif)
    assert decode_image(buffer.getvalue(), max_pixels=LIMIT).size == (20, 40)


def test_greyscale_becomes_equal_rgb_channels() -> None:
    """An 8-bit greyscale image decodes to RGB with three equal channels."""
    image = decode_image(png_bytes(Image.new("L", (8, 8), 100)), max_pixels=LIMIT)
    assert image.mode == "RGB" and image.getpixel((3, 3)) == (100, 100, 100)


def test_transparent_pixels_become_white() -> None:
    """RGBA and palette transparency are composited on white, not shown as hidden colour."""
    rgba = decode_image(png_bytes(Image.new("RGBA", (8, 8), (255, 0, 0, 0))), max_pixels=LIMIT)
    assert rgba.getpixel((0, 0)) == (255, 255, 255)
    palette = Image.new("P", (8, 8), 0)
    palette.putpalette([0, 0, 0] * 256)
    decoded = decode_image(png_bytes(palette, transparency=0), max_pixels=LIMIT)
    assert decoded.getpixel((0, 0)) == (255, 255, 255)


def test_sixteen_bit_greyscale_is_stretched_to_eight_bits() -> None:
    """A 16-bit PNG holding 12-bit data uses the full 8-bit range after decoding."""
    ramp = np.linspace(0, 4095, 64 * 64).reshape(64, 64).astype(np.uint16)
    source = Image.fromarray(ramp)
    assert source.mode == "I;16"
    image = decode_image(png_bytes(source), max_pixels=LIMIT)
    array = np.asarray(image)
    assert image.mode == "RGB" and array.min() == 0 and array.max() == 255
    assert array[0, 0, 0] < array[32, 32, 0] < array[63, 63, 0]


@pytest.mark.parametrize(
    ("family", "processor"),
    [("clip", "CLIPImageProcessorPil"), ("siglip", "SiglipImageProcessorPil")],
)
def test_image_vectors_match_transformers_reference(
    load, tiny_models, family: str, processor: str
) -> None:
    """Pre-processing and the vision tower reproduce the HF processor + get_image_features."""
    import transformers

    path = tiny_models[family]
    images = [_noise(80, 50, seed=1), _noise(30, 60, seed=2)]
    proc = getattr(transformers, processor).from_pretrained(str(path), local_files_only=True)
    model_cls = {"clip": transformers.CLIPModel, "siglip": transformers.SiglipModel}[family]
    model = model_cls.from_pretrained(str(path), local_files_only=True).eval()
    with torch.inference_mode():
        pixels = proc(images=images, return_tensors="pt")["pixel_values"]
        reference = model.get_image_features(pixel_values=pixels).pooler_output.numpy()
    reference /= np.linalg.norm(reference, axis=1, keepdims=True)
    ours = encode_now(load(family, "image"), [png_bytes(i) for i in images])
    assert ours.shape == (2, 32)
    assert np.allclose(ours, reference, atol=1e-5)
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_image_vectors_are_batch_invariant(load) -> None:
    """An image embeds the same alone and inside a batch."""
    encoder = load("clip", "image")
    data = [png_bytes(_noise(33, 47, seed=s)) for s in range(3)]
    assert np.allclose(encode_now(encoder, data)[1], encode_now(encoder, [data[1]])[0], atol=1e-5)
