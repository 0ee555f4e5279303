"""Vectors that leave the appliance say whether they mean anything (issue 11), and the
OpenAI route's ``usage`` counts the text model's own tokens (issue 13)."""

from __future__ import annotations

from appliance.domain.types import Modality
from tests.api.conftest import LiveServer

CONTEXT = {"subject_role": "patient", "purpose": "treatment"}


def _tokenizer_count(served: LiveServer, texts: list[str]) -> int:
    """The served text model's own tokenizer count of ``texts`` (read here from the model
    store's tokenizer.json, independently of the server)."""
    from tokenizers import Tokenizer

    from appliance.models import ModelStore

    store = ModelStore(served.appliance.settings.models_dir)
    space = store.space()
    assert space is not None
    tokenizer = Tokenizer.from_file(
        str(store.model_dir(space.encoders[Modality.TEXT.value].model) / "tokenizer.json")
    )
    tokenizer.no_truncation()
    return sum(len(tokenizer.encode(text).ids) for text in texts)


def test_embeddings_and_search_label_non_semantic_vectors(served: LiveServer) -> None:
    """With the random-weight test pack served, /v1/embeddings says ``semantic`` false for
    its modality and search says it per hit and per modality; ``usage`` is the text model's
    tokenizer count of the inputs."""
    texts = ["chest pain on exertion", "knee"]
    with served.client("admin") as admin:
        model = admin.get("/v1/models").json()["data"][0]["id"]
        reply = admin.post("/v1/embeddings", json={"model": model, "input": texts})
        assert reply.status_code == 200, reply.text
        body = reply.json()
        assert body["semantic"] == {"text": False}
        assert admin.post("/v1/collections", json={"name": "labels"}).status_code == 201
        item = {"subject_id": "MRN-1", "modality": "text", "data": "knee pain", "context": CONTEXT}
        stored = admin.post("/v1/collections/labels/items", json={"items": [item]})
        assert stored.json()["items"][0]["status"] == "stored", stored.text
        found = admin.post(
            "/v1/collections/labels/search",
            json={"query": {"modality": "text", "data": "knee"}, "k": 3},
        )
    assert found.status_code == 200, found.text
    result = found.json()
    assert result["results"] and all(hit["semantic"] is False for hit in result["results"])
    assert result["semantic"]["text"] is False
    assert set(result["semantic"]) == {"text", "image", "audio"}
    expected = _tokenizer_count(served, texts)
    assert body["usage"] == {"prompt_tokens": expected, "total_tokens": expected}
    assert expected > len(texts)  # the tokenizer's count, not one per input, not zero
