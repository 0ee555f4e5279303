"""KEK rotation: every data key rewrapped; an interruption at any point loses nothing."""

from __future__ import annotations

import numpy as np
import pytest

from appliance.crypto.kek import load_kek
from appliance.domain.types import Actor
from appliance.errors import ConfigError
from appliance.wiring import Appliance, open_appliance
from tests.services.helpers import DIMENSION, new_items, read_all_vectors, unit_vectors

OPERATOR = Actor.operator()


class Interrupted(Exception):
    """Raised by the fault hook to simulate a crash at a named step."""


def _populate(app: Appliance, subjects: int = 7) -> dict[str, np.ndarray]:
    app.collections.create("notes", DIMENSION, OPERATOR)
    expected: dict[str, np.ndarray] = {}
    for s in range(subjects):
        vectors = unit_vectors(2, seed=100 + s)
        app.items.store("notes", new_items(f"S{s}", vectors, f"s{s}"), actor=OPERATOR, space="x")
        expected.update({f"s{s}-{n}": v for n, v in enumerate(vectors)})
    app.indexes.snapshot_all()
    return expected


def _assert_all_readable(app: Appliance, expected: dict[str, np.ndarray]) -> None:
    found = read_all_vectors(app.settings)
    assert found.keys() == expected.keys()
    for item_id, vector in expected.items():
        assert np.array_equal(found[item_id], vector)


def test_rotation_rewraps_every_key_and_drops_old_version(appliance: Appliance) -> None:
    """After rotation all keys sit on the new KEK version and the old one is gone."""
    expected = _populate(appliance)
    report = appliance.keys.rotate(actor=OPERATOR)
    status = appliance.keys.status()
    assert (report.from_version, report.to_version) == (1, 2)
    assert report.rewrapped == sum(status.keys_by_kind.values())
    assert status.versions == (2,) and status.keys_by_kek_version == {2: report.rewrapped}
    _assert_all_readable(appliance, expected)


@pytest.mark.parametrize(
    ("step", "occurrence"),
    [
        ("pending-written", 1),
        ("batch-rewrapped", 1),
        ("batch-rewrapped", 2),
        ("all-rewrapped", 1),
        ("finished", 1),
    ],
)
def test_interrupted_rotation_keeps_every_vector_readable_and_resumes(
    appliance: Appliance, step: str, occurrence: int
) -> None:
    """A crash at any injected step leaves all data readable; a rerun completes it."""
    expected = _populate(appliance)
    seen: dict[str, int] = {}

    def fault(name: str) -> None:
        seen[name] = seen.get(name, 0) + 1
        if name == step and seen[name] == occurrence:
            raise Interrupted(name)

    with pytest.raises(Interrupted):
        appliance.keys.rotate(actor=OPERATOR, batch_size=3, fault=fault)
    _assert_all_readable(appliance, expected)

    settings = appliance.settings
    appliance.close()
    reopened = open_appliance(settings, environ={})
    try:
        _assert_all_readable(reopened, expected)
        reopened.keys.rotate(actor=OPERATOR)
        ring = load_kek(reopened.kek_location)
        assert ring.pending is None
        assert set(reopened.keys.status().keys_by_kek_version) == {ring.active}
        _assert_all_readable(reopened, expected)
        hits = reopened.items.search("notes", expected["s3-1"], k=1, actor=OPERATOR, space="x")
        assert hits[0].item_id == "s3-1"
    finally:
        reopened.close()


def test_rotation_refuses_while_another_process_holds_the_data_dir(appliance: Appliance) -> None:
    """An exclusive rotation cannot start while the appliance is open elsewhere."""
    with pytest.raises(ConfigError, match="stop the service"):
        open_appliance(appliance.settings, environ={}, exclusive=True)


def test_a_process_with_a_stale_kek_ring_follows_a_rotation_made_elsewhere(
    appliance: Appliance,
) -> None:
    """Another process rotates the KEK and retires version 1 while this one is open: keys
    this one creates afterwards wrap under the new version and survive a reopen."""
    expected = _populate(appliance, subjects=2)
    other = open_appliance(appliance.settings, clock=appliance.clock, environ={})
    try:
        other.keys.rotate(actor=OPERATOR)
    finally:
        other.close()
    assert load_kek(appliance.kek_location).keys.keys() == {2}
    fresh = unit_vectors(1, seed=300)
    appliance.items.store("notes", new_items("NEW", fresh, "new"), actor=OPERATOR, space="x")
    expected["new-0"] = fresh[0]
    assert appliance.keys.status().keys_by_kek_version.keys() == {2}
    _assert_all_readable(appliance, expected)
