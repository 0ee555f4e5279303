"""Judge an audit against the site's ``[[risk_limits]]``: pass or fail per limit, with the
defence the limit requires applied, and which measured defence level would meet both the
risk limit and the utility goal.

Re-identification is judged, divided by chance, on the stronger of the two linkage attackers
of the sweep (``top1``: linking stored vectors among themselves; ``cross_top1``: linking
stored vectors to clean ones the attacker computes with the model) when the limit's
``attacker`` is ``any``, on ``top1`` alone when it is ``stored``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from appliance.policy.model import RiskLimit

REID = "reidentification_top1_over_chance"
REDACT = "redact_before_encode"
DIRECT_IDENTIFIER_KINDS = (
    "person_name", "medical_record_number", "address", "zip_code", "phone_number",
    "fax_number", "email_address", "ssn", "health_plan_id", "account_number",
    "license_number", "vehicle_id", "device_id", "url", "ip_address", "other_id",
)  # fmt: skip
"""The kinds ``policies/site.toml``'s ``redact_before_encode`` rule removes (dates and ages
stay)."""


def redaction_level(kinds: Sequence[str] | None) -> str:
    """The sweep level of ``redact_before_encode`` with ``kinds`` (None: every kind)."""
    if not kinds:
        return "all located kinds"
    if sorted(kinds) == sorted(DIRECT_IDENTIFIER_KINDS):
        return "direct ids"
    return "kinds=" + "+".join(sorted(kinds))


def required_redactions(limits: Sequence[RiskLimit]) -> list[tuple[str, ...] | None]:
    """The ``redact_before_encode`` kinds the text limits require (added to the sweep)."""
    out: list[tuple[str, ...] | None] = []
    for limit in limits:
        if limit.modality == "text" and limit.defence is not None and limit.defence[0] == REDACT:
            kinds = limit.defence[1].get("kinds")
            wanted = tuple(sorted(kinds)) if kinds else None
            if wanted not in out:
                out.append(wanted)
    return out


def required_sigmas(limits: Sequence[RiskLimit], modality: str) -> list[float]:
    """The keyed-noise levels the modality's limits require (added to the sweep)."""
    return [
        float(limit.defence[1]["sigma"])
        for limit in limits
        if limit.modality == modality
        and limit.defence is not None
        and limit.defence[0] == "gaussian_noise"
        and "sigma" in limit.defence[1]
    ]


def _level(defence: tuple[str, Mapping[str, Any]] | None) -> tuple[str, str] | None:
    """The sweep row (defence, level) a policy defence corresponds to."""
    if defence is None:
        return "none", "-"
    name, params = defence
    if name == "gaussian_noise" and "sigma" in params:
        return "keyed_noise", f"sigma={float(params['sigma'])}"
    if name == REDACT:
        return REDACT, redaction_level(params.get("kinds"))
    return None


def reidentification(row: Mapping[str, Any], attacker: str = "any") -> float:
    """Top-1 over chance of the stronger linkage attacker (``any``) or of the attacker who
    holds only stored vectors (``stored``)."""
    top1 = row["top1"] if attacker == "stored" else max(row["top1"], row.get("cross_top1") or 0)
    return float(top1 / row["chance_top1"])


def _find(result: Mapping[str, Any], wanted: tuple[str, str]) -> dict[str, Any] | None:
    for row in result["rows"]:
        if (row["defence"], row["level"]) == wanted:
            return dict(row)
    return None


def judge(
    result: Mapping[str, Any],
    limits: Sequence[RiskLimit],
    modality: str,
    figures: Mapping[str, float] | None = None,
) -> list[dict[str, Any]]:
    """One verdict per limit of ``modality``: ``passed`` True/False, or None when the audit
    did not measure the limit's metric (``figures`` supplies metrics measured elsewhere,
    e.g. ``canary_recovery`` from the inversion attack)."""
    verdicts = []
    for limit in limits:
        if limit.modality != modality:
            continue
        verdict: dict[str, Any] = {
            "limit": limit.id,
            "title": limit.title,
            "categories": list(limit.categories),
            "modality": modality,
            "metric": limit.metric,
            "max": limit.maximum,
            "defence": limit.defence_label(),
            "value": None,
            "baseline": None,
            "passed": None,
            "utility_kept": None,
            "min_utility_kept": limit.min_utility_kept,
            "utility_passed": None,
            "block": limit.block,
            "attacker": limit.attacker,
        }
        if limit.metric == REID:
            wanted = _level(limit.defence)
            row = _find(result, wanted) if wanted else None
            if row is not None:
                verdict["value"] = round(reidentification(row, limit.attacker), 4)
                verdict["baseline"] = round(reidentification(result["rows"][0], limit.attacker), 4)
                verdict["passed"] = verdict["value"] <= limit.maximum
                if "utility_kept" in row:
                    verdict["utility_kept"] = round(row["utility_kept"], 4)
                    if limit.min_utility_kept is not None:
                        verdict["utility_passed"] = row["utility_kept"] >= limit.min_utility_kept
        elif figures is not None and limit.metric in figures:
            verdict["value"] = round(float(figures[limit.metric]), 4)
            verdict["passed"] = verdict["value"] <= limit.maximum
        verdicts.append(verdict)
    return verdicts


def choices(result: Mapping[str, Any], limit: RiskLimit) -> list[dict[str, Any]]:
    """Every servable defence level (keyed noise) with its risk and utility and whether it
    meets both the limit and the utility goal, in the sweep's order."""
    out = []
    for row in result["rows"]:
        if row["defence"] not in ("none", "keyed_noise"):
            continue
        value = reidentification(row, limit.attacker)
        kept = row.get("utility_kept")
        utility_ok = (
            None
            if kept is None or limit.min_utility_kept is None
            else (kept >= limit.min_utility_kept)
        )
        out.append(
            {
                "defence": row["defence"],
                "level": row["level"],
                "risk": round(value, 4),
                "risk_ok": value <= limit.maximum,
                "utility_kept": None if kept is None else round(kept, 4),
                "utility_mrr": _mrr(result, row),
                "utility_ok": utility_ok,
                "meets_both": value <= limit.maximum and utility_ok is not False,
            }
        )
    return out


def _mrr(result: Mapping[str, Any], row: Mapping[str, Any]) -> float | None:
    direction = (result.get("utility") or {}).get("direction")
    value = (row.get("utility_mrr") or {}).get(direction)
    return None if value is None else round(float(value), 4)


def audit_details(verdict: Mapping[str, Any]) -> dict[str, Any]:
    """Flat figures of one verdict for the audit trail."""
    return {
        "limit": verdict["limit"],
        "modality": verdict["modality"],
        "metric": verdict["metric"],
        "value": verdict["value"],
        "max": verdict["max"],
        "defence": verdict["defence"],
        "utility_kept": verdict["utility_kept"],
        "utility_passed": verdict["utility_passed"],
    }


def outcome(verdict: Mapping[str, Any]) -> str:
    """``pass``, ``fail`` or ``not_measured``."""
    passed = verdict["passed"]
    return "not_measured" if passed is None else "pass" if passed else "fail"


CANARY = "canary_recovery"
MEMBERSHIP = "membership_auc"


def canary_recovery(row: Mapping[str, Any]) -> float:
    """The canary figure of one inversion row: the worst of the four recovery rates (names
    and MRNs, open and closed-set)."""
    return float(
        max(
            row["name_recovered"],
            row["name_closed_top1"],
            row["mrn_recovered"],
            row["mrn_closed_top1"],
        )
    )


def _same_level(row: Mapping[str, Any], wanted: tuple[str, str]) -> bool:
    """``sigma=0.02 (shipped)`` is the row of ``sigma=0.02`` (levels compared as numbers)."""
    if row["defence"] != wanted[0]:
        return False
    level, want = str(row["level"]).split(" (")[0], wanted[1]
    if level.startswith("sigma=") and want.startswith("sigma="):
        return float(level[6:]) == float(want[6:])
    return level == want


def _single(limit: RiskLimit, figures: Mapping[str, float]) -> dict[str, Any]:
    [verdict] = judge({"rows": []}, [limit], limit.modality, figures)
    return verdict


def judge_inversion(rows: Sequence[Mapping[str, Any]], limits: Sequence[RiskLimit]) -> list[dict]:
    """Every ``canary_recovery`` limit, judged on the inversion row of its defence (no
    defence: the ``none`` row; keyed noise: the row of its sigma; ``redact_before_encode``:
    the row of its kinds, the notes redacted by the real detector and re-embedded);
    ``baseline`` is the undefended row's figure. A defence the sweep does not model stays
    not measured. When the row carries SciFact nDCG@10 kept (``risk inversion --scifact``),
    it is the verdict's ``utility_kept``, judged against the limit's ``min_utility_kept``."""
    verdicts = []
    base = next((r for r in rows if _same_level(r, ("none", "-"))), None)
    for limit in limits:
        if limit.metric != CANARY:
            continue
        wanted = _level(limit.defence)
        row = next((r for r in rows if wanted and _same_level(r, wanted)), None)
        verdict = _single(limit, {CANARY: canary_recovery(row)} if row else {})
        verdict["baseline"] = None if base is None else round(canary_recovery(base), 4)
        verdict["judged_row"] = None if row is None else f"{row['defence']} {row['level']}"
        if row is not None and row.get("ndcg@10_kept") is not None:  # risk inversion --scifact
            verdict["utility_kept"] = round(float(row["ndcg@10_kept"]), 4)
            if limit.min_utility_kept is not None:
                verdict["utility_passed"] = row["ndcg@10_kept"] >= limit.min_utility_kept
        verdict["outcome"] = outcome(verdict)
        verdicts.append(verdict)
    return verdicts


def membership_figure(row: Mapping[str, Any]) -> float:
    """The stronger of the loss-threshold and shadow-model attacks' AUC."""
    return float(max(row["loss_threshold"]["auc"], row["shadow"]["auc"]))


def judge_membership(
    rows: Sequence[Mapping[str, Any]],
    limits: Sequence[RiskLimit],
    modality: str,
    epsilon: float | None,
) -> list[dict]:
    """Every ``membership_auc`` limit of ``modality``, judged on the row trained like the
    deployed adapter: DP-SGD at its target ``epsilon``, or the non-private row when the
    deployed adapter is not DP-trained (or none is deployed); ``baseline`` is the
    non-private row's figure."""
    verdicts = []
    base = next((r for r in rows if r["epsilon_target"] is None), None)
    row = next((r for r in rows if r["epsilon_target"] == epsilon), None)
    for limit in limits:
        if limit.metric != MEMBERSHIP or limit.modality != modality:
            continue
        verdict = _single(limit, {MEMBERSHIP: membership_figure(row)} if row else {})
        verdict["defence"] = "none (no DP)" if epsilon is None else f"dp_sgd(epsilon={epsilon:g})"
        verdict["baseline"] = None if base is None else round(membership_figure(base), 4)
        verdict["outcome"] = outcome(verdict)
        verdicts.append(verdict)
    return verdicts
