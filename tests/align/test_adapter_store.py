"""Trained adapters go into the model store with provenance and are re-hashed on load."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from appliance.align.publish import build_provenance, load_published, publish_adapter
from appliance.align.trainer import TrainConfig, train
from appliance.errors import IntegrityError
from appliance.models import ModelStore
from tests.align.toys import Toy


def _publish(toy: Toy, store: ModelStore, private: bool) -> tuple[torch.nn.Module, dict]:
    config = TrainConfig(
        kind="mlp", hidden=16, epochs=3, batch_size=12, epsilon=8.0 if private else None
    )
    result = train(
        toy.x, toy.t, toy.labels, config, vocabulary=toy.prototypes, vocab_index=toy.labels
    )
    provenance = build_provenance(
        modality="audio",
        features="logmel",
        anchor="minilm",
        fingerprint="ab" * 32,
        pairs=len(toy.x),
        texts=6,
        hyperparameters=config.to_json(),
        privacy=result.privacy(),
        training={"epochs": result.epochs},
    )
    publish_adapter(
        store,
        result.tower,
        name="toy-audio",
        from_model="features:logmel",
        modality="audio",
        provenance=provenance,
    )
    return result.tower, provenance


def test_adapter_is_stored_hashed_with_provenance_and_dp_budget(toy: Toy, tmp_path: Path) -> None:
    """The store lists the adapter, verify passes, and the provenance holds epsilon/delta."""
    store = ModelStore(tmp_path / "models")
    tower, _ = _publish(toy, store, private=True)
    entry = store.get("toy-audio")
    assert entry.family == "adapter" and entry.details["kind"] == "mlp"
    assert {f.path for f in entry.files} >= {"adapter.safetensors", "provenance.json"}
    assert store.verify().ok
    loaded, stored = load_published(store, "toy-audio")
    assert stored["privacy"]["epsilon_spent"] <= 8.0
    assert stored["privacy"]["delta"] < 1 / len(toy.x)
    assert stored["data"]["fingerprint_sha256"] == "ab" * 32
    assert stored["hyperparameters"]["seed"] == 0
    assert "DP epsilon" in entry.provenance
    x = torch.as_tensor(toy.x)
    assert torch.equal(loaded(x), tower(x))
    assert store.space() is None  # publishing never activates a space


def test_tampered_adapter_weights_are_refused(toy: Toy, tmp_path: Path) -> None:
    """ATTACK: flipping bytes of the stored weights makes loading fail the hash check."""
    store = ModelStore(tmp_path / "models")
    _publish(toy, store, private=False)
    weights = store.model_dir("toy-audio") / "adapter.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(IntegrityError):
        load_published(store, "toy-audio")


def test_edited_provenance_is_refused(toy: Toy, tmp_path: Path) -> None:
    """ATTACK: rewriting the stored epsilon in provenance.json is caught by the manifest."""
    store = ModelStore(tmp_path / "models")
    _publish(toy, store, private=True)
    path = store.model_dir("toy-audio") / "provenance.json"
    record = json.loads(path.read_text())
    record["privacy"]["epsilon_spent"] = 0.1
    path.write_text(json.dumps(record))
    with pytest.raises(IntegrityError):
        load_published(store, "toy-audio")
