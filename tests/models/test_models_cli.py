"""``appliance models ...`` through click: make-test-pack, import, list, verify, errors."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from appliance.cli.context import CliContext
from appliance.cli.models import models
from appliance.settings import load_settings


@pytest.fixture
def invoke(tmp_path: Path):
    """Run the ``models`` group against a fresh data dir; returns the click result."""
    settings = load_settings(data_dir=tmp_path / "data", environ={})

    def run(*args: str):
        return CliRunner().invoke(models, list(args), obj=CliContext(settings=settings))

    run.settings = settings  # type: ignore[attr-defined]
    return run


def test_make_test_pack_imports_and_serves_every_modality(invoke, tmp_path: Path) -> None:
    """make-test-pack -> import -> the space's encoders embed text, image and audio."""
    import io

    import soundfile as sf
    from PIL import Image

    from appliance.domain.types import Modality
    from appliance.encoders.base import encode_now
    from appliance.encoders.factory import load_space
    from appliance.models import ModelStore

    pack = tmp_path / "pack"
    made = invoke("make-test-pack", str(pack))
    assert made.exit_code == 0, made.output
    manifest = json.loads((pack / "pack.json").read_text())
    assert manifest["semantic"] is False
    imported = invoke("import", str(pack))
    assert imported.exit_code == 0, imported.output
    assert "NON-SEMANTIC" in imported.output
    store = ModelStore(invoke.settings.models_dir)
    space = load_space(store, invoke.settings.encoders)
    png, wav = io.BytesIO(), io.BytesIO()
    Image.new("RGB", (40, 30), (10, 200, 30)).save(png, "PNG")
    sf.write(wav, np.sin(np.arange(8000) / 5).astype(np.float32), 8000, format="WAV")
    inputs = {
        Modality.TEXT: "a chest x-ray",
        Modality.IMAGE: png.getvalue(),
        Modality.AUDIO: wav.getvalue(),
    }
    for modality, raw in inputs.items():
        encoder = space.encoders[modality]
        assert encoder.semantic is False
        vector = encode_now(encoder, [raw])
        assert vector.shape == (1, space.dimension)
        assert np.isclose(np.linalg.norm(vector), 1.0, atol=1e-5)


def test_make_test_pack_refuses_non_empty_directory(invoke, tmp_path: Path) -> None:
    """make-test-pack will not write into a directory that already has files."""
    target = tmp_path / "busy"
    target.mkdir()
    (target / "keep.txt").write_text("x")
    result = invoke("make-test-pack", str(target))
    assert result.exit_code != 0 and "not empty" in result.output


def test_list_json_and_verify_detect_tampering(invoke, tmp_path: Path) -> None:
    """list --json shows models and readiness; verify exits 1 and names a changed file."""
    from appliance.encoders.testpack import write_random_model

    model = write_random_model("bert", "tiny", tmp_path / "tiny-bert")
    assert invoke("import", str(model), "--note", "from unit test").exit_code == 0
    listed = json.loads(invoke("list", "--json").output)
    (entry,) = listed["models"]
    assert entry["name"] == "tiny-bert" and entry["provenance"] == "from unit test"
    assert entry["modalities"] == ["text"] and entry["dimension"] == 32
    assert all(len(f["sha256"]) == 64 for f in entry["files"])
    assert listed["ready"]["ok"] is False  # a text-only model makes no space by itself
    assert invoke("verify").exit_code == 0
    stored = invoke.settings.models_dir / "tiny-bert" / "tokenizer.json"
    stored.write_text(stored.read_text().replace("[UNK]", "[UNX]", 1))
    verified = invoke("verify")
    assert verified.exit_code == 1
    assert "tokenizer.json has changed" in verified.output
    human = invoke("list").output
    assert "UNAVAILABLE" in human


def test_import_pickle_via_cli_prints_remedy(invoke, tmp_path: Path) -> None:
    """The CLI refuses a pickle checkpoint with the message and the conversion remedy."""
    model = tmp_path / "legacy"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"model_type": "bert", "hidden_size": 8}))
    (model / "pytorch_model.bin").write_bytes(pickle.dumps({"w": 1}))
    result = invoke("import", str(model))
    assert result.exit_code == 1
    assert "pickle" in result.output and "remedy:" in result.output
    assert "safetensors" in result.output


def test_verify_on_empty_store_succeeds(invoke) -> None:
    """verify with nothing imported exits 0 and says so."""
    result = invoke("verify")
    assert result.exit_code == 0 and "no models imported" in result.output
