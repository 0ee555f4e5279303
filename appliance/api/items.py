"""Ingest: screen, embed and store items of a collection."""

from __future__ import annotations

from typing import Any, ClassVar

from litestar import Controller, Request, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from appliance.api.auth import current_actor
from appliance.api.contract import AUTHENTICATED, ENCODING, WITH_BODY, error_responses, to_struct
from appliance.api.dependencies import Available, ServedEncoders
from appliance.api.errors import ApiError
from appliance.api.metrics import ApiMetrics
from appliance.api.payloads import check_text_sizes, decode_input, parse_modality
from appliance.api.schemas import IngestBody, IngestResult, ItemIn
from appliance.domain.roles import Permission
from appliance.errors import ApplianceError, StorageUnavailableError
from appliance.policy.decisions import RequestContext
from appliance.services.ingest import IngestItem, IngestService, ItemOutcome
from appliance.services.items import CollectionService
from appliance.settings import LimitSettings

MAX_ITEMS_PER_BATCH = 256


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


def _refuse_if_storage_failed(results: list[ItemOutcome]) -> None:
    """A batch the disk refused (nothing stored) is a 503 the client retries as a whole."""
    refused = [o for o in results if o.error and o.error.get("code") == "storage_unavailable"]
    if refused and not any(o.status == "stored" for o in results):
        raise StorageUnavailableError(
            str(refused[0].error["message"]),  # type: ignore[index]
            remedy="free disk space or make the data directory writable, then resend the batch",
        )


class ItemController(Controller):
    """Items of a collection."""

    path = "/v1/collections/{collection:str}/items"
    tags: ClassVar[list[str]] = ["items"]

    @post(
        opt={"permission": Permission.WRITE_ITEMS},
        sync_to_thread=True,
        status_code=200,
        responses=error_responses(AUTHENTICATED, WITH_BODY, ENCODING, (409,)),
    )
    def ingest_items(
        self,
        collection: FromPath[str],
        data: JSONBody[IngestBody],
        collections: NamedDependency[CollectionService],
        ingest: NamedDependency[Available[IngestService]],
        encoders: NamedDependency[Available[ServedEncoders]],
        limits: NamedDependency[LimitSettings],
        metrics: NamedDependency[ApiMetrics],
        request: Request[Any, Any, Any],
    ) -> IngestResult:
        """Screen, embed and store items; each item's status and decision comes back."""
        if len(data.items) > MAX_ITEMS_PER_BATCH:
            raise ApiError(
                "payload_too_large",
                f"{len(data.items)} items in one request; the limit is {MAX_ITEMS_PER_BATCH}",
                remedy="split the batch",
            )
        check_text_sizes(
            (
                (f"items[{i}].data", it.data)
                for i, it in enumerate(data.items)
                if it.modality == "text"
            ),
            limits,
        )
        collections.get(collection)
        service = ingest.get()
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
            encoders=encoders.optional(),
        )
        _refuse_if_storage_failed(results)
        for (index, _), outcome in zip(decoded, results, strict=True):
            outcomes[index] = outcome
            metrics.decisions.labels(outcome.status).inc()
        return to_struct({"items": [o.to_dict() for o in outcomes if o is not None]}, IngestResult)
