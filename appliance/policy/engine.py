"""The policy engine: findings + request context + consents -> one ``Decision``.

Composition across regimes: every applicable rule of every enabled regime contributes
its obligations and the strictest wins: deny > consent required but missing >
de-identify > defence; the shortest retention; the narrowest visibility (intersection).
Fail closed: with no applicable rule, or with a hit category that no applicable rule
addresses, the input is denied and the reason says so.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from appliance.domain.findings import Finding
from appliance.policy.decisions import (
    ApplyDefence,
    ConsentState,
    Decision,
    Deny,
    Obligation,
    Outcome,
    Reason,
    RequestContext,
    RequireConsent,
    RequireDeidentification,
    RestrictVisibility,
    RetentionLimit,
)
from appliance.policy.loader import load_policy_set
from appliance.policy.model import ObligationSpec, PolicySet, Rule

ENGINE_RULE = "engine.fail_closed"
ENGINE_CITATION = "appliance policy: no applicable rule means deny"


class PolicyEngine:
    """A validated policy set and the decision procedure over it."""

    def __init__(self, policy: PolicySet) -> None:
        self._policy = policy

    @classmethod
    def load(cls, directory: Path | None = None) -> PolicyEngine:
        """Load and validate ``directory`` (see ``default_policies_dir``); ``PolicyError``
        names each bad file and line."""
        return cls(load_policy_set(directory))

    @property
    def policy(self) -> PolicySet:
        """The policy set in force."""
        return self._policy

    @property
    def policy_hash(self) -> str:
        """SHA-256 of the policy files in force (recorded with every decision)."""
        return self._policy.policy_hash

    def categories_hit(self, findings: Sequence[Finding]) -> tuple[str, ...]:
        """Ids of the categories in force that ``findings`` evidence, in policy order."""
        found = tuple(findings)
        return tuple(c.id for c in self._policy.categories if c.hit_by(found))

    def decide(
        self,
        findings: Sequence[Finding],
        context: RequestContext,
        consents: ConsentState | None = None,
        now: datetime | None = None,
    ) -> Decision:
        """Decide what may happen to an input with ``findings`` under ``context``."""
        now = now or datetime.now(UTC)
        consents = consents or ConsentState.none()
        hits = self.categories_hit(findings)
        modality = _modality(findings, context)
        applicable = [
            r for r in self._policy.rules if r.when.matches(hits, context, modality, consents, now)
        ]
        reasons = [Reason(r.id, r.citation, r.title) for r in applicable]
        obligations: list[Obligation] = []
        if not applicable:
            text = (
                f"no applicable rule for role {context.subject_role}, purpose "
                f"{context.purpose}, setting {context.setting}"
                + (f", categories {', '.join(hits)}" if hits else ", no categories found")
            )
            obligations.append(Deny(text, (ENGINE_RULE,)))
            reasons.append(Reason(ENGINE_RULE, ENGINE_CITATION, text))
        else:
            covered = {c for r in applicable if r.when.categories for c in r.when.categories}
            for category in hits:
                if category not in covered:
                    cited = self._policy.category(category).citation
                    text = (
                        f"no applicable rule addresses category {category} ({cited}) for role "
                        f"{context.subject_role}, purpose {context.purpose}"
                    )
                    obligations.append(Deny(text, (ENGINE_RULE,)))
                    reasons.append(Reason(ENGINE_RULE, ENGINE_CITATION, text))
        for rule in applicable:
            for spec in rule.obligations:
                obligation, why = _instantiate(rule, spec, hits, consents, now)
                obligations.append(obligation)
                if why:
                    reasons.append(Reason(rule.id, rule.citation, why))
        merged = _strictest(obligations)
        if any(isinstance(o, Deny) for o in merged) or any(
            isinstance(o, RequireConsent) and not o.satisfied for o in merged
        ):
            outcome = Outcome.DENY
            merged = [
                o
                for o in merged
                if isinstance(o, Deny) or (isinstance(o, RequireConsent) and not o.satisfied)
            ]
        else:
            outcome = Outcome.ALLOW_WITH_OBLIGATIONS if merged else Outcome.ALLOW
        regimes = {self._policy.category(c).regime for c in hits} | {r.regime for r in applicable}
        return Decision(
            outcome=outcome,
            obligations=tuple(merged),
            categories=hits,
            regimes=tuple(sorted(regimes)),
            reasons=tuple(reasons),
            policy_hash=self.policy_hash,
            decided_at=now,
            context=context,
        )

    def describe(self) -> dict[str, Any]:
        """The effective policy as JSON-ready data (``appliance policy show``)."""
        p = self._policy
        return {
            "directory": str(p.directory),
            "files": list(p.files),
            "policy_hash": p.policy_hash,
            "enabled_regimes": list(p.enabled),
            "regimes": [
                {"id": r.id, "title": r.title, "citation": r.citation, "source": str(r.source)}
                for r in p.regimes
            ],
            "categories": [
                {
                    "id": c.id,
                    "regime": c.regime,
                    "title": c.title,
                    "citation": c.citation,
                    "evidence": sorted(k.value for k in c.evidence),
                    "source": str(c.source),
                }
                for c in p.categories
            ],
            "rules": [_describe_rule(r) for r in p.rules],
        }


def _describe_rule(rule: Rule) -> dict[str, Any]:
    when: dict[str, Any] = {}
    w = rule.when
    if w.categories is not None:
        when["categories"] = list(w.categories)
    if w.no_categories:
        when["no_categories"] = True
    for name in ("roles", "purposes", "settings", "modalities"):
        value = getattr(w, name)
        if value is not None:
            when[name] = sorted(value)
    if w.consent is not None:
        when["consent"] = w.consent
    return {
        "id": rule.id,
        "regime": rule.regime,
        "title": rule.title,
        "citation": rule.citation,
        "when": when,
        "obligations": [{"type": s.type, **dict(s.params)} for s in rule.obligations],
        "source": str(rule.source),
    }


def _modality(findings: Sequence[Finding], context: RequestContext) -> str | None:
    if context.modality is not None:
        return context.modality.value
    seen = {f.modality.value for f in findings}
    return seen.pop() if len(seen) == 1 else None


def add_years(moment: datetime, years: int) -> datetime:
    """The same date ``years`` later (29 February becomes 28 February)."""
    year = moment.year + years
    day = min(moment.day, calendar.monthrange(year, moment.month)[1])
    return moment.replace(year=year, day=day)


def _instantiate(
    rule: Rule, spec: ObligationSpec, hits: tuple[str, ...], consents: ConsentState, now: datetime
) -> tuple[Obligation, str]:
    """The concrete obligation of ``spec`` for this request, and an extra reason if any."""
    rules = (rule.id,)
    p = spec.params
    if spec.type == "deny":
        return Deny(str(p.get("reason") or rule.title), rules), ""
    if spec.type == "require_consent":
        wanted = tuple(p["categories"]) if "categories" in p else rule.when.matched_categories(hits)
        found = [consents.valid_for(c, now) for c in wanted]
        if all(found):
            ids = tuple(sorted({r.consent_id for r in found if r is not None}))
            why = f"consent {', '.join(map(str, ids))} covers {', '.join(wanted)}"
            return RequireConsent(wanted, True, ids, rules), why
        missing = [c for c, r in zip(wanted, found, strict=True) if r is None]
        lapsed = [consents.lapsed_for(c, now) for c in missing]
        notes = [
            f"consent {r.consent_id} for {c} "
            + ("revoked" if r.revoked_at is not None and r.revoked_at <= now else "expired")
            for c, r in zip(missing, lapsed, strict=True)
            if r is not None
        ]
        why = f"no valid consent for purpose {consents.purpose or 'any'} covering " + ", ".join(
            missing
        )
        return RequireConsent(wanted, False, (), rules), why + (
            f" ({'; '.join(notes)})" if notes else ""
        )
    if spec.type == "require_deidentification":
        return RequireDeidentification(str(p["method"]), rules), ""
    if spec.type == "apply_defence":
        params = tuple(
            (k, tuple(v) if isinstance(v, list) else v)  # lists (kinds) kept hashable
            for k, v in sorted(dict(p.get("params", {})).items())
        )
        return ApplyDefence(str(p["name"]), params, rules), ""
    if spec.type == "retention":
        basis = str(p.get("basis", "collection"))
        if "years" in p:
            deadline, period = add_years(now, int(p["years"])), f"{int(p['years'])}y"
        else:
            deadline, period = now + timedelta(days=int(p["days"])), f"{int(p['days'])}d"
        return RetentionLimit(deadline, period, basis, rules), ""
    return RestrictVisibility(tuple(sorted(p["roles"])), rules), ""


def _strictest(obligations: list[Obligation]) -> list[Obligation]:
    """Merge obligations of every applicable rule, keeping the strictest of each kind."""
    denies: list[Deny] = []
    consents: dict[tuple[str, ...], RequireConsent] = {}
    deidentify: dict[str, RequireDeidentification] = {}
    defences: dict[tuple[str, tuple[tuple[str, Any], ...]], ApplyDefence] = {}
    retention: RetentionLimit | None = None
    visibility: RestrictVisibility | None = None
    for o in obligations:
        if isinstance(o, Deny):
            denies.append(o)
        elif isinstance(o, RequireConsent):
            prior = consents.get(o.categories)
            if prior is None or (prior.satisfied and not o.satisfied):
                consents[o.categories] = o
        elif isinstance(o, RequireDeidentification):
            prior_d = deidentify.get(o.method)
            rules = (*(prior_d.rules if prior_d else ()), *o.rules)
            deidentify[o.method] = RequireDeidentification(o.method, _unique(rules))
        elif isinstance(o, ApplyDefence):
            key = (o.name, o.params)
            prior_a = defences.get(key)
            rules = (*(prior_a.rules if prior_a else ()), *o.rules)
            defences[key] = ApplyDefence(o.name, o.params, _unique(rules))
        elif isinstance(o, RetentionLimit):
            if retention is None or o.deadline < retention.deadline:
                retention = o
            elif o.deadline == retention.deadline:
                retention = RetentionLimit(
                    o.deadline,
                    retention.period,
                    retention.basis,
                    _unique((*retention.rules, *o.rules)),
                )
        elif visibility is None:
            visibility = o
        else:
            roles = tuple(r for r in visibility.roles if r in o.roles)
            visibility = RestrictVisibility(roles, _unique((*visibility.rules, *o.rules)))
    merged: list[Obligation] = [*denies, *consents.values(), *deidentify.values()]
    merged.extend(defences.values())
    if retention is not None:
        merged.append(retention)
    if visibility is not None:
        merged.append(visibility)
    return merged


def _unique(values: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))
