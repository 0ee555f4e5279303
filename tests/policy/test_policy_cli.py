"""Operator surface: `policy check`, `policy show`, `inventory` on generated files, and
`consents` on a data dir. Detector runs go through a subprocess of the real CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile
from PIL import Image

from appliance.policy import PolicyEngine
from tests.policy.conftest import REPO_POLICIES

PHI_TEXT = (
    "Patient John Smith (MRN 48213377) was seen on 03/14/2025 at 12 Oak Street, "
    "Springfield. Call 312-555-0199 with results.\n"
)
CLEAN_TEXT = "Chest radiograph shows no acute cardiopulmonary abnormality. Heart size is normal.\n"


def run_cli(tmp_path: Path, *argv: str) -> tuple[int, str, str]:
    """Run ``appliance ARGV`` in a fresh interpreter; returns (exit code, stdout, stderr)."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "APPLIANCE_LOGGING__LEVEL": "warning"}
    if os.environ.get("PYTHONPATH"):
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    done = subprocess.run(
        [
            sys.executable,
            "-X",
            "faulthandler",
            "-m",
            "appliance",
            "--data-dir",
            str(tmp_path / "no-data-dir"),
            *argv,
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        timeout=240,
        check=False,
    )
    return done.returncode, done.stdout, done.stderr


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Text with PHI, PHI-free text, a PNG, a WAV tone, a DICOM and an unsupported blob."""
    from pydicom.data import get_testdata_file

    root = tmp_path_factory.mktemp("corpus")
    (root / "notes").mkdir()
    (root / "notes" / "phi.txt").write_text(PHI_TEXT)
    (root / "notes" / "clean.txt").write_text(CLEAN_TEXT)
    rng = np.random.default_rng(0)
    pixels = (rng.random((48, 64, 3)) * 255).astype(np.uint8)
    (root / "images").mkdir()
    Image.fromarray(pixels).save(root / "images" / "noise.png")
    shutil.copy(str(get_testdata_file("CT_small.dcm")), root / "images" / "ct.dcm")
    (root / "audio").mkdir()
    t = np.arange(8000) / 8000
    soundfile.write(root / "audio" / "tone.wav", 0.3 * np.sin(2 * np.pi * 440 * t), 8000)
    (root / "blob.bin").write_bytes(bytes(range(256)) * 4)
    return root


def _by_file(results: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {Path(r["file"]).name: r for r in results}


def test_policy_check_json_gives_one_result_per_file_in_order(corpus: Path, tmp_path: Path) -> None:
    """Findings, categories, regimes and the decision per file; no data dir is created."""
    files = [
        corpus / "notes" / "phi.txt",
        corpus / "notes" / "clean.txt",
        corpus / "images" / "noise.png",
        corpus / "audio" / "tone.wav",
        corpus / "images" / "ct.dcm",
    ]
    code, out, err = run_cli(tmp_path, "policy", "check", "--json", *map(str, files))
    assert code == 0, err
    results = json.loads(out)
    assert [r["file"] for r in results] == [str(f) for f in files]
    expected_hash = PolicyEngine.load(REPO_POLICIES).policy_hash
    for r in results:
        assert set(r) >= {"file", "modality", "findings", "categories", "regimes", "decision"}
        assert r["decision"]["policy_hash"] == expected_hash
    phi, clean, png, wav, dcm = results
    assert phi["modality"] == "text" and phi["facts"]["language"] == "en"
    kinds = {f["kind"] for f in phi["findings"]}
    assert {"person_name", "medical_record_number", "phone_number"} <= kinds
    assert all(
        set(f) == {"kind", "detector", "modality", "score", "location"} for f in phi["findings"]
    )
    assert {"hipaa.names", "hipaa.medical_record_numbers"} <= set(phi["categories"])
    assert "hipaa" in phi["regimes"]
    assert phi["decision"]["outcome"] == "allow_with_obligations"
    assert phi["decision"]["visible_to"] == ["admin", "query"]
    assert clean["findings"] == [] and clean["decision"]["outcome"] == "allow"
    assert png["modality"] == "image" and png["format"] == "PNG"
    assert png["facts"]["width"] == 64 and png["decision"]["outcome"] == "allow"
    assert wav["modality"] == "audio" and wav["facts"]["sample_rate"] == 8000
    assert dcm["format"] == "DICOM" and "hipaa.dicom_identifiers" in dcm["categories"]
    assert "Smith" not in out and "48213377" not in out  # findings carry spans, never content
    assert not (tmp_path / "no-data-dir").exists()


def test_policy_check_context_options_and_readable_output(corpus: Path, tmp_path: Path) -> None:
    """--role/--purpose change the decision; the table names outcome, categories, reasons."""
    phi = str(corpus / "notes" / "phi.txt")
    code, out, _ = run_cli(
        tmp_path, "policy", "check", "--role", "patient", "--purpose", "research", phi
    )
    assert code == 0
    assert f"{phi}: allow_with_obligations" in out
    assert "de-identify (safe_harbor) before encoding" in out
    assert "hipaa.patient-research-deidentify [45 CFR 164.514(a)" in out
    assert "categories   " in out and "hipaa.names" in out


def test_policy_check_reports_unsupported_files_and_exits_1(corpus: Path, tmp_path: Path) -> None:
    """An unsupported file gets an error entry (others still checked) and exit status 1."""
    files = [str(corpus / "blob.bin"), str(corpus / "notes" / "clean.txt")]
    code, out, _ = run_cli(tmp_path, "policy", "check", "--json", *files)
    assert code == 1
    blob, clean = json.loads(out)
    assert blob["error"]["code"] == "invalid_input" and "decision" not in blob
    assert clean["decision"]["outcome"] == "allow"


def test_policy_show_and_invalid_policies(tmp_path: Path) -> None:
    """show prints the effective policy; a broken policy dir stops with file:line, exit 2."""
    code, out, _ = run_cli(tmp_path, "policy", "show", "--json")
    assert code == 0
    shown = json.loads(out)
    assert shown["policy_hash"] == PolicyEngine.load(REPO_POLICIES).policy_hash
    assert shown["files"] == ["bipa.toml", "ccpa.toml", "hipaa.toml", "site.toml"]
    assert "bipa.written-release" in {r["id"] for r in shown["rules"]}
    broken = tmp_path / "broken"
    shutil.copytree(REPO_POLICIES, broken)
    bipa = broken / "bipa.toml"
    bipa.write_text(bipa.read_text().replace('roles = ["staff", "visitor"]', 'roles = ["staf"]'))
    code, _, err = run_cli(tmp_path, "policy", "show", "--policies", str(broken))
    assert code == 2
    assert f"{bipa}:" in err and "can never match subject role 'staf'" in err


def test_inventory_json_summarises_the_corpus(corpus: Path, tmp_path: Path) -> None:
    """Per modality counts/formats/facts, finding shares by kind, category and regime."""
    code, out, err = run_cli(tmp_path, "inventory", "--json", str(corpus))
    assert code == 0, err
    inv = json.loads(out)
    assert inv["files"] == 6 and inv["items"] == 5
    assert inv["skipped"]["count"] == 1 and inv["skipped"]["examples"][0]["file"] == "blob.bin"
    text, image, audio = (inv["modalities"][m] for m in ("text", "image", "audio"))
    assert text["count"] == 2 and text["languages"] == {"en": 2}
    assert text["length_chars"]["max"] == len(PHI_TEXT)
    assert image["count"] == 2 and image["formats"] == {"DICOM": 1, "PNG": 1}
    assert image["dicom"] == 1 and image["resolutions"] == {"128x128": 1, "64x48": 1}
    assert audio["sample_rates"] == {"8000": 1} and audio["channels"] == {"1": 1}
    assert audio["duration_s"]["max"] == pytest.approx(1.0)
    findings = inv["findings"]
    assert findings["phi"] == {"items": 2, "share": 0.4}  # the PHI note and the DICOM
    assert findings["faces"]["items"] == 0 and findings["speech"]["items"] == 0
    assert findings["categories"]["hipaa.names"] == {"items": 1, "share": 0.2}
    assert findings["regimes"]["hipaa"]["items"] == 2
    assert inv["decisions"]["outcomes"] == {"allow_with_obligations": 2, "allow": 3}
    assert "Smith" not in out


def test_inventory_table_is_readable(corpus: Path, tmp_path: Path) -> None:
    """The default output is a table with modality rows and finding shares."""
    code, out, _ = run_cli(tmp_path, "inventory", str(corpus))
    assert code == 0
    assert "modality    items        MB  formats" in out
    assert "items with PHI 40.0%, faces 0.0%, speech 0.0%" in out
    assert "hipaa.names" in out
