"""``align train`` / ``align audit`` / ``space activate`` / ``space show`` end to end on the
tiny test pack: a linear adapter over the stored CLAP audio tower into CLIP's text space."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.conftest import init_with_test_pack, run_appliance

CAPTIONS = ("a low hum", "a high whistle", "a rising sweep", "white noise")


def _clip(kind: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, 16_000, dtype=np.float32)
    wave = [
        np.sin(2 * np.pi * 110 * t),
        np.sin(2 * np.pi * 3_000 * t),
        np.sin(2 * np.pi * (200 + 2_000 * t) * t),
        rng.normal(size=t.shape),
    ][kind] * 0.5 + 0.01 * rng.normal(size=t.shape)
    buffer = io.BytesIO()
    sf.write(buffer, wave.astype(np.float32), 16_000, format="WAV")
    return buffer.getvalue()


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    """24 pairs, 4 captions, files next to the manifest."""
    lines = []
    for i in range(24):
        (tmp_path / f"clip{i}.wav").write_bytes(_clip(i % 4, i))
        lines.append(json.dumps({"text": CAPTIONS[i % 4], "file": f"clip{i}.wav"}))
    path = tmp_path / "pairs.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_train_activate_audit_and_show(
    isolated_cli: None, tmp_path: Path, manifest: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The adapter is stored with provenance, serves the space after activation (audited),
    its audit becomes the baseline, and the deployment record shows all of it."""
    data = init_with_test_pack(capsys, tmp_path)
    models = tmp_path / "data" / "models"
    code, out, err = run_appliance(
        capsys,
        "--data-dir",
        data,
        "align",
        "train",
        "--pairs",
        str(manifest),
        "--modality",
        "audio",
        "--features",
        f"model:{models / 'clap'}",
        "--anchor",
        str(models / "clip"),
        "--kind",
        "linear",
        "--name",
        "clap-trained",
        "--epochs",
        "3",
        "--batch-size",
        "8",
        "--held-out",
        "0.25",
        "--epsilon",
        "8",
        "--vocabulary",
        str(_vocabulary(tmp_path)),
        "--json",
    )
    assert code == 0, err
    trained = json.loads(out)
    assert trained["provenance"]["privacy"]["epsilon_spent"] <= 8
    assert trained["provenance"]["audit"]["on"] == "held-out pairs"
    code, out, err = run_appliance(
        capsys,
        "--data-dir",
        data,
        "space",
        "activate",
        "--modality",
        "audio",
        "--model",
        "clap",
        "--adapter",
        "clap-trained",
    )
    assert code == 0, err
    code, out, err = run_appliance(
        capsys,
        "--data-dir",
        data,
        "align",
        "audit",
        "--pairs",
        str(manifest),
        "--modality",
        "audio",
        "--probe-pairs",
        str(manifest),
        "--json",
    )
    assert code == 0, err
    audit = json.loads(out)
    assert set(audit["scores"]) == {"text->audio", "audio->text"}
    assert 0 <= audit["probe_recall@1"] <= 1
    code, out, err = run_appliance(capsys, "--data-dir", data, "space", "show", "--json")
    assert code == 0, err
    record = json.loads(out)
    adapter = next(m for m in record["models"] if m["name"] == "clap-trained")
    assert adapter["content_hash"] == trained["content_hash"]
    assert adapter["privacy"]["epsilon_spent"] == trained["provenance"]["privacy"]["epsilon_spent"]
    assert record["encoders"]["audio"] == {
        "model": "clap",
        "adapter": "clap-trained",
        "semantic": False,  # a trained adapter over the random test CLAP
        "trained": True,
    }
    assert record["alignment_baseline"]["scores"] == audit["scores"]
    assert record["alignment_baseline"]["drift"]["audio"]["count"] == 24
    assert record["alignment_baseline"]["probes"]["audio"]["pairs"] == 24  # a count, no media
    assert record["activation"]["version"] == record["version"]
    code, out, _ = run_appliance(capsys, "--data-dir", data, "audit", "export")
    activated = [json.loads(line) for line in out.splitlines() if "space.activated" in line]
    assert activated and trained["content_hash"] in json.dumps(activated[-1])


def test_a_from_scratch_tower_serves_alone_never_under_a_model(
    isolated_cli: None, tmp_path: Path, manifest: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An MLP tower on log-mel features is refused under another model with a remedy, serves
    the modality alone once activated, and is audited through its own features."""
    data = init_with_test_pack(capsys, tmp_path)
    models = tmp_path / "data" / "models"
    code, _, err = run_appliance(
        capsys,
        "--data-dir",
        data,
        "align",
        "train",
        "--pairs",
        str(manifest),
        "--modality",
        "audio",
        "--anchor",
        str(models / "clip"),
        "--name",
        "scratch",
        "--epochs",
        "2",
        "--hidden",
        "16",
        "--json",
    )
    assert code == 0, err
    code, _, err = run_appliance(
        capsys,
        "--data-dir",
        data,
        "space",
        "activate",
        "--modality",
        "audio",
        "--model",
        "clap",
        "--adapter",
        "scratch",
    )
    assert code != 0 and "serves audio alone" in err and "remedy" in err
    code, _, err = run_appliance(
        capsys,
        "--data-dir",
        data,
        "space",
        "activate",
        "--modality",
        "audio",
        "--adapter",
        "scratch",
    )
    assert code == 0, err
    code, out, err = run_appliance(capsys, "--data-dir", data, "space", "show", "--json")
    assert json.loads(out)["encoders"]["audio"] == {
        "model": "scratch",
        "adapter": None,
        "semantic": True,
        "trained": True,
    }
    argv = ["--data-dir", data, "align", "audit", "--pairs", str(manifest), "--modality"]
    code, out, err = run_appliance(capsys, *argv, "audio", "--adapter", "scratch", "--json")
    assert code == 0, err
    audit = json.loads(out)
    assert audit["subject"] == "scratch" and Path(audit["baseline"]).is_file()
    assert audit["scores"]["audio->text"]["queries"] == 24


def _vocabulary(tmp_path: Path) -> Path:
    path = tmp_path / "vocabulary.txt"
    path.write_text("\n".join(CAPTIONS) + "\n")
    return path
