"""Inputs arrive as text or ``data:`` URIs, never URLs (nothing is ever fetched)."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable

from appliance.domain.types import Modality
from appliance.errors import ApplianceError, InvalidInputError
from appliance.settings import LimitSettings

_DATA_URI = re.compile(
    r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(;[\w.+-]+=[\w.+-]+)*)"
    r"(?P<b64>;base64)?,(?P<data>.*)$",
    re.DOTALL,
)
MAX_ENCODED_CHARS = 80 * 1024 * 1024


def parse_modality(value: object, *, field: str = "modality") -> Modality:
    """A modality named in a request, or an error naming the field and the choices."""
    try:
        return Modality(value)
    except ValueError as exc:
        raise InvalidInputError(
            f"{field}: unknown modality {value!r}", remedy="use text, image or audio"
        ) from exc


def decode_input(modality: Modality | str, data: object, *, field: str = "data") -> bytes | str:
    """Text stays text; image and audio must be base64 ``data:`` URIs and become bytes."""
    kind = parse_modality(modality, field=field)
    if not isinstance(data, str):
        raise InvalidInputError(f"{field}: must be a string")
    if kind is Modality.TEXT:
        if not data.strip():
            raise InvalidInputError(f"{field}: text is empty")
        return data
    if data.startswith(("http://", "https://", "ftp://", "file:", "s3://")):
        raise InvalidInputError(
            f"{field}: URLs are never fetched",
            remedy="send the content inline as a base64 data: URI",
        )
    if len(data) > MAX_ENCODED_CHARS:
        raise InvalidInputError(f"{field}: data URI is larger than the limit")
    match = _DATA_URI.match(data)
    if match is None or not match.group("b64"):
        raise InvalidInputError(
            f"{field}: {kind.value} input must be a base64 data: URI",
            remedy="e.g. data:image/png;base64,iVBORw0...",
        )
    try:
        decoded = base64.b64decode(match.group("data"), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInputError(f"{field}: data URI is not valid base64") from exc
    if not decoded:
        raise InvalidInputError(f"{field}: data URI holds no bytes")
    return decoded


def check_text_sizes(texts: Iterable[tuple[str, object]], limits: LimitSettings) -> None:
    """Refuse (413 ``payload_too_large``) text over the per-input or per-request limit.

    ``texts`` holds ``(field, data)`` for every text input of one request. Runs before any
    detector or encoder sees the text, so the cost of a request is bounded up front.
    """
    total = 0
    for field, data in texts:
        if not isinstance(data, str):
            continue
        size = len(data)
        if size > limits.max_text_chars:
            raise ApplianceError(
                f"{field}: text is {size:,} characters, over the limit of "
                f"{limits.max_text_chars:,} (limits.max_text_chars)",
                remedy="split the text into smaller items",
                code="payload_too_large",
            )
        total += size
    if total > limits.max_request_text_chars:
        raise ApplianceError(
            f"the request holds {total:,} characters of text, over the limit of "
            f"{limits.max_request_text_chars:,} per request (limits.max_request_text_chars)",
            remedy="send fewer or shorter texts per request",
            code="payload_too_large",
        )
