"""JSON errors with a stable machine code, a human message and a remedy; never a bare 500."""

from __future__ import annotations

import re
from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from appliance.errors import ApplianceError, storage_error_from
from appliance.observability import exception_summary, get_logger

log = get_logger(__name__)

STATUS_BY_CODE: dict[str, int] = {
    "invalid_input": 422,
    "config_invalid": 500,
    "not_found": 404,
    "conflict": 409,
    "busy": 429,
    "rate_limited": 429,
    "payload_too_large": 413,
    "unauthorized": 401,
    "forbidden": 403,
    "audit_unavailable": 503,
    "integrity_failure": 503,
    "key_unavailable": 503,
    "not_ready": 503,
    "unsupported_media": 415,
    "policy_denied": 403,
    "query_refused": 403,
    "risk_audit_failed": 403,
    "unavailable": 503,
    "timeout": 504,
    "deadline_exceeded": 504,
    "client_closed_request": 499,
    "encoder_failed": 503,
    "storage_unavailable": 503,
    "invalid_json": 400,
    "bad_request": 400,
    "method_not_allowed": 405,
    "internal_error": 500,
    "appliance_error": 500,
    "policy_invalid": 503,
    "space_unavailable": 503,
}
"""Every code the API answers with (``contract.ErrorCode``); docs/api.md lists each (tests
keep the three in step)."""

_OBJECT_REPR = re.compile(r"<[\w.]+ object at 0x[0-9a-fA-F]+>")


def public_message(message: str) -> str:
    """``message`` without Python object reprs (``<_io.BytesIO object at 0x...>``)."""
    return _OBJECT_REPR.sub("the input", message)


class ApiError(ApplianceError):
    """An error raised by the HTTP layer itself (auth, limits)."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        remedy: str = "",
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message, remedy=remedy, code=code)
        self.headers = headers or {}


def error_body(code: str, message: str, remedy: str = "", **extra: Any) -> dict[str, Any]:
    """The one error shape every route uses."""
    body: dict[str, Any] = {"code": code, "message": message, "remedy": remedy}
    body.update(extra)
    return {"error": body}


def handle_appliance_error(_: Request[Any, Any, Any], exc: ApplianceError) -> Response[Any]:
    """Map our errors to their status with the JSON body."""
    status = STATUS_BY_CODE.get(exc.code)
    code = exc.code
    if status is None:  # a code the contract does not list: answered as a plain 400
        log.warning("api.unlisted_error_code", code=exc.code)
        status, code = 400, "bad_request"
    headers = dict(getattr(exc, "headers", {}) or {})
    retry = getattr(exc, "retry_after_s", None)
    if retry is not None:
        headers.setdefault("Retry-After", str(max(1, round(float(retry)))))
    if status >= 500:
        log.error("api.error", code=exc.code, error=exc.message)
    return Response(
        error_body(code, public_message(exc.message), exc.remedy),
        status_code=status,
        headers=headers,
        media_type=MediaType.JSON,
    )


def handle_http_exception(_: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    """Framework errors (404 route, 405, 413, validation) in our JSON shape."""
    status = exc.status_code
    if isinstance(exc, ValidationException):
        extra = exc.extra if isinstance(exc.extra, list) else []
        problems = [
            f"{e.get('key', 'body')}: {e.get('message', 'invalid')}"
            for e in extra
            if isinstance(e, dict)
        ]
        message = "request body is invalid" + (f": {'; '.join(problems)}" if problems else "")
        return Response(
            error_body("invalid_input", message[:2000], "fix the named fields and resend"),
            status_code=422 if status == 400 else status,
            media_type=MediaType.JSON,
        )
    code = {
        400: "bad_request",
        401: "unauthorized",
        403: "forbidden",
        404: "not_found",
        405: "method_not_allowed",
        413: "payload_too_large",
        415: "unsupported_media",
        429: "rate_limited",
    }.get(status, "bad_request" if status < 500 else "internal_error")
    remedy = "send a smaller body or fewer items per request" if status == 413 else ""
    return Response(
        error_body(code, public_message(str(exc.detail)), remedy),
        status_code=status,
        headers=exc.headers or None,
        media_type=MediaType.JSON,
    )


def handle_unexpected(_: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Anything else: logged, answered as a JSON 500 without internals.

    A disk that is full, read-only or failing is the operator's to fix: 503
    ``storage_unavailable`` (nothing was acknowledged, the operation did not finish).
    """
    storage = storage_error_from(exc) or storage_error_from(exc.__cause__ or exc.__context__)
    if storage is not None:
        return handle_appliance_error(_, storage)
    log.error("api.unexpected", error_type=type(exc).__name__, error=exception_summary(exc))
    return Response(
        error_body(
            "internal_error",
            "the appliance hit an unexpected error",
            "retry; if it persists, check the service log",
        ),
        status_code=HTTP_500_INTERNAL_SERVER_ERROR,
        media_type=MediaType.JSON,
    )
