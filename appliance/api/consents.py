"""Consents of a subject (for BIPA, written releases): grant, list, revoke."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from litestar import Controller, Request, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, PathParameter

from appliance.api.auth import current_actor
from appliance.api.contract import AUTHENTICATED, WITH_BODY, WITH_PATH, error_responses
from appliance.api.schemas import Consent, ConsentIn, ConsentList, Revoked
from appliance.domain.roles import Permission
from appliance.services.consent import ConsentService
from appliance.store.consents import ConsentRow

MAX_ROW_ID = 2**63 - 1  # SQLite's INTEGER range: a larger id is a 4xx, not an overflow


def _consent(row: ConsentRow) -> Consent:
    return Consent(
        id=row.id,
        purpose=row.purpose,
        category=row.category,
        granted_at=row.granted_at.isoformat(),
        expires_at=row.expires_at.isoformat() if row.expires_at else None,
        revoked=row.revoked_at is not None,
    )


class ConsentController(Controller):
    """Consents on record, by subject; revocation by consent id."""

    path = "/v1"
    tags: ClassVar[list[str]] = ["consents"]

    @post(
        "/subjects/{subject_id:str}/consents",
        opt={"permission": Permission.MANAGE_CONSENT},
        sync_to_thread=True,
        status_code=201,
        responses=error_responses(AUTHENTICATED, WITH_BODY, WITH_PATH),
    )
    def grant_consent(
        self,
        subject_id: FromPath[str],
        data: JSONBody[ConsentIn],
        consent: NamedDependency[ConsentService],
        request: Request[Any, Any, Any],
    ) -> Consent:
        """Record a consent (for BIPA, a written release) for a subject."""
        row = consent.grant(
            subject_id,
            purpose=data.purpose,
            category=data.category,
            evidence_ref=data.evidence_ref,
            expires_at=data.expires_at,
            actor=current_actor(request),
        )
        return _consent(row)

    @get(
        "/subjects/{subject_id:str}/consents",
        opt={"permission": Permission.MANAGE_CONSENT},
        sync_to_thread=True,
        responses=error_responses(AUTHENTICATED, WITH_PATH),
    )
    def list_consents(
        self, subject_id: FromPath[str], consent: NamedDependency[ConsentService]
    ) -> ConsentList:
        """Every consent of a subject."""
        return ConsentList(consents=[_consent(r) for r in consent.list(subject_id)])

    @delete(
        "/consents/{consent_id:int}",
        opt={"permission": Permission.MANAGE_CONSENT},
        sync_to_thread=True,
        status_code=200,
        responses=error_responses(AUTHENTICATED, WITH_PATH),
    )
    def revoke_consent(
        self,
        consent_id: Annotated[int, PathParameter(ge=1, le=MAX_ROW_ID)],
        consent: NamedDependency[ConsentService],
        request: Request[Any, Any, Any],
    ) -> Revoked:
        """Revoke a consent from now on."""
        return Revoked(revoked=consent.revoke(consent_id, actor=current_actor(request)))
