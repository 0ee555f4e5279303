"""The attacks find identity where it is planted, stay at chance where it is not, and the
defences behave as documented (keyed noise is not averaged away, a rotation is learned back)."""

from __future__ import annotations

import numpy as np
import pytest

from appliance.errors import InvalidInputError
from appliance.risk import attacks
from appliance.risk import defences as d
from appliance.risk.audit import ProbeSet, averaging, run_audit


def _clustered(
    identities: int = 6, per: int = 8, dimension: int = 24, spread: float = 0.5, seed: int = 0
) -> tuple[np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(identities, dimension))
    labels = [f"p{i % identities}" for i in range(identities * per)]
    vectors = np.vstack(
        [centres[i % identities] + spread * rng.normal(size=dimension) for i in range(len(labels))]
    )
    return vectors, labels


def test_linkage_finds_planted_identity() -> None:
    """Clustered identities are re-identified top-1 far above chance, and the probe learns them."""
    vectors, labels = _clustered()
    found = attacks.identification(vectors, labels)
    assert found["top1"] > 0.9
    assert found["chance_top1"] == 1 / 6
    assert attacks.identity_probe(vectors, labels)["accuracy"] > 0.9


def test_linkage_is_at_chance_on_shuffled_labels() -> None:
    """With labels shuffled over unstructured vectors linkage stays near chance."""
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(240, 16))
    labels = [f"p{i}" for i in rng.permutation(np.arange(240) % 6)]
    found = attacks.identification(vectors, labels)
    assert abs(found["top1"] - 1 / 6) < 0.1
    assert abs(attacks.identity_probe(vectors, labels)["accuracy"] - 1 / 6) < 0.1


def test_equal_error_rate_on_constructed_scores() -> None:
    """Two identities on crossed axes: perfect separation gives EER 0; an impostor planted
    on the genuine side raises it to the share it spoils."""
    a, b = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    vectors = np.vstack([a, a, b, b])
    labels = ["x", "x", "y", "y"]
    clean = attacks.verification(vectors, labels)
    assert clean["eer"] == 0.0 and clean["tar_at_far_0.001"] == 1.0
    # x's third sample equals y's: genuine scores 1,0,0,1 and impostor scores 0,0,0,0,1,1;
    # the closest operating point (threshold 1) has FAR 2/6 and FRR 2/4, so EER 5/12
    mixed = attacks.verification(np.vstack([a, a, b, b, b]), ["x", "x", "x", "y", "y"])
    assert mixed["eer"] == pytest.approx(5 / 12)


def test_attribute_probe_sees_planted_attribute_not_random_one() -> None:
    """An attribute carried by the vectors has AUC near 1; a random one stays near 0.5."""
    vectors, labels = _clustered(per=10)
    planted = [str(int(label[1:]) % 2) for label in labels]
    random = [str(v) for v in np.random.default_rng(3).integers(0, 2, len(labels))]
    assert attacks.attribute_probe(vectors, planted)["auc"] > 0.9
    assert abs(attacks.attribute_probe(vectors, random)["auc"] - 0.5) < 0.2


def test_averaging_beats_fresh_noise_but_not_keyed_noise() -> None:
    """Averaging 32 answers pulls fresh noise close to the clean vector; keyed noise of the
    same input returns the same vector, so the average is no closer than one answer; keyed
    noise over altered inputs is averaged away (the documented limit)."""
    vectors, labels = _clustered(per=2)
    probe = ProbeSet(vectors, labels, [f"input {i}" for i in range(len(labels))])
    figures = {row["mode"]: row for row in averaging(probe.vectors, probe.inputs, [0.1], b"k" * 32)}
    fresh, keyed = figures["fresh"], figures["keyed_same_input"]
    assert fresh["averaged_distance"] < fresh["single_distance"] / 5
    assert np.isclose(keyed["averaged_distance"], keyed["single_distance"], rtol=1e-6)
    altered = figures["keyed_altered_inputs"]
    assert altered["averaged_distance"] < altered["single_distance"] / 5


def test_rotation_is_learned_back_from_known_pairs() -> None:
    """Without the key, clean-vs-stored linkage of a rotated space is near chance; from 20
    known pairs Procrustes recovers the rotation and linkage is back to the clean figure."""
    vectors, labels = _clustered(dimension=16)
    unit = attacks.unit(vectors)
    rotation = d.keyed_rotation(16, b"secret")
    stored = unit @ rotation
    assert np.allclose(rotation @ rotation.T, np.eye(16), atol=1e-9)
    hidden = attacks.identification(unit, labels, queries=stored)["top1"]
    learned = d.learn_rotation(unit[:20], stored[:20])
    assert np.allclose(learned, rotation, atol=1e-6)
    undone = attacks.identification(unit, labels, queries=stored @ learned.T)["top1"]
    assert hidden < 0.5 and undone > 0.9


def test_sweep_prices_each_defence_in_utility() -> None:
    """The sweep has a row per defence level with utility; strong noise and identity removal
    lower linkage below the undefended row, and int8 keeps utility near 1."""
    vectors, labels = _clustered(per=6, dimension=20)
    probe = ProbeSet(vectors, labels, [f"i{i}" for i in range(len(labels))])
    result = run_audit(probe, key=b"fixed audit key")
    rows = {(r["defence"], r["level"]): r for r in result["rows"]}
    assert rows[("none", "-")]["recall@10"] == 1.0
    assert rows[("keyed_noise", "sigma=0.3")]["top1"] < rows[("none", "-")]["top1"]
    assert rows[("int8", "-")]["recall@10"] > 0.9
    removed = rows[("identity_removal", "directions=8")]
    assert removed["top1"] < rows[("none", "-")]["top1"]
    assert rows[("rotation", "key unknown")]["cross_top1"] < 0.5


def test_sweep_refuses_a_probe_set_without_repeated_identities() -> None:
    """One sample per identity gives nothing to link: refused with a remedy, not a crash."""
    vectors = np.random.default_rng(0).normal(size=(5, 8))
    probe = ProbeSet(vectors, ["a", "b", "c", "d", "d"], [str(i) for i in range(5)])
    with pytest.raises(InvalidInputError, match="two or more samples"):
        run_audit(probe)
