"""Consent registry: grant, revoke, list, and the consent state a policy decision needs.

Subjects are pseudonymised before anything is stored or audited; evidence references
(the id of the signed form in the document system) are stored but never audited or
logged. A BIPA written release is a consent with category ``bipa.*`` (or an exact BIPA
category) for the purpose at hand.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from appliance.audit import AuditTrail
from appliance.clock import Clock, isoformat
from appliance.crypto.pseudonym import Pseudonymizer
from appliance.domain.findings import Finding
from appliance.domain.types import Actor, Pseudonym
from appliance.errors import InvalidInputError, NotFoundError
from appliance.observability import get_logger
from appliance.policy.decisions import ConsentRecord, ConsentState, Decision, RequestContext
from appliance.policy.vocabulary import PURPOSES
from appliance.store import consents as rows
from appliance.store.consents import ConsentRow
from appliance.store.database import Database

if TYPE_CHECKING:
    from appliance.policy.engine import PolicyEngine

log = get_logger(__name__)
_CATEGORY = re.compile(r"^(\*|[a-z][a-z0-9_]*\.(\*|[a-z0-9_]+))$")
_EVIDENCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/#-]{0,199}$")


class ConsentService:
    """Grant, revoke and look up consents; every change is audited by pseudonym."""

    def __init__(
        self,
        *,
        database: Database,
        pseudonymize: Pseudonymizer,
        audit: AuditTrail,
        clock: Clock,
        known_categories: Collection[str] | None = None,
    ) -> None:
        self._database = database
        self._pseudonymize = pseudonymize
        self._audit = audit
        self._clock = clock
        self._known = frozenset(known_categories) if known_categories is not None else None

    def pseudonym(self, subject_id: str) -> Pseudonym:
        """The pseudonym of a raw subject id."""
        return self._pseudonymize(subject_id)

    def grant(
        self,
        subject_id: str,
        *,
        purpose: str,
        category: str,
        evidence_ref: str,
        actor: Actor,
        expires_at: datetime | None = None,
        granted_at: datetime | None = None,
    ) -> ConsentRow:
        """Record a consent (for BIPA: a written release) and audit it."""
        now = self._clock.now()
        granted = granted_at or now
        self._check(purpose, category, evidence_ref, granted, expires_at, now)
        subject = self._pseudonymize(subject_id)
        with self._database.write() as connection:
            rows.ensure_subject(connection, subject, now)
            row = rows.insert_consent(
                connection,
                subject=subject,
                purpose=purpose,
                category=category,
                granted_at=granted,
                expires_at=expires_at,
                evidence_ref=evidence_ref,
            )
            self._audit.append(
                actor=actor,
                action="consents.grant",
                outcome="ok",
                subject=subject,
                details={
                    "consent_id": row.id,
                    "purpose": purpose,
                    "category": category,
                    "granted_at": isoformat(granted),
                    "expires_at": isoformat(expires_at) if expires_at else None,
                },
            )
        log.info("consents.granted", subject=subject, consent_id=row.id, purpose=purpose)
        return row

    def revoke(self, consent_id: int, *, actor: Actor) -> bool:
        """Revoke a consent from now on; False if it was already revoked. Audited either way;
        an unknown id is audited and raises ``NotFoundError``."""
        now = self._clock.now()
        with self._database.write() as connection:
            row = rows.get_consent(connection, consent_id)
            if row is None:
                self._audit.append(
                    actor=actor,
                    action="consents.revoke",
                    outcome="not_found",
                    details={"consent_id": consent_id},
                )
            else:
                changed = rows.revoke_consent(connection, consent_id, now)
                self._audit.append(
                    actor=actor,
                    action="consents.revoke",
                    outcome="ok" if changed else "unchanged",
                    subject=row.subject,
                    details={
                        "consent_id": consent_id,
                        "purpose": row.purpose,
                        "category": row.category,
                    },
                )
        if row is None:
            raise NotFoundError(f"consent {consent_id} does not exist")
        log.info("consents.revoked", subject=row.subject, consent_id=consent_id, changed=changed)
        return changed

    def list(self, subject_id: str) -> list[ConsentRow]:
        """Every consent of a subject, oldest first (revoked and expired ones included)."""
        subject = self._pseudonymize(subject_id)
        with self._database.read() as connection:
            return rows.consents_of_subject(connection, subject)

    def state_for(
        self, subject: Pseudonym, purpose: str, now: datetime | None = None
    ) -> ConsentState:
        """The subject's consents for ``purpose`` as the policy engine takes them."""
        with self._database.read() as connection:
            found = rows.consents_of_subject(connection, subject, purpose)
        records = tuple(
            ConsentRecord(r.id, r.purpose, r.category, r.granted_at, r.expires_at, r.revoked_at)
            for r in found
        )
        return ConsentState(purpose=purpose, records=records, at=now or self._clock.now())

    def evaluate(
        self,
        engine: PolicyEngine,
        subject_id: str,
        findings: Sequence[Finding],
        context: RequestContext,
        *,
        actor: Actor,
        collection: str | None = None,
    ) -> Decision:
        """Decide on one input of a subject with their consents, and audit the decision
        (``policy.decide``, outcome allow / allow_with_obligations / deny)."""
        now = self._clock.now()
        subject = self._pseudonymize(subject_id)
        state = self.state_for(subject, context.purpose, now)
        decision = engine.decide(findings, context, state, now)
        self._audit.append(
            actor=actor,
            action="policy.decide",
            outcome=decision.outcome.value,
            collection=collection,
            subject=subject,
            decision=decision.audit_record(),
            details={"findings": len(findings)},
        )
        log.info(
            "policy.decided",
            subject=subject,
            outcome=decision.outcome.value,
            categories=list(decision.categories),
            policy_hash=decision.policy_hash[:16],
        )
        return decision

    def _check(
        self,
        purpose: str,
        category: str,
        evidence_ref: str,
        granted: datetime,
        expires_at: datetime | None,
        now: datetime,
    ) -> None:
        if purpose not in PURPOSES:
            raise InvalidInputError(f"purpose {purpose!r} is not one of {', '.join(PURPOSES)}")
        if not isinstance(category, str) or not _CATEGORY.match(category):
            raise InvalidInputError(
                f"consent category {category!r} is not a category id, 'regime.*' or '*'",
                remedy="use e.g. bipa.* for a BIPA written release",
            )
        if self._known is not None and category != "*":
            regime, _, rest = category.partition(".")
            known = (
                any(k.startswith(regime + ".") for k in self._known)
                if rest == "*"
                else category in self._known
            )
            if not known:
                raise InvalidInputError(f"consent category {category!r} is not in the policy")
        if not isinstance(evidence_ref, str) or not _EVIDENCE.match(evidence_ref):
            raise InvalidInputError(
                "evidence reference must be 1-200 characters of letters, digits and ._:/#-",
                remedy="give the signed form's document id, not its content or a name",
            )
        for name, moment in (("granted_at", granted), ("expires_at", expires_at)):
            if moment is not None and moment.tzinfo is None:
                raise InvalidInputError(f"{name} must be an aware (UTC) datetime")
        if granted > now:
            raise InvalidInputError("a consent cannot be granted in the future")
        if expires_at is not None and expires_at <= granted:
            raise InvalidInputError("expires_at must be after granted_at")
