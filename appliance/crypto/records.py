"""Sealing item records: vector and metadata under the subject key, bound to the item.

Associated data = record kind + collection + item id + key version, so a ciphertext
copied to another item, collection or field fails to open.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from appliance.crypto.aead import open_sealed, seal


def _aad(field: str, collection: str, item_id: str, key_version: int) -> bytes:
    return f"appliance/item/1|{field}|{collection}|{item_id}|k{key_version}".encode()


def seal_vector(
    key: bytes, vector: np.ndarray, *, collection: str, item_id: str, key_version: int
) -> bytes:
    """Encrypt a float32 vector."""
    data = np.ascontiguousarray(vector, dtype=np.float32).tobytes()
    return seal(key, data, _aad("vector", collection, item_id, key_version))


def open_vector(
    key: bytes, sealed: bytes, *, collection: str, item_id: str, key_version: int
) -> np.ndarray:
    """Decrypt a vector sealed by ``seal_vector``; ``IntegrityError`` if anything is off."""
    data = open_sealed(
        key, sealed, _aad("vector", collection, item_id, key_version), what=f"vector of {item_id}"
    )
    return np.frombuffer(data, dtype=np.float32).copy()


def seal_metadata(
    key: bytes, metadata: dict[str, Any], *, collection: str, item_id: str, key_version: int
) -> bytes:
    """Encrypt a JSON metadata object."""
    data = json.dumps(metadata, sort_keys=True, separators=(",", ":")).encode()
    return seal(key, data, _aad("metadata", collection, item_id, key_version))


def open_metadata(
    key: bytes, sealed: bytes, *, collection: str, item_id: str, key_version: int
) -> dict[str, Any]:
    """Decrypt metadata sealed by ``seal_metadata``."""
    data = open_sealed(
        key,
        sealed,
        _aad("metadata", collection, item_id, key_version),
        what=f"metadata of {item_id}",
    )
    return json.loads(data)
