"""Request and response types of every route (the success half of the API contract).

Requests are dataclasses (litestar validates them with msgspec and answers 422 naming the
field); responses are msgspec structs, so ``/schema/openapi.json`` describes every body a
client can get. Free-form parts stay free-form and say so: item ``metadata``, detector
``facts`` and finding ``location`` are JSON objects the client or the detector chose.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import msgspec

from appliance.api.contract import DriftDetails

# ----------------------------------------------------------------------------- requests


@dataclass
class CreateCollection:
    """POST /v1/collections body."""

    name: str
    dimension: int | None = None


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


@dataclass
class EmbeddingsBody:
    """The OpenAI request, plus ``modality`` and ``context`` (send with ``extra_body``).

    ``input`` is one string or a list of strings (image and audio as ``data:`` URIs);
    OpenAI's token-id arrays are not taken (the appliance tokenises with its own model).
    """

    input: str | list[str]
    model: str
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = None
    user: str | None = None
    modality: str = "text"
    context: dict[str, Any] | None = None


# ---------------------------------------------------------------------------- responses


class Collection(msgspec.Struct):
    """A collection (its vectors all have ``dimension`` components)."""

    name: str
    dimension: int


class CollectionCreated(msgspec.Struct):
    """POST /v1/collections (201)."""

    name: str
    dimension: int
    created_at: str


class CollectionList(msgspec.Struct):
    """GET /v1/collections."""

    collections: list[Collection]


class Erased(msgspec.Struct):
    """DELETE /v1/subjects/{id}: how many items were erased."""

    deleted: int


class Obligation(msgspec.Struct, omit_defaults=True):
    """One obligation of a decision; the fields beyond ``type`` and ``rules`` depend on it."""

    type: str
    rules: list[str]
    reason: str | None = None
    categories: list[str] | None = None
    satisfied: bool | None = None
    consent_ids: list[int] | None = None
    method: str | None = None
    name: str | None = None
    params: dict[str, Any] | None = None
    deadline: str | None = None
    period: str | None = None
    basis: str | None = None
    roles: list[str] | None = None


class Reason(msgspec.Struct):
    """Why: the rule that applied, its citation and text."""

    rule: str
    citation: str
    text: str


class Decision(msgspec.Struct):
    """The policy decision on an input."""

    outcome: str
    obligations: list[Obligation]
    categories: list[str]
    regimes: list[str]
    reasons: list[Reason]
    retention_deadline: str | None
    visible_to: list[str] | None
    policy_hash: str
    decided_at: str


class ItemError(msgspec.Struct):
    """Why one item of a batch failed (the batch itself succeeded)."""

    code: str
    message: str


class ItemResult(msgspec.Struct, omit_defaults=True):
    """One ingested item: ``stored``, ``denied`` or ``failed``, with its decision."""

    id: str | None
    status: Literal["stored", "denied", "failed"]
    decision: Decision | None
    error: ItemError | None = None
    notes: dict[str, Any] | None = None


class IngestResult(msgspec.Struct):
    """POST /v1/collections/{c}/items: each item's fate, in request order."""

    items: list[ItemResult]


class SearchHit(msgspec.Struct):
    """One result: ``semantic`` is false when its modality's vectors carry no meaning
    (a random-weight model): its score then says nothing about similarity."""

    id: str
    score: float
    modality: str
    metadata: dict[str, Any]
    semantic: bool


class SearchResult(msgspec.Struct):
    """POST /v1/collections/{c}/search; ``semantic`` per modality of the query and hits."""

    results: list[SearchHit]
    semantic: dict[str, bool]


class Finding(msgspec.Struct):
    """What a detector found (never the content): kind, detector, score, where."""

    kind: str
    detector: str
    modality: str
    score: float
    location: dict[str, Any]


class Classified(msgspec.Struct):
    """POST /v1/classify: findings and the decision; ``admitted`` says whether it would
    be embedded."""

    modality: str
    format: str
    size_bytes: int
    facts: dict[str, Any]
    findings: list[Finding]
    categories: list[str]
    regimes: list[str]
    decision: Decision | None
    admitted: bool


class Consent(msgspec.Struct):
    """A consent on record for a subject."""

    id: int
    purpose: str
    category: str
    granted_at: str
    expires_at: str | None
    revoked: bool


class ConsentList(msgspec.Struct):
    """GET /v1/subjects/{id}/consents."""

    consents: list[Consent]


class Revoked(msgspec.Struct):
    """DELETE /v1/consents/{id}: false when it was already revoked."""

    revoked: bool


class Embedding(msgspec.Struct, omit_defaults=True):
    """One vector: floats, or base64 of little-endian float32 (``encoding_format``)."""

    object: Literal["embedding"]
    index: int
    embedding: list[float] | str
    notes: dict[str, Any] | None = None


class Usage(msgspec.Struct):
    """Tokens the text model read (its own tokenizer's count; 0 for image and audio)."""

    prompt_tokens: int
    total_tokens: int


class EmbeddingList(msgspec.Struct):
    """POST /v1/embeddings (OpenAI's shape); ``semantic`` says, for the request's
    modality, whether the vectors carry meaning (false: random weights, smoke tests)."""

    object: Literal["list"]
    data: list[Embedding]
    model: str
    usage: Usage
    semantic: dict[str, bool]


class Model(msgspec.Struct, omit_defaults=True):
    """A served space or one of its models (OpenAI's model shape, non-semantic labelled)."""

    id: str
    object: Literal["model"]
    owned_by: str
    semantic: bool
    space_version: str | None = None
    family: str | None = None
    dimension: int | None = None
    modalities: list[str] | None = None


class ModelList(msgspec.Struct):
    """GET /v1/models."""

    object: Literal["list"]
    data: list[Model]


class Alive(msgspec.Struct):
    """GET /healthz."""

    status: Literal["alive"]


class Ready(msgspec.Struct, omit_defaults=True):
    """GET /readyz when ready; ``warnings`` are conditions to act on that do not stop
    serving."""

    status: Literal["ready"]
    warnings: list[str] | None = None
    drift: DriftDetails | None = None
