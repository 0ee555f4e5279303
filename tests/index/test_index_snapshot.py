"""Encrypted index snapshots: round trips, tamper evidence, identity binding, atomicity."""

from __future__ import annotations

import json
import os
import shutil
import stat
import struct
from pathlib import Path

import numpy as np
import pytest

from appliance.crypto.aead import STREAM_MAGIC, new_key, read_stream, read_stream_header
from appliance.errors import IntegrityError, NotFoundError
from appliance.index import IndexSpec, VectorIndex, load_snapshot, save_snapshot

NOW = 1_800_000_000.0
CHUNK = 4096  # several frames even for small test indexes


def _load(path: Path, key: bytes, collection: str = "notes", space: str = "clip") -> VectorIndex:
    return load_snapshot(path, key, collection=collection, space=space)


def _plaintext(path: Path, key: bytes) -> bytes:
    with path.open("rb") as source:
        _, frames = read_stream(key, source)
        return b"".join(frames)


@pytest.fixture
def snapshot(build_index, key: bytes, tmp_path: Path) -> tuple[Path, VectorIndex, np.ndarray]:
    """A saved snapshot of a 300-vector f32 index with a few deadlines."""
    index, vectors = build_index(300)
    index.set_deadlines([5, 6], [NOW, NOW + 100])
    path = tmp_path / "notes.clip.snapshot"
    save_snapshot(index, path, key, chunk_bytes=CHUNK)
    return path, index, vectors


@pytest.mark.parametrize("dtype", ["f32", "f16", "i8"])
def test_round_trip_preserves_results(build_index, key, tmp_path, dtype: str) -> None:
    """A loaded snapshot gives the same keys and scores, count, spec and deadlines."""
    index, vectors = build_index(400, dtype)
    index.set_deadlines([3, 4], [NOW, NOW + 50])
    path = tmp_path / "s.snapshot"
    info = save_snapshot(index, path, key, chunk_bytes=CHUNK)
    loaded = _load(path, key)
    assert info.count == len(loaded) == 400 and info.bytes == path.stat().st_size
    assert loaded.spec == index.spec and (loaded.collection, loaded.space) == ("notes", "clip")
    for now in (NOW - 1, NOW + 10):
        want_keys, want_scores = index.search(vectors[:40], 10, now=now)
        got_keys, got_scores = loaded.search(vectors[:40], 10, now=now)
        assert np.array_equal(got_keys, want_keys) and np.array_equal(got_scores, want_scores)
    assert [a.tolist() for a in loaded.deadlines()] == [[3, 4], [NOW, NOW + 50]]


def test_header_is_readable_and_describes_the_index(snapshot) -> None:
    """The clear header names format, version, collection, space, spec and count."""
    path, index, _ = snapshot
    with path.open("rb") as source:
        header = json.loads(read_stream_header(source))
    assert header["format"] == "appliance.index-snapshot" and header["version"] == 1
    assert (header["collection"], header["space"], header["count"]) == ("notes", "clip", 300)
    assert header["spec"] == index.spec.to_dict()


def test_file_holds_no_plaintext_vector_bytes(snapshot, key) -> None:
    """Neither the float32 nor the float16 bytes of any vector appear in the file."""
    path, _, vectors = snapshot
    data = path.read_bytes()
    plain = _plaintext(path, key)
    assert vectors[0].tobytes() in plain  # the check below would see them
    for row in vectors:
        assert row.tobytes() not in data
        assert row.astype(np.float16).tobytes() not in data
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_removed_vectors_never_reach_the_snapshot(build_index, key, tmp_path) -> None:
    """save_snapshot compacts first: removed vectors are absent from the decrypted body."""
    index, vectors = build_index(200)
    gone = np.arange(0, 200, 5)
    index.remove(gone)
    path = tmp_path / "s.snapshot"
    save_snapshot(index, path, key, chunk_bytes=CHUNK)
    plain = _plaintext(path, key)
    assert not any(vectors[k].tobytes() in plain for k in gone)
    assert vectors[1].tobytes() in plain
    assert index.tombstones == 0 and len(_load(path, key)) == 160


def test_save_with_now_drops_expired_items(build_index, key, tmp_path) -> None:
    """With now=, items past their deadline are removed before writing, bytes included."""
    index, vectors = build_index(50)
    index.set_deadlines([1, 2], [NOW - 1, NOW + 1])
    path = tmp_path / "s.snapshot"
    info = save_snapshot(index, path, key, now=NOW)
    assert info.count == 49 and vectors[1].tobytes() not in _plaintext(path, key)
    assert _load(path, key).deadlines()[0].tolist() == [2]


def test_empty_index_round_trips(key, tmp_path) -> None:
    """An index with no vectors saves and loads."""
    empty = VectorIndex(IndexSpec(8), collection="notes", space="clip")
    save_snapshot(empty, tmp_path / "e.snapshot", key)
    assert len(_load(tmp_path / "e.snapshot", key)) == 0


def _offsets(path: Path) -> dict[str, int]:
    data = path.read_bytes()
    header_len = struct.unpack(">I", data[8:12])[0]
    first_frame = 12 + header_len + 8
    first_len = struct.unpack(">I", data[first_frame : first_frame + 4])[0]
    return {
        "magic": 0,
        "header-length": 9,
        "header": 12 + header_len // 2,
        "nonce-prefix": 12 + header_len + 3,
        "frame-length": first_frame + 1,
        "first-body": first_frame + 4 + 10,
        "first-tag": first_frame + 4 + first_len - 1,
        "middle": len(data) // 2,
        "last-tag": len(data) - 1,
    }


@pytest.mark.parametrize(
    "where",
    [
        "magic",
        "header-length",
        "header",
        "nonce-prefix",
        "frame-length",
        "first-body",
        "first-tag",
        "middle",
        "last-tag",
    ],
)
def test_flipped_byte_anywhere_is_refused(snapshot, key, where: str) -> None:
    """One flipped bit in header, nonce, lengths, body or tag raises IntegrityError."""
    path, _, _ = snapshot
    data = bytearray(path.read_bytes())
    data[_offsets(path)[where]] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError):
        _load(path, key)


@pytest.mark.parametrize("fraction", [0.0, 0.001, 0.02, 0.25, 0.5, 0.9, 0.999])
def test_truncation_is_refused(snapshot, key, fraction: float) -> None:
    """A snapshot cut short anywhere raises IntegrityError."""
    path, _, _ = snapshot
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(IntegrityError):
        _load(path, key)


def test_dropping_the_last_frame_is_refused(snapshot, key) -> None:
    """Cutting exactly at a frame boundary (no final frame) raises IntegrityError."""
    path, _, _ = snapshot
    data = path.read_bytes()
    position = 12 + struct.unpack(">I", data[8:12])[0] + 8
    boundaries = []
    while position < len(data):
        boundaries.append(position)
        position += 4 + struct.unpack(">I", data[position : position + 4])[0]
    assert len(boundaries) > 2
    path.write_bytes(data[: boundaries[-1]])
    with pytest.raises(IntegrityError):
        _load(path, key)


@pytest.mark.parametrize("extra", [b"\x00", b"garbage" * 100, STREAM_MAGIC])
def test_appended_bytes_are_refused(snapshot, key, extra: bytes) -> None:
    """Bytes after the final frame raise IntegrityError."""
    path, _, _ = snapshot
    path.write_bytes(path.read_bytes() + extra)
    with pytest.raises(IntegrityError):
        _load(path, key)


def test_wrong_key_is_refused(snapshot) -> None:
    """Another key raises IntegrityError."""
    path, _, _ = snapshot
    with pytest.raises(IntegrityError):
        _load(path, new_key())


@pytest.mark.parametrize("b_key_same", [True, False], ids=["same-key", "b-key"])
def test_snapshot_swapped_between_collections_is_refused(
    build_index, key, tmp_path, b_key_same: bool
) -> None:
    """A's snapshot copied to B's path fails with A's key and with B's key."""
    a_index, _ = build_index(50, collection="a")
    b_index, _ = build_index(50, collection="b", seed=1)
    b_key = key if b_key_same else new_key()
    a_path, b_path = tmp_path / "a.snapshot", tmp_path / "b.snapshot"
    save_snapshot(a_index, a_path, key)
    save_snapshot(b_index, b_path, b_key)
    shutil.copyfile(a_path, b_path)
    with pytest.raises(IntegrityError, match="belongs to collection 'a'"):
        _load(b_path, b_key, collection="b")
    with pytest.raises(IntegrityError):
        _load(a_path, key, collection="a", space="other-space")


def test_edited_header_identity_is_refused(snapshot, key) -> None:
    """Rewriting the clear header to claim another collection breaks authentication."""
    path, _, _ = snapshot
    data = path.read_bytes()
    forged = data.replace(b'"collection":"notes"', b'"collection":"other"', 1)
    assert forged != data
    path.write_bytes(forged)
    with pytest.raises(IntegrityError):
        _load(path, key, collection="other")


def test_older_snapshot_put_back_is_refused_with_expected_id(build_index, key, tmp_path) -> None:
    """With expected_id, a previous (validly encrypted) snapshot is refused."""
    index, _ = build_index(40)
    path = tmp_path / "s.snapshot"
    save_snapshot(index, path, key)
    old = path.read_bytes()
    index.remove([0])
    info = save_snapshot(index, path, key)
    expected = {"collection": "notes", "space": "clip", "expected_id": info.snapshot_id}
    assert len(load_snapshot(path, key, **expected)) == 39
    path.write_bytes(old)
    with pytest.raises(IntegrityError, match="not the snapshot recorded last"):
        load_snapshot(path, key, **expected)


def test_refusal_names_the_file_and_the_remedy(snapshot, key) -> None:
    """The error names the snapshot file and says the index is rebuilt from the store."""
    path, _, _ = snapshot
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(IntegrityError) as caught:
        _load(path, key)
    assert str(path) in caught.value.message
    assert "rebuilt from the store" in str(caught.value)
    assert caught.value.code == "integrity_failure"


def test_missing_snapshot_is_not_found(key, tmp_path) -> None:
    """A snapshot that does not exist is NotFoundError, not an integrity failure."""
    with pytest.raises(NotFoundError):
        _load(tmp_path / "absent.snapshot", key)


def test_crash_before_rename_keeps_the_previous_snapshot(
    snapshot, key, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the process dies between writing the temp file and renaming, the old file stays."""
    path, index, _ = snapshot
    before = path.read_bytes()
    index.remove(np.arange(100))

    def crash(*_args: object, **_kwargs: object) -> None:
        raise OSError("simulated crash before rename")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="simulated crash"):
        save_snapshot(index, path, key, chunk_bytes=CHUNK)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]
    assert len(_load(path, key)) == 300


def test_failure_while_writing_leaves_no_temp_file(snapshot, tmp_path) -> None:
    """A failure inside the encryption (bad key) leaves the old file and no temp file."""
    path, index, _ = snapshot
    before = path.read_bytes()
    with pytest.raises(ValueError):
        save_snapshot(index, path, b"short key")
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]
