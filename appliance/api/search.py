"""Search a collection with a query in any modality."""

from __future__ import annotations

from typing import Any, ClassVar

from litestar import Controller, Request, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from appliance.api.auth import current_actor
from appliance.api.contract import AUTHENTICATED, ENCODING, WITH_BODY, error_responses
from appliance.api.dependencies import Available, ServedEncoders, semantic_by_modality
from appliance.api.payloads import check_text_sizes, decode_input, parse_modality
from appliance.api.schemas import SearchBody, SearchHit, SearchResult
from appliance.domain.roles import Permission
from appliance.policy.decisions import RequestContext
from appliance.services.items import CollectionService
from appliance.services.search import DEFAULT_QUERY_CONTEXT, SearchService
from appliance.settings import LimitSettings


class SearchController(Controller):
    """Nearest items of a collection."""

    path = "/v1/collections/{collection:str}/search"
    tags: ClassVar[list[str]] = ["search"]

    @post(
        opt={"permission": Permission.SEARCH},
        sync_to_thread=True,
        status_code=200,
        responses=error_responses(AUTHENTICATED, WITH_BODY, ENCODING),
    )
    def search(
        self,
        collection: FromPath[str],
        data: JSONBody[SearchBody],
        collections: NamedDependency[CollectionService],
        search: NamedDependency[Available[SearchService]],
        encoders: NamedDependency[Available[ServedEncoders]],
        limits: NamedDependency[LimitSettings],
        request: Request[Any, Any, Any],
    ) -> SearchResult:
        """Nearest items in any modality that the caller may see; the query is screened
        first and a refused one is a 403 ``query_refused``."""
        if data.query.modality == "text":
            check_text_sizes([("query.data", data.query.data)], limits)
        actor = current_actor(request)
        served = encoders.get()
        service = search.get()
        collections.get(collection)
        wanted = [parse_modality(m, field="modalities") for m in data.modalities or ()] or None
        modality = parse_modality(data.query.modality, field="query.modality")
        payload = decode_input(modality, data.query.data, field="query.data")
        context = RequestContext.from_mapping(
            data.context or DEFAULT_QUERY_CONTEXT, modality=modality
        )
        hits = service.search(
            collection,
            modality,
            payload,
            context,
            k=data.k,
            actor=actor,
            encoders=served,
            modalities=wanted,
            metadata_filter=data.filter,
            subject_id=data.query.subject_id,
        )
        semantic = semantic_by_modality(served)
        return SearchResult(
            results=[
                SearchHit(
                    id=h.item_id,
                    score=float(h.score),
                    modality=h.modality.value,
                    metadata=h.metadata,
                    semantic=semantic.get(h.modality.value, False),
                )
                for h in hits
            ],
            semantic=semantic,
        )
