"""Test helpers: make items, and read every stored vector back with fresh keys."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sqlalchemy import select

from appliance.clock import SystemClock
from appliance.crypto.kek import load_kek, locate_kek
from appliance.crypto.keyring import KeyKind, KeyRing
from appliance.crypto.records import RecordBinding, open_item_fields, open_item_vector
from appliance.domain.types import Modality
from appliance.services.items import NewItem
from appliance.settings import Settings
from appliance.store.database import Database, create_store_engine
from appliance.store.schema import collections, items

DIMENSION = 16


def unit_vectors(count: int, seed: int, dimension: int = DIMENSION) -> np.ndarray:
    """Random unit vectors (float32)."""
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(count, dimension)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def new_items(subject: str, vectors: np.ndarray, prefix: str, **extra: object) -> list[NewItem]:
    """One text item per vector for ``subject`` with ids ``prefix-N``."""
    return [
        NewItem(
            subject_id=subject,
            modality=Modality.TEXT,
            vector=vector,
            metadata={"note": f"{prefix} note {n}"},
            item_id=f"{prefix}-{n}",
            **extra,  # type: ignore[arg-type]
        )
        for n, vector in enumerate(vectors)
    ]


def read_all_vectors(settings: Settings, db_path: Path | None = None) -> dict[str, np.ndarray]:
    """Decrypt every item's vector with keys loaded afresh from disk (as a new process would),
    by the client's item id."""
    keyring = KeyRing(load_kek(locate_kek(settings.data_dir, environ={})), SystemClock())
    url = f"sqlite:///{db_path}" if db_path else settings.database_url
    database = Database(create_store_engine(url))
    out: dict[str, np.ndarray] = {}
    try:
        with database.read() as connection:
            query = select(items, collections.c.name).join(
                collections, collections.c.id == items.c.collection_id
            )
            for row in connection.execute(query):
                _, key = keyring.get(connection, KeyKind.SUBJECT, row.subject)
                binding = RecordBinding.of_row(row, row.name)
                client_id, _ = open_item_fields(key, bytes(row.metadata_ct), binding)
                out[client_id or row.item_id] = open_item_vector(key, bytes(row.vector_ct), binding)
    finally:
        database.dispose()
    return out
