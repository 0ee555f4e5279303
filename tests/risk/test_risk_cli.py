"""``appliance risk audit`` end to end on the tiny test pack: a labelled text probe set is
embedded by the active space, attacked, and a summary lands on the signed audit trail."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import init_with_test_pack, run_appliance

TOPICS = {
    "ward-a": "cardiology echo ventricle heart valve murmur",
    "ward-b": "orthopaedic fracture femur cast bone plaster",
    "ward-c": "dermatology rash eczema skin lesion itch",
    "ward-d": "neurology seizure migraine nerve tremor stroke",
}
SHARED = ("patient", "seen", "today", "follow", "up", "review")


@pytest.fixture
def probe_manifest(tmp_path: Path) -> Path:
    """Six notes per identity: its own topic words in turn, plus one word every identity uses."""
    lines = []
    for identity, words in TOPICS.items():
        vocabulary = words.split()
        for i in range(6):
            text = " ".join(vocabulary[i:] + vocabulary[:i]) + " " + SHARED[i]
            group = "surgical" if identity == "ward-b" else "medical"
            record = {"identity": identity, "text": text, "attributes": {"group": group}}
            lines.append(json.dumps(record))
    path = tmp_path / "probe.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_risk_audit_reports_and_writes_signed_entry(
    isolated_cli: None, tmp_path: Path, probe_manifest: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The audit prints every defence row with utility, finds the planted identities above
    chance, appends a risk.audited entry that the trail verifies, and writes a
    self-contained report (embedded PNG plot, nothing fetched)."""
    data = init_with_test_pack(capsys, tmp_path)
    code, out, err = run_appliance(
        capsys,
        "--data-dir",
        data,
        "risk",
        "audit",
        "--manifest",
        str(probe_manifest),
        "--json",
        "--report",
        str(tmp_path / "report"),
    )
    assert code == 0, err
    result = json.loads(out)
    defences = {row["defence"] for row in result["rows"]}
    assert {"none", "keyed_noise", "int8", "binary", "rotation", "identity_removal"} <= defences
    base = result["rows"][0]
    assert result["identities"] == 4 and result["samples"] == 24
    assert base["top1"] > 2 * base["chance_top1"]
    assert all(0.0 <= row["recall@10"] <= 1.0 for row in result["rows"])
    assert "group" in base["attributes"]

    code, exported, _ = run_appliance(capsys, "--data-dir", data, "audit", "export")
    assert code == 0
    entries = [json.loads(line) for line in exported.splitlines()]
    audited = [e for e in entries if e["action"] == "risk.audited"]
    assert len(audited) == 1
    details = audited[0]["details"]
    assert details["manifest_sha256"] == result["manifest_sha256"]
    assert details["baseline_top1"] == round(base["top1"], 4)
    assert "cardiology" not in exported  # figures only, never the probe texts
    assert run_appliance(capsys, "--data-dir", data, "audit", "verify")[0] == 0

    page = (tmp_path / "report" / "risk-report.html").read_text()
    assert "data:image/png;base64,iVBORw0KGgo" in page  # the plot is embedded PNG
    assert "http://" not in page and "https://" not in page and "<script" not in page
    assert "identity_removal" in page and "cardiology" not in page
    saved = json.loads((tmp_path / "report" / "risk-report.json").read_text())
    assert saved["manifest_sha256"] == result["manifest_sha256"]


def test_risk_audit_refuses_a_single_identity(
    isolated_cli: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A manifest with one identity cannot be audited and the error names the remedy."""
    path = tmp_path / "one.jsonl"
    path.write_text('{"identity": "x", "text": "a"}\n{"identity": "x", "text": "b"}\n')
    data = str(tmp_path / "data")
    assert run_appliance(capsys, "--data-dir", data, "init")[0] == 0
    code, _, err = run_appliance(
        capsys, "--data-dir", data, "risk", "audit", "--manifest", str(path)
    )
    assert code != 0
    assert "two identities" in err
