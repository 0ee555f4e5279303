"""Tampered rows and snapshots are detected, never silently accepted."""

from __future__ import annotations

import json

import numpy as np
from sqlalchemy import select, update

from appliance.domain.types import Actor
from appliance.store.schema import items
from appliance.wiring import Appliance, open_appliance
from tests.services.helpers import DIMENSION, new_items, unit_vectors

OPERATOR = Actor.operator()


def _populate(app: Appliance) -> np.ndarray:
    app.collections.create("a", DIMENSION, OPERATOR)
    app.collections.create("b", DIMENSION, OPERATOR)
    vectors = unit_vectors(6, seed=20)
    app.items.store("a", new_items("S1", vectors[:3], "a"), actor=OPERATOR, space="x")
    app.items.store("b", new_items("S1", vectors[3:], "b"), actor=OPERATOR, space="x")
    app.indexes.snapshot_all()
    return vectors


def _ref(app: Appliance, item_id: str) -> str:
    """The stored (keyed) reference of a client id; the collection is the id's prefix."""
    return app.items.stored_id(item_id.split("-")[0], item_id)


def _audit_actions(app: Appliance) -> list[str]:
    lines = (app.settings.data_dir / "audit" / "trail.jsonl").read_text().splitlines()
    return [json.loads(line)["action"] for line in lines]


def test_flipped_byte_in_encrypted_metadata_is_withheld_and_audited(appliance: Appliance) -> None:
    """A row whose ciphertext was altered is not served, and the failure is audited."""
    vectors = _populate(appliance)
    with appliance.database.write() as connection:
        sealed = connection.execute(
            select(items.c.metadata_ct).where(items.c.item_id == _ref(appliance, "a-1"))
        ).scalar_one()
        flipped = bytearray(sealed)
        flipped[20] ^= 0x40
        connection.execute(
            update(items)
            .where(items.c.item_id == _ref(appliance, "a-1"))
            .values(metadata_ct=bytes(flipped))
        )
    hits = appliance.items.search("a", vectors[1], k=3, actor=OPERATOR, space="x")
    assert "a-1" not in {h.item_id for h in hits}
    assert "items.integrity_failure" in _audit_actions(appliance)


def test_ciphertext_swapped_between_collections_is_rejected(appliance: Appliance) -> None:
    """Metadata moved from an item of collection b onto an item of a fails to open."""
    vectors = _populate(appliance)
    with appliance.database.write() as connection:
        donor = connection.execute(
            select(items.c.metadata_ct).where(items.c.item_id == _ref(appliance, "b-0"))
        ).scalar_one()
        connection.execute(
            update(items).where(items.c.item_id == _ref(appliance, "a-0")).values(metadata_ct=donor)
        )
    hits = appliance.items.search("a", vectors[0], k=3, actor=OPERATOR, space="x")
    assert "a-0" not in {h.item_id for h in hits}
    assert {h.item_id for h in hits} == {"a-1", "a-2"}


def test_corrupt_snapshot_is_refused_and_rebuilt_from_store(appliance: Appliance) -> None:
    """A flipped byte in a snapshot is refused (audited) and search still answers rightly."""
    vectors = _populate(appliance)
    settings = appliance.settings
    path = appliance.indexes.snapshot_path("a", "x")
    appliance.close()
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    reopened = open_appliance(settings, environ={})
    try:
        hits = reopened.items.search("a", vectors[2], k=1, actor=OPERATOR, space="x")
        assert hits[0].item_id == "a-2"
        assert "index.snapshot_refused" in _audit_actions(reopened)
    finally:
        reopened.close()


def test_snapshot_swapped_between_collections_is_refused(appliance: Appliance) -> None:
    """Collection b's snapshot copied over a's is refused; a's results stay a's own."""
    vectors = _populate(appliance)
    settings = appliance.settings
    path_a = appliance.indexes.snapshot_path("a", "x")
    path_b = appliance.indexes.snapshot_path("b", "x")
    appliance.close()
    path_a.write_bytes(path_b.read_bytes())
    reopened = open_appliance(settings, environ={})
    try:
        hits = reopened.items.search("a", vectors[4], k=3, actor=OPERATOR, space="x")
        assert {h.item_id for h in hits} == {"a-0", "a-1", "a-2"}
        assert "index.snapshot_refused" in _audit_actions(reopened)
    finally:
        reopened.close()


def test_truncated_snapshot_is_refused(appliance: Appliance) -> None:
    """A snapshot cut short is refused and the index rebuilt."""
    vectors = _populate(appliance)
    settings = appliance.settings
    path = appliance.indexes.snapshot_path("b", "x")
    appliance.close()
    path.write_bytes(path.read_bytes()[:-10])
    reopened = open_appliance(settings, environ={})
    try:
        hits = reopened.items.search("b", vectors[3], k=1, actor=OPERATOR, space="x")
        assert hits[0].item_id == "b-0"
        assert "index.snapshot_refused" in _audit_actions(reopened)
    finally:
        reopened.close()


def test_truncated_vector_ciphertext_is_left_out_of_a_rebuild(appliance: Appliance) -> None:
    """A row whose sealed vector was cut short is not indexed when the index is rebuilt."""
    vectors = _populate(appliance)
    settings = appliance.settings
    snapshot = appliance.indexes.snapshot_path("a", "x")
    with appliance.database.write() as connection:
        sealed = connection.execute(
            select(items.c.vector_ct).where(items.c.item_id == _ref(appliance, "a-2"))
        ).scalar_one()
        connection.execute(
            update(items)
            .where(items.c.item_id == _ref(appliance, "a-2"))
            .values(vector_ct=sealed[:-5])
        )
    appliance.close()
    snapshot.unlink()
    reopened = open_appliance(settings, environ={})
    try:
        hits = reopened.items.search("a", vectors[2], k=3, actor=OPERATOR, space="x")
        assert {h.item_id for h in hits} == {"a-0", "a-1"}
        assert "items.integrity_failure" in _audit_actions(reopened)
    finally:
        reopened.close()


def test_an_older_snapshot_put_back_is_refused(appliance: Appliance) -> None:
    """Rolling a snapshot back to an older valid one is refused, so erased items cannot return."""
    vectors = _populate(appliance)
    settings = appliance.settings
    path = appliance.indexes.snapshot_path("a", "x")
    old = path.read_bytes()
    appliance.erasure.erase_subject("S1", actor=OPERATOR)
    appliance.close()
    path.write_bytes(old)
    reopened = open_appliance(settings, environ={})
    try:
        assert reopened.items.search("a", vectors[0], k=3, actor=OPERATOR, space="x") == []
        assert "index.snapshot_refused" in _audit_actions(reopened)
    finally:
        reopened.close()
