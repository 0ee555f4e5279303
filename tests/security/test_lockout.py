"""Attack: bad tokens from one address must not lock a valid token out (a denial of service
on a clinic's shared address); only further failures are refused, and the lockout is
audited with the client address. Limits and thresholds come from the ``[api]`` settings."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from appliance.api.limits import FailureLockout
from appliance.domain.types import Actor
from appliance.server import api_limits, api_services
from appliance.settings import load_settings
from appliance.wiring import Appliance
from tests.api.conftest import LiveServer, serve

ATTACKER = "127.0.0.2"
BYSTANDER = "127.0.0.3"
FORGED = {"Authorization": f"Bearer apl_{'0' * 12}_forged-secret"}
LIMITS = {
    "APPLIANCE_API__AUTH_FAILURES_PER_MINUTE": "5",
    "APPLIANCE_API__LOCKOUT_SECONDS": "600",
    "APPLIANCE_API__REQUESTS_PER_MINUTE_PER_TOKEN": "1",
    "APPLIANCE_API__REQUEST_BURST_PER_TOKEN": "30",
}


@pytest.fixture
def limited(appliance: Appliance) -> Iterator[LiveServer]:
    """The API over HTTP with its limits taken from ``[api]`` settings (environment)."""
    api = load_settings(data_dir=appliance.settings.data_dir, environ=LIMITS).api
    tokens = {
        role: appliance.tokens.create(role, actor=Actor.operator()) for role in ("admin", "query")
    }
    state = api_services(appliance)
    for url in serve(state, **api_limits(api)):
        yield LiveServer(url, tokens, appliance)


def _client(server: LiveServer, address: str, headers: dict[str, str]) -> httpx.Client:
    return httpx.Client(
        base_url=server.url,
        headers=headers,
        transport=httpx.HTTPTransport(local_address=address),
        timeout=30,
    )


def _trail(server: LiveServer) -> list[dict[str, Any]]:
    path = server.appliance.settings.data_dir / "audit" / "trail.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_bad_tokens_do_not_lock_out_a_valid_token_from_the_same_address(
    limited: LiveServer,
) -> None:
    """25 forged tokens from one address: after 5 failures the rest are 429, yet the admin's
    valid token from that very address still gets 200; other addresses are untouched."""
    admin = {"Authorization": f"Bearer {limited.tokens['admin']}"}
    with (
        _client(limited, ATTACKER, FORGED) as attacker,
        _client(limited, ATTACKER, admin) as colleague,
        _client(limited, BYSTANDER, FORGED) as bystander,
    ):
        statuses = [attacker.get("/v1/collections").status_code for _ in range(25)]
        valid = colleague.get("/v1/collections")
        still_refused = attacker.get("/v1/collections")
        elsewhere = bystander.get("/v1/collections")
    assert statuses == [401] * 5 + [429] * 20
    assert valid.status_code == 200, valid.text
    assert still_refused.status_code == 429
    assert int(still_refused.headers["Retry-After"]) > 500  # the 600 s lockout setting
    assert still_refused.json()["error"]["code"] == "rate_limited"
    assert elsewhere.status_code == 401


def test_lockout_is_audited_once_with_the_client_address(limited: LiveServer) -> None:
    """One ``auth.lockout`` entry names the attacking address; each counted failure is an
    ``auth.denied`` with the address; refused attempts during the lockout add no entries."""
    start = len(_trail(limited))
    with _client(limited, ATTACKER, FORGED) as attacker:
        for _ in range(12):
            attacker.get("/v1/collections")
    entries = _trail(limited)[start:]
    lockouts = [e for e in entries if e["action"] == "auth.lockout"]
    denials = [e for e in entries if e["action"] == "auth.denied"]
    assert len(lockouts) == 1
    assert lockouts[0]["details"]["client"] == ATTACKER
    assert lockouts[0]["details"]["failures"] == 5
    assert lockouts[0]["details"]["seconds"] == 600
    assert [d["details"]["client"] for d in denials] == [ATTACKER] * 5
    assert "forged-secret" not in json.dumps(entries)


def test_per_token_rate_comes_from_settings(limited: LiveServer) -> None:
    """With 1 request a minute and a burst of 30 per token, the 31st request is 429 while
    another token is unaffected."""
    with limited.client("admin") as admin, limited.client("query") as query:
        statuses = [admin.get("/v1/collections").status_code for _ in range(31)]
        other = query.get("/v1/collections")
    assert statuses == [200] * 30 + [429]
    assert other.status_code == 200


def test_lockout_expires_and_old_failures_age_out() -> None:
    """Failures spread over more than a minute never lock; a lockout ends after its length."""
    now = [0.0]
    lockout = FailureLockout(3, 120, monotonic=lambda: now[0])
    for _ in range(6):
        assert lockout.record_failure("10.0.0.9") is None
        now[0] += 31.0  # two failures a minute at most
    started = [lockout.record_failure("10.0.0.8") for _ in range(3)]
    assert started[:2] == [None, None] and started[2] is not None
    assert started[2].client == "10.0.0.8" and started[2].failures == 3
    assert lockout.locked_for("10.0.0.8") == 120
    assert lockout.refuse("10.0.0.8") == 120
    now[0] += 121
    assert lockout.locked_for("10.0.0.8") == 0.0
    assert lockout.refuse("10.0.0.8") == 0.0
    assert lockout.record_failure("10.0.0.8") is None
