"""Hostile requests over real HTTP: every one a clear 4xx (or 503/504), never a 500 or a hang."""

from __future__ import annotations

import errno
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import event

from appliance.api.errors import STATUS_BY_CODE
from tests.api.conftest import LiveServer
from tests.api.media import data_uri
from tests.encoders.hostile_media import icns_bomb

CONTEXT = {"subject_role": "patient", "purpose": "treatment"}
DOCS = Path(__file__).resolve().parents[2] / "docs" / "api.md"
INVALID_UTF8 = {
    "ff-fe": b"\xff\xfe",
    "overlong-nul": b"\xc0\x80",
    "lone-surrogate": b"\xed\xa0\x80",
}


def _item(data: str, modality: str = "text", **extra: object) -> dict:
    return {"subject_id": "MRN-9", "modality": modality, "data": data, "context": CONTEXT, **extra}


def _error(response) -> dict:
    body = response.json()
    assert set(body) == {"error"}, body
    return body["error"]


def _model(served: LiveServer) -> str:
    with served.client("query") as client:
        return client.get("/v1/models").json()["data"][0]["id"]


@pytest.mark.parametrize("name", sorted(INVALID_UTF8))
def test_invalid_utf8_inside_a_json_string_is_a_400(live: LiveServer, name: str) -> None:
    """Bytes that are not UTF-8 inside a JSON string answer 400 invalid_json, not a 500."""
    body = b'{"items": [{"subject_id": "MRN-9", "modality": "text", "data": "a' + (
        INVALID_UTF8[name] + b'b", "context": {}}]}'
    )
    with live.client("ingest") as client:
        response = client.post(
            "/v1/collections/c/items", content=body, headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 400
    error = _error(response)
    assert error["code"] == "invalid_json"
    assert "UTF-8" in error["message"]


@pytest.mark.parametrize("depth", [40, 50_000, 200_000])
@pytest.mark.parametrize("where", ["body", "input", "metadata", "filter"])
def test_deeply_nested_json_is_a_400(live: LiveServer, where: str, depth: int) -> None:
    """JSON nested past limits.max_json_depth (40 to 200,000 levels) is refused with a 400."""
    deep = "[" * depth + "]" * depth
    route, role, body = {
        "body": ("/v1/collections", "admin", deep),
        "input": ("/v1/embeddings", "query", f'{{"model": "m", "input": {deep}}}'),
        "metadata": (
            "/v1/collections/c/items",
            "ingest",
            '{"items": [{"subject_id": "s", "modality": "text", "data": "x", "context": {}, '
            f'"metadata": {{"k": {deep}}}}}]}}',
        ),
        "filter": (
            "/v1/collections/c/search",
            "query",
            f'{{"query": {{"modality": "text", "data": "x"}}, "filter": {{"k": {deep}}}}}',
        ),
    }[where]
    with live.client(role) as client:
        response = client.post(route, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text[:300]
    error = _error(response)
    assert error["code"] == "invalid_json"
    assert "max_json_depth" in error["message"]


def test_malformed_json_has_a_documented_code(live: LiveServer) -> None:
    """A body that is not JSON is 400 invalid_json (a documented code), not http_error."""
    with live.client("admin") as client:
        response = client.post(
            "/v1/collections", content=b"{name: nope", headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 400
    assert _error(response)["code"] == "invalid_json"


def test_unauthenticated_hostile_json_is_still_a_401(live: LiveServer) -> None:
    """Body checks run after authentication: a tokenless bad body learns nothing but 401."""
    with live.client() as client:
        response = client.post(
            "/v1/collections", content=b"[" * 50_000, headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 401


def test_every_error_code_is_documented() -> None:
    """Each code the API can answer with appears in docs/api.md's error table."""
    documented = set(re.findall(r"`([a-z_]+)`", DOCS.read_text()))
    missing = sorted(set(STATUS_BY_CODE) - documented)
    assert not missing, f"codes missing from docs/api.md: {missing}"


def test_over_long_text_item_is_a_413_naming_the_limit(live: LiveServer) -> None:
    """One text input over limits.max_text_chars is a 413 naming the setting, before detection."""
    limit = live.appliance.settings.limits.max_text_chars
    with live.client("ingest") as client:
        response = client.post(
            "/v1/collections/c/items", json={"items": [_item("a." * (limit // 2 + 1))]}
        )
    assert response.status_code == 413
    error = _error(response)
    assert error["code"] == "payload_too_large"
    assert "limits.max_text_chars" in error["message"]


def test_request_text_total_is_a_413_naming_the_limit(live: LiveServer) -> None:
    """Texts each within bounds but together over the per-request limit are a 413 too."""
    limits = live.appliance.settings.limits
    count = limits.max_request_text_chars // limits.max_text_chars + 1
    texts = ["word " * (limits.max_text_chars // 5)] * count
    with live.client("query") as client:
        response = client.post("/v1/embeddings", json={"model": "m", "input": texts})
        search = client.post(
            "/v1/collections/c/search",
            json={"query": {"modality": "text", "data": "x" * (limits.max_text_chars + 1)}},
        )
    assert response.status_code == 413
    assert "limits.max_request_text_chars" in _error(response)["message"]
    assert search.status_code == 413
    assert "query.data" in _error(search)["message"]


def test_image_bomb_passing_open_is_a_422_everywhere(served: LiveServer) -> None:
    """An ICNS whose frame is a bomb: 422 on embeddings and classify, a failed item on ingest."""
    bomb = data_uri("image/icns", icns_bomb())
    with served.client("admin") as admin:
        admin.post("/v1/collections", json={"name": "bombs"})
        embedded = admin.post(
            "/v1/embeddings", json={"model": _model(served), "input": bomb, "modality": "image"}
        )
        classified = admin.post(
            "/v1/classify", json={"modality": "image", "data": bomb, "context": CONTEXT}
        )
        ingested = admin.post(
            "/v1/collections/bombs/items", json={"items": [_item(bomb, "image", id="b")]}
        )
    for response in (embedded, classified):
        assert response.status_code == 422, response.text
        assert _error(response)["code"] == "invalid_input"
        assert "decompression bomb" in _error(response)["message"]
    assert ingested.status_code == 200
    (item,) = ingested.json()["items"]
    assert item["status"] == "failed" and item["error"]["code"] == "invalid_input"


def test_audio_errors_name_the_problem_without_internals(served: LiveServer) -> None:
    """Undecodable audio is a 422 whose message has no Python object repr in it."""
    junk = data_uri("audio/wav", b"RIFF\x10\x00\x00\x00WAVEfmt junkjunkjunkjunk")
    with served.client("query") as client:
        response = client.post(
            "/v1/embeddings", json={"model": _model(served), "input": junk, "modality": "audio"}
        )
    assert response.status_code == 422
    message = _error(response)["message"]
    assert "object at 0x" not in message and "BytesIO" not in message


def _fill_disk(served: LiveServer, pragma: str) -> Callable[[], None]:
    """Every new store connection gets ``pragma`` (SQLite then fails writes as a disk would).

    ``max_page_count`` cannot go below the file's size, so it pins the database at its
    current size: a real SQLITE_FULL for any write that needs a new page. Returns the undo.
    """
    engine = served.appliance.database.engine

    def fault(dbapi_connection, _record) -> None:
        dbapi_connection.execute(pragma)

    event.listen(engine, "connect", fault)
    return lambda: event.remove(engine, "connect", fault)


@pytest.mark.parametrize(
    "pragma",
    ["PRAGMA max_page_count = 1", "PRAGMA query_only = ON"],
    ids=["disk-full", "read-only"],
)
def test_full_or_read_only_store_is_a_503_and_nothing_is_acknowledged(
    served: LiveServer, pragma: str
) -> None:
    """A store that cannot write answers 503 storage_unavailable; no item is reported stored."""
    with served.client("admin") as admin:
        assert admin.post("/v1/collections", json={"name": "full"}).status_code == 201
    undo = _fill_disk(served, pragma)
    item = _item("Follow-up for chest pain.", metadata={"note": "stable on aspirin " * 3000})
    with served.client("ingest") as client:
        response = client.post("/v1/collections/full/items", json={"items": [item]})
    assert response.status_code == 503, response.text
    error = _error(response)
    assert error["code"] == "storage_unavailable"
    assert "remedy" in error
    undo()
    query = {"query": {"modality": "text", "data": "Follow-up for chest pain."}, "k": 5}
    with served.client("query") as client:
        found = client.post("/v1/collections/full/search", json=query)
    assert found.status_code == 200 and found.json()["results"] == []


def test_audit_disk_full_is_a_503(served: LiveServer, monkeypatch) -> None:
    """An audit write failing with ENOSPC refuses the operation with a 503, not a 500."""
    from appliance.audit import storage

    def full(self, lines) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    model = _model(served)
    with served.client("admin") as admin:
        assert admin.post("/v1/collections", json={"name": "audited"}).status_code == 201
    monkeypatch.setattr(storage.JsonlFile, "append_lines", full)
    with served.client("query") as client:
        embedded = client.post("/v1/embeddings", json={"model": model, "input": ["chest pain"]})
        search = client.post(
            "/v1/collections/audited/search", json={"query": {"modality": "text", "data": "x"}}
        )
    for response in (embedded, search):
        assert response.status_code == 503, response.text
        assert _error(response)["code"] == "audit_unavailable"
        assert "No space left" in _error(response)["message"]
