"""Recognise a file's format from its first bytes, so a modality mismatch gets a clear error."""

from __future__ import annotations

from appliance.errors import InvalidInputError

_IMAGE_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"P5", "PGM"),
    (b"P6", "PPM"),
    (b"\x00\x00\x00\x0cjP  ", "JPEG 2000"),
)
_AUDIO_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"fLaC", "FLAC"),
    (b"OggS", "OGG"),
    (b"ID3", "MP3"),
    (b"\xff\xfb", "MP3"),
    (b"\xff\xf3", "MP3"),
    (b"FORM", "AIFF"),
)
_OTHER_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF", "PDF document"),
    (b"PK\x03\x04", "ZIP archive"),
    (b"\x1f\x8b", "gzip archive"),
)


def sniff(data: bytes) -> tuple[str, str] | None:
    """``(kind, format)`` with kind ``image``, ``audio`` or ``other``; ``None`` if unknown."""
    if len(data) >= 132 and data[128:132] == b"DICM":
        return "image", "DICOM"
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "audio", "WAV"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image", "WEBP"
    for table, kind in ((_IMAGE_MAGIC, "image"), (_AUDIO_MAGIC, "audio"), (_OTHER_MAGIC, "other")):
        for magic, name in table:
            if data.startswith(magic):
                return kind, name
    return None


def require_bytes(raw: bytes | str, modality: str, *, max_bytes: int) -> bytes:
    """Check that ``raw`` is non-empty bytes within the size limit and not another modality."""
    if isinstance(raw, str):
        raise InvalidInputError(
            f"{modality} input must be bytes (decode the data: URI first), got text",
            remedy=f"send the {modality} file's bytes as a base64 data: URI",
        )
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise InvalidInputError(f"{modality} input must be bytes, got {type(raw).__name__}")
    data = bytes(raw)
    if not data:
        raise InvalidInputError(f"{modality} input is empty (0 bytes)")
    if len(data) > max_bytes:
        raise InvalidInputError(
            f"{modality} input is {len(data)} bytes, over the limit of {max_bytes} bytes",
        )
    found = sniff(data)
    if found is not None and found[0] != modality:
        raise InvalidInputError(
            f"modality is {modality!r} but the bytes are a {found[1]} "
            f"({'an ' + found[0] if found[0] != 'other' else 'not ' + modality} file)",
            remedy=f"send it with modality {found[0]!r}" if found[0] != "other" else "",
        )
    return data
