"""Collections, erasure, audit export and the model list."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from litestar import Request, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody

from appliance.api.auth import current_actor
from appliance.api.state import ApiState
from appliance.audit import export_jsonl
from appliance.domain.roles import Permission
from appliance.errors import InvalidInputError


@dataclass
class CreateCollection:
    """POST /v1/collections body."""

    name: str
    dimension: int | None = None


@post(
    "/v1/collections",
    opt={"permission": Permission.MANAGE_COLLECTIONS},
    sync_to_thread=True,
    status_code=201,
)
def create_collection(
    data: JSONBody[CreateCollection],
    api: NamedDependency[ApiState],
    request: Request[Any, Any, Any],
) -> dict[str, Any]:
    """Create a collection in the served space's dimension."""
    dimension = data.dimension
    served = api.encoders.dimension if api.encoders else None
    if dimension is None:
        if served is None:
            raise InvalidInputError("dimension is required: no embedding space is served")
        dimension = served
    elif served is not None and dimension != served:
        raise InvalidInputError(
            f"dimension {dimension} differs from the served space's {served}",
            remedy="leave dimension out to use the served space's",
        )
    row = api.appliance.collections.create(data.name, dimension, current_actor(request))
    return {"name": row.name, "dimension": row.dimension, "created_at": row.created_at.isoformat()}


@get("/v1/collections", opt={"permission": Permission.SEARCH}, sync_to_thread=True)
def list_collections(api: NamedDependency[ApiState]) -> dict[str, Any]:
    """Every collection's name and dimension."""
    return {
        "collections": [
            {"name": c.name, "dimension": c.dimension} for c in api.appliance.collections.list()
        ]
    }


@delete(
    "/v1/subjects/{subject_id:str}",
    opt={"permission": Permission.ERASE},
    sync_to_thread=True,
    status_code=200,
)
def erase_subject(
    subject_id: FromPath[str],
    api: NamedDependency[ApiState],
    request: Request[Any, Any, Any],
    shred_now: FromQuery[bool] = False,
) -> dict[str, int]:
    """Erase a subject everywhere by destroying their key (idempotent); ``?shred_now=true``
    also rotates the KEK at once so backups taken before the erasure stop opening."""
    erased = api.appliance.erasure.erase_subject(
        subject_id, actor=current_actor(request), shred_now=shred_now
    )
    return {"deleted": erased}


@get(
    "/v1/audit/export",
    opt={"permission": Permission.READ_AUDIT},
    sync_to_thread=True,
    media_type="application/x-ndjson",
)
def audit_export(
    api: NamedDependency[ApiState], request: Request[Any, Any, Any]
) -> Response[bytes]:
    """The audit trail as JSON lines (auditor); the export itself is audited."""
    actor = current_actor(request)
    api.appliance.audit.append(actor=actor, action="audit.export", outcome="ok")
    buffer = io.StringIO()
    export_jsonl(api.appliance.settings.data_dir / "audit", buffer)
    return Response(buffer.getvalue().encode(), media_type="application/x-ndjson")


@get("/v1/models", opt={"permission": Permission.LIST_MODELS}, sync_to_thread=False)
def list_models(api: NamedDependency[ApiState]) -> dict[str, Any]:
    """The served space and its models, non-semantic ones labelled (OpenAI list shape)."""
    encoders = api.encoders
    if encoders is None:
        return {"object": "list", "data": []}
    data = [
        {
            "id": encoders.space_name,
            "object": "model",
            "owned_by": "appliance",
            "space_version": encoders.space_version,
            "dimension": encoders.dimension,
            "modalities": sorted(m.value for m in encoders.engines),
            "semantic": encoders.semantic,
        }
    ]
    data += [{"object": "model", "owned_by": "appliance", **m} for m in encoders.models]
    return {"object": "list", "data": data}
