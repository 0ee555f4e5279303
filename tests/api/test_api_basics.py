"""Health, errors, auth failures and admin routes over real HTTP."""

from __future__ import annotations

import json

from tests.api.conftest import LiveServer


def _audit(live: LiveServer) -> list[dict]:
    path = live.appliance.settings.data_dir / "audit" / "trail.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_healthz_needs_no_token(live: LiveServer) -> None:
    """Liveness answers without authentication."""
    with live.client() as client:
        assert client.get("/healthz").json() == {"status": "alive"}


def test_readyz_fails_closed_without_encoders(live: LiveServer) -> None:
    """With no encoders loaded, readiness is 503 and names the failed check."""
    with live.client() as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert "encoders" in response.json()["error"]["message"]


def test_missing_and_bad_tokens_are_401_and_audited(live: LiveServer) -> None:
    """No token or a wrong token gets a JSON 401 with a remedy, and each is audited."""
    with live.client() as client:
        missing = client.get("/v1/collections")
        wrong = client.get("/v1/collections", headers={"Authorization": "Bearer apl_x_y"})
    assert missing.status_code == 401 and wrong.status_code == 401
    assert missing.json()["error"]["code"] == "unauthorized"
    assert "remedy" in missing.json()["error"]
    denials = [e for e in _audit(live) if e["action"] == "auth.denied"]
    assert len(denials) == 2
    assert "apl_x_y" not in json.dumps(denials)


def test_repeated_failures_are_rate_limited(live: LiveServer) -> None:
    """After the failure budget, a client gets 429 with Retry-After even before auth."""
    with live.client() as client:
        statuses = [client.get("/v1/collections").status_code for _ in range(8)]
    assert statuses[:5] == [401] * 5
    assert statuses[-1] == 429


def test_role_without_permission_is_403_and_audited(live: LiveServer) -> None:
    """An auditor cannot create collections; the denial is audited with the token id."""
    with live.client("auditor") as client:
        response = client.post("/v1/collections", json={"name": "x", "dimension": 4})
    assert response.status_code == 403
    denial = [e for e in _audit(live) if e["action"] == "auth.denied"][-1]
    assert denial["outcome"] == "forbidden"
    assert denial["actor"]["role"] == "auditor"


def test_collection_create_list_and_conflict(live: LiveServer) -> None:
    """Admin creates a collection; a duplicate is a JSON 409; query can list it."""
    with live.client("admin") as admin, live.client("query") as query:
        created = admin.post("/v1/collections", json={"name": "notes", "dimension": 8})
        again = admin.post("/v1/collections", json={"name": "notes", "dimension": 8})
        listed = query.get("/v1/collections")
    assert created.status_code == 201 and created.json()["dimension"] == 8
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"
    assert listed.json()["collections"] == [{"name": "notes", "dimension": 8}]


def test_bad_bodies_are_422_naming_the_problem(live: LiveServer) -> None:
    """Malformed JSON, a missing field or a bad name is a 4xx JSON error, never a 500."""
    with live.client("admin") as admin:
        not_json = admin.post(
            "/v1/collections", content=b"{", headers={"Content-Type": "application/json"}
        )
        missing = admin.post("/v1/collections", json={"dimension": 4})
        bad_name = admin.post("/v1/collections", json={"name": "Bad Name!", "dimension": 4})
    for response in (not_json, missing, bad_name):
        assert 400 <= response.status_code < 500, response.text
        assert response.json()["error"]["message"]
    assert "name" in missing.json()["error"]["message"]


def test_erase_subject_and_auditor_export(live: LiveServer) -> None:
    """Admin erases a subject; the auditor exports the trail, which records it by pseudonym."""
    with live.client("admin") as admin, live.client("auditor") as auditor:
        erased = admin.delete("/v1/subjects/MRN-404")
        export = auditor.get("/v1/audit/export")
    assert erased.json() == {"deleted": 0}
    lines = [json.loads(line) for line in export.text.splitlines()]
    assert any(e["action"] == "subjects.erase" for e in lines)
    assert "MRN-404" not in export.text


def test_metrics_count_requests_by_route_and_status(live: LiveServer) -> None:
    """/metrics exposes request counts labelled by route template and status."""
    with live.client() as client:
        client.get("/healthz")
        text = client.get("/metrics").text
    assert 'appliance_http_requests_total{method="GET",route="/healthz",status="200"}' in text


def test_openapi_schema_is_served_without_cdn(live: LiveServer) -> None:
    """The OpenAPI document is served locally as JSON."""
    with live.client() as client:
        schema = client.get("/schema/openapi.json")
    assert schema.status_code == 200
    assert "/v1/collections" in schema.json()["paths"]
