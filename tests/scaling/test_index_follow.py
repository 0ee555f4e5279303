"""A process's live index follows erasures other processes commit while it is adding the
very rows being erased (embedded SQLite store; the shared store uses the same path)."""

from __future__ import annotations

import numpy as np
import pytest

from appliance.clock import FixedClock
from appliance.crypto.keyring import KeyKind
from appliance.domain.types import Actor, Modality
from appliance.index import load_snapshot
from appliance.services.indexes import index_owner
from appliance.services.items import NewItem
from appliance.wiring import Appliance, open_appliance

OPERATOR = Actor.operator()


def _item(item_id: str, subject: str, seed: int) -> NewItem:
    vector = np.random.default_rng(seed).normal(size=4).astype(np.float32)
    return NewItem(subject_id=subject, modality=Modality.TEXT, vector=vector, item_id=item_id)


def test_rows_erased_between_commit_and_index_add_stay_out_of_the_index(
    appliance: Appliance, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process erases the subject after this process committed its item but before
    the item reached this process's index: the add leaves the row out, so no erased vector
    lives on in the live index or its next snapshot (before: it stayed in both)."""
    appliance.collections.create("notes", 4, OPERATOR)
    appliance.items.store("notes", [_item("k", "MRN-K", 1)], actor=OPERATOR, space="s1")
    other = open_appliance(appliance.settings, clock=clock, environ={})  # another process
    real_add = appliance.indexes.add

    def add_after_an_erasure_elsewhere(*args: object) -> None:
        assert other.erasure.erase_subject("MRN-A", actor=OPERATOR) == 1
        real_add(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(appliance.indexes, "add", add_after_an_erasure_elsewhere)
    try:
        appliance.items.store("notes", [_item("a", "MRN-A", 2)], actor=OPERATOR, space="s1")
    finally:
        other.close()
    index = appliance.indexes.get(appliance.collections.get("notes"), "s1")
    assert len(index) == 1  # only K's item
    assert appliance.indexes.snapshot_all() == 1
    with appliance.database.write() as connection:
        _, key = appliance.keyring.get(connection, KeyKind.INDEX, index_owner("notes", "s1"))
    path = appliance.indexes.snapshot_path("notes", "s1")
    assert len(load_snapshot(path, key, collection="notes", space="s1")) == 1
