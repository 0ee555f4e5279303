"""Text speed-ups give the same vectors: length-sorted groups and the ONNX Runtime path."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from appliance.encoders.base import encode_now
from appliance.encoders.factory import load_encoder
from appliance.encoders.text import PADDING_SLACK, length_groups
from appliance.encoders.text_onnx import cosines, derived_path
from appliance.encoders.tokenizer_files import minilm_dir
from appliance.errors import ConfigError
from appliance.settings import EncoderSettings

WORDS = [
    "chest",
    "pain",
    "aspirin",
    "follow-up",
    "stable",
    "fever",
    "cough",
    "scan",
    "knee",
    "tear",
    "nausea",
    "week",
]


def _sentences(count: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choices(WORDS, k=rng.randint(1, 40))) + "." for _ in range(count)]


def test_length_groups_cover_every_position_once_and_bound_padding() -> None:
    """Every position is in exactly one group; lengths ascend; a group of at least
    ``min_group`` items pads at most the slack (the test fails if grouping were skipped)."""
    rng = random.Random(1)
    lengths = [rng.randint(3, 120) for _ in range(64)]
    groups = length_groups(lengths, min_group=4)
    flat = [i for group in groups for i in group]
    assert sorted(flat) == list(range(64)) and len(groups) > 1
    assert [lengths[i] for i in flat] == sorted(lengths)
    for group in groups:
        real = sum(lengths[i] for i in group)
        padded = len(group) * max(lengths[i] for i in group)
        assert len(group) >= 4 or group is groups[-1]
        if len(group) > 4:
            assert padded <= (1 + PADDING_SLACK) * real
    unsorted = 64 * max(lengths)
    grouped = sum(len(g) * max(lengths[i] for i in g) for g in groups)
    assert grouped < 0.7 * unsorted


@pytest.fixture(scope="module")
def minilm():
    """The real MiniLM on torch, CPU."""
    return load_encoder(minilm_dir(), settings=EncoderSettings(device="cpu", text_runtime="torch"))


def test_sorted_groups_give_the_unsorted_vectors_in_the_callers_order(minilm) -> None:
    """Real MiniLM: a batch run in length groups returns, row for row, the vectors of one
    padded batch (cosine >= 0.9999), and several groups were actually formed."""
    texts = _sentences(12)
    minilm.sort_by_length = True
    batch = minilm.collate([minilm.prepare(t) for t in texts])
    assert len(batch.groups) > 1 and batch.order != sorted(batch.order)
    grouped = encode_now(minilm, texts)
    minilm.sort_by_length = False
    try:
        padded = encode_now(minilm, texts)
    finally:
        minilm.sort_by_length = True
    assert cosines(grouped, padded).min() >= 0.9999


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random BERT sentence encoder in a store-like directory."""
    from appliance.encoders.testpack import write_random_model

    return write_random_model("bert", "tiny", tmp_path_factory.mktemp("models") / "bert")


def _onnx(model_dir: Path) -> object:
    settings = EncoderSettings(device="cpu", text_runtime="onnx", torch_threads=1)
    return load_encoder(model_dir, settings=settings, derived_dir=model_dir.parent / ".derived")


def test_onnx_runtime_gives_the_torch_vectors(tiny_bert: Path) -> None:
    """The ONNX Runtime path is selected, its graph was exported beside (not into) the
    model directory, and every vector matches torch's (cosine >= 0.9999)."""
    torch_encoder = load_encoder(tiny_bert, settings=EncoderSettings(device="cpu"))
    onnx_encoder = _onnx(tiny_bert)
    assert torch_encoder.runtime_name == "torch" and onnx_encoder.runtime_name == "onnx"
    graph = derived_path(tiny_bert, tiny_bert.parent / ".derived", onnx_encoder.name)
    assert graph.is_file() and not list(tiny_bert.glob("*.onnx"))
    texts = _sentences(20, seed=2)
    assert cosines(encode_now(onnx_encoder, texts), encode_now(torch_encoder, texts)).min() >= (
        0.9999
    )


def test_attack_a_tampered_exported_graph_is_not_served(tiny_bert: Path) -> None:
    """ATTACK: bytes of the exported graph changed on disk (no longer its recorded hash):
    the next start exports it again from the weights instead of loading it."""
    first = _onnx(tiny_bert)
    graph = derived_path(tiny_bert, tiny_bert.parent / ".derived", first.name)
    data = bytearray(graph.read_bytes())
    data[len(data) // 2] ^= 0xFF
    graph.write_bytes(bytes(data))
    again = _onnx(tiny_bert)
    assert graph.read_bytes() != bytes(data)
    texts = _sentences(6, seed=3)
    assert cosines(encode_now(again, texts), encode_now(first, texts)).min() >= 0.9999


def test_onnx_on_a_gpu_precision_is_refused_with_a_remedy(tiny_bert: Path) -> None:
    """``text_runtime = 'onnx'`` with bfloat16 is a configuration error naming the fix."""
    settings = EncoderSettings(device="cpu", precision="bfloat16", text_runtime="onnx")
    with pytest.raises(ConfigError) as caught:
        load_encoder(tiny_bert, settings=settings, derived_dir=tiny_bert.parent / ".derived")
    assert "torch" in caught.value.remedy


def test_auto_without_a_store_keeps_torch(tiny_bert: Path) -> None:
    """``auto`` outside a model store (no place for derived files) runs torch, writes nothing."""
    encoder = load_encoder(tiny_bert, settings=EncoderSettings(device="cpu"))
    assert encoder.runtime_name == "torch"
    assert np.isfinite(encode_now(encoder, ["a short note."])).all()


def test_attack_a_consistently_replaced_graph_fails_the_probe_and_torch_serves(
    tiny_bert: Path, tmp_path: Path
) -> None:
    """ATTACK: another model's graph written over the export WITH a matching sidecar (an
    attacker who can write the models dir): the probe check against the verified weights
    fails, so the encoder serves torch's vectors, not the planted graph's."""
    import hashlib
    import shutil

    from appliance.encoders.testpack import write_random_model

    victim = Path(shutil.copytree(tiny_bert, tmp_path / "models" / "bert"))
    other = write_random_model("bert", "tiny", tmp_path / "models" / "other", seed=7)
    planted = derived_path(other, other.parent / ".derived", "other")
    _onnx(other)  # exports the other model's graph
    target = derived_path(victim, victim.parent / ".derived", "bert")
    assert _onnx(victim).runtime_name == "onnx"
    target.write_bytes(planted.read_bytes())
    target.with_suffix(".onnx.sha256").write_text(
        hashlib.sha256(target.read_bytes()).hexdigest() + "\n", encoding="ascii"
    )
    encoder = _onnx(victim)
    assert encoder.runtime_name == "torch"
    torch_encoder = load_encoder(victim, settings=EncoderSettings(device="cpu"))
    texts = _sentences(4, seed=5)
    assert cosines(encode_now(encoder, texts), encode_now(torch_encoder, texts)).min() >= 0.9999
