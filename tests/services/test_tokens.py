"""API tokens: shown once, stored hashed, expiring and revocable."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from appliance.clock import FixedClock
from appliance.domain.types import Actor
from appliance.errors import InvalidInputError
from appliance.store.schema import api_tokens
from appliance.wiring import Appliance


def test_token_authenticates_to_its_role(appliance: Appliance) -> None:
    """A created token authenticates as its role; a tampered one does not."""
    token = appliance.tokens.create("query", actor=Actor.operator())
    actor = appliance.tokens.authenticate(token)
    assert actor is not None and actor.role == "query"
    assert appliance.tokens.authenticate(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert appliance.tokens.authenticate("nonsense") is None


def test_only_a_hash_of_the_secret_is_stored(appliance: Appliance) -> None:
    """The token's secret never appears in the store."""
    token = appliance.tokens.create("admin", actor=Actor.operator())
    secret = token.split("_", 2)[2]
    with appliance.database.read() as connection:
        row = connection.execute(select(api_tokens)).one()
    assert secret.encode() not in bytes(row.secret_hash)
    assert secret not in (appliance.settings.data_dir / "audit" / "trail.jsonl").read_text()


def test_expiry_and_revocation(appliance: Appliance, clock: FixedClock) -> None:
    """An expired or revoked token no longer authenticates."""
    short = appliance.tokens.create("ingest", actor=Actor.operator(), ttl=timedelta(hours=1))
    other = appliance.tokens.create("ingest", actor=Actor.operator())
    clock.advance(timedelta(hours=2))
    assert appliance.tokens.authenticate(short) is None
    assert appliance.tokens.authenticate(other) is not None
    appliance.tokens.revoke(other.split("_")[1], actor=Actor.operator())
    assert appliance.tokens.authenticate(other) is None
    assert [t.revoked_at is not None for t in appliance.tokens.list()].count(True) == 1


def test_unknown_role_is_refused(appliance: Appliance) -> None:
    """Creating a token for a role that does not exist names the valid roles."""
    with pytest.raises(InvalidInputError, match="admin, ingest, query, auditor"):
        appliance.tokens.create("root", actor=Actor.operator())
