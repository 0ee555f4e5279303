"""Consent registry rows: who (pseudonym) agreed to what (purpose, category), when, until
when, on what evidence (a reference to the signed form, never its content)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, and_, delete, select, update

from appliance.domain.types import Pseudonym
from appliance.store.schema import consents, subjects


@dataclass(frozen=True)
class ConsentRow:
    """One consent as stored."""

    id: int
    subject: Pseudonym
    purpose: str
    category: str
    granted_at: datetime
    expires_at: datetime | None
    evidence_ref: str
    revoked_at: datetime | None


def _row(record: object) -> ConsentRow:
    r = record
    return ConsentRow(
        id=int(r.id),  # type: ignore[attr-defined]
        subject=Pseudonym(r.subject),  # type: ignore[attr-defined]
        purpose=r.purpose,  # type: ignore[attr-defined]
        category=r.category,  # type: ignore[attr-defined]
        granted_at=r.granted_at,  # type: ignore[attr-defined]
        expires_at=r.expires_at,  # type: ignore[attr-defined]
        evidence_ref=r.evidence_ref,  # type: ignore[attr-defined]
        revoked_at=r.revoked_at,  # type: ignore[attr-defined]
    )


def ensure_subject(connection: Connection, subject: Pseudonym, now: datetime) -> None:
    """Create the subject row if absent, without counting this as an interaction."""
    exists = connection.execute(
        select(subjects.c.pseudonym).where(subjects.c.pseudonym == subject)
    ).first()
    if exists is None:
        connection.execute(
            subjects.insert().values(pseudonym=subject, created_at=now, last_interaction_at=now)
        )


def insert_consent(
    connection: Connection,
    *,
    subject: Pseudonym,
    purpose: str,
    category: str,
    granted_at: datetime,
    expires_at: datetime | None,
    evidence_ref: str,
) -> ConsentRow:
    """Record a consent (the subject row must exist: see ``ensure_subject``)."""
    result = connection.execute(
        consents.insert().values(
            subject=subject,
            purpose=purpose,
            category=category,
            granted_at=granted_at,
            expires_at=expires_at,
            evidence_ref=evidence_ref,
        )
    )
    consent_id = int(result.inserted_primary_key[0])
    return ConsentRow(
        consent_id, subject, purpose, category, granted_at, expires_at, evidence_ref, None
    )


def get_consent(connection: Connection, consent_id: int) -> ConsentRow | None:
    """A consent by id, or None."""
    record = connection.execute(select(consents).where(consents.c.id == consent_id)).first()
    return _row(record) if record is not None else None


def consents_of_subject(
    connection: Connection, subject: Pseudonym, purpose: str | None = None
) -> list[ConsentRow]:
    """A subject's consents (for one purpose, or all), oldest first, revoked ones included."""
    query = select(consents).where(consents.c.subject == subject)
    if purpose is not None:
        query = query.where(consents.c.purpose == purpose)
    return [_row(r) for r in connection.execute(query.order_by(consents.c.id))]


def revoke_consent(connection: Connection, consent_id: int, now: datetime) -> bool:
    """Mark a consent revoked at ``now``; False if absent or already revoked."""
    result = connection.execute(
        update(consents)
        .where(and_(consents.c.id == consent_id, consents.c.revoked_at.is_(None)))
        .values(revoked_at=now)
    )
    return bool(result.rowcount)


def revoke_subject_consents(connection: Connection, subject: Pseudonym, now: datetime) -> int:
    """Revoke every live consent of a subject (erasure); returns how many."""
    result = connection.execute(
        update(consents)
        .where(and_(consents.c.subject == subject, consents.c.revoked_at.is_(None)))
        .values(revoked_at=now)
    )
    return result.rowcount or 0


def delete_subject_consents(connection: Connection, subject: Pseudonym) -> int:
    """Delete every consent of a subject, evidence references included (erasure)."""
    result = connection.execute(delete(consents).where(consents.c.subject == subject))
    return result.rowcount or 0
