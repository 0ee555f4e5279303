"""``appliance risk manifests``: probe sets and utility pairs of the public corpora."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from appliance.align.pairs import read_pairs
from appliance.risk.manifest import read_probe_manifest
from tests.conftest import run_appliance, shared_data_dir


def test_manifests_for_fsdd_orl_and_digits(
    isolated_cli: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """FSDD splits by take into a speaker probe set, its caption pairs and disjoint training
    pairs; ORL gives one identity per person; the digits are the tower's held-out pairs."""
    fsdd, orl = shared_data_dir("fsdd"), shared_data_dir("orl_faces")
    out = tmp_path / "m"
    argv = ["risk", "manifests", "--fsdd", str(fsdd), "--orl", str(orl), "--digits"]
    code, printed, err = run_appliance(capsys, *argv, "--takes", "1", "--out", str(out))
    assert code == 0, err
    assert len(printed.split()) == 5
    probe = [json.loads(line) for line in (out / "fsdd-probe.jsonl").read_text().splitlines()]
    train = (out / "fsdd-train.jsonl").read_text()
    assert len(probe) == 60 and len({r["identity"] for r in probe}) == 6
    assert all("accent" in r["attributes"] for r in probe)
    assert not {r["file"] for r in probe} & {json.loads(x)["file"] for x in train.splitlines()}
    utility = (out / "fsdd-utility.jsonl").read_text().splitlines()
    assert json.loads(utility[0])["text"].startswith("the spoken digit ")
    lines = (out / "orl-probe.jsonl").read_text().splitlines()
    assert len(lines) == 400 and len({json.loads(x)["identity"] for x in lines}) == 40
    (tmp_path / "two.jsonl").write_text("\n".join(lines[:2] + lines[10:12]) + "\n")
    assert read_probe_manifest(tmp_path / "two.jsonl").modality == "image"
    digits = read_pairs(out / "digits-utility.jsonl")
    assert len(digits) == 180 and len({p.key for p in digits}) == 10
