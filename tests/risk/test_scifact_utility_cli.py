"""``risk inversion --scifact``: every inversion row carries its nDCG@10 and kept fraction,
the clean vectors land in the given cache (no text), the report shows the column and the
audit trail keeps the figures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import init_with_test_pack, run_appliance
from tests.risk.test_risk_attacks_cli import _trail

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TOPICS = ["statin", "insulin", "asthma", "melanoma", "sepsis", "anemia"]


def _toy_scifact(root: Path) -> Path:
    """A BEIR-shaped folder: six abstracts, three judged claims (our own text: a unit test)."""
    root.mkdir()
    (root / "qrels").mkdir()
    (root / "corpus.jsonl").write_text(
        "\n".join(
            json.dumps({"_id": str(i), "title": t, "text": f"{t} trial outcome {i}"})
            for i, t in enumerate(TOPICS)
        ),
        "utf-8",
    )
    (root / "queries.jsonl").write_text(
        "\n".join(json.dumps({"_id": f"q{i}", "text": f"{TOPICS[i]} outcome"}) for i in range(3)),
        "utf-8",
    )
    qrels = ["query-id\tcorpus-id\tscore"] + [f"q{i}\t{i}\t1" for i in range(3)]
    (root / "qrels" / "test.tsv").write_text("\n".join(qrels) + "\n", "utf-8")
    return root


@pytest.mark.slow
def test_risk_inversion_with_scifact_joins_ndcg_to_every_row(
    isolated_cli: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each level gets nDCG@10 and kept (the undefended row keeps 1.0), the cache file holds
    no corpus word, the HTML report has the column, the trail has the per-level lines."""
    data = init_with_test_pack(capsys, tmp_path)
    cache = tmp_path / "cache"
    code, out, err = run_appliance(
        capsys, "--data-dir", data, "risk", "inversion", "--public", "40", "--notes", "12",
        "--epochs", "1", "--json", "--scifact", str(_toy_scifact(tmp_path / "scifact")),
        "--ndcg-cache", str(cache), "--report", str(tmp_path / "r"),
    )  # fmt: skip
    assert code == 0, err
    result = json.loads(out)
    assert all(0.0 <= row["ndcg@10"] <= 1.0 for row in result["rows"])
    assert result["rows"][0]["ndcg@10_kept"] == 1.0
    assert result["scifact_ndcg"]["queries"] == 3 and result["scifact_ndcg"]["documents"] == 6
    noise = [r for r in result["rows"] if r["defence"] == "keyed_noise"]
    assert noise and all(r["query_vectors"] == "clean" for r in noise)
    [cached] = cache.glob("*.npz")
    assert b"melanoma" not in cached.read_bytes()
    page = (tmp_path / "r" / "risk-report.html").read_text(encoding="utf-8")
    assert "SciFact nDCG@10" in page and "nDCG@10 kept" in page
    [entry] = [e for e in _trail(capsys, data) if e["action"] == "risk.inversion_audited"]
    assert any("nDCG@10" in line for line in entry["details"]["scifact_ndcg"])
