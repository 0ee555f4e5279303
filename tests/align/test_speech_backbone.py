"""The ``speech-embedding`` features: the hash-pinned pretrained backbone from the
``openwakeword`` wheel as frozen audio features, and a tower over them served through the
real encoder path."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from appliance.align.features import extractor
from appliance.align.pairs import Pair
from appliance.align.pipeline import embed_with, train_from_pairs
from appliance.align.publish import load_published
from appliance.align.record import deployment_record
from appliance.align.trainer import TrainConfig
from appliance.encoders.base import encode_now
from appliance.encoders.factory import load_encoder
from appliance.encoders.speech_backbone import (
    EMBEDDING_FILE,
    FEATURE_DIM,
    MEL_FILE,
    PINNED_SHA256,
    SpeechEmbedding,
    backbone_dir,
    speech_embedding,
)
from appliance.errors import IntegrityError
from appliance.models import ModelStore
from appliance.settings import EncoderSettings
from tests.align.tower_media import caption, class_clips
from tests.conftest import shared_data_dir

needs_backbone = pytest.mark.skipif(
    backbone_dir() is None, reason="the openwakeword wheel (a dependency) is not installed"
)
pytestmark = needs_backbone


def test_features_of_a_real_fsdd_clip_are_192_deterministic_values() -> None:
    """A human recording gives 192 finite values, the same on a second call and from a
    second session; another speaker's clip of another digit gives different values."""
    recordings = shared_data_dir("fsdd") / "recordings"
    wave, rate = sf.read(recordings / "7_jackson_0.wav", dtype="float32")
    first = speech_embedding()(wave, rate)
    assert first.shape == (FEATURE_DIM,) and first.dtype == np.float32
    assert np.isfinite(first).all()
    np.testing.assert_array_equal(first, speech_embedding()(wave, rate))
    np.testing.assert_allclose(first, SpeechEmbedding(threads=1)(wave, rate), atol=1e-4)
    other, other_rate = sf.read(recordings / "2_theo_0.wav", dtype="float32")
    assert np.abs(speech_embedding()(other, other_rate) - first).max() > 1.0


def test_features_of_a_sine_do_not_depend_on_the_sample_rate() -> None:
    """A tone at 8 kHz and the same tone at 16 kHz give nearly the same 192 values (the
    clip is resampled to the backbone's rate); a 30 s clip is embedded in bounded batches."""
    backbone = speech_embedding()

    def tone(rate: int, seconds: float = 0.6) -> np.ndarray:
        t = np.arange(int(rate * seconds)) / rate
        return (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)

    low, high = backbone(tone(8_000), 8_000), backbone(tone(16_000), 16_000)
    cosine = float(low @ high / (np.linalg.norm(low) * np.linalg.norm(high)))
    assert low.shape == (FEATURE_DIM,) and cosine > 0.99
    assert np.isfinite(backbone(tone(22_050, seconds=30.0), 22_050)).all()


def _copy_backbone(tmp_path: Path) -> Path:
    folder = backbone_dir()
    assert folder is not None
    copy = tmp_path / "backbone"
    copy.mkdir()
    for name in PINNED_SHA256:
        shutil.copyfile(folder / name, copy / name)
    return copy


@pytest.mark.parametrize("name", [MEL_FILE, EMBEDDING_FILE])
def test_a_tampered_backbone_file_is_refused(tmp_path: Path, name: str) -> None:
    """ATTACK: one flipped byte in either ONNX file and no session is created: the loader
    raises IntegrityError with a reinstall remedy (the intact copy loads)."""
    copy = _copy_backbone(tmp_path)
    SpeechEmbedding(copy)  # the untouched copy passes the check
    data = bytearray((copy / name).read_bytes())
    data[len(data) // 2] ^= 0x01
    (copy / name).write_bytes(bytes(data))
    with pytest.raises(IntegrityError) as caught:
        SpeechEmbedding(copy)
    assert name in str(caught.value) and "pinned" in str(caught.value)
    assert caught.value.remedy and "openwakeword==0.4.0" in caught.value.remedy


def _tiny_tower(store: ModelStore) -> list[bytes]:
    clips = class_clips(3, seed=3)
    pairs = [Pair(caption(label), payload) for label, payload in clips]
    config = TrainConfig(kind="linear", epochs=5, batch_size=8, seed=0)
    train_from_pairs(
        store, pairs, name="speech-tower", modality="audio", features="speech-embedding",
        config=config, held_out=0.0,
    )  # fmt: skip
    return [payload for _, payload in clips]


def test_a_tower_over_the_backbone_serves_through_the_encoder_path(
    tmp_path: Path, starter_pack: Path
) -> None:
    """A linear adapter trained on speech-embedding features loads as a TowerEncoder from
    the store: 384-d vectors equal to the training-time features through the stored tower,
    and its provenance and the deployment record name the backbone files' SHA-256."""
    store = ModelStore(tmp_path / "models")
    store.import_path(starter_pack)
    clips = _tiny_tower(store)
    entry = store.get("speech-tower")
    encoder = load_encoder(
        store.model_dir("speech-tower"),
        entry,
        settings=EncoderSettings(device="cpu", warmup=False, torch_threads=1),
        modality="audio",
    )
    served = encode_now(encoder, clips[:4])
    assert served.shape == (4, 384) and encoder.dimension == 384
    tower, provenance = load_published(store, "speech-tower")
    trained = embed_with(tower, extractor("speech-embedding", "audio")(clips[:4]))
    trained /= np.linalg.norm(trained, axis=1, keepdims=True)
    np.testing.assert_allclose(served, trained, atol=1e-4)
    assert provenance["features"] == "speech-embedding"
    assert provenance["backbone"]["sha256"] == PINNED_SHA256
    from appliance.align.record import activate

    activate(store, "audio", None, "speech-tower")
    models = {m["name"]: m for m in deployment_record(store, "policy")["models"]}
    assert (
        models["speech-tower"]["backbone"]["sha256"][EMBEDDING_FILE]
        == (PINNED_SHA256[EMBEDDING_FILE])
    )


def test_a_served_tower_refuses_a_tampered_backbone(
    tmp_path: Path, starter_pack: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ATTACK: the installed backbone swapped for an edited copy after training: loading
    the tower for serving fails with IntegrityError, nothing is embedded."""
    store = ModelStore(tmp_path / "models")
    store.import_path(starter_pack)
    _tiny_tower(store)
    copy = _copy_backbone(tmp_path)
    data = bytearray((copy / EMBEDDING_FILE).read_bytes())
    data[-100] ^= 0xFF
    (copy / EMBEDDING_FILE).write_bytes(bytes(data))
    monkeypatch.setattr("appliance.encoders.speech_backbone.backbone_dir", lambda: copy)
    with pytest.raises(IntegrityError):
        load_encoder(
            store.model_dir("speech-tower"),
            store.get("speech-tower"),
            settings=EncoderSettings(device="cpu", warmup=False),
            modality="audio",
        )


def test_a_tower_trained_on_other_backbone_files_does_not_serve(
    tmp_path: Path, starter_pack: Path
) -> None:
    """A tower whose provenance names other backbone hashes than the installed (pinned)
    ones is refused at load, and the store's hash check refuses an edited provenance."""
    store = ModelStore(tmp_path / "models")
    store.import_path(starter_pack)
    _tiny_tower(store)
    path = store.model_dir("speech-tower") / "provenance.json"
    provenance = json.loads(path.read_text())
    provenance["backbone"]["sha256"][EMBEDDING_FILE] = "0" * 64
    path.write_text(json.dumps(provenance))
    settings = EncoderSettings(device="cpu", warmup=False)
    with pytest.raises(IntegrityError):  # the manifest's file hashes catch the edit
        load_encoder(store.model_dir("speech-tower"), store.get("speech-tower"),
                     settings=settings, modality="audio")  # fmt: skip
    with pytest.raises(IntegrityError) as caught:  # and so does the backbone check itself
        load_encoder(store.model_dir("speech-tower"), store.get("speech-tower"),
                     settings=settings, modality="audio", verify=False)  # fmt: skip
    assert "other speech backbone files" in str(caught.value)


def test_wav_bytes_and_decoded_samples_give_the_same_features() -> None:
    """The trainer's extractor (decode + features) equals the backbone on the decoded wave."""
    _, payload = class_clips(1, seed=5)[2]
    wave, rate = sf.read(io.BytesIO(payload), dtype="float32")
    row = extractor("speech-embedding", "audio")([payload])[0]
    np.testing.assert_allclose(row, speech_embedding()(wave, rate), atol=1e-5)


def test_align_train_and_space_show_name_the_backbone(
    isolated_cli: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Through the CLI: `align train --features speech-embedding --kind linear` trains a
    tower, it serves the audio slot alone, `space show` prints the backbone with both files'
    SHA-256, and `align audit --adapter` re-extracts the same features."""
    from tests.conftest import init_with_test_pack, run_appliance

    lines = []
    for i, (label, payload) in enumerate(class_clips(3, seed=4)):
        (tmp_path / f"clip{i}.wav").write_bytes(payload)
        lines.append(json.dumps({"text": caption(label), "file": f"clip{i}.wav"}))
    manifest = tmp_path / "pairs.jsonl"
    manifest.write_text("\n".join(lines) + "\n")
    data = init_with_test_pack(capsys, tmp_path)
    anchor = str(tmp_path / "data" / "models" / "clip")
    argv = ["--data-dir", data, "align", "train", "--pairs", str(manifest), "--modality", "audio"]
    code, _, err = run_appliance(
        capsys, *argv, "--features", "speech-embedding", "--kind", "linear", "--anchor", anchor,
        "--name", "voice", "--epochs", "2", "--held-out", "0", "--json",
    )  # fmt: skip
    assert code == 0, err
    code, _, err = run_appliance(
        capsys, "--data-dir", data, "space", "activate", "--modality", "audio", "--adapter", "voice"
    )
    assert code == 0, err
    code, out, err = run_appliance(capsys, "--data-dir", data, "space", "show")
    assert code == 0, err
    assert "backbone Google speech_embedding" in out
    assert all(f"{name} sha256 {digest}" in out for name, digest in PINNED_SHA256.items())
    argv = ["--data-dir", data, "align", "audit", "--pairs", str(manifest), "--modality"]
    code, out, err = run_appliance(capsys, *argv, "audio", "--adapter", "voice", "--json")
    assert code == 0, err
    assert json.loads(out)["scores"]["audio->text"]["queries"] == 12
