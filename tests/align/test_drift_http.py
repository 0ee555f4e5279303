"""Drift over real HTTP: a space audited on handwritten digits, then fed other pictures;
/metrics shows the scores, /readyz the details (503 only when configured), the trail the
alert."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from appliance.align.baseline import drift_section
from appliance.align.pairs import Pair
from appliance.align.publish import save_baseline
from appliance.domain.types import Modality
from appliance.encoders.base import encode_now
from appliance.encoders.factory import load_space
from appliance.models import ModelStore
from appliance.settings import DriftSettings, Settings, load_settings
from appliance.wiring import Appliance
from tests.align.tower_media import caption, data_uri, digit_pngs, serve_state

WINDOW = 64


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Default settings with a small drift window."""
    base = load_settings(data_dir=tmp_path / "data", environ={})
    return replace(base, drift=DriftSettings(threshold=0.25, window=WINDOW, min_samples=16))


def _audit_baseline(store: ModelStore, settings: Settings) -> None:
    """What `align audit --probe-pairs` stores: digit statistics and a digit probe set."""
    space = load_space(store, settings.encoders)
    image, text = space.encoders[Modality.IMAGE], space.encoders[Modality.TEXT]
    audited = digit_pngs(30, offset=10)
    probes = [Pair(caption(label), payload) for label, payload in digit_pngs(2, offset=60)]
    vectors = (
        encode_now(image, [p.payload for p in probes]),
        encode_now(text, [p.text for p in probes]),
    )
    stats, stored = drift_section(
        "image",
        encode_now(image, [p for _, p in audited]),
        window=WINDOW,
        probes=probes,
        probe_vectors=vectors,
    )
    save_baseline(store, space.name, {"drift": {"image": stats}, "probes": {"image": stored}})


def _gauge(text: str, name: str, modality: str, statistic: str | None = None) -> float:
    labels = f'modality="{modality}"' + (f',statistic="{statistic}"' if statistic else "")
    found = re.search(rf"^{name}\{{{labels}\}} (\S+)$", text, re.MULTILINE)
    assert found, f"{name}{{{labels}}} not in /metrics"
    return float(found.group(1))


def _embed_images(client, images: list[bytes]) -> None:  # type: ignore[no-untyped-def]
    for start in range(0, len(images), 16):
        body = {
            "model": "digit-tower",
            "modality": "image",
            "input": [data_uri("image/png", p) for p in images[start : start + 16]],
        }
        reply = client.post("/v1/embeddings", json=body)
        assert reply.status_code == 200, reply.text


def test_shifted_inputs_raise_drift_in_metrics_readyz_and_the_trail(
    appliance: Appliance, towers: ModelStore
) -> None:
    """Held-out digits stay under the threshold; inverted digit pictures cross it: the
    gauge flips, /readyz stays 200 with the details (503 once configured to fail), and the
    trail holds one `space.drift` entry."""
    _audit_baseline(towers, appliance.settings)
    for live, state in serve_state(appliance):
        with live.client("query") as query, live.client() as anonymous:
            ready = anonymous.get("/readyz")
            assert ready.status_code == 200, ready.text
            probe = ready.json()["drift"]["modalities"]["image"]
            assert probe["scores"]["probe_recall_drop"] == 0.0
            # text has no baseline here: it is counted but not scored, and readiness says so
            text = query.post("/v1/embeddings", json={"model": "digit-tower", "input": "x"})
            assert text.status_code == 200, text.text
            ready = anonymous.get("/readyz")
            assert ready.status_code == 200, ready.text
            assert ready.json()["drift"]["modalities"]["text"]["score"] is None
            # classes interleaved: a stream of one digit at a time is itself a shift
            _embed_images(query, _interleaved(digit_pngs(16, offset=80)))
            metrics = anonymous.get("/metrics").text
            calm = _gauge(metrics, "appliance_drift_score", "image", "score")
            assert calm < 0.25 and _gauge(metrics, "appliance_drift_drifting", "image") == 0
            inverted = [_invert(p) for _, p in digit_pngs(16, offset=120)]
            _embed_images(query, inverted)
            metrics = anonymous.get("/metrics").text
            assert _gauge(metrics, "appliance_drift_drifting", "image") == 1
            assert _gauge(metrics, "appliance_drift_score", "image", "score") > 0.25
            ready = anonymous.get("/readyz")
            assert ready.status_code == 200 and ready.json()["drift"]["drifting"] == ["image"]
            assert any("drift" in w for w in ready.json()["warnings"])
            monitor = state.encoders.drift
            monitor.settings = replace(monitor.settings, fail_readiness=True)
            failing = anonymous.get("/readyz")
            assert failing.status_code == 503
            assert "drift" in failing.json()["error"]["message"]
    trail = (appliance.settings.data_dir / "audit" / "trail.jsonl").read_text().splitlines()
    alerts = [json.loads(line) for line in trail if '"space.drift"' in line]
    assert [a["outcome"] for a in alerts] == ["detected"]
    assert alerts[0]["details"]["modality"] == "image"


def _interleaved(media: list[tuple[int, bytes]]) -> list[bytes]:
    order = sorted(range(len(media)), key=lambda i: (i % 16, media[i][0]))
    return [media[i][1] for i in order]


def _invert(png: bytes) -> bytes:
    import io

    from PIL import Image, ImageOps

    image = ImageOps.invert(Image.open(io.BytesIO(png)).convert("L"))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
