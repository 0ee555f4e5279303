"""Storing and searching items through the real store, index, keys and audit trail."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy import select

from appliance.audit import verify_trail
from appliance.clock import FixedClock
from appliance.crypto.keyring import KeyKind
from appliance.crypto.records import seal_metadata, seal_vector
from appliance.domain.types import Actor, Modality
from appliance.errors import AuditWriteError, ConflictError, InvalidInputError, NotFoundError
from appliance.services.items import NewItem
from appliance.store import repository
from appliance.store.database import Database, create_store_engine
from appliance.store.migrations import migrate
from appliance.store.schema import items
from appliance.wiring import Appliance, open_appliance
from tests.services.helpers import DIMENSION, new_items, unit_vectors

OPERATOR = Actor.operator()
SPACE = "space-test"


def _setup(app: Appliance, name: str = "notes") -> None:
    app.collections.create(name, DIMENSION, OPERATOR)


def test_store_then_search_returns_nearest_with_metadata(appliance: Appliance) -> None:
    """The stored item nearest the query comes first, with its decrypted metadata."""
    _setup(appliance)
    vectors = unit_vectors(20, seed=1)
    appliance.items.store("notes", new_items("MRN-1", vectors, "a"), actor=OPERATOR, space=SPACE)
    hits = appliance.items.search("notes", vectors[7], k=3, actor=OPERATOR, space=SPACE)
    assert hits[0].item_id == "a-7"
    assert hits[0].metadata == {"note": "a note 7"}
    assert hits[0].score == pytest.approx(1.0, abs=1e-4)
    assert len(hits) == 3


def test_search_filters_by_modality(appliance: Appliance) -> None:
    """Only the requested target modalities come back."""
    _setup(appliance)
    vectors = unit_vectors(6, seed=2)
    mixed = [
        NewItem("MRN-1", Modality.IMAGE if n % 2 else Modality.TEXT, v, item_id=f"m-{n}")
        for n, v in enumerate(vectors)
    ]
    appliance.items.store("notes", mixed, actor=OPERATOR, space=SPACE)
    hits = appliance.items.search(
        "notes", vectors[0], k=6, actor=OPERATOR, space=SPACE, modalities=[Modality.IMAGE]
    )
    assert {h.item_id for h in hits} == {"m-1", "m-3", "m-5"}


def test_collections_do_not_mix(appliance: Appliance) -> None:
    """A search in one collection never returns another collection's items."""
    _setup(appliance, "a")
    _setup(appliance, "b")
    vectors = unit_vectors(4, seed=3)
    appliance.items.store("a", new_items("S1", vectors, "a"), actor=OPERATOR, space=SPACE)
    appliance.items.store("b", new_items("S1", vectors, "b"), actor=OPERATOR, space=SPACE)
    hits = appliance.items.search("b", vectors[0], k=10, actor=OPERATOR, space=SPACE)
    assert {h.item_id for h in hits} == {"b-0", "b-1", "b-2", "b-3"}


def test_expired_items_never_returned_before_any_snapshot(
    appliance: Appliance, clock: FixedClock
) -> None:
    """Past its retention deadline an item disappears from results at once."""
    _setup(appliance)
    vectors = unit_vectors(3, seed=4)
    deadline = clock.now() + timedelta(days=1)
    appliance.items.store(
        "notes",
        new_items("S", vectors[:1], "short", retention_deadline=deadline)
        + new_items("S", vectors[1:], "long"),
        actor=OPERATOR,
        space=SPACE,
    )
    assert (
        appliance.items.search("notes", vectors[0], k=1, actor=OPERATOR, space=SPACE)[0].item_id
        == "short-0"
    )
    clock.advance(timedelta(days=2))
    hits = appliance.items.search("notes", vectors[0], k=3, actor=OPERATOR, space=SPACE)
    assert "short-0" not in {h.item_id for h in hits}
    assert len(hits) == 2


def test_bad_inputs_are_named(appliance: Appliance) -> None:
    """Wrong dimension, unknown collection, duplicate id and bad k each get a clear error."""
    _setup(appliance)
    with pytest.raises(InvalidInputError, match="dimension 3"):
        appliance.items.store(
            "notes", [NewItem("S", Modality.TEXT, np.ones(3))], actor=OPERATOR, space=SPACE
        )
    with pytest.raises(NotFoundError, match="nope"):
        appliance.items.search("nope", np.ones(DIMENSION), k=1, actor=OPERATOR, space=SPACE)
    appliance.items.store(
        "notes", new_items("S", unit_vectors(1, 5), "x"), actor=OPERATOR, space=SPACE
    )
    with pytest.raises(ConflictError):
        appliance.items.store(
            "notes", new_items("S", unit_vectors(1, 6), "x"), actor=OPERATOR, space=SPACE
        )
    with pytest.raises(InvalidInputError, match="k must be"):
        appliance.items.search("notes", np.ones(DIMENSION), k=0, actor=OPERATOR, space=SPACE)
    with pytest.raises(ConflictError):
        _setup(appliance)


def test_audit_failure_means_nothing_is_stored(
    appliance: Appliance, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the audit entry cannot be written, the items are not committed (fail closed)."""
    _setup(appliance)

    def broken(*_: object, **__: object) -> None:
        raise AuditWriteError("disk full")

    monkeypatch.setattr(appliance.audit, "append", broken)
    monkeypatch.setattr(appliance.audit, "append_many", broken)
    with pytest.raises(AuditWriteError):
        appliance.items.store(
            "notes", new_items("S", unit_vectors(2, 7), "f"), actor=OPERATOR, space=SPACE
        )
    with appliance.database.read() as connection:
        assert repository.count_items(connection) == 0


def test_restart_keeps_items_and_trail(appliance: Appliance, clock: FixedClock) -> None:
    """After close and reopen, search finds the same items and the trail verifies."""
    _setup(appliance)
    vectors = unit_vectors(10, seed=8)
    appliance.items.store("notes", new_items("S", vectors, "r"), actor=OPERATOR, space=SPACE)
    settings = appliance.settings
    appliance.close()
    reopened = open_appliance(settings, clock=clock, environ={})
    try:
        hits = reopened.items.search("notes", vectors[4], k=1, actor=OPERATOR, space=SPACE)
        assert hits[0].item_id == "r-4"
        report = verify_trail(settings.data_dir / "audit", reopened.signing_public_key)
        assert report.ok, report.problem
        actions = [e["action"] for e in _entries(settings)]
        assert actions.count("items.store") == 10
        assert "items.search" in actions
    finally:
        reopened.close()


def _entries(settings: object) -> list[dict]:
    import json

    path = settings.data_dir / "audit" / "trail.jsonl"  # type: ignore[attr-defined]
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_item_ids_are_stored_as_keyed_references(appliance: Appliance) -> None:
    """The items table holds ``it_`` references, never the client's id; the id still
    finds its item (a re-sent id conflicts) and comes back from search."""
    _setup(appliance)
    vectors = unit_vectors(2, seed=9)
    appliance.items.store(
        "notes", new_items("S", vectors[:1], "MRN123"), actor=OPERATOR, space=SPACE
    )
    with appliance.database.read() as connection:
        (stored,) = connection.execute(select(items.c.item_id)).scalars()
    assert stored == appliance.items.stored_id("notes", "MRN123-0") and "MRN" not in stored
    assert stored != appliance.items.stored_id("other", "MRN123-0")  # not linkable
    with pytest.raises(ConflictError):
        appliance.items.store(
            "notes", new_items("S", vectors[1:], "MRN123"), actor=OPERATOR, space=SPACE
        )
    (hit,) = appliance.items.search("notes", vectors[0], k=1, actor=OPERATOR, space=SPACE)
    assert hit.item_id == "MRN123-0"


def test_a_withheld_id_is_not_kept_and_search_names_the_reference(appliance: Appliance) -> None:
    """An item stored with ``reveal_id=False`` is named by its reference in results, and
    the client's id is in no column and no ciphertext."""
    _setup(appliance)
    vector = unit_vectors(1, seed=10)[0]
    item = NewItem("S", Modality.TEXT, vector, {"kind": "note"}, "MRN77-x", reveal_id=False)
    appliance.items.store("notes", [item], actor=OPERATOR, space=SPACE)
    (hit,) = appliance.items.search("notes", vector, k=1, actor=OPERATOR, space=SPACE)
    assert hit.item_id == appliance.items.stored_id("notes", "MRN77-x")
    assert hit.metadata == {"kind": "note"}


def test_rows_from_before_schema_v5_still_open(appliance: Appliance, clock: FixedClock) -> None:
    """A store at schema 3 with a row sealed the old way migrates to v5; the row is
    format 1 and still opens, in search and in an index rebuilt from the store."""
    _setup(appliance)
    vector = unit_vectors(1, seed=11)[0]
    subject = appliance.pseudonymize("MRN-OLD")
    with appliance.database.write() as connection:
        connection.exec_driver_sql("ALTER TABLE items DROP COLUMN record_format")
        connection.exec_driver_sql("DELETE FROM schema_migrations WHERE version = 5")
        repository.touch_subject(connection, subject, clock.now())
        version, key = appliance.keyring.get(connection, KeyKind.SUBJECT, subject, create=True)
        bound = {"collection": "notes", "item_id": "old-1", "key_version": version}
        connection.execute(
            items.insert().values(
                item_id="old-1",
                collection_id=1,
                subject=subject,
                modality="text",
                policy_labels=[],
                obligations=[],
                created_at=clock.now(),
                space_version=SPACE,
                key_version=version,
                vector_ct=seal_vector(key, vector, **bound),
                metadata_ct=seal_metadata(key, {"era": "v3"}, **bound),
            )
        )
    settings = appliance.settings
    appliance.close()
    database = Database(create_store_engine(settings.database_url))
    try:
        assert migrate(database, clock) == [5]
        with database.read() as connection:
            assert connection.execute(select(items.c.record_format)).scalar_one() == 1
    finally:
        database.dispose()
    reopened = open_appliance(settings, clock=clock, environ={})
    try:
        (hit,) = reopened.items.search("notes", vector, k=1, actor=OPERATOR, space=SPACE)
        assert (hit.item_id, hit.metadata) == ("old-1", {"era": "v3"})
    finally:
        reopened.close()
