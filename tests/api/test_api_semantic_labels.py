"""Vectors that leave the appliance say whether they mean anything (issue 11), and the
OpenAI route's ``usage`` counts the text model's own tokens (issue 13)."""

from __future__ import annotations

from appliance.domain.types import Modality
from tests.api.conftest import LiveServer

CONTEXT = {"subject_role": "patient", "purpose": "treatment"}


def test_embeddings_and_search_label_non_semantic_vectors(served: LiveServer) -> None:
    """With the random-weight test pack served, /v1/embeddings says ``semantic`` false for
    its modality and search says it per hit and per modality; usage counts real tokens."""
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
    tokens = [row["notes"]["tokens"] for row in body["data"]]
    assert body["usage"]["prompt_tokens"] == body["usage"]["total_tokens"] == sum(tokens)
    assert sum(tokens) > len(texts)  # the tokenizer's count, not one per input, not zero


def test_usage_is_the_tokenizers_count(served: LiveServer) -> None:
    """prompt_tokens equals the served text model's own tokenizer count of the inputs (read
    here from the model store's tokenizer.json, independently of the server)."""
    from tokenizers import Tokenizer

    from appliance.models import ModelStore

    store = ModelStore(served.appliance.settings.models_dir)
    space = store.space()
    assert space is not None
    tokenizer = Tokenizer.from_file(
        str(store.model_dir(space.encoders[Modality.TEXT.value].model) / "tokenizer.json")
    )
    tokenizer.no_truncation()
    texts = ["a b c d e f g", "the quick brown fox jumps"]
    expected = sum(len(tokenizer.encode(text).ids) for text in texts)
    with served.client("query") as client:
        model = client.get("/v1/models").json()["data"][0]["id"]
        body = client.post("/v1/embeddings", json={"model": model, "input": texts}).json()
    assert body["usage"] == {"prompt_tokens": expected, "total_tokens": expected}
