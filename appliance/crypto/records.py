"""Sealing item records: vector and fields under the subject key, bound to the item.

Two record formats, named per row in ``items.record_format``:

- format 1 (before schema version 5): associated data = record kind + collection + item
  id + key version. The item id is the client's id, in the clear; the metadata plaintext
  is the metadata object. Still opened, never written.
- format 2: associated data also carries every column that decides who may see the item
  and for how long (subject, modality, space version, policy labels, obligations such as
  ``visible_to:``, retention deadline), as canonical JSON. Editing any of them in the
  database without the keys makes the record fail to open. The stored item id is a keyed
  reference (``it_``...); the client's id, when it may be kept, travels sealed with the
  metadata in one envelope ``{"id": ..., "metadata": {...}}``.

The format tag is itself part of the associated data, so relabelling a format-2 row as
format 1 does not downgrade its check: it no longer opens at all.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from appliance.crypto.aead import open_sealed, seal
from appliance.errors import IntegrityError

LEGACY_FORMAT = 1
RECORD_FORMAT = 2


def _aad(field: str, collection: str, item_id: str, key_version: int) -> bytes:
    return f"appliance/item/1|{field}|{collection}|{item_id}|k{key_version}".encode()


@dataclass(frozen=True)
class RecordBinding:
    """Everything a sealed item record is bound to: where it lives and who may see it."""

    collection: str
    item_id: str
    key_version: int
    record_format: int = RECORD_FORMAT
    subject: str = ""
    modality: str = ""
    space_version: str = ""
    policy_labels: tuple[str, ...] = ()
    obligations: tuple[str, ...] = ()
    retention_deadline: datetime | None = None

    @classmethod
    def of_row(cls, row: Any, collection: str) -> RecordBinding:
        """The binding of a stored row (an ``ItemRow`` or a raw ``items`` row)."""
        return cls(
            collection=collection,
            item_id=str(row.item_id),
            key_version=int(row.key_version),
            record_format=int(getattr(row, "record_format", None) or LEGACY_FORMAT),
            subject=str(row.subject),
            modality=str(row.modality),
            space_version=str(row.space_version),
            policy_labels=_strings(row.policy_labels),
            obligations=_strings(row.obligations),
            retention_deadline=row.retention_deadline,
        )

    def aad(self, field: str) -> bytes:
        """The associated data of ``field`` (vector or metadata) under this binding."""
        if self.record_format == LEGACY_FORMAT:
            return _aad(field, self.collection, self.item_id, self.key_version)
        if self.record_format != RECORD_FORMAT:
            raise IntegrityError(
                f"item {self.item_id}: unknown record format {self.record_format}",
                remedy="the row was altered outside the appliance; restore it from a backup",
            )
        deadline = self.retention_deadline
        bound = {
            "collection": self.collection,
            "item": self.item_id,
            "key_version": self.key_version,
            "subject": self.subject,
            "modality": self.modality,
            "space": self.space_version,
            "labels": list(self.policy_labels),
            "obligations": list(self.obligations),
            "deadline": deadline.astimezone(UTC).isoformat() if deadline else None,
        }
        canonical = json.dumps(bound, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        return f"appliance/item/2|{field}|".encode() + canonical.encode()


def _strings(values: Sequence[Any] | None) -> tuple[str, ...]:
    return tuple(str(v) for v in values or ())


# -- format 2 (current) -------------------------------------------------------------------


def seal_item_vector(key: bytes, vector: np.ndarray, binding: RecordBinding) -> bytes:
    """Encrypt a float32 vector bound to ``binding``."""
    data = np.ascontiguousarray(vector, dtype=np.float32).tobytes()
    return seal(key, data, binding.aad("vector"))


def open_item_vector(key: bytes, sealed: bytes, binding: RecordBinding) -> np.ndarray:
    """Decrypt a vector of any format; ``IntegrityError`` if it or its binding was altered."""
    data = open_sealed(key, sealed, binding.aad("vector"), what=f"vector of {binding.item_id}")
    return np.frombuffer(data, dtype=np.float32).copy()


def seal_item_fields(
    key: bytes, client_id: str | None, metadata: dict[str, Any], binding: RecordBinding
) -> bytes:
    """Encrypt the client's item id (``None`` when it may not be kept) and the metadata."""
    envelope = {"id": client_id, "metadata": metadata}
    data = json.dumps(envelope, sort_keys=True, separators=(",", ":")).encode()
    return seal(key, data, binding.aad("metadata"))


def open_item_fields(
    key: bytes, sealed: bytes, binding: RecordBinding
) -> tuple[str | None, dict[str, Any]]:
    """``(client id or None, metadata)`` of a record of any format. A format-1 record's
    client id is its stored id."""
    data = open_sealed(key, sealed, binding.aad("metadata"), what=f"metadata of {binding.item_id}")
    decoded = json.loads(data)
    if binding.record_format == LEGACY_FORMAT:
        return binding.item_id, decoded
    if not isinstance(decoded, dict) or not isinstance(decoded.get("metadata"), dict):
        raise IntegrityError(f"metadata of {binding.item_id}: not a format-2 envelope")
    client_id = decoded.get("id")
    return (client_id if isinstance(client_id, str) else None), decoded["metadata"]


# -- format 1 (legacy rows; kept so they still open) --------------------------------------


def seal_vector(
    key: bytes, vector: np.ndarray, *, collection: str, item_id: str, key_version: int
) -> bytes:
    """Encrypt a float32 vector in format 1 (tests of legacy rows only)."""
    data = np.ascontiguousarray(vector, dtype=np.float32).tobytes()
    return seal(key, data, _aad("vector", collection, item_id, key_version))


def open_vector(
    key: bytes, sealed: bytes, *, collection: str, item_id: str, key_version: int
) -> np.ndarray:
    """Decrypt a format-1 vector; ``IntegrityError`` if anything is off."""
    data = open_sealed(
        key, sealed, _aad("vector", collection, item_id, key_version), what=f"vector of {item_id}"
    )
    return np.frombuffer(data, dtype=np.float32).copy()


def seal_metadata(
    key: bytes, metadata: dict[str, Any], *, collection: str, item_id: str, key_version: int
) -> bytes:
    """Encrypt a JSON metadata object in format 1 (tests of legacy rows only)."""
    data = json.dumps(metadata, sort_keys=True, separators=(",", ":")).encode()
    return seal(key, data, _aad("metadata", collection, item_id, key_version))


def open_metadata(
    key: bytes, sealed: bytes, *, collection: str, item_id: str, key_version: int
) -> dict[str, Any]:
    """Decrypt format-1 metadata."""
    data = open_sealed(
        key,
        sealed,
        _aad("metadata", collection, item_id, key_version),
        what=f"metadata of {item_id}",
    )
    return json.loads(data)
