"""The factory: device and precision, offline loading, integrity at load, spaces and adapters."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from encoder_media import png_bytes, wav_bytes
from PIL import Image

from appliance.domain.types import Modality
from appliance.encoders.base import Encoder, encode_now
from appliance.encoders.device import resolve_device, resolve_dtype
from appliance.encoders.factory import load_encoder, load_space
from appliance.errors import ConfigError, IntegrityError, InvalidInputError
from appliance.models import ModelStore
from appliance.settings import EncoderSettings

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def test_device_auto_falls_back_to_cpu_without_a_gpu() -> None:
    """device = auto picks cuda when present and cpu otherwise; cpu runs in float32."""
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto") == expected
    assert resolve_dtype("auto", "cpu") is torch.float32


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU error")
def test_cuda_requested_without_a_gpu_is_a_config_error() -> None:
    """device = cuda on a machine without a GPU is refused with a remedy."""
    with pytest.raises(ConfigError, match="no CUDA device"):
        resolve_device("cuda")


def test_float16_on_cpu_is_a_config_error() -> None:
    """float16 is a GPU precision; asking for it on the CPU is refused."""
    with pytest.raises(ConfigError, match="float16 needs a GPU"):
        resolve_dtype("float16", "cpu")
    assert resolve_dtype("bfloat16", "cpu") is torch.bfloat16


def test_encoders_satisfy_the_contract(load) -> None:
    """Every family/tower is an Encoder with the fields the engine reads."""
    for family, modality in [
        ("clip", "text"),
        ("clip", "image"),
        ("clap", "audio"),
        ("bert", "text"),
    ]:
        encoder = load(family, modality)
        assert isinstance(encoder, Encoder)
        assert encoder.modality == Modality(modality) and encoder.device == "cpu"
        assert encoder.max_batch_size == 32 and encoder.semantic is False


def test_multimodal_model_needs_a_modality(tiny_models, settings) -> None:
    """Loading a two-tower model without naming the modality, or a missing tower, is an error."""
    with pytest.raises(InvalidInputError, match="name the modality"):
        load_encoder(tiny_models["clip"], settings=settings)
    with pytest.raises(InvalidInputError, match="no audio tower"):
        load_encoder(tiny_models["clip"], settings=settings, modality="audio")


def test_offline_flags_are_set_before_transformers_is_imported() -> None:
    """Importing appliance.encoders forces the hub offline before transformers is imported."""
    code = (
        "import sys, appliance.encoders.factory\n"
        "assert 'transformers' not in sys.modules\n"
        "import transformers, huggingface_hub.constants as c, os\n"
        "e = os.environ\n"
        "print(e['HF_HUB_OFFLINE'], e['TRANSFORMERS_OFFLINE'], c.HF_HUB_OFFLINE)\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "0", "TRANSFORMERS_OFFLINE": "0"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.split() == ["1", "1", "True"]


def test_loading_and_encoding_never_touch_the_network(tiny_models, settings, monkeypatch) -> None:
    """With every socket connection refused, each family loads and encodes."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    inputs = {
        "text": "a chest x-ray",
        "image": png_bytes(Image.new("RGB", (20, 20), (1, 2, 3))),
        "audio": wav_bytes(np.zeros(4000, dtype=np.float32), 8000),
    }
    pairs = [("clip", "text"), ("siglip", "image"), ("clap", "audio"), ("bert", "text")]
    for family, modality in pairs:
        encoder = load_encoder(tiny_models[family], settings=settings, modality=modality)
        assert encode_now(encoder, [inputs[modality]]).shape == (1, 32)


def test_changed_weights_are_refused_at_load(tiny_models, settings, tmp_path: Path) -> None:
    """A stored model whose file changed after import is not loaded (IntegrityError)."""
    store = ModelStore(tmp_path / "models")
    store.import_path(tiny_models["bert"], name="bert")
    entry = store.get("bert")
    load_encoder(store.model_dir("bert"), entry, settings=settings)  # intact: loads
    weights = store.model_dir("bert") / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-4] ^= 0x01
    weights.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match=r"model\.safetensors is missing or changed"):
        load_encoder(store.model_dir("bert"), entry, settings=settings)


def test_checkpoint_missing_weights_is_refused(tiny_models, settings, tmp_path: Path) -> None:
    """A checkpoint lacking weights the config needs is refused instead of left random."""
    from safetensors.torch import load_file, save_file

    broken = Path(shutil.copytree(tiny_models["bert"], tmp_path / "broken"))
    tensors = load_file(str(broken / "model.safetensors"))
    dropped = next(k for k in tensors if "encoder.layer.1" in k)
    del tensors[dropped]
    save_file(tensors, str(broken / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(IntegrityError, match="lacks or mis-sizes weights"):
        load_encoder(broken, settings=settings)


def test_space_loads_every_modality_into_one_dimension(tmp_path: Path, settings) -> None:
    """The space serves text, image and audio (via its adapter) as unit vectors of one width."""
    from appliance.encoders.testpack import write_test_pack

    store = ModelStore(tmp_path / "models")
    store.import_path(write_test_pack(tmp_path / "pack"))
    space = load_space(store, settings)
    assert space.version == store.space_version() and space.semantic is False
    assert set(space.encoders) == {Modality.TEXT, Modality.IMAGE, Modality.AUDIO}
    audio = space.encoders[Modality.AUDIO]
    assert audio.name == "clap+clap-to-clip" and audio.dimension == space.dimension == 32
    vector = encode_now(audio, [wav_bytes(np.sin(np.arange(6000) / 3).astype(np.float32), 8000)])
    assert vector.shape == (1, 32) and np.isclose(np.linalg.norm(vector), 1.0, atol=1e-5)


def test_space_with_tampered_adapter_is_not_loaded(tmp_path: Path, settings) -> None:
    """A changed adapter file stops the space from loading."""
    from appliance.encoders.testpack import write_test_pack

    store = ModelStore(tmp_path / "models")
    store.import_path(write_test_pack(tmp_path / "pack"))
    (store.model_dir("clap-to-clip") / "adapter.json").write_text("{}")
    with pytest.raises(IntegrityError, match="clap-to-clip"):
        load_space(store, settings)


def test_real_sizes_are_the_released_architectures() -> None:
    """'real' random models have the released sizes: CLIP ViT-B/32, CLAP HTSAT, SigLIP B/16."""
    from appliance.encoders.testpack import model_config

    clip = model_config("clip", "real")
    assert (clip.vision_config.patch_size, clip.vision_config.hidden_size, clip.projection_dim) == (
        32,
        768,
        512,
    )
    clap = model_config("clap", "real")
    assert (
        list(clap.audio_config.depths) == [2, 2, 6, 2]
        and clap.audio_config.patch_embeds_hidden_size == 96
    )
    siglip = model_config("siglip", "real")
    assert (siglip.vision_config.patch_size, siglip.vision_config.image_size) == (16, 224)
    with pytest.raises(ValueError, match="unknown family"):
        model_config("whisper", "tiny")


@needs_cuda
@pytest.mark.parametrize("precision", ["float16", "bfloat16"])
def test_gpu_half_precision_matches_cpu(tiny_models, precision: str) -> None:
    """On a GPU, fp16/bf16 vectors are float32, unit length and close to the CPU's."""
    gpu = EncoderSettings(device="cuda", precision=precision)
    cpu = EncoderSettings(device="cpu")
    image = png_bytes(Image.new("RGB", (48, 40), (90, 30, 200)))
    for modality, raw in (("text", "a chest x-ray"), ("image", image)):
        on_gpu = encode_now(
            load_encoder(tiny_models["clip"], settings=gpu, modality=modality), [raw]
        )
        on_cpu = encode_now(
            load_encoder(tiny_models["clip"], settings=cpu, modality=modality), [raw]
        )
        assert on_gpu.dtype == np.float32 and float((on_gpu * on_cpu).sum()) > 0.99
