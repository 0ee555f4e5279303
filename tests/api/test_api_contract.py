"""The OpenAPI document is the API contract: every route has typed request and response
schemas for every status it can answer, errors in the one ``ErrorBody`` shape with every
code listed, and validation errors are 422 in that shape (not litestar's 400)."""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient

from appliance.api.app import create_app
from appliance.api.contract import ERROR_CODES, ErrorBody
from appliance.api.errors import STATUS_BY_CODE
from appliance.domain.types import Actor
from appliance.server import api_services
from appliance.wiring import Appliance

ROOT = Path(__file__).resolve().parents[2]
PUBLIC = {"/healthz", "/readyz", "/metrics"}
NOT_JSON = {"/metrics": "text/plain", "/v1/audit/export": "application/x-ndjson"}
CLI_ONLY_CODES = {"os_error", "store_error"}  # appliance/cli/main.py: never an HTTP answer


@pytest.fixture
def client(appliance: Appliance) -> Iterator[tuple[TestClient[Any], str]]:
    """The app in-process (no encoders) and an admin token."""
    token = appliance.tokens.create("admin", actor=Actor.operator())
    with TestClient(create_app(api_services(appliance))) as test_client:
        yield test_client, token


def _operations(schema: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            yield path, method.upper(), operation


def _ref(content: dict[str, Any], media: str = "application/json") -> str:
    schema = content[media]["schema"]
    assert "$ref" in schema, schema
    return str(schema["$ref"]).rsplit("/", 1)[-1]


def test_every_route_has_typed_schemas_for_every_status(client: tuple[Any, str]) -> None:
    """Each operation: typed body, a typed 2xx, 401/403/429 when guarded, 400 and 422 when it
    takes input, and every error status answering ErrorBody (readyz's 503: NotReadyBody)."""
    test_client, _ = client
    schema = test_client.get("/schema/openapi.json").json()
    components = schema["components"]["schemas"]
    operations = list(_operations(schema))
    assert len(operations) == 15, [f"{m} {p}" for p, m, _ in operations]
    for path, method, operation in operations:
        label = f"{method} {path}"
        responses = operation["responses"]
        success = [s for s in responses if s.startswith("2")]
        assert len(success) == 1, label
        content = responses[success[0]]["content"]
        if path in NOT_JSON:
            assert NOT_JSON[path] in next(iter(content)), label
        else:
            name = _ref(content)
            assert components[name].get("properties"), f"{label}: {name} is untyped"
        if "requestBody" in operation:
            body = _ref(operation["requestBody"]["content"])
            assert components[body].get("properties"), label
        takes_input = "requestBody" in operation or bool(operation.get("parameters"))
        expected = {"500"}
        if path not in PUBLIC:
            expected |= {"401", "403", "429", "503"}
        if takes_input:
            expected |= {"400", "422"}
        assert expected <= set(responses), f"{label}: {sorted(responses)}"
        for status, response in responses.items():
            if status.startswith("2"):
                continue
            wanted = "NotReadyBody" if (path, status) == ("/readyz", "503") else "ErrorBody"
            assert _ref(response["content"]) == wanted, f"{label} {status}"
    text = json.dumps(schema)
    assert '"status_code"' not in text, "litestar's own error shape is still described"


def test_error_codes_are_one_list_in_code_schema_and_docs(client: tuple[Any, str]) -> None:
    """ErrorCode, STATUS_BY_CODE, the schema's enum and docs/api.md list the same codes."""
    test_client, _ = client
    schema = test_client.get("/schema/openapi.json").json()
    enum = schema["components"]["schemas"]["ErrorDetail"]["properties"]["code"]["enum"]
    assert set(enum) == set(ERROR_CODES) == set(STATUS_BY_CODE)
    docs = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    missing = [code for code in ERROR_CODES if f"`{code}`" not in docs]
    assert not missing, missing


def _raised_codes() -> set[str]:
    """Every error code the product code can raise (class ``code = ...`` or ``code=...``)."""
    codes: set[str] = set()
    for path in (ROOT / "appliance").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == "code" for t in node.targets)
            ) or (isinstance(node, ast.keyword) and node.arg == "code"):
                value = node.value
            else:
                continue
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                codes.add(value.value)
    return codes


def test_every_code_the_product_raises_is_in_the_contract() -> None:
    """No error code raised anywhere in appliance/ is missing from ErrorCode."""
    raised = _raised_codes() - CLI_ONLY_CODES
    assert raised, "the walk found no codes"
    assert raised <= set(ERROR_CODES), sorted(raised - set(ERROR_CODES))


def test_validation_error_is_a_422_in_our_shape_as_documented(client: tuple[Any, str]) -> None:
    """A body of the wrong type answers 422 invalid_input naming the field, as ErrorBody,
    and the operation's schema documents that 422 with ErrorBody."""
    test_client, token = client
    headers = {"Authorization": f"Bearer {token}"}
    response = test_client.post("/v1/collections", json={"name": 5}, headers=headers)
    assert response.status_code == 422, response.text
    body = msgspec.json.decode(response.content, type=ErrorBody)
    assert body.error.code == "invalid_input" and "name" in body.error.message
    assert body.error.remedy
    schema = test_client.get("/schema/openapi.json").json()
    declared = schema["paths"]["/v1/collections"]["post"]["responses"]["422"]
    assert _ref(declared["content"]) == "ErrorBody"
    assert re.search(r"\binvalid_input\b", declared["description"])


def test_every_error_status_the_app_answers_is_declared(client: tuple[Any, str]) -> None:
    """Real error answers (401, 404, 415/400, 422, 503) are statuses their route declares."""
    test_client, token = client
    headers = {"Authorization": f"Bearer {token}"}
    schema = test_client.get("/schema/openapi.json").json()
    calls = [
        ("get", "/v1/collections", "/v1/collections", {}, None),
        (
            "post",
            "/v1/collections/x/search",
            "/v1/collections/{collection}/search",
            headers,
            {"query": {"modality": "text", "data": "a"}},
        ),
        ("delete", "/v1/consents/0", "/v1/consents/{consent_id}", headers, None),
        ("post", "/v1/embeddings", "/v1/embeddings", headers, {"model": "m", "input": "a"}),
        ("get", "/v1/subjects/MRN-1/consents", "/v1/subjects/{subject_id}/consents", headers, None),
    ]
    seen = set()
    for method, url, template, call_headers, body in calls:
        response = test_client.request(method, url, headers=call_headers, json=body)
        declared = schema["paths"][template][method]["responses"]
        assert str(response.status_code) in declared, (url, response.status_code)
        if response.status_code >= 400:
            msgspec.json.decode(response.content, type=ErrorBody)
        seen.add(response.status_code)
    assert {401, 422, 503, 200} <= seen, seen
