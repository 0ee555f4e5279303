"""Hostile media built byte by byte in the test process (nothing copied from elsewhere)."""

from __future__ import annotations

import io
import struct
import zlib


def png_chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk with its CRC."""
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def png_declaring(width: int, height: int) -> bytes:
    """A PNG whose header declares ``width`` x ``height`` RGBA pixels but holds almost none."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + png_chunk(b"IEND", b"")
    )


def icns_bomb(width: int = 20_000, height: int = 20_000) -> bytes:
    """An Apple icon whose header size passes ``Image.open`` but whose frame is a bomb.

    ICNS reports the largest icon type's nominal size (1024x1024) at open; the embedded
    PNG's real size is only seen by ``load()``.
    """
    inner = png_declaring(width, height)
    entry = b"ic10" + struct.pack(">I", len(inner) + 8) + inner
    return b"icns" + struct.pack(">I", len(entry) + 8) + entry


def flac_header(rate: int, channels: int, frames: int) -> bytes:
    """A FLAC stream whose STREAMINFO declares ``frames`` samples but holds no audio frames."""
    bits = 16
    packed = (rate << 44) | ((channels - 1) << 41) | ((bits - 1) << 36) | frames
    info = (
        struct.pack(">HH", 4096, 4096)
        + (0).to_bytes(3, "big")
        + (0).to_bytes(3, "big")
        + packed.to_bytes(8, "big")
        + b"\0" * 16
    )
    block_header = bytes([0x80]) + len(info).to_bytes(3, "big")  # last block, STREAMINFO
    return b"fLaC" + block_header + info


def nested_dicom(depth: int, innermost: bytes = b"") -> bytes:
    """A Part 10 file whose ReferencedSeriesSequence nests ``depth`` levels (built by hand:
    undefined-length sequences and items, explicit VR little endian)."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    meta = FileMetaDataset()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    meta.MediaStorageSOPInstanceUID = "1.2.3.4"
    top = Dataset()
    top.file_meta = meta
    top.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    top.Modality = "OT"
    out = io.BytesIO()
    top.save_as(out, enforce_file_format=True)
    undefined = b"\xff\xff\xff\xff"
    sequence = b"\x08\x00\x15\x11SQ\x00\x00" + undefined  # (0008,1115), explicit VR
    item, item_end = b"\xfe\xff\x00\xe0" + undefined, b"\xfe\xff\x0d\xe0" + b"\0" * 4
    sequence_end = b"\xfe\xff\xdd\xe0" + b"\0" * 4
    return (
        out.getvalue() + (sequence + item) * depth + innermost + (item_end + sequence_end) * depth
    )


def patient_name_element(name: bytes) -> bytes:
    """A PatientName element (explicit VR little endian)."""
    padded = name + b" " * (len(name) % 2)
    return b"\x10\x00\x10\x00PN" + len(padded).to_bytes(2, "little") + padded
