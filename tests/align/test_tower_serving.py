"""A from-scratch tower (features + MLP) serves its modality through the real service:
activated with `space activate`, used by /v1/embeddings, ingest and search over HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from appliance.align.record import activate
from appliance.encoders.base import encode_now
from appliance.encoders.factory import load_space
from appliance.errors import InvalidInputError
from appliance.models import ModelStore
from appliance.wiring import Appliance
from tests.align.tower_media import caption, class_clips, data_uri, digit_pngs, serve_state
from tests.api.conftest import LiveServer

CONTEXT = {"subject_role": "patient", "purpose": "treatment"}


@pytest.fixture
def towers_served(appliance: Appliance, towers: ModelStore) -> Iterator[LiveServer]:
    """The full app over HTTP serving the towers."""
    for live, _ in serve_state(appliance):
        yield live


def test_activated_towers_load_as_encoders_of_the_space(towers: ModelStore, appliance) -> None:
    """`load_space` builds tower encoders whose vectors put a held-out digit nearest its
    own caption among the four (the stored tower is what serves)."""
    space = load_space(towers, appliance.settings.encoders)
    from appliance.domain.types import Modality

    image = space.encoders[Modality.IMAGE]
    assert image.name == "digit-tower" and image.dimension == space.dimension
    held_out = digit_pngs(3, offset=20)
    vectors = encode_now(image, [p for _, p in held_out])
    texts = encode_now(space.encoders[Modality.TEXT], [caption(i) for i in range(4)])
    predicted = (vectors @ texts.T).argmax(1)
    assert (predicted == np.array([label for label, _ in held_out])).mean() >= 0.75


def test_a_tower_cannot_be_slotted_under_another_model(towers: ModelStore) -> None:
    """A tower computes its own features: naming a model under it is refused with a remedy."""
    with pytest.raises(InvalidInputError) as caught:
        activate(towers, "audio", "clap-tiny", "hum-tower")
    assert caught.value.remedy and "--adapter hum-tower" in caught.value.remedy


def test_search_across_modalities_through_the_towers(towers_served: LiveServer) -> None:
    """Over HTTP: embeddings come from the tower; a caption finds its digit image and its
    clip; a clip finds the image of its class (audio and image never trained together)."""
    live = towers_served
    images = digit_pngs(1, offset=30)
    clips = class_clips(1, seed=7)
    items = [
        {
            "id": f"{kind}-{label}",
            "subject_id": f"MRN-{kind}-{label}",
            "modality": kind,
            "data": data_uri(mime, payload),
            "context": CONTEXT,
        }
        for kind, mime, media in (("image", "image/png", images), ("audio", "audio/wav", clips))
        for label, payload in media
    ]
    with (
        live.client("admin") as admin,
        live.client("ingest") as ingest,
        live.client("query") as query,
    ):
        assert admin.post("/v1/collections", json={"name": "digits"}).status_code == 201
        stored = ingest.post("/v1/collections/digits/items", json={"items": items})
        assert stored.status_code == 200, stored.text
        assert {i["status"] for i in stored.json()["items"]} == {"stored"}
        embedded = query.post(
            "/v1/embeddings",
            json={
                "model": "hum-tower",
                "input": [data_uri("audio/wav", clips[1][1])],
                "modality": "audio",
            },
        )
        assert embedded.status_code == 200, embedded.text
        vector = embedded.json()["data"][0]["embedding"]
        assert len(vector) == _space_dimension(live)

        def top(query_body: dict, modality: str) -> str:
            body = {"query": query_body, "k": 1, "modalities": [modality], "context": CONTEXT}
            reply = query.post("/v1/collections/digits/search", json=body)
            assert reply.status_code == 200, reply.text
            return reply.json()["results"][0]["id"]

        for label in range(4):
            text = {"modality": "text", "data": caption(label)}
            assert top(text, "image") == f"image-{label}"
            assert top(text, "audio") == f"audio-{label}"
        hits = [
            top({"modality": "audio", "data": data_uri("audio/wav", clip)}, "image")
            for _, clip in clips
        ]
        assert sum(h == f"image-{label}" for h, (label, _) in zip(hits, clips, strict=True)) >= 3


def _space_dimension(live: LiveServer) -> int:
    """The active space's dimension."""
    space = ModelStore(live.appliance.settings.models_dir).space()
    assert space is not None
    return space.dimension
