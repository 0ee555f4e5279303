"""The error half of the API contract: one error body, every code, and the statuses each
route declares in the OpenAPI document (``responses=`` of every handler).

Every error the API answers is ``{"error": {"code", "message", "remedy"}}``; ``code`` is
one of ``ErrorCode`` (``STATUS_BY_CODE`` in ``appliance.api.errors`` maps each to its
status; a test keeps the two and docs/api.md in step).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal, get_args

import msgspec
from litestar.openapi.datastructures import ResponseSpec

ErrorCode = Literal[
    "invalid_json",
    "bad_request",
    "unauthorized",
    "forbidden",
    "policy_denied",
    "query_refused",
    "risk_audit_failed",
    "not_found",
    "method_not_allowed",
    "conflict",
    "payload_too_large",
    "unsupported_media",
    "invalid_input",
    "busy",
    "rate_limited",
    "client_closed_request",
    "internal_error",
    "appliance_error",
    "config_invalid",
    "storage_unavailable",
    "audit_unavailable",
    "integrity_failure",
    "key_unavailable",
    "not_ready",
    "unavailable",
    "space_unavailable",
    "policy_invalid",
    "encoder_failed",
    "deadline_exceeded",
    "timeout",
]
ERROR_CODES: tuple[str, ...] = get_args(ErrorCode)


class ErrorDetail(msgspec.Struct):
    """What went wrong: a stable machine ``code``, a human ``message`` and a ``remedy``."""

    code: ErrorCode
    message: str
    remedy: str


class ErrorBody(msgspec.Struct):
    """The one error shape of every route."""

    error: ErrorDetail


class DriftModality(msgspec.Struct):
    """Drift of one modality against the space's baseline."""

    samples: int
    score: float | None
    """None until the modality has a baseline and enough samples to score."""
    scores: dict[str, float]
    baseline: bool


class DriftDetails(msgspec.Struct):
    """The served space's drift (``/readyz``)."""

    threshold: float
    drifting: list[str]
    modalities: dict[str, DriftModality]


class NotReadyDetail(msgspec.Struct):
    """A failed readiness check: ``checks`` names each failure."""

    code: ErrorCode
    message: str
    remedy: str
    checks: list[str]
    drift: DriftDetails | None = None


class NotReadyBody(msgspec.Struct):
    """``/readyz`` when not ready (503)."""

    error: NotReadyDetail


AUTHENTICATED = (401, 403, 429, 500, 503)
"""Any route behind the guard: no/bad token, role, rate limit, a bug, storage or audit."""
WITH_BODY = (400, 413, 415, 422)
"""A route that reads a JSON body: bad JSON, too large, wrong type, invalid fields."""
WITH_PATH = (400, 404, 422)
"""A route with a path parameter: nothing by that name, a parameter out of range
(the framework's own 400 for a malformed request is answered in our shape too)."""
ENCODING = (404, 422, 429, 504)
"""A route that runs the encoders: model/collection unknown, busy, deadline."""


def codes_for(status: int) -> list[str]:
    """Every error code answered with ``status``."""
    from appliance.api.errors import STATUS_BY_CODE

    return sorted(code for code, value in STATUS_BY_CODE.items() if value == status)


def error_responses(*groups: Iterable[int]) -> dict[int, ResponseSpec]:
    """``responses=`` for a handler: each status of ``groups`` answers ``ErrorBody``."""
    statuses = sorted({status for group in groups for status in group})
    return {
        status: ResponseSpec(
            data_container=ErrorBody,
            generate_examples=False,
            description="Error; code one of: " + ", ".join(codes_for(status)),
        )
        for status in statuses
    }


def to_struct(value: Any, kind: type[Any]) -> Any:
    """A service's JSON-shaped result as the typed response struct (validated)."""
    return msgspec.convert(value, kind, strict=False)
