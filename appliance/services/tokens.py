"""API bearer tokens: created once (the secret is shown once), stored hashed, revocable.

Format: ``apl_<id>_<secret>``. The id (public, 12 hex) names the token in logs and the
audit trail; only SHA-256 of the 256-bit secret is stored, compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update

from appliance.audit import AuditTrail
from appliance.clock import Clock
from appliance.domain.roles import Role
from appliance.domain.types import Actor
from appliance.errors import InvalidInputError, NotFoundError
from appliance.store.database import Database
from appliance.store.schema import api_tokens

PREFIX = "apl"


@dataclass(frozen=True)
class TokenInfo:
    """A token as listed (never its secret)."""

    id: str
    role: str
    label: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class TokenService:
    """Create, list, revoke and authenticate API tokens."""

    def __init__(self, database: Database, audit: AuditTrail, clock: Clock) -> None:
        self._database = database
        self._audit = audit
        self._clock = clock

    def create(
        self, role: str, *, actor: Actor, label: str = "", ttl: timedelta | None = None
    ) -> str:
        """A new token for ``role``; returns the full token string (shown once)."""
        try:
            role = Role(role).value
        except ValueError as exc:
            raise InvalidInputError(
                f"unknown role {role!r}", remedy=f"use one of {', '.join(r.value for r in Role)}"
            ) from exc
        if len(label) > 80:
            raise InvalidInputError("label is longer than 80 characters")
        token_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        now = self._clock.now()
        with self._database.write() as connection:
            connection.execute(
                api_tokens.insert().values(
                    id=token_id,
                    role=role,
                    label=label,
                    secret_hash=_digest(secret),
                    created_at=now,
                    expires_at=now + ttl if ttl else None,
                )
            )
            self._audit.append(
                actor=actor,
                action="tokens.create",
                outcome="ok",
                details={"token_id": token_id, "role": role},
            )
        return f"{PREFIX}_{token_id}_{secret}"

    def list(self) -> list[TokenInfo]:
        """Every token, newest first."""
        with self._database.read() as connection:
            rows = connection.execute(
                select(api_tokens).order_by(api_tokens.c.created_at.desc())
            ).all()
        return [
            TokenInfo(
                r.id, r.role, r.label, r.created_at, r.expires_at, r.revoked_at, r.last_used_at
            )
            for r in rows
        ]

    def revoke(self, token_id: str, *, actor: Actor) -> None:
        """Revoke a token at once; idempotent."""
        with self._database.write() as connection:
            result = connection.execute(
                update(api_tokens)
                .where(api_tokens.c.id == token_id)
                .values(revoked_at=self._clock.now())
            )
            if not result.rowcount:
                raise NotFoundError(f"no token with id {token_id!r}")
            self._audit.append(
                actor=actor, action="tokens.revoke", outcome="ok", details={"token_id": token_id}
            )

    def authenticate(self, presented: str) -> Actor | None:
        """The actor behind a presented token, or None if unknown, wrong, expired or revoked."""
        parts = presented.split("_", 2) if isinstance(presented, str) else []
        if len(parts) != 3 or parts[0] != PREFIX or len(parts[1]) != 12:
            return None
        token_id, secret = parts[1], parts[2]
        with self._database.read() as connection:
            row = connection.execute(select(api_tokens).where(api_tokens.c.id == token_id)).first()
        if row is None or not hmac.compare_digest(bytes(row.secret_hash), _digest(secret)):
            return None
        now = self._clock.now()
        if row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now):
            return None
        return Actor(token_id=row.id, role=row.role)


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()
