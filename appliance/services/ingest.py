"""The ingest and embedding flows: screen (detect + decide), admit, encode, defend, store.

Raw content is never written anywhere: it lives in memory for the length of the
request. Each item's decision is audited with the subject's pseudonym, stored or denied.
Engines are reached through the ``Encoders`` protocol so this module needs no torch.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from appliance.audit import AuditTrail
from appliance.crypto.pseudonym import Pseudonymizer
from appliance.domain.types import Actor, Modality
from appliance.errors import ApplianceError, InvalidInputError
from appliance.policy.decisions import RequestContext
from appliance.services.items import ItemService, NewItem
from appliance.services.risk_gate import RiskAuditFailedError, RiskCheck, encoded_categories
from appliance.services.screening import Screened, Screening

__all__ = [
    "EmbeddingService",
    "IngestItem",
    "IngestService",
    "ItemOutcome",
    "PolicyDeniedError",
    "Screened",
    "Screening",
]


class Encoders(Protocol):
    """The served space as the flows need it."""

    space_version: str

    def engine(self, modality: Modality | str) -> Any: ...


@dataclass(frozen=True)
class IngestItem:
    """One item of an ingest request, decoded (text or bytes), not yet screened."""

    subject_id: str
    modality: Modality
    payload: bytes | str
    context: RequestContext
    metadata: dict[str, Any] = field(default_factory=dict)
    item_id: str | None = None


@dataclass
class ItemOutcome:
    """What happened to one item: stored, denied (by policy) or failed (bad input)."""

    item_id: str | None
    status: str
    decision: dict[str, Any] | None = None
    error: dict[str, str] | None = None
    notes: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The reply shape of one item."""
        out: dict[str, Any] = {"id": self.item_id, "status": self.status, "decision": self.decision}
        if self.error:
            out["error"] = self.error
        if self.notes:
            out["notes"] = self.notes
        return out


class IngestService:
    """Screen, encode, defend and store a batch of items; report each item's fate."""

    def __init__(
        self,
        *,
        screening: Screening,
        items: ItemService,
        pseudonymize: Pseudonymizer,
        audit: AuditTrail,
        risk_gate: RiskCheck | None = None,
    ) -> None:
        """``risk_gate``: refuses items whose category a failed risk audit blocks."""
        self._screening = screening
        self._items = items
        self._pseudonymize = pseudonymize
        self._audit = audit
        self._risk_gate = risk_gate

    def ingest(
        self, collection: str, batch: Sequence[IngestItem], *, actor: Actor, encoders: Encoders
    ) -> list[ItemOutcome]:
        """Process every item; partial success is reported item by item."""
        outcomes: list[ItemOutcome] = []
        admitted: list[tuple[int, IngestItem, Screened]] = []
        for index, item in enumerate(batch):
            try:
                consents = self._screening.consents_for(item.subject_id, item.context.purpose)
                screened = self._screening.screen(
                    item.modality,
                    item.payload,
                    item.context,
                    consents,
                    metadata=item.metadata,
                    item_id=item.item_id,
                )
            except ApplianceError as exc:
                outcomes.append(_failed(item, exc))
                continue
            decision = screened.classification.decision
            assert decision is not None
            outcome = ItemOutcome(item.item_id, "pending", decision.to_dict(), None)
            outcome.notes.update(screened.admission.notes)
            outcomes.append(outcome)
            blocked = (
                self._risk_gate.check(item.modality.value, self._encoded_categories(screened))
                if self._risk_gate is not None and screened.admission.allowed
                else None
            )
            if not screened.admission.allowed or blocked is not None:
                outcome.status = "denied"
                outcome.error = (
                    blocked.error()
                    if blocked
                    else {
                        "code": "policy_denied",
                        "message": "; ".join(screened.admission.reasons)[:500],
                    }
                )
                risk = {"risk_limit": blocked.limit} if blocked else {}
                self._audit.append(
                    actor=actor,
                    action="items.denied",
                    outcome="denied",
                    collection=collection,
                    subject=self._pseudonymize(item.subject_id),
                    decision=decision.audit_record(),
                    details={"modality": item.modality.value, **risk},
                )
                continue
            admitted.append((index, item, screened))
        vectors = self._encode(admitted, outcomes, encoders)
        to_store = [
            (index, item, screened, vectors[index])
            for index, item, screened in admitted
            if index in vectors
        ]
        if to_store:
            new_items = []
            for _, item, screened, vector in to_store:
                decision = screened.classification.decision
                assert decision is not None
                new_items.append(
                    NewItem(
                        subject_id=item.subject_id,
                        modality=item.modality,
                        vector=vector,
                        metadata=screened.fields.metadata,
                        item_id=item.item_id,
                        reveal_id=screened.fields.reveal_id,
                        policy_labels=decision.labels,
                        obligations=decision.obligation_labels,
                        retention_deadline=decision.retention_deadline,
                        decision=decision.audit_record(),
                    )
                )
            self._store(collection, to_store, new_items, outcomes, actor, encoders.space_version)
        for index, _, screened, _ in to_store:
            outcome = outcomes[index]
            if outcome.status == "stored" and outcome.item_id and not screened.fields.reveal_id:
                # the id carries an identifier: searches name the item by its reference
                outcome.notes["search_id"] = self._items.stored_id(collection, outcome.item_id)
        return outcomes

    def _encoded_categories(self, screened: Screened) -> tuple[str, ...]:
        """What the risk gate judges: the categories left in the payload to encode."""
        return encoded_categories(
            self._screening.policy,
            screened.classification.modality,
            screened.classification.findings,
            screened.admission.notes,
        )

    def _store(
        self,
        collection: str,
        to_store: list[tuple[int, IngestItem, Screened, np.ndarray]],
        new_items: list[NewItem],
        outcomes: list[ItemOutcome],
        actor: Actor,
        space: str,
    ) -> None:
        """Store the batch in one transaction; if it fails, item by item, so one bad item
        (a reused id, say) is reported alone."""
        try:
            ids = self._items.store(collection, new_items, actor=actor, space=space)
        except ApplianceError as batch_error:
            if len(new_items) == 1 or batch_error.code != "conflict":
                for index, item, *_ in to_store:
                    outcomes[index] = _failed(item, batch_error)
                return
            for (index, item, *_), new_item in zip(to_store, new_items, strict=True):
                try:
                    (item_id,) = self._items.store(collection, [new_item], actor=actor, space=space)
                except ApplianceError as exc:
                    outcomes[index] = _failed(item, exc)
                    continue
                outcomes[index].item_id = item_id
                outcomes[index].status = "stored"
            return
        for (index, *_), item_id in zip(to_store, ids, strict=True):
            outcomes[index].item_id = item_id
            outcomes[index].status = "stored"

    def _encode(
        self,
        admitted: list[tuple[int, IngestItem, Screened]],
        outcomes: list[ItemOutcome],
        encoders: Encoders,
    ) -> dict[int, np.ndarray]:
        by_modality: dict[Modality, list[tuple[int, IngestItem, Screened]]] = defaultdict(list)
        for entry in admitted:
            by_modality[entry[1].modality].append(entry)
        vectors: dict[int, np.ndarray] = {}
        for modality, group in by_modality.items():
            engine = encoders.engine(modality)
            results = engine.encode_items([s.admission.payload for _, _, s in group])
            for position, (index, item, screened) in enumerate(group):
                error = results.errors.get(position)
                if error is not None:
                    outcomes[index] = _failed(item, error)
                    continue
                vectors[index] = self._screening.defend(
                    results.vectors[position], screened, space=encoders.space_version
                )
                if results.notes[position]:
                    outcomes[index].notes.update(results.notes[position])
        return vectors


def _failed(item: IngestItem, error: ApplianceError) -> ItemOutcome:
    return ItemOutcome(
        item.item_id, "failed", None, {"code": error.code, "message": error.message[:500]}
    )


class PolicyDeniedError(ApplianceError):
    """The policy does not let this input's vector out."""

    code = "policy_denied"


class EmbeddingService:
    """``/v1/embeddings``: handing out raw vectors is itself a policy decision."""

    def __init__(
        self, *, screening: Screening, audit: AuditTrail, risk_gate: RiskCheck | None = None
    ) -> None:
        """``risk_gate``: refuses inputs whose category a failed risk audit blocks, as
        ingest does (a vector handed out can be inverted like a stored one)."""
        self._screening = screening
        self._audit = audit
        self._risk_gate = risk_gate

    def embed(
        self,
        modality: Modality,
        inputs: Sequence[bytes | str],
        context: RequestContext,
        *,
        actor: Actor,
        encoders: Encoders,
    ) -> tuple[np.ndarray, list[dict[str, Any]]]:
        """Vectors for every input (defended where policy says), or an error naming the
        first input refused; the request is audited either way, without content."""
        screened = [self._screening.screen(modality, raw, context) for raw in inputs]
        categories = sorted(
            {
                c
                for s in screened
                if s.classification.decision
                for c in s.classification.decision.categories
            }
        )
        refused = [i for i, s in enumerate(screened) if not s.admission.allowed]
        if refused:
            first = screened[refused[0]]
            self._audit.append(
                actor=actor,
                action="embeddings.create",
                outcome="denied",
                decision={"categories": categories[:32], "refused_inputs": len(refused)},
                details={"modality": modality.value, "inputs": len(inputs)},
            )
            raise PolicyDeniedError(
                f"input {refused[0]}: {'; '.join(first.admission.reasons)[:400]}",
                remedy="remove the identifiers, or use ingest with a subject and context",
            )
        self._check_risk(modality, screened, categories, len(inputs), actor)
        results = encoders.engine(modality).encode_items([s.admission.payload for s in screened])
        if results.errors:
            position, error = min(results.errors.items())
            raise InvalidInputError(f"input {position}: {error.message}", remedy=error.remedy)
        vectors = np.array(results.vectors, dtype=np.float32, copy=True)
        defended = 0
        for position, item in enumerate(screened):
            if item.admission.defences:
                vectors[position] = self._screening.defend(
                    vectors[position], item, space=encoders.space_version
                )
                defended += 1
        self._audit.append(
            actor=actor,
            action="embeddings.create",
            outcome="ok",
            decision={"categories": categories[:32]},
            details={"modality": modality.value, "inputs": len(inputs), "defended": defended},
        )
        notes = [{**s.admission.notes, **n} for s, n in zip(screened, results.notes, strict=True)]
        return vectors, notes

    def _check_risk(
        self,
        modality: Modality,
        screened: Sequence[Screened],
        categories: Sequence[str],
        inputs: int,
        actor: Actor,
    ) -> None:
        """Refuse the request (audited, no content) when the risk gate blocks an input by
        what its encoded payload still carries."""
        gate = self._risk_gate
        if gate is None:
            return
        blocks = []
        for position, item in enumerate(screened):
            left = encoded_categories(
                self._screening.policy,
                modality,
                item.classification.findings,
                item.admission.notes,
            )
            block = gate.check(modality.value, left)
            if block is not None:
                blocks.append((position, block))
        if not blocks:
            return
        position, blocked = blocks[0]
        self._audit.append(
            actor=actor,
            action="embeddings.create",
            outcome="denied",
            decision={"categories": list(categories)[:32], "refused_inputs": len(blocks)},
            details={"modality": modality.value, "inputs": inputs, "risk_limit": blocked.limit},
        )
        raise RiskAuditFailedError(f"input {position}: {blocked.message}", remedy=blocked.remedy)
