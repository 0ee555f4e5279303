"""AES-256-GCM primitives: one-shot sealing with associated data, and a chunked stream.

Every failure to authenticate raises ``IntegrityError`` and nothing else, whatever the
cause (flipped bit, truncation, wrong key, wrong associated data, swapped file).
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Iterable, Iterator
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from appliance.errors import IntegrityError

KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
_SEAL_VERSION = b"\x01"

STREAM_MAGIC = b"APLSTRM1"
_STREAM_NONCE_PREFIX_BYTES = 8
_LEN = struct.Struct(">I")
_CHUNK_AAD = struct.Struct(">QB")
MAX_STREAM_HEADER = 64 * 1024


def new_key() -> bytes:
    """A fresh random 256-bit key."""
    return os.urandom(KEY_BYTES)


def seal(key: bytes, plaintext: bytes, associated_data: bytes) -> bytes:
    """Encrypt and authenticate ``plaintext``, binding it to ``associated_data``."""
    nonce = os.urandom(NONCE_BYTES)
    return _SEAL_VERSION + nonce + AESGCM(key).encrypt(nonce, plaintext, associated_data)


def open_sealed(key: bytes, sealed: bytes, associated_data: bytes, *, what: str = "data") -> bytes:
    """Decrypt what ``seal`` produced; any mismatch raises ``IntegrityError`` naming ``what``."""
    if len(sealed) < 1 + NONCE_BYTES + TAG_BYTES or sealed[:1] != _SEAL_VERSION:
        raise IntegrityError(f"{what}: ciphertext is malformed or truncated")
    nonce = sealed[1 : 1 + NONCE_BYTES]
    try:
        return AESGCM(key).decrypt(nonce, sealed[1 + NONCE_BYTES :], associated_data)
    except InvalidTag as exc:
        raise IntegrityError(
            f"{what}: authentication failed (tampered, swapped, or encrypted under another key)"
        ) from exc


def write_stream(
    key: bytes, header: bytes, chunks: Iterable[bytes | memoryview], out: BinaryIO
) -> int:
    """Write ``chunks`` encrypted to ``out`` in a framed, truncation-evident stream.

    Layout: magic, header length, header (in the clear, authenticated), nonce prefix,
    then frames of (length, ciphertext). Each frame's associated data binds the header
    digest, the frame index and whether it is the last frame, so reordering, dropping,
    truncating or moving frames to another stream fails authentication. Only one chunk
    of plaintext is held at a time. Returns bytes written.
    """
    if len(header) > MAX_STREAM_HEADER:
        raise ValueError("stream header too large")
    prefix = os.urandom(_STREAM_NONCE_PREFIX_BYTES)
    digest = hashlib.sha256(STREAM_MAGIC + header + prefix).digest()
    aead = AESGCM(key)
    written = out.write(STREAM_MAGIC + _LEN.pack(len(header)) + header + prefix)
    index = 0
    pending: bytes | memoryview | None = None
    for chunk in chunks:
        if pending is not None:
            written += _write_frame(aead, prefix, digest, index, pending, out, final=False)
            index += 1
        pending = chunk
    written += _write_frame(aead, prefix, digest, index, pending or b"", out, final=True)
    return written


def _write_frame(
    aead: AESGCM,
    prefix: bytes,
    digest: bytes,
    index: int,
    plaintext: bytes | memoryview,
    out: BinaryIO,
    *,
    final: bool,
) -> int:
    nonce = prefix + struct.pack(">I", index)
    if index >= 2**32:
        raise ValueError("stream has too many frames")
    ciphertext = aead.encrypt(nonce, bytes(plaintext), digest + _CHUNK_AAD.pack(index, final))
    return out.write(_LEN.pack(len(ciphertext)) + ciphertext)


def read_stream_header(source: BinaryIO, *, what: str = "stream") -> bytes:
    """Read and return the clear header of a stream (authenticated only by ``read_stream``)."""
    magic = source.read(len(STREAM_MAGIC))
    if magic != STREAM_MAGIC:
        raise IntegrityError(f"{what}: not an encrypted appliance stream (bad magic)")
    length_bytes = source.read(_LEN.size)
    if len(length_bytes) != _LEN.size:
        raise IntegrityError(f"{what}: truncated header")
    (length,) = _LEN.unpack(length_bytes)
    if length > MAX_STREAM_HEADER:
        raise IntegrityError(f"{what}: header length out of range")
    header = source.read(length)
    if len(header) != length:
        raise IntegrityError(f"{what}: truncated header")
    return header


def read_stream(
    key: bytes, source: BinaryIO, *, what: str = "stream"
) -> tuple[bytes, Iterator[bytes]]:
    """Open a stream: returns its header and an iterator of authenticated plaintext chunks.

    The iterator raises ``IntegrityError`` on the first bad frame, on a missing final frame
    (truncation) and on bytes after the final frame. Consume it fully before trusting the data.
    """
    header = read_stream_header(source, what=what)
    prefix = source.read(_STREAM_NONCE_PREFIX_BYTES)
    if len(prefix) != _STREAM_NONCE_PREFIX_BYTES:
        raise IntegrityError(f"{what}: truncated header")
    digest = hashlib.sha256(STREAM_MAGIC + header + prefix).digest()
    return header, _frames(AESGCM(key), prefix, digest, source, what)


def _frames(
    aead: AESGCM, prefix: bytes, digest: bytes, source: BinaryIO, what: str
) -> Iterator[bytes]:
    index = 0
    while True:
        length_bytes = source.read(_LEN.size)
        if len(length_bytes) != _LEN.size:
            raise IntegrityError(f"{what}: truncated (frame {index} missing, no final frame seen)")
        (length,) = _LEN.unpack(length_bytes)
        ciphertext = source.read(length)
        if len(ciphertext) != length:
            raise IntegrityError(f"{what}: truncated inside frame {index}")
        nonce = prefix + struct.pack(">I", index)
        plaintext = None
        for final in (False, True):
            try:
                plaintext = aead.decrypt(nonce, ciphertext, digest + _CHUNK_AAD.pack(index, final))
            except InvalidTag:
                continue
            break
        if plaintext is None:
            raise IntegrityError(f"{what}: frame {index} failed authentication")
        yield plaintext
        if final:
            if source.read(1):
                raise IntegrityError(f"{what}: unexpected bytes after the final frame")
            return
        index += 1
