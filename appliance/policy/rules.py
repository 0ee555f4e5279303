"""Parse and validate ``[[rules]]`` tables: conditions (``when``) and obligations."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from types import MappingProxyType
from typing import Any

from appliance.domain.findings import FindingKind
from appliance.policy.lines import PolicyFile
from appliance.policy.model import Category, Condition, ObligationSpec, Rule, Source
from appliance.policy.vocabulary import (
    ALL_MODALITIES,
    DEIDENTIFICATION_METHODS,
    OBLIGATION_TYPES,
    PURPOSES,
    RETENTION_BASES,
    SETTINGS,
    SUBJECT_ROLES,
    VIEWER_ROLES,
    kind_modalities,
)

_RULE_KEYS = frozenset({"id", "title", "citation", "when", "obligations", "notes"})
_WHEN_KEYS = frozenset(
    {"categories", "no_categories", "roles", "purposes", "settings", "modalities", "consent"}
)
_WORD_LISTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "roles": ("subject role", SUBJECT_ROLES),
    "purposes": ("purpose", PURPOSES),
    "settings": ("setting", SETTINGS),
    "modalities": ("modality", tuple(sorted(ALL_MODALITIES))),
}
_OBLIGATION_KEYS: dict[str, frozenset[str]] = {
    "deny": frozenset({"reason"}),
    "require_consent": frozenset({"categories", "written"}),
    "require_deidentification": frozenset({"method"}),
    "apply_defence": frozenset({"name", "params"}),
    "retention": frozenset({"days", "years", "basis"}),
    "restrict_visibility": frozenset({"roles"}),
}
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class RuleParser:
    """Turns rule tables into ``Rule`` objects, reporting problems on the file."""

    def __init__(self, categories: Sequence[Category], enabled: set[str]) -> None:
        self._categories = {c.id: c for c in categories}
        self._enabled = enabled
        self._all_ids = sorted(self._categories)
        self._checking_enabled = True
        self.seen: list[tuple[str, Source]] = []

    def parse_all(self, file: PolicyFile, regime: str) -> list[Rule]:
        """Every rule of ``file`` that parsed cleanly (problems are recorded on ``file``).

        Rules of a regime the site has not enabled are validated but, by the caller,
        not put in force; rules in force may not depend on such a regime's categories.
        """
        self._checking_enabled = regime in self._enabled
        entries = file.data.get("rules", [])
        if not isinstance(entries, list):
            file.problem(file.lines.table("rules") or 1, "rules must be [[rules]] tables")
            return []
        rules: list[Rule] = []
        for n, entry in enumerate(entries):
            before = len(file.problems)
            rule = self._rule(file, regime, n, entry)
            if rule is not None and len(file.problems) == before:
                rules.append(rule)
        return rules

    def _rule(self, file: PolicyFile, regime: str, n: int, entry: Any) -> Rule | None:
        line = file.lines.table("rules", n)
        if not isinstance(entry, dict):
            file.problem(line, "a rule must be a table")
            return None
        rid = entry.get("id") if isinstance(entry.get("id"), str) else f"#{n + 1}"
        what = f"rule {rid!r}"
        self.seen.append((rid, Source(file.display, line)))
        for key in entry:
            if key not in _RULE_KEYS:
                file.problem(file.lines.key("rules", n, key), f"{what}: unknown key {key!r}")
        if not re.match(rf"^{re.escape(regime)}\.[a-z0-9_.-]+$", rid):
            file.problem(line, f"{what}: id must look like '{regime}.some-name'")
        title = file.text(entry, "title", line, what)
        citation = file.text(entry, "citation", line, what)
        when = self._condition(file, n, entry.get("when", {}), what)
        raw_obligations = entry.get("obligations")
        if not isinstance(raw_obligations, list):
            file.problem(
                file.lines.key("rules", n, "obligations"),
                f"{what}: obligations must be a list (use [] for a plain allow)",
            )
            raw_obligations = []
        obligations = tuple(
            self._obligation(file, n, i, raw, what, when) for i, raw in enumerate(raw_obligations)
        )
        if when is None:
            return None
        return Rule(rid, regime, title, citation, when, obligations, Source(file.display, line))

    def _resolve(self, patterns: Sequence[str]) -> tuple[list[str], list[str]]:
        """(known ids matched, patterns that match no category at all)."""
        matched: list[str] = []
        unknown: list[str] = []
        for pattern in patterns:
            found = fnmatch.filter(self._all_ids, pattern)
            if not found:
                unknown.append(pattern)
            matched.extend(i for i in found if i not in matched)
        return matched, unknown

    def _condition(self, file: PolicyFile, n: int, when: Any, what: str) -> Condition | None:
        at = file.lines.key("rules", n, "when")
        if not isinstance(when, dict):
            file.problem(at, f"{what}: when must be a table")
            return None
        for key in when:
            if key not in _WHEN_KEYS:
                file.problem(
                    file.lines.key("rules", n, f"when.{key}"),
                    f"{what}: unknown condition when.{key} "
                    f"(expected {', '.join(sorted(_WHEN_KEYS))})",
                )
        words: dict[str, frozenset[str] | None] = {}
        for key, (noun, allowed) in _WORD_LISTS.items():
            words[key] = self._words(file, n, when, key, noun, allowed, what)
        categories: tuple[str, ...] | None = None
        cat_line = file.lines.key("rules", n, "when.categories")
        if "categories" in when:
            value = when["categories"]
            if not _strings(value) or not value:
                file.problem(
                    cat_line,
                    f"{what}: when.categories must be a non-empty list of "
                    "category ids or patterns; an empty list can never fire",
                )
                value = []
            matched, unknown = self._resolve(value)
            for pattern in unknown:
                file.problem(cat_line, f"{what}: unknown category {pattern!r}")
            active = tuple(
                c
                for c in matched
                if not self._checking_enabled or self._categories[c].regime in self._enabled
            )
            if matched and not active:
                file.problem(
                    cat_line,
                    f"{what}: can never fire: its categories belong to "
                    "regimes the site has not enabled",
                )
            categories = active
        no_categories = when.get("no_categories", False)
        if not isinstance(no_categories, bool):
            file.problem(
                file.lines.key("rules", n, "when.no_categories"),
                f"{what}: when.no_categories must be true or false",
            )
            no_categories = False
        if no_categories and "categories" in when:
            file.problem(
                cat_line,
                f"{what}: can never fire: when.no_categories = true contradicts when.categories",
            )
        modalities = words["modalities"]
        if modalities and categories:
            possible = {
                m
                for c in categories
                for k in self._categories[c].evidence
                for m in kind_modalities(k)
            }
            if not possible & modalities:
                file.problem(
                    file.lines.key("rules", n, "when.modalities"),
                    f"{what}: can never fire: its categories are evidenced only in "
                    f"{', '.join(sorted(possible))}, not in "
                    f"{', '.join(sorted(modalities))}",
                )
        consent = when.get("consent")
        if consent is not None and consent not in ("valid", "missing"):
            file.problem(
                file.lines.key("rules", n, "when.consent"),
                f"{what}: when.consent must be 'valid' or 'missing'",
            )
            consent = None
        return Condition(
            categories=categories,
            no_categories=no_categories,
            roles=words["roles"],
            purposes=words["purposes"],
            settings=words["settings"],
            modalities=modalities,
            consent=consent,
        )

    def _words(
        self,
        file: PolicyFile,
        n: int,
        when: dict[str, Any],
        key: str,
        noun: str,
        allowed: tuple[str, ...],
        what: str,
    ) -> frozenset[str] | None:
        if key not in when:
            return None
        line = file.lines.key("rules", n, f"when.{key}")
        value = when[key]
        if not _strings(value):
            file.problem(line, f"{what}: when.{key} must be a list of strings")
            return frozenset()
        if not value:
            file.problem(line, f"{what}: can never fire: when.{key} is empty")
        for word in value:
            if word not in allowed:
                file.problem(
                    line,
                    f"{what}: can never match {noun} {word!r}: no request has "
                    f"it (known: {', '.join(allowed)})",
                )
        return frozenset(value)

    def _obligation(
        self, file: PolicyFile, n: int, i: int, raw: Any, what: str, when: Condition | None
    ) -> ObligationSpec:
        line = file.lines.key("rules", n, f"obligations[{i}]")
        source = Source(file.display, line)
        kind = raw.get("type") if isinstance(raw, dict) else None
        if kind not in OBLIGATION_TYPES:
            file.problem(
                line, f"{what}: obligation {kind!r} is not one of {', '.join(OBLIGATION_TYPES)}"
            )
            return ObligationSpec("deny", source=source)
        assert isinstance(raw, dict)
        params = {k: v for k, v in raw.items() if k != "type"}
        for key in params:
            if key not in _OBLIGATION_KEYS[kind]:
                file.problem(
                    line,
                    f"{what}: {kind} takes no parameter {key!r} (takes "
                    f"{', '.join(sorted(_OBLIGATION_KEYS[kind])) or 'none'})",
                )
        problem = _check_params(kind, params, self._resolve, when)
        if problem:
            file.problem(line, f"{what}: {kind}: {problem}")
        return ObligationSpec(kind, MappingProxyType(params), source)


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _check_params(
    kind: str, params: dict[str, Any], resolve: Any, when: Condition | None
) -> str | None:
    if kind == "deny":
        reason = params.get("reason", "")
        return None if isinstance(reason, str) else "reason must be a string"
    if kind == "require_consent":
        if "categories" in params:
            value = params["categories"]
            if not _strings(value) or not value:
                return "categories must be a non-empty list of category ids or patterns"
            _, unknown = resolve(value)
            return f"unknown category {unknown[0]!r}" if unknown else None
        if when is not None and (when.categories is None or when.no_categories):
            return "name the consent's categories: the rule's condition names none"
        return None if isinstance(params.get("written", True), bool) else "written must be a bool"
    if kind == "require_deidentification":
        method = params.get("method")
        if method not in DEIDENTIFICATION_METHODS:
            return f"method must be one of {', '.join(DEIDENTIFICATION_METHODS)}"
        return None
    if kind == "apply_defence":
        name, extra = params.get("name"), params.get("params", {})
        if not isinstance(name, str) or not _NAME.match(name):
            return "name must be a lower-case defence name"
        if not isinstance(extra, dict) or not all(
            isinstance(v, str | int | float | bool) or _strings(v) for v in extra.values()
        ):
            return "params must be a table of numbers, strings, booleans or lists of strings"
        kinds = extra.get("kinds")
        if name == "redact_before_encode" and kinds is not None:
            known = sorted(k.value for k in FindingKind)
            if not _strings(kinds) or not kinds:
                return "redact_before_encode: kinds must be a non-empty list of finding kinds"
            unknown = [k for k in kinds if k not in known]
            if unknown:
                return (
                    f"redact_before_encode: unknown finding kind {unknown[0]!r} (known: "
                    f"{', '.join(known)})"
                )
        return None
    if kind == "retention":
        given = [k for k in ("days", "years") if k in params]
        if len(given) != 1:
            return "give exactly one of days or years"
        value = params[given[0]]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            return f"{given[0]} must be a positive integer"
        if params.get("basis", "collection") not in RETENTION_BASES:
            return f"basis must be one of {', '.join(RETENTION_BASES)}"
        return None
    roles = params.get("roles")
    if not _strings(roles):
        return "roles must be a list of API roles"
    unknown = [r for r in roles if r not in VIEWER_ROLES]
    return f"unknown role {unknown[0]!r} (known: {', '.join(VIEWER_ROLES)})" if unknown else None
