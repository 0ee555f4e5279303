"""Risk limits in the policy, verdicts against them, the ingest gate, and the report."""

from __future__ import annotations

import shutil
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from appliance.policy import PolicyError, load_policy_set
from appliance.policy.loader import default_policies_dir
from appliance.risk import policy as risk_policy
from appliance.risk.audit import ProbeSet, run_audit
from appliance.risk.report import render_html, tradeoff_png, write_report
from appliance.risk.utility import UtilityPairs, measure
from appliance.services.risk_gate import BLOCKED_CODE, RiskGate, VerdictStore

LIMIT = """
[[risk_limits]]
id = "site.risk.test"
title = "test limit"
citation = "test"
categories = ["hipaa.names"]
modality = "text"
metric = "reidentification_top1_over_chance"
max = {maximum}
{defence}
block = "{block}"
"""


def _policies(
    tmp_path: Path, maximum: float = 2.0, defence: str = "", block: str = "on_fail"
) -> Path:
    target = tmp_path / "policies"
    shutil.copytree(default_policies_dir(), target)
    with (target / "site.toml").open("a", encoding="utf-8") as site:
        site.write(LIMIT.format(maximum=maximum, defence=defence, block=block))
    return target


def _clustered(identities: int = 4, per: int = 6, dim: int = 24, seed: int = 0) -> ProbeSet:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(identities, dim))
    vectors = np.vstack([c + 0.3 * rng.normal(size=(per, dim)) for c in centres])
    labels = [f"id{i}" for i in range(identities) for _ in range(per)]
    return ProbeSet(vectors, labels, [f"sample {i}" for i in range(len(labels))])


def test_shipped_policy_limits_name_a_defence_some_rule_applies() -> None:
    """The shipped site policy caps voiceprint and face re-identification at 2x chance and
    the noise each requires is the one a rule applies to those categories."""
    limits = {limit.id: limit for limit in load_policy_set().risk_limits}
    for name, modality in (("site.risk.voiceprint", "audio"), ("site.risk.face", "image")):
        limit = limits[name]
        assert limit.modality == modality and limit.maximum == 2.0
        assert limit.defence is not None and limit.defence[0] == "gaussian_noise"
        assert limit.min_utility_kept == 0.9 and limit.block == "on_fail"
    assert limits["site.risk.canary_names"].maximum == 0.05
    assert limits["site.risk.membership"].maximum == 0.55


def test_limit_whose_defence_no_rule_applies_is_refused(tmp_path: Path) -> None:
    """A limit requiring a defence that no rule applies to its categories fails the load,
    naming site.toml and the line."""
    folder = _policies(
        tmp_path, defence='defence = { name = "gaussian_noise", params = { sigma = 0.77 } }'
    )
    with pytest.raises(PolicyError) as error:
        load_policy_set(folder)
    assert "site.toml:" in str(error.value) and "no rule in force applies" in str(error.value)


def test_limit_with_unknown_metric_and_category_is_refused(tmp_path: Path) -> None:
    """Unknown metrics, categories and block modes are load errors, not silent passes."""
    folder = _policies(tmp_path, block="sometimes")
    with pytest.raises(PolicyError, match="block must be one of"):
        load_policy_set(folder)


@pytest.fixture(scope="module")
def audited() -> dict[str, Any]:
    """One sweep of clustered identities, priced on 20 caption pairs (shared: it is slow)."""
    probe = _clustered()
    rng = np.random.default_rng(1)
    texts = rng.normal(size=(20, 24))
    items = texts + 0.05 * rng.normal(size=(20, 24))
    keys = [f"caption {i}" for i in range(20)]
    utility = UtilityPairs("text", items, texts, keys, keys)
    return run_audit(probe, key=b"k" * 32, utility=utility, noise_sigmas=(0.01, 1.0))


def test_judge_passes_and_fails_on_the_required_defence_row(
    tmp_path: Path, audited: dict[str, Any]
) -> None:
    """The verdict is read on the row of the limit's defence: the undefended clusters fail
    a 2x-chance limit, heavy keyed noise lowers the risk, and its utility cost is reported."""
    result = audited
    limits = load_policy_set(_policies(tmp_path)).risk_limits
    [verdict] = risk_policy.judge(
        result, [lim for lim in limits if lim.id == "site.risk.test"], "text"
    )
    assert verdict["passed"] is False and verdict["value"] > 2.0  # no defence: identity found
    noisy = next(r for r in result["rows"] if r["level"] == "sigma=1.0")
    assert risk_policy.reidentification(noisy) < verdict["value"]
    assert noisy["utility_kept"] < 1.0
    stored = replace(limits[-1], attacker="stored")
    [only_stored] = risk_policy.judge(result, [stored], "text")
    base = result["rows"][0]
    assert only_stored["baseline"] == pytest.approx(base["top1"] / base["chance_top1"], abs=1e-4)
    assert verdict["baseline"] == pytest.approx(
        max(base["top1"], base["cross_top1"]) / base["chance_top1"], abs=1e-4
    )
    choices = risk_policy.choices(result, limits[-1])
    assert [c["level"] for c in choices] == ["-", "sigma=0.01", "sigma=1.0"]


def test_utility_rotation_applied_to_both_sides_costs_nothing() -> None:
    """A keyed rotation the appliance also applies to queries keeps the alignment audit's
    figures exactly; int8 on the stored side keeps them nearly; heavy noise costs."""
    probe = _clustered(seed=3)
    pairs = UtilityPairs("text", probe.vectors, probe.vectors + 0.05, probe.labels, probe.inputs)
    base = measure(pairs)
    q, _ = np.linalg.qr(np.random.default_rng(2).normal(size=(24, 24)))
    rotated = measure(pairs, lambda x, _i: x @ q, lambda x: x @ q)
    assert rotated["text->text"]["mrr"] == pytest.approx(base["text->text"]["mrr"])
    noisy = measure(pairs, lambda x, _i: x + np.random.default_rng(0).normal(0, 5, x.shape))
    assert noisy["text->text"]["mrr"] < base["text->text"]["mrr"]


def _verdict(passed: bool | None) -> dict[str, Any]:
    return {
        "limit": "site.risk.test",
        "metric": "reidentification_top1_over_chance",
        "value": 3.0 if passed is False else 1.0,
        "max": 2.0,
        "defence": "none",
        "passed": passed,
        "audit_seq": 7,
    }


def test_gate_blocks_on_fail_and_reopens_on_pass(tmp_path: Path) -> None:
    """A failed verdict refuses items of the limit's modality and categories with a code and
    remedy; other categories and modalities pass; a later passing verdict re-opens."""
    limits = [
        lim
        for lim in load_policy_set(_policies(tmp_path)).risk_limits
        if lim.id == "site.risk.test"
    ]
    store = VerdictStore.in_data_dir(tmp_path / "data")
    gate = RiskGate(limits, store)
    assert gate.check("text", ["hipaa.names"]) is None  # no audit yet: open
    store.record({"site.risk.test": _verdict(False)})
    blocked = gate.check("text", ["hipaa.names", "ccpa.identifiers"])
    assert blocked is not None and blocked.code == BLOCKED_CODE
    assert "site.risk.test" in blocked.message and "risk audit" in blocked.remedy
    assert gate.check("text", ["hipaa.dates"]) is None
    assert gate.check("image", ["hipaa.names"]) is None
    store.record({"site.risk.test": _verdict(True)})
    assert gate.check("text", ["hipaa.names"]) is None
    assert (store.path.stat().st_mode & 0o777) == 0o600


def test_gate_until_pass_and_damaged_verdicts_fail_closed(tmp_path: Path) -> None:
    """block = until_pass refuses before any audit; a damaged verdict file refuses every
    blocking limit instead of letting items through."""
    limits = [
        lim
        for lim in load_policy_set(_policies(tmp_path, block="until_pass")).risk_limits
        if lim.id == "site.risk.test"
    ]
    store = VerdictStore.in_data_dir(tmp_path / "data")
    gate = RiskGate(limits, store)
    assert gate.check("text", ["hipaa.names"]) is not None
    store.record({"site.risk.test": _verdict(True)})
    assert gate.check("text", ["hipaa.names"]) is None
    store.path.write_text("{ truncated")
    refused = gate.check("text", ["hipaa.names"])
    assert refused is not None and "cannot be read" in refused.message


class _Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.refs += [v or "" for k, v in attrs if k in ("src", "href", "srcset", "action")]


def test_report_has_verdicts_plots_and_extra_sections_and_nothing_external(
    tmp_path: Path, audited: dict[str, Any]
) -> None:
    """The report shows the verdict table, a plot per judged limit, an extra section given by
    another attack; every reference is an embedded data: PNG; no script, link or style file;
    the verdict table's long identifiers may wrap (so it fits a page)."""
    result = dict(audited)
    limits = load_policy_set(_policies(tmp_path)).risk_limits
    result["verdicts"] = risk_policy.judge(result, limits, "text")
    for verdict in result["verdicts"]:
        verdict["outcome"] = risk_policy.outcome(verdict)
    result["choices"] = {"site.risk.test": risk_policy.choices(result, limits[-1])}
    extra = {"title": "Membership <inference>", "table": [{"epsilon": 8, "auc": 0.51}]}
    page_path = write_report(result, tmp_path / "report", extra_sections=[extra])
    page = page_path.read_text()
    assert "Policy verdicts" in page and "site.risk.test" in page and "FAIL" in page
    assert "<td>site.<wbr>risk.<wbr>test</td>" in page
    assert "Membership &lt;inference&gt;" in page and "0.510" in page
    assert (tmp_path / "report" / "tradeoff-site.risk.test.png").read_bytes()[:4] == b"\x89PNG"
    parser = _Refs()
    parser.feed(page)
    assert parser.refs and all(r.startswith("data:image/png;base64,") for r in parser.refs)
    assert not parser.tags & {"script", "link", "iframe", "object", "embed"}
    assert render_html(result, tradeoff_png(result)).count("<img") == 1  # no plots given
