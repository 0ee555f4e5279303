"""File-level safety checks of the model store: hashes, weight formats, tarballs.

No torch here: the HTTP layer lists and verifies models without loading them.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import tarfile
from collections.abc import Iterable
from pathlib import Path

from appliance.errors import InvalidInputError

PICKLE_SUFFIXES = frozenset({".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib"})
"""Weights or state that Python would unpickle: never copied, never loaded."""

FOREIGN_WEIGHT_SUFFIXES = frozenset({".h5", ".msgpack", ".onnx", ".gguf", ".ot", ".npz", ".npy"})
"""Weights in formats the appliance does not load (TensorFlow, Flax, ONNX, ...)."""

CODE_SUFFIXES = frozenset({".py", ".pyc", ".so", ".sh"})
"""Code shipped with a checkpoint (``trust_remote_code``): never copied, never run."""

ALLOWED_SUFFIXES = frozenset({".safetensors", ".json", ".txt", ".model", ".md", ".tiktoken"})
"""What the store copies from a model directory; everything else is skipped."""

CONVERT_REMEDY = (
    "convert it to safetensors on a trusted machine, e.g. "
    '`python -c "import torch; from safetensors.torch import save_file; '
    "save_file(torch.load('pytorch_model.bin', weights_only=True), 'model.safetensors')\"` "
    "or with the safetensors convert script (huggingface/safetensors, bindings/python/convert.py), "
    "then import the directory holding model.safetensors"
)

_CHUNK = 1024 * 1024
_MAX_HEADER = 100 * 1024 * 1024


def sha256_file(path: Path) -> str:
    """The hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def copy_and_hash(source: Path, target: Path) -> tuple[str, int]:
    """Copy ``source`` to ``target`` and return the SHA-256 and size of the bytes written."""
    digest = hashlib.sha256()
    size = 0
    target.parent.mkdir(parents=True, exist_ok=True)
    with source.open("rb") as src, target.open("wb") as dst:
        while chunk := src.read(_CHUNK):
            digest.update(chunk)
            dst.write(chunk)
            size += len(chunk)
        dst.flush()
        os.fsync(dst.fileno())
    return digest.hexdigest(), size


def looks_like_pickle(path: Path) -> bool:
    """True for pickle streams and for torch's zip checkpoints (which hold ``data.pkl``)."""
    with path.open("rb") as handle:
        head = handle.read(4)
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return True
    if head == b"PK\x03\x04":
        import zipfile

        try:
            with zipfile.ZipFile(path) as archive:
                return any(name.endswith(".pkl") for name in archive.namelist())
        except zipfile.BadZipFile:
            return False
    return False


def check_safetensors(path: Path) -> dict[str, object]:
    """Parse a safetensors header without loading tensors; raise if the file is malformed."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        raw = handle.read(8)
        if len(raw) < 8:
            raise InvalidInputError(f"{path.name}: not a safetensors file (shorter than 8 bytes)")
        (length,) = struct.unpack("<Q", raw)
        if length > min(_MAX_HEADER, size - 8):
            raise InvalidInputError(f"{path.name}: not a safetensors file (bad header length)")
        try:
            header = json.loads(handle.read(length))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InvalidInputError(f"{path.name}: safetensors header is not JSON") from exc
    if not isinstance(header, dict):
        raise InvalidInputError(f"{path.name}: safetensors header is not a table")
    end = 0
    for key, spec in header.items():
        if key == "__metadata__":
            continue
        offsets = spec.get("data_offsets") if isinstance(spec, dict) else None
        if not (isinstance(offsets, list) and len(offsets) == 2):
            raise InvalidInputError(f"{path.name}: tensor {key!r} has no data offsets")
        end = max(end, int(offsets[1]))
    if 8 + length + end > size:
        raise InvalidInputError(
            f"{path.name}: safetensors file is truncated "
            f"({size} bytes, header needs {8 + length + end})"
        )
    return header


def iter_files(root: Path) -> Iterable[Path]:
    """Every regular file under ``root`` (sorted, symlinks refused, VCS metadata skipped)."""
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part in {".git", ".cache", "__pycache__"} for part in rel.parts):
            continue
        if path.is_symlink():
            raise InvalidInputError(
                f"{rel}: symbolic links are not imported",
                remedy="copy the real file into the model directory",
            )
        if path.is_file():
            yield path


def extract_tarball(archive: Path, target: Path, *, max_bytes: int) -> Path:
    """Extract a tarball safely into ``target`` and return the model or pack root inside it.

    Members with absolute paths, ``..``, links or devices are refused (tarfile's ``data``
    filter), and so is an archive that would unpack to more than ``max_bytes``.
    """
    try:
        with tarfile.open(archive) as tar:
            members = tar.getmembers()
            total = sum(m.size for m in members if m.isfile())
            if total > max_bytes:
                raise InvalidInputError(
                    f"{archive.name}: unpacks to {total} bytes, over the {max_bytes}-byte limit"
                )
            for member in members:
                if not (member.isfile() or member.isdir()):
                    raise InvalidInputError(
                        f"{archive.name}: member {member.name!r} is a link or device; only plain "
                        "files and directories are imported"
                    )
            tar.extractall(target, filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise InvalidInputError(f"{archive.name}: not a readable tarball: {exc}") from exc
    entries = [p for p in target.iterdir() if p.name not in {".", ".."}]
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return target


def remove_tree(path: Path) -> None:
    """Delete a directory tree if it exists."""
    if path.exists():
        shutil.rmtree(path)
