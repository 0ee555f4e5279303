"""OpenAI-compatible ``POST /v1/embeddings`` (text, and image/audio as data: URIs) and the
model list ``GET /v1/models``."""

from __future__ import annotations

import base64
from typing import Any, ClassVar

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from appliance.api.auth import current_actor
from appliance.api.contract import AUTHENTICATED, ENCODING, WITH_BODY, error_responses
from appliance.api.dependencies import Available, ServedEncoders, semantic_by_modality
from appliance.api.payloads import check_text_sizes, decode_input, parse_modality
from appliance.api.schemas import Embedding, EmbeddingList, EmbeddingsBody, Model, ModelList, Usage
from appliance.domain.roles import Permission
from appliance.errors import InvalidInputError, NotFoundError
from appliance.policy.decisions import RequestContext
from appliance.services.ingest import EmbeddingService
from appliance.settings import LimitSettings

MAX_INPUTS = 256
DEFAULT_CONTEXT = {"subject_role": "patient", "purpose": "treatment"}


def input_texts(raw: str | list[str]) -> list[str]:
    """The request's inputs as a list (one string, or a non-empty list of strings)."""
    if isinstance(raw, str):
        return [raw]
    if raw and all(isinstance(x, str) for x in raw):
        return raw
    raise InvalidInputError("input: must be a string or a non-empty list of strings")


def tokens_read(notes: list[dict[str, Any]]) -> int:
    """Tokens the text model read: its tokenizer's count per input, capped at the limit
    it truncates to (image and audio inputs count none)."""
    total = 0
    for note in notes:
        tokens = note.get("tokens")
        if isinstance(tokens, int):
            limit = note.get("token_limit")
            total += min(tokens, limit) if isinstance(limit, int) else tokens
    return total


class EmbeddingsController(Controller):
    """Vectors in the served space (OpenAI's embeddings API)."""

    path = "/v1/embeddings"
    tags: ClassVar[list[str]] = ["embeddings"]

    @post(
        opt={"permission": Permission.EMBED},
        sync_to_thread=True,
        status_code=200,
        responses=error_responses(AUTHENTICATED, WITH_BODY, ENCODING),
    )
    def create_embeddings(
        self,
        data: JSONBody[EmbeddingsBody],
        embeddings: NamedDependency[Available[EmbeddingService]],
        encoders: NamedDependency[Available[ServedEncoders]],
        limits: NamedDependency[LimitSettings],
        request: Request[Any, Any, Any],
    ) -> EmbeddingList:
        """Embed inputs in the served space; PHI inputs are defended or refused per policy."""
        modality = parse_modality(data.modality)
        texts = input_texts(data.input)
        if len(texts) > MAX_INPUTS:
            raise InvalidInputError(f"input: at most {MAX_INPUTS} inputs per request")
        if modality.value == "text":
            check_text_sizes(((f"input[{i}]", t) for i, t in enumerate(texts)), limits)
        served = encoders.get()
        service = embeddings.get()
        known = {served.space_name, *(m["id"] for m in served.models)}
        if data.model not in known:
            raise NotFoundError(
                f"model {data.model!r} is not served",
                remedy=f"use one of {', '.join(sorted(known))}",
            )
        if data.dimensions is not None and data.dimensions != served.dimension:
            raise InvalidInputError(
                f"dimensions: this space has {served.dimension}; other sizes are not offered"
            )
        payloads = [decode_input(modality, t, field=f"input[{i}]") for i, t in enumerate(texts)]
        context = RequestContext.from_mapping(data.context or DEFAULT_CONTEXT, modality=modality)
        vectors, notes = service.embed(
            modality, payloads, context, actor=current_actor(request), encoders=served
        )
        rows = []
        for index, vector in enumerate(vectors):
            embedding: list[float] | str = (
                base64.b64encode(vector.astype("<f4").tobytes()).decode()
                if data.encoding_format == "base64"
                else vector.tolist()
            )
            rows.append(
                Embedding(
                    object="embedding", index=index, embedding=embedding, notes=notes[index] or None
                )
            )
        tokens = tokens_read(notes) if modality.value == "text" else 0
        semantic = semantic_by_modality(served)
        return EmbeddingList(
            object="list",
            data=rows,
            model=data.model,
            usage=Usage(prompt_tokens=tokens, total_tokens=tokens),
            semantic={modality.value: semantic.get(modality.value, False)},
        )


class ModelController(Controller):
    """The served space and its models."""

    path = "/v1/models"
    tags: ClassVar[list[str]] = ["models"]

    @get(
        opt={"permission": Permission.LIST_MODELS},
        sync_to_thread=False,
        responses=error_responses(AUTHENTICATED),
    )
    def list_models(self, encoders: NamedDependency[Available[ServedEncoders]]) -> ModelList:
        """The served space and its models, non-semantic ones labelled (OpenAI list shape)."""
        served = encoders.optional()
        if served is None:
            return ModelList(object="list", data=[])
        data = [
            Model(
                id=served.space_name,
                object="model",
                owned_by="appliance",
                semantic=served.semantic,
                space_version=served.space_version,
                dimension=served.dimension,
                modalities=sorted(m.value for m in served.engines),
            )
        ]
        data += [
            Model(
                id=str(m["id"]),
                object="model",
                owned_by="appliance",
                semantic=bool(m.get("semantic", True)),
                family=m.get("family"),
                dimension=m.get("dimension"),
                modalities=list(m.get("modalities") or []) or None,
            )
            for m in served.models
        ]
        return ModelList(object="list", data=data)
