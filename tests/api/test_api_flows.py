"""End-to-end over real HTTP: ingest -> search -> erase -> search, and a restart."""

from __future__ import annotations

import json

from appliance.audit import verify_trail
from appliance.wiring import open_appliance
from tests.api.conftest import LiveServer
from tests.api.media import data_uri, png, tone_wav

CONTEXT = {"subject_role": "patient", "purpose": "treatment"}


def _items(subject: str, prefix: str) -> list[dict]:
    return [
        {
            "id": f"{prefix}-t",
            "subject_id": subject,
            "modality": "text",
            "data": "Follow-up for chest pain, stable on aspirin.",
            "metadata": {"kind": "note"},
            "context": CONTEXT,
        },
        {
            "id": f"{prefix}-i",
            "subject_id": subject,
            "modality": "image",
            "data": data_uri("image/png", png(1)),
            "metadata": {"kind": "scan"},
            "context": CONTEXT,
        },
        {
            "id": f"{prefix}-a",
            "subject_id": subject,
            "modality": "audio",
            "data": data_uri("audio/wav", tone_wav()),
            "metadata": {"kind": "tone"},
            "context": CONTEXT,
        },
    ]


def test_ingest_search_erase_round_trip(served: LiveServer) -> None:
    """Items go in; search finds them; erasure removes every trace; the trail verifies."""
    with (
        served.client("admin") as admin,
        served.client("ingest") as ingest,
        served.client("query") as query,
    ):
        assert admin.post("/v1/collections", json={"name": "ward"}).status_code == 201
        reply = ingest.post("/v1/collections/ward/items", json={"items": _items("MRN-1", "a")})
        assert reply.status_code == 200, reply.text
        statuses = {i["id"]: i["status"] for i in reply.json()["items"]}
        assert statuses == {"a-t": "stored", "a-i": "stored", "a-a": "stored"}
        ingest.post("/v1/collections/ward/items", json={"items": _items("MRN-2", "b")})
        body = {"query": {"modality": "image", "data": data_uri("image/png", png(1))}, "k": 6}
        hits = query.post("/v1/collections/ward/search", json=body).json()["results"]
        assert {h["id"] for h in hits} == {"a-t", "a-i", "a-a", "b-t", "b-i", "b-a"}
        assert hits[0]["id"] in {"a-i", "b-i"} and hits[0]["metadata"] == {"kind": "scan"}
        only_audio = query.post(
            "/v1/collections/ward/search", json={**body, "modalities": ["audio"]}
        ).json()["results"]
        assert {h["modality"] for h in only_audio} == {"audio"}
        assert admin.delete("/v1/subjects/MRN-1").json() == {"deleted": 3}
        after = query.post("/v1/collections/ward/search", json=body).json()["results"]
        assert {h["id"] for h in after} == {"b-t", "b-i", "b-a"}
    report = verify_trail(
        served.appliance.settings.data_dir / "audit", served.appliance.signing_public_key
    )
    assert report.ok, report.problem
    trail = (served.appliance.settings.data_dir / "audit" / "trail.jsonl").read_text()
    assert "MRN-1" not in trail and "chest pain" not in trail


def test_partial_success_is_reported_item_by_item(served: LiveServer) -> None:
    """A bad item fails alone; the others are stored."""
    with served.client("admin") as admin, served.client("ingest") as ingest:
        admin.post("/v1/collections", json={"name": "mixed"})
        items = _items("MRN-3", "c")
        items[1] = {**items[1], "data": "http://example.org/x.png"}
        items.append(
            {
                **items[0],
                "id": "c-bad",
                "data": data_uri("image/png", b"not a png"),
                "modality": "image",
            }
        )
        reply = ingest.post("/v1/collections/mixed/items", json={"items": items}).json()
    statuses = {i["id"]: i["status"] for i in reply["items"]}
    assert statuses == {"c-t": "stored", "c-i": "failed", "c-a": "stored", "c-bad": "failed"}
    failed = next(i for i in reply["items"] if i["id"] == "c-i")
    assert "URLs are never fetched" in failed["error"]["message"]


def test_restart_keeps_everything(served: LiveServer) -> None:
    """After the appliance closes and reopens, the stored items are still in its index."""
    with served.client("admin") as admin, served.client("ingest") as ingest:
        admin.post("/v1/collections", json={"name": "keep"})
        ingest.post("/v1/collections/keep/items", json={"items": _items("MRN-4", "k")})
    settings = served.appliance.settings
    served.appliance.indexes.snapshot_all()
    space = _space(served)
    reopened = open_appliance(settings, environ={})
    try:
        (collection,) = reopened.collections.list()
        index = reopened.indexes.get(collection, space)
        assert len(index) == 3
    finally:
        reopened.close()


def _space(served: LiveServer) -> str:
    lines = (served.appliance.settings.data_dir / "audit" / "trail.jsonl").read_text().splitlines()
    stored = [json.loads(line) for line in lines if '"items.store"' in line]
    return stored[0]["details"]["space"]


def test_search_queries_are_screened_under_their_context(served: LiveServer) -> None:
    """A query is decided on like an input: the default context is a patient's treatment,
    a research query is de-identified, a bad context is a 422; each decision is audited."""
    with served.client("admin") as admin, served.client("ingest") as ingest:
        admin.post("/v1/collections", json={"name": "screened"})
        ingest.post("/v1/collections/screened/items", json={"items": _items("MRN-5", "s")[:1]})
    query_text = {"modality": "text", "data": "Jane Doe, seen on 03/14/2025 for chest pain"}
    with served.client("query") as query:
        default = query.post("/v1/collections/screened/search", json={"query": query_text})
        research = query.post(
            "/v1/collections/screened/search",
            json={
                "query": query_text,
                "context": {"subject_role": "patient", "purpose": "research"},
            },
        )
        bad = query.post(
            "/v1/collections/screened/search",
            json={"query": query_text, "context": {"subject_role": "robot", "purpose": "x"}},
        )
    assert default.status_code == 200 and research.status_code == 200, research.text
    assert [h["id"] for h in default.json()["results"]] == ["s-t"]
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_input"
    trail = (served.appliance.settings.data_dir / "audit" / "trail.jsonl").read_text()
    searches = [json.loads(x) for x in trail.splitlines() if '"items.search"' in x]
    assert [s["decision"]["purpose"] for s in searches] == ["treatment", "research"]
    assert "hipaa.names" in searches[0]["decision"]["categories"]
    assert "deidentify:safe_harbor" in searches[1]["decision"]["obligations"]
    assert "Jane" not in trail
