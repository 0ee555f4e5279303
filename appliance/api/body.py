"""JSON request bodies parsed under bounds: strict UTF-8, bounded nesting, clear 400s.

Litestar's own parsing turns invalid UTF-8 inside a string and deep nesting into 500s
(``UnicodeDecodeError``, ``RecursionError``). ``GuardedRequest.json`` replaces it for
every route: the body (already capped by the app's body-size limit) is decoded by
msgspec, whose C decoder stops deep nesting with a ``RecursionError`` before it costs
anything; the decoded value's depth is then measured without recursion, so no handler,
policy rule or metadata encoder ever sees more than ``limits.max_json_depth`` levels.
Every refusal is a 400 with code ``invalid_json`` naming the problem. The check runs at
body extraction, after authentication and authorisation (guards run first).
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request
from litestar.types import Empty

from appliance.api.errors import ApiError

DEFAULT_MAX_DEPTH = 32
_REMEDY_JSON = "send a UTF-8 JSON object as the body (Content-Type: application/json)"


def json_depth_exceeds(value: Any, limit: int) -> bool:
    """True when arrays/objects in ``value`` nest deeper than ``limit`` (iterative walk)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def parse_json_body(body: bytes, *, max_depth: int = DEFAULT_MAX_DEPTH) -> Any:
    """Decode a request body or raise a 400 ``invalid_json`` that names the problem."""
    try:
        value = msgspec.json.decode(body or b"null")
    except UnicodeDecodeError as exc:
        raise ApiError(
            "invalid_json",
            f"request body is not valid UTF-8 (bad byte 0x{body[exc.start]:02x} at offset "
            f"{exc.start}: {exc.reason})",
            remedy="encode every string as UTF-8; binary content goes in base64 data: URIs",
        ) from None
    except RecursionError:
        value = None
        too_deep = True
    except msgspec.DecodeError as exc:
        raise ApiError(
            "invalid_json", f"request body is not valid JSON: {exc}", remedy=_REMEDY_JSON
        ) from None
    else:
        too_deep = json_depth_exceeds(value, max_depth)
    if too_deep:
        raise ApiError(
            "invalid_json",
            f"request body nests arrays/objects deeper than {max_depth} levels "
            "(limits.max_json_depth)",
            remedy="flatten the metadata or filter",
        )
    return value


class GuardedRequest(Request[Any, Any, Any]):
    """Litestar's request with ``json()`` parsed by ``parse_json_body``."""

    async def json(self) -> Any:
        """The body as JSON, within the app's depth limit (``app.state.max_json_depth``)."""
        if self._json is Empty:
            parsed = self._connection_state.json
            if parsed is Empty:
                body = await self.body()
                depth = int(self.app.state.get("max_json_depth", DEFAULT_MAX_DEPTH))
                parsed = self._connection_state.json = parse_json_body(body, max_depth=depth)
            self._json = parsed
        return self._json
