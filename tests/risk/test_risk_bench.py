"""``appliance bench risk`` pieces that need no model: SciFact sentence reading, the goal
verdicts and the printed tables."""

from __future__ import annotations

import json
from pathlib import Path

from appliance.bench.risk_attacks import goals, scifact_sentences
from appliance.bench.risk_report import print_report


def _row(defence: str, level: str, name: float) -> dict:
    figures = {"precision": 0.5, "recall": 0.5, "f1": 0.5, "recall@10": 0.9}
    for field in ("name", "mrn"):
        figures.update({f"{field}_recovered": 0.0, f"{field}_closed_top1": name,
                        f"{field}_closed_chance": 0.02, f"{field}_pieces_found": 0.1})  # fmt: skip
    return {"defence": defence, "level": level, **figures}


def _membership(epsilon: float | None, auc: float) -> dict:
    attack = {"auc": auc, "tpr_at_fpr": 0.01}
    return {"epsilon_target": epsilon, "epsilon_spent": epsilon, "loss_threshold": attack,
            "shadow": attack, "bound": {"auc": 1.0, "tpr_at_fpr": 1.0},
            "train_accuracy": 1.0, "held_out_accuracy": 0.9}  # fmt: skip


def test_scifact_sentences_are_split_and_bounded(tmp_path: Path) -> None:
    """Abstracts are split into sentences; too short ones are skipped; the count is kept."""
    lines = [
        {"_id": "1", "text": "Short. This sentence is long enough. And this one is long too!"},
        {"_id": "2", "text": "A third sentence that is long enough here."},
    ]
    (tmp_path / "corpus.jsonl").write_text("\n".join(json.dumps(x) for x in lines))
    assert scifact_sentences(tmp_path, 2) == [
        "This sentence is long enough.",
        "And this one is long too!",
    ]
    assert len(scifact_sentences(tmp_path, 10)) == 3


def test_goals_read_the_shipped_row_and_epsilon_8() -> None:
    """Canary goal from the shipped redaction row, not the research noise row (worst of
    open and closed-set), membership goal from the epsilon-8 row (best of both attacks);
    both printed."""
    report = {
        "inversion": {
            "params": {},
            "rows": [
                _row("none", "-", 0.8),
                _row("keyed_noise", "sigma=0.02 (shipped)", 0.7),
                _row("redact_before_encode", "direct ids (shipped)", 0.04),
            ],
        },
        "membership": [_membership(None, 0.6), _membership(8.0, 0.56)],
    }
    verdicts = goals(report)
    assert verdicts == {
        "canary recovery <= 5% under the shipped defence": True,
        "membership AUC <= 0.55 at epsilon 8": False,
    }
    report["goals"] = verdicts
    printed: list[str] = []
    print_report(report, printed.append)
    assert any("NOT met: membership" in line for line in printed)
    assert any("sigma=0.02 (shipped)" in line for line in printed)
