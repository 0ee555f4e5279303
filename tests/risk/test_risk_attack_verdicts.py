"""``risk inversion`` and ``risk membership`` judge the policy's canary_recovery and
membership_auc limits: verdicts on the signed trail and in the gate's file, so a failed
canary verdict closes ingestion of names and MRNs in text and a passing one re-opens it."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from appliance.policy.loader import default_policies_dir, load_policy_set
from appliance.risk.notes import canary_notes
from appliance.services.risk_gate import BLOCKED_CODE, RiskGate, VerdictStore
from tests.conftest import init_with_test_pack, run_appliance
from tests.risk.test_risk_attacks_cli import _trail, shape_pairs

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SHIPPED_CANARY = 'metric = "canary_recovery"\nmax = 0.05'


def _loose(tmp_path: Path) -> Path:
    """The shipped policies with the canary limit raised to 1.0 (every figure passes)."""
    target = tmp_path / "loose"
    shutil.copytree(default_policies_dir(), target)
    site = target / "site.toml"
    text = site.read_text(encoding="utf-8")
    assert SHIPPED_CANARY in text
    site.write_text(text.replace(SHIPPED_CANARY, 'metric = "canary_recovery"\nmax = 1.0'))
    return target


def _inversion(capsys: pytest.CaptureFixture[str], data: str, *extra: str) -> dict:
    code, out, err = run_appliance(
        capsys, "--data-dir", data, "risk", "inversion",
        "--public", "40", "--notes", "12", "--epochs", "2", "--json", *extra,
    )  # fmt: skip
    assert code == 0, err
    assert "decoder" in err and "defences" in err  # progress bars on stderr
    return dict(json.loads(out))


def test_failed_canary_verdict_blocks_names_in_text_until_a_passing_one(
    isolated_cli: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`risk inversion` sweeps every text defence; its failing canary verdict refuses text with
    names/MRNs at the gate, a run under a loose limit re-opens it; verdicts and figures (never
    a canary) are signed; the report is self-contained."""
    data = init_with_test_pack(capsys, tmp_path)
    strict = _policies_with_max(tmp_path, 0.0, undefended=True)
    gate = RiskGate(load_policy_set(default_policies_dir()).risk_limits,
                    VerdictStore.in_data_dir(Path(data)))  # fmt: skip
    assert gate.check("text", ["hipaa.names"]) is None  # on_fail: open before any run

    failed = _inversion(capsys, data, "--policies", str(strict), "--report", str(tmp_path / "r"))
    levels = {(r["defence"], r["level"]) for r in failed["rows"]}
    assert ("keyed_noise", "sigma=0.02 (shipped)") in levels
    assert ("redact_before_encode", "direct ids (shipped)") in levels
    assert {"none", "pca", "int8", "binary", "rotation"} <= {d for d, _ in levels}
    for row in failed["rows"]:
        assert 0.0 <= row["f1"] <= 1.0 and 0.0 <= row["name_closed_top1"] <= 1.0
        assert 0.0 <= row["recall@10"] <= 1.0
    [verdict] = failed["verdicts"]
    assert verdict["limit"] == "site.risk.canary_names" and verdict["outcome"] == "fail"
    assert verdict["judged_row"] == "none -" and verdict["value"] > 0.0
    block = gate.check("text", ["hipaa.medical_record_numbers"])
    assert block is not None and block.code == BLOCKED_CODE and "risk inversion" in block.remedy
    assert gate.check("image", ["hipaa.names"]) is None  # other modalities stay open
    page = (tmp_path / "r" / "risk-report.html").read_text(encoding="utf-8")
    text = page.replace("<wbr>", "")  # the verdict table's break opportunities
    assert "site.risk.canary_names" in text and "FAIL" in page and "data:image/png" in page
    assert "http" not in page.replace("http-equiv", "")  # nothing fetched, no external link

    passed = _inversion(capsys, data, "--policies", str(_loose(tmp_path)))
    assert [v["outcome"] for v in passed["verdicts"]] == ["pass"]
    assert passed["verdicts"][0]["judged_row"] == "redact_before_encode direct ids (shipped)"
    assert gate.check("text", ["hipaa.names"]) is None
    trail = _trail(capsys, data)
    entries = [e for e in trail if e["action"] == "risk.verdict"]
    assert [(e["outcome"], e["details"]["audited_seq"]) for e in entries] == [
        ("fail", failed["audit_seq"]),
        ("pass", passed["audit_seq"]),
    ]
    audited = [e for e in trail if e["action"] == "risk.inversion_audited"]
    assert [e["seq"] for e in audited] == [failed["audit_seq"], passed["audit_seq"]]
    trail_text = json.dumps(trail)  # figures only: never a canary name or MRN
    for note in canary_notes(12, seed=0):
        assert note.name not in trail_text and note.mrn not in trail_text


def _policies_with_max(tmp_path: Path, maximum: float, undefended: bool = False) -> Path:
    """The shipped policies with the canary limit's max set to ``maximum`` (``undefended``:
    and no defence required, so it is judged on the undefended row, as before the
    redaction defence shipped)."""
    target = tmp_path / f"max-{maximum}"
    shutil.copytree(default_policies_dir(), target)
    site = target / "site.toml"
    text = site.read_text(encoding="utf-8")
    text = text.replace(SHIPPED_CANARY, f'metric = "canary_recovery"\nmax = {maximum}')
    if undefended:
        text = re.sub(
            r'defence = \{ name = "redact_before_encode".*?\] \} \}\n', "", text, flags=re.S
        )
    site.write_text(text)
    return target


def test_membership_verdict_is_recorded_on_the_non_private_row_without_a_dp_adapter(
    isolated_cli: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With no DP adapter deployed, `risk membership` judges site.risk.membership on the
    non-private row (the stronger attack's AUC) and records the verdict; block never."""
    data = str(tmp_path / "data")
    assert run_appliance(capsys, "--data-dir", data, "init")[0] == 0
    manifest = shape_pairs(tmp_path)
    code, out, err = run_appliance(
        capsys, "--data-dir", data, "risk", "membership", "--pairs", str(manifest),
        "--modality", "image", "--epsilon", "8", "--epochs", "2", "--shadows", "1", "--json",
    )  # fmt: skip
    assert code == 0, err
    result = json.loads(out)
    [verdict] = result["verdicts"]
    plain = result["rows"][0]
    assert verdict["limit"] == "site.risk.membership" and verdict["defence"] == "none (no DP)"
    stronger = max(plain["loss_threshold"]["auc"], plain["shadow"]["auc"])
    assert verdict["value"] == pytest.approx(stronger, abs=1e-4)
    assert verdict["outcome"] == ("pass" if stronger <= 0.55 else "fail")
    recorded = VerdictStore.in_data_dir(Path(data)).load()["site.risk.membership"]
    assert recorded["passed"] is (stronger <= 0.55)
    assert recorded["manifest_sha256"] == result["params"]["pairs_sha256"]
    [entry] = [e for e in _trail(capsys, data) if e["action"] == "risk.verdict"]
    assert entry["details"]["audited_seq"] == result["audit_seq"]
    gate = RiskGate(load_policy_set(default_policies_dir()).risk_limits,
                    VerdictStore.in_data_dir(Path(data)))  # fmt: skip
    assert gate.check("image", ["hipaa.full_face_images"]) is None  # block never: report only


def _row(defence: str, level: str, name_closed: float, mrn_open: float = 0.0) -> dict:
    return {
        "defence": defence,
        "level": level,
        "name_recovered": 0.0,
        "name_closed_top1": name_closed,
        "mrn_recovered": mrn_open,
        "mrn_closed_top1": 0.0,
    }


def test_canary_limit_is_judged_on_its_defence_row_with_the_worst_rate() -> None:
    """A noise limit reads the row of its sigma (`(shipped)` suffix and number format aside),
    the worst of the four rates; a defence the sweep lacks stays not measured."""
    from types import MappingProxyType

    from appliance.policy.model import RiskLimit, Source
    from appliance.risk.policy import judge_inversion

    rows = [
        _row("none", "-", 0.9),
        _row("keyed_noise", "sigma=0.02 (shipped)", 0.04, mrn_open=0.06),
        _row("keyed_noise", "sigma=0.3", 0.01),
    ]

    def limit(defence: tuple[str, dict] | None) -> RiskLimit:
        return RiskLimit(
            id="site.risk.c", title="t", citation="c", categories=("hipaa.names",),
            modality="text", metric="canary_recovery", maximum=0.05,
            defence=None if defence is None else (defence[0], MappingProxyType(defence[1])),
            min_utility_kept=None, block="on_fail", source=Source("site.toml", 1),
        )  # fmt: skip

    [none] = judge_inversion(rows, [limit(None)])
    assert (none["value"], none["outcome"], none["judged_row"]) == (0.9, "fail", "none -")
    [shipped] = judge_inversion(rows, [limit(("gaussian_noise", {"sigma": 0.020}))])
    assert (shipped["value"], shipped["outcome"], shipped["baseline"]) == (0.06, "fail", 0.9)
    [strong] = judge_inversion(rows, [limit(("gaussian_noise", {"sigma": 0.3}))])
    assert (strong["value"], strong["outcome"]) == (0.01, "pass")
    [other] = judge_inversion(rows, [limit(("pca", {"dims": 16}))])
    assert other["outcome"] == "not_measured" and other["judged_row"] is None


def test_redaction_limit_is_judged_on_the_row_of_its_kinds() -> None:
    """A redact_before_encode limit reads the redaction row of its kinds, not the undefended
    one; other kinds are not measured."""
    from types import MappingProxyType

    from appliance.policy.model import RiskLimit, Source
    from appliance.risk.policy import DIRECT_IDENTIFIER_KINDS, judge_inversion

    rows = [
        _row("none", "-", 0.99),
        _row("redact_before_encode", "direct ids (shipped)", 0.02),
        _row("redact_before_encode", "all located kinds", 0.01),
    ]

    def limit(params: dict) -> RiskLimit:
        return RiskLimit(
            id="site.risk.c", title="t", citation="c", categories=("hipaa.names",),
            modality="text", metric="canary_recovery", maximum=0.05,
            defence=("redact_before_encode", MappingProxyType(params)),
            min_utility_kept=None, block="on_fail", source=Source("site.toml", 1),
        )  # fmt: skip

    [shipped] = judge_inversion(rows, [limit({"kinds": list(reversed(DIRECT_IDENTIFIER_KINDS))})])
    assert (shipped["value"], shipped["outcome"], shipped["baseline"]) == (0.02, "pass", 0.99)
    assert shipped["judged_row"] == "redact_before_encode direct ids (shipped)"
    [every] = judge_inversion(rows, [limit({})])
    assert (every["value"], every["judged_row"]) == (0.01, "redact_before_encode all located kinds")
    [names] = judge_inversion(rows, [limit({"kinds": ["person_name"]})])
    assert names["outcome"] == "not_measured"
