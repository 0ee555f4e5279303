"""Search: a query is an input like any other, screened before it is embedded.

A face photo or a voice sent as a query would become a biometric template; the query
therefore goes through detection and a policy decision for the caller's purpose and
the role of the person it shows, exactly as an ingested item does. A refused query is
audited and answered with ``query_refused``; an admitted one is embedded in its admitted
form (redacted text where the decision requires de-identification).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from appliance.audit import AuditTrail
from appliance.domain.types import Actor, Modality, SearchHit
from appliance.errors import ApplianceError, InvalidInputError
from appliance.policy.decisions import ConsentState, RequestContext
from appliance.services.ingest import Encoders
from appliance.services.items import ItemService
from appliance.services.screening import Screening

DEFAULT_QUERY_CONTEXT = {"subject_role": "patient", "purpose": "treatment"}
"""A search without a ``context``: a patient's data, for treatment, in a health-care
setting (the same default as ``/v1/embeddings``)."""


class QueryRefusedError(ApplianceError):
    """The policy does not let this query be embedded for this purpose."""

    code = "query_refused"


class SearchService:
    """Screen, embed and run a query; audit refusals with their decision."""

    def __init__(self, *, screening: Screening, items: ItemService, audit: AuditTrail) -> None:
        self._screening = screening
        self._items = items
        self._audit = audit

    def search(
        self,
        collection: str,
        modality: Modality,
        payload: bytes | str,
        context: RequestContext,
        *,
        k: int,
        actor: Actor,
        encoders: Encoders,
        modalities: Sequence[Modality] | None = None,
        metadata_filter: dict[str, Any] | None = None,
        subject_id: str | None = None,
    ) -> list[SearchHit]:
        """The nearest items the caller may see, or ``QueryRefusedError`` naming why the
        query may not be embedded. ``subject_id`` (optional) is the person the query
        shows, whose consents (e.g. a BIPA written release) count for the decision."""
        consents = (
            self._screening.consents_for(subject_id, context.purpose)
            if subject_id
            else ConsentState.none()
        )
        screened = self._screening.screen(modality, payload, context, consents)
        decision = screened.classification.decision
        assert decision is not None
        if not screened.admission.allowed:
            reasons = "; ".join(screened.admission.reasons)[:400]
            self._audit.append(
                actor=actor,
                action="items.search",
                outcome="denied",
                collection=collection,
                subject=self._screening.pseudonym(subject_id) if subject_id else None,
                decision=decision.audit_record(),
                details={"modality": modality.value, "error": QueryRefusedError.code},
            )
            raise QueryRefusedError(
                f"query refused: {reasons}",
                remedy=(
                    "send a query without the identifying content, or a context (purpose, "
                    "subject_role) and subject whose consents allow it"
                ),
            )
        results = encoders.engine(modality).encode_items([screened.admission.payload])
        if results.errors:
            error = results.errors[0]
            raise InvalidInputError(f"query: {error.message}", remedy=error.remedy)
        return self._items.search(
            collection,
            results.vectors[0],
            k=k,
            actor=actor,
            space=encoders.space_version,
            modalities=modalities,
            viewer_role=actor.role,
            metadata_filter=metadata_filter,
            decision=decision.audit_record(),
        )
