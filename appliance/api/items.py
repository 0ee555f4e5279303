"""Ingest, search, classify (dry run) and consents."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any

from litestar import Request, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, PathParameter

from appliance.api.auth import current_actor
from appliance.api.errors import ApiError
from appliance.api.payloads import check_text_sizes, decode_input, parse_modality
from appliance.api.state import ApiState
from appliance.domain.roles import Permission
from appliance.errors import ApplianceError, StorageUnavailableError
from appliance.policy.decisions import RequestContext
from appliance.services.ingest import IngestItem, ItemOutcome
from appliance.services.search import DEFAULT_QUERY_CONTEXT

MAX_ITEMS_PER_BATCH = 256
MAX_ROW_ID = 2**63 - 1  # SQLite's INTEGER range: a larger id is a 4xx, not an overflow


@dataclass
class ItemIn:
    """One item of an ingest request."""

    subject_id: str
    modality: str
    data: str
    context: dict[str, Any]
    metadata: dict[str, Any] = field(default_factory=dict)
    id: str | None = None


@dataclass
class IngestBody:
    """POST /v1/collections/{c}/items."""

    items: list[ItemIn]


@dataclass
class QueryIn:
    """The query of a search, in any modality; ``subject_id`` names the person it shows
    when their consents should count (a BIPA written release, say)."""

    modality: str
    data: str
    subject_id: str | None = None


@dataclass
class SearchBody:
    """POST /v1/collections/{c}/search; ``context`` is the query's own (default: a patient,
    for treatment, in a health-care setting)."""

    query: QueryIn
    k: int = 10
    modalities: list[str] | None = None
    filter: dict[str, Any] | None = None
    context: dict[str, Any] | None = None


@dataclass
class ClassifyBody:
    """POST /v1/classify: one input and its context; nothing is stored."""

    modality: str
    data: str
    context: dict[str, Any]


@dataclass
class ConsentIn:
    """POST /v1/subjects/{id}/consents."""

    purpose: str
    category: str
    evidence_ref: str
    expires_at: datetime | None = None


def _decode(index: int, item: ItemIn) -> IngestItem:
    modality = parse_modality(item.modality, field=f"items[{index}].modality")
    payload = decode_input(modality, item.data, field=f"items[{index}].data")
    context = RequestContext.from_mapping(item.context, modality=modality)
    return IngestItem(
        subject_id=item.subject_id,
        modality=modality,
        payload=payload,
        context=context,
        metadata=item.metadata,
        item_id=item.id,
    )


@post(
    "/v1/collections/{collection:str}/items",
    opt={"permission": Permission.WRITE_ITEMS},
    sync_to_thread=True,
    status_code=200,
)
def ingest_items(
    collection: FromPath[str],
    data: JSONBody[IngestBody],
    api: NamedDependency[ApiState],
    request: Request[Any, Any, Any],
) -> dict[str, Any]:
    """Screen, embed and store items; each item's status and decision comes back."""
    if len(data.items) > MAX_ITEMS_PER_BATCH:
        raise ApiError(
            "payload_too_large",
            f"{len(data.items)} items in one request; the limit is {MAX_ITEMS_PER_BATCH}",
            remedy="split the batch",
        )
    check_text_sizes(
        ((f"items[{i}].data", it.data) for i, it in enumerate(data.items) if it.modality == "text"),
        api.appliance.settings.limits,
    )
    api.appliance.collections.get(collection)
    service = api.require("ingest")
    outcomes: list[ItemOutcome | None] = []
    decoded: list[tuple[int, IngestItem]] = []
    for index, item in enumerate(data.items):
        try:
            decoded.append((index, _decode(index, item)))
            outcomes.append(None)
        except ApplianceError as exc:
            outcomes.append(
                ItemOutcome(item.id, "failed", None, {"code": exc.code, "message": exc.message})
            )
    results = service.ingest(
        collection,
        [item for _, item in decoded],
        actor=current_actor(request),
        encoders=api.encoders,
    )
    _refuse_if_storage_failed(results)
    for (index, _), outcome in zip(decoded, results, strict=True):
        outcomes[index] = outcome
        api.metrics.decisions.labels(outcome.status).inc()
    return {"items": [o.to_dict() for o in outcomes if o is not None]}


def _refuse_if_storage_failed(results: list[ItemOutcome]) -> None:
    """A batch the disk refused (nothing stored) is a 503 the client retries as a whole."""
    refused = [o for o in results if o.error and o.error.get("code") == "storage_unavailable"]
    if refused and not any(o.status == "stored" for o in results):
        raise StorageUnavailableError(
            str(refused[0].error["message"]),  # type: ignore[index]
            remedy="free disk space or make the data directory writable, then resend the batch",
        )


@post(
    "/v1/collections/{collection:str}/search",
    opt={"permission": Permission.SEARCH},
    sync_to_thread=True,
    status_code=200,
)
def search(
    collection: FromPath[str],
    data: JSONBody[SearchBody],
    api: NamedDependency[ApiState],
    request: Request[Any, Any, Any],
) -> dict[str, Any]:
    """Nearest items in any modality that the caller may see; the query is screened
    first and a refused one is a 403 ``query_refused``."""
    if data.query.modality == "text":
        check_text_sizes([("query.data", data.query.data)], api.appliance.settings.limits)
    actor = current_actor(request)
    encoders = api.require("encoders")
    service = api.require("search")
    api.appliance.collections.get(collection)
    wanted = [parse_modality(m, field="modalities") for m in data.modalities or ()] or None
    modality = parse_modality(data.query.modality, field="query.modality")
    payload = decode_input(modality, data.query.data, field="query.data")
    context = RequestContext.from_mapping(data.context or DEFAULT_QUERY_CONTEXT, modality=modality)
    hits = service.search(
        collection,
        modality,
        payload,
        context,
        k=data.k,
        actor=actor,
        encoders=encoders,
        modalities=wanted,
        metadata_filter=data.filter,
        subject_id=data.query.subject_id,
    )
    return {
        "results": [
            {
                "id": h.item_id,
                "score": h.score,
                "modality": h.modality.value,
                "metadata": h.metadata,
            }
            for h in hits
        ]
    }


@post("/v1/classify", opt={"permission": Permission.CLASSIFY}, sync_to_thread=True, status_code=200)
def classify_input(
    data: JSONBody[ClassifyBody], api: NamedDependency[ApiState], request: Request[Any, Any, Any]
) -> dict[str, Any]:
    """Dry run: findings and the decision for one input; nothing is stored."""
    screening = api.require("screening")
    modality = parse_modality(data.modality)
    if modality.value == "text":
        check_text_sizes([("data", data.data)], api.appliance.settings.limits)
    payload = decode_input(modality, data.data)
    context = RequestContext.from_mapping(data.context, modality=modality)
    screened = screening.screen(modality, payload, context)
    decision = screened.classification.decision
    api.appliance.audit.append(
        actor=current_actor(request),
        action="classify",
        outcome=decision.outcome.value if decision else "none",
        decision=decision.audit_record() if decision else None,
    )
    result = screened.classification.to_dict()
    result["admitted"] = screened.admission.allowed
    return result


@post(
    "/v1/subjects/{subject_id:str}/consents",
    opt={"permission": Permission.MANAGE_CONSENT},
    sync_to_thread=True,
    status_code=201,
)
def grant_consent(
    subject_id: FromPath[str],
    data: JSONBody[ConsentIn],
    api: NamedDependency[ApiState],
    request: Request[Any, Any, Any],
) -> dict[str, Any]:
    """Record a consent (for BIPA, a written release) for a subject."""
    row = api.require("consent").grant(
        subject_id,
        purpose=data.purpose,
        category=data.category,
        evidence_ref=data.evidence_ref,
        expires_at=data.expires_at,
        actor=current_actor(request),
    )
    return _consent_dict(row)


@get(
    "/v1/subjects/{subject_id:str}/consents",
    opt={"permission": Permission.MANAGE_CONSENT},
    sync_to_thread=True,
)
def list_consents(subject_id: FromPath[str], api: NamedDependency[ApiState]) -> dict[str, Any]:
    """Every consent of a subject."""
    return {"consents": [_consent_dict(r) for r in api.require("consent").list(subject_id)]}


@delete(
    "/v1/consents/{consent_id:int}",
    opt={"permission": Permission.MANAGE_CONSENT},
    sync_to_thread=True,
    status_code=200,
)
def revoke_consent(
    consent_id: Annotated[int, PathParameter(ge=1, le=MAX_ROW_ID)],
    api: NamedDependency[ApiState],
    request: Request[Any, Any, Any],
) -> dict[str, Any]:
    """Revoke a consent from now on."""
    changed = api.require("consent").revoke(consent_id, actor=current_actor(request))
    return {"revoked": changed}


def _consent_dict(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "purpose": row.purpose,
        "category": row.category,
        "granted_at": row.granted_at.isoformat(),
        "expires_at": row.expires_at.isoformat() if row.expires_at else None,
        "revoked": row.revoked_at is not None,
    }
