"""Collections and items: store (seal, index, audit) and search (filter, decrypt, audit).

Ordering that keeps the invariants: the audit entry is written inside the store
transaction, before commit, so an operation whose entry cannot be written never
commits (fail closed). The index is updated after commit; the store stays the source
of truth and the index catches up from it on the next load if that step is lost.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from appliance.audit import AuditTrail
from appliance.clock import Clock
from appliance.crypto.keyring import KeyKind, KeyRing
from appliance.crypto.pseudonym import Pseudonymizer
from appliance.crypto.records import (
    RECORD_FORMAT,
    RecordBinding,
    open_item_fields,
    seal_item_fields,
    seal_item_vector,
)
from appliance.domain.types import (
    Actor,
    Modality,
    SearchHit,
    validate_collection_name,
)
from appliance.errors import IntegrityError, InvalidInputError, KeyUnavailableError
from appliance.observability import get_logger
from appliance.services.indexes import IndexManager
from appliance.store import repository
from appliance.store.database import Database
from appliance.store.repository import CollectionRow, NewItemRow

log = get_logger(__name__)
MAX_ITEM_ID_CHARS = 128


@dataclass(frozen=True)
class NewItem:
    """One item to store: the raw subject id is pseudonymised before anything is kept."""

    subject_id: str
    modality: Modality
    vector: np.ndarray
    metadata: dict[str, Any] = field(default_factory=dict)
    item_id: str | None = None
    policy_labels: tuple[str, ...] = ()
    obligations: tuple[str, ...] = ()
    retention_deadline: datetime | None = None
    decision: dict[str, Any] | None = None
    """The policy decision's audit record (content-free), kept in the store entry."""
    reveal_id: bool = True
    """False when the client's id itself carries identifiers the decision removes: it is
    then not kept at all, and searches name the item by its keyed reference."""


class CollectionService:
    """Create and list collections."""

    def __init__(self, database: Database, audit: AuditTrail, clock: Clock) -> None:
        self._database = database
        self._audit = audit
        self._clock = clock

    def create(self, name: str, dimension: int, actor: Actor) -> CollectionRow:
        """Create a collection of vectors of ``dimension``."""
        validate_collection_name(name)
        if not isinstance(dimension, int) or not 1 <= dimension <= 16384:
            raise InvalidInputError("dimension must be an integer between 1 and 16384")
        with self._database.write() as connection:
            row = repository.create_collection(connection, name, dimension, self._clock.now())
            self._audit.append(
                actor=actor, action="collections.create", outcome="ok", collection=name
            )
        return row

    def get(self, name: str) -> CollectionRow:
        """A collection by name, or ``NotFoundError``."""
        with self._database.read() as connection:
            return repository.get_collection(connection, name)

    def list(self) -> list[CollectionRow]:
        """Every collection."""
        with self._database.read() as connection:
            return repository.list_collections(connection)


class ItemService:
    """Store and search items of a collection."""

    def __init__(
        self,
        *,
        database: Database,
        keyring: KeyRing,
        pseudonymize: Pseudonymizer,
        indexes: IndexManager,
        audit: AuditTrail,
        clock: Clock,
    ) -> None:
        self._database = database
        self._keyring = keyring
        self._pseudonymize = pseudonymize
        self._indexes = indexes
        self._audit = audit
        self._clock = clock

    def store(
        self, collection: str, new_items: Sequence[NewItem], *, actor: Actor, space: str
    ) -> list[str]:
        """Seal, store, audit and index ``new_items``; returns their item ids."""
        if not new_items:
            return []
        now = self._clock.now()
        prepared: list[NewItemRow] = []
        client_ids: list[str] = []
        vectors: list[np.ndarray] = []
        try:
            with self._database.write() as connection:
                coll = repository.get_collection(connection, collection)
                for item in new_items:
                    vector = _checked_vector(item.vector, coll.dimension)
                    client_id = _item_id(item.item_id)
                    subject = self._pseudonymize(item.subject_id)
                    repository.touch_subject(connection, subject, now)
                    version, key = self._keyring.get(
                        connection, KeyKind.SUBJECT, subject, create=True
                    )
                    binding = RecordBinding(
                        collection=coll.name,
                        item_id=self._pseudonymize.item_reference(coll.name, client_id),
                        key_version=version,
                        record_format=RECORD_FORMAT,
                        subject=subject,
                        modality=Modality(item.modality).value,
                        space_version=space,
                        policy_labels=tuple(item.policy_labels),
                        obligations=tuple(item.obligations),
                        retention_deadline=item.retention_deadline,
                    )
                    kept_id = client_id if item.reveal_id else None
                    prepared.append(
                        NewItemRow(
                            item_id=binding.item_id,
                            subject=subject,
                            modality=binding.modality,
                            policy_labels=binding.policy_labels,
                            obligations=binding.obligations,
                            retention_deadline=item.retention_deadline,
                            space_version=space,
                            key_version=version,
                            vector_ct=seal_item_vector(key, vector, binding),
                            metadata_ct=seal_item_fields(key, kept_id, item.metadata, binding),
                            record_format=RECORD_FORMAT,
                        )
                    )
                    client_ids.append(client_id)
                    vectors.append(vector)
                row_ids = repository.insert_items(connection, coll.id, prepared, now)
                self._audit.append_many(
                    [
                        {
                            "actor": actor,
                            "action": "items.store",
                            "outcome": "ok",
                            "collection": coll.name,
                            "subject": row.subject,
                            "decision": item.decision or {"labels": list(row.policy_labels)},
                            "details": {"modality": row.modality, "space": space},
                        }
                        for row, item in zip(prepared, new_items, strict=True)
                    ]
                )
        except BaseException:
            self._keyring.clear_cache()  # a rolled-back transaction may have created keys
            raise
        deadlines = [
            r.retention_deadline.timestamp() if r.retention_deadline else None for r in prepared
        ]
        self._indexes.add(coll, space, row_ids, np.vstack(vectors), deadlines)
        log.info("items.stored", collection=coll.name, count=len(row_ids), actor=actor.token_id)
        return client_ids

    def stored_id(self, collection: str, item_id: str) -> str:
        """The keyed reference under which a client's item id is stored (and under which
        searches name an item whose own id was withheld)."""
        return self._pseudonymize.item_reference(collection, item_id)

    def search(
        self,
        collection: str,
        query: np.ndarray,
        *,
        k: int,
        actor: Actor,
        space: str,
        modalities: Sequence[Modality] | None = None,
        viewer_role: str | None = None,
        metadata_filter: dict[str, Any] | None = None,
        decision: dict[str, Any] | None = None,
    ) -> list[SearchHit]:
        """The ``k`` nearest live items the caller may see, with decrypted metadata.

        Items whose policy restricts visibility to roles other than ``viewer_role`` are
        left out (``None``: the operator at the console sees everything). The visibility
        columns are bound into each sealed record, so a row whose columns were edited
        fails to open and is withheld (and audited), never served. ``decision`` is the
        query's own policy decision (audit record), kept in the search's audit entry."""
        if not isinstance(k, int) or not 1 <= k <= 1000:
            raise InvalidInputError("k must be an integer between 1 and 1000")
        now = self._clock.now()
        with self._database.read() as connection:
            coll = repository.get_collection(connection, collection)
        vector = _checked_vector(query, coll.dimension)
        index = self._indexes.get(coll, space)
        wanted = {Modality(m).value for m in modalities} if modalities else None
        filtered = wanted is not None or viewer_role is not None or bool(metadata_filter)
        fetch = k if not filtered else min(max(4 * k, k + 32), 4000)
        keys, scores = index.search(vector, fetch, now=now.timestamp())
        hits: list[SearchHit] = []
        with self._database.read() as connection:
            rows = repository.live_items_by_row_ids(connection, coll.id, keys.tolist(), now)
            for key, score in zip(keys.tolist(), scores.tolist(), strict=True):
                row = rows.get(int(key))
                if row is None or (wanted is not None and row.modality not in wanted):
                    continue
                if not visible_to(row.obligations, viewer_role):
                    continue
                opened = self._open_fields(connection, coll.name, row)
                if opened is None or not _matches(opened[1], metadata_filter):
                    continue
                client_id, metadata = opened
                hits.append(
                    SearchHit(
                        client_id or row.item_id,
                        row.row_id,
                        float(score),
                        Modality(row.modality),
                        metadata,
                    )
                )
                if len(hits) == k:
                    break
        with self._database.write() as connection:
            repository.touch_items(connection, [h.row_id for h in hits], now)
            self._audit.append(
                actor=actor,
                action="items.search",
                outcome="ok",
                collection=coll.name,
                decision=decision,
                details={"k": k, "returned": len(hits), "space": space},
            )
        return hits

    def _open_fields(
        self, connection: Any, collection: str, row: Any
    ) -> tuple[str | None, dict[str, Any]] | None:
        try:
            _, key = self._keyring.get(connection, KeyKind.SUBJECT, row.subject)
            return open_item_fields(key, row.metadata_ct, RecordBinding.of_row(row, collection))
        except KeyUnavailableError:
            return None  # erased between the index hit and now
        except IntegrityError as exc:
            log.error("items.integrity_failure", collection=collection, error=exc.message)
            self._audit.append(
                actor=Actor.operator(),
                action="items.integrity_failure",
                outcome="withheld",
                collection=collection,
                subject=row.subject,
                details={"row_id": row.row_id},
            )
            return None


def _matches(metadata: dict[str, Any], wanted: dict[str, Any] | None) -> bool:
    return not wanted or all(metadata.get(k) == v for k, v in wanted.items())


def visible_to(obligations: Sequence[str], role: str | None) -> bool:
    """Whether an item's ``visible_to:`` obligation lets ``role`` see it."""
    if role is None:
        return True
    for label in obligations:
        if label.startswith("visible_to:"):
            allowed = {r for r in label.removeprefix("visible_to:").split(",") if r}
            return role in allowed
    return True


def _checked_vector(vector: np.ndarray, dimension: int) -> np.ndarray:
    array = np.asarray(vector, dtype=np.float32).reshape(-1)
    if array.shape[0] != dimension:
        raise InvalidInputError(
            f"vector has dimension {array.shape[0]}, the collection expects {dimension}"
        )
    if not np.all(np.isfinite(array)):
        raise InvalidInputError("vector contains NaN or infinity")
    return array


def _item_id(candidate: str | None) -> str:
    if candidate is None:
        return uuid.uuid4().hex
    if not isinstance(candidate, str) or not 1 <= len(candidate) <= MAX_ITEM_ID_CHARS:
        raise InvalidInputError(f"item id must be 1-{MAX_ITEM_ID_CHARS} characters")
    return candidate
