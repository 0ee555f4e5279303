"""Property-based fuzzing of the running app against its own OpenAPI schema (schemathesis).

The schema comes from the served app itself (GET /schema/openapi.json). Every operation is
driven through schemathesis' hypothesis strategies with a role's token, in four passes:

* positive: data valid per the schema;
* negative: data that violates it;
* steered: valid data with the gating fields made usable (an existing collection, text
  modality, the served model, a known context), so detectors, policy and encoders see it;
* edges: steered data with every integer field (path or body) at a boundary (0, -1, 2**31,
  2**63 - 1, 2**63, 10**30) -- random generation rarely reaches these.

No reply may be a 5xx or a dropped connection, and every error is our JSON error shape.
Each operation gets a fresh token, so the per-token rate limit does not throttle the run.

schemathesis' lazy ``from_fixture`` loader touches ``Function._nodeid``, which pytest 9.2
no longer has, so the operations are driven directly with ``APIOperation.as_strategy``.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from appliance.domain.types import Actor
from tests.api.conftest import LiveServer

POSITIVE = schemathesis.GenerationMode.POSITIVE
NEGATIVE = schemathesis.GenerationMode.NEGATIVE
STEERED = "steered"
EDGES = "edges"
EDGE_INTS = (0, -1, 2**31, 2**63 - 1, 2**63, 10**30)
EXAMPLES_PER_EDGE = 3
CONTEXT = {"subject_role": "patient", "purpose": "treatment"}
COLLECTION = "fuzz"
SERVER_ERRORS = (not_a_server_error,)
CONFORMANCE = (
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
)


def _load(served: LiveServer) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(
        f"{served.url}/schema/openapi.json", config=schemathesis.Config(), timeout=30
    )


def _is_integer(schema: dict[str, Any]) -> bool:
    options = schema.get("oneOf") or schema.get("anyOf") or [schema]
    return any(option.get("type") == "integer" for option in options)


def _integer_fields(raw: dict[str, Any], operation: Any) -> tuple[list[str], list[str]]:
    """The integer path parameters and top-level integer body properties of an operation."""
    definition = raw["paths"][operation.path][operation.method.lower()]
    path = [
        p["name"]
        for p in definition.get("parameters", [])
        if p["in"] == "path" and _is_integer(p.get("schema", {}))
    ]
    body_schema = (
        definition.get("requestBody", {})
        .get("content", {})
        .get("application/json", {})
        .get("schema", {})
    )
    if "$ref" in body_schema:
        body_schema = raw["components"]["schemas"][body_schema["$ref"].rsplit("/", 1)[-1]]
    body = [k for k, v in body_schema.get("properties", {}).items() if _is_integer(v)]
    return path, body


_NAMES = itertools.count()


def _steer(case: schemathesis.Case, space: str) -> schemathesis.Case:
    """Keep the fuzzed values but make the fields that gate the deep path valid."""
    if "collection" in (case.path_parameters or {}):
        case.path_parameters["collection"] = COLLECTION
    body: Any = case.body
    if not isinstance(body, dict):
        return case
    if case.operation.label == "POST /v1/collections":
        # the schema has no name pattern, so generated names are almost never valid
        body["name"] = f"c{next(_NAMES)}"
    for item in body.get("items") or []:
        if isinstance(item, dict):
            item.update(modality="text", context=dict(CONTEXT))
    if isinstance(body.get("query"), dict):
        body["query"]["modality"] = "text"
    if "model" in body:
        raw = body.get("input")
        texts = isinstance(raw, list) and all(isinstance(x, str) for x in raw)
        body.update(
            model=space,
            modality="text",
            context=dict(CONTEXT),
            dimensions=None,
            encoding_format="float",
            input=raw if isinstance(raw, str) or texts else json.dumps(raw),
        )
    if "evidence_ref" in body:
        body.update(purpose="treatment", category="*", evidence_ref="form-1")
    if {"modality", "context"} <= body.keys():
        body.update(modality="text", context=dict(CONTEXT))
    return case


def _at_edge(
    case: schemathesis.Case, fields: tuple[list[str], list[str]], value: int
) -> schemathesis.Case:
    path, body = fields
    for name in path:
        case.path_parameters[name] = value
    if isinstance(case.body, dict):
        for name in body:
            case.body[name] = value
    return case


def _check_reply(
    case: schemathesis.Case, response: schemathesis.Response, checks: tuple[Any, ...]
) -> None:
    case.validate_response(response, checks=list(checks))
    if response.status_code >= 400:
        error = json.loads(response.content)["error"]
        assert isinstance(error["code"], str) and error["code"], response.text
        assert isinstance(error["message"], str) and error["message"], response.text


def _run(
    strategy: Any,
    examples: int,
    label: str,
    headers: dict[str, str],
    statuses: Counter[str],
    checks: tuple[Any, ...] = SERVER_ERRORS,
) -> None:
    """Send up to ``examples`` generated cases; count statuses; raise on the first bad reply."""

    @given(case=strategy)
    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        response = case.call(headers=headers, timeout=30)
        statuses[f"{case.operation.label} {label} {response.status_code}"] += 1
        _check_reply(case, response, checks)

    run()


def _passes(
    operation: Any, plan: dict[Any, int], space: str, raw: dict[str, Any]
) -> list[tuple[str, Any, int]]:
    """(label, strategy, max_examples) for each pass that applies to ``operation``."""
    steerable = bool(operation.body) or "{collection}" in operation.path
    passes = []
    for mode, examples in plan.items():
        if mode in (POSITIVE, NEGATIVE):
            passes.append((mode.value, operation.as_strategy(mode), examples))
        elif mode == STEERED and steerable:
            strategy = operation.as_strategy(POSITIVE).map(lambda c: _steer(c, space))
            passes.append((STEERED, strategy, examples))
        elif mode == EDGES:
            fields = _integer_fields(raw, operation)
            for value in EDGE_INTS if any(fields) else ():
                strategy = operation.as_strategy(POSITIVE).map(
                    lambda c, v=value, f=fields: _at_edge(_steer(c, space), f, v)
                )
                passes.append((f"{EDGES}={value}", strategy, examples))
    return passes


def _fuzz(
    served: LiveServer,
    role: str,
    plan: dict[Any, int],
    checks: tuple[Any, ...] = SERVER_ERRORS,
) -> tuple[list[str], Counter[str]]:
    """Run every operation of the served schema under each pass; return failures, statuses."""
    with served.client("admin") as admin:
        space = admin.get("/v1/models").json()["data"][0]["id"]
        assert admin.post("/v1/collections", json={"name": COLLECTION}).status_code == 201
    schema = _load(served)
    statuses: Counter[str] = Counter()
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15, [op.label for op in operations]
    for operation in operations:
        token = served.appliance.tokens.create(role, actor=Actor.operator())
        headers = {"Authorization": f"Bearer {token}"}
        for label, strategy, examples in _passes(operation, plan, space, schema.raw_schema):
            try:
                _run(strategy, examples, label, headers, statuses, checks)
            except Unsatisfiable:
                # Nothing to make invalid (no body, no typed parameter): e.g. GET /healthz.
                if label != NEGATIVE.value:
                    failures.append(f"{operation.label} [{label}]: nothing was generated")
            except (Exception, FailureGroup) as exc:  # collect every operation's failure
                failures.append(f"{operation.label} [{label}]: {exc}"[:3000])
    return failures, statuses


def test_no_server_errors_as_admin(served: LiveServer) -> None:
    """Positive, negative, steered and edge-valued requests as admin never get a 5xx."""
    plan = {POSITIVE: 20, NEGATIVE: 10, STEERED: 20, EDGES: EXAMPLES_PER_EDGE}
    failures, statuses = _fuzz(served, "admin", plan)
    assert not failures, "\n\n".join(failures)
    assert not [key for key in statuses if key.endswith(" 429")], statuses
    # The run reached the handlers and the deep path, not only the validators.
    assert statuses["POST /v1/collections steered 201"] > 0, statuses
    assert statuses["DELETE /v1/subjects/{subject_id} positive 200"] > 0, statuses
    assert statuses["POST /v1/collections negative 422"] > 0, statuses
    assert statuses["POST /v1/collections/{collection}/items steered 200"] > 0, statuses
    assert statuses["POST /v1/collections/{collection}/search steered 200"] > 0, statuses
    assert statuses["POST /v1/classify steered 200"] > 0, statuses
    assert statuses["POST /v1/embeddings steered 200"] > 0, statuses
    edges = {key.rsplit(" ", 2)[0] for key in statuses if f" {EDGES}=" in key}
    assert {
        "DELETE /v1/consents/{consent_id}",
        "POST /v1/collections/{collection}/search",
    } <= edges, statuses


def test_no_server_errors_as_query(served: LiveServer) -> None:
    """With the query token, generated requests get a reply or a 403, never a 5xx."""
    failures, statuses = _fuzz(served, "query", {POSITIVE: 8, STEERED: 8})
    assert not failures, "\n\n".join(failures)
    assert statuses["POST /v1/collections positive 403"] > 0, statuses
    assert statuses["GET /v1/collections positive 200"] > 0, statuses
    assert statuses["POST /v1/collections/{collection}/search steered 200"] > 0, statuses


def test_replies_conform_to_the_schema(served: LiveServer) -> None:
    """Every reply to generated requests (valid, invalid, steered to the deep path) has a
    status its operation declares, the declared content type and a body that validates
    against the declared schema (errors included): the OpenAPI document is the contract."""
    plan = {POSITIVE: 2, NEGATIVE: 2, STEERED: 4}
    failures, statuses = _fuzz(served, "admin", plan, checks=CONFORMANCE)
    assert not failures, "\n\n".join(failures)
    # the bodies checked include real successes of the typed routes and real errors
    for success in (
        "POST /v1/collections/{collection}/items steered 200",
        "POST /v1/collections/{collection}/search steered 200",
        "POST /v1/classify steered 200",
        "POST /v1/embeddings steered 200",
        "GET /v1/models positive 200",
        "GET /readyz positive 200",
    ):
        assert statuses[success] > 0, (success, statuses)
    assert any(key.endswith(" 422") for key in statuses), statuses
