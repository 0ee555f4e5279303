"""The official openai client works unchanged against /v1/embeddings."""

from __future__ import annotations

import numpy as np
import openai
import pytest

from tests.api.conftest import LiveServer
from tests.api.media import data_uri, png, tone_wav


def _client(served: LiveServer, role: str = "query") -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{served.url}/v1", api_key=served.tokens[role], max_retries=0)


def _space(served: LiveServer) -> str:
    with served.client("query") as client:
        return client.get("/v1/models").json()["data"][0]["id"]


def test_text_round_trip_float_and_base64(served: LiveServer) -> None:
    """Text embeddings come back unit-length, identical in float and base64 encodings."""
    client = _client(served)
    model = _space(served)
    floats = client.embeddings.create(
        model=model, input=["fever and cough", "knee pain"], encoding_format="float"
    )
    default = client.embeddings.create(model=model, input=["fever and cough", "knee pain"])
    assert [d.index for d in floats.data] == [0, 1]
    first = np.asarray(floats.data[0].embedding)
    assert first.shape == (served_dimension(served),)
    assert np.linalg.norm(first) == pytest.approx(1.0, abs=1e-4)
    assert np.allclose(first, np.asarray(default.data[0].embedding), atol=1e-6)
    assert not np.allclose(first, np.asarray(floats.data[1].embedding))


def test_image_and_audio_through_extra_body(served: LiveServer) -> None:
    """Image and audio data: URIs embed into the same dimension via extra_body modality."""
    client = _client(served)
    model = _space(served)
    image = client.embeddings.create(
        model=model, input=data_uri("image/png", png(3)), extra_body={"modality": "image"}
    )
    audio = client.embeddings.create(
        model=model, input=data_uri("audio/wav", tone_wav()), extra_body={"modality": "audio"}
    )
    dims = {len(image.data[0].embedding), len(audio.data[0].embedding)}
    assert dims == {served_dimension(served)}


def test_errors_surface_as_openai_exceptions(served: LiveServer) -> None:
    """An unknown model is a 404 and a wrong token a 401, as openai exceptions."""
    with pytest.raises(openai.NotFoundError):
        _client(served).embeddings.create(model="no-such-model", input="x")
    bad = openai.OpenAI(base_url=f"{served.url}/v1", api_key="apl_000000000000_nope", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.embeddings.create(model=_space(served), input="x")
    with pytest.raises(openai.PermissionDeniedError):
        _client(served, "auditor").embeddings.create(model=_space(served), input="x")


def test_models_list_labels_non_semantic(served: LiveServer) -> None:
    """GET /v1/models through the client lists the space and flags random-weight models."""
    listed = {m.id: m for m in _client(served).models.list().data}
    assert _space(served) in listed
    assert any(getattr(m, "semantic", True) is False for m in listed.values())


def served_dimension(served: LiveServer) -> int:
    """The served space's dimension."""
    with served.client("query") as client:
        return int(client.get("/v1/models").json()["data"][0]["dimension"])
