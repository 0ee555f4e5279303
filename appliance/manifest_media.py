"""The media of a JSON-lines manifest line (alignment pairs, risk-audit probe sets): a
``"file"`` relative to the manifest's folder or an inline base64 ``"data"`` URI. Nothing
is fetched from the network; errors name the manifest line."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from pathlib import Path

from appliance.errors import InvalidInputError


def decode_data_uri(uri: str, where: str) -> bytes:
    """The bytes of a base64 ``data:`` URI, or an error naming ``where``."""
    head, sep, body = uri.partition(",")
    if not uri.startswith("data:") or not sep or not head.endswith(";base64"):
        raise InvalidInputError(f"{where}: 'data' must be a base64 data: URI")
    try:
        return base64.b64decode(body, validate=True)
    except binascii.Error as exc:
        raise InvalidInputError(f"{where}: 'data' is not valid base64") from exc


def media_bytes(record: Mapping[str, object], base: Path, where: str) -> bytes:
    """The bytes behind a line's ``"data"`` URI, else its ``"file"`` (under ``base``)."""
    if "data" in record:
        return decode_data_uri(str(record["data"]), where)
    path = base / str(record["file"])
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InvalidInputError(f"{where}: cannot read {path} ({exc.strerror})") from exc
