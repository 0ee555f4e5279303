"""What the policy engine takes (request context, consent state) and gives (a decision).

Everything here is content-free: categories, rule ids, citations, role and purpose words,
consent ids. A ``Decision`` can be audited and returned to a client as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from appliance.clock import isoformat
from appliance.domain.types import Modality
from appliance.errors import InvalidInputError
from appliance.policy.vocabulary import PURPOSES, SETTINGS, SUBJECT_ROLES

AUDIT_LIST_LIMIT = 32


@dataclass(frozen=True)
class RequestContext:
    """Who the data is about, why it is processed, where it was captured, what it is."""

    subject_role: str
    purpose: str
    setting: str = "health_care"
    modality: Modality | None = None

    def __post_init__(self) -> None:
        for name, value, allowed in (
            ("subject_role", self.subject_role, SUBJECT_ROLES),
            ("purpose", self.purpose, PURPOSES),
            ("setting", self.setting, SETTINGS),
        ):
            if value not in allowed:
                raise InvalidInputError(
                    f"context.{name} {value!r} is not one of {', '.join(allowed)}",
                    remedy=f"send context.{name} as one of {', '.join(allowed)}",
                )

    @classmethod
    def from_mapping(
        cls, raw: Mapping[str, Any] | None, *, modality: Modality | str | None = None
    ) -> RequestContext:
        """Parse a request's ``context`` object; missing role or purpose is an input error."""
        if not isinstance(raw, Mapping):
            raise InvalidInputError(
                "context is required", remedy='send {"subject_role": ..., "purpose": ...}'
            )
        unknown = sorted(set(raw) - {"subject_role", "purpose", "setting"})
        if unknown:
            raise InvalidInputError(f"context has unknown field {unknown[0]!r}")
        for name in ("subject_role", "purpose"):
            if not isinstance(raw.get(name), str):
                raise InvalidInputError(f"context.{name} is required and must be a string")
        setting = raw.get("setting", "health_care")
        if not isinstance(setting, str):
            raise InvalidInputError("context.setting must be a string")
        return cls(
            subject_role=raw["subject_role"],
            purpose=raw["purpose"],
            setting=setting,
            modality=Modality(modality) if modality is not None else None,
        )


@dataclass(frozen=True)
class ConsentRecord:
    """One registry entry, as the engine sees it (no evidence content, only a reference)."""

    consent_id: int
    purpose: str
    category: str
    granted_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None = None

    def covers(self, category: str) -> bool:
        """True when this consent's category is ``category``, its regime wildcard, or ``*``."""
        if self.category in ("*", category):
            return True
        return self.category.endswith(".*") and category.startswith(self.category[:-1])

    def valid_at(self, now: datetime) -> bool:
        """Granted, not revoked, not expired at ``now``."""
        if self.revoked_at is not None and self.revoked_at <= now:
            return False
        if self.granted_at > now:
            return False
        return self.expires_at is None or self.expires_at > now


@dataclass(frozen=True)
class ConsentState:
    """A subject's consents for one purpose at one moment."""

    purpose: str | None = None
    records: tuple[ConsentRecord, ...] = ()
    at: datetime | None = None

    @classmethod
    def none(cls) -> ConsentState:
        """No consents at all (dry runs, unknown subjects)."""
        return cls()

    def valid_for(self, category: str, now: datetime) -> ConsentRecord | None:
        """A consent for this state's purpose that covers ``category`` and is valid at ``now``."""
        for record in self.records:
            if record.purpose == self.purpose and record.covers(category) and record.valid_at(now):
                return record
        return None

    def lapsed_for(self, category: str, now: datetime) -> ConsentRecord | None:
        """A consent that covered ``category`` but has expired or been revoked by ``now``."""
        for record in self.records:
            if (
                record.purpose == self.purpose
                and record.covers(category)
                and not record.valid_at(now)
            ):
                return record
        return None


class Outcome(StrEnum):
    """The verdict: store as is, store under obligations, or refuse."""

    ALLOW = "allow"
    ALLOW_WITH_OBLIGATIONS = "allow_with_obligations"
    DENY = "deny"


@dataclass(frozen=True)
class Deny:
    """Refuse the input."""

    reason: str
    rules: tuple[str, ...] = ()

    def label(self) -> str:
        return "deny"


@dataclass(frozen=True)
class RequireConsent:
    """A valid consent (a written release for BIPA) must cover these categories."""

    categories: tuple[str, ...]
    satisfied: bool
    consent_ids: tuple[int, ...] = ()
    rules: tuple[str, ...] = ()

    def label(self) -> str:
        ids = ",".join(str(i) for i in self.consent_ids)
        return f"consent:{'met' if self.satisfied else 'missing'}:{ids}"


@dataclass(frozen=True)
class RequireDeidentification:
    """Remove identifiers (``method``) before encoding."""

    method: str
    rules: tuple[str, ...] = ()

    def label(self) -> str:
        return f"deidentify:{self.method}"


@dataclass(frozen=True)
class ApplyDefence:
    """Apply an embedding defence (by name, with parameters) before storing the vector."""

    name: str
    params: tuple[tuple[str, Any], ...] = ()
    rules: tuple[str, ...] = ()

    def label(self) -> str:
        params = ",".join(
            f"{k}={'+'.join(map(str, v)) if isinstance(v, tuple) else v}" for k, v in self.params
        )
        return f"defence:{self.name}" + (f":{params}" if params else "")


@dataclass(frozen=True)
class RetentionLimit:
    """Erase the item at ``deadline`` (``period`` counted from ``basis``)."""

    deadline: datetime
    period: str
    basis: str = "collection"
    rules: tuple[str, ...] = ()

    def label(self) -> str:
        return f"retention:{isoformat(self.deadline)}"


@dataclass(frozen=True)
class RestrictVisibility:
    """Only these API roles may see the item in results (empty: nobody)."""

    roles: tuple[str, ...]
    rules: tuple[str, ...] = ()

    def label(self) -> str:
        return f"visible_to:{','.join(self.roles)}"


Obligation = (
    Deny | RequireConsent | RequireDeidentification | ApplyDefence | RetentionLimit
    | RestrictVisibility
)  # fmt: skip

_KIND = {
    Deny: "deny",
    RequireConsent: "require_consent",
    RequireDeidentification: "require_deidentification",
    ApplyDefence: "apply_defence",
    RetentionLimit: "retention",
    RestrictVisibility: "restrict_visibility",
}


def obligation_to_dict(obligation: Obligation) -> dict[str, Any]:
    """JSON form of one obligation."""
    out: dict[str, Any] = {"type": _KIND[type(obligation)], "rules": list(obligation.rules)}
    match obligation:
        case Deny(reason=reason):
            out["reason"] = reason
        case RequireConsent(categories=cats, satisfied=met, consent_ids=ids):
            out.update(categories=list(cats), satisfied=met, consent_ids=list(ids))
        case RequireDeidentification(method=method):
            out["method"] = method
        case ApplyDefence(name=name, params=params):
            out.update(name=name, params=dict(params))
        case RetentionLimit(deadline=deadline, period=period, basis=basis):
            out.update(deadline=isoformat(deadline), period=period, basis=basis)
        case RestrictVisibility(roles=roles):
            out["roles"] = list(roles)
    return out


@dataclass(frozen=True)
class Reason:
    """Why: the rule that applied (or ``engine`` for built-in reasons) and its citation."""

    rule: str
    citation: str
    text: str


@dataclass(frozen=True)
class Decision:
    """The engine's verdict on one input under one context."""

    outcome: Outcome
    obligations: tuple[Obligation, ...]
    categories: tuple[str, ...]
    regimes: tuple[str, ...]
    reasons: tuple[Reason, ...]
    policy_hash: str
    decided_at: datetime
    context: RequestContext | None = field(default=None, compare=False)

    @property
    def allowed(self) -> bool:
        """True unless the outcome is deny."""
        return self.outcome is not Outcome.DENY

    @property
    def retention_deadline(self) -> datetime | None:
        """The earliest retention deadline among the obligations, if any."""
        deadlines = [o.deadline for o in self.obligations if isinstance(o, RetentionLimit)]
        return min(deadlines) if deadlines else None

    @property
    def visible_to(self) -> tuple[str, ...] | None:
        """The roles that may see the item; None when unrestricted."""
        for obligation in self.obligations:
            if isinstance(obligation, RestrictVisibility):
                return obligation.roles
        return None

    @property
    def missing_consent(self) -> tuple[str, ...]:
        """Categories whose required consent is missing (empty when none is)."""
        return tuple(
            c
            for o in self.obligations
            if isinstance(o, RequireConsent) and not o.satisfied
            for c in o.categories
        )

    @property
    def labels(self) -> tuple[str, ...]:
        """Policy labels to store with an item: regimes, categories and the policy version."""
        return (
            *(f"regime:{r}" for r in self.regimes),
            *(f"category:{c}" for c in self.categories),
            f"policy:{self.policy_hash[:16]}",
        )

    @property
    def obligation_labels(self) -> tuple[str, ...]:
        """Obligations as the short strings stored with an item."""
        return tuple(o.label() for o in self.obligations)

    def to_dict(self) -> dict[str, Any]:
        """JSON form (CLI output, API replies)."""
        return {
            "outcome": self.outcome.value,
            "obligations": [obligation_to_dict(o) for o in self.obligations],
            "categories": list(self.categories),
            "regimes": list(self.regimes),
            "reasons": [
                {"rule": r.rule, "citation": r.citation, "text": r.text} for r in self.reasons
            ],
            "retention_deadline": (
                isoformat(self.retention_deadline) if self.retention_deadline else None
            ),
            "visible_to": list(self.visible_to) if self.visible_to is not None else None,
            "policy_hash": self.policy_hash,
            "decided_at": isoformat(self.decided_at),
        }

    def audit_record(self) -> dict[str, Any]:
        """The ``decision`` field of an audit entry: content-free and within its limits."""

        def cap(values: tuple[str, ...] | list[str]) -> list[str]:
            return [v[:200] for v in list(values)[:AUDIT_LIST_LIMIT]]

        record: dict[str, Any] = {
            "outcome": self.outcome.value,
            "policy_hash": self.policy_hash,
            "categories": cap(self.categories),
            "regimes": cap(self.regimes),
            "rules": cap(sorted({r.rule for r in self.reasons})),
            "obligations": cap(self.obligation_labels),
        }
        if self.context is not None:
            record["role"] = self.context.subject_role
            record["purpose"] = self.context.purpose
            record["setting"] = self.context.setting
        return record
