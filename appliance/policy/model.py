"""The parsed, validated policy: regimes, categories, rules and their conditions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

from appliance.domain.findings import Finding, FindingKind
from appliance.policy.decisions import ConsentState, RequestContext


@dataclass(frozen=True)
class Source:
    """Where something was defined, for messages: ``policies/bipa.toml:42``."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class Regime:
    """A legal regime (one policy file) or the site's local policy."""

    id: str
    title: str
    citation: str
    source: Source


@dataclass(frozen=True)
class Category:
    """A legal category of data, with its citation and the finding kinds that evidence it."""

    id: str
    regime: str
    title: str
    citation: str
    evidence: frozenset[FindingKind]
    min_score: float
    source: Source

    def hit_by(self, findings: tuple[Finding, ...]) -> bool:
        """True when any finding evidences this category."""
        return any(f.kind in self.evidence and f.score >= self.min_score for f in findings)


@dataclass(frozen=True)
class Condition:
    """When a rule applies. ``None`` means "any"; every given part must hold."""

    categories: tuple[str, ...] | None = None
    no_categories: bool = False
    roles: frozenset[str] | None = None
    purposes: frozenset[str] | None = None
    settings: frozenset[str] | None = None
    modalities: frozenset[str] | None = None
    consent: str | None = None

    def matched_categories(self, hits: tuple[str, ...]) -> tuple[str, ...]:
        """The hit categories this condition names (all hits when it names none)."""
        if self.categories is None:
            return hits
        return tuple(c for c in hits if c in self.categories)

    def matches(
        self,
        hits: tuple[str, ...],
        context: RequestContext,
        modality: str | None,
        consents: ConsentState,
        now: datetime,
    ) -> bool:
        """Whether a request with these hit categories and context meets the condition."""
        if self.no_categories and hits:
            return False
        if self.categories is not None and not self.matched_categories(hits):
            return False
        for allowed, value in (
            (self.roles, context.subject_role),
            (self.purposes, context.purpose),
            (self.settings, context.setting),
        ):
            if allowed is not None and value not in allowed:
                return False
        if self.modalities is not None and (modality is None or modality not in self.modalities):
            return False
        if self.consent is not None:
            wanted = self.matched_categories(hits) or ("*",)
            held = all(consents.valid_for(c, now) is not None for c in wanted)
            if held != (self.consent == "valid"):
                return False
        return True


@dataclass(frozen=True)
class ObligationSpec:
    """An obligation as written in a rule (``type`` plus its checked parameters)."""

    type: str
    params: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    source: Source | None = None


@dataclass(frozen=True)
class Rule:
    """When (condition) -> then (obligations), with its legal citation."""

    id: str
    regime: str
    title: str
    citation: str
    when: Condition
    obligations: tuple[ObligationSpec, ...]
    source: Source


@dataclass(frozen=True)
class RiskLimit:
    """The maximum acceptable risk of one category group, and the defence it requires."""

    id: str
    title: str
    citation: str
    categories: tuple[str, ...]
    modality: str
    metric: str
    maximum: float
    defence: tuple[str, Mapping[str, Any]] | None
    min_utility_kept: float | None
    block: str
    source: Source
    notes: str = ""
    attacker: str = "any"
    extra: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def covers(self, modality: str, categories: Sequence[str]) -> bool:
        """True when an item of ``modality`` hitting ``categories`` falls under this limit."""
        return modality == self.modality and any(c in self.categories for c in categories)

    def defence_label(self) -> str:
        """``gaussian_noise(sigma=0.1)`` or ``none``."""
        if self.defence is None:
            return "none"
        name, params = self.defence
        inner = ", ".join(f"{k}={v}" for k, v in sorted(params.items()))
        return f"{name}({inner})"


@dataclass(frozen=True)
class PolicySet:
    """Every regime, category and rule in force, plus the hash of the files they came from."""

    directory: Path
    files: tuple[str, ...]
    policy_hash: str
    regimes: tuple[Regime, ...]
    enabled: tuple[str, ...]
    categories: tuple[Category, ...]
    rules: tuple[Rule, ...]
    risk_limits: tuple[RiskLimit, ...] = ()
    """The site's ``[[risk_limits]]`` (see ``appliance.policy.risk_limits``)."""

    def category(self, category_id: str) -> Category:
        """A category by id (``KeyError`` if unknown)."""
        for category in self.categories:
            if category.id == category_id:
                return category
        raise KeyError(category_id)
