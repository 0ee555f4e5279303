"""``appliance risk membership`` end to end: the table as JSON and a figures-only entry on
the signed audit trail (``risk inversion``: tests/risk/test_risk_attack_verdicts.py)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import run_appliance

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _trail(capsys: pytest.CaptureFixture[str], data: str) -> list[dict]:
    code, exported, _ = run_appliance(capsys, "--data-dir", data, "audit", "export")
    assert code == 0
    return [json.loads(line) for line in exported.splitlines()]


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def shape_pairs(folder: Path, count: int = 48) -> Path:
    """An align-train pairs manifest: ``count`` random 8 x 8 PNGs captioned with one of four
    shape names (seeded)."""
    rng = np.random.default_rng(0)
    lines = []
    for i in range(count):
        (folder / f"{i}.png").write_bytes(_png(rng.integers(0, 256, size=(8, 8))))
        lines.append(json.dumps({"text": f"shape number {i % 4}", "file": f"{i}.png"}))
    manifest = folder / "pairs.jsonl"
    manifest.write_text("\n".join(lines) + "\n")
    return manifest


def test_risk_membership_attacks_adapters_with_and_without_dp(
    isolated_cli: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """From an align-train pairs manifest: a non-private and an epsilon-8 adapter, each
    attacked by loss threshold and shadow model, the DP row with its bound; signed."""
    data = str(tmp_path / "data")
    assert run_appliance(capsys, "--data-dir", data, "init")[0] == 0
    manifest = shape_pairs(tmp_path)
    code, out, err = run_appliance(
        capsys, "--data-dir", data, "risk", "membership", "--pairs", str(manifest),
        "--modality", "image", "--epsilon", "8", "--epochs", "3", "--shadows", "1", "--json",
    )  # fmt: skip
    assert code == 0, err
    result = json.loads(out)
    plain, private = result["rows"]
    assert plain["epsilon_target"] is None and plain["bound"]["auc"] == 1.0
    assert private["epsilon_spent"] <= 8.0 + 1e-6
    assert 0.5 < private["bound"]["auc"] <= 1.0
    for row in result["rows"]:
        for attack in ("loss_threshold", "shadow"):
            assert 0.0 <= row[attack]["auc"] <= 1.0
    entries = [e for e in _trail(capsys, data) if e["action"] == "risk.membership_audited"]
    assert len(entries) == 1
    assert entries[0]["details"]["pairs_sha256"] == result["params"]["pairs_sha256"]
