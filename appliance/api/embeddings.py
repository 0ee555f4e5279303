"""OpenAI-compatible ``POST /v1/embeddings`` (text, and image/audio as data: URIs)."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from litestar import Request, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from appliance.api.auth import current_actor
from appliance.api.payloads import check_text_sizes, decode_input, parse_modality
from appliance.api.state import ApiState
from appliance.domain.roles import Permission
from appliance.errors import InvalidInputError, NotFoundError
from appliance.policy.decisions import RequestContext

MAX_INPUTS = 256
DEFAULT_CONTEXT = {"subject_role": "patient", "purpose": "treatment"}


@dataclass
class EmbeddingsBody:
    """The OpenAI request, plus ``modality`` and ``context`` (send with ``extra_body``)."""

    input: Any
    model: str
    encoding_format: str = "float"
    dimensions: int | None = None
    user: str | None = None
    modality: str = "text"
    context: dict[str, Any] | None = None


def _inputs(raw: Any) -> list[str]:
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, list) and raw and all(isinstance(x, str) for x in raw):
        return raw
    if isinstance(raw, list) and raw and all(isinstance(x, int | list) for x in raw):
        raise InvalidInputError(
            "input: token arrays are not supported", remedy="send strings (or data: URIs)"
        )
    raise InvalidInputError("input: must be a string or a non-empty list of strings")


@post("/v1/embeddings", opt={"permission": Permission.EMBED}, sync_to_thread=True, status_code=200)
def create_embeddings(
    data: JSONBody[EmbeddingsBody], api: NamedDependency[ApiState], request: Request[Any, Any, Any]
) -> dict[str, Any]:
    """Embed inputs in the served space; PHI inputs are defended or refused per policy."""
    modality = parse_modality(data.modality)
    texts = _inputs(data.input)
    if len(texts) > MAX_INPUTS:
        raise InvalidInputError(f"input: at most {MAX_INPUTS} inputs per request")
    if modality.value == "text":
        check_text_sizes(
            ((f"input[{i}]", t) for i, t in enumerate(texts)), api.appliance.settings.limits
        )
    encoders = api.require("encoders")
    service = api.require("embeddings")
    known = {encoders.space_name, *(m["id"] for m in encoders.models)}
    if data.model not in known:
        raise NotFoundError(
            f"model {data.model!r} is not served", remedy=f"use one of {', '.join(sorted(known))}"
        )
    if data.encoding_format not in ("float", "base64"):
        raise InvalidInputError("encoding_format: use float or base64")
    if data.dimensions is not None and data.dimensions != encoders.dimension:
        raise InvalidInputError(
            f"dimensions: this space has {encoders.dimension}; other sizes are not offered"
        )
    payloads = [decode_input(modality, t, field=f"input[{i}]") for i, t in enumerate(texts)]
    context = RequestContext.from_mapping(data.context or DEFAULT_CONTEXT, modality=modality)
    vectors, notes = service.embed(
        modality, payloads, context, actor=current_actor(request), encoders=encoders
    )
    rows = []
    for index, vector in enumerate(vectors):
        embedding: Any = (
            base64.b64encode(vector.astype("<f4").tobytes()).decode()
            if data.encoding_format == "base64"
            else vector.tolist()
        )
        row = {"object": "embedding", "index": index, "embedding": embedding}
        if notes[index]:
            row["notes"] = notes[index]
        rows.append(row)
    return {
        "object": "list",
        "data": rows,
        "model": data.model,
        "usage": {"prompt_tokens": 0, "total_tokens": 0},
    }
