"""Authentication and authorisation as one guard: Bearer token -> actor -> permission.

Every route declares ``opt={"permission": Permission.X}`` (or ``{"public": True}``).
Every 401 and 403 is audited (token id when known, route name, reason, client address;
never the presented secret or anything from the path). The token is checked first:
repeated *failures* from one client address lock that address out for further failures
(429, audited once as ``auth.lockout`` with the address), while a valid token keeps
working from it, so nobody can lock a clinic's shared address out by sending bad tokens.
Each token's request rate is limited too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.utils.helpers import get_name, unwrap_partial
from litestar.utils.sync import AsyncCallable

from appliance.api.errors import ApiError
from appliance.api.limits import FailureLockout, Lockout, RateLimiter, retry_after_header
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
    failures: FailureLockout


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
    client: str,
) -> None:
    access.audit.append(
        actor=actor,
        action="auth.denied",
        outcome=status,
        details={"route": route, "reason": reason, "client": client},
    )


def _audit_lockout(access: AccessControl, lockout: Lockout, route: str) -> None:
    access.audit.append(
        actor=ANONYMOUS,
        action="auth.lockout",
        outcome="locked",
        details={
            "client": lockout.client,
            "route": route,
            "failures": lockout.failures,
            "seconds": lockout.seconds,
            "refused_in_previous_lockout": lockout.refused_before,
        },
    )


def _refuse_failure(
    connection: ASGIConnection[Any, Any, Any, Any], route: str, header: str, client: str
) -> ApiError:
    """The error for a failed authentication: 429 while the client is locked out (not
    audited again: its ``auth.lockout`` entry stands for it), else an audited 401."""
    access: AccessControl = connection.app.state.access
    waiting = access.failures.refuse(client)
    if waiting > 0:
        return ApiError(
            "rate_limited",
            "too many failed authentication attempts from this client address",
            remedy="wait for Retry-After; requests with a valid token are not affected",
            headers={"Retry-After": retry_after_header(waiting)},
        )
    lockout = access.failures.record_failure(client)
    reason = "missing bearer token" if not header else "invalid, expired or revoked token"
    _deny(access, ANONYMOUS, route, "unauthorized", reason, client)
    if lockout is not None:
        _audit_lockout(access, lockout, route)
    return ApiError(
        "unauthorized",
        reason,
        remedy="send 'Authorization: Bearer <token>' (see `appliance tokens create`)",
        headers={"WWW-Authenticate": "Bearer"},
    )


def authorize(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """The guard: public routes pass; others need a valid token holding the permission."""
    if handler.opt.get("public") or connection.scope["path"].startswith(SCHEMA_PREFIX):
        return
    access: AccessControl = connection.app.state.access
    route = route_name(handler)
    client = _client(connection)
    header = connection.headers.get("authorization", "")
    scheme, _, presented = header.partition(" ")
    actor = access.tokens.authenticate(presented.strip()) if scheme.lower() == "bearer" else None
    if actor is None:
        raise _refuse_failure(connection, route, header, client)
    # A route that forgot to declare its permission is admin-only (fail closed).
    permission: Permission = handler.opt.get("permission", Permission.MANAGE_TOKENS)
    if not allows(actor.role, permission):
        _deny(
            access, actor, route, "forbidden", f"role {actor.role} lacks {permission.value}", client
        )
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
