"""EngineGroup: one engine per modality, started, looked up and closed together."""

from __future__ import annotations

import pytest

from appliance.engine import EngineFailedError, EngineGroup
from appliance.errors import InvalidInputError


def test_group_serves_each_modality_and_closes_all(toy_encoder_factory, toy_settings) -> None:
    """Engines start together, are found by modality, report ready, and all close."""
    encoders = {"text": toy_encoder_factory(), "image": toy_encoder_factory()}
    group = EngineGroup(encoders, toy_settings()).start()
    try:
        assert group.ready
        assert group.get("text").encode(["hello"], timeout=10).shape == (1, 16)
        assert group.get("image").encoder is encoders["image"]
        with pytest.raises(InvalidInputError, match="use one of: image, text"):
            group.get("audio")
        assert {s.encoder for s in group.stats()} == {"toy-text"}
    finally:
        group.close()
    assert not group.ready
    assert all(engine.state == "closed" for engine in group.engines.values())


def test_group_start_fails_closed_when_one_warmup_fails(toy_encoder_factory, toy_settings):
    """A model that fails warm-up makes the whole group refuse to start; nothing stays up."""
    broken = toy_encoder_factory()
    broken.warmup_input = lambda: "boom: broken"
    group = EngineGroup({"text": toy_encoder_factory(), "audio": broken}, toy_settings())
    with pytest.raises(EngineFailedError):
        group.start()
    assert not group.ready
    assert group.engines["text"].state == "closed"
