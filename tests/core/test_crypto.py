"""AEAD sealing, the chunked stream, the KEK ring, data keys and pseudonyms."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import numpy as np
import pytest

from appliance.clock import FixedClock
from appliance.crypto.aead import new_key, open_sealed, read_stream, seal, write_stream
from appliance.crypto.kek import KekLocation, create_kek, load_kek, locate_kek, write_kek
from appliance.crypto.pseudonym import Pseudonymizer
from appliance.crypto.records import open_metadata, open_vector, seal_metadata, seal_vector
from appliance.errors import IntegrityError, InvalidInputError, KeyUnavailableError


def test_seal_round_trip_and_binding() -> None:
    """Sealed data opens only with the same key and associated data."""
    key = new_key()
    sealed = seal(key, b"secret", b"ctx-a")
    assert open_sealed(key, sealed, b"ctx-a") == b"secret"
    with pytest.raises(IntegrityError):
        open_sealed(key, sealed, b"ctx-b")
    with pytest.raises(IntegrityError):
        open_sealed(new_key(), sealed, b"ctx-a")


@pytest.mark.parametrize("position", [0, 1, 5, 20, -1])
def test_seal_detects_any_flipped_byte(position: int) -> None:
    """Flipping any byte of a sealed blob raises IntegrityError."""
    key = new_key()
    sealed = bytearray(seal(key, b"payload" * 10, b"ad"))
    sealed[position] ^= 0x01
    with pytest.raises(IntegrityError):
        open_sealed(key, bytes(sealed), b"ad")


def _stream(key: bytes, chunks: list[bytes], header: bytes = b"h") -> bytes:
    out = io.BytesIO()
    write_stream(key, header, chunks, out)
    return out.getvalue()


def test_stream_round_trip() -> None:
    """A chunked stream decrypts to the concatenated chunks with its header."""
    key = new_key()
    data = _stream(key, [b"a" * 100, b"b" * 50, b"c"])
    header, frames = read_stream(key, io.BytesIO(data))
    assert header == b"h"
    assert b"".join(frames) == b"a" * 100 + b"b" * 50 + b"c"


def test_stream_detects_truncation_at_frame_boundary() -> None:
    """Dropping whole trailing frames is caught because the final frame is missing."""
    key = new_key()
    full = _stream(key, [b"a" * 100, b"b" * 100])
    frame = 4 + 100 + 16
    _, frames = read_stream(key, io.BytesIO(full[:-frame]))
    with pytest.raises(IntegrityError, match="truncated"):
        list(frames)


def test_stream_detects_trailing_bytes_and_header_edit() -> None:
    """Bytes after the final frame, or an edited header, fail authentication."""
    key = new_key()
    full = _stream(key, [b"a" * 10], header=b'{"collection":"a"}')
    _, frames = read_stream(key, io.BytesIO(full + b"x"))
    with pytest.raises(IntegrityError):
        list(frames)
    edited = full.replace(b'"a"', b'"b"')
    _, frames = read_stream(key, io.BytesIO(edited))
    with pytest.raises(IntegrityError):
        list(frames)


def test_kek_created_0600_and_never_overwritten(tmp_path: Path) -> None:
    """init creates a 0600 KEK file once; a second create returns the same key."""
    location = locate_kek(tmp_path, environ={})
    first = create_kek(location)
    assert stat.S_IMODE(location.path.stat().st_mode) == 0o600
    again = create_kek(location)
    assert again.keys == first.keys


def test_kek_prefers_systemd_credential(tmp_path: Path) -> None:
    """$CREDENTIALS_DIRECTORY/appliance-kek wins over the data-dir file, read-only."""
    creds = tmp_path / "creds"
    creds.mkdir()
    ring = create_kek(KekLocation(tmp_path / "k" / "kek", from_credentials=False))
    (creds / "appliance-kek").write_bytes((tmp_path / "k" / "kek").read_bytes())
    location = locate_kek(tmp_path, environ={"CREDENTIALS_DIRECTORY": str(creds)})
    assert location.from_credentials and not location.writable
    assert load_kek(location).keys == ring.keys
    with pytest.raises(KeyUnavailableError, match="systemd credential"):
        write_kek(ring, location)


def test_kek_refuses_loose_permissions_and_garbage(tmp_path: Path) -> None:
    """A group-readable or malformed KEK file is refused with a remedy."""
    location = locate_kek(tmp_path, environ={})
    create_kek(location)
    os.chmod(location.path, 0o644)
    with pytest.raises(KeyUnavailableError, match="chmod 600"):
        load_kek(location)
    os.chmod(location.path, 0o600)
    location.path.write_text("not json")
    with pytest.raises(KeyUnavailableError, match="not a valid"):
        load_kek(location)


def test_kek_rotation_ring_keeps_referenced_versions(tmp_path: Path) -> None:
    """finish_rotation drops only versions no key references."""
    ring = create_kek(locate_kek(tmp_path, environ={}))
    rotating = ring.begin_rotation()
    assert rotating.pending == 2 and rotating.wrapping_version == 2
    assert rotating.begin_rotation() is rotating
    assert set(rotating.finish_rotation({2}).keys) == {2}
    assert set(rotating.finish_rotation({1, 2}).keys) == {1, 2}


def test_pseudonyms_are_keyed_stable_and_validated() -> None:
    """The same id maps to the same pseudonym under one key and another under another."""
    first, second = Pseudonymizer(new_key()), Pseudonymizer(new_key())
    assert first("MRN-1") == first(" MRN-1 ")
    assert first("MRN-1") != second("MRN-1")
    assert first("MRN-1").startswith("ps_") and "MRN" not in first("MRN-1")
    with pytest.raises(InvalidInputError):
        first("   ")


def test_records_are_bound_to_item_and_collection() -> None:
    """A sealed vector or metadata opens only for its own item and collection."""
    key = new_key()
    vector = np.arange(4, dtype=np.float32)
    args = {"collection": "c", "item_id": "i", "key_version": 1}
    sealed = seal_vector(key, vector, **args)
    assert np.array_equal(open_vector(key, sealed, **args), vector)
    with pytest.raises(IntegrityError):
        open_vector(key, sealed, collection="other", item_id="i", key_version=1)
    with pytest.raises(IntegrityError):
        open_vector(key, sealed, collection="c", item_id="j", key_version=1)
    meta = seal_metadata(key, {"a": 1}, **args)
    assert open_metadata(key, meta, **args) == {"a": 1}
    with pytest.raises(IntegrityError):
        open_vector(key, meta, **args)


def test_fixed_clock_advances() -> None:
    """The injectable clock moves only when told."""
    from datetime import timedelta

    clock = FixedClock()
    start = clock.now()
    clock.advance(timedelta(days=1))
    assert (clock.now() - start).days == 1
