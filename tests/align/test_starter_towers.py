"""The quickstart's first start: an image tower trained on scikit-learn's digits into the
real MiniLM space replaces the random image tower; "the spoken digit seven" finds a 7."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from appliance.align.publish import read_baseline
from appliance.domain.types import Modality
from appliance.encoders.base import encode_now
from appliance.encoders.factory import load_space
from appliance.encoders.starter import DIGIT_TOWER, DIGIT_WORDS, digit_pairs, train_starter_towers
from appliance.models import ModelStore
from appliance.settings import EncoderSettings


def test_starter_space_gets_a_semantic_digit_tower(tmp_path: Path, starter_pack: Path) -> None:
    """After training, the image slot is the digit tower; a spoken-digit caption ranks an
    image of that digit first among unseen digits for most digits; audio stays labelled
    non-semantic; a second run trains nothing."""
    store = ModelStore(tmp_path / "models")
    store.import_path(starter_pack)
    space = train_starter_towers(store, per_class=25, epochs=15, seed=0)
    assert space is not None and space.encoders["image"].model == DIGIT_TOWER
    assert not space.semantic  # the random audio tower is still in the space
    assert store.get(DIGIT_TOWER).semantic and not store.get("clap-tiny").semantic
    loaded = load_space(store, EncoderSettings(device="cpu", warmup=False))
    unseen = [p for i, p in enumerate(digit_pairs(40)) if i % 40 >= 30]  # trained on 0-24
    images = encode_now(loaded.encoders[Modality.IMAGE], [p.payload for p in unseen])
    labels = np.array([int(p.label) for p in unseen])
    queries = [f"the spoken digit {word}" for word in DIGIT_WORDS]
    texts = encode_now(loaded.encoders[Modality.TEXT], queries)
    first = labels[(texts @ images.T).argmax(axis=1)]
    assert (first == np.arange(10)).sum() >= 8, first
    assert first[7] == 7
    baseline = read_baseline(store, "starter")
    assert baseline is not None and baseline["scores"]["text->image"]["queries"] == 10
    assert baseline["drift"]["image"]["count"] == 250
    assert 10 <= len(baseline["probes"]["image"]["pairs"]) <= 20  # two per digit at most
    assert 0 < baseline["drift"]["image"]["probe_recall@1"] <= 1
    assert train_starter_towers(store) is None


def test_attacker_rebuilding_the_starter_tower_from_public_data_gets_other_weights(
    tmp_path: Path, starter_pack: Path
) -> None:
    """The starter image tower trains on public digits with a secret per-site seed: the
    shipped recipe run again (by an attacker, or at another site) gives other weights, so
    the exact model behind the stored vectors cannot be rebuilt; the seed is recorded in
    the provenance only, and the held-out split stays the baseline's (seed 0)."""
    from safetensors.numpy import load_file

    towers = []
    for site in ("a", "b"):
        store = ModelStore(tmp_path / site / "models")
        store.import_path(starter_pack)
        assert train_starter_towers(store, per_class=5, epochs=1) is not None
        folder = store.model_dir(DIGIT_TOWER)
        provenance = json.loads((folder / "provenance.json").read_text())
        towers.append((load_file(str(folder / "adapter.safetensors")), provenance))
    (first, first_record), (second, second_record) = towers
    seeds = {r["hyperparameters"]["seed"] for r in (first_record, second_record)}
    assert len(seeds) == 2
    assert not np.allclose(first["hidden.weight"], second["hidden.weight"])
    assert first_record["training"]["held_out_pairs"] == second_record["training"]["held_out_pairs"]
