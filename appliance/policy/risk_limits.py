"""``[[risk_limits]]`` of ``site.toml``: the maximum risk the site accepts per category.

Each limit names the categories it covers (ids or glob patterns), the modality whose
embeddings the risk audit attacks, a metric and its maximum, the defence the categories
require (checked against the rules: some rule in force must apply exactly that defence to
them), the utility the defence must keep, and what a failed audit does to ingestion::

    [[risk_limits]]
    id = "site.risk.voiceprint"
    title = "Speaker re-identification from stored voice embeddings"
    citation = "740 ILCS 14/15(e); site risk assessment"
    categories = ["bipa.voiceprint", "hipaa.biometric_identifiers"]
    modality = "audio"
    metric = "reidentification_top1_over_chance"
    max = 2.0
    defence = { name = "gaussian_noise", params = { sigma = 0.1 } }
    min_utility_kept = 0.9
    block = "on_fail"          # "never" | "on_fail" | "until_pass"
    attacker = "any"           # "any" | "stored" (who the re-identification verdict assumes)

Problems are reported as ``file:line: what`` like every other policy problem.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, Protocol

from appliance.policy.lines import LineIndex
from appliance.policy.model import RiskLimit, Rule, Source

SECTION = "risk_limits"
METRICS: dict[str, str] = {
    "reidentification_top1_over_chance": "top-1 re-identification rate divided by chance",
    "canary_recovery": "share of canary names and record numbers recovered by inversion",
    "membership_auc": "membership-inference ROC AUC against a trained adapter",
}
BLOCK_MODES = ("never", "on_fail", "until_pass")
ATTACKERS = ("any", "stored")
"""``any``: the stronger of the attacker linking stored vectors among themselves and the one
who also computes clean vectors with the model (public checkpoints, leaked weights);
``stored``: only the former (the model's weights never leave the appliance)."""
MODALITIES = ("text", "image", "audio")
_KEYS = frozenset(
    {
        "id",
        "title",
        "citation",
        "categories",
        "modality",
        "metric",
        "max",
        "defence",
        "min_utility_kept",
        "block",
        "attacker",
        "notes",
    }
)
_ID = re.compile(r"^site\.risk\.[a-z0-9_]+$")


class _PolicyFile(Protocol):
    display: str
    data: dict[str, Any]
    lines: LineIndex

    def problem(self, line: int, message: str) -> None: ...


class _Recorder:
    """The site file with a problem list of its own (the loader's may hold others)."""

    def __init__(self, file: _PolicyFile) -> None:
        self.display, self.data, self.lines = file.display, file.data, file.lines
        self.problems: list[str] = []

    def problem(self, line: int, message: str) -> None:
        self.problems.append(f"{self.display}:{line}: {message}")


def parse_risk_limits(
    site: _PolicyFile | None,
    category_ids: tuple[Sequence[str], Sequence[str]],
    rules: Sequence[Rule],
    problems: list[str],
) -> tuple[RiskLimit, ...]:
    """Every well-formed limit of the site file; problems are appended to ``problems``.
    ``category_ids``: (every category defined, those of the regimes in force); a limit
    keeps only categories in force, and one left with none can never apply (a problem)."""
    if site is None:
        return ()
    file = _Recorder(site)
    limits = _parse(file, category_ids, rules)
    problems.extend(file.problems)
    return limits


def _parse(
    file: _Recorder, category_ids: tuple[Sequence[str], Sequence[str]], rules: Sequence[Rule]
) -> tuple[RiskLimit, ...]:
    entries = file.data.get(SECTION, [])
    if not isinstance(entries, list):
        file.problem(file.lines.table(SECTION) or 1, f"{SECTION} must be [[{SECTION}]] tables")
        return ()
    out: list[RiskLimit] = []
    seen: set[str] = set()
    for n, entry in enumerate(entries):
        limit = _limit(file, n, entry, category_ids, rules)
        if limit is None:
            continue
        if limit.id in seen:
            file.problem(limit.source.line, f"duplicate risk limit id {limit.id!r}")
            continue
        seen.add(limit.id)
        out.append(limit)
    return tuple(out)


def _limit(
    file: _Recorder,
    n: int,
    entry: Any,
    known: tuple[Sequence[str], Sequence[str]],
    rules: Sequence[Rule],
) -> RiskLimit | None:
    line = file.lines.table(SECTION, n) or 1
    if not isinstance(entry, dict):
        file.problem(line, "a risk limit must be a table")
        return None
    lid = entry.get("id") if isinstance(entry.get("id"), str) else f"#{n + 1}"
    what = f"risk limit {lid!r}"
    before = len(file.problems)
    for key in entry:
        if key not in _KEYS:
            file.problem(file.lines.key(SECTION, n, key) or line, f"{what}: unknown key {key!r}")
    if not _ID.match(lid):
        file.problem(line, f"{what}: id must look like 'site.risk.some_name'")
    texts = {}
    for key in ("title", "citation"):
        value = entry.get(key)
        if not isinstance(value, str) or not value.strip():
            file.problem(line, f"{what}: missing {key}")
        texts[key] = str(value or "").strip()
    categories = _categories(file, n, entry, known, what, line)
    modality = entry.get("modality")
    if modality not in MODALITIES:
        file.problem(
            file.lines.key(SECTION, n, "modality") or line,
            f"{what}: modality must be one of {', '.join(MODALITIES)}",
        )
    metric = entry.get("metric")
    if metric not in METRICS:
        file.problem(
            file.lines.key(SECTION, n, "metric") or line,
            f"{what}: metric must be one of {', '.join(METRICS)}",
        )
    maximum = _number(file, n, entry, "max", what, line, required=True)
    kept = _number(file, n, entry, "min_utility_kept", what, line, required=False)
    if kept is not None and not 0.0 <= kept <= 1.0:
        file.problem(line, f"{what}: min_utility_kept must lie in 0..1")
    block = entry.get("block", "on_fail")
    if block not in BLOCK_MODES:
        file.problem(
            file.lines.key(SECTION, n, "block") or line,
            f"{what}: block must be one of {', '.join(BLOCK_MODES)}",
        )
    attacker = entry.get("attacker", "any")
    if attacker not in ATTACKERS:
        file.problem(
            file.lines.key(SECTION, n, "attacker") or line,
            f"{what}: attacker must be one of {', '.join(ATTACKERS)}",
        )
    defence = _defence(file, n, entry, what, line)
    if defence is not None and categories and not _applied(rules, categories, defence):
        file.problem(
            file.lines.key(SECTION, n, "defence") or line,
            f"{what}: no rule in force applies defence {defence[0]} with params "
            f"{dict(defence[1])} to {', '.join(categories)}; add an apply_defence rule "
            "for these categories or change the limit",
        )
    if len(file.problems) > before:
        return None
    return RiskLimit(
        id=lid,
        title=texts["title"],
        citation=texts["citation"],
        categories=tuple(categories),
        modality=str(modality),
        metric=str(metric),
        maximum=float(maximum or 0.0),
        defence=defence,
        min_utility_kept=kept,
        block=str(block),
        source=Source(file.display, line),
        notes=str(entry.get("notes", "")),
        attacker=str(attacker),
    )


def _categories(
    file: _Recorder,
    n: int,
    entry: dict[str, Any],
    known: tuple[Sequence[str], Sequence[str]],
    what: str,
    line: int,
) -> list[str]:
    at = file.lines.key(SECTION, n, "categories") or line
    value = entry.get("categories")
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        file.problem(at, f"{what}: categories must list at least one category id or pattern")
        return []
    defined, in_force = sorted(known[0]), set(known[1])
    matched: list[str] = []
    for pattern in value:
        found = fnmatch.filter(defined, pattern)
        if not found:
            file.problem(at, f"{what}: unknown category {pattern!r}")
        matched.extend(i for i in found if i not in matched and i in in_force)
    if value and not matched and all(fnmatch.filter(defined, p) for p in value):
        file.problem(at, f"{what}: can never apply: its categories belong to regimes not enabled")
    return matched


def _number(
    file: _Recorder,
    n: int,
    entry: dict[str, Any],
    key: str,
    what: str,
    line: int,
    *,
    required: bool,
) -> float | None:
    value = entry.get(key)
    if value is None:
        if required:
            file.problem(line, f"{what}: missing {key}")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        file.problem(
            file.lines.key(SECTION, n, key) or line, f"{what}: {key} must be a number >= 0"
        )
        return None
    return float(value)


def _defence(
    file: _Recorder, n: int, entry: dict[str, Any], what: str, line: int
) -> tuple[str, Mapping[str, Any]] | None:
    value = entry.get("defence")
    if value is None:
        return None
    at = file.lines.key(SECTION, n, "defence") or line
    name = value.get("name") if isinstance(value, dict) else None
    params = value.get("params", {}) if isinstance(value, dict) else None
    if not isinstance(name, str) or not isinstance(params, dict):
        file.problem(at, f"{what}: defence must be {{ name = ..., params = {{ ... }} }}")
        return None
    return name, MappingProxyType(dict(params))


def _applied(
    rules: Sequence[Rule], categories: Sequence[str], defence: tuple[str, Mapping[str, Any]]
) -> bool:
    """Some rule naming one of ``categories`` applies exactly ``defence``."""
    name, params = defence
    for rule in rules:
        named = rule.when.categories
        if named is None or not set(named) & set(categories):
            continue
        for obligation in rule.obligations:
            if (
                obligation.type == "apply_defence"
                and obligation.params.get("name") == name
                and dict(obligation.params.get("params", {})) == dict(params)
            ):
                return True
    return False
