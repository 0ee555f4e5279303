"""Encrypted, atomic, integrity-checked snapshots of a ``VectorIndex``.

File layout: the chunked AES-256-GCM stream of ``appliance.crypto.aead.write_stream``. Its
clear but authenticated header is JSON (format, version, collection, space, spec, count,
the keys the graph cannot find from their own vector,
sizes, snapshot id); the body is the usearch serialization followed by the deadlines
(int64 keys then float64 POSIX seconds, little endian). Plaintext only ever exists in
memory: one serialization buffer when saving, one preallocated buffer when loading.

Writes go to a temporary file in the same directory, are fsynced, renamed over the old
snapshot and the directory is fsynced, so a crash leaves the old or the new file, whole.
Every failure to verify a snapshot raises ``IntegrityError``; the caller rebuilds the index
from the store.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt

from appliance.crypto.aead import read_stream, write_stream
from appliance.errors import ApplianceError, IntegrityError, NotFoundError
from appliance.index.hnsw import IndexSpec, VectorIndex

SNAPSHOT_FORMAT = "appliance.index-snapshot"
SNAPSHOT_VERSION = 1
DEFAULT_CHUNK_BYTES = 1024 * 1024  # 4 MiB frames measured ~2x slower to save (allocator)
_REBUILD = "the index will be rebuilt from the store"
_DEADLINE_BYTES = 16  # int64 key + float64 deadline


@dataclass(frozen=True)
class SnapshotInfo:
    """What was written: keep ``snapshot_id`` to refuse an older snapshot put back later."""

    path: Path
    bytes: int
    count: int
    snapshot_id: str
    created_at: float


def save_snapshot(
    index: VectorIndex,
    path: Path,
    key: bytes,
    *,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    now: float | None = None,
) -> SnapshotInfo:
    """Encrypt ``index`` to ``path`` atomically under ``key`` (32 bytes).

    Removed vectors are compacted away first so that their bytes never reach the file;
    with ``now``, items past their deadline are removed (and compacted away) too.
    """
    if chunk_bytes < 1:
        raise ValueError("chunk_bytes must be positive")
    path = Path(path)
    payload, count, deadline_keys, deadline_values, unreachable = index.export_state(now=now)
    created_at = time.time()
    header = {
        "format": SNAPSHOT_FORMAT,
        "version": SNAPSHOT_VERSION,
        "collection": index.collection,
        "space": index.space,
        "spec": index.spec.to_dict(),
        "count": count,
        "index_bytes": len(payload),
        "deadline_count": int(deadline_keys.size),
        "unreachable": [int(key) for key in unreachable.tolist()],
        "snapshot_id": uuid.uuid4().hex,
        "created_at": created_at,
    }
    header_bytes = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    parts = [
        memoryview(payload),
        memoryview(deadline_keys.astype("<i8").tobytes()),
        memoryview(deadline_values.astype("<f8").tobytes()),
    ]
    try:
        written = _write_atomically(
            path, lambda out: write_stream(key, header_bytes, _chunks(parts, chunk_bytes), out)
        )
    finally:
        _wipe(payload)
    return SnapshotInfo(
        path=path,
        bytes=written,
        count=count,
        snapshot_id=header["snapshot_id"],
        created_at=created_at,
    )


def load_snapshot(
    path: Path,
    key: bytes,
    *,
    collection: str,
    space: str,
    expected_id: str | None = None,
) -> VectorIndex:
    """Decrypt and verify the snapshot at ``path``, which must belong to ``collection``/``space``.

    With ``expected_id`` (a ``SnapshotInfo.snapshot_id`` recorded at save), an older or
    other snapshot is refused too. A missing file is ``NotFoundError``; anything else that
    fails is ``IntegrityError``.
    """
    path = Path(path)
    try:
        source = path.open("rb")
    except FileNotFoundError as exc:
        raise NotFoundError(f"index snapshot {path} does not exist", remedy=_REBUILD) from exc
    try:
        with source:
            size = os.fstat(source.fileno()).st_size
            header_bytes, frames = read_stream(key, source, what="encrypted stream")
            header = _parse_header(header_bytes, size, collection, space, expected_id)
            # np.empty, not bytearray(n): it does not pre-touch (zero) every page of a big buffer
            buffer = np.empty(
                header["index_bytes"] + _DEADLINE_BYTES * header["deadline_count"], np.uint8
            )
            _fill(buffer, frames)
        try:
            return _build(header, buffer, collection, space)
        finally:
            _wipe(buffer)
    except IntegrityError as exc:
        raise _refused(path, exc.message) from exc
    except (ApplianceError, ValueError, OSError) as exc:
        raise _refused(path, str(exc)) from exc


def _write_atomically(path: Path, write: Callable[[BinaryIO], int]) -> int:
    directory = path.parent
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    temp = Path(temp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            written = write(out)
            out.flush()
            os.fsync(out.fileno())
        temp.replace(path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        raise
    _fsync_directory(directory)
    return written


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _chunks(parts: list[memoryview], chunk_bytes: int) -> Iterator[memoryview]:
    for part in parts:
        for start in range(0, len(part), chunk_bytes):
            yield part[start : start + chunk_bytes]


def _parse_header(
    raw: bytes, file_size: int, collection: str, space: str, expected_id: str | None
) -> dict[str, Any]:
    """Check the header's shape and identity (it is authenticated once every frame has been)."""
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IntegrityError("header is not valid JSON") from exc
    if not isinstance(header, dict) or header.get("format") != SNAPSHOT_FORMAT:
        raise IntegrityError("not an index snapshot")
    if header.get("version") != SNAPSHOT_VERSION:
        raise IntegrityError(f"unsupported snapshot version {header.get('version')!r}")
    for name in ("count", "index_bytes", "deadline_count"):
        value = header.get(name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise IntegrityError(f"header field {name} is invalid")
    if header["index_bytes"] + _DEADLINE_BYTES * header["deadline_count"] > file_size:
        raise IntegrityError("header sizes exceed the file")
    found = (header.get("collection"), header.get("space"))
    if found != (collection, space):
        raise IntegrityError(
            f"snapshot belongs to collection {found[0]!r} space {found[1]!r}, "
            f"not {collection!r} space {space!r}"
        )
    if expected_id is not None and header.get("snapshot_id") != expected_id:
        raise IntegrityError("not the snapshot recorded last (older or replaced file)")
    return header


def _fill(buffer: npt.NDArray[np.uint8], frames: Iterator[bytes]) -> None:
    """Decrypt every frame into ``buffer``, which it must fill exactly; on failure wipe it."""
    view = memoryview(buffer)
    position = 0
    try:
        for chunk in frames:
            end = position + len(chunk)
            if end > len(buffer):
                raise IntegrityError("body is longer than its header says")
            view[position:end] = chunk
            position = end
        if position != len(buffer):
            raise IntegrityError("body is shorter than its header says")
    except BaseException:
        buffer[:position] = 0
        raise


def _build(
    header: dict[str, Any], buffer: npt.NDArray[np.uint8], collection: str, space: str
) -> VectorIndex:
    spec = IndexSpec.from_dict(header.get("spec") or {})
    split = header["index_bytes"]
    pairs = header["deadline_count"]
    view = memoryview(buffer)
    unreachable = header.get("unreachable")  # absent from older snapshots: checked again
    if unreachable is not None and not (
        isinstance(unreachable, list) and all(type(key) is int for key in unreachable)
    ):
        raise IntegrityError("header field unreachable is invalid")
    index = VectorIndex.from_serialized(
        spec, view[:split], collection=collection, space=space, unreachable=unreachable
    )
    if len(index) != header["count"]:
        raise IntegrityError(f"holds {len(index)} vectors, header says {header['count']}")
    if pairs:
        keys = np.frombuffer(view[split : split + 8 * pairs], dtype="<i8").astype(np.int64)
        deadlines = np.frombuffer(view[split + 8 * pairs :], dtype="<f8").astype(np.float64)
        index.set_deadlines(keys, deadlines)
    return index


def _refused(path: Path, reason: str) -> IntegrityError:
    return IntegrityError(
        f"index snapshot {path} failed verification and was refused: {reason}", remedy=_REBUILD
    )


def _wipe(buffer: bytearray | npt.NDArray[np.uint8]) -> None:
    """Overwrite plaintext before it is freed (best effort: Python may hold other copies)."""
    if len(buffer):
        np.frombuffer(buffer, dtype=np.uint8).fill(0)
