"""Authentication and authorisation as one guard: Bearer token -> actor -> permission.

Every route declares ``opt={"permission": Permission.X}`` (or ``{"public": True}``).
Every 401 and 403 is audited (token id when known, route name, reason; never the
presented secret or anything from the path). Repeated failures from one client are
rate-limited, and so is each token's request rate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.utils.helpers import get_name, unwrap_partial
from litestar.utils.sync import AsyncCallable

from appliance.api.errors import ApiError
from appliance.api.limits import RateLimiter, retry_after_header
from appliance.audit import AuditTrail
from appliance.domain.roles import Permission, allows
from appliance.domain.types import Actor
from appliance.services.tokens import TokenService

SCHEMA_PREFIX = "/schema"
ANONYMOUS = Actor(token_id="anonymous", role="none")  # noqa: S106 - an id, not a secret


@dataclass
class AccessControl:
    """The collaborators the guard needs, held in ``app.state.access``."""

    tokens: TokenService
    audit: AuditTrail
    per_token: RateLimiter
    failures: RateLimiter


def route_name(handler: BaseRouteHandler) -> str:
    """A stable, content-free name for a route (its handler function's name)."""
    # litestar wraps a sync_to_thread handler in an AsyncCallable on registration (twice for
    # a path that has several handlers), whose name is "AsyncCallable"; unwrap to the function.
    fn: Any = handler.fn
    while isinstance(fn, AsyncCallable):
        fn = fn.func
    return get_name(unwrap_partial(fn))


def _client(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    return connection.client.host if connection.client else "unknown"


def _deny(
    access: AccessControl,
    actor: Actor,
    route: str,
    status: str,
    reason: str,
) -> None:
    access.audit.append(
        actor=actor,
        action="auth.denied",
        outcome=status,
        details={"route": route, "reason": reason},
    )


def authorize(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """The guard: public routes pass; others need a valid token holding the permission."""
    if handler.opt.get("public") or connection.scope["path"].startswith(SCHEMA_PREFIX):
        return
    access: AccessControl = connection.app.state.access
    route = route_name(handler)
    client = _client(connection)
    waiting = access.failures.blocked_for(client)
    if waiting > 0:
        raise ApiError(
            "rate_limited",
            "too many failed authentication attempts from this client",
            remedy="wait and retry with a valid token",
            headers={"Retry-After": retry_after_header(waiting)},
        )
    header = connection.headers.get("authorization", "")
    scheme, _, presented = header.partition(" ")
    actor = access.tokens.authenticate(presented.strip()) if scheme.lower() == "bearer" else None
    if actor is None:
        access.failures.take(client)
        reason = "missing bearer token" if not header else "invalid, expired or revoked token"
        _deny(access, ANONYMOUS, route, "unauthorized", reason)
        raise ApiError(
            "unauthorized",
            reason,
            remedy="send 'Authorization: Bearer <token>' (see `appliance tokens create`)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    # A route that forgot to declare its permission is admin-only (fail closed).
    permission: Permission = handler.opt.get("permission", Permission.MANAGE_TOKENS)
    if not allows(actor.role, permission):
        _deny(access, actor, route, "forbidden", f"role {actor.role} lacks {permission.value}")
        raise ApiError(
            "forbidden",
            f"the {actor.role} role may not {permission.value}",
            remedy="use a token of a role that holds this permission",
        )
    waiting = access.per_token.take(actor.token_id)
    if waiting > 0:
        raise ApiError(
            "rate_limited",
            "this token's request rate is exceeded",
            remedy="slow down; Retry-After says when to retry",
            headers={"Retry-After": retry_after_header(waiting)},
        )
    connection.scope["user"] = actor
    connection.scope["auth"] = actor.token_id


def current_actor(connection: ASGIConnection[Any, Any, Any, Any]) -> Actor:
    """The authenticated actor of a request (set by the guard)."""
    actor = connection.scope.get("user")
    if not isinstance(actor, Actor):
        raise ApiError("unauthorized", "request is not authenticated")
    return actor
