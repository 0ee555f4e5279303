"""The authorisation matrix: every route of the app x every role (and no token), over HTTP.

Routes are enumerated from the app the factory builds, so a new route cannot escape the
matrix. The expected outcome comes from ``GRANTS`` in appliance/domain/roles.py: allowed
(any reply but 401/403, never a 5xx), 403 for a role without the permission, 401 without a
valid token; /healthz, /readyz, /metrics and /schema* are public. Every denial is audited
as ``auth.denied`` with its outcome and the route name, and no token secret is in the trail.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

import httpx
from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.routes import HTTPRoute
from litestar.utils.sync import AsyncCallable

from appliance.api.app import create_app
from appliance.domain.roles import GRANTS, Permission, Role
from appliance.server import api_services
from appliance.wiring import Appliance
from tests.api.conftest import LiveServer

PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
SCHEMA_PREFIX = "/schema"
ROLES: tuple[str | None, ...] = (None, "forged", "admin", "ingest", "query", "auditor")
FAIL_CLOSED = Permission.MANAGE_TOKENS  # what the guard requires of an undeclared route
CONTEXT = {"subject_role": "patient", "purpose": "treatment"}
SUBJECT = "MRN-matrix"
COLLECTION = "matrix"


@dataclass(frozen=True)
class Probe:
    """One (method, route) of the app and what the guard should require of it."""

    method: str
    path_format: str
    param_types: dict[str, type]
    name: str
    public: bool
    permission: Permission | None
    ours: bool


def _function(handler: HTTPRouteHandler) -> Any:
    fn: Any = handler.fn
    while isinstance(fn, AsyncCallable):  # litestar's sync_to_thread wrapper
        fn = fn.func
    return fn


def _build_app(appliance: Appliance) -> Litestar:
    return create_app(api_services(appliance))


def _probes(app: Litestar) -> list[Probe]:
    """Every (method, route handler) the app serves."""
    probes = []
    for route in app.routes:
        assert isinstance(route, HTTPRoute), f"non-HTTP route {route.path} escapes the matrix"
        types = {name: p.type for name, p in route.path_parameters.items()}
        for handler in route.route_handlers:
            function = _function(handler)
            # Public: our routes that declare it (the declarations are checked against
            # PUBLIC_PATHS below) and the schema. Framework handlers elsewhere (litestar's
            # automatic OPTIONS) declare nothing, so the guard fails closed: admin only.
            public = bool(handler.opt.get("public")) or route.path_format.startswith(SCHEMA_PREFIX)
            permission = None if public else handler.opt.get("permission", FAIL_CLOSED)
            for method in sorted(handler.http_methods):
                probes.append(
                    Probe(
                        method=method,
                        path_format=route.path_format,
                        param_types=types,
                        name=function.__name__,
                        public=public,
                        permission=permission,
                        ours=function.__module__.startswith("appliance."),
                    )
                )
    return probes


def _allowed(role: str | None, probe: Probe) -> bool:
    if probe.public:
        return True
    if role not in {r.value for r in Role}:
        return False
    return probe.permission in GRANTS[Role(role)]


def _samples(served: LiveServer) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Path values and realistic bodies, so that allowed calls really succeed."""
    with served.client("admin") as admin:
        space = admin.get("/v1/models").json()["data"][0]["id"]
        assert admin.post("/v1/collections", json={"name": COLLECTION}).status_code == 201
        consent = admin.post(
            f"/v1/subjects/{SUBJECT}/consents",
            json={"purpose": "treatment", "category": "*", "evidence_ref": "form-1"},
        )
        assert consent.status_code == 201, consent.text
    params = {
        "collection": COLLECTION,
        "subject_id": SUBJECT,
        "consent_id": consent.json()["id"],
        "path": "nothing-here",
    }
    text_item = {"subject_id": SUBJECT, "modality": "text", "data": "knee pain", "context": CONTEXT}
    bodies = {
        "create_collection": {"name": "matrix-new"},
        "ingest_items": {"items": [text_item]},
        "search": {"query": {"modality": "text", "data": "knee pain"}, "k": 3},
        "classify_input": {"modality": "text", "data": "knee pain", "context": CONTEXT},
        "grant_consent": {"purpose": "treatment", "category": "*", "evidence_ref": "form-2"},
        "create_embeddings": {"model": space, "input": "knee pain"},
    }
    return params, bodies


class Clients:
    """A client per role; unauthenticated ones rotate their loopback source address so the
    per-client failure limit (20 a minute) does not turn the matrix's 401s into 429s."""

    PER_ADDRESS = 10

    def __init__(self, served: LiveServer) -> None:
        self.served = served
        self.open = {role: served.client(role) for role in served.tokens}
        self.failures = 0

    def get(self, role: str | None) -> httpx.Client:
        if role in self.open:
            return self.open[role]
        index = self.failures // self.PER_ADDRESS
        self.failures += 1
        key = f"{role}-{index}"
        if key not in self.open:
            address = f"127.0.{1 + index // 250}.{1 + index % 250}"
            headers = {"Authorization": f"Bearer apl_{'0' * 12}_forged-secret"} if role else {}
            self.open[key] = httpx.Client(
                base_url=self.served.url,
                headers=headers,
                transport=httpx.HTTPTransport(local_address=address),
                timeout=30,
            )
        return self.open[key]

    def close(self) -> None:
        for client in self.open.values():
            client.close()


def _trail(served: LiveServer) -> list[dict[str, Any]]:
    path = served.appliance.settings.data_dir / "audit" / "trail.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_every_app_route_declares_its_access(appliance: Appliance) -> None:
    """Each of our route handlers declares a Permission or is one of the public routes."""
    app = _build_app(appliance)
    ours = {p.name for p in _probes(app) if p.ours}
    assert ours >= {"healthz", "create_collection", "ingest_items", "create_embeddings"}
    problems = []
    for route in app.routes:
        for handler in route.route_handlers:
            function = _function(handler)
            if not function.__module__.startswith("appliance."):
                continue
            declared_public = bool(handler.opt.get("public"))
            permission = handler.opt.get("permission")
            if declared_public != (route.path_format in PUBLIC_PATHS):
                problems.append(f"{route.path_format}: public={declared_public}")
            if not declared_public and not isinstance(permission, Permission):
                problems.append(f"{route.path_format} {function.__name__}: no permission")
    assert not problems, problems


def test_auth_matrix_over_http(served: LiveServer) -> None:
    """Every role and no token against every route: allowed, 403 or 401; denials audited."""
    probes = _probes(_build_app(served.appliance))
    assert len([p for p in probes if p.ours]) >= 15
    params, bodies = _samples(served)
    start = len(_trail(served))
    token_ids = {role: token.split("_")[1] for role, token in served.tokens.items()}
    expected_denials: Counter[tuple[str, str, str, str]] = Counter()
    wrong: list[str] = []
    clients = Clients(served)
    try:
        for probe in probes:
            path = probe.path_format.format(
                **{
                    name: params.get(name, 1 if kind is int else "x")
                    for name, kind in probe.param_types.items()
                }
            )
            body = bodies.get(probe.name, {}) if probe.method in {"POST", "PUT", "PATCH"} else None
            # Our routes with a sample (or no body) must really work; others may 404/422.
            works = probe.ours and (body is None or probe.name in bodies)
            for role in ROLES:
                response = clients.get(role).request(probe.method, path, json=body)
                status = response.status_code
                where = f"{probe.method} {path} as {role}: {status} {response.text[:200]}"
                if _allowed(role, probe):
                    if status in {401, 403, 429} or status >= 500:
                        wrong.append(f"expected allowed; {where}")
                    elif works and not 200 <= status < 300:
                        wrong.append(f"expected success; {where}")
                    continue
                valid = role in served.tokens
                code = "forbidden" if valid else "unauthorized"
                if status != (403 if valid else 401) or response.json()["error"]["code"] != code:
                    wrong.append(f"expected {code}; {where}")
                if not valid and response.headers.get("www-authenticate") != "Bearer":
                    wrong.append(f"401 without WWW-Authenticate; {where}")
                actor = (role, token_ids[role]) if valid else ("none", "anonymous")
                expected_denials[(probe.name, code, *actor)] += 1
    finally:
        clients.close()
    assert not wrong, "\n".join(wrong)

    entries = _trail(served)[start:]
    denials = Counter(
        (e["details"]["route"], e["outcome"], e["actor"]["role"], e["actor"]["token_id"])
        for e in entries
        if e["action"] == "auth.denied"
    )
    assert denials == expected_denials
    assert sum(expected_denials.values()) > 100
    assert all(e["details"]["reason"] for e in entries if e["action"] == "auth.denied")
    text = json.dumps(_trail(served))
    for token in [*served.tokens.values(), "forged-secret"]:
        assert token.split("_", 2)[-1] not in text
